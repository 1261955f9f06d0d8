"""Replay: recorded greedy traces reproduce the live env exactly, the vector env reproduces the replay env, the
DP oracle is optimal, and bad input fails with one-line errors. Tiny pairs (fast) and the embedded pair (slow)."""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest

from ebsd_env.envs.ebsd import EBSDEnv, normalise_prompts
from ebsd_env.replay import ReplayEnv, TraceError, TraceSet
from ebsd_env.replay.oracle import optimal_plan, optimal_rate
from ebsd_env.replay.record import record
from ebsd_env.replay.vector import ReplayVectorEnv, sb3_vec_env
from ebsd_env.timing.clock import Clock, make_clock
from ebsd_env.timing.cost_model import CostModel
from policies.registry import make_policy
from policies.rollout import run_episode

TOY_COSTS = CostModel(draft_s=0.025, verify_points=((1, 0.1), (2, 0.105), (9, 0.14), (17, 0.18)), source="toy")
PROMPTS = normalise_prompts(["the cat sat on", "hello world, how are", "write a poem about", "1 2 3 4 5",
                             "why is the sky blue?"])
MAX_DRAFT, BUDGET = 8, 40
OBS_DEVIATION: list[float] = []
POLICIES = ("fixed-k:k=3", "entropy-abs:theta=1.0", "svip", "bandit-ucb", "no-spec", "oracle-first-reject")


@pytest.fixture(scope="module")
def noisy_traces(noisy_pair, tmp_path_factory):
    out = tmp_path_factory.mktemp("traces") / "noisy"
    record(noisy_pair, PROMPTS, out, max_draft_len=MAX_DRAFT, max_new_tokens=BUDGET, shard_size=2, progress=False,
           calibrate_clock=False)
    TOY_COSTS.save(out / "cost_model.json")
    return out


def live_env(pair, **kwargs):
    return EBSDEnv(pair, prompts=PROMPTS, max_draft_len=MAX_DRAFT, max_new_tokens=BUDGET, clock="model",
                   cost_model=TOY_COSTS, **kwargs)


def compare(live, replay, spec: str, prompts: int, obs_tolerance: float = 1e-4,
            mismatches: list | None = None) -> tuple[int, int]:
    """(episodes that differ, episodes) between the live and the replay env under one policy spec: the actions,
    output, draft and accepted lengths and clock time must agree exactly. Observations agree to 1e-4: the
    drafter's signals come from differently sized forward passes live and when recorded (float32 rounding;
    `OBS_DEVIATION` keeps the largest deviation seen). `mismatches` collects where each differing episode first
    parts (`first_difference`), for the failure message."""
    try:
        p_live, p_replay = make_policy(spec, env=live), make_policy(spec, env=replay)
    except ValueError:  # a policy of the other stop mode
        return 0, 0
    differ = 0
    for i in range(prompts):
        a = run_episode(live, p_live, seed=0, options={"prompt_index": i})
        b = run_episode(replay, p_replay, seed=0, options={"prompt_index": i})
        same = (a["trace"]["actions"] == b["trace"]["actions"] and a["output_ids"] == b["output_ids"]
                and a["draft_lengths"] == b["draft_lengths"] and a["accepted_lengths"] == b["accepted_lengths"]
                and a["decode_s"] == pytest.approx(b["decode_s"], rel=1e-12))
        if same:
            deviation = np.abs(np.asarray(a["trace"]["observations"]) - np.asarray(b["trace"]["observations"]))
            OBS_DEVIATION.append(float(deviation.max()))
            same = OBS_DEVIATION[-1] <= obs_tolerance
        differ += not same
        if not same and mismatches is not None:
            mismatches.append((live.stop_mode, spec, i, first_difference(a, b, obs_tolerance)))
    return differ, prompts


def first_difference(a: dict, b: dict, obs_tolerance: float) -> str:
    """Where two episodes' results first part: a block's draft or accepted length (with the output position it
    starts at), else a decision step's action or observation, else the output or the clock time."""
    position = 0
    for block, (ka, kb, ma, mb) in enumerate(zip(a["draft_lengths"], b["draft_lengths"], a["accepted_lengths"],
                                                 b["accepted_lengths"], strict=False)):  # may differ in length
        if (ka, ma) != (kb, mb):
            return f"block {block} at output position {position}: drafted {ka} vs {kb}, accepted {ma} vs {mb}"
        position += ma + 1
    trace_a, trace_b = a["trace"], b["trace"]
    for step, (xa, xb, oa, ob) in enumerate(zip(trace_a["actions"], trace_b["actions"], trace_a["observations"],
                                                trace_b["observations"], strict=False)):
        deviation = float(np.abs(np.asarray(oa) - np.asarray(ob)).max())
        if xa != xb or deviation > obs_tolerance:
            return f"step {step}: action {xa} vs {xb}, observation deviation {deviation:.2g}"
    return (f"blocks {len(a['draft_lengths'])} vs {len(b['draft_lengths'])}, output equal: "
            f"{a['output_ids'] == b['output_ids']}, decode_s {a['decode_s']!r} vs {b['decode_s']!r}")


