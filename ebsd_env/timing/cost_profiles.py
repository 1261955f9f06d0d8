"""Cost profiles as a training distribution: many clocks for one set of traces, one sampled per episode.

A recorded trace is clock-free (`ebsd_env.replay`), so it can be priced by any cost profile (the ``profile``
clock's JSON: ``draft_s`` and ``verify_points``, `ebsd_env.timing.cost_model.CostModel`). A policy trained on
replays under one profile learns that machine's costs; trained under many, sampled per episode, it has seen
many cost regimes. `CostProfiles.load` reads profile files, folders of them, or the shipped sets:

- ``cpu``: the embedded pair (feature drafter v1, int4 copy) calibrated on two of the project's 2-core AMD EPYCs
  (Zen 5 with AVX-512; Zen 3 with AVX2 and the project's own kernels) at one thread, in
  ``ebsd_env/timing/profiles/cpu/`` (each file's fingerprint names its machine and kernels);
- ``h200``: four profiles measured on an NVIDIA H200 with eager transformers in bf16 for public model shapes
  (Llama-3.1-8B and Qwen2.5-7B verifiers, nearly flat at 20-24 ms from 1 to 33 tokens; Llama-3.2-1B,
  Qwen2.5-0.5B and SmolLM2-135M drafters at 11-19 ms a token), in ``ebsd_env/timing/profiles/h200/``;
- ``synthetic``: a family spanning flat (GPU-like) to steep (CPU-like) verification and draft cost ratios
  0.01-0.8, written by `synthetic_family` (``python -m ebsd_env.timing.cost_profiles --out DIR`` writes it;
  ``ebsd_env/timing/profiles/synthetic/`` is its output, and a test keeps the two equal).

`ReplayEnv` and `ReplayVectorEnv` take ``cost_profiles=`` and draw one per episode from a generator seeded by
the env's seed (a reset with a seed reseeds it), so a run's sequence of profiles repeats exactly.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io import write_json_atomic
from .cost_model import CostModel, along_context_many

PROFILES_DIR = Path(__file__).parent / "profiles"
SHIPPED_SETS = ("cpu", "h200", "synthetic")
# Fed-token counts (k + 1) at which a synthetic profile gives the verification cost.
SYNTHETIC_FED = (1, 2, 3, 5, 9, 17, 33)
SYNTHETIC_VERIFY_S = 0.05  # verification of one token; rates scale with it, so only the ratios matter
# Verification cost over verify(1) as a function of the tokens fed, flat (GPU) to steep (CPU). `cpu` follows the
# 2-core AMD EPYC of issue 23 (verify(1) 58 ms, verify(2) 100 ms, verify(9) 121 ms: a step, then shallow);
# `linear` is a compute-bound extreme where every token costs half a verification.
STEEPNESS = {
    "flat": lambda fed: 1.0 + 0.002 * (fed - 1),
    "mild": lambda fed: 1.0 + 0.02 * (fed - 1),
    "moderate": lambda fed: 1.0 + 0.1 * (fed - 1),
    "cpu": lambda fed: float(np.interp(fed, (1, 2, 9, 33), (1.0, 1.72, 2.09, 3.0))),
    "linear": lambda fed: 1.0 + 0.5 * (fed - 1),
}
DRAFT_RATIOS = (0.01, 0.05, 0.2, 0.5, 0.8)  # one drafting step over one verification of one token


def synthetic_family(steepness: Sequence[str] = tuple(STEEPNESS),
                     draft_ratios: Sequence[float] = DRAFT_RATIOS) -> dict[str, dict]:
    """The synthetic profiles, by file stem (``synthetic-{steepness}-draft{ratio}``), as profile JSON objects:
    every verification curve of `STEEPNESS` with every draft cost ratio (draft_s / verify(1))."""
    profiles = {}
    for shape in steepness:
        if shape not in STEEPNESS:
            raise ValueError(f"unknown steepness {shape!r}; valid: {', '.join(STEEPNESS)}")
        for ratio in draft_ratios:
            if not 0 < ratio:
                raise ValueError(f"draft cost ratios must be > 0, got {ratio}")
            name = f"synthetic-{shape}-draft{ratio:g}"
            points = [[fed, round(SYNTHETIC_VERIFY_S * STEEPNESS[shape](fed), 6)] for fed in SYNTHETIC_FED]
            profiles[name] = {
                "name": name, "source": f"synthetic ({shape} verification, draft ratio {ratio:g})",
                "description": (f"Synthetic cost profile: verification '{shape}' (verify(k+1) / verify(1) = "
                                f"{points[1][1] / points[0][1]:.3g} at 2 tokens fed, {points[4][1] / points[0][1]:.3g}"
                                f" at 9), a drafting step {ratio:g} x verify(1); verify(1) = "
                                f"{SYNTHETIC_VERIFY_S * 1000:g} ms (only the ratios matter). Written by "
                                "ebsd_env.timing.cost_profiles.synthetic_family."),
                "draft_s": round(SYNTHETIC_VERIFY_S * ratio, 6), "verify_points": points}
    return profiles


def write_family(out: Path, profiles: dict[str, dict]) -> list[Path]:
    paths = []
    for name, data in profiles.items():
        CostModel.from_dict(data)  # a profile the clock refuses is never written
        paths.append(Path(out) / f"{name}.json")
        write_json_atomic(paths[-1], data, sort_keys=True)
    return paths


@dataclass(frozen=True)
class CostProfiles:
    """Named cost models to draw one of per episode; `sample` takes the env's seeded generator."""

    names: tuple[str, ...]
    models: tuple[CostModel, ...]

    def __post_init__(self):
        if not self.models or len(self.names) != len(self.models):
            raise ValueError("cost profiles: give at least one, each with a name")

    def __len__(self) -> int:
        return len(self.models)

    def sample(self, rng: np.random.Generator, size: int | None = None):
        """Indices of profiles drawn uniformly: one (size None) or an array of `size`."""
        return int(rng.integers(len(self))) if size is None else rng.integers(len(self), size=size)

    def describe(self) -> dict:
        return {name: model.to_dict() for name, model in zip(self.names, self.models, strict=True)}

    @classmethod
    def load(cls, items: CostProfiles | Sequence[str | Path | CostModel]) -> CostProfiles:
        """Profiles from files, folders (every ``*.json`` in them, sorted), shipped set names (``h200``,
        ``synthetic``) or `CostModel` objects; a bad item is a one-line error naming it."""
        if isinstance(items, CostProfiles):
            return items
        if isinstance(items, (str, Path)):
            items = [items]
        names, models = [], []
        for item in items:
            if isinstance(item, CostModel):
                names.append(item.source or f"profile{len(names)}")
                models.append(item)
                continue
            for path in _files(item):
                names.append(path.stem)
                models.append(load_profile(path))
        if not models:
            raise ValueError("no cost profiles given: name profile JSON files, folders of them, or a shipped set ("
                             f"{', '.join(SHIPPED_SETS)})")
        check_unique(names, "file")
        return cls(tuple(names), tuple(models))


