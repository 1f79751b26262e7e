"""The in-memory ports with recurring series (SPEC §15), for tests that drive the series road.

`MemorySalesforceSeries` keeps a Lightning series as Salesforce does: one Event row per occurrence, all
carrying `ActivityRecurrence2Id` and the normalised `Recurrence2PatternText`, created in one transaction;
the API 58.0 rule for an edited row (a past one becomes an exception, a future one changes the whole series
but its exceptions); "this and following" deleted from a row onwards. `MemoryMailboxSeries` keeps an
Exchange master and computes its occurrences, as Exchange does: an occurrence changed is an exception of
the master, one deleted is listed as deleted, and either change modifies the master (its ChangeKey moves
and the mailbox sync reports the master). Both read series through the adapters' own pure parts
(`series_from_rows`, the core's pattern expansion), in UTC.

The plain ports (`bridge.runtime.memory`) have no series, so the runtime's series road stays off there.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bridge.core.fields import ExchangeItem, item_from_exchange, parse_datetime
from bridge.core.model import Policy, Side
from bridge.core.patterns import Anchor, Pattern
from bridge.core.patterns_dates import occurrence_starts
from bridge.core.patterns_ews import EwsRecurrence, pattern_from_ews
from bridge.core.patterns_rrule import pattern_from_rrule, rrule_text
from bridge.core.series import Occurrence, Series
from bridge.errors import NotFoundError, RefusedError
from bridge.ports import ChangeType, Written
from bridge.runtime.memory import Clock, MemoryMailbox, MemorySalesforce
from bridge.salesforce.series import series_from_rows

HORIZON = timedelta(days=400)  # how far an endless series is expanded
_TIME_FIELDS = frozenset(
    {"StartDateTime", "EndDateTime", "IsAllDayEvent", "ActivityDate", "DurationInMinutes"}
)


def _anchor(start: datetime) -> Anchor:
    start = start.astimezone(UTC)
    return Anchor(start.date(), start.time(), "UTC")


class MemorySalesforceSeries(MemorySalesforce):
    """Salesforce with Lightning event series."""

    def __init__(self, clock: Clock | None = None) -> None:
        super().__init__(clock)
        self._transactions = 0

    # ------------------------------------------------------------------------- as a person changes it

    def put_series(
        self, owner_id: str, subject: str, start: datetime, end: datetime, rule: str, **more: object
    ) -> str:
        """A user creates a Lightning series (`Recurrence2PatternText` on create, API 52.0+)."""
        fields = {"OwnerId": owner_id, "Subject": subject, "StartDateTime": start.isoformat(),
                  "EndDateTime": end.isoformat(), **more}  # fmt: skip
        return self._new_series(fields, rule, echo=False)

    def edit_event(self, event_id: str, **changes: object) -> None:
        for row in self._edited(event_id, changes):
            super().edit_event(row, **changes)

    def remove_onwards(self, row_id: str) -> None:
        """A user deletes "this and following" (from the first row: the whole series)."""
        for row in self._onwards(row_id):
            self.remove_event(row)

    def series_rows(self, series_id: str) -> list[str]:
        rows = [i for i, r in self.events.items() if r.get("ActivityRecurrence2Id") == series_id]
        return sorted(rows, key=lambda i: str(self.events[i]["StartDateTime"]))

    def series(self) -> list[str]:
        return sorted({str(s) for r in self.events.values() if (s := r.get("ActivityRecurrence2Id"))})

    # ---------------------------------------------------------------------------------------- the port

    async def read_series(self, series_id: str, known: Mapping[str, datetime]) -> Series | None:
        self.calls["read_series"] += 1
        rows = [dict(self.events[i]) for i in self.series_rows(series_id)]
        relations = {str(r["Id"]): self.relations[str(r["Id"])] for r in rows}
        return series_from_rows(rows, known, relations) if rows else None

    async def series_ids(self, event_ids: Sequence[str]) -> dict[str, str]:
        self.calls["series_ids"] += 1
        found = ((i, self.events[i].get("ActivityRecurrence2Id")) for i in event_ids if i in self.events)
        return {i: str(s) for i, s in found if s}

    async def create_series(self, fields: Mapping[str, object], rule: str) -> str:
        self._check("create_series")
        return self._new_series(dict(fields), rule, echo=True)

    async def delete_onwards(self, row_id: str) -> None:
        self._check("delete_onwards", row_id)
        for row in self._onwards(row_id):
            del self.events[row]
            self._emit(row, ChangeType.DELETE, {}, echo=True)

    async def update_event(
        self, event_id: str, if_version: str | None, fields: Mapping[str, object]
    ) -> Written:
        rows = self._edited(event_id, fields) if event_id in self.events else [event_id]
        written = await super().update_event(event_id, if_version, fields)
        for row in rows[1:]:  # the rest of the series, as Salesforce changes it with the row written
            self.events[row].update(fields)
            self._stamp(row)
            self._emit(row, ChangeType.UPDATE, {**fields, **self._stamps(row)}, echo=True)
        return written

    # ------------------------------------------------------------------------------------- internals

    def _new_series(self, fields: dict[str, object], rule: str, *, echo: bool) -> str:
        start, end = parse_datetime(fields["StartDateTime"]), parse_datetime(fields["EndDateTime"])
        if start is None or end is None:
            raise RefusedError(Side.SALESFORCE, "a series needs StartDateTime and EndDateTime")
        anchor = _anchor(start)
        pattern = pattern_from_rrule(rule, anchor)
        if not isinstance(pattern, Pattern):
            raise RefusedError(Side.SALESFORCE, f"Recurrence2PatternText {rule!r}: {pattern.reason}")
        series_id = f"828{next(self._ids):012d}"
        self._transactions += 1
        key = f"tx{self._transactions:08d}"
        series = {"IsRecurrence2": True, "IsRecurrence2Exception": False, "ActivityRecurrence2Id": series_id,
                  "Recurrence2PatternText": rrule_text(pattern, anchor), "Recurrence2PatternTimeZone": "UTC",
                  "Recurrence2PatternStartDate": start.astimezone(UTC).isoformat(),
                  "GroupEventType": "0", "IsAllDayEvent": False}  # fmt: skip
        for first in occurrence_starts(pattern, anchor, start + HORIZON):
            row_id = f"00U{next(self._ids):012d}"
            when = {"StartDateTime": first.isoformat(), "EndDateTime": (first + (end - start)).isoformat()}
            self.events[row_id] = {"Id": row_id, **fields, **series, **when}
            self._stamp(row_id)
            self._emit(row_id, ChangeType.CREATE, dict(self.events[row_id]), echo=echo, transaction=key)
        return series_id

    def _edited(self, event_id: str, changes: Mapping[str, object]) -> list[str]:
        """The rows an edit of `event_id` changes (API 58.0): a past row or an exception alone, and it is
        an exception from now on; a future row changes its series' every row but the exceptions (a time
        change stays on the row: the bridge never writes one through a future row)."""
        row = self.events[event_id]
        series_id = row.get("ActivityRecurrence2Id")
        if not series_id:
            return [event_id]
        start = parse_datetime(row.get("StartDateTime"))
        if (
            row.get("IsRecurrence2Exception")
            or (start is not None and start < self.clock.now)
            or (_TIME_FIELDS & set(changes))
        ):
            row["IsRecurrence2Exception"] = True
            return [event_id]
        others = [r for r in self.series_rows(str(series_id)) if r != event_id]
        return [event_id, *(r for r in others if not self.events[r].get("IsRecurrence2Exception"))]

    def _onwards(self, row_id: str) -> list[str]:
        if row_id not in self.events:
            raise NotFoundError(Side.SALESFORCE, row_id)
        row = self.events[row_id]
        series_id = row.get("ActivityRecurrence2Id")
        if not series_id:
            raise RefusedError(Side.SALESFORCE, f"{row_id} is no occurrence of a Lightning series")
        first = str(row["StartDateTime"])
        return [r for r in self.series_rows(str(series_id)) if str(self.events[r]["StartDateTime"]) >= first]


@dataclass
class _Master:
    """What Exchange keeps of a recurring master beside its item: the pattern and its changed occurrences."""

    pattern: Pattern
    anchor: Anchor
    exceptions: dict[datetime, ExchangeItem] = field(default_factory=dict)  # by original start
    deleted: set[datetime] = field(default_factory=set)


def occurrence_id(master_id: str, original_start: datetime) -> str:
    return f"{master_id}#{original_start.astimezone(UTC):%Y%m%dT%H%M%S}"


class MemoryMailboxSeries(MemoryMailbox):
    """Mailboxes with recurring masters."""

    def __init__(self, clock: Clock | None = None, zones: Mapping[str, str] | None = None) -> None:
        super().__init__(clock, zones)
        self.masters: dict[str, dict[str, _Master]] = defaultdict(dict)

    # ------------------------------------------------------------------------- as a person changes it

    def put_series(
        self, mailbox: str, subject: str, start: datetime, end: datetime, pattern: Pattern, **more: Any
    ) -> str:
        """A person books a recurring appointment: one master."""
        master_id = self.put_item(mailbox, subject, start, end, is_recurring=True, **more)
        self.masters[mailbox][master_id] = _Master(pattern, _anchor(start))
        return master_id

    def occurrences(
        self, mailbox: str, master_id: str, through: datetime
    ) -> list[tuple[datetime, ExchangeItem]]:
        """(original start, occurrence) of the master's occurrences starting by `through`, exceptions as
        changed, deleted ones left out."""
        master, info = self.items[mailbox][master_id], self.masters[mailbox][master_id]
        assert isinstance(master.start, datetime) and isinstance(master.end, datetime)
        length = master.end - master.start
        found = []
        for first in occurrence_starts(info.pattern, info.anchor, through):
            if first in info.deleted:
                continue
            plain = replace(master, item_id=occurrence_id(master_id, first), start=first, end=first + length,
                            is_recurring=False)  # fmt: skip
            found.append((first, info.exceptions.get(first, plain)))
        return found

    def edit_occurrence(self, mailbox: str, occurrence: str, **changes: Any) -> None:
        """A person changes one occurrence: it becomes an exception of its master."""
        master_id, first = self._occurrence(mailbox, occurrence)
        current = dict(self.occurrences(mailbox, master_id, first))[first]
        self.masters[mailbox][master_id].exceptions[first] = replace(current, **changes, change_key="")
        self._touch(mailbox, master_id, first)

    def remove_occurrence(self, mailbox: str, occurrence: str) -> None:
        master_id, first = self._occurrence(mailbox, occurrence)
        info = self.masters[mailbox][master_id]
        info.deleted.add(first)
        info.exceptions.pop(first, None)
        self._stamp(mailbox, master_id)

    def end_series_on(self, mailbox: str, master_id: str, last: date) -> None:
        """A person ends the series on `last` (a new end date)."""
        info = self.masters[mailbox][master_id]
        info.pattern = replace(info.pattern, count=None, until=max(last, info.anchor.first))
        self._stamp(mailbox, master_id)

    def remove_item(self, mailbox: str, item_id: str) -> None:
        if "#" in item_id:
            self.remove_occurrence(mailbox, item_id)
            return
        super().remove_item(mailbox, item_id)
        self.masters[mailbox].pop(item_id, None)

    # ---------------------------------------------------------------------------------------- the port

    async def read_series(
        self, mailbox: str, master_id: str, start: datetime, end: datetime, policy: Policy
    ) -> Series | None:
        self.calls["read_series"] += 1
        master = self.items[mailbox].get(master_id)
        info = self.masters[mailbox].get(master_id)
        if master is None or info is None:
            return None
        copy = item_from_exchange(master, policy)
        occurrences = []
        for first, item in self.occurrences(mailbox, master_id, end):
            assert isinstance(item.start, datetime) and isinstance(item.end, datetime)
            if item.end <= start or item.start >= end:
                continue
            found = item_from_exchange(item, policy)
            exception = first in info.exceptions
            version = item.change_key if exception else master.change_key
            occurrences.append(Occurrence(first, item.item_id, found.content, version, exception))
        seen = ",".join(f"{o.id}:{o.version}" for o in occurrences)
        return Series(
            side=Side.EXCHANGE,
            id=master_id,
            version=f"{master.change_key}/{hashlib.sha256(seen.encode()).hexdigest()[:12]}",
            modified=copy.modified,
            content=copy.content,
            rule=info.pattern,
            anchor=info.anchor,
            occurrences=tuple(occurrences),
            deleted=frozenset(info.deleted),
            paired_id=copy.paired_id,
            uid=copy.uid,
            categories=copy.categories,
        )

    async def create_series(
        self, mailbox: str, fields: Mapping[str, object], rule: EwsRecurrence, categories: Sequence[str]
    ) -> Written:
        pattern = pattern_from_ews(rule)
        if not isinstance(pattern, Pattern):
            raise RefusedError(Side.EXCHANGE, f"recurrence {rule.pattern}: {pattern.reason}")
        written = await self.create_item(mailbox, {**fields, "is_recurring": True}, categories, False)
        self.calls["create_series"] += 1
        start = self.items[mailbox][written.id].start
        assert isinstance(start, datetime)
        self.masters[mailbox][written.id] = _Master(pattern, _anchor(start))
        return written

    async def end_series(self, mailbox: str, master_id: str, last: date) -> Written:
        self._check("end_series", mailbox, master_id)
        self.end_series_on(mailbox, master_id, last)
        return Written(master_id, self.items[mailbox][master_id].change_key)

    async def rebuild_series(
        self, mailbox: str, master_id: str, fields: Mapping[str, object], rule: EwsRecurrence
    ) -> Written:
        """A new pattern or start: Exchange drops the master's exceptions and deletions with it."""
        self._check("rebuild_series", mailbox, master_id)
        pattern = pattern_from_ews(rule)
        if not isinstance(pattern, Pattern):
            raise RefusedError(Side.EXCHANGE, f"recurrence {rule.pattern}: {pattern.reason}")
        values: dict[str, Any] = dict(fields)
        master = replace(self.items[mailbox][master_id], **values)
        self.items[mailbox][master_id] = master
        assert isinstance(master.start, datetime)
        self.masters[mailbox][master_id] = _Master(pattern, _anchor(master.start))
        version = self._stamp(mailbox, master_id)
        return Written(master_id, version)

    async def read_items(self, mailbox: str, item_ids: Collection[str]) -> dict[str, ExchangeItem]:
        found = await super().read_items(mailbox, [i for i in item_ids if "#" not in i])
        for item_id in (i for i in item_ids if "#" in i):
            try:
                master_id, first = self._occurrence(mailbox, item_id)
            except NotFoundError:
                continue
            item = dict(self.occurrences(mailbox, master_id, first)).get(first)
            if item is not None:
                found[item_id] = item
        return found

    async def update_item(
        self,
        mailbox: str,
        item_id: str,
        if_version: str | None,
        fields: Mapping[str, object],
        add_categories: Sequence[str],
        remove_categories: Sequence[str],
        send_invitations: bool,
    ) -> Written:
        if "#" not in item_id:
            return await super().update_item(
                mailbox, item_id, if_version, fields, add_categories, remove_categories, send_invitations
            )
        self.calls["update_item"] += 1
        master_id, first = self._occurrence(mailbox, item_id)
        self.edit_occurrence(mailbox, item_id, **dict(fields))
        return Written(item_id, self.masters[mailbox][master_id].exceptions[first].change_key)

    async def delete_item(
        self, mailbox: str, item_id: str, if_version: str | None, send_cancellations: bool
    ) -> None:
        if "#" not in item_id:
            await super().delete_item(mailbox, item_id, if_version, send_cancellations)
            self.masters[mailbox].pop(item_id, None)
            return
        self.calls["delete_item"] += 1
        self.remove_occurrence(mailbox, item_id)

    # ------------------------------------------------------------------------------------- internals

    def _occurrence(self, mailbox: str, occurrence: str) -> tuple[str, datetime]:
        """(master id, original start) of an occurrence id; NotFoundError when it is no more."""
        master_id, _, stamp = occurrence.partition("#")
        if master_id not in self.masters[mailbox]:
            raise NotFoundError(Side.EXCHANGE, occurrence)
        first = datetime.strptime(stamp, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
        if first not in dict(self.occurrences(mailbox, master_id, first)):
            raise NotFoundError(Side.EXCHANGE, occurrence)
        return master_id, first

    def _touch(self, mailbox: str, master_id: str, first: datetime) -> None:
        """An exception written: it gets a ChangeKey of its own, and the master a new one."""
        info = self.masters[mailbox][master_id]
        info.exceptions[first] = replace(info.exceptions[first], change_key=f"ck{next(self._ids):08d}")
        self._stamp(mailbox, master_id)


__all__ = ["HORIZON", "MemoryMailboxSeries", "MemorySalesforceSeries", "occurrence_id"]
