"""`calbridge undo --user U --since T`: both sides put back as they were before the bridge's writes since T
(issue 9, safe roll-out: the day a policy was set wrong).

The journal (`bridge.runtime.journal`) holds every write with the record before and after. Undo takes the
user's writes since T, newest first, and reverts each on its own side:

- a created record is deleted; an updated one gets the fields the write changed back (an item's
  categories too); a deleted one is re-created from its last known copy with its pairing fields, and the
  other side's pairing field is pointed at the new record, so the pair is whole again;
- an invitee added is removed, one removed is added back, a status changed is set back.

Every revert is conditional like every write of the bridge (R-MERGE-5): the record is read first, and
reverted only while the fields the bridge wrote still hold what it wrote, with the version just read as
the write's condition. A record edited since by someone else is left alone and reported, and so are the
bridge's earlier writes of that record. A pair whose writes were all reverted gets its stored row back as
it was before them (a pair the bridge created is forgotten); the others keep theirs. Reverted entries are
marked undone, so a second undo does not revert them again.

Undo's own writes are journaled like the bridge's, with `origin` "undo" and the pair row (or the series'
stored state) as it was before the undo, so they can be audited and undone in turn: `undo_undo`
(`--undo-undo`) reverts the undo writes since T instead of the bridge's, and puts back what an undo run by
mistake reverted (a record it re-creates gets a new id from the service; the pairing fields and the stored
pair or series follow it). Without it, running the same undo twice changes nothing the second time.

The bridge must not be writing for the user meanwhile (it would redo what undo reverts): the command
refuses unless the user is in observe mode (or `--force` says the bridge is stopped).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from bridge.core.fields import SF_ITEM_ID_FIELD, SF_STATUS, SF_STATUS_IN, SF_UID_FIELD, ExchangeItem
from bridge.core.model import Response, Side
from bridge.errors import CalbridgeError
from bridge.ports import (
    ITEM_COMMAND_FIELDS,
    Commit,
    EventRecord,
    MailboxPort,
    SalesforcePort,
    Store,
    StoredSeries,
)
from bridge.runtime import journal, records, series_journal
from bridge.runtime.series_journal import SERIES_ACTIONS
from bridge.store.journal import JournalEntry, journal_of

_EVENT_WRITABLE = (
    "OwnerId",
    "Subject",
    "IsAllDayEvent",
    "StartDateTime",
    "EndDateTime",
    "ActivityDate",
    "DurationInMinutes",
    "Description",
    "Location",
    "ShowAs",
    "IsPrivate",
    SF_ITEM_ID_FIELD,
    SF_UID_FIELD,
    "Calbridge_Sync_Hash__c",
)
_ITEM_WRITABLE = ITEM_COMMAND_FIELDS - {"time_zone"}  # undo leaves the zone as the item has it


class NotUndone(Exception):
    """Why one write was not reverted (its record is left as it is)."""


@dataclass(slots=True)
class UndoReport:
    undone: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Undo:
    salesforce: SalesforcePort
    exchange: MailboxPort
    user_id: str
    mailbox: str
    now: datetime
    pair_rows: Mapping[str, Any]  # pair key -> the stored row before the undo, JSON-safe
    renamed: dict[tuple[Side, str], str] = field(default_factory=dict)  # re-created: old id -> new id
    uids: dict[str, str] = field(default_factory=dict)  # re-created item id -> its UID
    written: list[JournalEntry] = field(default_factory=list)  # undo's own writes, for the journal
    key: str = ""  # the pair key of the entry being reverted

    def now_id(self, side: Side, record_id: str) -> str:
        return self.renamed.get((side, record_id), record_id)

    def note(
        self,
        side: Side,
        action: str,
        record_id: str,
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any] | None,
    ) -> None:
        """Journal one write of the undo, in the executor's terms, so it can be undone in turn."""
        self.written.append(
            JournalEntry(
                self.user_id,
                self.key,
                side,
                action,
                record_id,
                self.now,
                before=before,
                after=after,
                pair_before=self.pair_rows.get(self.key),
                origin="undo",
            )
        )

    def repaired(self, values: dict[str, object]) -> dict[str, object]:
        """Pairing fields pointed at the records re-created by this undo (their old ids are gone)."""
        item_id = values.get(SF_ITEM_ID_FIELD)
        if isinstance(item_id, str) and (Side.EXCHANGE, item_id) in self.renamed:
            values[SF_ITEM_ID_FIELD] = new = self.renamed[(Side.EXCHANGE, item_id)]
            if SF_UID_FIELD in values and new in self.uids:
                values[SF_UID_FIELD] = self.uids[new]
        event_id = values.get("salesforce_event_id")
        if isinstance(event_id, str):
            values["salesforce_event_id"] = self.now_id(Side.SALESFORCE, event_id)
        return values

    # ----------------------------------------------------------------------------------- reads

    async def event(self, event_id: str) -> EventRecord | None:
        return (await self.salesforce.read_events([event_id])).get(event_id)

    async def item(self, item_id: str) -> ExchangeItem | None:
        return (await self.exchange.read_items(self.mailbox, [item_id])).get(item_id)

    # --------------------------------------------------------------------------------- reverts

    async def revert(self, entry: JournalEntry) -> str:
        """Revert one write; what was done, in words. Raises NotUndone."""
        side, record_id = entry.side, self.now_id(entry.side, entry.record_id)
        self.key = entry.pair_key
        if entry.action in SERIES_ACTIONS:  # a series as a whole or one occurrence (SPEC §15)
            done = entry.after.get("command") if entry.after else entry.action
            raise NotUndone(f"undo leaves series as they are, to put back by hand: {done}")
        if entry.action in ("add_relation", "update_relation", "remove_relation"):
            return await self._relation(entry, record_id)
        if side is Side.SALESFORCE:
            return await self._event(entry, record_id)
        return await self._item(entry, record_id)

    async def _event(self, entry: JournalEntry, event_id: str) -> str:
        if entry.action == "delete":
            return await self._recreate_event(entry)
        current = await self.event(event_id)
        if current is None:
            if entry.action == "create":
                return f"Salesforce event {event_id} was already gone"
            raise NotUndone(f"Salesforce event {event_id} is gone")
        after = _fields(entry.after)
        _unchanged(after, current.fields, f"Salesforce event {event_id}")
        version = records.event_version(current)
        if entry.action == "create":
            await self.salesforce.delete_event(event_id, version)
            self.note(Side.SALESFORCE, "delete", event_id, journal.whole_event(current), None)
            return f"deleted Salesforce event {event_id}, which the bridge created"
        before = _fields(entry.before)
        if not before:
            raise NotUndone(f"Salesforce event {event_id}: its values before the write are not known")
        values = self.repaired({name: before.get(name) for name in after})
        await self.salesforce.update_event(event_id, version, values)
        was = journal.event_before(current, values)
        self.note(Side.SALESFORCE, "update", event_id, was, {"fields": journal.encode_fields(values)})
        return f"restored Salesforce event {event_id}: {', '.join(sorted(values))}"

    async def _item(self, entry: JournalEntry, item_id: str) -> str:
        if entry.action == "delete":
            return await self._recreate_item(entry)
        current = await self.item(item_id)
        if current is None:
            if entry.action == "create":
                return f"Exchange item {item_id} was already gone"
            raise NotUndone(f"Exchange item {item_id} is gone")
        after = _fields(entry.after)
        found = {name: getattr(current, name) for name in after if hasattr(current, name)}
        _unchanged({k: v for k, v in after.items() if k in found}, found, f"Exchange item {item_id}")
        added = list((entry.after or {}).get("add_categories", ()))
        removed = list((entry.after or {}).get("remove_categories", ()))
        if any(c not in current.categories for c in added) or any(c in current.categories for c in removed):
            raise NotUndone(f"Exchange item {item_id}: its categories were changed since by someone else")
        if entry.action == "create":
            await self.exchange.delete_item(self.mailbox, item_id, current.change_key, False)
            self.note(Side.EXCHANGE, "delete", item_id, journal.whole_item(current), None)
            return f"deleted Exchange item {item_id}, which the bridge created"
        before = _fields(entry.before)
        if entry.before is None:
            raise NotUndone(f"Exchange item {item_id}: its values before the write are not known")
        had = list(entry.before.get("categories", ()))
        values = self.repaired({name: before[name] for name in after if name in before})
        add, remove = [c for c in removed if c in had], [c for c in added if c not in had]
        await self.exchange.update_item(self.mailbox, item_id, current.change_key, values, add, remove, False)
        self.note(
            Side.EXCHANGE,
            "update",
            item_id,
            journal.item_before(current, values),
            {"fields": journal.encode_fields(values), "add_categories": add, "remove_categories": remove},
        )
        return f"restored Exchange item {item_id}: {', '.join(sorted(values)) or 'categories'}"

    async def _recreate_event(self, entry: JournalEntry) -> str:
        old = journal.event_of(entry.before)
        if old is None:
            raise NotUndone(f"Salesforce event {entry.record_id}: its last copy is not known")
        values = {name: old.fields[name] for name in _EVENT_WRITABLE if old.fields.get(name) is not None}
        if values.get("IsAllDayEvent"):
            values.pop("StartDateTime", None)
            values.pop("EndDateTime", None)
        item_id = str(values.get(SF_ITEM_ID_FIELD) or "")
        if item_id:
            values[SF_ITEM_ID_FIELD] = item_id = self.now_id(Side.EXCHANGE, item_id)
        written = await self.salesforce.create_event(values, ())
        self.renamed[(Side.SALESFORCE, entry.record_id)] = written.id
        self.note(Side.SALESFORCE, "create", written.id, None, {"fields": journal.encode_fields(values)})
        for relation in old.relations:
            if relation.relation_id != self.user_id:
                status = SF_STATUS_IN.get(relation.status, Response.UNDECIDED)
                await self.salesforce.add_relation(written.id, relation.relation_id, status)
                self.note(
                    Side.SALESFORCE,
                    "add_relation",
                    written.id,
                    {"relation_id": relation.relation_id, "status": None},
                    {"relation_id": relation.relation_id, "status": SF_STATUS[status]},
                )
        item = await self.item(item_id) if item_id else None
        if item is not None and item.salesforce_event_id == entry.record_id:
            pairing: dict[str, object] = {"salesforce_event_id": written.id}
            await self.exchange.update_item(self.mailbox, item_id, item.change_key, pairing, (), (), False)
            self.note(
                Side.EXCHANGE,
                "update",
                item_id,
                journal.item_before(item, pairing),
                {"fields": journal.encode_fields(pairing), "add_categories": [], "remove_categories": []},
            )
        return f"re-created Salesforce event {entry.record_id} as {written.id}"

    async def _recreate_item(self, entry: JournalEntry) -> str:
        old = journal.item_of(entry.before)
        if old is None:
            raise NotUndone(f"Exchange item {entry.record_id}: its last copy is not known")
        values: dict[str, object] = {name: getattr(old, name) for name in _ITEM_WRITABLE}
        if old.is_all_day and old.time_zone:
            values["time_zone"] = old.time_zone
        event_id = self.now_id(Side.SALESFORCE, old.salesforce_event_id or "")
        # The pairing field goes in a write of its own: to Graph a create naming the event is the bridge's
        # first create of this item again (its transactionId comes from the body, R-GRAPH-4), answered
        # with the item undo deleted instead of a new one.
        values["salesforce_event_id"] = None
        written = await self.exchange.create_item(self.mailbox, values, old.categories, False)
        if written.id == entry.record_id:  # that answer all the same: nothing was made
            raise NotUndone(
                f"Exchange item {entry.record_id}: Exchange answered the re-create with the deleted item "
                "itself (an earlier create of the same item); restore it from Deleted Items by hand"
            )
        self.renamed[(Side.EXCHANGE, entry.record_id)] = written.id
        if written.uid:
            self.uids[written.id] = written.uid
        made = {"fields": journal.encode_fields(values), "categories": list(old.categories)}
        self.note(Side.EXCHANGE, "create", written.id, None, made)
        if event_id:
            await self._point_item(written.id, event_id)
        event = await self.event(event_id) if event_id else None
        if event is not None and event.fields.get(SF_ITEM_ID_FIELD) == entry.record_id:
            pairing = {SF_ITEM_ID_FIELD: written.id, SF_UID_FIELD: written.uid}
            await self.salesforce.update_event(event_id, records.event_version(event), pairing)
            was = journal.event_before(event, pairing)
            self.note(Side.SALESFORCE, "update", event_id, was, {"fields": journal.encode_fields(pairing)})
        return f"re-created Exchange item {entry.record_id} as {written.id}"

    async def _point_item(self, item_id: str, event_id: str) -> None:
        """The re-created item's pairing field (R-PAIR-1), set on the item just made."""
        item = await self.item(item_id)
        pairing: dict[str, object] = {"salesforce_event_id": event_id}
        version = item.change_key if item is not None else None
        await self.exchange.update_item(self.mailbox, item_id, version, pairing, (), (), False)
        before = journal.item_before(item, pairing) if item is not None else None
        changed = {"fields": journal.encode_fields(pairing), "add_categories": [], "remove_categories": []}
        self.note(Side.EXCHANGE, "update", item_id, before, changed)

    async def _relation(self, entry: JournalEntry, event_id: str) -> str:
        before, after = entry.before or {}, entry.after or {}
        relation_id = str(after.get("relation_id") or before.get("relation_id"))
        current = await self.event(event_id)
        if current is None:
            raise NotUndone(f"Salesforce event {event_id} is gone")
        now = next((r.status for r in current.relations if r.relation_id == relation_id), None)
        if now != after.get("status"):
            raise NotUndone(f"invitee {relation_id} of Salesforce event {event_id} was changed since")
        old = before.get("status")
        was, back = {"relation_id": relation_id, "status": now}, {"relation_id": relation_id, "status": old}
        if old is None:
            await self.salesforce.remove_relation(event_id, relation_id)
            self.note(Side.SALESFORCE, "remove_relation", event_id, was, back)
            return f"removed invitee {relation_id} from Salesforce event {event_id}"
        response = SF_STATUS_IN.get(str(old), Response.UNDECIDED)
        if now is None:
            await self.salesforce.add_relation(event_id, relation_id, response)
            self.note(Side.SALESFORCE, "add_relation", event_id, was, back)
            return f"added invitee {relation_id} back to Salesforce event {event_id}"
        await self.salesforce.update_relation(event_id, relation_id, response)
        self.note(Side.SALESFORCE, "update_relation", event_id, was, back)
        return f"set invitee {relation_id}'s answer on Salesforce event {event_id} back to {old}"