def trained_ppo(env, path) -> str:
    from stable_baselines3 import PPO

    from ebsd_env.fingerprint import env_fingerprint, save_model

    model = PPO("MlpPolicy", env, n_steps=64, batch_size=32, n_epochs=1, seed=0, device="cpu", verbose=0)
    model.learn(128)
    save_model(model, path, env_fingerprint(env))
    return f"ppo:{path}"


@pytest.mark.parametrize("stop_mode,observation", [("include", "entropy"), ("exclude", "entropy"),
                                                    ("include", "ltd+entropy")])
def test_replay_reproduces_the_live_env_on_a_tiny_pair(noisy_pair, noisy_traces, stop_mode, observation, tmp_path):
    live = live_env(noisy_pair, stop_mode=stop_mode, extra_signals=True, observation=observation)
    replay = ReplayEnv(noisy_traces, stop_mode=stop_mode, extra_signals=True, pair=noisy_pair,
                       observation=observation)
    specs = (*POLICIES, trained_ppo(replay, tmp_path / "ppo.zip"))
    total = [compare(live, replay, spec, len(PROMPTS)) for spec in specs]
    assert sum(d for d, _ in total) == 0, dict(zip(specs, total, strict=True))


@pytest.fixture(scope="module")
def ngram_pair(copy_pair):
    from ebsd_env.decoding.drafting import NGramModel
    from ebsd_env.decoding.models import ModelPair

    return ModelPair(NGramModel(copy_pair.verifier.config), copy_pair.verifier, copy_pair.tokenizer, "ngram",
                     copy_pair.verifier_name)


@pytest.mark.parametrize("pair_name", ["feature_pair", "ngram_pair"])
def test_replay_matches_live_on_other_drafter_kinds_and_reports_the_mismatch_rate(pair_name, request, tmp_path):
    """A feature drafter's chain depends on features computed in differently sized verifier passes: exact up to
    floating-point near-ties, whose rate is measured here (0 on these pairs so far; signals differ by < 1e-4).
    Prompt lookup (ngram) proposes from the committed tokens alone."""
    pair = request.getfixturevalue(pair_name)
    OBS_DEVIATION.clear()
    out = tmp_path / pair_name
    record(pair, PROMPTS, out, max_draft_len=MAX_DRAFT, max_new_tokens=BUDGET, progress=False, calibrate_clock=False)
    results = {}
    for mode in ("include", "exclude"):
        live = live_env(pair, stop_mode=mode)
        replay = ReplayEnv(out, stop_mode=mode, cost_model=TOY_COSTS)
        for spec in ("fixed-k:k=4", "entropy-abs:theta=1.0", "svip", "oracle-first-reject"):
            results[(mode, spec)] = compare(live, replay, spec, len(PROMPTS))
    differ, episodes = map(sum, zip(*results.values(), strict=True))
    print(f"{pair_name}: {differ}/{episodes} episodes differ between live and replay; largest observation "
          f"deviation {max(OBS_DEVIATION):.2g}")
    assert differ == 0


# A context-aware clock whose costs grow with the context, with contexts inside and beyond its points.
CONTEXT_COSTS = CostModel(draft_s=0.025, verify_points=((1, 0.1), (2, 0.105), (9, 0.14), (17, 0.18)),
                          context_points=(8, 20), verify_grid=((0.1, 0.105, 0.14, 0.18), (0.13, 0.14, 0.2, 0.25)),
                          draft_grid=(0.025, 0.03), source="toy, context-aware")


# Signals read cost 10 ms a draft step (`CostModel.signal_s`): charged where the observation reads them.
SIGNAL_COSTS = dataclasses.replace(TOY_COSTS, signal_s=0.01, source="toy, signals")
# A block's first drafting step costs 15 ms more (`CostModel.catch_up_s`), with context-aware steps.
CATCH_UP_COSTS = dataclasses.replace(CONTEXT_COSTS, catch_up_s=0.015, source="toy, catch-up")


@pytest.mark.parametrize("stop_mode", ["include", "exclude"])
@pytest.mark.parametrize("extra_signals,observation,costs", [
    (False, "entropy", None), (True, "entropy", None), (False, "ltd", None), (True, "ltd+entropy", None),
    (False, "entropy", CONTEXT_COSTS), (True, "ltd+entropy", "cost-signals"),
    (False, "entropy", ("cost-signals", CONTEXT_COSTS)), (False, "ltd", SIGNAL_COSTS),
    (False, "position", SIGNAL_COSTS), (False, "entropy", CATCH_UP_COSTS)])
