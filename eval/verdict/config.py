"""The verdict's flags (`VerdictConfig`) and the settings every step shares: the static policies, the drafter and
the draft cap the traces, tuning and PPO runs were made with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import tyro

DEFAULT_STATIC_KS = (1, 2, 3, 4, 6)  # around the feature drafter's best k; a drafter that is rarely wrong wants longer


def static_specs(ks) -> tuple[str, ...]:
    """The static policies of a verdict: the verifier alone (k = 0) and fixed k for each of `ks`."""
    return ("no-spec", *(f"fixed-k:k={k}" for k in dict.fromkeys(ks)))


STATIC = static_specs(DEFAULT_STATIC_KS)
MAX_DRAFT_LEN = 16
# v1 of the shipped feature drafter: what the traces, tuning and PPO were made for (recorded under its old name,
# `distilled`, which binds to this id: ebsd_env.drafter_ids).
VERDICT_DRAFTER = "feature-v1"


@dataclass
class VerdictConfig:
    step: tyro.conf.Positional[Literal["calibrate", "replay", "live", "report", "release"]]
    """calibrate, replay, live, report or release (see the module docstring)."""
    out: Path = Path("runs/verdict")
    """The experiment folder."""
    threads: int = 2
    """torch threads of the live verdict and of its clock's calibration (the verifier alone is fastest at 2 on a
    2-core machine; `ebsd bench decoder` measures it)."""
    max_new_tokens: int = 64
    """Tokens per prompt (as recorded)."""
    drafter: str = VERDICT_DRAFTER
    """The pair's drafter (calibrate, live): the verdict was run, and its policy trained, for the feature
    drafter, whatever the project's default drafter is."""
    clock_tolerance: float = 0.05
    """calibrate: refuse the clock if it predicts a fixed-k generation's wall time worse than this at some k (the
    validation table is printed either way; the value used is recorded in the clock's fingerprint)."""
    validation_rounds: int = 1
    """calibrate: interleaved rounds of the clock's validation (each decodes every checked prompt at every k), as
    `ebsd record --validation-rounds`: two weigh one slow stretch of a drifting machine half as much."""
    static_ks: tuple[int, ...] = DEFAULT_STATIC_KS
    """replay, live: the fixed k of the static policies (beside the verifier alone); fixed k = 8 is replayed too.
    Choose around the drafter's best k (e.g. 1 2 4 8 12 16 for the int4 copy, which is rarely wrong)."""
    results: Path = Path("docs/results/verdict")
    """report: where verdict.json, report.md and the performance-profile plot go."""
    tiny: Literal["copy", "random", "noisy"] | None = None
    """calibrate, live: a config-built tiny pair instead of the embedded one (tests and smoke runs)."""


def check_config(config: VerdictConfig) -> None:
    """One-line errors for flag values no step can use, before any model is loaded or any clock timed."""
    if config.threads < 1 or config.max_new_tokens < 1 or config.validation_rounds < 1:
        raise ValueError(f"--threads, --max-new-tokens and --validation-rounds must be >= 1, got {config.threads}, "
                         f"{config.max_new_tokens} and {config.validation_rounds}")
    bad = [k for k in config.static_ks if k < 1 or k > MAX_DRAFT_LEN]
    if bad:
        raise ValueError(f"--static-ks: {bad} outside 1..{MAX_DRAFT_LEN} (the draft cap of the traces; k = 0, the "
                         "verifier alone, is always run): e.g. --static-ks 2 4 8 12 16")
    if config.clock_tolerance <= 0:
        raise ValueError(f"--clock-tolerance must be > 0 (a fraction: 0.05 is 5 %), got {config.clock_tolerance}")
