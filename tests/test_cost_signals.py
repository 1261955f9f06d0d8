"""The cost-aware observation (`cost_signals=True`): what drafting and verifying cost here, read from the clock at
the block's context, and how often the drafter has been right on this prompt. The vector replay env's copy of the
same signals is checked against the replay env in tests/test_replay.py."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from ebsd_env.envs.ebsd import EBSDEnv
from ebsd_env.envs.observation import ACCEPTANCE_EMA, ACCEPTANCE_PRIOR, COST_SIGNALS
from ebsd_env.fingerprint import env_fingerprint, env_requirements
from ebsd_env.timing.cost_model import CostModel

STEEP = CostModel(draft_s=0.02, verify_points=((1, 0.1), (2, 0.15), (3, 0.17), (9, 0.3)), source="toy")
GROWING = CostModel(draft_s=0.02, verify_points=((1, 0.1), (2, 0.15), (3, 0.17), (9, 0.3)),
                    context_points=(4, 40), verify_grid=((0.1, 0.15, 0.17, 0.3), (0.2, 0.26, 0.3, 0.5)),
                    draft_grid=(0.02, 0.06), source="toy, context-aware")
PROMPTS = ["the cat sat on the mat", "hello world, how are you"]


def make(pair, costs, **kwargs):
    return EBSDEnv(pair, prompts=PROMPTS, clock="model", cost_model=costs, max_draft_len=6, max_new_tokens=24,
                   cost_signals=True, **kwargs)


@pytest.mark.parametrize("costs", [STEEP, GROWING])
def test_cost_signals_read_the_clock_at_the_blocks_context(noisy_pair, costs):
    env = make(noisy_pair, costs)
    layout = env.observation_layout
    assert layout.size == EBSDEnv(noisy_pair, prompts=PROMPTS, clock="model", cost_model=costs, max_draft_len=6,
                                  max_new_tokens=24).observation_layout.size + len(COST_SIGNALS)
    obs, _ = env.reset(seed=0)
    ema, blocks = ACCEPTANCE_PRIOR, 0
    for _ in range(40):
        view = layout.decode(obs)
        context = len(env.decoder.tokens)
        n = len(env.decoder.draft_steps)
        one = costs.verify_cost(1, context)
        assert view.draft_cost_ratio == pytest.approx(min(costs.draft_cost(context) / one, 1.0), rel=1e-6)
        marginal = (costs.verify_cost(n + 2, context) - costs.verify_cost(n + 1, context)) / one
        assert view.marginal_verify_cost == pytest.approx(min(marginal, 1.0), rel=1e-6)
        assert view.acceptance_ema == pytest.approx(ema, rel=1e-6)
        assert view.block_context == context
        assert view.output_position == pytest.approx(len(env.decoder.new_tokens) / 24, rel=1e-6)
        obs, _, term, trunc, info = env.step(int(n >= 2))  # blocks of two drafted tokens
        if info.get("verified") and info["drafted"]:
            ema = (1.0 - ACCEPTANCE_EMA) * ema + ACCEPTANCE_EMA * info["accepted"] / info["drafted"]
            blocks += 1
        if term or trunc:
            break
    assert blocks >= 3


def test_a_context_aware_clock_shows_costs_that_grow_with_the_context(noisy_pair):
    env = make(noisy_pair, GROWING)
    obs, _ = env.reset(seed=0)
    ratios = [env.observation_layout.decode(obs).draft_cost_ratio]
    done = False
    while not done:
        obs, _, term, trunc, _ = env.step(1)
        done = term or trunc
        if not done:
            ratios.append(env.observation_layout.decode(obs).draft_cost_ratio)
    assert len(ratios) > 5 and ratios[-1] > ratios[0]  # drafting grows 3x over the context points, verifying 2x


def test_cost_signals_are_fingerprinted_and_old_layouts_keep_their_fingerprint(noisy_pair):
    plain = EBSDEnv(noisy_pair, prompts=PROMPTS, clock="model", cost_model=STEEP)
    assert "cost_signals" not in env_fingerprint(plain)["observation"]
    aware = make(noisy_pair, STEEP)
    fingerprint = env_fingerprint(aware)
    assert fingerprint["observation"]["cost_signals"] is True
    assert env_requirements(fingerprint)["cost_signals"] is True
    assert "cost_signals" not in env_requirements(env_fingerprint(plain))


def test_the_env_with_cost_signals_passes_both_checkers(noisy_pair):
    env = make(noisy_pair, STEEP)
    gym_check_env(env, skip_render_check=True)
    sb3_check_env(make(noisy_pair, STEEP), warn=False)
    assert gym.make("EBSD-v1", pair=noisy_pair, prompts=PROMPTS, clock="model", cost_model=STEEP,
                    cost_signals=True).observation_space.shape == env.observation_space.shape
    assert np.all(env.reset(seed=1)[0] <= 1.0)
