"""`policies.baselines`: one function per analysis concept, on small hand-made inputs with known answers."""

from __future__ import annotations

import math

import pytest

from policies.baselines import (
    best_static,
    cost_ratio,
    cost_ratio_of,
    fastest,
    is_static,
    static_baseline,
    units_rate,
    verifier_alone,
    verifier_alone_rate,
)


def test_the_verifier_alone_rate_is_its_total_tokens_over_its_total_seconds():
    work = {"fixed-k:k=2": {"p1": (10, 1.0)}, "no-spec": {"p1": (10, 2.0), "p2": (30, 2.0)}}
    assert verifier_alone(work) == "no-spec"
    assert verifier_alone_rate(work) == pytest.approx(40 / 4.0)  # not the mean of 5 and 15 tokens/s
    assert verifier_alone_rate(work, ids=["p2", "missing"]) == pytest.approx(15.0)
    assert verifier_alone(["fixed-k:k=0", "fixed-k:k=1"]) == "fixed-k:k=0"
    assert verifier_alone(["fixed-k:k=1", "no-spec @ stop_mode=exclude"]) == "no-spec @ stop_mode=exclude"
    with pytest.raises(ValueError, match="no verifier-alone policy among .*add no-spec"):
        verifier_alone_rate({"fixed-k:k=1": {"p1": (1, 1.0)}})
    assert math.isnan(units_rate({"p1": (3, 0.0)}))


def test_the_best_static_policy_is_chosen_per_category_among_fixed_k_and_k0_only():
    rates = {"no-spec": {"a": 10.0, "b": 10.0}, "fixed-k:k=1": {"a": 12.0, "b": 9.0},
             "fixed-k:k=4": {"a": 11.0, "b": 8.0}, "entropy-abs:theta=1.0": {"a": 50.0, "b": 50.0},
             "oracle-first-reject": {"a": 60.0, "b": 60.0}, "random-k": {"a": 70.0, "b": 70.0}}
    # k = 0 is a static policy: in b the verifier alone beats every draft length.
    assert best_static(rates) == {"a": "fixed-k:k=1", "b": "no-spec"}
    assert is_static("fixed-k:k=3 @ stop_mode=exclude") and not is_static("random-k")
    # A tie goes to the shorter draft, whatever the order of the labels.
    assert best_static({"fixed-k:k=2": {"a": 5.0}, "fixed-k:k=1": {"a": 5.0}}) == {"a": "fixed-k:k=1"}
    assert best_static({"fixed-k:k=2": {"a": float("nan")}}) == {"a": None}


def test_the_static_baseline_is_chosen_on_one_set_and_judged_on_another_with_hindsight_beside():
    validation = {"fixed-k:k=1": {"a": 12.0, "all": 11.0}, "fixed-k:k=2": {"a": 11.0, "all": 12.0}}
    test = {"fixed-k:k=1": {"a": 9.0, "held": 7.0}, "fixed-k:k=2": {"a": 10.0, "held": 8.0}}
    out = static_baseline(validation, test)
    assert out["a"] == {"chosen": "fixed-k:k=1", "chosen_rate": 9.0, "hindsight": "fixed-k:k=2",
                        "hindsight_rate": 10.0}
    # A category the choosing data lacks takes the choice over all of it.
    assert out["held"]["chosen"] == "fixed-k:k=2" and out["held"]["chosen_rate"] == 8.0


def test_the_cost_ratio_is_a_draft_step_over_a_one_token_verification():
    assert cost_ratio(0.004, 0.02) == pytest.approx(0.2)
    assert math.isnan(cost_ratio(0.004, 0.0)) and math.isnan(cost_ratio(None, 0.02))
    # From a calibrated clock: the point at fed = 1, not the first listed nor the largest.
    assert cost_ratio_of({"draft_s": 0.01, "verify_points": [[1, 0.04], [2, 0.05], [17, 0.2]]}) == pytest.approx(0.25)
    from ebsd_env.timing.cost_model import CostModel

    costs = CostModel(draft_s=0.002, verify_points=((1, 0.02), (2, 0.021), (17, 0.03)))
    assert cost_ratio_of(costs) == pytest.approx(0.1) == cost_ratio_of(costs.to_dict())


def test_the_fastest_policy_is_never_a_privileged_oracle():
    rates = {"oracle-first-reject": 30.0, "fixed-k:k=4": 20.0, "entropy-abs:theta=1.0": 25.0,
             "bandit-ucb:arms=[fixed-k:k=1;oracle-first-reject]": 29.0, "no-spec": float("nan")}
    assert fastest(rates) == "entropy-abs:theta=1.0"
    assert fastest({"oracle-first-reject": 1.0}) is None
    assert fastest(rates, is_privileged=lambda label: False) == "oracle-first-reject"