async def undo(
    salesforce: SalesforcePort,
    exchange: MailboxPort,
    store: Store,
    *,
    user_id: str,
    mailbox: str,
    since: datetime,
    now: datetime,
    undo_undo: bool = False,
) -> UndoReport:
    """Revert the user's journaled writes since `since`, newest first: the bridge's, or with `undo_undo`
    the earlier undos'. See the module docstring."""
    book = journal_of(store)
    entries = await book.writes(user_id, since, "undo" if undo_undo else "sync")
    report = UndoReport()
    rows = {records.pair_key(p.state): journal.stored_pair_json(p) for p in await store.pairs_of(user_id)}
    # A series' stored state too (SPEC §15), journaled with undo's writes so that undoing them puts it back.
    rows |= {s.state.key: series_journal.stored_row(s.state) for s in await store.series_of(user_id)}
    work = _Undo(salesforce, exchange, user_id, mailbox, now, rows)
    left: set[tuple[Side, str]] = set()
    kept_keys: set[str] = set()
    reverted: list[JournalEntry] = []
    try:
        for entry in reversed(entries):
            record = (entry.side, entry.record_id)
            try:
                if record in left:
                    raise NotUndone(
                        f"{entry.side} record {entry.record_id}: a later write of it was not undone"
                    )
                report.undone.append(await work.revert(entry))
                reverted.append(entry)
            except (NotUndone, CalbridgeError) as why:
                left.add(record)
                kept_keys.add(entry.pair_key)
                report.kept.append(
                    f"{entry.action} of {entry.side} record {entry.record_id} at {entry.at}: {why}"
                )
    finally:  # what was written is journaled even when something unexpected stopped the undo
        await book.record(work.written)
    await book.mark_undone([e.id for e in reverted], now)
    await store.commit(_restored(user_id, reverted, kept_keys, work.renamed, work.uids))
    return report


