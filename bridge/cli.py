"""The `calbridge` command line."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="calbridge", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sandbox = sub.add_parser("sandbox", help="run the local Salesforce and Exchange sandboxes until stopped")
    sandbox.add_argument("--state-dir", required=True, help="where endpoints.json, ca.pem and the org file go")
    sub.add_parser("demo", help="start the sandbox and show it working")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    raise SystemExit(f"calbridge {args.command}: not wired yet")