@dataclass(frozen=True)
class EpisodePrices:
    """Cost models as arrays, to price many episodes at once (the numpy vector envs), each episode by the row of
    its model (`profile`): the seconds of a drafting step (`draft_s`), of verifying k = 0 .. max_draft_len + 1 draft
    tokens (`verify_s`; the cost signals read one past the longest draft) and ρ (`rho`); per context-aware model,
    its `CostModel.context_arrays` (`context`), which price a block at its start's context as the env does; the
    seconds of a drafted step's signals (`signal_s`), 0 where the observation reads none (``"position"``); and a
    block's first step's catch-up (`catch_up_s`, `CostModel.catch_up_s`)."""

    draft_s: np.ndarray
    verify_s: np.ndarray
    rho: np.ndarray
    context: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]
    signal_s: np.ndarray
    catch_up_s: np.ndarray

    @classmethod
    def of(cls, models: Sequence[CostModel], max_draft_len: int, reads_signals: bool = True) -> EpisodePrices:
        feds = max_draft_len + 2
        return cls(np.asarray([costs.draft_s for costs in models], dtype=np.float64),
                   np.asarray([[costs.verify_cost(fed) for fed in range(1, feds + 1)] for costs in models],
                              dtype=np.float64),
                   np.asarray([costs.verifier_rate for costs in models], dtype=np.float64),
                   {i: costs.context_arrays(feds) for i, costs in enumerate(models) if costs.context_aware},
                   np.asarray([costs.signal_s for costs in models], dtype=np.float64) * reads_signals,
                   np.asarray([costs.catch_up_s for costs in models], dtype=np.float64))

    def drafting(self, profile: np.ndarray, context: np.ndarray) -> np.ndarray:
        """Seconds of one drafting step of each episode after `context` tokens."""
        draft = self.draft_s[profile]
        for p, (xs, _, drafts) in self.context.items():
            rows = profile == p
            if rows.any():
                draft = np.where(rows, along_context_many(xs, drafts, context), draft)
        return draft

    def verifying(self, profile: np.ndarray, context: np.ndarray, ks: int) -> np.ndarray:
        """Seconds of verifying k = 0 .. ks - 1 draft tokens for each episode after `context` tokens (episodes x
        ks)."""
        verify = self.verify_s[profile, :ks]  # a copy (fancy indexing): the rows below do not write the table
        for p, (xs, grid, _) in self.context.items():
            rows = profile == p
            if rows.any():
                verify[rows] = np.stack([along_context_many(xs, grid[:, k], context[rows]) for k in range(ks)], axis=1)
        return verify


