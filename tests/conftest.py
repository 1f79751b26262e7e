"""Suite-wide test settings.

Hypothesis runs a bounded, repeatable set of examples in `make test` (profile `ci`, the default: derandomized,
so a run on a clean checkout is reproducible) and many more, fresh each time, under `make bench`
(`HYPOTHESIS_PROFILE=bench`). A profile is suite-wide, so it is chosen here, once.
"""

from __future__ import annotations

import os

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
