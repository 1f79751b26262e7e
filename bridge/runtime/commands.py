"""The runtime's subcommands of `calbridge`: run, status, issues, sync-now, backfill.

`run` serves until SIGTERM or SIGINT (plans in flight finish, exit 0). `status` and `issues` read the
configured store. `sync-now` asks the running bridge through its ops endpoint (`POST /sync-now`, with the
ops token when one is configured), so the work shows in that bridge's log and metrics; when no bridge
answers there it opens the adapters in this process and syncs the user itself, as `backfill` always does.
Both may run beside a running bridge: every write is conditional on the version it was planned from
(R-MERGE-5).

Exit status: 0 done; 1 the work failed (a service refused or is unreachable); 2 bad input (the config, an
unknown user). Every failure is one line on stderr, secrets cut out; never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

RUNTIME_COMMANDS = frozenset({"run", "status", "issues", "sync-now", "backfill", "observe-report", "undo"})
DEFAULT_CONFIG = "calbridge.toml"
USER_HELP = "the user's mailbox address or Salesforce user id, as in [[users]]"


class CommandFailed(Exception):
    """A one-line answer and an exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def add_runtime_commands(sub: Any) -> None:
    def config_option(parser: argparse.ArgumentParser, required: bool = False) -> None:
        parser.add_argument(
            "--config",
            type=Path,
            required=required,
            default=None if required else Path(os.environ.get("CALBRIDGE_CONFIG", DEFAULT_CONFIG)),
            metavar="FILE",
            help="the TOML file; CALBRIDGE_* environment variables apply too"
            + ("" if required else " (default: $CALBRIDGE_CONFIG or ./calbridge.toml)"),
        )

    run = sub.add_parser(
        "run",
        help="run the bridge until SIGTERM or SIGINT",
        description="Run the bridge: both streams, every enabled user, the ops endpoints (/healthz, /readyz, "
        "/metrics, /issues). SIGTERM or SIGINT finishes the plans in flight, stores the stream positions "
        "and exits 0.",
    )
    config_option(run, required=True)
    status = sub.add_parser(
        "status",
        help="users, pairs, last sync each way and open issues, from the store",
        description="One row per user from the store: pairs by status, open issues, when a change last "
        "went to Exchange and to Salesforce, and whether the mailbox has synced. Reads only the store.",
    )
    config_option(status)
    issues = sub.add_parser(
        "issues",
        help="open issues (R-LIM-1), from the store",
        description="Open issues (closed ones too with --all): user, code, records, message, first and "
        "last seen. Reads only the store.",
    )
    config_option(issues)
    issues.add_argument("--user", metavar="USER", help=USER_HELP)
    issues.add_argument("--all", action="store_true", help="closed issues too")
    now = sub.add_parser(
        "sync-now",
        help="compare and sync one user's whole window now (R-TIME-5)",
        description="Compare both copies of every pair in the user's window and sync what differs. Asks the "
        "running bridge (POST /sync-now on its ops endpoint); when none answers, syncs in this process.",
    )
    config_option(now)
    now.add_argument("user", metavar="USER", help=USER_HELP)
    backfill = sub.add_parser(
        "backfill",
        help="reconcile the window of one user, or of every user, in this process",
        description="Read the window of one user (or --all) on both sides, pair, create and merge what "
        "the rules say, with a progress bar. Runs in this process, beside a running bridge or not.",
    )
    config_option(backfill)
    which = backfill.add_mutually_exclusive_group(required=True)
    which.add_argument("user", nargs="?", metavar="USER", help=USER_HELP)
    which.add_argument("--all", action="store_true", help="every enabled user")
    backfill.add_argument(
        "--restart",
        action="store_true",
        help="start over instead of resuming an unfinished backfill (its checkpoint is in the store)",
    )
    backfill.add_argument(
        "--workers",
        type=_positive,
        default=None,
        metavar="N",
        help="with --all: reconcile the users in N processes, each a share of them (default: one per core)",
    )
    report = sub.add_parser(
        "observe-report",
        help="what the bridge would write for users in observe mode, from the store",
        description="Per user in observe mode: planned writes by kind, a sample in words, and the issues "
        "that would be raised (issue 9). Reads only the store; a running bridge keeps it current.",
    )
    config_option(report)
    report.add_argument("--user", metavar="USER", help=USER_HELP)
    report.add_argument("--sample", type=int, default=10, metavar="N", help="planned writes shown (10)")
    undo = sub.add_parser(
        "undo",
        help="put both sides back as they were before the bridge's writes since a time",
        description="Revert the user's journaled writes since --since, newest first: created records "
        "deleted, updated ones restored, deleted ones re-created with their pairing fields. A record edited "
        "since by someone else is left alone and listed. The user must be in observe mode (or the bridge "
        "stopped: --force), or the bridge would redo what undo reverts. Exit 1 when something was not "
        "undone.",
    )
    config_option(undo)
    undo.add_argument("--user", required=True, metavar="USER", help=USER_HELP)
    undo.add_argument("--since", required=True, metavar="TIME", help="ISO time (UTC) or a span: 30m, 2h, 1d")
    undo.add_argument("--force", action="store_true", help="the bridge is stopped: undo a writing user")
    undo.add_argument(
        "--undo-undo",
        action="store_true",
        help="revert the writes of the undos run since --since instead (undo's writes are journaled too)",
    )


