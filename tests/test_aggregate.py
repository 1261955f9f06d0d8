"""rliable's aggregate measures (`eval.aggregate`) against values worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from eval import aggregate


def test_iqm_is_the_mean_of_the_middle_half():
    scores = np.asarray([[1.0], [2.0], [3.0], [4.0], [5.0], [6.0], [7.0], [100.0]])
    assert aggregate.iqm(scores) == pytest.approx(np.mean([3.0, 4.0, 5.0, 6.0]))


def test_probability_of_improvement_counts_pairs_and_half_ties():
    x = np.asarray([[2.0, 1.0], [3.0, 1.0]])
    y = np.asarray([[1.0, 1.0], [3.0, 2.0]])
    # task 0: pairs (2>1, 2<3, 3>1, 3=3) -> (1 + 0 + 1 + 0.5) / 4; task 1: (0.5 + 0 + 0.5 + 0) / 4
    assert aggregate.probability_of_improvement(x, y) == pytest.approx((2.5 / 4 + 1.0 / 4) / 2)
    assert aggregate.probability_of_improvement(x, x) == pytest.approx(0.5)


def test_bootstrap_interval_brackets_the_statistic_and_profile_falls():
    rng = np.random.default_rng(0)
    scores = rng.normal(1.2, 0.1, size=(50, 1))
    low, high = aggregate.stratified_bootstrap(aggregate.iqm, scores, reps=500)
    assert low < aggregate.iqm(scores) < high and high - low < 0.1
    profile = aggregate.performance_profile(scores, np.asarray([0.0, 1.2, 5.0]))
    assert profile[0] == 1.0 and 0.2 < profile[1] < 0.8 and profile[2] == 0.0
