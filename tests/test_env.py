"""EBSD-v1 on tiny config-built pairs: API checks, determinism, reward ranking, exactness, bad input."""

from __future__ import annotations

import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import SubprocVecEnv

import ebsd_env
from ebsd_env.decoding import models
from ebsd_env.decoding.decoder import SpeculativeDecoder
from ebsd_env.envs.ebsd import EBSDEnv
from ebsd_env.timing.calibration import cached_cost_model
from ebsd_env.timing.cost_model import CostModel

PROMPTS = [
    {"id": "a", "category": "chat", "prompt": "hello there, how are you?"},
    {"id": "b", "category": "chat", "turns": ["the cat sat on the mat", "and then?"]},
    "count 1 2 3 4 5",
]
# Checker warnings tolerated as not being defects of the env: none so far (add one only with its reason).
WARNING_WHITELIST: tuple[str, ...] = ()
# Fixed costs for constructed cases: drafting costs 1/4 of a verification, verifying k tokens grows slowly.
TOY_COSTS = CostModel(draft_s=0.025, verify_points=((1, 0.1), (2, 0.105), (9, 0.14), (17, 0.18)), source="toy")



def make(pair, **kwargs) -> EBSDEnv:
    kwargs.setdefault("prompts", PROMPTS)
    kwargs.setdefault("max_new_tokens", 24)
    kwargs.setdefault("max_draft_len", 6)
    return gym.make(kwargs.pop("id", "EBSD-Deterministic-v1"), pair=pair, **kwargs)


def rollout(env, actions, seed=0, options=None):
    """Run one episode; `actions` is a callable (step index, obs) -> action. Returns per-step records."""
    obs, info = env.reset(seed=seed, options=options)
    records = [(obs, None, False, False, info)]
    t = 0
    while True:
        obs, reward, terminated, truncated, info = env.step(actions(t, obs))
        records.append((obs, reward, terminated, truncated, info))
        t += 1
        if terminated or truncated:
            return records


def strip_wall(info: dict) -> dict:
    """Info without the measured (``wall_``) entries, which vary from run to run under any clock."""
    out = {k: v for k, v in info.items() if not k.startswith("wall_")}
    if "episode_stats" in out:
        out["episode_stats"] = strip_wall(out["episode_stats"])
    return out


def assert_same_records(a, b):
    assert len(a) == len(b)
    for (o1, r1, te1, tr1, i1), (o2, r2, te2, tr2, i2) in zip(a, b, strict=True):
        np.testing.assert_array_equal(o1, o2)
        assert (r1, te1, tr1) == (r2, te2, tr2)
        assert strip_wall(i1) == strip_wall(i2)


def random_actions(seed):
    rng = np.random.default_rng(seed)
    return lambda t, obs: int(rng.integers(2))


def fixed_k(k, env):
    """Stop once the draft holds k tokens (verifies k in include mode)."""
    layout = env.unwrapped.observation_layout
    return lambda t, obs: int(layout.decode(obs).position >= k)


def run_checkers(env):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gym_check_env(env.unwrapped)
        sb3_check_env(env.unwrapped, warn=True)
    unexpected = [str(w.message) for w in caught if not any(s in str(w.message) for s in WARNING_WHITELIST)]
    assert unexpected == []


# ---------------------------------------------------------------------------------------------- API checks


@pytest.mark.parametrize("env_id", ["EBSD-v1", "EBSD-Deterministic-v1"])
def test_checkers_pass_without_warnings(noisy_pair, env_id):
    env = make(noisy_pair, id=env_id, max_new_tokens=12)
    run_checkers(env)
    assert gym.spec(env_id).nondeterministic is (env_id == "EBSD-v1")


def test_reachable_by_module_prefix(noisy_pair):
    env = gym.make("ebsd_env:EBSD-v1", pair=noisy_pair, prompts=PROMPTS, cost_model=TOY_COSTS)
    assert isinstance(env.unwrapped, EBSDEnv) and env.unwrapped.clock_kind == "wall"


