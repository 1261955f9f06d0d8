"""The policy's decision is charged: measured on the wall clock, declared per decision on the model and replay
clocks (live env, replay env, vector replay env, oracle-dp), timed by `time_decisions`, stored with the cost
model and fingerprinted; prefill is reported beside, in an end-to-end rate."""

from __future__ import annotations

import json
import time

import gymnasium as gym
import numpy as np
import pytest

from ebsd_env.envs.ebsd import EBSDEnv
from ebsd_env.envs.objective import episodes_objective
from ebsd_env.fingerprint import cost_model_hash, env_fingerprint
from ebsd_env.prompts import normalise_prompts
from ebsd_env.replay import ReplayEnv
from ebsd_env.replay.oracle import optimal_plan
from ebsd_env.replay.record import record
from ebsd_env.replay.vector import ReplayVectorEnv
from ebsd_env.timing.clock import Clock, time_decisions
from ebsd_env.timing.cost_model import CostModel
from policies.registry import make_policy
from policies.rollout import run_episode

TOY_COSTS = CostModel(draft_s=0.025, verify_points=((1, 0.1), (2, 0.105), (9, 0.14), (17, 0.18)), source="toy")
PROMPTS = normalise_prompts(["the cat sat on", "hello world, how are", "count 1 2 3 4 5"])
SPEC = "fixed-k:k=2"
SLEEP_S = 0.005


class Sleepy:
    """A policy whose `predict` sleeps `SLEEP_S` per decision before deciding as `inner` does."""

    def __init__(self, inner, sleep_s: float = SLEEP_S):
        self.inner, self.sleep_s = inner, sleep_s

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def predict(self, observation, **kwargs):
        time.sleep(self.sleep_s)
        return self.inner.predict(observation, **kwargs)


def episodes(env, policy, prompts: int = len(PROMPTS)) -> list[dict]:
    """`run_episode` on every prompt, keeping the rewards (the env's own, not recomputed)."""
    out = []
    for i in range(prompts):
        rewards = []
        step = env.step

        def recording_step(action, step=step, rewards=rewards):
            result = step(action)
            rewards.append(result[1])
            return result

        env.step = recording_step
        try:
            stats = run_episode(env, policy, seed=0, options={"prompt_index": i})
        finally:
            del env.step
        out.append({**stats, "return": sum(rewards)})
    return out


def test_a_policy_sleeping_5ms_per_decision_scores_correspondingly_lower_on_the_wall_clock(noisy_pair):
    env = gym.make("EBSD-v1", pair=noisy_pair, prompts=PROMPTS, max_new_tokens=16, max_draft_len=4,
                   clock="wall", cost_model=TOY_COSTS)
    plain = episodes(env, make_policy(SPEC, env=env))
    sleepy = episodes(env, Sleepy(make_policy(SPEC, env=env)))
    base = env.unwrapped
    for a, b in zip(plain, sleepy, strict=True):
        assert a["output_ids"] == b["output_ids"] and a["decisions"] == b["decisions"] > 0
        # Every decision slept 5 ms, and all of it (with the rest of the decision) is charged.
        assert b["decide_s"] >= SLEEP_S * b["decisions"] > a["decide_s"]
        assert b["decode_s"] == pytest.approx(b["draft_s"] + b["verify_s"] + b["decide_s"], rel=1e-12)
        assert b["return"] == pytest.approx((b["new_tokens"] - base.decode_clock.baseline_rate * b["decode_s"])
                                            / base.reward_scale, rel=1e-9)
    tokens = sum(s["new_tokens"] for s in sleepy)
    work = sum(s["draft_s"] + s["verify_s"] for s in sleepy)
    decisions = sum(s["decisions"] for s in sleepy)
    # Correspondingly lower: at most the objective with 5 ms added per decision, and below the plain policy's.
    assert episodes_objective(sleepy) <= tokens / (work + SLEEP_S * decisions)
    assert episodes_objective(sleepy) < episodes_objective(plain)
    assert sum(s["return"] for s in sleepy) < sum(s["return"] for s in plain)


