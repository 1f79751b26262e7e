"""The `calbridge` command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("calbridge")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="calbridge", description=__doc__)
    parser.add_argument("--version", action="version", version=f"calbridge {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check-config", help="check a config file: print ok and a summary, or every error")
    check.add_argument("file", type=Path, help="the TOML file (CALBRIDGE_* environment variables apply too)")
    sandbox = sub.add_parser(
        "sandbox", help="run the local Salesforce and Exchange sandboxes until SIGINT or SIGTERM"
    )
    sandbox.add_argument(
        "--state-dir",
        type=Path,
        required=True,
        help="where endpoints.json, ca.pem and the org's state file go",
    )
    sandbox.add_argument(
        "--users",
        type=int,
        help="users to seed in a new org (1-10000, default 3; beyond 8 with generated names and a light "
        "seed); an existing org keeps its own",
    )
    sandbox.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback)")
    demo = sub.add_parser("demo", help="start the sandbox and show it working")
    demo.add_argument(
        "--state-dir", type=Path, help="keep endpoints.json and ca.pem here (default: temporary)"
    )
    doctor = sub.add_parser(
        "doctor",
        help="preflight against the org, Exchange and the store: a table of checks, a fix for each failure",
    )
    doctor.add_argument(
        "--config",
        type=Path,
        default=Path(os.environ.get("CALBRIDGE_CONFIG", "calbridge.toml")),
        help="the TOML file (default: $CALBRIDGE_CONFIG or ./calbridge.toml)",
    )
    from bridge.runtime.commands import add_runtime_commands

    add_runtime_commands(sub)  # run, status, issues, sync-now, backfill
    return parser


class _BadInput(Exception):
    """Input a person gave that cannot work: one line saying what and how to fix it (exit code 2)."""


def _check_state_dir(state_dir: Path) -> None:
    if state_dir.exists() and not state_dir.is_dir():
        raise _BadInput(f"--state-dir {state_dir} is a file; name a directory (it is created if missing)")
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _BadInput(f"--state-dir {state_dir} cannot be created ({exc.strerror}); name another") from None


def _check_host(host: str) -> None:
    try:
        socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise _BadInput(
            f"--host {host!r} does not resolve ({reason}); use an address of this machine, e.g. 127.0.0.1 "
            "(this machine only) or 0.0.0.0 (every interface)"
        ) from None


async def _serve_sandbox(state_dir: Path, users: int | None, host: str) -> None:
    from bridge.sandbox.runner import BRIDGE_CONFIG_FILE, ENDPOINTS_FILE, ORG_FILE, Sandbox

    sandbox = Sandbox(state_dir, users=users or 3)
    if users is not None and not sandbox.fresh:
        print(
            f"note: --users {users} ignored: {state_dir / ORG_FILE} already holds an org with "
            f"{len(sandbox.users)} users; move it away to seed a new org",
            file=sys.stderr,
            flush=True,
        )
    try:
        endpoints = await sandbox.start(host)
    except (OSError, RuntimeError) as exc:
        with contextlib.suppress(Exception):
            await sandbox.stop()
        reason = getattr(exc, "strerror", None) or str(exc)
        raise _BadInput(
            f"cannot listen on --host {host!r} ({reason}); use an address of this machine, e.g. 127.0.0.1"
        ) from None
    config = sandbox.write_bridge_config()
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    # Addresses only: credentials stay in endpoints.json and owner-only files, never on the terminal.
    print(f"Salesforce REST    {endpoints['salesforce']['instance_url']}")
    print(f"Salesforce Pub/Sub {endpoints['salesforce']['pubsub']}")
    print(f"Exchange EWS       {endpoints['exchange']['ews_url']}")
    print(f"users              {', '.join(u['email'] for u in endpoints['users'])}")
    print(f"credentials and CA {state_dir / ENDPOINTS_FILE}, {endpoints['ca_bundle']}")
    print(f"bridge config      calbridge run --config {state_dir / BRIDGE_CONFIG_FILE}")
    assert config.name == BRIDGE_CONFIG_FILE
    print("serving; stop with Ctrl-C or SIGTERM", flush=True)
    await stopped.wait()
    await sandbox.stop()
    print("sandbox stopped; org saved", flush=True)


def _check_config(path: Path) -> int:
    from bridge.config import load_config
    from bridge.errors import ConfigError

    try:
        config = load_config(path)
    except ConfigError as exc:
        print(f"{path}: configuration errors:", file=sys.stderr)
        for line in str(exc).splitlines():
            print(f"  {line}", file=sys.stderr)
        return 1
    print("ok")
    for line in config.summary():
        print(f"  {line}")
    for warning in config.warnings():
        print(f"  warning: {warning}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "check-config":
        return _check_config(args.file)
    if args.command == "doctor":
        from bridge.doctor import run_doctor

        return run_doctor(args.config)
    from bridge.runtime.commands import RUNTIME_COMMANDS, run_runtime_command

    if args.command in RUNTIME_COMMANDS:
        return run_runtime_command(args)
    if args.command in ("sandbox", "demo"):
        from bridge.sandbox.runner import SandboxStateError
        from bridge.sandbox.salesforce.seed import MAX_USERS

        try:
            if args.command == "sandbox":
                if args.users is not None and not 1 <= args.users <= MAX_USERS:
                    raise _BadInput(f"--users must be between 1 and {MAX_USERS}")
                _check_state_dir(args.state_dir)
                _check_host(args.host)
                asyncio.run(_serve_sandbox(args.state_dir, args.users, args.host))
                return 0
            from bridge.demo import run_demo

            if args.state_dir is not None:
                _check_state_dir(args.state_dir)
            return run_demo(args.state_dir)
        except (_BadInput, SandboxStateError) as exc:
            print(f"calbridge {args.command}: {exc}", file=sys.stderr)
            return 2
    raise AssertionError(f"unhandled command {args.command}")