def test_extra_signals_layout(noisy_pair):
    env = make(noisy_pair, extra_signals=True, history=3, temperature=1.0)
    obs, _ = env.reset(seed=0, options={"prompt_index": 0})
    layout = env.unwrapped.observation_layout
    assert obs.shape == (2 * 3 + 7,) == env.observation_space.shape
    assert layout.decode(obs).position == 0 and layout.decode(obs).token_prob == 0.0  # the empty draft
    seen_acceptance, token_below_top1 = set(), False
    for t in range(40):
        obs, _, terminated, truncated, info = env.step(int(t % 3 == 2))
        if terminated or truncated:
            break
        view = layout.decode(obs)
        assert view.position == info["position"]
        if view.position:
            assert view.entropies[-1] == pytest.approx(info["entropy"], rel=1e-5)
            assert view.top1_prob == pytest.approx(info["top1_prob"], rel=1e-5)
            assert view.token_prob == pytest.approx(info["token_prob"], rel=1e-5)
            token_below_top1 |= info["token_prob"] < info["top1_prob"] - 1e-6  # sampled: not always the top-1
        assert view.generated == info["generated"]
        if info["verified"]:
            assert view.prev_acceptance == pytest.approx(info["accepted"] / max(info["drafted"], 1), abs=1e-6)
            seen_acceptance.add(round(view.prev_acceptance, 3))
    assert token_below_top1 and len(seen_acceptance) > 1


# ---------------------------------------------------------------------------------------------- episodes


def test_episode_info_and_totals(noisy_pair):
    env = make(noisy_pair, id="EBSD-v1", cost_model=TOY_COSTS)
    records = rollout(env, random_actions(1))
    rewards = [r for _, r, *_ in records[1:]]
    final = records[-1][4]
    stats = final["episode_stats"]
    assert stats["new_tokens"] == len(stats["output_ids"]) > 0
    assert sum(stats["accepted_lengths"]) == stats["accepted"] <= stats["drafted"] == sum(stats["draft_lengths"])
    for key in ("tokens_per_s", "acceptance_rate", "mean_accepted_tokens", "mean_draft_len", "new_tokens"):
        assert final[key] == stats[key]
    assert stats["mean_accepted_tokens"] == pytest.approx(stats["new_tokens"] / stats["blocks"])
    verified = [info for *_, info in records[1:] if info["verified"]]
    assert sum(info["emitted"] for info in verified) == stats["new_tokens"]
    assert all(len(info["block_entropies"]) == info["drafted"] for info in verified)
    # Wall clock: the return is exactly (N - rho * measured decode time) / scale.
    unwrapped = env.unwrapped
    expected = (stats["new_tokens"] - unwrapped.decode_clock.baseline_rate * stats["decode_s"]) / unwrapped.reward_scale
    assert sum(rewards) == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert stats["decode_s"] == pytest.approx(stats["wall_draft_s"] + stats["wall_verify_s"] + stats["decide_s"])
    assert sum(info["decide_s"] for *_, info in records[1:]) == pytest.approx(stats["decide_s"])
    assert stats["decide_s"] > 0 and stats["decisions"] == len(records) - 1


def draft_lengths_and_room(records, budget):
    """(drafted, most the budget allowed) of every verified block: `generated` before it leaves this room."""
    return [(info["drafted"], budget - before["generated"] - 1)
            for (*_, before), (*_, info) in zip(records, records[1:], strict=False) if info["verified"]]


@pytest.mark.parametrize("stop_mode", ["include", "exclude"])
def test_draft_length_limits(copy_pair, stop_mode):
    # The copy drafter drafts EOS only where the verifier ends the episode: every block before the last one
    # shows the limits alone.
    env = make(copy_pair, min_draft_len=3, max_draft_len=5, max_new_tokens=40, stop_mode=stop_mode)
    stop_always = rollout(env, lambda t, obs: 1)
    # Stop is ignored while it would verify fewer than min_draft_len tokens; only the budget cuts a draft shorter.
    assert all(n == min(3, room) for n, room in draft_lengths_and_room(stop_always, 40)[:-1])
    assert any(info["forced"] == "min_draft_len" for *_, info in stop_always[1:])
    discarded = [info["discarded"] for *_, info in stop_always[1:] if info["verified"]][:-1]
    assert discarded == [int(stop_mode == "exclude")] * len(discarded)  # exclude drafts a 4th token to drop it
    never_stop = rollout(env, lambda t, obs: 0)
    assert all(n == min(5, room) for n, room in draft_lengths_and_room(never_stop, 40)[:-1])
    assert any(info["forced"] == "max_draft_len" for *_, info in never_stop[1:])


