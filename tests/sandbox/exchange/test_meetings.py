"""Meetings between sandbox mailboxes: invitations, responses, updates, cancellations."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from exchangelib import UTC, Account, Attendee, CalendarItem, EWSDateTime, Mailbox
from exchangelib.items import SEND_ONLY_TO_ALL, SEND_TO_ALL_AND_SAVE_COPY

from bridge.sandbox.exchange import ExchangeSandbox


def _pair(sandbox: ExchangeSandbox, account_for: Callable[..., Account], tag: str) -> list[Account]:
    accounts = []
    for role in ("org", "att1", "att2"):
        address = f"{role}-{tag}@sandbox.example"
        sandbox.add_mailbox(address)
        accounts.append(account_for(address))
    return accounts


def _meeting(organizer: Account, invitees: list[Account], subject: str = "Quarterly review") -> CalendarItem:
    return CalendarItem(
        account=organizer,
        folder=organizer.calendar,
        subject=subject,
        start=EWSDateTime(2030, 9, 1, 9, tzinfo=UTC),
        end=EWSDateTime(2030, 9, 1, 10, tzinfo=UTC),
        required_attendees=[
            Attendee(
                mailbox=Mailbox(email_address=a.primary_smtp_address), response_type="NoResponseReceived"
            )
            for a in invitees
        ]
        + [
            Attendee(
                mailbox=Mailbox(email_address="outsider@elsewhere.example"),
                response_type="NoResponseReceived",
            )
        ],
    )


def _responses(item: CalendarItem) -> dict[str, str]:
    item.refresh()
    return {a.mailbox.email_address: a.response_type for a in item.required_attendees}


def test_invitations_land_in_each_attendee_calendar_with_the_same_uid(
    sandbox: ExchangeSandbox, account_for: Callable[..., Account]
) -> None:
    organizer, first, second = _pair(sandbox, account_for, "invite")
    meeting = _meeting(organizer, [first, second])
    meeting.save(send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY)
    meeting.refresh()
    for attendee in (first, second):
        copies = list(attendee.calendar.all())
        assert len(copies) == 1
        copy = copies[0]
        assert copy.uid == meeting.uid and copy.subject == "Quarterly review"
        assert copy.organizer.email_address == organizer.primary_smtp_address
        assert copy.my_response_type == "NoResponseReceived" and copy.is_meeting is True


def test_saved_without_invitations_nothing_is_delivered(
    sandbox: ExchangeSandbox, account_for: Callable[..., Account]
) -> None:
    organizer, first, _ = _pair(sandbox, account_for, "silent")
    _meeting(organizer, [first]).save()  # exchangelib's default: SendToNone
    assert list(first.calendar.all()) == []


def test_accept_tentative_decline_update_the_organizer_attendee_list(
    sandbox: ExchangeSandbox, account_for: Callable[..., Account]
) -> None:
    organizer, first, second = _pair(sandbox, account_for, "respond")
    meeting = _meeting(organizer, [first, second])
    meeting.save(send_meeting_invitations=SEND_ONLY_TO_ALL)
    next(iter(first.calendar.all())).accept()
    assert _responses(meeting)[first.primary_smtp_address] == "Accept"
    assert next(iter(first.calendar.all())).my_response_type == "Accept"
    next(iter(second.calendar.all())).tentatively_accept()
    assert _responses(meeting)[second.primary_smtp_address] == "Tentative"
    next(iter(second.calendar.all())).decline()
    responses = _responses(meeting)
    assert responses[second.primary_smtp_address] == "Decline"
    assert responses["outsider@elsewhere.example"] == "NoResponseReceived"
    assert list(second.calendar.all()) == []  # a declined meeting leaves the calendar


def test_update_sent_to_attendees_refreshes_their_copies(
    sandbox: ExchangeSandbox, account_for: Callable[..., Account]
) -> None:
    organizer, first, second = _pair(sandbox, account_for, "update")
    meeting = _meeting(organizer, [first, second])
    meeting.save(send_meeting_invitations=SEND_ONLY_TO_ALL)
    meeting.subject = "Quarterly review (moved)"
    meeting.required_attendees = meeting.required_attendees[:1]  # second is dropped
    meeting.save(update_fields=["subject", "required_attendees"], send_meeting_invitations=SEND_ONLY_TO_ALL)
    assert next(iter(first.calendar.all())).subject == "Quarterly review (moved)"
    dropped = next(iter(second.calendar.all()))
    assert dropped.is_cancelled is True


def test_cancel_marks_attendee_copies_cancelled(
    sandbox: ExchangeSandbox, account_for: Callable[..., Account]
) -> None:
    organizer, first, second = _pair(sandbox, account_for, "cancel")
    meeting = _meeting(organizer, [first, second])
    meeting.save(send_meeting_invitations=SEND_ONLY_TO_ALL)
    meeting.cancel()
    assert list(organizer.calendar.all()) == []
    for attendee in (first, second):
        copy = next(iter(attendee.calendar.all()))
        assert copy.is_cancelled is True and copy.subject.startswith("Canceled: ")


def test_deleting_with_cancellations_cancels_attendee_copies(
    sandbox: ExchangeSandbox, account_for: Callable[..., Account]
) -> None:
    organizer, first, _ = _pair(sandbox, account_for, "delcancel")
    meeting = _meeting(organizer, [first])
    meeting.save(send_meeting_invitations=SEND_ONLY_TO_ALL)
    meeting.delete(send_meeting_cancellations=SEND_ONLY_TO_ALL)
    assert next(iter(first.calendar.all())).is_cancelled is True


def test_external_organizer_meeting_arrives_changes_and_is_cancelled(
    sandbox: ExchangeSandbox, account_for: Callable[..., Account]
) -> None:
    _, first, second = _pair(sandbox, account_for, "external")
    start = EWSDateTime(2030, 11, 5, 14, tzinfo=UTC)
    uid = sandbox.deliver_external_meeting(
        [first.primary_smtp_address, second.primary_smtp_address, "someone@partner.example"],
        organizer="boss@partner.example",
        subject="Partner sync",
        start=start,
        end=start + dt.timedelta(hours=1),
    )
    copy = next(iter(first.calendar.all()))
    assert copy.uid == uid and copy.organizer.email_address == "boss@partner.example"
    assert copy.my_response_type == "NoResponseReceived" and copy.is_meeting is True
    copy.accept()  # the organizer is outside: only the attendee's copy records the answer
    assert next(iter(first.calendar.all())).my_response_type == "Accept"
    sandbox.deliver_external_meeting(
        [first.primary_smtp_address], "boss@partner.example", "Partner sync (new time)", start, start, uid=uid
    )
    assert next(iter(first.calendar.all())).subject == "Partner sync (new time)"
    assert sandbox.cancel_external_meeting(uid) == 2
    assert all(next(iter(a.calendar.all())).is_cancelled for a in (first, second))


def test_a_new_time_sent_to_attendees_resets_their_answers(
    sandbox: ExchangeSandbox, account_for: Callable[..., Account]
) -> None:
    organizer, first, second = _pair(sandbox, account_for, "retime")
    meeting = _meeting(organizer, [first, second])
    meeting.save(send_meeting_invitations=SEND_ONLY_TO_ALL)
    next(iter(first.calendar.all())).accept()
    next(iter(second.calendar.all())).tentatively_accept()
    meeting.refresh()
    meeting.subject = "Quarterly review (agenda)"
    meeting.save(update_fields=["subject"], send_meeting_invitations=SEND_ONLY_TO_ALL)
    assert _responses(meeting)[first.primary_smtp_address] == "Accept"  # no new time: answers stand
    meeting.start += dt.timedelta(hours=2)
    meeting.end += dt.timedelta(hours=2)
    meeting.save(update_fields=["start", "end"], send_meeting_invitations=SEND_ONLY_TO_ALL)
    responses = _responses(meeting)
    assert responses[first.primary_smtp_address] == "NoResponseReceived"
    assert responses[second.primary_smtp_address] == "NoResponseReceived"
    copy = next(iter(first.calendar.all()))
    assert copy.my_response_type == "NoResponseReceived" and copy.legacy_free_busy_status == "Tentative"
    assert copy.start == EWSDateTime(2030, 9, 1, 11, tzinfo=UTC)
    copy.accept()  # and they can answer the new time
    assert _responses(meeting)[first.primary_smtp_address] == "Accept"
