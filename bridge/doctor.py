"""`calbridge doctor`: a preflight of one configuration against the real org, Exchange and the store.

    checks = asyncio.run(diagnose(config))
    print_report(checks)            # a table: check, result, what was found, and the fix of each failure
    exit_code(checks)               # 0 only when no check failed

Contract:
- Every check goes through the adapters the bridge itself runs on (`open_salesforce`, `open_ews` or
  `open_graph`, `open_store`), so a pass means the bridge's own calls work from here with these credentials.
- Nothing is written: no record, no item, no schema. A store that is empty or at an older schema revision is
  a warning, not a failure: `calbridge run` migrates it at start. A store a newer release upgraded fails.
- A result is `ok`, `warn` (works, but read the note), `fail` (the bridge would not work: the row says how
  to fix it) or `skipped` (a check it depends on failed). Secrets never appear in a row.
- A check that cannot finish in `TIMEOUT_S` fails, so the doctor always ends.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import sys
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bridge.config import Config, is_loopback
from bridge.core.fields import SF_ITEM_ID_FIELD, SF_SYNC_HASH_FIELD, SF_UID_FIELD
from bridge.core.model import Invitations
from bridge.errors import CalbridgeError, ConfigError, RefusedError
from bridge.salesforce import changes, reads

Clock = Callable[[], datetime]
TIMEOUT_S = 60.0
MAX_SKEW_S = 60.0  # JWT assertions live 180 s, and the window and reconcile times are taken from this clock
INTEGRATION_SET = "Calbridge_Integration"
USER_SET = "Calbridge_User"
EXCHANGE_ONLINE_HOSTS = ("outlook.office365.com", "outlook.office.com", "outlook.com")
EWS_BLOCKED = datetime(2026, 10, 1, tzinfo=UTC)  # EWS in Exchange Online, unless the tenant allows the app
EWS_SHUT_DOWN = datetime(2027, 4, 1, tzinfo=UTC)
DEPLOY_FIX = (
    "deploy salesforce_metadata/ (docs/metadata.md) and assign Calbridge Integration to the bridge's user"
)

ISSUE_FIELDS = (
    "User__c",
    "Code__c",
    "Message__c",
    "Event_Id__c",
    "Item_Id__c",
    "First_Seen__c",
    "Last_Seen__c",
)
SETTINGS_FIELDS = (
    *("User__c", "Sync_Enabled__c", "Direction__c", "Filter_To_Exchange__c", "Filter_To_Salesforce__c"),
    *("Past_Days__c", "Future_Days__c", "Private__c", "Safe_Description__c", "Continuous_Attendees__c"),
    *("Invitations__c", "Tie_Winner__c", "Delete_In_Exchange__c", "Sync_Internal__c", "Sync_Unanswered__c"),
    *("Blocked_Categories__c", "Internal_Domains__c", "Sync_Category__c", "Unsync_Category__c"),
    *("Error_Category__c", "Mass_Delete_Min__c", "Mass_Delete_Fraction__c", "Observe__c"),
)


def _own(fields: tuple[str, ...]) -> tuple[str, ...]:
    """An object's own fields: a path through a relationship (`Who.Email`) is the other object's field."""
    return tuple(f for f in fields if "." not in f)


# What the bridge reads and writes in Salesforce, per object: (fields it reads, fields it writes). The
# integration user's describe shows a field only with field-level security read, `updateable` only with edit.
BRIDGE_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Event": (_own(reads.EVENT_FIELDS), (SF_ITEM_ID_FIELD, SF_UID_FIELD, SF_SYNC_HASH_FIELD)),
    "EventRelation": (_own(reads.RELATION_FIELDS), ("Status",)),
    "Calbridge_Command__e": (("Command__c", "User_Id__c", "Event_Id__c"), ()),
    "Calbridge_Issue__c": ((*ISSUE_FIELDS, "Is_Open__c"), (*ISSUE_FIELDS, "Is_Open__c")),
    "Calbridge_Settings__c": (SETTINGS_FIELDS, ()),
}
CDC_ENTITIES = ("EventChangeEvent", "EventRelationChangeEvent")
# Fields each Pub/Sub topic's schema must carry for the bridge to read its events.
TOPIC_FIELDS = {
    changes.EVENT_TOPIC: ("ChangeEventHeader", "Subject", SF_ITEM_ID_FIELD, SF_UID_FIELD),
    changes.RELATION_TOPIC: ("ChangeEventHeader", "EventId", "RelationId", "Status"),
    changes.COMMAND_TOPIC: ("Command__c", "User_Id__c", "Event_Id__c"),
}


class Result(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class Check:
    """One row of the report: what was checked, the result, what was found, and (failing) the fix."""

    name: str
    result: Result
    found: str
    fix: str = ""


def _ok(name: str, found: str) -> Check:
    return Check(name, Result.OK, found)


def _fail(name: str, found: str, fix: str) -> Check:
    return Check(name, Result.FAIL, found, fix)


def _listed(values: Iterable[str], most: int = 5) -> str:
    items = sorted(values)
    more = f" and {len(items) - most} more" if len(items) > most else ""
    return ", ".join(items[:most]) + more


def _same_id(a: str, b: str) -> bool:
    return a[:15] == b[:15]  # Salesforce ids compare on their case-sensitive 15 characters


def _error(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return f"no answer within {TIMEOUT_S:.0f} s"
    return str(exc) or type(exc).__name__


# ---------------------------------------------------------------------------------------------- Salesforce


async def _salesforce_api(sf: Any) -> Check:
    name = "salesforce api"
    try:
        await asyncio.wait_for(sf.rest.probe_limits(), TIMEOUT_S)
    except ConfigError as exc:
        return _fail(
            name,
            str(exc),
            "check salesforce.client_id and its secret or key; the connected app "
            "needs the flow configured and a run-as user with API Enabled",
        )
    except (CalbridgeError, TimeoutError) as exc:
        return _fail(name, _error(exc), "check salesforce.instance_url, the network path and ca_bundle")
    used, limit = sf.api_usage, sf.api_limit
    usage = f"; {used:,} of {limit:,} API calls used today" if used is not None and limit else ""
    return _ok(name, f"signed in as {sf.tokens.user_id or 'the run-as user'}{usage}")


async def _enrolled(sf: Any, config: Config) -> list[tuple[str, str]]:
    """(user id, mailbox) of everyone who would sync: the enabled [[users]], or, under
    `settings_source = "salesforce"`, whom Salesforce enrols (the Calbridge User permission set and the
    settings rows, as the running bridge reads them)."""
    if config.sync.settings_source != "salesforce":
        return [(u.salesforce_user_id, u.email) for u in config.enabled_users]
    from bridge.runtime.settings import resolve
    from bridge.salesforce.settings import read_enrolment

    bindings = resolve(config, await read_enrolment(sf.rest)).bindings
    return [(b.user_id, b.mailbox) for b in bindings.values()]


async def _permission_sets(sf: Any, config: Config) -> Check:
    name = "permission sets"
    rows = await sf.rest.query(
        "SELECT AssigneeId, PermissionSet.Name FROM PermissionSetAssignment "
        f"WHERE PermissionSet.Name IN ('{INTEGRATION_SET}', '{USER_SET}')"
    )
    holders: dict[str, list[str]] = {INTEGRATION_SET: [], USER_SET: []}
    for row in rows:
        holders.setdefault(str((row.get("PermissionSet") or {}).get("Name")), []).append(
            str(row["AssigneeId"])
        )
    problems, fixes = [], []
    me = sf.tokens.user_id
    if me is None or not any(_same_id(me, a) for a in holders[INTEGRATION_SET]):
        problems.append(f"the bridge's user {me or '(unknown)'} lacks {INTEGRATION_SET}")
        fixes.append(f"assign {INTEGRATION_SET} to the connected app's run-as user")
    # Under settings_source = "salesforce" the permission set is the enrolment: nobody can lack it.
    listed = config.enabled_users if config.sync.settings_source != "salesforce" else []
    missing = [
        u.email for u in listed if not any(_same_id(u.salesforce_user_id, a) for a in holders[USER_SET])
    ]
    if missing:
        problems.append(f"{len(missing)} enrolled users lack {USER_SET}: {_listed(missing)}")
        fixes.append(
            f"assign {USER_SET} to them (Setup > Permission Sets > Calbridge User > Manage Assignments)"
        )
    if problems:
        return _fail(name, "; ".join(problems), "; ".join(fixes))
    count = len(listed) if config.sync.settings_source != "salesforce" else len(set(holders[USER_SET]))
    return _ok(name, f"{INTEGRATION_SET} on the bridge's user, {USER_SET} on {count} users")


async def _fields(sf: Any) -> Check:
    name = "fields and field-level security"
    problems = []
    for sobject, (read, written) in BRIDGE_FIELDS.items():
        try:
            described = await sf.rest.restful("describe", f"sobjects/{sobject}/describe/")
        except RefusedError:
            problems.append(f"{sobject} is not deployed")
            continue
        fields = {str(f["name"]).lower(): f for f in described.get("fields", [])}
        unseen = [f for f in read if f.lower() not in fields]
        locked = [f for f in written if f.lower() in fields and not fields[f.lower()].get("updateable")]
        if unseen:
            problems.append(f"{sobject}: not visible: {_listed(unseen)}")
        if locked:
            problems.append(f"{sobject}: read-only: {_listed(locked)}")
    if problems:
        return _fail(name, "; ".join(problems), DEPLOY_FIX + " (it grants field-level security)")
    count = sum(len(set(r) | set(w)) for r, w in BRIDGE_FIELDS.values())
    return _ok(name, f"{count} fields on {len(BRIDGE_FIELDS)} objects visible, the written ones editable")


async def _change_data_capture(sf: Any) -> Check:
    name = "change data capture"
    answer = await sf.rest.restful(
        "query",
        "tooling/query/",
        params={"q": "SELECT DeveloperName, EventChannel, SelectedEntity FROM PlatformEventChannelMember"},
    )
    selected = {
        str(row.get("SelectedEntity"))
        for row in answer.get("records", [])
        if row.get("EventChannel") == "ChangeEvents"
        or str(row.get("DeveloperName")).startswith("ChangeEvents_")
    }
    missing = [e for e in CDC_ENTITIES if e not in selected]
    if missing:
        return _fail(
            name,
            f"not selected for Change Data Capture: {', '.join(missing)}",
            "deploy salesforce_metadata/platformEventChannelMembers, or select Event and EventRelation in "
            "Setup > Change Data Capture",
        )
    return _ok(name, "Event and EventRelation selected on the ChangeEvents channel")


async def _pubsub(sf: Any) -> Check:
    import grpc

    name = "pub/sub"
    problems = []
    for topic, expected in TOPIC_FIELDS.items():
        try:
            info = await sf.pubsub.topic(topic, TIMEOUT_S)
            if not info.can_subscribe:
                problems.append(f"{topic}: this user may not subscribe")
                continue
            schema = await asyncio.wait_for(sf.pubsub.schema(info.schema_id), TIMEOUT_S)
        except grpc.aio.AioRpcError as exc:
            problems.append(f"{topic}: {exc.code().name} {exc.details() or ''}".strip())
            continue
        except (CalbridgeError, TimeoutError) as exc:
            problems.append(f"{topic}: {_error(exc)}")
            continue
        names = {f.name for f in schema.record.fields}
        absent = [f for f in expected if f not in names]
        if absent:
            problems.append(f"{topic}: schema lacks {_listed(absent)}")
    if problems:
        return _fail(
            name,
            "; ".join(problems),
            "check salesforce.pubsub (host:port) and the network path to it; " + DEPLOY_FIX,
        )
    return _ok(
        name, f"{len(TOPIC_FIELDS)} topics readable at {sf.connection.pubsub} with the expected schemas"
    )


async def _salesforce(config: Config, enrolled: asyncio.Future[list[tuple[str, str]] | str]) -> list[Check]:
    """The Salesforce checks; `enrolled` is given who would sync, or why Salesforce cannot say."""
    from bridge.runtime.supervisor import open_salesforce_port

    try:
        sf: Any = open_salesforce_port(config)
    except BaseException:
        enrolled.set_result("needs salesforce api")
        raise
    try:
        api = await _salesforce_api(sf)
        names = ("permission sets", "fields and field-level security", "change data capture", "pub/sub")
        if api.result is Result.FAIL:
            from_salesforce = config.sync.settings_source == "salesforce"
            enrolled.set_result("needs salesforce api" if from_salesforce else await _enrolled(sf, config))
            return [api, *(Check(n, Result.SKIPPED, "needs salesforce api") for n in names)]
        try:
            enrolled.set_result(await asyncio.wait_for(_enrolled(sf, config), TIMEOUT_S))
        except (CalbridgeError, TimeoutError) as exc:
            enrolled.set_result(f"the enrolment could not be read from Salesforce: {_error(exc)}")
        checks = [api]
        runs: list[Callable[[], Awaitable[Check]]] = [
            lambda: _permission_sets(sf, config),
            lambda: _fields(sf),
            lambda: _change_data_capture(sf),
            lambda: _pubsub(sf),
        ]
        for check_name, run in zip(names, runs, strict=True):
            try:
                checks.append(await asyncio.wait_for(run(), TIMEOUT_S * len(TOPIC_FIELDS)))
            except (CalbridgeError, TimeoutError) as exc:
                checks.append(_fail(check_name, _error(exc), DEPLOY_FIX))
        return checks
    finally:
        if not enrolled.done():  # a check raised: the mailbox check must not wait for ever
            enrolled.set_result("needs salesforce api")
        await sf.close()


# ------------------------------------------------------------------------------------------------ Exchange


def _is_exchange_online(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return any(host == h or host.endswith("." + h) for h in EXCHANGE_ONLINE_HOSTS)


def provider_check(config: Config, now: datetime) -> Check:
    """Whether EWS or Graph suits the server `exchange` names, on the date `now`."""
    name = "exchange provider"
    ex = config.exchange
    if ex.provider == "graph":
        return _graph_provider(config)
    if not _is_exchange_online(ex.ews_url or ""):
        return _ok(name, "EWS against Exchange Server on-premises, which keeps EWS")
    if now >= EWS_SHUT_DOWN:
        return _fail(name, "EWS in Exchange Online was shut down on 2027-04-01", 'use provider = "graph"')
    note = (
        "EWS in Exchange Online is blocked from 2026-10-01 unless the tenant allows this app, and shut down "
        "on 2027-04-01; plan the move to provider = graph"
    )
    return Check(name, Result.WARN, note)


def _graph_provider(config: Config) -> Check:
    """Graph: how changes will arrive, and what `invitations = none` means there (R-GRAPH-2, R-GRAPH-3)."""
    name = "exchange provider"
    graph = config.exchange.graph
    url = graph.notification_url
    if url is None:
        changes = (
            f"changes found by delta polling every {graph.poll_seconds:g} s (set exchange.graph."
            "notification_url for change notifications)"
        )
    else:
        parts = urlsplit(url)
        if parts.scheme != "https" and not is_loopback(parts.hostname or ""):
            return _fail(
                name,
                f"exchange.graph.notification_url {url} is not https: Graph refuses to post to it",
                "use the bridge's public https address that reaches the ops server's /graph/notify and "
                "/graph/lifecycle (docs/graph.md)",
            )
        changes = f"change notifications posted to {url.rstrip('/')}/graph/notify, delta polling behind them"
    listing = [u.email for u in config.enabled_users if config.policy_for(u).invitations is Invitations.NONE]
    if not listing:
        return _ok(name, f"Microsoft Graph; {changes}")
    return Check(
        name,
        Result.WARN,
        f"Microsoft Graph; {changes}. Under invitations = none ({_listed(listing)}), an item created from "
        "Salesforce invites nobody: Graph cannot create a meeting without mailing its attendees, so they are "
        "listed at the end of the item's body instead (R-GRAPH-3)",
    )


async def _mailboxes(
    config: Config, now: datetime, enrolled: asyncio.Future[list[tuple[str, str]] | str]
) -> Check:
    from bridge.runtime.supervisor import open_mailbox_port

    name = "exchange mailboxes"
    enrolment = await enrolled
    from_salesforce = config.sync.settings_source == "salesforce"
    if isinstance(enrolment, str):
        return Check(name, Result.SKIPPED, enrolment)
    users = sorted({mailbox for _, mailbox in enrolment})
    if not users:
        where = "holds Calbridge User in Salesforce" if from_salesforce else "is enabled in [[users]]"
        return Check(name, Result.WARN, f"no user {where}: nothing would be synced")
    mailboxes: Any = open_mailbox_port(config)
    gate = asyncio.Semaphore(8)
    failures: dict[str, list[str]] = {}

    async def probe(address: str) -> None:
        async with gate:
            try:
                await asyncio.wait_for(
                    mailboxes.window_items(address, now, now + timedelta(minutes=1)), TIMEOUT_S
                )
            except ConfigError as exc:
                failures.setdefault(str(exc), []).append(address)
            except (CalbridgeError, TimeoutError) as exc:
                reason = exc.code if isinstance(exc, RefusedError) and exc.code else _error(exc)
                failures.setdefault(reason, []).append(address)

    try:
        await asyncio.gather(*(probe(address) for address in users))
    finally:
        await mailboxes.close()
    if not failures:
        who = "the app registration" if config.exchange.provider == "graph" else "the service account"
        return _ok(name, f"{who} opens the calendars of all {len(users)} enrolled mailboxes")
    found = "; ".join(f"{reason}: {_listed(addresses)}" for reason, addresses in sorted(failures.items()))
    where_email = (
        "correct the user's Email in Salesforce or set it in their [[users]] entry"
        if from_salesforce
        else "correct its email in [[users]]"
    )
    if config.exchange.provider == "graph":
        return _fail(
            name,
            found,
            "grant the app registration Calendars.ReadWrite (application) and put these mailboxes in its "
            f"RBAC for Applications scope; a missing mailbox: {where_email}; a refused token: check "
            "exchange.graph.authority, client_id and the secret",
        )
    fix = (
        f"let {config.exchange.username} impersonate these mailboxes (the ApplicationImpersonation role, "
        f"scoped to the synced users); a missing mailbox: {where_email}; refused credentials: check "
        "exchange.username and the password"
    )
    return _fail(name, found, fix)


# ----------------------------------------------------------------------------------------- clock and store


def _server_time(url: str, verify: bool | str) -> datetime:
    import requests

    session = requests.Session()
    session.trust_env = False  # the configured CA, not REQUESTS_CA_BUNDLE (as the adapters do)
    with session:
        answer = session.get(url, verify=verify, timeout=TIMEOUT_S, allow_redirects=False)
    stamp = answer.headers.get("Date")
    if not stamp:
        raise ValueError(f"{url} answered without a Date header")
    return email.utils.parsedate_to_datetime(stamp).astimezone(UTC)


async def _clock(config: Config, clock: Clock) -> Check:
    name = "clock"
    insecure = config.sync.insecure_skip_tls_verify
    servers = [
        ("Salesforce", f"{config.salesforce.instance_url}/services/data/", config.salesforce.ca_bundle)
    ]
    if config.exchange.provider == "ews" and config.exchange.ews_url:
        servers.append(("Exchange", config.exchange.ews_url, config.exchange.ca_bundle))
    if config.exchange.provider == "graph":
        servers.append(("Graph", config.exchange.graph.graph_url, config.exchange.ca_bundle))
    skews, problems = [], []
    for label, url, ca in servers:
        verify: bool | str = False if insecure else (str(ca) if ca else True)
        try:
            theirs = await asyncio.to_thread(_server_time, url, verify)
        except Exception as exc:  # any transport failure: reported, not raised
            problems.append(f"{label} time unknown ({type(exc).__name__})")
            continue
        skew = (clock() - theirs).total_seconds()
        skews.append(f"{label} {skew:+.0f} s")
        if abs(skew) > MAX_SKEW_S:
            problems.append(f"this host is {skew:+.0f} s off {label}'s clock")
    if problems:
        return _fail(
            name,
            "; ".join(problems),
            "synchronise this host's clock (NTP); skew over 60 s breaks JWT sign-in and the sync window",
        )
    return _ok(name, "; ".join(skews) + f" (within {MAX_SKEW_S:.0f} s)")


async def _store(config: Config) -> Check:
    from sqlalchemy.engine import make_url

    from bridge.store import migrate, open_store

    name = "store"
    url = make_url(config.store_url)
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        folder = Path(url.database).resolve().parent
        existing = next((p for p in (folder, *folder.parents) if p.exists()), folder)
        if not os.access(existing, os.W_OK):
            return _fail(
                name, f"cannot create {url.database}: {existing} is not writable", "make state_dir writable"
            )
        return Check(name, Result.WARN, f"no store yet at {url.database}; calbridge run creates it")
    try:
        store = open_store(config.store_url)
        try:
            found = await asyncio.wait_for(store.revision(), TIMEOUT_S)
        finally:
            await store.close()
    except Exception as exc:  # driver errors of every kind; their text names no password
        return _fail(
            name,
            f"{shown} unreachable: {type(exc).__name__}: {_error(exc)}",
            "check store.url, the database server and store.password",
        )
    head = migrate.head()
    if found == head:
        return _ok(name, f"{shown} at schema revision {head}")
    if found is None or found in migrate.known():
        return Check(
            name, Result.WARN, f"{shown} at revision {found or '(empty)'}; calbridge run migrates it"
        )
    return _fail(
        name,
        f"{shown} is at revision {found}, written by a newer calbridge",
        "run that release, or point store.url at another database",
    )


# ---------------------------------------------------------------------------------------------- the report


async def diagnose(config: Config, *, clock: Clock | None = None) -> list[Check]:
    """Every check, in the order of the report. `clock` gives this host's time (tests shift it)."""
    now = clock or (lambda: datetime.now(UTC))
    enrolled: asyncio.Future[list[tuple[str, str]] | str] = asyncio.get_running_loop().create_future()
    salesforce, mailboxes, clock_check, store = await asyncio.gather(
        _salesforce(config, enrolled),
        _mailboxes(config, now(), enrolled),
        _clock(config, now),
        _store(config),
    )
    return [*salesforce, provider_check(config, now()), mailboxes, clock_check, store]