@pytest.mark.parametrize("stop_mode", ["include", "exclude"])
def test_stop_at_once_is_the_verifier_alone(noisy_pair, stop_mode):
    """min_draft_len 0: a block starts at the empty draft; stopping there verifies k = 0 and drafts nothing, so
    the episode is verifier-alone decoding, on the same clock (N one-token verifications)."""
    env = make(noisy_pair, max_new_tokens=20, stop_mode=stop_mode, cost_model=TOY_COSTS)
    records = rollout(env, lambda t, obs: 1, options={"prompt_index": 0})
    stats = records[-1][4]["episode_stats"]
    prompt = env.unwrapped._decoder_prompt(env.unwrapped.prompts[0])
    assert stats["output_ids"] == SpeculativeDecoder(noisy_pair, max_new_tokens=20).generate(prompt).token_ids
    assert stats["drafted"] == stats["discarded"] == stats["draft_s"] == 0
    assert stats["blocks"] == stats["new_tokens"]
    assert stats["decode_s"] == pytest.approx(stats["new_tokens"] * TOY_COSTS.verify_cost(1), rel=1e-12)
    assert stats["tokens_per_s"] == pytest.approx(env.unwrapped.decode_clock.baseline_rate, rel=1e-12)


def test_exclude_stop_discards_the_token_just_drafted(noisy_pair):
    """Exclude: a stop at position j verifies j - 1 tokens, and the discarded draft step is still charged."""
    env = make(noisy_pair, max_new_tokens=24, stop_mode="exclude", cost_model=TOY_COSTS)
    env.reset(seed=0, options={"prompt_index": 1})
    for _ in range(3):  # positions 1, 2, 3
        _, reward, *_ , info = env.step(0)
        assert not info["verified"] and reward == pytest.approx(-env.unwrapped.decode_clock.baseline_rate * 0.025 / 7)
    *_, info = env.step(1)
    assert info["verified"] and info["drafted"] == 2 and info["discarded"] == 1
    assert len(info["block_entropies"]) == 2
    assert info["draft_time_s"] == pytest.approx(3 * TOY_COSTS.draft_s) and info["verify_time_s"] == pytest.approx(
        TOY_COSTS.verify_cost(3))


def test_budget_of_one_token(noisy_pair):
    env = make(noisy_pair, max_new_tokens=1)
    obs, info = env.reset(seed=0)
    assert info["position"] == 0 and obs[env.unwrapped.observation_layout.history * 2] == 0
    *_, terminated, truncated, info = env.step(0)
    assert info["forced"] == "draft_room" and info["episode_stats"]["new_tokens"] == 1
    assert terminated or truncated


def test_monitor_logs_episode_keys(noisy_pair):
    keys = ("tokens_per_s", "acceptance_rate", "mean_accepted_tokens", "mean_draft_len", "new_tokens")
    env = Monitor(make(noisy_pair), info_keywords=keys)
    records = rollout(env, random_actions(2))
    episode = records[-1][4]["episode"]
    assert set(keys) <= set(episode) and episode["l"] == len(records) - 1


@pytest.mark.parametrize("min_draft_len", [0, 2])
@pytest.mark.parametrize("stop_mode", ["include", "exclude"])
@pytest.mark.parametrize("pair_name", ["noisy_pair", "random_pair", "copy_pair"])
def test_greedy_output_equals_verifier_alone(pair_name, stop_mode, min_draft_len, request):
    pair = request.getfixturevalue(pair_name)
    env = make(pair, max_new_tokens=20, min_draft_len=min_draft_len, max_draft_len=5, stop_mode=stop_mode)
    reference = SpeculativeDecoder(pair, max_new_tokens=20)
    for index in range(len(PROMPTS)):
        records = rollout(env, random_actions(index), options={"prompt_index": index})
        prompt = env.unwrapped._decoder_prompt(env.unwrapped.prompts[index])
        expected = reference.generate(prompt).token_ids
        assert records[-1][4]["episode_stats"]["output_ids"] == expected


def test_sampling_is_seeded_by_the_env(noisy_pair):
    env = make(noisy_pair, temperature=1.0, max_new_tokens=20)
    first = rollout(env, random_actions(0), seed=7, options={"prompt_index": 0})
    second = rollout(env, random_actions(0), seed=7, options={"prompt_index": 0})
    assert_same_records(first, second)
    outputs = {tuple(rollout(env, random_actions(0), seed=s, options={"prompt_index": 0})[-1][4]
                     ["episode_stats"]["output_ids"]) for s in range(4)}
    assert len(outputs) > 1


