"""The clock: the one ledger of decoding time for the env, statistics, evaluation, tuning and replay.

Every place that turns decoder work into seconds asks a `Clock`; nothing else prices time. Three kinds:

- ``wall``: the decoder's own measured ``perf_counter`` times (noisy; cannot be replayed);
- ``model``: a `CostModel` calibrated on this pair and machine (`ebsd_env.timing.cost_model.calibrate`: isotonic fit
  of medians, refused when non-monotone beyond noise, implausible, or far from the wall clock);
- ``profile``: a `CostModel` loaded from a JSON file, e.g. measured on a user's GPU (``draft_s`` and
  ``verify_points``; refused when a field is missing or the curve falls).

A cost model prices a block of ``k`` verified draft tokens, ``d`` discarded ones, as ``(k + d) * draft_s +
verify_cost(k + 1)``, plus ``catch_up_s`` when ``k + d > 0`` (the first drafting step's catch-up), plus
``signal_s`` for each of those draft steps whose signals the policy's observation read (none for
``observation="position"``: fixed k, no-spec, the oracles); it carries a `fingerprint` of what it was measured on
(pair names, drafter weight hash, kernels, threads, CPU) so a calibration is never applied to another set-up
unknowingly. The ``wall`` clock still holds a cost model: its verifier-alone rate ρ = 1 / verify_cost(1) is
the reward's baseline, the same on every clock.

The policy's own decision is charged too (``decide_s``): the wall clock measures the time from the env
returning an observation to the next `step` call; the model and profile clocks charge `Clock.decide_s` per
decision, a policy's median `predict` time measured by `time_decisions` on recorded observations and kept in
the cost model per policy spec (`CostModel.decide_s`, `Clock.for_policy`).
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..decoding.models import ModelPair
from ..drafter_ids import same_drafter
from .calibration import cached_cost_model, check_plausible, isotonic  # noqa: F401  (part of the clock's API)
from .cost_model import CostModel, drafter_hash, fingerprint, pair_fingerprint, price  # noqa: F401
from .validation import validate_costs  # noqa: F401

CLOCK_KINDS = ("wall", "model", "profile")


@dataclass(frozen=True)
class Clock:
    """Prices decoder work in seconds: measured (``wall``) or from a cost model (``model``, ``profile``)."""

    kind: str
    costs: CostModel
    decide_s: float = 0.0  # seconds charged per policy decision on the model and profile clocks

    def __post_init__(self):
        if self.kind not in CLOCK_KINDS:
            raise ValueError(f"unknown clock {self.kind!r}; valid: {', '.join(CLOCK_KINDS)}")
        check_decisions(self.kind, self.decide_s)

    def with_decisions(self, decide_s: float | str | None) -> Clock:
        """This clock charging `decide_s` per decision: seconds, a policy spec whose measured cost the cost model
        holds (`for_policy`), or None (unchanged)."""
        if decide_s is None:
            return self
        if isinstance(decide_s, str):
            return self.for_policy(decide_s)
        return dataclasses.replace(self, decide_s=float(decide_s))

    def for_policy(self, spec: str) -> Clock:
        """This clock charging the decision cost measured for policy `spec` (`CostModel.decide_s`); the wall
        clock measures decisions itself and is returned as is."""
        if self.kind == "wall":
            return self
        if spec not in self.costs.decide_s:
            known = ", ".join(sorted(self.costs.decide_s)) or "none"
            raise ValueError(f"the cost model has no decision cost for policy {spec!r} (measured: {known}): time it "
                             "with ebsd_env.timing.clock.time_decisions and add it to CostModel.decide_s, or give "
                             "decide_s in seconds")
        return dataclasses.replace(self, decide_s=self.costs.decide_s[spec])

    def decide_time(self, measured_s: float = 0.0) -> float:
        """Seconds charged for one decision of the policy (the wall clock: the measured interval)."""
        return measured_s if self.kind == "wall" else self.decide_s

    @property
    def baseline_rate(self) -> float:
        """ρ: tokens per second of the verifier alone (one token per verification of an empty draft)."""
        return self.costs.verifier_rate

    def draft_time(self, measured_s: float = 0.0, context: int | None = None, first: bool = False) -> float:
        """Seconds charged for one drafting step of a block that started after `context` committed tokens (a
        context-aware cost model prices every step of a block at its start; None: the context-free cost); the
        block's `first` step also pays the drafter's catch-up (`CostModel.catch_up_s`)."""
        if self.kind == "wall":
            return measured_s
        return self.costs.draft_cost(context) + (self.costs.catch_up_s if first else 0.0)

    def signal_time(self, measured_s: float = 0.0, steps: int = 1) -> float:
        """Seconds charged for the signals of `steps` draft steps that a policy's observation read (computed on
        read, after their draft step): measured on the wall clock (`measured_s`, all of them); the model and
        profile clocks charge `CostModel.signal_s` per step read (their `draft_s` is a step without signals)."""
        return measured_s if self.kind == "wall" else steps * self.costs.signal_s

    def block_times(self, drafted: int, discarded: int, measured_draft_s: float = 0.0,
                    measured_verify_s: float = 0.0, context: int | None = None,
                    signal_reads: int = 0) -> tuple[float, float]:
        """(draft seconds, verify seconds) of one block: `drafted` verified and `discarded` dropped tokens, the
        block starting after `context` committed tokens, the signals of `signal_reads` of its steps read (the
        wall clock's measured draft time holds their reads already)."""
        if self.kind == "wall":
            return measured_draft_s, measured_verify_s
        draft_s = self.costs.block_draft_cost(drafted + discarded, context) + self.signal_time(steps=signal_reads)
        return draft_s, self.costs.verify_cost(drafted + 1, context)


def check_decisions(kind: str, decide_s: float | str | None) -> None:
    """Refuse a per-decision cost the clock `kind` cannot charge (a negative one; any with the wall clock, which
    measures decisions) before any cost model exists. A policy spec is checked against the cost model later."""
    if decide_s is None or isinstance(decide_s, str):
        return
    if not decide_s >= 0:
        raise ValueError(f"decide_s must be >= 0 seconds per decision, got {decide_s}")
    if kind == "wall" and decide_s:
        raise ValueError("the wall clock measures each decision itself: give decide_s only with clock='model' "
                         "or 'profile'")


def needs_calibration(kind: str | Clock, cost_model: CostModel | str | Path | None, pair: ModelPair | None) -> bool:
    """Would `make_clock(kind, pair, cost_model)` calibrate `pair` (seconds of timing)? Everything else it does is
    quick: a caller may make such a clock later, when first used."""
    return not isinstance(kind, Clock) and kind in ("wall", "model") and cost_model is None and pair is not None


# Between two decisions a CPU decoder streams a model's weights (a verification: the embedded verifier's ~540 MB),
# which leaves the policy's code and data cold in every cache and the TLB. Streaming this much before each timed
# call puts it in that state: measured on a 2-core Xeon, the shipped multi-drafter PPO took 7 us a call back to
# back, 65-70 us after 8-64 MB and 162-247 us after 256 MB (two runs), against 193 us a decision on the live wall
# clock (docs/env.md).
COLD_FLUSH_BYTES = 256 * 2**20


def cache_flush(size: int = COLD_FLUSH_BYTES) -> Callable[[], None]:
    """A function that reads `size` bytes of memory of its own, as a model forward between two decisions does."""
    if size < 0:
        raise ValueError(f"the flush size must be >= 0 bytes, got {size}")
    buffer = np.ones(max(size // 8, 1))
    return lambda: float(buffer.sum())


def time_decisions(predict: Callable, observations: Sequence, calls: int = 200, warmup: int = 5,
                   flush: Callable[[], object] | None = None) -> float:
    """Median seconds of one ``predict(obs)`` call (a policy's SB3-style `predict`), one observation at a time,
    over `calls` calls cycling through recorded `observations` after `warmup` untimed ones: the cost per decision
    the model and replay clocks charge for that policy (store it in `CostModel.decide_s` under its spec). With
    `flush` (`cache_flush()`), it runs, untimed, before every call: the policy decides with cold caches, as it does
    between a decoder's forwards; without, the calls run back to back, warm, and cost a small part of that."""
    if not len(observations):
        raise ValueError("time_decisions needs recorded observations (e.g. run_episode(...)['trace']"
                         "['observations'])")
    if calls < 1:
        raise ValueError(f"calls must be >= 1, got {calls}")
    observations = [np.asarray(obs, dtype=np.float32) for obs in observations]  # as the env returns them
    for i in range(warmup):
        predict(observations[i % len(observations)])
    times = []
    for i in range(calls):
        obs = observations[i % len(observations)]
        if flush is not None:
            flush()
        t0 = time.perf_counter()
        predict(obs)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def check_calibration_pair(costs: CostModel, expected: dict, what: str) -> None:
    """Refuse a calibration measured on another pair (its model names differ from `expected`): its cost ratios
    belong to other models. Weights are not compared: costs depend on the architectures, not on the weights'
    values (`cached_cost_model` shares a calibration the same way). Profiles, hand-made models and old files
    carry no fingerprint."""
    found = costs.fingerprint or {}
    for key in ("drafter", "verifier"):
        a, b = found.get(key), expected.get(key)
        # A drafter's old name is its new id (a profile calibrated as `distilled` is `feature-v1`'s).
        if a is not None and b is not None and not (same_drafter(a, b) if key == "drafter" else a == b):
            raise ValueError(f"the cost model was calibrated with {key}={found[key]!r} but {what} has "
                             f"{expected[key]!r}: calibrate this pair (omit cost_model) or pass a cost profile for it "
                             "with clock='profile'")


def make_clock(kind: str | Clock = "wall", pair: ModelPair | None = None,
               cost_model: CostModel | str | Path | None = None, temperature: float = 0.0,
               top_p: float = 1.0) -> Clock:
    """A clock of `kind`. ``wall`` and ``model`` take `cost_model` (a `CostModel` or JSON path) or calibrate
    `pair` once per process; ``profile`` needs `cost_model` (a cost profile file or `CostModel`)."""
    if isinstance(kind, Clock):
        return kind
    if kind not in CLOCK_KINDS:
        raise ValueError(f"unknown clock {kind!r}; valid: {', '.join(CLOCK_KINDS)}")
    if isinstance(cost_model, (str, Path)):
        cost_model = CostModel.load(cost_model)
    if cost_model is None:
        if kind == "profile":
            raise ValueError("clock='profile' needs a cost profile: pass cost_model='profile.json' (draft_s and "
                             "verify_points, e.g. measured on your GPU)")
        if pair is None:
            raise ValueError(f"clock={kind!r} needs a pair to calibrate or a cost_model")
        cost_model = cached_cost_model(pair, temperature, top_p)
    elif kind == "model" and pair is not None:
        check_calibration_pair(cost_model, pair_fingerprint(pair), "this pair")
    return Clock(kind, cost_model)