def _files(item: str | Path) -> list[Path]:
    text = str(item)
    if text in SHIPPED_SETS and not Path(text).exists():
        return sorted((PROFILES_DIR / text).glob("*.json"))
    return json_files(item, f"a file, a folder of .json profiles, nor a shipped set ({', '.join(SHIPPED_SETS)})")


def json_files(item: str | Path, alternatives: str) -> list[Path]:
    """The profile files `item` names: every ``*.json`` of a folder (sorted), or one file; anything else is one
    line saying it is neither of `alternatives` (what the caller accepts)."""
    path = Path(item).expanduser()
    if path.is_dir():
        files = sorted(path.glob("*.json"))
        if not files:
            raise ValueError(f"cost profile folder {str(item)!r} holds no .json profiles")
        return files
    if not path.is_file():
        raise ValueError(f"cost profile {str(item)!r} is neither {alternatives}")
    return [path]


def check_unique(names: list[str], what: str) -> None:
    """Profiles are told apart by name (episode statistics report it): one given twice is refused."""
    if len(set(names)) != len(names):
        twice = sorted({name for name in names if names.count(name) > 1})
        raise ValueError(f"cost profiles named twice: {', '.join(twice)}; give each {what} once")


def load_profile(path: Path) -> CostModel:
    """One profile file; any fault is one line naming the file and what to fix."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"cost profile {str(path)!r} is not a readable JSON file ({error}); rewrite it as "
                         '{"draft_s": seconds, "verify_points": [[1, seconds], [2, seconds], ...]}') from None
    try:
        return CostModel.from_dict(data)
    except (TypeError, ValueError) as error:
        raise ValueError(f"cost profile {str(path)!r}: {error}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ebsd_env.timing.cost_profiles", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=PROFILES_DIR / "synthetic",
                        help="folder for the synthetic family's JSON files")
    args = parser.parse_args(argv)
    paths = write_family(args.out, synthetic_family())
    print(f"[ebsd] {len(paths)} synthetic cost profiles in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
