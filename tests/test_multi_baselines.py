"""Baselines over drafters on EBSD-Multi (static, cascade, UCB, full information), the multi vector env, PPO."""

from __future__ import annotations

import numpy as np
import pytest

import ebsd_env  # noqa: F401  (registers the env ids)
from ebsd_env.decoding.models import derive_drafter
from ebsd_env.decoding.multi import multi_pair
from ebsd_env.envs.multi import FIRST_DRAFTER
from ebsd_env.replay.multi import MultiReplayEnv, MultiTraceSet
from ebsd_env.replay.multi_vector import MultiReplayVectorEnv
from ebsd_env.replay.record import record_multi
from ebsd_env.timing.cost_model import CostModel

ROWS = [{"id": f"p{i}", "category": c, "prompt": p} for i, (c, p) in enumerate(
    [("chat", "hello world, hello world, hello"), ("code", "abc abc abc abc"), ("chat", "the cat sat on the mat"),
     ("code", "def f(x): return x; def f(x): return x; def")])]
VERIFY = ((1, 1.0), (2, 1.125), (5, 1.5), (9, 2.0), (17, 3.0))
COSTS = [CostModel(draft_s=s, verify_points=VERIFY, source="toy") for s in (0.25, 0.375, 0.0625)]
NAMES = ["noisy", "int4", "ngram"]


def tiny_multi_pair(noisy_pair):
    drafters = [noisy_pair.drafter, derive_drafter(noisy_pair.verifier, "int4"),
                derive_drafter(noisy_pair.verifier, "ngram")]
    return multi_pair(noisy_pair, drafters, NAMES)


@pytest.fixture(scope="module")
def recorded(noisy_pair, tmp_path_factory):
    out = tmp_path_factory.mktemp("multi-traces")
    record_multi(tiny_multi_pair(noisy_pair), ROWS, out, max_draft_len=5, max_new_tokens=24, shard_size=2,
                 calibrate_clock=False, progress=False)
    return out


# ---------------------------------------------------------------------------------------------- the vector env
@pytest.mark.parametrize("stop_mode", ["include", "exclude"])
@pytest.mark.parametrize("extra_signals", [False, True])
def test_vector_env_steps_exactly_as_the_multi_replay_env(recorded, stop_mode, extra_signals):
    multi = MultiTraceSet.load(recorded)
    count = len(multi)
    kwargs = dict(cost_model=COSTS, stop_mode=stop_mode, extra_signals=extra_signals, max_draft_len=4,
                  max_new_tokens=22)
    vec = MultiReplayVectorEnv(multi, num_envs=count, **kwargs)
    envs = [MultiReplayEnv(multi, **kwargs) for _ in range(count)]
    assert vec.single_observation_space == envs[0].observation_space
    rng = np.random.default_rng(0 if stop_mode == "include" else 1)
    checked = {"steps": 0, "switches": 0, "ends": 0}
    for _ in range(3):  # episodes after the first also start from a state left by the previous one
        vec_obs, _ = vec.reset(options={"trace_indices": list(range(count))})
        for i, env in enumerate(envs):
            obs, _ = env.reset(options={"prompt_index": i})
            assert np.array_equal(obs, vec_obs[i])
        done = np.zeros(count, dtype=bool)
        while not done.all():
            actions = rng.choice(vec.single_action_space.n, size=count, p=[0.45, 0.25, 0.1, 0.1, 0.1])
            checked["switches"] += int(((actions >= FIRST_DRAFTER) & (vec.n == 0)).sum())
            vec_obs, vec_rewards, vec_term, vec_trunc, vec_info = vec.step(actions)
            for i, env in enumerate(envs):
                if done[i]:
                    continue
                obs, reward, term, trunc, info = env.step(int(actions[i]))
                checked["steps"] += 1
                expected = vec_info["final_obs"][i] if term or trunc else vec_obs[i]
                np.testing.assert_array_equal(obs, expected)
                assert reward == pytest.approx(vec_rewards[i], abs=1e-12)
                assert (term, trunc) == (vec_term[i], vec_trunc[i])
                if term or trunc:
                    done[i] = True
                    checked["ends"] += 1
                    stats, final = info["episode_stats"], vec_info["final_info"]
                    assert stats["decode_s"] == pytest.approx(final["decode_s"][i], rel=1e-12)
                    assert stats["new_tokens"] == final["new_tokens"][i] and final["trace_index"][i] == i
                    assert stats["drafter_blocks"] == [final[f"drafter_blocks_{d}"][i] for d in range(3)]
    assert checked["steps"] > 100 and checked["switches"] > 20 and checked["ends"] == 3 * count


def test_vector_env_refuses_bad_actions_and_indices(recorded):
    vec = MultiReplayVectorEnv(recorded, num_envs=2, cost_model=COSTS)
    vec.reset(seed=0)
    with pytest.raises(ValueError, match="actions in"):
        vec.step([0, 5])
    with pytest.raises(ValueError, match="trace_indices"):
        vec.reset(options={"trace_indices": [0, len(ROWS)]})
