"""What a series plan writes for one occurrence or one series, shared by bridge.core.series_plan and
bridge.core.series_expand: field mapping towards a side, the rule in that side's terms, one exception
(split out where Salesforce cannot hold it, R-REC-3), info entries, and whether a side may be written."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from bridge.core.commands import Command, RaiseIssue, RecordId, UpdateEvent, frozen_fields
from bridge.core.fields import exchange_fields, salesforce_fields
from bridge.core.issues import IssueCode, make_issue
from bridge.core.model import Attendee, Content, Policy, Response, Side
from bridge.core.patterns import Pattern
from bridge.core.patterns_ews import ews_recurrence
from bridge.core.patterns_rrule import rrule_text
from bridge.core.private import project
from bridge.core.series import OccurrencePair, Series, SeriesState
from bridge.core.series_commands import Rule, SplitOccurrence, UpdateOccurrence


def writable(side: Side, state: SeriesState | None, sf: Series | None, policy: Policy) -> bool:
    """Whether the plan may write to `side`: the direction allows it, and never to a Classic series."""
    if not policy.direction.allows(side.other):
        return False
    return not (side is Side.SALESFORCE and sf is not None and sf.classic)


def info(code: IssueCode, state: SeriesState, policy: Policy, detail: str = "") -> list[Command]:
    if code in state.open_issues:
        return []
    return [RaiseIssue(make_issue(code, policy.user_id, state.sf_series, state.ex_series, detail))]


def fresh(source: Series, rule: Pattern | None) -> SeriesState:
    sf_id = source.id if source.side is Side.SALESFORCE else None
    ex_id = source.id if source.side is Side.EXCHANGE else None
    prefix = "sf" if source.side is Side.SALESFORCE else "ex"
    return SeriesState(
        key=f"series:{prefix}:{source.id}",
        origin=source.side,
        sf_series=sf_id,
        ex_series=ex_id,
        rule=rule,
        anchor=source.anchor if rule is not None else None,
    )


def fields_for(target: Side, content: Content, names: tuple[str, ...], policy: Policy) -> dict[str, object]:
    if target is Side.SALESFORCE:
        return salesforce_fields(content, names)
    return exchange_fields(content, names, policy)


def rule_for(target: Side, series: Series) -> Rule:
    assert isinstance(series.rule, Pattern)
    if target is Side.SALESFORCE:
        return rrule_text(series.rule, series.anchor)
    return ews_recurrence(series.rule, series.anchor.first)


def write_exception(
    target: Side,
    series_id: RecordId,
    pair: OccurrencePair,
    content: Content,
    names: tuple[str, ...],
    policy: Policy,
    now: datetime,
) -> tuple[list[Command], OccurrencePair]:
    """One occurrence's own content written to `target` (R-REC-3). Salesforce holds an API edit of a
    past occurrence as an exception; a future one would change the whole series, so it is split out."""
    projected = project(content, target, policy, mask=False)
    fields = frozen_fields(fields_for(target, projected, names, policy))
    record_id = pair.sf_id if target is Side.SALESFORCE else pair.ex_id
    if target is Side.SALESFORCE and not pair.split and pair.original_start > now:
        split = SplitOccurrence(series_id, pair.original_start, fields, record_id)
        return [split], replace(pair, split=True, base=content)
    if target is Side.SALESFORCE and pair.split and pair.sf_id is not None:
        return [UpdateEvent(pair.sf_id, None, fields)], replace(pair, base=content)
    update = UpdateOccurrence(target, series_id, pair.original_start, fields, record_id)
    return [update], replace(pair, base=content)


def unanswered(content: Content) -> Content:
    """R-ATT-6: an Outlook copy made from Salesforce lists every invitee unanswered, Declined included."""
    return replace(
        content, attendees=tuple(replace(a, response=Response.UNDECIDED) for a in content.attendees)
    )


def invitees_added(row: Content, base: Content, item: Content, policy: Policy) -> tuple[Attendee, ...]:
    """R-ATT-1/2/7 for a Salesforce copy and its Outlook twin: the invitees added in Salesforce since
    `base`, not on the item yet, unanswered (R-ATT-6); a Salesforce removal never reaches Outlook."""
    if not policy.continuous_attendees:
        return ()
    before = {a.email.lower() for a in base.attendees} | {a.email.lower() for a in item.attendees}
    added = {a.email.lower(): a for a in row.attendees if a.email.lower() not in before}
    return tuple(Attendee(email, optional=added[email].optional) for email in sorted(added))