def test_the_model_clock_charges_a_declared_cost_per_decision(noisy_pair):
    def env(**kwargs):
        return EBSDEnv(noisy_pair, prompts=PROMPTS, max_new_tokens=16, max_draft_len=4, clock="model",
                       cost_model=TOY_COSTS.__class__(**{**TOY_COSTS.__dict__, "decide_s": {SPEC: 0.003}}), **kwargs)

    free, charged, by_spec = env(), env(decide_s=SLEEP_S), env(decide_s=SPEC)
    for (a, b, c) in zip(episodes(free, make_policy(SPEC, env=free)),
                         episodes(charged, Sleepy(make_policy(SPEC, env=charged), 0.0)),
                         episodes(by_spec, make_policy(SPEC, env=by_spec)), strict=True):
        assert a["decide_s"] == 0.0 and a["decisions"] == b["decisions"] == c["decisions"] > 0
        assert b["decide_s"] == pytest.approx(SLEEP_S * b["decisions"], rel=1e-12)
        assert b["decode_s"] == pytest.approx(a["decode_s"] + SLEEP_S * b["decisions"], rel=1e-12)
        assert c["decode_s"] == pytest.approx(a["decode_s"] + 0.003 * c["decisions"], rel=1e-12)
        assert b["return"] == pytest.approx(a["return"] - free.decode_clock.baseline_rate * SLEEP_S * b["decisions"]
                                            / free.reward_scale, rel=1e-9)
        assert b["tokens_per_s"] == pytest.approx(b["new_tokens"] / b["decode_s"], rel=1e-12)
        assert b["wall_prefill_s"] > 0 and b["wall_end_to_end_tokens_per_s"] == pytest.approx(
            b["new_tokens"] / (b["decode_s"] + b["wall_prefill_s"]), rel=1e-12)
    assert env_fingerprint(charged)["clock"]["decide_s"] == SLEEP_S and "decide_s" not in env_fingerprint(free)["clock"]


def test_decision_costs_are_refused_where_they_cannot_apply(noisy_pair):
    with pytest.raises(ValueError, match="wall clock measures each decision itself"):
        EBSDEnv(noisy_pair, prompts=PROMPTS, clock="wall", cost_model=TOY_COSTS, decide_s=0.001)
    with pytest.raises(ValueError, match="no decision cost for policy 'svip' .*time_decisions"):
        EBSDEnv(noisy_pair, prompts=PROMPTS, clock="model", cost_model=TOY_COSTS, decide_s="svip")
    with pytest.raises(ValueError, match="decide_s must be >= 0"):
        Clock("model", TOY_COSTS, decide_s=-1.0)
    with pytest.raises(ValueError, match="seconds per decision >= 0"):
        CostModel(0.025, TOY_COSTS.verify_points, decide_s={SPEC: -0.1})


def test_decision_costs_are_stored_with_the_cost_model_and_fingerprinted(tmp_path):
    measured = CostModel(TOY_COSTS.draft_s, TOY_COSTS.verify_points, decide_s={SPEC: 0.0004})
    measured.save(tmp_path / "costs.json")
    assert CostModel.load(tmp_path / "costs.json").decide_s == {SPEC: 0.0004}
    assert cost_model_hash(measured) != cost_model_hash(TOY_COSTS)
    other = CostModel(TOY_COSTS.draft_s, TOY_COSTS.verify_points, decide_s={SPEC: 0.0005})
    assert cost_model_hash(other) != cost_model_hash(measured)
    # A cost model without decision costs keeps the hash it had before they existed.
    import hashlib
    import json

    old = {"draft_s": TOY_COSTS.draft_s, "verify_points": [list(p) for p in TOY_COSTS.verify_points]}
    assert cost_model_hash(TOY_COSTS) == hashlib.sha256(json.dumps(old, sort_keys=True).encode()).hexdigest()[:16]
    assert Clock("model", measured).for_policy(SPEC).decide_s == 0.0004
    assert Clock("wall", measured).for_policy(SPEC).decide_s == 0.0  # the wall clock measures it


def test_time_decisions_is_the_median_of_single_calls():
    calls = []

    def predict(obs):
        calls.append(np.asarray(obs).shape)
        time.sleep(0.002 if len(calls) % 10 else 0.05)  # one slow call in ten: the median ignores it
        return 0, None

    seconds = time_decisions(predict, [[0.1, 0.2, 0.3]] * 3, calls=21, warmup=2)
    assert 0.002 <= seconds < 0.02 and len(calls) == 23 and set(calls) == {(3,)}
    with pytest.raises(ValueError, match="needs recorded observations"):
        time_decisions(predict, [])