def test_vector_env_steps_exactly_as_the_replay_env(noisy_traces, stop_mode, extra_signals, observation, costs):
    traces = TraceSet.load(noisy_traces)
    count = len(traces)
    signals = costs == "cost-signals" or isinstance(costs, tuple)
    costs = costs[1] if isinstance(costs, tuple) else None if costs == "cost-signals" else costs
    kwargs = dict(stop_mode=stop_mode, extra_signals=extra_signals, max_new_tokens=30, max_draft_len=6,
                  observation=observation, cost_signals=signals, **({} if costs is None else {"cost_model": costs}))
    vec = ReplayVectorEnv(traces, num_envs=count, **kwargs)
    envs = [ReplayEnv(traces, **kwargs) for _ in range(count)]
    vec_obs, _ = vec.reset(seed=0, options={"trace_indices": list(range(count))})
    for i, env in enumerate(envs):
        obs, _ = env.reset(options={"prompt_index": i})
        assert np.array_equal(obs, vec_obs[i])
    rng = np.random.default_rng(0)
    done = np.zeros(count, dtype=bool)
    while not done.all():
        actions = (rng.random(count) < 0.35).astype(np.int64)
        vec_obs, vec_rewards, vec_term, vec_trunc, vec_info = vec.step(actions)
        for i, env in enumerate(envs):
            if done[i]:
                continue
            obs, reward, term, trunc, info = env.step(int(actions[i]))
            expected = vec_info["final_obs"][i] if term or trunc else vec_obs[i]
            assert np.array_equal(obs, expected) and reward == pytest.approx(vec_rewards[i], abs=1e-12)
            assert (term, trunc) == (vec_term[i], vec_trunc[i])
            if term or trunc:
                done[i] = True
                stats = info["episode_stats"]
                assert stats["decode_s"] == pytest.approx(vec_info["final_info"]["decode_s"][i], rel=1e-12)
                assert stats["new_tokens"] == vec_info["final_info"]["new_tokens"][i]


def test_replay_envs_charge_signal_s_per_drafted_step_when_the_observation_reads_signals(noisy_traces):
    """EBSD-Replay-v1: an entropy policy pays `signal_s` more per draft step than with `signal_s` = 0, fixed k
    (observation="position") nothing more. The vector env: each episode's drafting time is its draft steps at
    `draft_s + signal_s` with token signals in the observation, at `draft_s` without, under each episode's own
    cost profile."""
    for spec, observation, per_step in (("entropy-abs:theta=1.0", "entropy", 0.01), ("fixed-k:k=3", "position", 0)):
        for i in range(len(PROMPTS)):
            a, b = (run_episode(ReplayEnv(noisy_traces, cost_model=costs, observation=observation),
                                make_policy(spec), seed=0, options={"prompt_index": i})
                    for costs in (TOY_COSTS, SIGNAL_COSTS))
            assert a["drafted"] > 0 and a["output_ids"] == b["output_ids"]
            assert b["draft_s"] == pytest.approx(a["draft_s"] + per_step * (a["drafted"] + a["discarded"]),
                                                 rel=1e-12)
    for observation, reads in (("entropy", True), ("ltd", True), ("position", False)):
        vec = ReplayVectorEnv(noisy_traces, num_envs=4, seed=0, observation=observation,
                              cost_profiles=[TOY_COSTS, SIGNAL_COSTS])
        vec.reset(seed=0)
        rng, seen = np.random.default_rng(0), set()
        for _ in range(300):
            _, _, _, _, info = vec.step((rng.random(4) < 0.3).astype(np.int64))
            for i in np.flatnonzero(info.get("_final_info", [])):
                stats = {key: value[i] for key, value in info["final_info"].items()}
                profile = int(stats["cost_profile"])
                per_step = TOY_COSTS.draft_s + (0.01 if reads and profile == 1 else 0.0)  # include: none dropped
                assert stats["draft_s"] == pytest.approx(stats["drafted"] * per_step, rel=1e-12)
                seen.add(profile)
        assert seen == {0, 1}


def assert_state_carries_over(make, actions: int, before: int = 37, after: int = 300) -> None:
    """`make(seed)` builds a vector env. One, seeded 0, steps `before` random actions; its `state_dict`, pickled
    as a checkpoint keeps it, goes into one seeded 1 and reset to other episodes; then both step the same `after`
    random actions (in `range(actions)`) to the same observations, rewards, flags and episode statistics, to the
    bit, through episodes begun after the load (the generators' draws)."""
    import pickle

    rng = np.random.default_rng(7)
    first, second = make(0), make(1)
    first.reset()
    for _ in range(before):
        first.step(rng.integers(actions, size=first.num_envs))
    second.reset()
    second.load_state_dict(pickle.loads(pickle.dumps(first.state_dict())))
    finished = 0
    for _ in range(after):
        step = rng.integers(actions, size=first.num_envs)
        (*ours, info), (*theirs, their_info) = first.step(step), second.step(step)
        assert all(np.array_equal(a, b) for a, b in zip(ours, theirs, strict=True))
        assert info.keys() == their_info.keys()
        if info:
            finished += int(info["_final_info"].sum())
            stats, their_stats = info["final_info"], their_info["final_info"]
            assert stats.keys() == their_stats.keys()
            assert all(np.array_equal(stats[key], their_stats[key], equal_nan=True) for key in stats), stats
    assert finished > 2 * first.num_envs


