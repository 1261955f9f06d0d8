"""The env's clock, as `EBSDEnv` exposes it: `decode_clock` (made on first use) and its former names.

The former names (`clock` for the kind, `ledger`, `cost_model`, `baseline_rate`) still work for one release,
with a DeprecationWarning: four names for one thing.
"""

from __future__ import annotations

import dataclasses
import warnings

from ..timing.clock import Clock, check_decisions, make_clock, needs_calibration
from ..timing.cost_model import CostModel


def warn_deprecated(old: str, new: str) -> None:
    warnings.warn(f"{old} is deprecated and will be removed in the next release: use {new}", DeprecationWarning,
                  stacklevel=3)


class EnvClock:
    """`EBSDEnv`'s clock: set up by the constructor (`_set_up_clock`), made on first use (`decode_clock`), and its
    former names. `EBSD-Multi-v1` makes its own (`_make_clock`: the verifier's, from its per-drafter clock)."""

    def _set_up_clock(self, clock: str | Clock, pair, cost_model, temperature: float, top_p: float,
                      decide_s: float | str | None) -> None:
        # The clock is the env's only time ledger (ebsd_env.timing.clock); `clock_kind` names its kind without
        # making it. A clock that needs a calibration (wall or model, no cost model given) is made when first
        # used, not here: the constructor does no timing (`make_clock` calibrates once per process and caches it).
        self.clock_kind: str = clock.kind if isinstance(clock, Clock) else clock
        self._decode_clock: Clock | None = None
        self._clock_args = (clock, pair, cost_model, temperature, top_p, decide_s)
        if needs_calibration(clock, cost_model, pair):
            check_decisions(clock, decide_s)  # refuse a bad decide_s now, not after the calibration
            if clock == "model" and isinstance(decide_s, str):
                raise ValueError(f"a fresh calibration holds no decision cost for policy {decide_s!r}: pass "
                                 "cost_model= one holding it (time it with ebsd_env.timing.clock.time_decisions), "
                                 "or give decide_s in seconds")
        else:
            self._decode_clock = self._make_clock()

    def _make_clock(self) -> Clock:
        clock, pair, cost_model, temperature, top_p, decide_s = self._clock_args
        return make_clock(clock, pair, cost_model, temperature, top_p).with_decisions(decide_s)

    @property
    def decode_clock(self) -> Clock:
        """The clock that prices this env's decoding time (drafting, verifying, the policy's decisions): a
        `ebsd_env.timing.clock.Clock` holding its `kind`, its cost model (`costs`) and the verifier-alone rate ρ
        of the reward (`baseline_rate`). Made (and calibrated if it must be) on first use."""
        if self._decode_clock is None:
            self._decode_clock = self._make_clock()
        return self._decode_clock

    @decode_clock.setter
    def decode_clock(self, clock: Clock) -> None:
        """Price from now on with `clock` (e.g. the same kind with other costs: ``dataclasses.replace``)."""
        if not isinstance(clock, Clock):
            raise TypeError(f"decode_clock takes an ebsd_env.timing.clock.Clock, got {type(clock).__name__}")
        self._decode_clock = clock
        self.clock_kind = clock.kind


    @property
    def clock(self) -> str:
        """Deprecated: the clock's kind, now `clock_kind` (the clock itself is `decode_clock`)."""
        warn_deprecated("env.clock (the clock's kind)", "env.clock_kind")
        return self.clock_kind

    @property
    def ledger(self) -> Clock:
        """Deprecated: the clock, now `decode_clock`."""
        warn_deprecated("env.ledger", "env.decode_clock")
        return self.decode_clock

    @ledger.setter
    def ledger(self, clock: Clock) -> None:
        warn_deprecated("env.ledger", "env.decode_clock")
        self.decode_clock = clock

    @property
    def cost_model(self) -> CostModel:
        """Deprecated: the clock's cost model, now `decode_clock.costs`."""
        warn_deprecated("env.cost_model", "env.decode_clock.costs")
        return self.decode_clock.costs

    @cost_model.setter
    def cost_model(self, costs: CostModel) -> None:
        warn_deprecated("env.cost_model", "env.decode_clock = dataclasses.replace(env.decode_clock, costs=...)")
        self.decode_clock = dataclasses.replace(self.decode_clock, costs=costs)

    @property
    def baseline_rate(self) -> float:
        """Deprecated: ρ, the verifier-alone rate of the clock's cost model, now `decode_clock.baseline_rate`."""
        warn_deprecated("env.baseline_rate", "env.decode_clock.baseline_rate")
        return self.decode_clock.baseline_rate