def test_a_cold_measurement_flushes_before_every_timed_call_and_times_only_the_call():
    from ebsd_env.timing.clock import cache_flush

    order = []

    def predict(obs):
        order.append("predict")
        return 0, None

    def flush():
        order.append("flush")
        time.sleep(0.01)  # the untimed work: a timed one would make the median >= 10 ms

    seconds = time_decisions(predict, [[0.0]], calls=5, warmup=1, flush=flush)
    assert order == ["predict"] + ["flush", "predict"] * 5 and seconds < 0.005
    read = cache_flush(1 << 20)
    assert read() == (1 << 20) // 8  # it reads the whole buffer
    with pytest.raises(ValueError, match="flush size must be >= 0"):
        cache_flush(-1)


@pytest.fixture(scope="module")
def traces(noisy_pair, tmp_path_factory):
    out = tmp_path_factory.mktemp("traces") / "decide"
    record(noisy_pair, PROMPTS, out, max_draft_len=4, max_new_tokens=16, shard_size=4, progress=False,
           calibrate_clock=False)
    return out


@pytest.mark.parametrize("stop_mode", ["include", "exclude"])
def test_replay_and_vector_envs_charge_each_decision(traces, stop_mode):
    decide_s = 0.004
    free = ReplayEnv(traces, cost_model=TOY_COSTS, stop_mode=stop_mode)
    charged = ReplayEnv(traces, cost_model=TOY_COSTS, stop_mode=stop_mode, decide_s=decide_s)
    vec = ReplayVectorEnv(traces, num_envs=len(PROMPTS), cost_model=TOY_COSTS, stop_mode=stop_mode,
                          decide_s=decide_s)
    obs, _ = vec.reset(options={"trace_indices": list(range(len(PROMPTS)))})
    policy = make_policy("entropy-abs:theta=1.0", env=charged)
    done, final = np.zeros(len(PROMPTS), dtype=bool), {}
    while not done.all():
        obs, _, terminated, truncated, infos = vec.step([policy.act(o) if not d else 1 for o, d in zip(obs, done,
                                                                                                        strict=True)])
        for i in np.flatnonzero((terminated | truncated) & ~done):
            final[i] = {key: value[i] for key, value in infos["final_info"].items()}
        done |= terminated | truncated
    for i, (a, b) in enumerate(zip(episodes(free, make_policy("entropy-abs:theta=1.0", env=free)),
                                   episodes(charged, policy), strict=True)):
        assert b["decide_s"] == pytest.approx(decide_s * b["decisions"], rel=1e-12)
        assert b["decode_s"] == pytest.approx(a["decode_s"] + decide_s * a["decisions"], rel=1e-12)
        assert b["wall_prefill_s"] == 0.0 and b["wall_end_to_end_tokens_per_s"] == b["tokens_per_s"]  # no prefill
        assert final[i]["decisions"] == b["decisions"] and final[i]["decode_s"] == pytest.approx(b["decode_s"],
                                                                                                 rel=1e-12)
        assert final[i]["episode_return"] == pytest.approx(b["return"], rel=1e-9)
        # oracle-dp plans with the decision cost and is followed to its own time.
        plan = optimal_plan(charged.traces[i], TOY_COSTS, charged.max_draft_len, stop_mode, decide_s=decide_s)
        followed = run_episode(charged, make_policy("oracle-dp", env=charged), options={"prompt_index": i})
        assert followed["decode_s"] == pytest.approx(plan.time_s, rel=1e-12)
        assert plan.time_s <= b["decode_s"] * (1 + 1e-12)


def test_eval_tables_carry_the_decision_share_and_the_end_to_end_rate():
    from eval.analysis import cell_metrics
    from eval.metrics import token_latencies

    def row(tokens, draft, verify, decide, prefill=None):
        stats = {"new_tokens": tokens, "draft_s": draft, "verify_s": verify, "decide_s": decide,
                 "decode_s": draft + verify + decide, "tokens_per_s": tokens / (draft + verify + decide),
                 "draft_lengths": [1], "accepted_lengths": [1], "blocks": 1, "drafted": 1, "accepted": 1}
        if prefill is not None:
            stats["wall_prefill_s"] = prefill
        return {"stats": stats, "prompt_id": "p", "seed": 0, "blocks": [
            {"drafted": 1, "accepted": 1, "emitted": tokens, "draft_s": draft, "verify_s": verify, "decide_s": decide,
             "entropies": [0.1]}]}

    rows = [row(10, 0.5, 1.0, 0.5, prefill=1.0), row(30, 1.0, 2.0, 1.0, prefill=2.0)]
    m = cell_metrics(rows, {})
    assert m["decide_share"] == pytest.approx(1.5 / 6.0)
    assert m["tokens_per_s"]["mean"] == pytest.approx(40 / 6.0)
    assert m["end_to_end_tokens_per_s"]["mean"] == pytest.approx(40 / 9.0)
    assert token_latencies(rows[0]) == pytest.approx([0.2] * 10)  # (0.5 + 1.0 + 0.5) s over 10 tokens
    old = cell_metrics([row(10, 0.5, 1.0, 0.0)], {})  # written before prefill was reported
    assert np.isnan(old["end_to_end_tokens_per_s"]["mean"]) and old["decide_share"] == 0.0