def run_runtime_command(args: argparse.Namespace) -> int:
    from bridge.config import load_config
    from bridge.errors import CalbridgeError, ConfigError
    from bridge.logs import redact

    command = args.command
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        problems = str(exc).splitlines()
        more = (
            f" ({len(problems) - 1} more: calbridge check-config {args.config})" if len(problems) > 1 else ""
        )
        print(f"calbridge {command}: {args.config}: {problems[0]}{more}", file=sys.stderr)
        return 2
    try:
        from bridge.logs import configure_from

        configure_from(config)
    except Exception:  # logging set-up is best effort for the short commands
        pass
    try:
        if command == "run":
            return asyncio.run(_run(config))
        if command == "status":
            return asyncio.run(_status(config))
        if command == "issues":
            return asyncio.run(_issues(config, args.user, args.all))
        if command == "sync-now":
            return _sync_now(config, args.user)
        if command in ("observe-report", "undo"):
            from bridge.runtime import undo_command

            if command == "undo":
                undoing = undo_command.undo(
                    config, args.user, args.since, force=args.force, undo_undo=args.undo_undo
                )
                return asyncio.run(undoing)
            return asyncio.run(undo_command.observe_report(config, args.user, args.sample))
        users = _users(config, None if args.all else args.user)
        workers = _workers(args.workers) if args.all else 1
        if workers > 1 and len(users) > 1:
            from bridge.runtime.backfill import run_backfill

            return run_backfill(config, args.config, users, workers, restart=args.restart, console=_console())
        return asyncio.run(_reconcile(config, users, sync_now=False, restart=args.restart))
    except KeyError as exc:
        who = exc.args[0] if exc.args else "?"
        print(
            f"calbridge {command}: no enrolled user {who!r}; see [[users]] in {args.config}", file=sys.stderr
        )
        return 2
    except CommandFailed as exc:
        print(f"calbridge {command}: {redact(str(exc))}", file=sys.stderr)
        return exc.status
    except ConfigError as exc:
        print(f"calbridge {command}: {redact(str(exc).splitlines()[0])}", file=sys.stderr)
        return 2
    except CalbridgeError as exc:
        print(f"calbridge {command}: {redact(str(exc))}", file=sys.stderr)
        return 1
    except OSError as exc:
        reason = exc.strerror or str(exc)
        print(f"calbridge {command}: {redact(reason)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"calbridge {command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: still one line, the type says where to look
        print(f"calbridge {command}: {type(exc).__name__}: {redact(str(exc))}", file=sys.stderr)
        return 1


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive whole number")
    return number


def _workers(asked: int | None) -> int:
    """The backfill's worker processes: as asked, else one per core (`bridge.runtime.backfill`)."""
    if asked is not None:
        return asked
    from bridge.runtime.backfill import default_workers

    return default_workers()


def _console() -> Any:
    from rich.console import Console

    # Piped output (scripts, tests) gets whole lines rather than a table folded to 80 columns.
    return Console() if sys.stdout.isatty() else Console(width=240)


def _users(config: Any, key: str | None) -> list[str]:
    if key is None:
        return [u.salesforce_user_id for u in config.enabled_users]
    return [config.user(key).salesforce_user_id]


async def _run(config: Any) -> int:
    from bridge.runtime.supervisor import Supervisor

    supervisor = Supervisor(config, settings=bridge_settings(config))
    try:
        return await supervisor.run()
    except OSError as exc:
        if exc.errno == 98 or "address already in use" in str(exc).lower():
            raise CommandFailed(
                f"ops.port {config.ops.port} on {config.ops.host} is in use (another calbridge run?); "
                "stop it or set another ops.port"
            ) from None
        raise


def bridge_settings(config: Any) -> Any:
    """The runtime's settings from the configuration: the periodic reconcile, the users in observe mode
    and how long the journal keeps writes (issue 9)."""
    from bridge.runtime.actor import ActorSettings
    from bridge.runtime.engine import BridgeSettings

    return BridgeSettings(
        reconcile_every_s=config.sync.reconcile_hours * 3600,
        actor=ActorSettings(workers=config.sync.workers),
        observe=frozenset(u.salesforce_user_id for u in config.users if config.observing(u)),
        journal_keep_days=config.journal.keep_days,
    )


def _when(value: str | None) -> str:
    if not value:
        return "never"
    try:
        return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return value


async def _status(config: Any) -> int:
    from rich.table import Table

    from bridge.runtime.supervisor import open_store_port

    store = await open_store_port(config)
    try:
        table = Table(title="calbridge status")
        columns = ("user", "mailbox", "active", "waiting", "out of window", "ended", "open issues")
        for column in (*columns, "last to Exchange", "last to Salesforce", "mailbox sync"):
            table.add_column(column)
        open_issues = Counter(i.user_id for i in await store.issues(None))
        marks = await store.positions("synced:")
        for user in config.users:
            user_id = user.salesforce_user_id
            pairs = await store.pairs_of(user_id)
            counts = Counter(p.state.status.value for p in pairs)
            position = await store.position(f"ex:{user.email.lower()}")
            table.add_row(
                user_id + ("" if user.enabled else " (off)"),
                user.email,
                str(counts.get("active", 0)),
                str(counts.get("waiting", 0)),
                str(counts.get("out_of_window", 0)),
                str(counts.get("ended", 0)),
                str(open_issues.get(user_id, 0)),
                _when(marks.get(f"synced:to_exchange:{user_id}")),
                _when(marks.get(f"synced:to_salesforce:{user_id}")),
                "mailbox synced" if position else "not yet",
            )
        console = _console()
        console.print(table)
        for stream, value in (await store.positions("sf:")).items():
            console.print(f"{stream}  replay id {value}")
    finally:
        await store.close()
    return 0


async def _issues(config: Any, user: str | None, everything: bool) -> int:
    from rich.table import Table

    from bridge.runtime.supervisor import open_store_port

    user_id = config.user(user).salesforce_user_id if user else None
    store = await open_store_port(config)
    try:
        found = await store.issues(user_id, open_only=not everything)
    finally:
        await store.close()
    table = Table(title=f"calbridge issues ({len(found)})")
    for column in ("user", "code", "event", "item", "message", "first seen", "last seen", "closed"):
        table.add_column(column, overflow="fold")
    for issue in found:
        table.add_row(
            issue.user_id,
            issue.code,
            issue.sf_id or "",
            issue.ex_id or "",
            issue.message,
            issue.first_seen.strftime("%Y-%m-%d %H:%M"),
            issue.last_seen.strftime("%Y-%m-%d %H:%M"),
            issue.closed_at.strftime("%Y-%m-%d %H:%M") if issue.closed_at else "",
        )
    _console().print(table)
    return 0


def _sync_now(config: Any, user: str) -> int:
    user_id = config.user(user).salesforce_user_id  # KeyError: not enrolled, before anything is asked
    answer = _ask_running_bridge(config, user_id)
    if answer is not None:
        print(f"{user_id}: synced by the running bridge")
        return 0
    return asyncio.run(_reconcile(config, [user_id], sync_now=True))


def _ask_running_bridge(config: Any, user_id: str) -> dict[str, Any] | None:
    """POST /sync-now to the bridge serving this config; None when no bridge listens there."""
    ops = config.ops
    host = "127.0.0.1" if ops.host in ("0.0.0.0", "::", "") else ops.host
    host = f"[{host}]" if ":" in host else host
    query = urllib.parse.urlencode({"user": user_id})
    request = urllib.request.Request(f"http://{host}:{ops.port}/sync-now?{query}", method="POST")
    if ops.token is not None:
        request.add_header("Authorization", f"Bearer {ops.token.get_secret_value()}")
    try:
        with urllib.request.urlopen(request, timeout=180) as response:
            body: dict[str, Any] = json.loads(response.read() or b"{}")
            return body
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read() or b"{}").get("error", exc.reason)
        except ValueError:
            detail = exc.reason
        raise CommandFailed(
            f"the running bridge at {host}:{ops.port} answered {exc.code}: {detail}"
        ) from None
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None  # nobody listens: sync in this process


async def _reconcile(config: Any, user_ids: list[str], *, sync_now: bool, restart: bool = False) -> int:
    """Reconcile the users in this process with a progress bar. A backfill keeps a checkpoint in the store
    (bridge.runtime.checkpoint): stopped half-way, the next backfill resumes after the users done."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from bridge.runtime.checkpoint import Checkpoint
    from bridge.runtime.supervisor import Supervisor

    settings = replace(bridge_settings(config), reconcile_every_s=0)
    supervisor = Supervisor(config, ops=False, settings=settings)
    bridge = await supervisor.open_bridge(running=False)
    checkpoint = None if sync_now else await Checkpoint.open(bridge.store, restart=restart)
    left = checkpoint.left(user_ids) if checkpoint is not None else user_ids
    if checkpoint is not None and len(left) < len(user_ids):
        print(f"resuming the backfill started {_when(checkpoint.started)}: {len(left)} users left")
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("users"),
        TimeElapsedColumn(),
    )
    complete = False
    flusher = asyncio.create_task(_flush_every(checkpoint, 1.0)) if checkpoint is not None else None
    try:
        with Progress(*columns, console=_console(), transient=False) as progress:
            task = progress.add_task(
                "sync now" if sync_now else "backfill",
                total=len(user_ids),
                completed=len(user_ids) - len(left),
            )

            def done(user_id: str) -> None:
                progress.advance(task)
                if checkpoint is not None:
                    checkpoint.finished(user_id)

            await bridge.run_users(left, sync_now=sync_now, done=done)
        await bridge.stop()
        complete = True
    finally:
        if flusher is not None:
            flusher.cancel()
        if checkpoint is not None:
            await checkpoint.close(complete=complete and not _failures(bridge))
        await supervisor.stop()
    failures, writes = (
        _failures(bridge),
        sum(v for k, v in bridge.metrics.counters.items() if k.startswith("writes_")),
    )
    print(f"{len(left)} users reconciled in this process; {writes} writes, {failures} failures")
    return 1 if failures else 0


def _failures(bridge: Any) -> int:
    return sum(v for k, v in bridge.metrics.counters.items() if k.startswith("failure_"))


async def _flush_every(checkpoint: Any, seconds: float) -> None:
    """Store the backfill's marks while it runs, so a stop loses at most `seconds` of finished users."""
    while True:
        await asyncio.sleep(seconds)
        await checkpoint.flush()