def test_prompt_choice(noisy_pair):
    env = make(noisy_pair)
    for i, row in enumerate(env.unwrapped.prompts):
        assert env.reset(options={"prompt_index": i})[1]["prompt_id"] == row["id"]
    picked = {env.reset(seed=s)[1]["prompt_index"] for s in range(20)}
    assert picked == {0, 1, 2}
    assert env.reset(seed=3)[1]["prompt_index"] == env.reset(seed=3)[1]["prompt_index"]


# ---------------------------------------------------------------------------------------------- determinism


def test_deterministic_variant_repeats_exactly(noisy_pair):
    env = make(noisy_pair)
    assert_same_records(rollout(env, random_actions(3), seed=11), rollout(env, random_actions(3), seed=11))
    other = make(noisy_pair)  # a second copy shares the calibration, so it repeats the first one
    assert other.unwrapped.decode_clock.costs is env.unwrapped.decode_clock.costs
    assert_same_records(rollout(env, random_actions(4), seed=5), rollout(other, random_actions(4), seed=5))


def test_pickle_round_trip_mid_episode(noisy_pair):
    env = EBSDEnv(noisy_pair, prompts=PROMPTS, clock="model", max_new_tokens=30, max_draft_len=6,
                  temperature=0.7)
    env.reset(seed=4)
    env.step(0)  # drafting steps only: the episode cannot end before the pickle
    env.step(0)
    clone = pickle.loads(pickle.dumps(env))
    actions = random_actions(9)
    while True:
        action = actions(0, None)
        a, b = env.step(action), clone.step(action)
        np.testing.assert_array_equal(a[0], b[0])
        assert a[1:4] == b[1:4] and strip_wall(a[4]) == strip_wall(b[4])
        if a[2] or a[3]:
            break


# ---------------------------------------------------------------------------------------------- reward


def test_return_ranks_policies_like_tokens_per_second(noisy_pair):
    """Same prompt, greedy: every policy emits the same N tokens, so N - rho T orders policies as N / T does."""
    env = make(noisy_pair, max_new_tokens=24, max_draft_len=8, cost_model=TOY_COSTS, stop_mode="include")
    results = []
    for k in (0, 1, 2, 3, 5, 8):
        records = rollout(env, fixed_k(k, env), options={"prompt_index": 0})
        stats = records[-1][4]["episode_stats"]
        results.append((sum(r for _, r, *_ in records[1:]), stats["tokens_per_s"], tuple(stats["output_ids"])))
    assert len({out for *_, out in results}) == 1
    returns, rates = np.array([r[0] for r in results]), np.array([r[1] for r in results])
    assert len(set(np.round(rates, 9))) > 3  # the policies really differ in speed
    np.testing.assert_array_equal(np.argsort(returns), np.argsort(rates))
    n = results[0][2].__len__()
    rho, scale = env.unwrapped.decode_clock.baseline_rate, env.unwrapped.reward_scale
    np.testing.assert_allclose(returns, (n - rho * n / rates) / scale, rtol=1e-9, atol=1e-12)


def test_bandit_values_arms_by_the_objective_not_by_mean_block_rates():
    """Constructed blocks where the mean of per-block rates prefers the slower arm: arm 0 emits (10, 1, 1)
    tokens in 1 s blocks (12 tokens in 3 s, 4 tok/s; block rates average 4); arm 1 emits 3 tokens in 0.8 s four
    times (12 tokens in 3.2 s, 3.75 tok/s; block rates average 3.75, but sum 15 > 12). The bandit's arm values
    and the objective both prefer arm 0."""
    from ebsd_env.envs.objective import objective
    from policies import make_policy

    bandit = make_policy("bandit-ucb:arms=[fixed-k:k=1;fixed-k:k=3]")
    blocks = {0: [(10, 1.0), (1, 1.0), (1, 1.0)], 1: [(3, 0.8)] * 4}
    for arm, arm_blocks in blocks.items():
        for emitted, seconds in arm_blocks:
            bandit.arm = arm
            bandit.on_verify({"emitted": emitted, "draft_time_s": 0.0, "verify_time_s": seconds, "accepted": 0,
                              "drafted": 1})
    values = bandit.means()
    assert values == pytest.approx([4.0, 3.75])
    assert objective([10, 1, 1], [1, 1, 1]) > objective([3] * 4, [0.8] * 4)
    assert sum(e / t for e, t in blocks[0]) < sum(e / t for e, t in blocks[1])  # the per-block sum picks arm 1


