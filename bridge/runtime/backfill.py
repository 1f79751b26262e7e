"""`calbridge backfill --all` in several worker processes (issue 10): one core is not enough for thousands
of users, the work of each user is independent of the others' but for the store they share.

The command's process is the coordinator. It opens the store's checkpoint (`bridge.runtime.checkpoint`),
deals the users left in it into `workers` disjoint shares of consecutive users, and starts one process per
share (spawned: a fresh interpreter, nothing inherited but the environment). Each worker opens the adapters
and the store itself and reconciles its share exactly as the one-process backfill does (`Bridge.run_users`:
the windows of up to 200 owners read in one SOQL, the writes batched in sObject Collections), with every
enrolled user's binding, so a meeting of two enrolled users is told apart the same way whichever worker
syncs each of them, and a pass that makes a user own a meeting wakes the waiting copies of the others.

A meeting from an outside organizer that enrolled people in different shares have is one event all the same
(R-MULTI-1): a pass claims such a meeting's UID in the store the workers share
(`bridge.runtime.meeting_claims`), as replicas do, so the second recipient's pass waits for the first's event
to be stored, whichever worker runs it, then joins it.

Workers tell the coordinator of each user finished (after that user's pass committed), and at the end
their writes and failures; the coordinator draws the one progress bar and is the only writer of the
checkpoint, which marks a user as the worker reports it. Stopped half-way (Ctrl-C, a worker or the
coordinator killed), the next backfill resumes after the users marked; a worker whose coordinator is gone
stops by itself. The store takes writers from several processes: PostgreSQL as it always does, SQLite in WAL
mode with a busy timeout, each commit a short `BEGIN IMMEDIATE` transaction (`bridge.store.sql`).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from bridge.runtime.commands import CommandFailed, bridge_settings

FLUSH_S = 1.0  # the checkpoint's marks are stored at least this often
PARENT_POLL_S = 0.5


def default_workers() -> int:
    """One worker per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def shares(user_ids: Sequence[str], workers: int) -> list[list[str]]:
    """`user_ids` in at most `workers` disjoint runs of consecutive users, as even as can be, none empty."""
    count = max(1, min(workers, len(user_ids)))
    size, extra = divmod(len(user_ids), count)
    out: list[list[str]] = []
    start = 0
    for n in range(count):
        end = start + size + (1 if n < extra else 0)
        out.append(list(user_ids[start:end]))
        start = end
    return [s for s in out if s]


class WorkerLost(CommandFailed):
    """A worker ended without finishing its share (killed, or a failure it reported): exit 1."""


# ------------------------------------------------------------------------------------------- the worker


def _worker(config_path: str, share: list[str], pipe: Connection) -> None:
    """A worker process: reconcile `share`, saying ("done", user) for each user finished, then ("end",
    writes, failures), or ("error", line) when it cannot go on. Ctrl-C is the coordinator's to handle."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent(os.getppid())
    from bridge.config import load_config
    from bridge.errors import CalbridgeError
    from bridge.logs import configure_from, redact

    try:
        config = load_config(Path(config_path))
        with contextlib.suppress(Exception):  # logging set-up is best effort, as for the command
            configure_from(config)
        writes, failures = asyncio.run(_reconcile_share(config, share, pipe))
        pipe.send(("end", writes, failures))
    except Exception as exc:  # one line for the coordinator to show; never a traceback
        said = str(exc).splitlines()[0] if str(exc) else ""
        known = isinstance(exc, CalbridgeError | OSError) and said
        pipe.send(("error", redact(said if known else f"{type(exc).__name__}: {said}")))
    finally:
        pipe.close()


def _exit_with_parent(parent: int) -> None:
    """End this process when the coordinator is gone (killed: nothing else would tell a spawned child)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="coordinator watch", daemon=True).start()


