"""Suite-wide test settings.

Hypothesis runs a bounded, repeatable set of examples in `make test` (profile `ci`, the default: derandomized,
so a run on a clean checkout is reproducible) and many more, fresh each time, under `make bench`
(`HYPOTHESIS_PROFILE=bench`). A profile is suite-wide, so it is chosen here, once.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=150,
    stateful_step_count=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "bench", max_examples=1500, stateful_step_count=50, deadline=None, suppress_health_check=list(HealthCheck)
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Slowest modules first (longest-processing-time-first): `make test` hands whole modules to its workers
# (--dist loadfile) in the order collected, so a long module handed out last would run alone at the end.
# Seconds summed over each module's tests in a full `make test` run under load (the series modules scaled
# by their own runs since sync now skips the CLI); kept by hand, roughly: only the order matters. A module
# not named here weighs E2E_SECONDS if it is end-to-end, else nothing, and keeps its place among its peers.
MODULE_SECONDS = {
    "tests/e2e/test_series_multi.py": 250,
    "tests/e2e/test_ops_and_cli.py": 180,
    "tests/e2e/test_series_occurrences.py": 150,
    "tests/e2e/test_series_deletion.py": 150,
    "tests/e2e/test_series_unsync_return.py": 150,
    "tests/e2e/test_observe_and_undo.py": 145,
    "tests/e2e/test_series_expanded.py": 120,
    "tests/e2e/test_pairing.py": 115,
    "tests/e2e/test_admin.py": 115,
    "tests/test_cli_sandbox.py": 90,
    "tests/e2e/test_backfill_workers.py": 90,
    "tests/e2e/test_timing_and_restart.py": 90,
    "tests/e2e/test_series_expanded_undo_undo.py": 85,
    "tests/e2e/test_replicas.py": 80,
    "tests/e2e/test_crash_safety.py": 70,
    "tests/e2e/test_private_and_description.py": 70,
    "tests/e2e/test_faults.py": 65,
    "tests/e2e/test_deletion.py": 60,
    "tests/e2e/test_series_expanded_undo.py": 60,
    "tests/e2e/test_scope.py": 55,
    "tests/runtime/test_partial_failure_races.py": 35,
}
E2E_SECONDS = 30


def module_seconds(path: str) -> int:
    return MODULE_SECONDS.get(path, E2E_SECONDS if path.startswith("tests/e2e/") else 0)


def pytest_configure(config: pytest.Config) -> None:
    # xdist would otherwise reorder modules by their number of tests, which says little of their time.
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


@pytest.hookimpl(trylast=True)  # after pytest's own grouping by fixture
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules by MODULE_SECONDS, longest first; a module's tests stay together and in their order (some
    modules' stories build on the one before)."""
    first_seen: dict[str, int] = {}
    for item in items:
        first_seen.setdefault(item.nodeid.split("::", 1)[0], len(first_seen))

    def key(item: pytest.Item) -> tuple[int, int]:
        path = item.nodeid.split("::", 1)[0]
        return -module_seconds(path), first_seen[path]

    items.sort(key=key)
