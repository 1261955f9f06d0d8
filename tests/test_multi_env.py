"""EBSD-Multi-v1 on a tiny three-drafter pair: checkers, greedy outputs, per-drafter pricing, signals."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import ebsd_env  # noqa: F401  (registers the env ids)
from ebsd_env.decoding.decoder import SpeculativeDecoder
from ebsd_env.decoding.models import derive_drafter
from ebsd_env.decoding.multi import multi_pair, sub_pairs
from ebsd_env.envs.multi import FIRST_DRAFTER, MAX_SUFFIX, longest_repeated_suffix
from ebsd_env.timing.cost_model import CostModel

PROMPTS = ["hello world, hello world, hello", "the cat sat on the mat. the cat", "abc abc abc abc"]
VERIFY = ((1, 0.1), (2, 0.105), (9, 0.14), (17, 0.18))
# Three different drafting costs, so a step priced with the wrong drafter's cost shows.
COSTS = [CostModel(draft_s=s, verify_points=VERIFY, source="toy") for s in (0.02, 0.035, 0.002)]


@pytest.fixture(scope="module")
def tiny_multi(noisy_pair):
    drafters = [noisy_pair.drafter, derive_drafter(noisy_pair.verifier, "int4"),
                derive_drafter(noisy_pair.verifier, "ngram")]
    return multi_pair(noisy_pair, drafters, ["noisy", "int4", "ngram"])


def make(pair, **kwargs):
    kwargs.setdefault("prompts", PROMPTS)
    kwargs.setdefault("max_new_tokens", 24)
    kwargs.setdefault("max_draft_len", 6)
    kwargs.setdefault("clock", "model")
    kwargs.setdefault("cost_model", COSTS)
    return gym.make("EBSD-Multi-v1", pair=pair, **kwargs)


@pytest.mark.parametrize("cost_signals", [False, True])
def test_checkers_pass_without_warnings(tiny_multi, cost_signals):
    env = make(tiny_multi, max_new_tokens=12, cost_signals=cost_signals)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gym_check_env(env.unwrapped)
        sb3_check_env(env.unwrapped, warn=True)
    assert [str(w.message) for w in caught] == []
    assert env.action_space.n == 3 + FIRST_DRAFTER
    assert gym.spec("EBSD-Multi-v1").nondeterministic and not gym.spec("EBSD-Multi-Replay-v1").nondeterministic
    assert env.observation_space.shape == (env.unwrapped.base_size + 4 * 3 + 2,)
    assert env.unwrapped.observation_layout.cost_signals == cost_signals


def test_cost_signals_price_the_drafting_drafter_and_the_verifiers_curve(tiny_multi):
    """With cost signals, the draft cost ratio is the drafting drafter's step over verify(1) and the marginal
    verification cost the verifier's curve at the draft's length (the multi clock's prices)."""
    env = make(tiny_multi, cost_signals=True).unwrapped
    c = env.observation_layout.cost_index
    env.reset(seed=0)
    for drafter in range(3):
        obs, *_ = env.step(FIRST_DRAFTER + drafter)  # one token drafted by `drafter`
        assert obs[c] == pytest.approx(COSTS[drafter].draft_s / 0.1, rel=1e-6)
        assert obs[c + 1] == pytest.approx((COSTS[0].verify_cost(3) - COSTS[0].verify_cost(2)) / 0.1, rel=1e-5)
        obs, *_ = env.step(1)  # verify
        assert obs[c + 1] == pytest.approx((0.105 - 0.1) / 0.1, rel=1e-5)  # at a block start: one more than none


def test_greedy_output_and_pricing_under_random_choices(tiny_multi):
    """Random drafter choices, continues and stops: the output is the verifier's, every drafting step costs its
    drafter's step, every verification the verifier's curve, and the return is (N - ρT) / s."""
    env = make(tiny_multi, stop_mode="exclude").unwrapped
    rng = np.random.default_rng(1)
    seen = set()
    for index in range(len(PROMPTS)):
        obs, info = env.reset(options={"prompt_index": index})
        total, time_s, done = 0.0, 0.0, False
        while not done:
            action = int(rng.integers(env.action_space.n))
            drafting = not env.decoder.draft_steps and action != 1
            obs, reward, terminated, truncated, info = env.step(action)
            assert env.observation_space.contains(obs)
            total += reward
            done = terminated or truncated
            if not info["verified"]:
                expected_drafter = action - FIRST_DRAFTER if drafting and action >= FIRST_DRAFTER else info["drafter"]
                assert info["drafter"] == expected_drafter
                assert info["step_s"] == pytest.approx(COSTS[info["drafter"]].draft_s, rel=1e-12)
                seen.add(info["drafter"])
            time_s += info["step_s"]
        stats = info["episode_stats"]
        expected = SpeculativeDecoder(sub_pairs(tiny_multi)[0]).generate(
            [{"role": "user", "content": PROMPTS[index]}], max_new_tokens=24).token_ids
        assert stats["output_ids"] == expected
        assert stats["decode_s"] == pytest.approx(time_s, rel=1e-12)
        rho = 1 / COSTS[0].verify_cost(1)
        assert total == pytest.approx((stats["new_tokens"] - rho * time_s) / env.reward_scale, rel=1e-9)
        assert sum(stats["drafter_blocks"]) <= stats["blocks"]
    assert seen == {0, 1, 2}


def test_action_semantics_masks_and_per_drafter_signals(tiny_multi):
    env = make(tiny_multi).unwrapped
    env.reset(options={"prompt_index": 0})
    names = env.multi_fields()
    assert len(names) == env.observation_space.shape[0] - env.base_size
    assert env.action_masks().tolist() == [True] * 5
    obs, _, _, _, info = env.step(FIRST_DRAFTER + 1)  # int4 drafts the block's first token
    assert env.decoder.current == 1 and len(env.decoder.draft_steps) == 1 and info["drafter"] == 1
    assert env.action_masks().tolist() == [True, True, False, False, False]
    obs, _, _, _, info = env.step(FIRST_DRAFTER + 2)  # inside a block: continue with int4, not a switch
    assert info["forced"] == "drafter_fixed" and env.decoder.current == 1 and len(env.decoder.draft_steps) == 2
    extra = dict(zip(names, obs[env.base_size:], strict=True))
    assert extra["selected:int4"] == 1 and extra["selected:noisy"] == 0 and extra["tried:int4"] == 0
    obs, _, _, _, info = env.step(1)  # stop: verify int4's two tokens
    extra = dict(zip(names, obs[env.base_size:], strict=True))
    assert extra["tried:int4"] == 1 and extra["tried:ngram"] == 0
    assert extra["acceptance:int4"] == pytest.approx(info["accepted"] / info["drafted"])
    ratios = [COSTS[i].draft_s / COSTS[0].verify_cost(1) for i in range(3)]
    assert [extra[f"cost_ratio:{n}"] for n in ("noisy", "int4", "ngram")] == pytest.approx(ratios, rel=1e-6)
    suffix = longest_repeated_suffix(env.decoder.tokens)
    assert extra["lookup_suffix"] == pytest.approx(min(suffix / MAX_SUFFIX, 1.0))
    assert extra["lookup_has_proposal"] == float(suffix >= 1)
    obs, _, _, _, info = env.step(0)  # continue at a block start: the last drafter (int4) again
    assert env.decoder.current == 1 and info["drafter"] == 1
    obs, _, _, _, info = env.step(1)
    env.step(1)  # stop at a block start: the verifier alone, no drafter
    assert env.decoder.draft_steps == [] and env.episode_stats()["drafter_blocks"] == [0, 2, 0]


def test_longest_repeated_suffix_matches_brute_force():
    rng = np.random.default_rng(0)

    def brute(seq, limit):
        best = 0
        for n in range(1, min(limit, len(seq) - 1) + 1):
            suffix = seq[len(seq) - n:]
            if any(seq[s:s + n] == suffix for s in range(0, len(seq) - n)):
                best = n
        return best

    for _ in range(300):
        seq = rng.integers(0, 3, size=int(rng.integers(0, 25))).tolist()
        assert longest_repeated_suffix(seq, 5) == brute(seq, 5), seq


def test_bad_input(tiny_multi, noisy_pair):
    with pytest.raises(ValueError, match="needs several drafters"):
        gym.make("EBSD-Multi-v1", pair=noisy_pair, prompts=PROMPTS, clock="model", cost_model=COSTS[:1])
    with pytest.raises(ValueError, match="lack drafter"):
        make(tiny_multi, cost_model={"drafters": {"noisy": COSTS[0].to_dict()}})
    with pytest.raises(ValueError, match="3 drafters"):
        make(tiny_multi, cost_model=COSTS[:2])
    env = make(tiny_multi).unwrapped
    env.reset(options={"prompt_index": 0})
    with pytest.raises(ValueError, match="Discrete\\(5\\)"):
        env.step(5)


@pytest.mark.parametrize("clock", ["wall", "model"])
def test_the_constructor_does_no_timing(tiny_multi, monkeypatch, clock):
    """Making EBSD-Multi-v1 calibrates no drafter; the first reset makes the clock, one calibration per drafter,
    and later resets reuse it."""
    from ebsd_env.timing import calibration

    def refuse(*args, **kwargs):
        raise AssertionError("the multi env's constructor calibrated a pair")

    monkeypatch.setattr(calibration, "calibrate", refuse)
    monkeypatch.setattr(calibration, "_CACHE", {})  # no calibration left over from another test
    env = make(tiny_multi, clock=clock, cost_model=None).unwrapped
    calls = []
    monkeypatch.setattr(calibration, "calibrate",
                        lambda pair, temperature, top_p: calls.append(pair.drafter_name) or COSTS[len(calls) - 1])
    env.reset(options={"prompt_index": 0})
    assert calls == ["noisy", "int4", "ngram"]
    assert env.multi_clock.costs == tuple(COSTS) and env.multi_clock.kind == clock
    info = env.step(FIRST_DRAFTER + 2)[-1]  # prompt lookup drafts: on the model clock, at its own calibration
    if clock == "model":
        assert info["step_s"] == pytest.approx(COSTS[2].draft_s, rel=1e-12)
    env.reset(options={"prompt_index": 1})
    assert calls == ["noisy", "int4", "ngram"]
    with pytest.raises(ValueError, match="clock='profile' needs cost profiles"):  # bad input: still at once
        make(tiny_multi, clock="profile", cost_model=None)


def test_the_envs_own_handling_of_an_action_is_not_charged_to_the_decision(tiny_multi):
    """On the wall clock a decision is the time from one observation to the next `step` call; the multi env's
    own work on the action (checking it, selecting the drafter) comes after and is not the policy's. The
    action check sleeps 5 ms here: the decisions stay far below it, while a policy that sleeps 5 ms is charged."""
    import time

    env = make(tiny_multi, clock="wall").unwrapped
    contains = env.action_space.contains

    def slow_contains(action):
        time.sleep(0.005)
        return contains(action)

    def episode(policy_sleep_s: float) -> dict:
        env.reset(seed=0, options={"prompt_index": 0})
        while True:
            time.sleep(policy_sleep_s)
            action = FIRST_DRAFTER if not env.decoder.draft_steps else (1 if len(env.decoder.draft_steps) >= 2 else 0)
            _, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                return info["episode_stats"]

    env.action_space.contains = slow_contains
    try:
        env_work = episode(0.0)
        policy_work = episode(0.005)
    finally:
        del env.action_space.contains
    assert env_work["decide_s"] / env_work["decisions"] < 0.002
    assert policy_work["decide_s"] / policy_work["decisions"] >= 0.005
