"""The aggregate measures RL papers report, as rliable defines them (Agarwal et al., "Deep Reinforcement Learning
at the Edge of the Statistical Precipice", NeurIPS 2021; google-research/rliable, `rliable/metrics.py` and
`rliable/library.py`), for scores of shape ``[runs, tasks]``.

- IQM: the interquartile mean, the mean of the middle 50 % of all run x task scores (`scipy.stats.trim_mean`
  with 25 % cut at each end), with a stratified bootstrap interval (runs resampled within each task).
- Performance profile: the fraction of run x task scores above each threshold tau.
- Probability of improvement P(X > Y): per task, the Mann-Whitney U statistic of X's runs against Y's, divided
  by the number of pairs (ties count half), averaged over tasks; with a stratified bootstrap interval.

Written here rather than imported: the rliable package pulls `arch`, whose builds on PyPI do not import beside
this project's pandas 3 and numpy 2 (checked with arch 6.3 and 7.2). The definitions are a few lines each.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats


def iqm(scores: np.ndarray) -> float:
    """Interquartile mean of all scores (``[runs, tasks]`` flattened)."""
    return float(stats.trim_mean(np.asarray(scores, dtype=np.float64).reshape(-1), proportiontocut=0.25))


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> float:
    """P(X > Y) averaged over tasks; x, y: ``[runs, tasks]`` (the run counts may differ)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same tasks, got {x.shape[1]} and {y.shape[1]}")
    per_task = []
    for task in range(x.shape[1]):
        a, b = x[:, task][:, None], y[:, task][None, :]
        per_task.append(float(np.mean((a > b) + 0.5 * (a == b))))
    return float(np.mean(per_task))


def stratified_bootstrap(statistic: Callable[..., float], *score_sets: np.ndarray, reps: int = 2000,
                         seed: int = 0, level: float = 0.95) -> list[float]:
    """Percentile interval of `statistic(*score_sets)` resampling runs with replacement within each task."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(reps):
        resampled = []
        for scores in score_sets:
            scores = np.asarray(scores, dtype=np.float64)
            runs, tasks = scores.shape
            index = rng.integers(runs, size=(runs, tasks))
            resampled.append(np.take_along_axis(scores, index, axis=0))
        values.append(statistic(*resampled))
    tail = (1.0 - level) / 2.0 * 100.0
    return [float(np.percentile(values, tail)), float(np.percentile(values, 100.0 - tail))]


def performance_profile(scores: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """Fraction of run x task scores above each tau."""
    flat = np.asarray(scores, dtype=np.float64).reshape(-1)
    return np.asarray([float(np.mean(flat > tau)) for tau in taus])
