"""Work handed between replicas (docs/replicas.md): what the stream holder writes for another replica's user
is what that replica's actor gets, change events and all (R-TIME-2: nothing lost on the way)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bridge.errors import MappingError
from bridge.ports import ChangeType, EventChange, EventRecord, StreamPosition
from bridge.runtime.handoff import work_from_text, work_to_text
from bridge.runtime.shared_settings import enrolment_from_text, enrolment_to_text
from bridge.runtime.sync import Work
from bridge.salesforce.settings import Enrolment


def _change() -> EventChange:
    return EventChange(
        entity="Event",
        change_type=ChangeType.UPDATE,
        record_ids=("00U000000000001AAA",),
        fields={
            "Subject": "Board review",
            "ActivityDateTime": datetime(2026, 12, 3, 9, 0, tzinfo=UTC),
            "ActivityDate": date(2026, 12, 3),
            "DurationInMinutes": 60,
            "Location": None,
        },
        diff_fields=frozenset({"Description"}),
        committed_at=datetime(2026, 12, 2, 8, 0, 1, tzinfo=UTC),
        position=StreamPosition("sf:/data/EventChangeEvent", "00ff"),
        echo=False,
        transaction_key="tx-1",
    )


def test_r_time_2_handed_over_work_arrives_as_it_was_routed() -> None:
    work = Work(
        sf={"00U000000000001AAA": [_change()]},
        reread={"00U000000000002AAA"},
        sync_now={"00U000000000003AAA"},
        reconcile=True,
        confirmed=True,
        exchange_since=datetime(2026, 12, 2, 8, 0, tzinfo=UTC),
    )
    back = work_from_text(work_to_text(work))
    assert back == work


def test_window_records_stay_with_the_replica_that_read_them() -> None:
    work = Work(reconcile=True, events=[EventRecord({"Id": "00U000000000001AAA"})])
    back = work_from_text(work_to_text(work))
    assert back.reconcile and back.events is None  # the holder reads its own window


@pytest.mark.parametrize("text", ["not json", '{"v": 99}', '{"v": 1, "sf": {"x": [{"entity": 1}]}}'])
def test_handed_over_work_this_release_cannot_read_is_a_mapping_error(text: str) -> None:
    with pytest.raises(MappingError, match=r"handed-over work|stored JSON"):
        work_from_text(text)


def test_r_scope_2_the_stored_enrolment_reads_back_as_the_stream_holder_read_it() -> None:
    enrolment = Enrolment(
        frozenset({"005000000000001AAA"}),
        ({"Id": "a01000000000001AAA", "User__c": "005000000000001AAA", "Sync_Enabled__c": True},),
        {"005000000000001AAA": {"Email": "ann@corp.example", "IsActive": True}},
    )
    assert enrolment_from_text(enrolment_to_text(enrolment)) == enrolment
    with pytest.raises(MappingError, match="stored enrolment"):
        enrolment_from_text('{"v": 1, "assigned": []}')