def _restored(
    user_id: str,
    reverted: list[JournalEntry],
    kept: set[str],
    renamed: Mapping[tuple[Side, str], str],
    uids: Mapping[str, str],
) -> Commit:
    """The stored rows of the pairs whose writes were all reverted, as they were before the first one."""
    commit = Commit(user_id=user_id)
    oldest: dict[str, JournalEntry] = {}
    for entry in reverted:  # newest first: the last one seen per key is the oldest
        oldest[entry.pair_key] = entry
    for key, entry in oldest.items():
        if key in kept or not key:
            continue
        if key.startswith("series:"):  # a series' stored state (SPEC §15), as it was before its writes
            _series_restored(commit, user_id, key, entry, renamed)
            continue
        if entry.pair_before is None:
            commit.forget.append(key)
            continue
        pair = journal.stored_pair_of(user_id, entry.pair_before)
        state = pair.state
        for side in Side:
            old_id = state.id_of(side)
            if old_id is not None and (side, old_id) in renamed:
                new_id = renamed[(side, old_id)]
                state = records.with_ids(state, side, new_id, None)
                if side is Side.EXCHANGE and new_id in uids:
                    state = replace(state, uid=uids[new_id])
        commit.pairs.append(replace(pair, state=state) if state is not pair.state else pair)
        if records.pair_key(state) != key:
            commit.forget.append(key)
    return commit