def test_vector_env_state_carries_the_episodes_in_flight_to_another_env(noisy_traces):
    """`state_dict` / `load_state_dict`, what a PPO checkpoint keeps of the replay env (`train.callbacks`): every
    signal on and a cost profile drawn per episode, so every array and both generators matter."""
    from ebsd_env.timing.cost_profiles import PROFILES_DIR

    profiles = [PROFILES_DIR / "synthetic" / name for name in ("synthetic-cpu-draft0.2.json",
                                                               "synthetic-flat-draft0.01.json")]

    def make(seed):
        return ReplayVectorEnv(noisy_traces, num_envs=3, seed=seed, extra_signals=True, cost_signals=True,
                               observation="ltd+entropy", cost_profiles=profiles)

    assert_state_carries_over(make, 2)
    with pytest.raises(ValueError, match="another vector env .* resume with the run's own traces and settings"):
        ReplayVectorEnv(noisy_traces, num_envs=2).load_state_dict(make(0).state_dict())


def test_both_decoders_implement_the_protocol(noisy_pair, noisy_traces):
    from ebsd_env.decoding.decoder import SpeculativeDecoder
    from ebsd_env.decoding.protocol import Decoder
    from ebsd_env.replay import ReplayDecoder

    live = SpeculativeDecoder(noisy_pair)
    live.start("hello")
    replay = ReplayDecoder(TraceSet.load(noisy_traces))
    replay.start(0)
    assert isinstance(live, Decoder) and isinstance(replay, Decoder)
    vec = ReplayVectorEnv(noisy_traces, num_envs=2)
    vec.reset(seed=0)
    with pytest.raises(ValueError, match="actions in"):
        vec.step([0, 2])


def test_the_vector_env_names_its_clock_as_the_env_does(noisy_traces):
    """`decode_clock` is the clock and `clock_kind` its kind, as on `EBSDEnv` (where `clock` was the kind, not the
    clock); the former `clock` and `baseline_rate` still answer, each with a DeprecationWarning naming its
    replacement."""
    from ebsd_env.replay.env import ReplayEnv
    from ebsd_env.timing.clock import Clock

    vec, single = ReplayVectorEnv(noisy_traces, num_envs=2), ReplayEnv(noisy_traces)
    assert isinstance(vec.decode_clock, Clock) and vec.clock_kind == single.clock_kind == "model"
    assert vec.decode_clock.costs == single.decode_clock.costs
    with pytest.warns(DeprecationWarning, match="ReplayVectorEnv.clock is deprecated.*use decode_clock"):
        assert vec.clock is vec.decode_clock
    with pytest.warns(DeprecationWarning, match="baseline_rate is deprecated.*use decode_clock.baseline_rate"):
        assert vec.baseline_rate == vec.decode_clock.baseline_rate == single.decode_clock.baseline_rate


def test_vector_env_trains_ppo_through_the_sb3_adapter(noisy_traces):
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_checker import check_env  # noqa: F401  (SB3 importable)

    vec = sb3_vec_env(ReplayVectorEnv(noisy_traces, num_envs=8, seed=0))
    model = PPO("MlpPolicy", vec, n_steps=32, batch_size=64, n_epochs=1, seed=0, device="cpu", verbose=0)
    model.learn(512)
    obs = vec.reset()
    actions, _ = model.predict(obs, deterministic=True)
    obs, rewards, dones, infos = vec.step(actions)
    assert obs.shape == (8, vec.observation_space.shape[0]) and rewards.shape == (8,) and len(infos) == 8


@pytest.mark.parametrize("stop_mode", ["include", "exclude"])
def test_oracle_dp_is_optimal_and_followed_exactly(noisy_traces, stop_mode):
    env = ReplayEnv(noisy_traces, stop_mode=stop_mode)
    traces = env.traces
    rng = np.random.default_rng(1)
    plans = []
    for i in range(len(traces)):
        plan = optimal_plan(traces[i], env.decode_clock.costs, env.max_draft_len, stop_mode, env.max_new_tokens)
        plans.append(plan)
        followed = run_episode(env, make_policy("oracle-dp", env=env), options={"prompt_index": i})
        assert followed["decode_s"] == pytest.approx(plan.time_s, rel=1e-12)
        others = [run_episode(env, make_policy(spec, env=env), options={"prompt_index": i})["decode_s"]
                  for spec in ("no-spec", "entropy-abs:theta=1.0", "oracle-first-reject")]
        for _ in range(20):  # random stopping: never faster than the plan
            env.reset(options={"prompt_index": i})
            while True:
                *_, term, trunc, info = env.step(int(rng.random() < 0.3))
                if term or trunc:
                    others.append(info["episode_stats"]["decode_s"])
                    break
        assert min(others) >= plan.time_s * (1 - 1e-12)
    rate = optimal_rate(traces.traces, env.decode_clock.costs, env.max_draft_len, stop_mode)
    assert rate == pytest.approx(sum(p.tokens for p in plans) / sum(p.time_s for p in plans), rel=1e-12)


def test_oracle_dp_refuses_the_live_env(noisy_pair):
    with pytest.raises(ValueError, match="EBSD-Replay-v1"):
        make_policy("oracle-dp", env=live_env(noisy_pair))
    with pytest.raises(ValueError, match="oracle-first-reject"):
        make_policy("oracle")


