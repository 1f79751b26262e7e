"""Pure pieces of the sandbox: the folder journal, all-day snapping, extended property identity, tokens."""

from __future__ import annotations

from datetime import UTC, datetime

from bridge.sandbox.exchange.model import property_key
from bridge.sandbox.exchange.ops_sync import pending_changes
from bridge.sandbox.exchange.store import Store
from bridge.sandbox.exchange.timezones import snap_all_day
from bridge.sandbox.exchange.tokens import seal, unseal


def test_journal_collapses_changes_per_item_since_a_sequence() -> None:
    store = Store()
    calendar = store.add_mailbox("a@x.example").folder("calendar")
    trash = store.mailbox("a@x.example").folder("deleteditems")  # type: ignore[union-attr]
    old, gone = store.new_item(calendar), store.new_item(calendar)
    store.insert(old)
    store.insert(gone)
    mark = store.sequence
    store.touch(old)
    store.touch(old)
    gone_id = gone.item_id
    store.move(gone, trash)
    brief = store.new_item(calendar)
    store.insert(brief)
    store.hard_delete(brief)
    fresh = store.new_item(calendar)
    store.insert(fresh)
    kinds = [(kind, item_id) for _, kind, item_id in pending_changes(calendar, mark)]
    assert kinds == [("Update", old.item_id), ("Delete", gone_id), ("Create", fresh.item_id)]
    assert [kind for _, kind, _ in pending_changes(trash, mark)] == ["Create"]


def test_all_day_snapping_uses_the_item_zone_across_dst() -> None:
    start = datetime(2030, 3, 10, 15, tzinfo=UTC)  # 11:00 in New York, the day DST starts
    end = datetime(2030, 3, 10, 20, tzinfo=UTC)
    snapped = snap_all_day(start, end, "Eastern Standard Time", "Eastern Standard Time")
    assert snapped == (datetime(2030, 3, 10, 5, tzinfo=UTC), datetime(2030, 3, 11, 4, tzinfo=UTC))
    unknown = snap_all_day(start, end, "Nowhere Standard Time", None)
    assert unknown == (datetime(2030, 3, 10, tzinfo=UTC), datetime(2030, 3, 11, tzinfo=UTC))


def test_extended_property_identity_ignores_guid_case_and_tag_notation() -> None:
    upper = {
        "PropertySetId": "6A1F0C2E-3B7D-4A59-9C1E-5F0B8D2A7E11",
        "PropertyName": "X",
        "PropertyType": "String",
    }
    lower = {
        "PropertySetId": "6a1f0c2e-3b7d-4a59-9c1e-5f0b8d2a7e11",
        "PropertyName": "X",
        "PropertyType": "String",
    }
    assert property_key(upper) == property_key(lower)
    assert property_key({"PropertyTag": "0x37", "PropertyType": "String"}) == property_key(
        {"PropertyTag": "55", "PropertyType": "String"}
    )


def test_tokens_cannot_be_edited_or_made_with_another_secret() -> None:
    token = seal(b"k" * 16, {"s": 5})
    assert unseal(b"k" * 16, token) == {"s": 5}
    assert unseal(b"j" * 16, token) is None
    middle = len(token) // 2
    edited = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]
    assert unseal(b"k" * 16, edited) is None
    assert unseal(b"k" * 16, "not base64 at all!") is None


def test_the_sandbox_ca_bundle_is_never_rewritten_in_place() -> None:
    """exchangelib Accounts made on several threads read the bundle while others are made: asking again for
    a CA already in it leaves the file alone, and a new CA arrives as a new file renamed over the old."""
    import os
    from pathlib import Path

    from bridge.sandbox.exchange.client_tls import ca_bundle
    from bridge.sandbox.tls import SandboxTLS

    first, second = SandboxTLS.generate().ca_pem, SandboxTLS.generate().ca_pem
    path = ca_bundle(first)
    before = os.stat(path)
    assert ca_bundle(first) == path
    assert os.stat(path).st_ino == before.st_ino and os.stat(path).st_mtime_ns == before.st_mtime_ns
    assert ca_bundle(second) == path
    assert os.stat(path).st_ino != before.st_ino  # replaced, not truncated and rewritten
    text = Path(path).read_bytes()
    assert first in text and second in text