def _series_restored(
    commit: Commit, user_id: str, key: str, entry: JournalEntry, renamed: Mapping[tuple[Side, str], str]
) -> None:
    """A series whose writes were all reverted (an expanded series' single copies, R-REC-6) gets its state
    back as before them, the copies undo re-created under their new ids; none before: it is forgotten.
    An entry that does not say (journaled by an earlier release) leaves the stored series as it is."""
    if not series_journal.holds_prior(entry.pair_before):
        return
    state = series_journal.prior_state(entry.pair_before)
    if state is None:
        commit.forget_series.append(key)
        return
    pairs = tuple(
        replace(
            p,
            sf_id=renamed.get((Side.SALESFORCE, p.sf_id), p.sf_id) if p.sf_id else p.sf_id,
            ex_id=renamed.get((Side.EXCHANGE, p.ex_id), p.ex_id) if p.ex_id else p.ex_id,
        )
        for p in state.occurrences
    )
    commit.series.append(StoredSeries(user_id, replace(state, occurrences=pairs)))


def _fields(data: Mapping[str, Any] | None) -> dict[str, object]:
    return journal.decode_fields((data or {}).get("fields", {}))


def _unchanged(written: Mapping[str, object], current: Mapping[str, object], what: str) -> None:
    """NotUndone unless every field the bridge wrote still holds what it wrote."""
    changed = sorted(name for name, value in written.items() if not _same(value, current.get(name)))
    if changed:
        raise NotUndone(f"{what} was edited since by someone else ({', '.join(changed)})")