# ---------------------------------------------------------------------------------------------- models shared


def test_vec_env_shares_the_pair(noisy_pair, monkeypatch):
    def no_reload(*args, **kwargs):
        raise AssertionError("a vectorised copy reloaded the models")

    monkeypatch.setattr(models, "load_pair", no_reload)
    vec = make_vec_env("EBSD-Deterministic-v1", n_envs=4, seed=0,
                       env_kwargs={"pair": noisy_pair, "prompts": PROMPTS, "max_new_tokens": 10, "render_mode": None})
    assert all(e.unwrapped.pair is noisy_pair for e in vec.envs)
    vec.reset()
    dones = 0
    for _ in range(60):
        _, _, done, infos = vec.step(np.ones(4, dtype=int))
        dones += int(done.sum())
    assert dones >= 4 and all("episode" in info for info, d in zip(infos, done, strict=True) if d)


def test_subproc_vec_env_runs(noisy_pair):
    """Each worker process gets the pair through the pickled env factory (fork: no model files are read)."""
    vec = make_vec_env("EBSD-Deterministic-v1", n_envs=2, seed=0, vec_env_cls=SubprocVecEnv,
                       vec_env_kwargs={"start_method": "fork"},
                       env_kwargs={"pair": noisy_pair, "prompts": PROMPTS, "max_new_tokens": 8, "render_mode": None,
                                   "cost_model": TOY_COSTS})
    try:
        vec.reset()
        rewards = [vec.step(np.ones(2, dtype=int))[1] for _ in range(12)]
    finally:
        vec.close()
    assert np.isfinite(rewards).all()


def test_models_by_id_come_from_the_process_cache(noisy_pair, monkeypatch):
    calls = []

    def fake_load(drafter=None, verifier=None, device="cpu", dtype=None, kernels="auto"):
        calls.append((drafter, verifier))
        return noisy_pair

    monkeypatch.setattr(models, "load_pair", fake_load)
    monkeypatch.setattr(models, "_PAIR_CACHE", {})
    envs = [gym.make("EBSD-v1", drafter="d", verifier="v", prompts=PROMPTS) for _ in range(3)]
    assert calls == [("d", "v")] and all(e.unwrapped.pair is noisy_pair for e in envs)


def test_cost_model():
    assert TOY_COSTS.verify_cost(1) == 0.1 and TOY_COSTS.verifier_rate == pytest.approx(10.0)
    assert TOY_COSTS.verify_cost(5) == pytest.approx(0.105 + 3 * 0.005)
    assert TOY_COSTS.verify_cost(25) == pytest.approx(0.18 + 8 * 0.005)  # linear past the last point
    with pytest.raises(ValueError, match="strictly increasing"):
        CostModel(0.1, ((1, 0.1), (1, 0.2)))
    with pytest.raises(ValueError, match="first at fed=1"):
        CostModel(0.1, ((2, 0.1), (3, 0.2)))


def test_cost_model_save_load_and_cache(noisy_pair, tmp_path):
    path = tmp_path / "costs.json"
    TOY_COSTS.save(path)
    assert CostModel.load(path) == TOY_COSTS
    env = make(noisy_pair, cost_model=str(path))
    assert env.unwrapped.decode_clock.costs == TOY_COSTS
    calibrated = cached_cost_model(noisy_pair)
    assert cached_cost_model(noisy_pair) is calibrated
    assert calibrated.draft_s > 0 and calibrated.verify_cost(9) > 0
    with pytest.raises(FileNotFoundError, match="does not exist"):
        CostModel.load(tmp_path / "missing.json")