def test_gym_make_replay(noisy_traces):
    import gymnasium as gym

    env = gym.make("EBSD-Replay-v1", traces=str(noisy_traces), stop_mode="include")
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs) and info["generated"] == 0
    from gymnasium.utils.env_checker import check_env

    check_env(env.unwrapped, skip_render_check=True)


# ---------------------------------------------------------------------------------------------- bad input


def test_traces_recorded_before_the_runner_attention_key_are_the_sdpa_runners(noisy_traces):
    """Shards that predate ``drafter_attention`` in the pair fingerprint were recorded by an int4 / int8 copy that
    attended by SDPA: they load against such a pair and are refused against a copy on the few-query kernel."""
    fingerprint = dict(TraceSet.load(noisy_traces).fingerprint)
    assert "drafter_attention" not in fingerprint  # the tiny pair's drafter has no runner
    TraceSet.load(noisy_traces, fingerprint={**fingerprint, "drafter_attention": {"int4": "sdpa"}})
    with pytest.raises(TraceError, match=r"drafter_attention=\{'int4': 'sdpa'\}, expected \{'int4': 'few-query"):
        TraceSet.load(noisy_traces, fingerprint={**fingerprint, "drafter_attention": {"int4": "few-query-avx2"}})


def test_bad_traces_and_settings(noisy_pair, random_pair, noisy_traces, tmp_path):
    with pytest.raises(TraceError, match="recorded with pair drafter"):
        TraceSet.load(noisy_traces, pair=random_pair)
    with pytest.raises(TraceError, match="max_draft_len=9 exceeds the recorded chain length 8"):
        ReplayEnv(noisy_traces, max_draft_len=9)
    with pytest.raises(TraceError, match="exceeds the recorded budget"):
        ReplayEnv(noisy_traces, max_new_tokens=BUDGET + 1)
    with pytest.raises(ValueError, match="sampling .* cannot be replayed"):
        ReplayEnv(noisy_traces, temperature=0.7)
    with pytest.raises(ValueError, match="wall clock cannot be replayed"):
        ReplayEnv(noisy_traces, clock="wall")
    with pytest.raises(ValueError, match="entropy"):
        ReplayEnv(noisy_traces, entropy="renyi")
    other = CostModel(0.025, TOY_COSTS.verify_points, fingerprint={"drafter": "someone-else"})
    with pytest.raises(ValueError, match="calibrated with drafter='someone-else'"):
        ReplayEnv(noisy_traces, cost_model=other)
    with pytest.raises(ValueError, match="calibrated with drafter='someone-else'"):
        live_env(noisy_pair).__class__(noisy_pair, prompts=PROMPTS, clock="model", cost_model=other)
    with pytest.raises(TraceError, match="another recording: shard-00000.parquet was recorded with setting "
                                         "max_draft_len=8, expected 4"):
        record(noisy_pair, PROMPTS, noisy_traces, max_draft_len=4, max_new_tokens=BUDGET, progress=False)


def test_resume_with_other_kernels_is_refused_before_recording(noisy_pair, tmp_path, monkeypatch):
    """A rerun whose verifier picked other linear-layer kernels (other --threads) must not add its shards to the
    folder: TraceSet.load would refuse the mixture only when training starts."""
    import ebsd_env.replay.record as record_module

    out = tmp_path / "traces"
    first = dataclasses.replace(noisy_pair, metadata={**noisy_pair.metadata, "kernels": {"verifier": "onednn"}})
    record(first, PROMPTS[:2], out, max_draft_len=4, max_new_tokens=8, shard_size=1, progress=False,
           calibrate_clock=False)
    (out / "shard-00001.parquet").unlink()  # an interrupted recording: one shard left to record
    recorded = []
    monkeypatch.setattr(record_module, "record_trace", lambda *a, **k: recorded.append(a) or pytest.fail("recorded"))
    other = dataclasses.replace(noisy_pair, metadata={**noisy_pair.metadata,
                                                      "kernels": {"verifier": "1:plain,2+:onednn"}})
    with pytest.raises(TraceError, match=r"another recording: shard-00000.parquet was recorded with pair "
                                         r"kernels=\{'verifier': 'onednn'\}, expected \{'verifier': "
                                         r"'1:plain,2\+:onednn'\}.*new --out.*--threads/--kernels"):
        record(other, PROMPTS[:2], out, max_draft_len=4, max_new_tokens=8, shard_size=1, progress=False,
               calibrate_clock=False)
    assert not recorded and sorted(p.name for p in out.iterdir()) == ["manifest.json", "shard-00000.parquet"]
    monkeypatch.undo()
    summary = record(first, PROMPTS[:2], out, max_draft_len=4, max_new_tokens=8, shard_size=1, progress=False,
                     calibrate_clock=False)  # the same kernels resume
    assert summary["recorded_shards"] == 1 and len(TraceSet.load(out)) == 2