def test_ebsd_eval_on_the_model_clock_measures_and_charges_each_policys_decisions(noisy_pair, tmp_path,
                                                                                 make_prompt_file):
    from eval.run import EvalConfig, evaluate, read_rows

    TOY_COSTS.save(tmp_path / "toy.json")
    prompts = make_prompt_file(tmp_path, [{"id": "a", "category": "x", "prompt": "the cat sat on"},
                                          {"id": "b", "category": "y", "prompt": "1 2 3 4"}])
    out = tmp_path / "run"
    config = EvalConfig(prompts=prompts, policies=("fixed-k:k=2", "entropy-abs:theta=1.5"), max_new_tokens=12,
                        clock="model", cost_model=str(tmp_path / "toy.json"), out=str(out), limit_per_category=None)
    evaluate(config, pair=noisy_pair)
    saved = json.loads((out / "cost_model_T0.json").read_text())["decide_s"]
    rows = read_rows(out / "episodes.jsonl")
    assert {r["policy"] for r in rows} <= set(saved) and all(v > 0 for v in saved.values())
    for r in rows:
        stats = r["stats"]
        assert stats["decide_s"] == pytest.approx(saved[r["policy"]] * stats["decisions"], rel=1e-12)
        assert stats["decode_s"] == pytest.approx(stats["draft_s"] + stats["verify_s"] + stats["decide_s"], rel=1e-12)
        assert sum(b["decide_s"] for b in r["blocks"]) == pytest.approx(stats["decide_s"], rel=1e-9)
    summary = json.loads((out / "summary.json").read_text())
    cell = next(iter(summary["conditions"].values()))["results"]
    assert all(0 < m["all"]["decide_share"] < 1 for m in cell.values())
    assert "end-to-end tokens/s" in (out / "report.md").read_text()


def test_the_oracles_privileged_peek_is_not_charged_as_its_decision_on_the_wall_clock(noisy_pair, monkeypatch):
    """oracle-first-reject peeks at the verifier between an observation and its action; the `verify` that follows
    repeats (and is charged for) that work, so a slow peek must not show up in the oracle's decision time."""
    env = gym.make("EBSD-v1", pair=noisy_pair, prompts=PROMPTS, max_new_tokens=16, max_draft_len=4,
                   clock="wall", cost_model=TOY_COSTS)
    decoder = env.unwrapped.decoder
    peek = decoder.peek_accepts
    peeks = []

    def slow_peek():
        peeks.append(1)
        time.sleep(0.02)
        return peek()

    monkeypatch.setattr(decoder, "peek_accepts", slow_peek)
    stats = episodes(env, make_policy("oracle-first-reject", env=env))
    assert peeks and sum(s["decisions"] for s in stats) > 0
    # 20 ms a peek, none of it charged: what is left of each decision is the policy's own bookkeeping.
    assert sum(s["decide_s"] for s in stats) < 0.002 * sum(s["decisions"] for s in stats)
    assert all(s["decode_s"] == pytest.approx(s["draft_s"] + s["verify_s"] + s["decide_s"], rel=1e-12) for s in stats)


@pytest.mark.parametrize("cold", [True, False])
def test_decision_cost_flushes_the_caches_before_each_call_unless_asked_warm(traces, monkeypatch, cold):
    import ebsd_env.timing.clock as clock_module
    from policies.rollout import decision_cost

    flushes = []
    monkeypatch.setattr(clock_module, "cache_flush", lambda: lambda: flushes.append(1))
    env = ReplayEnv(traces, cost_model=TOY_COSTS)
    seconds = decision_cost(env, make_policy("entropy-abs:theta=1.0", env=env), calls=7, cold=cold)
    assert seconds > 0 and len(flushes) == (7 if cold else 0)