def _same(written: object, now: object) -> bool:
    if written == now:
        return True
    if isinstance(written, str) and isinstance(now, str) and written.strip() == now.strip():
        return True
    moments = [_moment(written), _moment(now)]
    if all(m is not None for m in moments):
        return moments[0] == moments[1]
    if isinstance(written, tuple) and isinstance(now, tuple):  # attendees: the same people, answers aside
        return {getattr(a, "email", a) for a in written} == {getattr(a, "email", a) for a in now}
    return not written and not now  # None, "" and () are all "nothing"


def _moment(value: object) -> datetime | date | None:
    if isinstance(value, datetime | date):
        return value
    if isinstance(value, str) and len(value) >= 10 and value[4] == "-":
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00").replace("+0000", "+00:00"))
        except ValueError:
            return None
    return None


def parse_since(text: str, now: datetime) -> datetime:
    """`--since`: an ISO time (UTC when no zone is given) or a span back from now: 30m, 2h, 1d."""
    from datetime import UTC, timedelta

    units = {"m": 60, "h": 3600, "d": 86400}
    if text[-1:] in units and text[:-1].isdigit():
        return now - timedelta(seconds=int(text[:-1]) * units[text[-1]])
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--since {text!r} is neither an ISO time nor a span like 30m, 2h or 1d") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


__all__ = ["NotUndone", "UndoReport", "parse_since", "undo"]