def test_corrupt_shard_is_named_and_recorded_again(noisy_pair, tmp_path):
    out = tmp_path / "traces"
    record(noisy_pair, PROMPTS[:4], out, max_draft_len=4, max_new_tokens=16, shard_size=2, progress=False,
           calibrate_clock=False)
    shard = out / "shard-00001.parquet"
    good = (out / "shard-00000.parquet").stat().st_mtime_ns
    shard.write_bytes(shard.read_bytes()[:100])  # truncated
    with pytest.raises(TraceError, match=r"shard-00001.parquet' is truncated or corrupt"):
        TraceSet.load(out)
    summary = record(noisy_pair, PROMPTS[:4], out, max_draft_len=4, max_new_tokens=16, shard_size=2, progress=False,
                     calibrate_clock=False)
    assert summary["recorded_shards"] == 1 and (out / "shard-00000.parquet").stat().st_mtime_ns == good
    assert len(TraceSet.load(out)) == 4
    assert not [p for p in os.listdir(out) if p.startswith(".tmp-")]


def test_sampling_is_refused_by_the_recorder():
    from ebsd_env.replay.record import main

    with pytest.raises(ValueError, match="cannot be replayed exactly"):
        main(["--out", "/nonexistent/never-written", "--temperature", "0.5"])


def test_cost_profiles_and_clock(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"draft_s": 0.07, "verify_points": [[1, 0.27], [2, 0.40], [5, 0.29]]}))
    with pytest.raises(ValueError, match="non-monotone cost curve"):
        CostModel.load(bad)
    missing = tmp_path / "missing.json"
    missing.write_text(json.dumps({"verify_points": [[1, 0.27], [2, 0.40]]}))
    with pytest.raises(ValueError, match="lacks field.*draft_s"):
        make_clock("profile", cost_model=missing)
    with pytest.raises(ValueError, match="needs a cost profile"):
        make_clock("profile")
    good = tmp_path / "gpu.json"
    TOY_COSTS.save(good)
    clock = make_clock("profile", cost_model=good)
    assert clock.kind == "profile" and clock.block_times(3, 1) == (4 * 0.025, TOY_COSTS.verify_cost(4))
    assert Clock("wall", TOY_COSTS).block_times(3, 1, 1.0, 2.0) == (1.0, 2.0)


def test_calibration_is_monotone_fingerprinted_and_validated(noisy_pair, monkeypatch):
    from ebsd_env.timing import calibration as cost_model

    model = cost_model.calibrate(noisy_pair, repeats=3)
    seconds = [s for _, s in model.verify_points]
    assert seconds == sorted(seconds)
    assert model.fingerprint["drafter"] == noisy_pair.drafter_name and model.fingerprint["threads"] >= 1
    assert "cpu" in model.fingerprint and len(model.fingerprint["drafter_hash"]) == 16
    assert {r["k"] for r in model.validation["runs"]} == {0, 2, 4}

    def falling(decoder, prompt, fed_points, repeats, text, contexts=None):
        return cost_model.DraftTimes(later=[0.01]), {fed: [0.5 if fed < 5 else 0.2] for fed in fed_points}, [0.001]

    monkeypatch.setattr(cost_model, "_measure", falling)
    with pytest.raises(ValueError, match="non-monotone cost curve"):
        cost_model.calibrate(noisy_pair, attempts=2, validate=False)

    def implausible(decoder, prompt, fed_points, repeats, text, contexts=None):
        return cost_model.DraftTimes(later=[1.0]), {fed: [0.1] for fed in fed_points}, [0.001]

    monkeypatch.setattr(cost_model, "_measure", implausible)
    with pytest.raises(ValueError, match="implausible cost curve"):
        cost_model.calibrate(noisy_pair, validate=False)


# ---------------------------------------------------------------------------------------------- embedded pair


@pytest.mark.slow
def test_replay_reproduces_the_live_env_on_the_embedded_pair(tmp_path):
    """With the model clock, replay repeats the live env exactly on the embedded pair: 77 episodes (one prompt of
    each built-in category, 40 tokens; every policy of `POLICIES` that stops in the mode, and PPO, in both stop
    modes), none may differ; observations agree to 1e-4 (measured below 1e-5). The verifier's logits and
    features come from differently sized forward passes live and when recorded, so a float near-tie could in
    principle flip a token; none did in 231 episodes measured (docs/replay.md), and a failure names where each
    episode first parts. The pair is the feature drafter's, the one replay and the verdict are made for (the
    default int4 copy reads the verifier's cache, whose rounding depends on how the verifier was called: replay
    only approximates it). Recording `--batched` gives the same chains at every position."""
    from ebsd_env.decoding.models import cached_pair
    from ebsd_env.prompts import load_prompts

    embedded_pair = cached_pair("feature-v1")
    prompts = load_prompts(None, limit_per_category=1)
    draft, budget = 8, 40
    out = tmp_path / "embedded"
    OBS_DEVIATION.clear()
    record(embedded_pair, prompts, out, max_draft_len=draft, max_new_tokens=budget, progress=False,
           calibrate_clock=False)
    results, mismatches = {}, []
    for mode in ("include", "exclude"):
        live = EBSDEnv(embedded_pair, prompts=prompts, max_draft_len=draft, max_new_tokens=budget, clock="model",
                       cost_model=TOY_COSTS, stop_mode=mode, extra_signals=True)
        replay = ReplayEnv(out, stop_mode=mode, cost_model=TOY_COSTS, extra_signals=True)
        for spec in (*POLICIES, trained_ppo(replay, tmp_path / f"ppo-{mode}.zip")):
            results[(mode, spec.split(":")[0])] = compare(live, replay, spec, len(prompts), mismatches=mismatches)
    differ, episodes = map(sum, zip(*results.values(), strict=True))
    print(f"embedded pair: {differ}/{episodes} episodes differ between live and replay; largest observation "
          f"deviation {max(OBS_DEVIATION):.2g}")
    # Every policy ran in the modes it stops in (fixed-k and bandit-ucb include only, svip exclude only): 6 + 5.
    assert episodes == 11 * len(prompts), results
    assert differ == 0, mismatches
    from ebsd_env.decoding.decoder import SpeculativeDecoder
    from ebsd_env.replay.batched import compare_traces, record_trace_batched
    from ebsd_env.replay.record import decoder_prompt

    decoder = SpeculativeDecoder(embedded_pair, max_new_tokens=budget)
    recorded = TraceSet.load(out)
    for i, row in enumerate(prompts):
        batched = record_trace_batched(decoder, decoder_prompt(embedded_pair, row), draft, budget)
        result = compare_traces(recorded[i], batched)
        assert result["differ"] == 0 and result["positions"] > 0, (row["id"], result)


