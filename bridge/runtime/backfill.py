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
(R-MULTI-1): the passes' claims on such meetings' UIDs (`bridge.runtime.reconcile.MeetingClaims`) are kept
by the coordinator for every worker (`SharedClaims`), so the second recipient's pass waits for the first's
event to be stored, whichever worker runs it, then joins it.

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
import itertools
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import replace
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from bridge.runtime.commands import CommandFailed, bridge_settings
from bridge.runtime.reconcile import MeetingClaims

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


class SharedClaims(MeetingClaims):
    """A worker's `MeetingClaims`, kept by the coordinator for every worker: `take` asks it and returns once
    granted (no other user's pass in any worker holds any of the UIDs), `let_go` tells it."""

    def __init__(self, pipe: Connection) -> None:
        super().__init__()
        self._pipe = pipe
        self._loop = asyncio.get_running_loop()
        self._asked: dict[int, asyncio.Future[None]] = {}
        self._numbers = itertools.count(1)
        self._send = threading.Lock()  # the progress messages go out from the same thread, but be safe
        threading.Thread(target=self._answers, name="claim answers", daemon=True).start()

    def send(self, message: tuple[Any, ...]) -> None:
        with self._send:
            self._pipe.send(message)

    async def take(self, user_id: str, uids: Collection[str]) -> None:
        if not uids:
            return
        number = next(self._numbers)
        granted = self._asked[number] = self._loop.create_future()
        self.send(("take", number, user_id, sorted(uids)))
        await granted

    def let_go(self, user_id: str, uids: Iterable[str] | None = None) -> None:
        self.send(("let_go", user_id, None if uids is None else sorted(uids)))

    def _answers(self) -> None:
        """The coordinator's grants, handed to the waiting passes; none coming any more ends the process."""
        try:
            while True:
                _, number = self._pipe.recv()
                self._loop.call_soon_threadsafe(self._grant, number)
        except (EOFError, OSError):
            os._exit(1)

    def _grant(self, number: int) -> None:
        waiting = self._asked.pop(number, None)
        if waiting is not None and not waiting.done():
            waiting.set_result(None)


async def _reconcile_share(config: Any, share: list[str], pipe: Connection) -> tuple[int, int]:
    from bridge.runtime.supervisor import Supervisor

    settings = replace(bridge_settings(config), reconcile_every_s=0)
    supervisor = Supervisor(config, ops=False, settings=settings)
    try:
        bridge = await supervisor.open_bridge(running=False)
        claims = bridge.reader.claims = SharedClaims(pipe)
        await bridge.run_users(share, done=lambda user_id: claims.send(("done", user_id)))
        await bridge.stop()
    finally:
        await supervisor.stop()
    counters = bridge.metrics.counters
    writes = sum(v for k, v in counters.items() if k.startswith("writes_"))
    failures = sum(v for k, v in counters.items() if k.startswith("failure_"))
    return writes, failures


# -------------------------------------------------------------------------------------- the coordinator


class ClaimBook:
    """The claims of every worker's passes on meetings' UIDs, as `MeetingClaims` keeps them in one process:
    a take is granted once no other user holds any of its UIDs, then holds them all; one that must wait
    holds nothing meanwhile, so no two passes ever wait for each other."""

    def __init__(self) -> None:
        self.held: dict[str, tuple[str, Any]] = {}  # UID -> (user id, their worker's pipe)
        self.waiting: list[tuple[Any, int, str, list[str]]] = []

    def take(self, pipe: Any, number: int, user_id: str, uids: list[str]) -> None:
        if not self._grant(pipe, number, user_id, uids):
            self.waiting.append((pipe, number, user_id, uids))

    def _grant(self, pipe: Any, number: int, user_id: str, uids: list[str]) -> bool:
        if any(self.held.get(uid, (user_id,))[0] != user_id for uid in uids):
            return False
        for uid in uids:
            self.held.setdefault(uid, (user_id, pipe))
        with contextlib.suppress(OSError):  # a worker gone: its EOF is read next
            pipe.send(("granted", number))
        return True

    def let_go(self, user_id: str, uids: list[str] | None) -> None:
        for uid in [
            u for u in (self.held if uids is None else uids) if self.held.get(u, ("",))[0] == user_id
        ]:
            del self.held[uid]
        self._retry()

    def gone(self, pipe: Any) -> None:
        for uid in [u for u, (_, theirs) in self.held.items() if theirs is pipe]:
            del self.held[uid]
        self.waiting = [w for w in self.waiting if w[0] is not pipe]
        self._retry()

    def _retry(self) -> None:
        self.waiting = [w for w in self.waiting if not self._grant(*w)]


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
            ours, theirs = context.Pipe()  # both ways: the claims are answered
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
        claims = ClaimBook()
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
                            claims.gone(pipe)  # its passes' claims go with it
                            number = pipes.pop(pipe)
                            lost.append(f"worker {number + 1} ended before finishing its users")
                            continue
                        if message[0] == "done":
                            progress.advance(task)
                            checkpoint.finished(message[1])
                        elif message[0] == "take":
                            claims.take(pipe, *message[1:])
                        elif message[0] == "let_go":
                            claims.let_go(*message[1:])
                        elif message[0] == "end":
                            writes, failures = writes + message[1], failures + message[2]
                            claims.gone(pipe)
                            pipes.pop(pipe)
                        else:
                            claims.gone(pipe)
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
