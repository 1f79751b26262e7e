"""The runtime's subcommands of `calbridge`: run, status, issues, sync-now, backfill.

`run` serves until SIGTERM or SIGINT (plans in flight finish, exit 0). The others open the configured
store (and, for sync-now and backfill, the adapters) in this process, do their work and exit; they may run
beside a running bridge: every write is conditional on the version it was planned from (R-MERGE-5).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

RUNTIME_COMMANDS = frozenset({"run", "status", "issues", "sync-now", "backfill"})
DEFAULT_CONFIG = "calbridge.toml"


def add_runtime_commands(sub: Any) -> None:
    def config_option(parser: argparse.ArgumentParser, required: bool = False) -> None:
        parser.add_argument(
            "--config",
            type=Path,
            required=required,
            default=None if required else Path(os.environ.get("CALBRIDGE_CONFIG", DEFAULT_CONFIG)),
            help="the TOML file (default: $CALBRIDGE_CONFIG or ./calbridge.toml)",
        )

    run = sub.add_parser("run", help="run the bridge until SIGTERM or SIGINT")
    config_option(run, required=True)
    status = sub.add_parser("status", help="users, pairs and open issues, from the store")
    config_option(status)
    issues = sub.add_parser("issues", help="open issues (R-LIM-1), from the store")
    config_option(issues)
    issues.add_argument("--user", help="a user's email address or Salesforce user id")
    issues.add_argument("--all", action="store_true", help="closed issues too")
    now = sub.add_parser("sync-now", help="compare and sync one user's whole window now (R-TIME-5)")
    config_option(now)
    now.add_argument("user", help="the user's email address or Salesforce user id")
    backfill = sub.add_parser("backfill", help="reconcile the window of one user, or of every user")
    config_option(backfill)
    which = backfill.add_mutually_exclusive_group(required=True)
    which.add_argument("user", nargs="?", help="the user's email address or Salesforce user id")
    which.add_argument("--all", action="store_true", help="every enabled user")


def run_runtime_command(args: argparse.Namespace) -> int:
    from bridge.config import load_config
    from bridge.errors import ConfigError

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"calbridge {args.command}: {args.config}: {exc}", file=sys.stderr)
        return 2
    try:
        from bridge.logs import configure_from

        configure_from(config)
    except Exception:  # logging set-up is best effort for the short commands
        pass
    try:
        if args.command == "run":
            return asyncio.run(_run(config))
        if args.command == "status":
            return asyncio.run(_status(config))
        if args.command == "issues":
            return asyncio.run(_issues(config, args.user, args.all))
        users = _users(config, None if getattr(args, "all", False) else args.user)
        return asyncio.run(_reconcile(config, users, sync_now=args.command == "sync-now"))
    except KeyError as exc:
        print(
            f"calbridge {args.command}: no enrolled user {exc}; see [[users]] in {args.config}",
            file=sys.stderr,
        )
        return 2
    except ConfigError as exc:
        print(f"calbridge {args.command}: {exc}", file=sys.stderr)
        return 2


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

    return await Supervisor(config).run()


async def _status(config: Any) -> int:
    from rich.table import Table

    from bridge.runtime.supervisor import open_store_port

    store = await open_store_port(config)
    try:
        table = Table(title="calbridge status")
        for column in (
            "user",
            "mailbox",
            "active",
            "waiting",
            "out of window",
            "ended",
            "open issues",
            "synced to",
        ):
            table.add_column(column)
        open_issues = Counter(i.user_id for i in await store.issues(None))
        for user in config.users:
            pairs = await store.pairs_of(user.salesforce_user_id)
            counts = Counter(p.state.status.value for p in pairs)
            position = await store.position(f"ex:{user.email.lower()}")
            table.add_row(
                user.salesforce_user_id + ("" if user.enabled else " (off)"),
                user.email,
                str(counts.get("active", 0)),
                str(counts.get("waiting", 0)),
                str(counts.get("out_of_window", 0)),
                str(counts.get("ended", 0)),
                str(open_issues.get(user.salesforce_user_id, 0)),
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


async def _reconcile(config: Any, user_ids: list[str], *, sync_now: bool) -> int:
    from rich.progress import Progress

    from bridge.runtime.engine import BridgeSettings
    from bridge.runtime.supervisor import Supervisor

    supervisor = Supervisor(config, ops=False, settings=BridgeSettings(reconcile_every_s=0))
    bridge = await supervisor.open_bridge()
    try:
        with Progress(transient=False) as progress:
            task = progress.add_task("sync now" if sync_now else "backfill", total=len(user_ids))
            await bridge.run_users(user_ids, sync_now=sync_now, done=lambda _: progress.advance(task))
        await bridge.stop()
    finally:
        await supervisor.stop()
    failures = sum(v for k, v in bridge.metrics.counters.items() if k.startswith("failure_"))
    print(f"{len(user_ids)} users reconciled; {failures} failures (see calbridge issues)")
    return 0