# ---------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("kwargs, message", [
    ({"entropy": "gini"}, "unknown entropy type 'gini'"),
    ({"history": 0}, "history must be >= 1"),
    ({"min_draft_len": 5, "max_draft_len": 4}, r"min_draft_len \(5\) must be <= max_draft_len \(4\)"),
    ({"min_draft_len": -1}, "min_draft_len must be >= 0"),
    ({"stop_mode": "before"}, "unknown stop_mode 'before'"),
    ({"clock": "sundial"}, "unknown clock 'sundial'"),
    ({"max_new_tokens": 0}, "max_new_tokens must be >= 1"),
    ({"prompts": []}, "prompts is empty"),
    ({"prompts": [{"id": "x"}]}, "neither a non-empty 'prompt' nor 'turns'"),
    ({"drafter": "int8"}, "either pair= or drafter="),
])
def test_bad_arguments(noisy_pair, kwargs, message):
    kwargs = {"prompts": PROMPTS, **kwargs}
    with pytest.raises(ValueError, match=message):
        EBSDEnv(noisy_pair, cost_model=TOY_COSTS, **kwargs)


def test_bad_steps(noisy_pair):
    env = EBSDEnv(noisy_pair, prompts=PROMPTS, cost_model=TOY_COSTS, max_new_tokens=8)
    with pytest.raises(RuntimeError, match=r"call reset\(\) before step\(\)"):
        env.step(0)
    env.reset(seed=0)
    for bad in (2, -1, 0.5, "stop"):
        with pytest.raises(ValueError, match="invalid action"):
            env.step(bad)
    with pytest.raises(ValueError, match="prompt_index must be an int in"):
        env.reset(options={"prompt_index": 3})
    with pytest.raises(ValueError, match="unknown reset option"):
        env.reset(options={"prompt": 0})
    env.reset(seed=0)
    while True:
        *_, terminated, truncated, _ = env.step(1)
        if terminated or truncated:
            break
    with pytest.raises(RuntimeError, match="the episode has ended"):
        env.step(1)
    env.reset(seed=0)
    env.step(np.int64(1))  # numpy integers are valid actions


def test_registration():
    assert {"EBSD-v1", "EBSD-Deterministic-v1"} <= set(gym.registry)
    assert gym.spec("EBSD-Deterministic-v1").kwargs == {"clock": "model"}
    assert ebsd_env.EBSDEnv is EBSDEnv


def test_bench_env_figures(noisy_pair):
    from eval.bench.env import bench_clock

    row = bench_clock(make(noisy_pair, id="EBSD-v1", max_new_tokens=12), k=3, episodes=2)
    assert row["steps"] >= row["new_tokens"] / 4 > 0 and row["steps_per_s"] > 0
    assert 0 < row["outside_forward_share"] < 1 and 0 < row["env_layer_share"] < row["outside_forward_share"]


def test_ltd_observation_shows_top_logprobs_and_context_length(noisy_pair):
    """observation="ltd": Learning to Draft's top-4 log-probabilities of the latest draft token and the context
    length, no entropy history; "ltd+entropy" keeps it. Rules that read entropies are refused on "ltd"."""
    import math

    from ebsd_env.decoding.decoder import LOGPROB_FLOOR, TOP_LOGPROBS
    from ebsd_env.envs.observation import CONTEXT_SCALE
    from policies import make_policy

    env = EBSDEnv(noisy_pair, prompts=["the cat sat on"], clock="model", cost_model=TOY_COSTS, max_new_tokens=12,
                  observation="ltd")
    layout = env.observation_layout
    assert layout.size == 1 + TOP_LOGPROBS + 1 and env.observation_space.shape == (layout.size,)
    obs, _ = env.reset(seed=0)
    view = layout.decode(obs)
    assert view.position == 0 and view.entropies is None and np.all(obs[1:1 + TOP_LOGPROBS] == 0)
    prompt_len = env.decoder.prompt_len
    assert view.context_len == prompt_len and obs[-1] == pytest.approx(prompt_len / CONTEXT_SCALE)
    obs, *_ = env.step(0)  # draft one token
    step = env.decoder.draft_steps[-1]
    view = layout.decode(obs)
    assert view.context_len == prompt_len + 1
    assert np.allclose(view.top_logprobs, step.top_logprobs, atol=1e-5)
    assert step.top_logprobs[0] == pytest.approx(math.log(step.top1_prob)) and step.top_logprobs[-1] >= LOGPROB_FLOOR
    assert list(step.top_logprobs) == sorted(step.top_logprobs, reverse=True)
    with pytest.raises(ValueError, match="reads the entropy history"):
        make_policy("entropy-abs:theta=1.0", env=env)
    assert make_policy("fixed-k:k=2", env=env).act(obs) in (0, 1)
    both = EBSDEnv(noisy_pair, prompts=["the cat sat on"], clock="model", cost_model=TOY_COSTS, max_new_tokens=12,
                   observation="ltd+entropy", history=4)
    assert both.observation_layout.size == 2 * 4 + 1 + TOP_LOGPROBS + 1
    with pytest.raises(ValueError, match="observation must be one of"):
        EBSDEnv(noisy_pair, prompts=["x"], clock="model", cost_model=TOY_COSTS, observation="logits")


