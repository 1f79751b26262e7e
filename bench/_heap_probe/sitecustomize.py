"""Heap probe for `bench.scale_real`: loaded into a `calbridge run` process as its `sitecustomize` (the
benchmark puts this folder first on PYTHONPATH and names a report file in CALBRIDGE_HEAP_PROBE).

SIGUSR1 appends one JSON line to the report: the live objects by type (gc), the tracemalloc statistics by
file when the process traces (PYTHONTRACEMALLOC), glibc's heap (mallinfo2: KB in use and free), pymalloc's
arenas (KB mapped, in live blocks, free), threads and asyncio tasks. SIGUSR2 does the same after
`malloc_trim(0)`, which gives the heap's free pages back, so RSS before and after tells the freed heap glibc
keeps from live data.

A benchmark tool only: nothing in the bridge imports it, and it does nothing unless the variable is set.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import re
import signal
import sys
import tempfile
import threading
import time
import tracemalloc
from collections import Counter
from types import FrameType
from typing import Any

REPORT = os.environ.get("CALBRIDGE_HEAP_PROBE")


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks")
    ] + [(name, ctypes.c_size_t) for name in ("fordblks", "keepcost")]


def _libc() -> Any:
    return ctypes.CDLL("libc.so.6")


def _malloc() -> dict[str, int]:
    try:
        mallinfo2 = _libc().mallinfo2
    except (OSError, AttributeError):
        return {}
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()  # summed over every arena; pymalloc's own arenas (small objects) are mmapped apart
    return {
        "heap_kb": info.arena >> 10,
        "in_use_kb": info.uordblks >> 10,
        "free_kb": info.fordblks >> 10,
        "mmapped_kb": info.hblkhd >> 10,
    }


def _pymalloc() -> dict[str, int]:
    """pymalloc's arenas (objects of 512 bytes or less): bytes mapped, in live blocks, in free blocks.
    `sys._debugmallocstats` writes to fd 2 only, so fd 2 points at a scratch file for the call."""
    with tempfile.TemporaryFile() as scratch:
        saved = os.dup(2)
        try:
            os.dup2(scratch.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        scratch.seek(0)
        text = scratch.read().decode(errors="replace")
    found = {}
    for label, key in (
        (r"arenas \* \d+ bytes/arena", "arenas_kb"),
        (r"# bytes in allocated blocks", "in_use_kb"),
        (r"# bytes in available blocks", "free_kb"),
    ):
        match = re.search(label + r"\s*=\s*([\d,]+)", text)
        if match:
            found[key] = int(match[1].replace(",", "")) >> 10
    return found


def _tasks() -> int:
    import asyncio

    try:
        return len(asyncio.all_tasks())
    except RuntimeError:  # no running loop at the moment of the signal
        return -1


def _report(trim: bool) -> None:
    gc.collect()
    trimmed = None
    if trim:
        from bridge.runtime.startup import give_back_heap  # the bridge's own trim, loaded by now

        trimmed = give_back_heap()
    by_type = Counter(type(o).__qualname__ for o in gc.get_objects())
    entry: dict[str, Any] = {
        "time": time.time(),
        "trimmed": trimmed,
        "threads": threading.active_count(),
        "tasks": _tasks(),
        "malloc": _malloc(),
        "pymalloc": _pymalloc(),
        "gc_objects": sum(by_type.values()),
        "types": dict(by_type.most_common(60)),
    }
    if tracemalloc.is_tracing():
        stats = tracemalloc.take_snapshot().statistics("filename")
        entry["traced_mb"] = round(tracemalloc.get_traced_memory()[0] / 2**20, 1)
        entry["files_kb"] = {_short(s.traceback[0].filename): s.size >> 10 for s in stats[:80]}
    assert REPORT is not None
    with open(REPORT, "a", encoding="utf-8") as out:
        out.write(json.dumps(entry) + "\n")


def _short(filename: str) -> str:
    """The path from the package's root on (bridge/..., exchangelib/...), not the machine's."""
    for root in ("/bridge/", "/site-packages/", "/lib/python"):
        at = filename.rfind(root)
        if at >= 0:
            return filename[at + 1 :]
    return os.path.basename(filename)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    _report(trim=signum == signal.SIGUSR2)


if REPORT:
    signal.signal(signal.SIGUSR1, _on_signal)
    signal.signal(signal.SIGUSR2, _on_signal)