@pytest.mark.slow
def test_replay_of_the_int4_copy_is_exact_where_the_verifier_is_width_invariant(tmp_path):
    """The int4 copy drafts from the verifier's own cache, which the recorder fills one token at a time and the
    live env in whole blocks. With the verifier's linears on `avx2-panels` and its attention on the few-query
    kernel, a token's keys and values are the same bits either way (`pair.metadata["width_invariant"]`), so
    replay repeats the live env exactly: 63 episodes (one prompt of each built-in category, 32 tokens, every
    policy of `POLICIES` in the modes it stops in), none may differ, with observations equal to the bit. (With
    torch's kernels every episode differed in this setting, docs/replay.md.)"""
    from ebsd_env.decoding.models import cached_pair
    from ebsd_env.prompts import load_prompts

    pair = cached_pair("int4", kernels="avx2-panels")
    if not pair.metadata["width_invariant"]:
        pytest.skip(f"the verifier is not width-invariant here (attention {pair.metadata['verifier_attention']}, "
                    f"kernels {pair.metadata['kernels']})")
    prompts = load_prompts(None, limit_per_category=1)
    draft, budget = 8, 32
    out = tmp_path / "int4"
    record(pair, prompts, out, max_draft_len=draft, max_new_tokens=budget, progress=False, calibrate_clock=False)
    results, mismatches = {}, []
    OBS_DEVIATION.clear()
    for mode in ("include", "exclude"):
        live = EBSDEnv(pair, prompts=prompts, max_draft_len=draft, max_new_tokens=budget, clock="model",
                       cost_model=TOY_COSTS, stop_mode=mode, extra_signals=True)
        replay = ReplayEnv(out, stop_mode=mode, cost_model=TOY_COSTS, extra_signals=True)
        for spec in POLICIES:
            results[(mode, spec.split(":")[0])] = compare(live, replay, spec, len(prompts), obs_tolerance=0.0,
                                                          mismatches=mismatches)
    differ, episodes = map(sum, zip(*results.values(), strict=True))
    print(f"int4 copy: {differ}/{episodes} episodes differ between live and replay; largest observation "
          f"deviation {max(OBS_DEVIATION):.2g}")
    assert episodes == 9 * len(prompts), results  # 5 policies stop in include mode, 4 in exclude
    assert differ == 0, mismatches


