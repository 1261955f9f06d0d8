"""Pieces shared by the PPO trainer and the rule tuner: pairs, prompts, environments, episode evaluation."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def resolve_cost_model(path: str | None, pair, temperature: float, keep: str | Path):
    """The model clock's calibration: loaded from `path`, else from `keep` if a previous session left one there
    (resumes must keep the clock), else calibrated on `pair` now; always saved to `keep`."""
    from ebsd_env import CostModel, cached_cost_model

    keep = Path(keep)
    if path:
        cost = CostModel.load(path)
    elif keep.is_file():
        cost = CostModel.load(keep)
    else:
        cost = cached_cost_model(pair, temperature)
    if not keep.is_file() or CostModel.load(keep) != cost:
        cost.save(keep)
    return cost


def is_multi_traces(folder: str) -> bool:
    """Aligned multi-drafter traces (`ebsd record --drafter a+b`): PPO then trains on `EBSD-Multi-Replay-v1`."""
    from pathlib import Path

    from ebsd_env.replay.multi import MANIFEST

    return (Path(folder) / MANIFEST).is_file()


def check_cost_profiles(profiles: Sequence[str], traces: str | None, cost_model: str | None) -> None:
    """--cost-profiles price replayed traces, in place of one clock: refused without --traces or beside
    --cost-model, and every file is read now, so a bad one is named before any run starts."""
    if not profiles:
        return
    if not traces:
        raise ValueError("--cost-profiles prices recorded traces, one profile per episode: add --traces DIR (a live "
                         "env runs on this machine's clock)")
    if cost_model:
        raise ValueError("give --cost-model (one clock) or --cost-profiles (one drawn per episode), not both")
    if is_multi_traces(traces):
        from ebsd_env.replay.multi import MultiTraceSet
        from ebsd_env.timing.multi_profiles import MultiCostProfiles

        MultiCostProfiles.load(profiles, MultiTraceSet.load(traces).clock("model"))
        return
    from ebsd_env.timing.cost_profiles import CostProfiles

    CostProfiles.load(profiles)


def load_prompt_rows(source: str | None, categories: Sequence[str] | None, limit_per_category: int | None,
                     seed: int) -> list[dict]:
    from ebsd_env.prompts import load_prompts

    rows = load_prompts(source, categories=list(categories) if categories else None,
                        limit_per_category=limit_per_category, seed=seed)
    if not rows:
        raise ValueError(f"no prompts from source {source or 'built-in suite'!r} with categories {categories}; "
                         "check --prompt-source / --categories")
    return rows


def by_category(rows: Sequence[dict]) -> dict[str, list[int]]:
    """Prompt indices per category, in suite order."""
    groups: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(str(row.get("category", "all")), []).append(i)
    return groups


def held_in_indices(rows: Sequence[dict], per_category: int) -> list[int]:
    """The first `per_category` prompts of every category: evaluated prompts that training also sees."""
    if per_category < 1:
        raise ValueError(f"eval prompts per category must be >= 1, got {per_category}")
    return [i for indices in by_category(rows).values() for i in indices[:per_category]]


def run_policy(env, policy, indices: Sequence[int], seed: int = 0, progress: str | None = None) -> list[dict]:
    """Episode statistics of `policy` on the prompts `indices` of `env` (one episode each, fixed seeds);
    `progress` labels a progress bar. A policy whose source stops in another mode than `env` runs in a copy of
    `env` made with that mode (`env_in_mode`)."""
    from tqdm import tqdm

    from policies.rollout import run_episode

    env = env_in_mode(env, policy.stop_mode)
    episodes = tqdm(list(enumerate(indices)), desc=progress, leave=False, disable=progress is None)
    return [run_episode(env, policy, seed=seed + n, options={"prompt_index": int(index)}) for n, index in episodes]


def env_in_mode(env, stop_mode: str | None):
    """`env`, or (made once, kept on it) the same env with another `stop_mode`: every other setting, the pair,
    prompts and cost model included, is the same."""
    base = env.unwrapped
    if stop_mode is None or stop_mode == base.stop_mode:
        return env
    siblings = base.__dict__.setdefault("_mode_siblings", {})
    if stop_mode not in siblings:
        import gymnasium as gym

        if base.spec is None:
            raise ValueError(f"the env stops in {base.stop_mode!r} mode and was not made with gym.make, so no copy in "
                             f"{stop_mode!r} mode can be made: make one with gym.make(..., stop_mode={stop_mode!r})")
        siblings[stop_mode] = gym.make(base.spec.id, **{**base.spec.kwargs, "pair": base.pair,
                                                        "cost_model": base.decode_clock.costs, "stop_mode": stop_mode})
    return siblings[stop_mode]


def finite_mean(values) -> float:
    values = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return float(np.mean(values)) if values else float("nan")


SUMMARY_KEYS = ("acceptance_rate", "mean_accepted_tokens", "mean_draft_len", "new_tokens")


def summarize(stats: Sequence[dict]) -> dict:
    """The objective (`tokens_per_s`: total tokens over total decoding time, `ebsd_env.envs.objective`) and mean
    per-episode figures, overall and per prompt category."""
    from ebsd_env.envs.objective import episodes_objective

    def cell(rows):
        return {"tokens_per_s": episodes_objective(rows)} | {key: finite_mean(s.get(key) for s in rows)
                                                             for key in SUMMARY_KEYS}

    summary = cell(stats) | {"episodes": len(stats)}
    categories: dict[str, list[dict]] = {}
    for s in stats:
        categories.setdefault(str(s.get("category", "all")), []).append(s)
    summary["per_category"] = {c: cell(rows) for c, rows in categories.items()}
    return summary