def exit_code(checks: Collection[Check]) -> int:
    """0 when no check failed (warnings pass), else 1."""
    return 1 if any(c.result in (Result.FAIL, Result.SKIPPED) for c in checks) else 0


_STYLE = {Result.OK: "green", Result.WARN: "yellow", Result.FAIL: "bold red", Result.SKIPPED: "dim"}


def print_report(checks: Collection[Check]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="calbridge doctor")
    for column in ("check", "result", "found", "fix"):
        table.add_column(column, overflow="fold")
    for c in checks:
        table.add_row(c.name, f"[{_STYLE[c.result]}]{c.result.value}[/]", c.found, c.fix)
    # Piped output (scripts, tests) gets whole lines rather than a table folded to 80 columns.
    console = Console() if sys.stdout.isatty() else Console(width=240)
    console.print(table)
    failed = sum(c.result is Result.FAIL for c in checks)
    console.print(
        "all checks passed" if not exit_code(checks) else f"{failed} checks failed: see the fix column"
    )


def run_doctor(path: Path) -> int:
    """`calbridge doctor --config PATH`: 0 all passed, 1 a check failed, 2 the configuration does not load."""
    from bridge.config import load_config

    try:
        config = load_config(path)
    except ConfigError as exc:
        print(f"calbridge doctor: {path}: {exc}", file=sys.stderr)
        return 2
    checks = asyncio.run(diagnose(config))
    print_report(checks)
    return exit_code(checks)
