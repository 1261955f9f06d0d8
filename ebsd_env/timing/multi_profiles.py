"""Cost profiles for multi-drafter replay: many `MultiClock`s for one set of aligned traces, one drawn per episode.

Why: a multi-drafter policy reads each drafter's cost ratio (`EBSD-Multi-v1`'s ``cost_ratio``) and chooses its
drafters and stops by it. Trained under the one calibration of the machine that recorded its traces, it learns
the answer for those values only: on a 2-core Xeon the shipped policy ran 1.06x the int4 copy at k = 16 at two
threads and 0.89x at one, where the int4 step measured 0.359 vs 0.331 of a verification. Priced per episode by
clocks spread around the calibration, it has seen what a small change of costs does to the best choice.

A profile here is what `MultiClock.to_dict` writes, ``{"drafters": {name: cost model}}``, one entry per drafter
of the traces (`load_multi_costs`); `MultiCostProfiles.load` reads such files, folders of them, and

- ``jitter``: the family around the traces' own calibration (`jitter_family`): each drafter's drafting step
  scaled by each of `DRAFT_SCALES` independently, and the verification curve's rise above one token scaled by
  each of `VERIFY_SCALES` (3 x 3 x 3 x 3 = 81 profiles for three drafters). verify(1), and so the verifier-alone
  rate, stays the calibration's.

`ebsd_env.replay.multi_vector.MultiReplayVectorEnv` takes them as ``cost_profiles=``; ``ebsd train ppo --traces
MULTI --cost-profiles jitter`` trains over them.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .cost_model import CostModel
from .cost_profiles import check_unique, json_files
from .multi_clock import MultiClock, load_multi_costs

JITTER = "jitter"
# A drafting step's cost moves by this much between thread counts and hours on one 2-core machine (int4: 0.331 vs
# 0.359 of a verification at one vs two threads; the feature drafter more); the verification curve's rise by less
# (verify(17) / verify(1): 2.29 vs 2.16). The scales span a wider band than measured so as to cover both.
DRAFT_SCALES = (0.75, 1.0, 1.33)
VERIFY_SCALES = (0.8, 1.0, 1.25)


def scale_costs(costs: CostModel, draft_scale: float = 1.0, verify_scale: float = 1.0, source: str = "") -> CostModel:
    """`costs` with every drafting cost (step, context grid, signals, catch-up) times `draft_scale` and every
    verification's excess over one token's, at its own context, times `verify_scale` (verify(1) unchanged)."""
    if not draft_scale > 0 or not verify_scale > 0:
        raise ValueError(f"cost scales must be > 0, got draft {draft_scale}, verify {verify_scale}")

    def rise(points: Sequence[float]) -> tuple[float, ...]:
        return tuple(points[0] + verify_scale * (s - points[0]) for s in points)

    feds = [fed for fed, _ in costs.verify_points]
    verify = rise([s for _, s in costs.verify_points])
    return dataclasses.replace(
        costs, draft_s=costs.draft_s * draft_scale, verify_points=tuple(zip(feds, verify, strict=True)),
        verify_grid=tuple(rise(row) for row in costs.verify_grid),
        draft_grid=tuple(s * draft_scale for s in costs.draft_grid),
        signal_s=costs.signal_s * draft_scale, catch_up_s=costs.catch_up_s * draft_scale,
        source=source or costs.source, decide_s={})


def jitter_family(base: MultiClock, draft_scales: Sequence[float] = DRAFT_SCALES,
                  verify_scales: Sequence[float] = VERIFY_SCALES) -> dict[str, MultiClock]:
    """Profiles around `base`, by name (``jitter-v{verify}-{drafter}{scale}-...``): every combination of one
    draft scale per drafter and one verification scale (`scale_costs`), `base` itself among them when both
    sequences hold 1."""
    family = {}
    for verify_scale in verify_scales:
        for scales in itertools.product(draft_scales, repeat=len(base.names)):
            name = f"jitter-v{verify_scale:g}-" + "-".join(
                f"{drafter}{scale:g}" for drafter, scale in zip(base.names, scales, strict=True))
            costs = tuple(scale_costs(c, scale, verify_scale, source=f"{name} (around {c.source})")
                          for c, scale in zip(base.costs, scales, strict=True))
            family[name] = MultiClock(base.kind, base.names, costs)
    return family


@dataclass(frozen=True)
class MultiCostProfiles:
    """Named multi-drafter clocks to draw one of per episode (as `CostProfiles`, one `MultiClock` each)."""

    names: tuple[str, ...]
    clocks: tuple[MultiClock, ...]

    def __post_init__(self):
        if not self.clocks or len(self.names) != len(self.clocks):
            raise ValueError("multi-drafter cost profiles: give at least one, each with a name")
        drafters = {clock.names for clock in self.clocks}
        if len(drafters) != 1:
            raise ValueError(f"multi-drafter cost profiles of different drafters: {sorted(drafters)}")

    def __len__(self) -> int:
        return len(self.clocks)

    def sample(self, rng: np.random.Generator, size: int):
        return rng.integers(len(self), size=size)

    def describe(self) -> dict:
        return {name: clock.to_dict() for name, clock in zip(self.names, self.clocks, strict=True)}

    @classmethod
    def load(cls, items: MultiCostProfiles | Sequence[str | Path | MultiClock], base: MultiClock) -> MultiCostProfiles:
        """Profiles from ``jitter`` (around `base`, the traces' own clock), files or folders of
        ``{"drafters": {...}}`` JSON, or `MultiClock` objects, each for `base`'s drafters; a bad item is one line."""
        if isinstance(items, MultiCostProfiles):
            return items
        if isinstance(items, (str, Path)):
            items = [items]
        names, clocks = [], []
        for item in items:
            if isinstance(item, MultiClock):
                names.append(f"profile{len(names)}")
                clocks.append(MultiClock(base.kind, base.names, item.costs))
            elif str(item) == JITTER and not Path(JITTER).exists():
                family = jitter_family(base)
                names.extend(family)
                clocks.extend(family.values())
            else:
                for path in json_files(item, f"{JITTER!r}, a file nor a folder of multi-drafter profiles "
                                             '({"drafters": {name: cost model}})'):
                    names.append(path.stem)
                    clocks.append(MultiClock(base.kind, base.names, _load(path, base.names)))
        if not clocks:
            raise ValueError(f"no cost profiles given: name {JITTER!r}, or multi-drafter profile JSON files "
                             '({"drafters": {name: cost model}}) or folders of them')
        check_unique(names, "profile")
        return cls(tuple(names), tuple(clocks))


def _load(path: Path, names: Sequence[str]) -> tuple[CostModel, ...]:
    try:
        return load_multi_costs(json.loads(path.read_text()), list(names))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, TypeError, ValueError) as error:
        raise ValueError(f"multi-drafter cost profile {str(path)!r}: {error}; write it as MultiClock.save does") \
            from None