def test_the_constructor_does_no_timing(noisy_pair, monkeypatch):
    """Making the env (directly or through gym.make) calibrates nothing, on the wall clock or the model clock;
    the clock is made on first use (the first reset), once."""
    from ebsd_env.timing import clock as clock_module

    def refuse(*args, **kwargs):
        raise AssertionError("the env's constructor calibrated the pair")

    monkeypatch.setattr(clock_module, "cached_cost_model", refuse)
    envs = [EBSDEnv(noisy_pair, prompts=PROMPTS, clock=kind, max_new_tokens=8) for kind in ("wall", "model")]
    envs.append(gym.make("EBSD-v1", pair=noisy_pair, prompts=PROMPTS, max_new_tokens=8).unwrapped)
    assert [env.clock_kind for env in envs] == ["wall", "model", "wall"]
    with pytest.raises(ValueError, match="wall clock measures each decision itself"):  # bad input: still at once
        EBSDEnv(noisy_pair, prompts=PROMPTS, clock="wall", decide_s=0.001)
    with pytest.raises(ValueError, match="holds no decision cost for policy 'svip'"):
        EBSDEnv(noisy_pair, prompts=PROMPTS, clock="model", decide_s="svip")
    calls = []
    monkeypatch.setattr(clock_module, "cached_cost_model",
                        lambda pair, temperature, top_p: calls.append(pair) or TOY_COSTS)
    wall = envs[0]
    rollout(wall, lambda t, obs: 1)
    wall.reset(seed=1)
    assert calls == [noisy_pair]
    assert wall.decode_clock.costs is TOY_COSTS and wall.decode_clock.baseline_rate == TOY_COSTS.verifier_rate


def test_the_clock_has_one_name_and_the_former_names_warn(noisy_pair):
    """`decode_clock` is the clock: its kind, cost model and the reward's ρ; `clock_kind` names the kind. The
    former names (`clock` the kind, `ledger`, `cost_model`, `baseline_rate`) still work for one release, each
    with a DeprecationWarning that names its replacement and points at the caller; setting one prices with it."""
    import dataclasses
    import re

    from ebsd_env.timing.clock import Clock

    env = EBSDEnv(noisy_pair, prompts=PROMPTS, clock="model", cost_model=TOY_COSTS, max_new_tokens=8)
    clock = env.decode_clock
    assert isinstance(clock, Clock) and clock.kind == env.clock_kind == "model" and clock.costs is TOY_COSTS
    assert clock.baseline_rate == TOY_COSTS.verifier_rate
    former = {"clock": ("env.clock_kind", "model"), "ledger": ("env.decode_clock", clock),
              "cost_model": ("env.decode_clock.costs", TOY_COSTS),
              "baseline_rate": ("env.decode_clock.baseline_rate", TOY_COSTS.verifier_rate)}
    for old, (new, value) in former.items():
        with pytest.warns(DeprecationWarning, match=f"env.{old}\\b.*deprecated.*use {re.escape(new)}") as caught:
            assert getattr(env, old) == value
        assert [w.filename for w in caught] == [__file__]
    steeper = dataclasses.replace(TOY_COSTS, draft_s=0.05)
    with pytest.warns(DeprecationWarning, match="env.cost_model"):
        env.cost_model = steeper
    assert env.decode_clock.costs is steeper and env.clock_kind == "model"
    with pytest.warns(DeprecationWarning, match="env.ledger"):
        env.ledger = Clock("profile", steeper)
    assert env.clock_kind == "profile" and env.decode_clock.costs is steeper
    env.reset(seed=0, options={"prompt_index": 0})
    _, reward, *_, info = env.step(0)  # one drafting step, priced with the clock set last
    assert info["step_s"] == steeper.draft_s and reward == pytest.approx(-steeper.verifier_rate * 0.05 / 17)
    with pytest.raises(TypeError, match="decode_clock takes an ebsd_env.timing.clock.Clock"):
        env.decode_clock = steeper
