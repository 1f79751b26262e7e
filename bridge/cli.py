"""The `calbridge` command line."""

from __future__ import annotations

import argparse
import asyncio
import signal
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
    sandbox.add_argument("--users", type=int, default=3, help="users to seed in a new org (1-8, default 3)")
    sandbox.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback)")
    demo = sub.add_parser("demo", help="start the sandbox and show it working")
    demo.add_argument(
        "--state-dir", type=Path, help="keep endpoints.json and ca.pem here (default: temporary)"
    )
    return parser


async def _serve_sandbox(state_dir: Path, users: int, host: str) -> None:
    from bridge.sandbox.runner import ENDPOINTS_FILE, Sandbox

    sandbox = Sandbox(state_dir, users=users)
    endpoints = await sandbox.start(host)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    # Addresses only: credentials stay in endpoints.json, never on the terminal.
    print(f"Salesforce REST    {endpoints['salesforce']['instance_url']}")
    print(f"Salesforce Pub/Sub {endpoints['salesforce']['pubsub']}")
    print(f"Exchange EWS       {endpoints['exchange']['ews_url']}")
    print(f"users              {', '.join(u['email'] for u in endpoints['users'])}")
    print(f"credentials and CA {state_dir / ENDPOINTS_FILE}, {endpoints['ca_bundle']}")
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
    if args.command == "sandbox":
        if not 1 <= args.users <= 8:
            raise SystemExit("calbridge sandbox: --users must be between 1 and 8")
        asyncio.run(_serve_sandbox(args.state_dir, args.users, args.host))
        return 0
    if args.command == "demo":
        from bridge.demo import run_demo

        return run_demo(args.state_dir)
    raise AssertionError(f"unhandled command {args.command}")
