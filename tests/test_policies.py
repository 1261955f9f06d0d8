"""Stopping policies on hand-made signal sequences: each stops where its formula says; specs and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ebsd_env.envs.observation import ObservationLayout
from policies import Policy, list_policies, make_policy
from policies.acceptance import AcceptanceModel, fit
from policies.field import roc_threshold
from policies.registry import POLICIES
from policies.registry import main as policies_main

LAYOUT = ObservationLayout(history=4, max_draft_len=48, max_new_tokens=64, entropy_scale=math.log(1000),
                           extra_signals=True)
PLAIN = ObservationLayout(history=4, max_draft_len=16, max_new_tokens=64, entropy_scale=math.log(1000))
NEEDS_FILES = {"ppo", "acceptance", "tuned"}  # covered in test_policies_env.py with real files


def obs_at(entropies, top1=None, layout=LAYOUT):
    """Observation after drafting len(entropies) tokens with these entropies (nats) and latest top-1 prob (also
    the emitted token's probability, as under greedy decoding)."""
    top1 = 0.5 if top1 is None else top1
    return layout.encode(list(entropies), len(entropies), top1_prob=top1, token_prob=top1)


def stop_position(policy, entropies=None, top1s=None, n=None, layout=LAYOUT):
    """Feed one block token by token; the 1-based position where the policy first says stop (None: never)."""
    n = n or len(entropies if entropies is not None else top1s)
    entropies = entropies if entropies is not None else [0.1] * n
    for t in range(1, n + 1):
        top1 = top1s[t - 1] if top1s is not None else None
        action, _ = policy.predict(obs_at(entropies[:t], top1, layout))
        if action == 1:
            return t
    return None


def rule(spec, layout=LAYOUT, mode=None):
    """A policy bound to `layout`, acting in `mode` (default: its source's mode, else include)."""
    policy = make_policy(spec)
    return policy.bind(layout=layout, stop_mode=mode or policy.stop_mode or "include")


# ------------------------------------------------------------------ the entropy rules
def test_entropy_abs_stops_at_first_token_above_theta():
    assert stop_position(rule("entropy-abs:theta=1.0"), [0.2, 0.5, 1.5, 0.1]) == 3
    assert stop_position(rule("entropy-abs:theta=1.0"), [0.2, 1.0, 0.3]) is None  # strict >
    assert stop_position(rule("entropy-abs:theta=1.0,min=4"), [0.2, 1.5, 0.3, 1.2]) == 4
    assert stop_position(rule("entropy-abs:theta=1.0,max=2"), [0.1, 0.1, 0.1]) == 2
    # Exclude mode: the same formula stops at the same token, but min / max count the verified tokens, one fewer.
    assert stop_position(rule("entropy-abs:theta=1.0", mode="exclude"), [0.2, 0.5, 1.5, 0.1]) == 3
    assert stop_position(rule("entropy-abs:theta=1.0,min=4", mode="exclude"), [0.2, 1.5, 0.3, 1.2, 1.1]) == 5
    assert stop_position(rule("entropy-abs:theta=1.0,max=2", mode="exclude"), [0.1, 0.1, 0.1]) == 3
    # At a block's empty draft (position 0) an entropy rule has nothing to judge: it drafts.
    assert rule("entropy-abs:theta=0.0").predict(LAYOUT.encode([], 0))[0] == 0


def test_entropy_rel_uses_ratio_with_floor():
    assert stop_position(rule("entropy-rel:theta=2.0"), [0.5, 0.6, 1.3]) == 3  # 1.3 / 0.6 = 2.17
    assert stop_position(rule("entropy-rel:theta=2.0"), [0.5, 0.6, 1.1]) is None  # 1.83
    assert stop_position(rule("entropy-rel:theta=2.0,floor=0.05"), [0.001, 0.08]) is None  # 0.08 / 0.05 = 1.6
    assert stop_position(rule("entropy-rel:theta=2.0,floor=0.05"), [0.001, 0.11]) == 2  # 0.11 / 0.05 = 2.2
    assert stop_position(rule("entropy-rel:theta=0.5"), [3.0]) is None  # needs two tokens


def test_entropy_window_mean_over_last_w():
    assert stop_position(rule("entropy-window:w=2,theta=1.0"), [0.5, 1.2, 0.7]) is None  # 0.5, 0.85, 0.95
    assert stop_position(rule("entropy-window:w=2,theta=1.0"), [0.5, 1.2, 1.0]) == 3  # 1.1
    assert stop_position(rule("entropy-window:w=3,theta=1.0"), [1.5]) == 1  # shorter than w: mean so far
    with pytest.raises(ValueError, match="exceeds the observation history"):
        rule("entropy-window:w=5")


def test_entropy_pos_threshold_moves_with_position():
    # theta(t) = 1.5 - 0.25 t: 1.25, 1.0, 0.75
    assert stop_position(rule("entropy-pos:theta=1.5,alpha=-0.25"), [1.1, 0.9, 0.8]) == 3
    assert stop_position(rule("entropy-pos:theta=1.5,alpha=0.25"), [1.1, 0.9, 1.9]) is None  # 1.75, 2.0, 2.25


def test_combined_any_and_all():
    rules = "[entropy-abs:theta=1.0;fixed-k:k=3]"
    assert stop_position(rule(f"combined:mode=any,rules={rules}"), [0.1, 1.2, 0.1, 0.1]) == 2
    assert stop_position(rule(f"combined:mode=all,rules={rules}"), [0.1, 1.2, 0.1, 1.3]) == 4
    assert stop_position(rule(f"combined:mode=all,rules={rules},max=5"), [0.1] * 6) == 5


# ------------------------------------------------------------------ baselines
def test_fixed_k_and_random_k():
    for k in (1, 4, 6, 8, 10):
        assert stop_position(rule(f"fixed-k:k={k}"), n=16) == k
    a, b = rule("random-k:max_k=5,seed=3"), rule("random-k:max_k=5,seed=3")
    lengths_a = [stop_position(a, n=16) for _ in range(40)]
    assert lengths_a == [stop_position(b, n=16) for _ in range(40)]  # seeded
    assert set(lengths_a) == {1, 2, 3, 4, 5}


def test_no_spec_and_fixed_k_zero_stop_at_the_empty_draft():
    for spec in ("no-spec", "fixed-k:k=0"):
        assert rule(spec).predict(LAYOUT.encode([], 0))[0] == 1, spec
    assert rule("fixed-k:k=1").predict(LAYOUT.encode([], 0))[0] == 0


# ------------------------------------------------------------------ the field's rules
def test_svip_formula():
    # sqrt(0.15 H) > 0.3  <=>  H > 0.6
    assert stop_position(rule("svip"), [0.55, 0.59, 0.61]) == 3  # exclude: verifies the first two
    assert stop_position(rule("svip"), [0.1] * 45) == 41  # verifies 40, its cap, discarding the 41st
    assert rule("svip").max == 40 and rule("svip").acting_mode == "exclude"


def test_adaedl_bound_and_adaptation():
    policy = rule("adaedl-like")  # 1 - sqrt(0.2 H) < 0.7  <=>  H > 0.45
    assert stop_position(policy, [0.4, 0.44, 0.46]) == 3
    policy.on_verify({"accepted": 0, "drafted": 3})  # acceptance EMA 0.9 * 0.8 + 0.1 * 0 = 0.72 < 0.8
    assert policy.current == pytest.approx(0.71)
    fixed = rule("adaedl-like:adapt=0")
    fixed.on_verify({"accepted": 0, "drafted": 3})
    assert fixed.current == 0.7


def test_hf_confidence_kangaroo_llamacpp_thresholds():
    assert stop_position(rule("hf-confidence"), top1s=[0.9, 0.5, 0.39]) == 3
    assert stop_position(rule("hf-confidence"), top1s=[0.9] * 25) == 20
    assert stop_position(rule("kangaroo"), top1s=[0.9, 0.59]) == 2
    assert stop_position(rule("kangaroo"), top1s=[0.9] * 10) == 6
    assert stop_position(rule("llamacpp"), top1s=[0.8, 0.74]) == 2
    assert stop_position(rule("llamacpp"), top1s=[0.8] * 20) == 17  # exclude: verifies 16, its --draft-max
    assert rule("llamacpp:min=0").min == 0


def test_draft_verify_ema_update():
    policy = rule("draft-verify")
    assert stop_position(policy, top1s=[0.9, 0.79]) == 2
    policy.on_verify({"accepted": 0, "drafted": 2})  # matchness 0 < 0.9: candidate 0.81
    assert policy.current == pytest.approx(0.9 * 0.8 + 0.1 * 0.81)
    policy.on_verify({"accepted": 2, "drafted": 2})  # matchness 0.5 < 0.9: candidate current + 0.01
    assert policy.matchness == pytest.approx(0.5)
    high = rule("draft-verify:target=0.4")
    high.on_verify({"accepted": 2, "drafted": 2})  # matchness 0.5 >= 0.4: candidate 0.79
    assert high.current == pytest.approx(0.9 * 0.8 + 0.1 * 0.79)
    at_max = rule("draft-verify:target=0.4")
    at_max.on_verify({"accepted": 8, "drafted": 8})  # hit max: candidate unchanged
    assert at_max.current == pytest.approx(0.8)


def test_hf_heuristic_schedule_and_persistence():
    policy = rule("hf-heuristic")
    assert stop_position(policy, n=16) == 5
    policy.on_verify({"accepted": 5, "drafted": 5})
    assert stop_position(policy, n=16) == 7
    policy.on_verify({"accepted": 3, "drafted": 7})
    assert policy.current == 6
    policy.reset()
    assert policy.current == 6  # "heuristic" persists across episodes
    transient = rule("hf-heuristic:persist=0")
    transient.on_verify({"accepted": 0, "drafted": 5})
    transient.reset()
    assert transient.current == 5
    floor = rule("hf-heuristic:k=1")
    floor.on_verify({"accepted": 0, "drafted": 1})
    assert floor.current == 1


def test_hf_confidence_roc_refits_threshold():
    policy = rule("hf-confidence-roc")
    blocks = [([0.9, 0.8, 0.3], 2), ([0.95, 0.7, 0.2], 1), ([0.85, 0.6], 2)]
    for probs, accepted in blocks:
        stop_position(policy, top1s=probs)
        policy.on_verify({"accepted": accepted, "drafted": len(probs)})
    # Samples: accepted {0.9, 0.8, 0.95, 0.85, 0.6}, first rejected {0.3, 0.7} (0.2 comes after a rejection).
    # Threshold 0.6: tpr 1, fpr 1/2 -> cost 0.5, the minimum (0.8: fnr 1/5 -> 0.6; 0.3: fpr 1 -> 1).
    assert sorted(policy.probs) == pytest.approx(sorted([0.9, 0.8, 0.3, 0.95, 0.7, 0.85, 0.6]))
    assert policy.current == pytest.approx(0.6, abs=1e-6)
    assert roc_threshold([1, 0, 1], [0.2, 0.5, 0.9], 3.0) == pytest.approx(0.2)  # costs 3, 1.5, 2.5, 1
    assert roc_threshold([1, 0, 1], [0.2, 0.5, 0.9], 0.5) == pytest.approx(0.9)  # costs .5, .25, 1.25, 1


def test_bandits_prefer_the_faster_arm():
    for spec in ("bandit-ucb:arms=[fixed-k:k=1;fixed-k:k=4]", "bandit-exp3:arms=[fixed-k:k=1;fixed-k:k=4],seed=1"):
        policy = rule(spec)
        for _ in range(200):
            drafted = stop_position(policy, n=16)
            emitted = 4 if drafted == 4 else 1  # the k=4 arm emits 4 tokens in about the same time
            policy.on_verify({"accepted": drafted, "drafted": drafted, "emitted": emitted,
                              "draft_time_s": 0.01 * drafted, "verify_time_s": 0.1})
        assert policy.counts[1] > 3 * policy.counts[0], spec
        assert policy.means()[1] > policy.means()[0]


def synthetic_rollout(layout, n_blocks=60, seed=0):
    """A trace whose tokens are accepted exactly while their entropy stays below 1 nat."""
    rng = np.random.default_rng(seed)
    trace = {"layout": {"history": layout.history, "max_draft_len": layout.max_draft_len,
                        "max_new_tokens": layout.max_new_tokens, "entropy_scale": layout.entropy_scale,
                        "extra_signals": layout.extra_signals},
             "observations": [], "positions": [], "block_accepted": []}
    for _ in range(n_blocks):
        entropies = list(rng.uniform(0.0, 2.0, size=4))
        accepted = next((i for i, h in enumerate(entropies) if h > 1.0), 4)
        for t in range(1, 5):
            trace["observations"].append(layout.encode(entropies[:t], t).tolist())
            trace["positions"].append(t)
            trace["block_accepted"].append(accepted)
    return {"trace": trace}


def test_acceptance_fit_and_specdec_rule(tmp_path):
    model = fit([synthetic_rollout(PLAIN)])
    low, high = PLAIN.encode([0.2], 1), PLAIN.encode([1.8], 1)
    assert model.prob(low) > 0.8 and model.prob(high) < 0.2
    path = model.save(tmp_path / "acc.json")
    assert AcceptanceModel.load(path) == model
    policy = make_policy(f"acceptance:path={path},threshold=0.5", layout=PLAIN)
    entropies = [0.3, 0.4, 1.7, 0.2]
    survival, expected = 1.0, None
    for t in range(1, 5):
        survival *= model.prob(PLAIN.encode(entropies[:t], t))
        if expected is None and 1 - survival > 0.5:
            expected = t
    assert expected is not None and stop_position(policy, entropies, layout=PLAIN) == expected
    with pytest.raises(ValueError, match="trained on observation layout"):
        make_policy(f"acceptance:path={path}", layout=LAYOUT)
    with pytest.raises(ValueError, match="same label"):
        fit([{"trace": {**synthetic_rollout(PLAIN)["trace"], "block_accepted": [4] * 240}}])


# ------------------------------------------------------------------ specs, configs, registry
def test_specs_and_configs_round_trip():
    for row in list_policies():
        if row["name"] in NEEDS_FILES:
            continue
        policy = make_policy(row["name"])
        assert make_policy(policy.spec) == policy, row["name"]
        assert Policy.from_config(policy.config()) == policy, row["name"]
        assert policy.spec == make_policy(policy.spec).spec
    custom = make_policy("entropy-abs:max=12,theta=0.75,min=2")
    assert custom.spec == "entropy-abs:max=12,min=2,theta=0.75"
    nested = make_policy("combined:mode=all,rules=[svip:theta=0.25;llamacpp]")
    assert make_policy(nested.spec) == nested and nested.rules[0].theta == 0.25 and nested.stop_mode == "exclude"
    assert make_policy("fixed-k:6").k == 6  # a bare first value fills the first parameter
    assert make_policy("fixed-k:k=4") != make_policy("fixed-k:k=5")


def test_list_policies_describes_every_policy(capsys):
    rows = {row["name"]: row for row in list_policies()}
    assert set(rows) == set(POLICIES)
    for name in ("entropy-abs", "entropy-rel", "entropy-window", "entropy-pos", "combined", "fixed-k", "random-k",
                 "no-spec", "oracle-first-reject", "oracle-dp", "hf-confidence", "hf-confidence-roc", "hf-heuristic",
                 "svip", "adaedl-like",
                 "draft-verify", "kangaroo", "llamacpp", "ppo", "bandit-ucb", "bandit-exp3", "acceptance"):
        assert rows[name]["description"], name
    assert {p["name"]: p["default"] for p in rows["svip"]["params"]} == {"gamma": "0.15", "theta": "0.3",
                                                                         "min": "0", "max": "40"}
    assert rows["oracle-first-reject"]["privileged"] and rows["kangaroo"]["requires_extra_signals"]
    assert (rows["svip"]["stop_mode"], rows["hf-confidence"]["stop_mode"], rows["entropy-abs"]["stop_mode"]) == (
        "exclude", "include", None)
    assert policies_main([]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in rows)
    assert policies_main(["--name", "svip"]) == 0 and "2411.18462" in capsys.readouterr().out


@pytest.mark.parametrize("spec, message", [
    ("nonsense", "unknown policy 'nonsense'; valid: entropy-abs"),
    ("entropy-abs:bogus=1", "unknown parameter.*bogus.*valid parameters: theta=1.0"),
    ("entropy-abs:theta=-1", "theta=-1.0 is out of range"),
    ("entropy-abs:min=5,max=3", "min=5 > max=3"),
    ("fixed-k:k=-1", "k=-1 is out of range.*k=4 \\(int in \\[0, inf\\]\\)"),
    ("fixed-k:k=2.5", "must be a finite int"),
    ("svip:theta=abc", "must be a finite float"),
    ("hf-confidence:threshold=1.5", "out of range"),
    ("combined:mode=some", "mode must be 'any' or 'all'"),
    ("combined:rules=svip", "list of specs in brackets"),
    ("combined:rules=[svip;nope]", "unknown policy 'nope'"),
    ("bandit-ucb:arms=[fixed-k:k=2;svip]", "stop in different modes \\(exclude, include\\)"),
    ("combined:rules=[hf-confidence;llamacpp]", "stop in different modes"),
    ("fixed-k:k=4,k=5", "given twice"),
    ("fixed-k:k=4,6", "only the first value may omit its name"),
    ("ppo:missing.zip", "no model file"),
    ("acceptance:path=missing.json", "no acceptance model"),
    ("", "non-empty string"),
    ("combined:rules=[svip", "unbalanced"),
])
def test_bad_specs_give_errors_listing_what_is_valid(spec, message):
    with pytest.raises(ValueError, match=message):
        make_policy(spec)


def test_layout_requirements():
    with pytest.raises(ValueError, match="extra_signals=True"):
        make_policy("kangaroo", layout=PLAIN)
    with pytest.raises(ValueError, match="extra_signals=True"):
        make_policy("combined:rules=[entropy-abs;kangaroo]", layout=PLAIN)
    with pytest.raises(ValueError, match="has no observation layout"):
        make_policy("svip").predict(obs_at([0.1]))
    with pytest.raises(ValueError, match="needs the env"):
        make_policy("oracle-first-reject", layout=LAYOUT)


def test_batched_predict_like_sb3():
    policy = rule("entropy-abs:theta=1.0")
    batch = np.stack([obs_at([0.2]), obs_at([0.2, 1.4])])
    actions, state = policy.predict(batch, episode_start=np.array([True, False]))
    assert actions.tolist() == [0, 1] and state is None
    with pytest.raises(ValueError, match="one episode at a time"):
        rule("random-k").predict(batch)
