"""Issue codes (SPEC §11, R-LIM): every limit is reported, never silently dropped.

An issue names the user, the event and/or item, a code and a message an admin can act on. The store keeps
first and last seen times; a plan raises an issue when its cause appears and closes it when the cause is
gone (R-LIM-1).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class IssueCode(StrEnum):
    TOO_LONG = "E-TOO-LONG"
    RECURRING_TOO_LONG = "E-RECURRING-TOO-LONG"
    TIMEZONE = "E-TIMEZONE"
    SF_VALIDATION = "E-SF-VALIDATION"
    EXCHANGE_REFUSED = "E-EXCHANGE-REFUSED"
    DUPLICATE_KEY = "E-DUPLICATE-KEY"
    MASS_DELETE = "E-MASS-DELETE"
    TRUNCATED = "W-TRUNCATED"
    UNANSWERED = "W-UNANSWERED"
    WAIT_ORGANIZER = "W-WAIT-ORGANIZER"
    API_BUDGET = "W-API-BUDGET"
    SETTINGS = "W-SETTINGS"  # a Calbridge_Settings__c row that cannot be used as it is
    COMMAND_REFUSED = "W-COMMAND-REFUSED"  # a Calbridge_Command__e from someone not allowed to send it
    UNRESOLVED_ATTENDEE = "I-UNRESOLVED-ATTENDEE"
    RECURRING_EXPANDED = "I-RECURRING-EXPANDED"
    OCCURRENCE_SPLIT = "I-OCCURRENCE-SPLIT"
    RECURRING = "I-RECURRING"  # until SPEC §15 is built: series are skipped, and say so

    @property
    def severity(self) -> Severity:
        return {"E": Severity.ERROR, "W": Severity.WARNING, "I": Severity.INFO}[self.value[0]]


# What an admin reads; the plan adds the particulars.
MESSAGES: dict[IssueCode, str] = {
    IssueCode.TOO_LONG: "Longer than 14 days, which Salesforce does not allow; shorten it to sync it.",
    IssueCode.RECURRING_TOO_LONG: "An occurrence is longer than 24 hours; the series is not synced.",
    IssueCode.TIMEZONE: "Its time zone cannot be mapped; set a standard time zone on it to sync it.",
    IssueCode.SF_VALIDATION: "Salesforce refused the write.",
    IssueCode.EXCHANGE_REFUSED: "Exchange refused the write.",
    IssueCode.DUPLICATE_KEY: (
        "Several copies share this subject, start and end, so none was paired; rename or delete the extras."
    ),
    IssueCode.MASS_DELETE: "This pass would delete many synced items; deletions wait for a confirm command.",
    IssueCode.TRUNCATED: "A value was longer than Salesforce allows and was synced truncated.",
    IssueCode.UNANSWERED: "A meeting you declined or have not answered is not synced.",
    IssueCode.WAIT_ORGANIZER: "Waits until the organizer's copy of this meeting is synced.",
    IssueCode.API_BUDGET: "Salesforce writes are paused: the org is near its daily API limit.",
    IssueCode.SETTINGS: "A sync settings row in Salesforce cannot be used as it is:",
    IssueCode.COMMAND_REFUSED: (
        "A command from Salesforce was refused: only the user themselves or a holder of Calbridge Admin may "
        "send it."
    ),
    IssueCode.UNRESOLVED_ATTENDEE: "An address matches no User, Contact or Lead; it is tried again later.",
    IssueCode.RECURRING_EXPANDED: "The series' pattern does not map; its occurrences sync one by one.",
    IssueCode.OCCURRENCE_SPLIT: "A changed occurrence was split out of its Salesforce series.",
    IssueCode.RECURRING: "Recurring series are not synced yet.",
}

# Limits that stop a pair until a fresh read shows the cause gone (R-LIM-2); other issues only report.
HOLDING = frozenset({IssueCode.TOO_LONG, IssueCode.TIMEZONE})


@dataclass(frozen=True, slots=True)
class Issue:
    """One reported problem of one user's event and/or item."""

    code: IssueCode
    user_id: str
    sf_id: str | None
    ex_id: str | None
    message: str

    @property
    def severity(self) -> Severity:
        return self.code.severity


def make_issue(
    code: IssueCode, user_id: str, sf_id: str | None, ex_id: str | None, detail: str = ""
) -> Issue:
    """An issue with the standard message for `code`, followed by `detail` when given."""
    message = MESSAGES[code] if not detail else f"{MESSAGES[code]} {detail}"
    return Issue(code=code, user_id=user_id, sf_id=sf_id, ex_id=ex_id, message=message)
