"""The one objective: total tokens over total time, and the paired ratio eval reports."""

from __future__ import annotations

import pytest

from ebsd_env.envs.objective import episodes_objective, objective, objective_summary, paired_ratio


def test_objective_divides_totals_not_rates():
    # A short fast prompt and a long slow one: the mean of rates (10.5) is not the rate a user sees (1.9).
    assert objective([10, 90], [1.0, 50.0]) == pytest.approx(100 / 51)
    assert episodes_objective([{"new_tokens": 10, "decode_s": 1.0}, {"new_tokens": 90, "decode_s": 50.0}]) == \
        pytest.approx(100 / 51)
    assert objective([], []) != objective([], [])  # nan: no time spent


def test_paired_ratio_is_the_ratio_of_objectives_with_the_geomean_beside():
    mine = {"a": (10, 1.0), "b": (90, 30.0)}
    base = {"a": (10, 2.0), "b": (90, 45.0), "c": (5, 1.0)}  # "c" has no partner: left out
    result = paired_ratio(mine, base)
    assert result["n"] == 2
    assert result["mean"] == pytest.approx((100 / 31) / (100 / 47))
    assert result["geomean"] == pytest.approx((2.0 * 1.5) ** 0.5)
    assert result["wins"] == 1.0 and result["ci"][0] <= result["mean"] <= result["ci"][1]
    summary = objective_summary([(10, 1.0), (90, 30.0)])
    assert summary["mean"] == pytest.approx(100 / 31) and summary["n"] == 2