async def _reconcile_share(config: Any, share: list[str], pipe: Connection) -> tuple[int, int]:
    from bridge.runtime.supervisor import Supervisor

    settings = replace(bridge_settings(config), reconcile_every_s=0)
    supervisor = Supervisor(config, ops=False, settings=settings)
    try:
        bridge = await supervisor.open_bridge(running=False)
        await bridge.run_users(share, done=lambda user_id: pipe.send(("done", user_id)))
        await bridge.stop()
    finally:
        await supervisor.stop()
    counters = bridge.metrics.counters
    writes = sum(v for k, v in counters.items() if k.startswith("writes_"))
    failures = sum(v for k, v in counters.items() if k.startswith("failure_"))
    return writes, failures


# -------------------------------------------------------------------------------------- the coordinator


async def backfill_in_workers(
    config: Any, config_path: Path, user_ids: list[str], workers: int, *, restart: bool, console: Any
) -> tuple[int, int, int, int]:
    """Reconcile `user_ids` in `workers` processes under one checkpoint and one progress bar; returns
    (users reconciled, processes, writes, failures). `WorkerLost` when a worker ended without finishing
    its share: the users it had finished stay marked, the run stays unfinished and the next backfill
    resumes it."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from bridge.runtime.checkpoint import Checkpoint
    from bridge.runtime.supervisor import open_store_port

    store = await open_store_port(config)
    processes: list[Any] = []
    try:
        checkpoint = await Checkpoint.open(store, restart=restart)
        left = checkpoint.left(user_ids)
        if len(left) < len(user_ids):
            from bridge.runtime.commands import _when

            print(f"resuming the backfill started {_when(checkpoint.started)}: {len(left)} users left")
        context = multiprocessing.get_context("spawn")
        pipes: dict[Connection, int] = {}
        for n, share in enumerate(shares(left, workers)):
            ours, theirs = context.Pipe(duplex=False)
            process = context.Process(
                target=_worker, args=(str(config_path), share, theirs), name=f"backfill worker {n + 1}"
            )
            process.daemon = True
            process.start()
            theirs.close()
            processes.append(process)
            pipes[ours] = n
        columns = (
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("users"),
            TimeElapsedColumn(),
        )
        writes = failures = 0
        lost: list[str] = []
        complete = False
        try:
            with Progress(*columns, console=console, transient=False) as progress:
                task = progress.add_task(
                    f"backfill ({len(processes)} workers)",
                    total=len(user_ids),
                    completed=len(user_ids) - len(left),
                )
                flushed = time.monotonic()
                while pipes:
                    ready = await asyncio.to_thread(wait, list(pipes), FLUSH_S)
                    for pipe in ready:
                        assert isinstance(pipe, Connection)
                        try:
                            message = pipe.recv()
                        except EOFError:  # ended without an "end": killed, or failed before it could say
                            number = pipes.pop(pipe)
                            lost.append(f"worker {number + 1} ended before finishing its users")
                            continue
                        if message[0] == "done":
                            progress.advance(task)
                            checkpoint.finished(message[1])
                        elif message[0] == "end":
                            writes, failures = writes + message[1], failures + message[2]
                            pipes.pop(pipe)
                        else:
                            lost.append(f"worker {pipes.pop(pipe) + 1}: {message[1]}")
                    if time.monotonic() - flushed >= FLUSH_S:
                        await checkpoint.flush()
                        flushed = time.monotonic()
            complete = not lost
        finally:
            await checkpoint.close(complete=complete and not failures)
        if lost:
            raise WorkerLost("; ".join(lost) + ": run the backfill again to resume it")
        return len(left), len(processes), writes, failures
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            await asyncio.to_thread(process.join, 10)
        await store.close()


def run_backfill(
    config: Any, config_path: Path, user_ids: list[str], workers: int, *, restart: bool, console: Any
) -> int:
    """The command: exit 0 when every user was reconciled without a failure, 1 otherwise."""
    reconciled, processes, writes, failures = asyncio.run(
        backfill_in_workers(config, config_path, user_ids, workers, restart=restart, console=console)
    )
    print(
        f"{reconciled} users reconciled in this process's {processes} workers; "
        f"{writes} writes, {failures} failures"
    )
    sys.stdout.flush()
    return 1 if failures else 0
