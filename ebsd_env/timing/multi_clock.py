"""The clock of a multi-drafter pair: one `CostModel` per drafter, the verifier priced once.

A multi-drafter pair (`ebsd_env.decoding.multi`) drafts each block with one of its drafters, so a drafting step
costs what *that* drafter's step costs. `MultiClock` holds one calibration per drafter, each measured on the
drafter's own pair (`sub_pairs`: same verifier), and prices

- a drafting step of drafter i at ``costs[i].draft_s`` (or the measured time, on the wall clock), plus
  ``costs[i].signal_s`` when the observation read its signals, plus ``costs[i].catch_up_s`` on a block's first step;
- a verification at ``costs[0].verify_cost(k + 1)``: the verifier is the same whichever drafter drafted, so one
  curve prices every block (the first drafter's: one choice, so the reward's ρ is fixed per env).

Catch-up after a switch (`ebsd_env.decoding.multi`) is inside a drafter's next draft step: the wall clock
measures it; the model clock prices that step as any block's first step (``draft_s + catch_up_s``, the catch-up
calibrated on one block's tokens). That is exact for prompt lookup (no state) and close for int4 (a copy of the
verifier's cache positions); a feature or LM drafter idle for several blocks feeds the tokens committed meanwhile
in one forward pass, which costs somewhat more and is not priced apart.

Saved as JSON ``{"drafters": {name: CostModel.to_dict(), ...}}`` in the drafters' order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..drafter_ids import comparable_drafter
from ..io import write_json_atomic
from .clock import CLOCK_KINDS, Clock, check_calibration_pair
from .cost_model import CostModel, pair_fingerprint


@dataclass(frozen=True)
class MultiClock:
    """Prices the work of a multi-drafter decoder: `costs[i]` is drafter `names[i]`'s calibration."""

    kind: str
    names: tuple[str, ...]
    costs: tuple[CostModel, ...]

    def __post_init__(self):
        if self.kind not in CLOCK_KINDS:
            raise ValueError(f"unknown clock {self.kind!r}; valid: {', '.join(CLOCK_KINDS)}")
        if len(self.names) != len(self.costs) or not self.names:
            raise ValueError(f"a multi-drafter clock needs one cost model per drafter: {len(self.names)} names "
                             f"({', '.join(self.names)}), {len(self.costs)} cost models")

    @property
    def verifier_clock(self) -> Clock:
        """The single-drafter clock of the verifier's costs (ρ, verifications)."""
        return Clock(self.kind, self.costs[0])

    @property
    def baseline_rate(self) -> float:
        return self.costs[0].verifier_rate

    def draft_time(self, drafter: int, measured_s: float = 0.0, first: bool = False) -> float:
        """Seconds charged for one drafting step of `drafter`; a block's `first` step also pays its catch-up
        (`CostModel.catch_up_s`)."""
        if self.kind == "wall":
            return measured_s
        return self.costs[drafter].draft_s + (self.costs[drafter].catch_up_s if first else 0.0)

    def signal_time(self, drafter: int, measured_s: float = 0.0, steps: int = 1) -> float:
        """Seconds charged for the signals of `steps` draft steps of `drafter` that the observation read (`Clock.
        signal_time`): measured on the wall clock, else that drafter's `signal_s` per step."""
        return measured_s if self.kind == "wall" else steps * self.costs[drafter].signal_s

    def block_times(self, drafter: int, drafted: int, discarded: int, measured_draft_s: float = 0.0,
                    measured_verify_s: float = 0.0, signal_reads: int = 0) -> tuple[float, float]:
        """(draft seconds, verify seconds) of a block drafted by `drafter`, the signals of `signal_reads` of its
        steps read."""
        if self.kind == "wall":
            return measured_draft_s, measured_verify_s
        draft_s = self.costs[drafter].block_draft_cost(drafted + discarded) + self.signal_time(drafter,
                                                                                             steps=signal_reads)
        return draft_s, self.costs[0].verify_cost(drafted + 1)

    def cost_ratio(self, drafter: int) -> float:
        """A drafting step of `drafter` over a verifier-alone step (the calibrations', on every clock): THE cost
        ratio (`policies.baselines.cost_ratio`, which this floor cannot import) of the drafter's own pair."""
        return self.costs[drafter].draft_s / self.costs[0].verify_cost(1)

    def to_dict(self) -> dict:
        return {"drafters": {name: costs.to_dict() for name, costs in zip(self.names, self.costs, strict=True)}}

    def save(self, path: str | Path) -> None:
        write_json_atomic(path, self.to_dict())


def load_multi_costs(source: dict | str | Path, names: list[str]) -> tuple[CostModel, ...]:
    """The cost models of drafters `names` from a dict or JSON file ``{"drafters": {name: cost model}}``."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"multi-drafter cost file {str(path)!r} does not exist; write one with "
                                    "MultiClock.save")
        source = json.loads(path.read_text())
    drafters = source.get("drafters") if isinstance(source, dict) else None
    if isinstance(drafters, dict):  # a file written under a drafter's old name serves its new id
        drafters = {comparable_drafter(name): costs for name, costs in drafters.items()}
    names = comparable_drafter(list(names))
    missing = [name for name in names if not isinstance(drafters, dict) or name not in drafters]
    if missing:
        raise ValueError(f"the multi-drafter costs lack drafter(s) {', '.join(missing)}: give "
                         "{'drafters': {name: cost model}} with one entry per drafter of the pair")
    return tuple(CostModel.from_dict(drafters[name]) for name in names)


def make_multi_clock(kind: str | MultiClock, pair=None, cost_model=None, temperature: float = 0.0,
                     top_p: float = 1.0, names: list[str] | None = None) -> MultiClock:
    """A `MultiClock` of `kind` for a multi-drafter `pair` (or drafter `names` without a pair). `cost_model`: a
    `MultiClock`, a sequence of `CostModel` (one per drafter), a dict or JSON file as `MultiClock.to_dict`, or
    None to calibrate each drafter's pair once per process (``profile`` needs one)."""
    if isinstance(kind, MultiClock):
        return kind
    if kind not in CLOCK_KINDS:
        raise ValueError(f"unknown clock {kind!r}; valid: {', '.join(CLOCK_KINDS)}")
    from ..decoding.multi import sub_pairs

    singles = sub_pairs(pair) if pair is not None else None
    names = list(names or [single.drafter_name for single in singles or []])
    if not names:
        raise ValueError("a multi-drafter clock needs the pair or the drafter names")
    if isinstance(cost_model, MultiClock):
        costs = cost_model.costs
    elif isinstance(cost_model, (list, tuple)):
        costs = tuple(cost_model)
    elif cost_model is not None:
        costs = load_multi_costs(cost_model, names)
    elif kind == "profile":
        raise ValueError("clock='profile' needs cost profiles: pass cost_model= {'drafters': {name: profile}} or "
                         "a JSON file of it")
    elif singles is None:
        raise ValueError(f"clock={kind!r} needs a pair to calibrate or a cost_model")
    else:
        from .calibration import cached_cost_model

        costs = tuple(cached_cost_model(single, temperature, top_p) for single in singles)
    if len(costs) != len(names):
        raise ValueError(f"{len(costs)} cost models for {len(names)} drafters ({', '.join(names)}): give one each")
    if kind == "model" and singles is not None:
        for single, costs_i in zip(singles, costs, strict=True):
            check_calibration_pair(costs_i, pair_fingerprint(single), f"drafter {single.drafter_name!r}")
    return MultiClock(kind, tuple(names), tuple(costs))