def test_train_ppo_and_tune_on_traces(tmp_path):
    from ebsd_env.decoding.tiny import tiny_pair
    from ebsd_env.fingerprint import read_zip
    from train import ppo, tune

    # Recorded with the pair `--pair tiny-noisy` loads, which the periodic live evaluation decodes with.
    noisy_traces = tmp_path / "traces"
    record(tiny_pair("noisy"), PROMPTS, noisy_traces, max_draft_len=MAX_DRAFT, max_new_tokens=BUDGET, progress=False,
           calibrate_clock=False)
    TOY_COSTS.save(noisy_traces / "cost_model.json")

    ppo.main(["--traces", str(noisy_traces), "--clock", "model", "--num-envs", "4", "--total-timesteps", "256",
              "--n-steps", "32", "--batch-size", "64", "--n-epochs", "1", "--max-new-tokens", str(BUDGET),
              "--max-draft-len", str(MAX_DRAFT), "--runs-dir", str(tmp_path / "runs"), "--no-progress-bar",
              "--eval-freq", "32", "--checkpoint-freq", "32", "--fixed-ks", "0", "2", "--stop-mode", "include",
              "--pair", "tiny-noisy", "--live-eval-freq", "128", "--eval-prompts-per-category", "1"])
    (run,) = (tmp_path / "runs").iterdir()
    record_json = json.loads((run / "record.json").read_text())
    assert run.name.startswith("EBSD-Replay-v1__") and record_json["steps"] >= 256 and "best_eval" in record_json
    # The periodic live evaluation decoded the traces' own prompts on the wall clock, logged beside replay's.
    live = json.loads((run / "live_eval.json").read_text())
    assert [e["step"] for e in live["evaluations"]] == [128, 256] and live["baselines"]["no-spec"]["new_tokens"] > 0
    # Every model the run wrote carries its fingerprint: the traces' pair, the layout, the stop mode, the clock.
    fingerprint = read_zip(run / "best_model.zip")
    assert fingerprint == read_zip(run / "model.zip") == record_json["fingerprint"]
    assert fingerprint["pair"]["verifier"] == "tiny-verifier-0" and fingerprint["action"]["stop_mode"] == "include"
    assert fingerprint["clock"]["kind"] == "model" and fingerprint["observation"]["history"] == 8
    with pytest.raises(ValueError, match="not the one they were recorded with"):
        ppo.main(["--traces", str(noisy_traces), "--clock", "model", "--total-timesteps", "64", "--num-envs", "2",
                  "--n-steps", "32", "--batch-size", "64", "--max-new-tokens", str(BUDGET), "--max-draft-len",
                  str(MAX_DRAFT), "--runs-dir", str(tmp_path / "runs3"), "--pair", "tiny-copy",
                  "--live-eval-freq", "32", "--no-progress-bar"])
    assert tune.main(["bayes", "--rule", "entropy-abs", "--traces", str(noisy_traces), "--budget", "3",
                      "--storage", str(tmp_path / "tune.db"), "--out", str(tmp_path / "best.json"),
                      "--max-new-tokens", str(BUDGET), "--env-max-draft-len", str(MAX_DRAFT),
                      "--prompts-per-category", "2"]) == 0
    best = json.loads((tmp_path / "best.json").read_text())["best"]
    assert all(0 < row["oracle_dp_share"] <= 1 + 1e-9 for row in best.values())
    # The tuned rules run as one policy, each prompt under its category's spec, in the env they were tuned on.
    from policies import make_policy, run_episode

    env = ReplayEnv(noisy_traces, max_new_tokens=BUDGET, max_draft_len=MAX_DRAFT)
    tuned = make_policy(f"tuned:path={tmp_path / 'best.json'}", env=env)
    for index in range(len(PROMPTS)):
        result = run_episode(env, tuned, seed=0, options={"prompt_index": index})
        assert tuned.current is tuned.subs[PROMPTS[index]["category"]] and result["new_tokens"] > 0
    with pytest.raises(ValueError, match="max_draft_len 4 here vs 8"):
        make_policy(f"tuned:path={tmp_path / 'best.json'}", env=ReplayEnv(noisy_traces, max_draft_len=4))
    with pytest.raises(ValueError, match="only the model clock"):
        ppo.main(["--traces", str(noisy_traces), "--clock", "wall", "--runs-dir", str(tmp_path / "runs2"),
                  "--max-new-tokens", str(BUDGET), "--max-draft-len", str(MAX_DRAFT)])


@pytest.mark.parametrize("pair_name", ["noisy_pair", "feature_pair"])
def test_batched_recording_equals_the_live_recorder(pair_name, request, tmp_path):
    from ebsd_env.decoding.decoder import SpeculativeDecoder
    from ebsd_env.replay.batched import compare_traces, record_trace_batched
    from ebsd_env.replay.record import record_trace

    pair = request.getfixturevalue(pair_name)
    decoder = SpeculativeDecoder(pair, max_new_tokens=BUDGET)
    for row in PROMPTS:
        live = record_trace(decoder, row["prompt"], MAX_DRAFT, BUDGET)
        batched = record_trace_batched(decoder, row["prompt"], MAX_DRAFT, BUDGET, batch_size=7)
        result = compare_traces(live, batched)
        # Equal chains; signals to float32 rounding, which the feature drafter's own-feature loop amplifies with
        # depth (up to ~3e-3 on the barely trained tiny one, ~2e-5 on the embedded pair).
        assert result["differ"] == 0 and result["max_signal_deviation"] < 1e-2, result
    out = tmp_path / "batched"
    record(pair, PROMPTS, out, max_draft_len=MAX_DRAFT, max_new_tokens=BUDGET, progress=False, calibrate_clock=False,
           batched=True)
    live_env_, replay = live_env(pair, stop_mode="include"), ReplayEnv(out, stop_mode="include", cost_model=TOY_COSTS)
    assert compare(live_env_, replay, "entropy-abs:theta=1.0", len(PROMPTS), obs_tolerance=1e-2)[0] == 0


def test_batched_recording_refuses_prompt_lookup(ngram_pair):
    from ebsd_env.decoding.decoder import SpeculativeDecoder
    from ebsd_env.replay.batched import record_trace_batched

    with pytest.raises(ValueError, match="record without --batched"):
        record_trace_batched(SpeculativeDecoder(ngram_pair), "hello", 4, 8)
