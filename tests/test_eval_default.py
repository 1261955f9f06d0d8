"""The default `ebsd eval` (no --drafter, no --policies): on the CPU, the multi-drafter pair int4+feature+ngram with
the single-drafter default policies and the multi-drafter ones; every explicit choice keeps its meaning."""

from __future__ import annotations

import pytest

from eval.run import (
    DEFAULT_MULTI_DRAFTERS,
    DEFAULT_MULTI_POLICIES,
    DEFAULT_POLICIES,
    EvalConfig,
    build_plan,
    check_policies,
    with_default_pair,
)
from eval.run.checks import validate

SHIPPED_MULTI = "ppo:policies/trained/ppo_multi.zip"


def test_the_default_run_is_the_multi_pair_with_both_kinds_of_policy():
    config, note = with_default_pair(EvalConfig())
    assert config.drafter == DEFAULT_MULTI_DRAFTERS == "int4+feature+ngram"
    assert config.policies == DEFAULT_POLICIES + DEFAULT_MULTI_POLICIES
    assert "int4+feature+ngram" in note and "int4" in note
    validate(config)  # nothing EBSD-Multi-v1 refuses (no draft floor, no one-drafter cost model)
    plan = build_plan(config)
    specs = [variant.spec for variant in plan.variants]
    assert specs == list(DEFAULT_POLICIES + DEFAULT_MULTI_POLICIES)
    probes = check_policies(plan)
    from policies.multi import MultiPolicy

    # Both kinds: the shipped PPO was trained on EBSD-Multi (its env needs the multi-only settings), the cascade
    # is a multi-drafter rule; the single-drafter defaults are neither.
    assert "acceptance_decay" in probes[SHIPPED_MULTI].env_requirements()
    assert probes[SHIPPED_MULTI].env_requirements()["max_draft_len"] == 16
    assert isinstance(probes["multi-cascade"], MultiPolicy)
    for spec in DEFAULT_POLICIES:
        assert not isinstance(probes[spec], MultiPolicy) and "acceptance_decay" not in probes[spec].env_requirements()


@pytest.mark.parametrize("flags", [
    {"drafter": "int4"}, {"drafter": "feature"}, {"drafter": "int4+feature+ngram"}, {"drafter": "int4+ngram"},
    {"policies": ("fixed-k:k=4",)}, {"policies": ("multi-cascade",)}, {"verifier": "HuggingFaceTB/SmolLM2-360M"},
    {"device": "cuda"}, {"pair": "tiny-noisy"}, {"ablation": "length"}, {"min_draft_len": 1},
    {"drafters": ("int4", "feature")}])
def test_an_explicit_choice_keeps_its_meaning(flags, tmp_path):
    config = EvalConfig(**flags)
    chosen, note = with_default_pair(config)
    assert chosen is config and note is None
    if "policies" not in flags and "ablation" not in flags:  # the default list stays the single-drafter one
        assert [variant.spec for variant in build_plan(chosen).variants] == list(DEFAULT_POLICIES)


def test_a_one_drafter_cost_model_keeps_int4_and_a_multi_one_the_default(tmp_path):
    from ebsd_env.timing.cost_model import CostModel
    from ebsd_env.timing.multi_clock import MultiClock

    costs = CostModel(draft_s=0.01, verify_points=((1, 0.04), (2, 0.05)), source="toy")
    single, multi = tmp_path / "single.json", tmp_path / "multi.json"
    costs.save(single)
    MultiClock("model", ("int4", "feature", "ngram"), (costs, costs, costs)).save(multi)
    assert with_default_pair(EvalConfig(cost_model=str(single)))[0].drafter is None
    assert with_default_pair(EvalConfig(cost_model=str(multi)))[0].drafter == DEFAULT_MULTI_DRAFTERS


@pytest.mark.slow
def test_the_shipped_multi_ppo_binds_on_the_default_pair():
    """`ppo:policies/trained/ppo_multi.zip` binds to EBSD-Multi-v1 on int4+feature+ngram (its fingerprint: the pair
    and each drafter's hash, the observation layout, the stop mode and draft bounds) without --allow-mismatch."""
    import gymnasium as gym

    import ebsd_env  # noqa: F401  (registers the env ids)
    from ebsd_env.decoding.models import cached_pair
    from ebsd_env.fingerprint import FingerprintMismatch
    from ebsd_env.timing.cost_model import CostModel
    from ebsd_env.timing.multi_clock import MultiClock
    from policies import make_policy

    probe = make_policy(SHIPPED_MULTI)
    costs = CostModel(draft_s=0.01, verify_points=((1, 0.04), (2, 0.05), (17, 0.07)), source="toy")
    pair = cached_pair(DEFAULT_MULTI_DRAFTERS)

    def env(**changed):
        return gym.make("EBSD-Multi-v1", pair=pair, prompts=["hello"], clock="model", max_new_tokens=8,
                        cost_model=MultiClock("model", tuple(pair.drafter.names), (costs,) * 3),
                        **{**probe.env_requirements(), **changed})

    # The run's prompts: the 2 per category the feature drafter held out (none it trained on), 14 in all.
    from ebsd_env.decoding.multi import sub_pairs
    from ebsd_env.prompts import drafter_heldout_ids, drafter_seen_ids, heldout_prompts

    prompts = heldout_prompts(drafter_heldout_ids(pair), limit_per_category=2)
    assert len(prompts) == 14 and not {row["id"] for row in prompts} & drafter_seen_ids(sub_pairs(pair)[1])
    policy = make_policy(SHIPPED_MULTI, env=env())  # refused in one line if any binding part differed
    assert "allow_mismatch=0" in policy.spec
    with pytest.raises(FingerprintMismatch) as error:  # the check is live: one binding part changed is refused
        make_policy(SHIPPED_MULTI, env=env(max_draft_len=8))
    assert "max_draft_len" in str(error.value) and "\n" not in str(error.value)
