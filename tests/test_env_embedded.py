"""EBSD-v1 on the embedded SmolLM2 pair (slow): the API checkers and greedy exactness, kept short."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import ebsd_env  # noqa: F401  (registers the env ids)
from ebsd_env.decoding.decoder import SpeculativeDecoder

pytestmark = pytest.mark.slow

PROMPTS = [{"id": "sky", "category": "qa", "prompt": "Why is the sky blue? One sentence."},
           {"id": "code", "category": "code", "turns": ["Write a Python one-liner that sums a list.", "Explain it."]}]
# Checker warnings tolerated as not being defects of the env: none so far (add one only with its reason).
WARNING_WHITELIST: tuple[str, ...] = ()



@pytest.mark.parametrize("env_id", ["EBSD-v1", "EBSD-Deterministic-v1"])
def test_checkers_pass_on_the_embedded_pair(embedded_pair, env_id):
    env = gym.make(env_id, pair=embedded_pair, prompts=PROMPTS, max_new_tokens=6)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # The render and close checks build new envs through `env.spec.make`, which deep-copies the spec's
        # kwargs, pair included (seconds and a second copy of the weights); tests/test_env.py runs them on a
        # tiny pair.
        gym_check_env(env.unwrapped, skip_render_check=True, skip_close_check=True)
        sb3_check_env(env.unwrapped, warn=True)
    assert [str(w.message) for w in caught if not any(s in str(w.message) for s in WARNING_WHITELIST)] == []


def test_greedy_output_through_the_env_equals_verifier_alone(embedded_pair):
    env = gym.make("EBSD-Deterministic-v1", pair=embedded_pair, prompts=PROMPTS, max_new_tokens=16)
    rng = np.random.default_rng(0)
    env.reset(seed=0, options={"prompt_index": 1})
    while True:
        *_, terminated, truncated, info = env.step(int(rng.integers(2)))
        if terminated or truncated:
            break
    prompt = [{"role": "user", "content": PROMPTS[1]["turns"][0]}]
    expected = SpeculativeDecoder(embedded_pair, max_new_tokens=16).generate(prompt).token_ids
    assert info["episode_stats"]["output_ids"] == expected
    assert info["episode_stats"]["blocks"] < 16  # the drafter really contributed tokens
