"""The one objective every part of EBSD Gym optimises and reports: tokens per second of decoding, over totals.

    objective(units) = sum of new tokens / sum of decoding seconds

over a set of (prompt, seed) units, each unit's tokens and seconds taken on the run's clock (decoding only:
drafting steps, verifications and the policy's own decisions, ``decide_s``; prefill is the same for every
stopping policy and is left out, reported beside as an end-to-end rate). This is the
rate a user sees when the units are decoded one after another. It is *not* the mean of per-prompt rates, which
weighs a short fast prompt as much as a long slow one, nor a mean of per-block rates, which can rank two
policies the wrong way round (docs/env.md works an example).

Who uses it:

- the env's reward: ``r_t = (emitted_t - rho * dt_t) / s``; with discount gamma = 1 the return of a set of
  episodes is ``(sum N - rho * sum T) / s``. Under greedy decoding sum N is the same for every policy (the output
  is the verifier's own), so the return orders policies exactly as the objective does. With gamma < 1 it does
  not (later tokens would count less), which is why `ebsd train ppo` trains with gamma = 1.
- `ebsd tune`, best-model selection in `ebsd train ppo`, and the bandits' arm values (`arm_value`);
- `ebsd eval`'s headline: a policy's objective divided by the verifier-alone objective on the same units
  (`paired_ratio`); per-prompt geometric means are reported beside it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

OBJECTIVE = "total new tokens / total decoding seconds over the (prompt, seed) units"
N_BOOT = 2000


def objective(tokens: Iterable[float], seconds: Iterable[float]) -> float:
    """Total tokens over total seconds (nan when no time was spent)."""
    total_tokens, total_seconds = float(np.sum(list(tokens))), float(np.sum(list(seconds)))
    return total_tokens / total_seconds if total_seconds > 0 else float("nan")


def episodes_objective(stats: Sequence[Mapping]) -> float:
    """The objective of episode statistics (``new_tokens`` and ``decode_s`` of `EBSDEnv.episode_stats`)."""
    return objective((s["new_tokens"] for s in stats), (s["decode_s"] for s in stats))


def _bootstrap(statistic, n_units: int, n_boot: int, seed: int, level: float) -> list[float]:
    """Percentile interval of `statistic(draws)` over `n_boot` resamples of the unit indices (nan, nan for fewer
    than two units); `statistic` maps a (n_boot, n_units) index array to one value per resample."""
    if n_units < 2:
        return [float("nan"), float("nan")]
    draws = np.random.default_rng(seed).integers(0, n_units, size=(n_boot, n_units))
    values = statistic(draws)
    alpha = (1 - level) / 2
    return [float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))]


def paired_ratio(mine: Mapping, base: Mapping, n_boot: int = N_BOOT, seed: int = 0, level: float = 0.95) -> dict:
    """Objective of `mine` over the objective of `base` on the units both have (``{unit: (tokens, seconds)}``).

    ``mean``: the ratio of the two objectives; ``ci``: its percentile bootstrap interval, resampling units in
    pairs; ``geomean``: the geometric mean of the per-unit rate ratios (reported beside, not the headline);
    ``wins``: the share of units where `mine` is faster; ``n``: paired units.
    """
    units = [u for u in mine if u in base and base[u][1] > 0 and mine[u][1] > 0]
    if not units:
        return {"mean": float("nan"), "ci": [float("nan"), float("nan")], "geomean": float("nan"),
                "wins": float("nan"), "n": 0}
    a = np.asarray([mine[u] for u in units], dtype=np.float64)
    b = np.asarray([base[u] for u in units], dtype=np.float64)
    ratio = (a[:, 0].sum() / a[:, 1].sum()) / (b[:, 0].sum() / b[:, 1].sum())
    per_unit = (a[:, 0] / a[:, 1]) / (b[:, 0] / b[:, 1])
    ci = _bootstrap(lambda d: (a[d, 0].sum(1) / a[d, 1].sum(1)) / (b[d, 0].sum(1) / b[d, 1].sum(1)),
                    len(units), n_boot, seed, level)
    positive = per_unit[per_unit > 0]
    return {"mean": float(ratio), "ci": ci, "geomean": float(np.exp(np.log(positive).mean())) if len(positive)
            else float("nan"), "wins": float(np.mean(per_unit > 1)), "n": len(units)}


def objective_summary(work: Sequence[tuple[float, float]], n_boot: int = N_BOOT, seed: int = 0,
                      level: float = 0.95) -> dict:
    """The objective of (tokens, seconds) units with a percentile bootstrap interval over units."""
    data = np.asarray([w for w in work if w[1] > 0], dtype=np.float64).reshape(-1, 2)
    if not len(data):
        return {"mean": float("nan"), "ci": [float("nan"), float("nan")], "n": 0}
    ci = _bootstrap(lambda d: data[d, 0].sum(1) / data[d, 1].sum(1), len(data), n_boot, seed, level)
    return {"mean": float(data[:, 0].sum() / data[:, 1].sum()), "ci": ci, "n": len(data)}


def arm_value(tokens: float, seconds: float) -> float:
    """A bandit arm's value: the objective over the blocks it drove (a ratio of sums, not a mean of rates)."""
    return tokens / seconds if seconds > 0 else float("nan")
