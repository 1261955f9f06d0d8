"""Aligned multi-drafter traces, EBSD-Multi-Replay-v1 and the oracle over (drafter, k)."""

from __future__ import annotations

import dataclasses
import json
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import ebsd_env  # noqa: F401  (registers the env ids)
from ebsd_env.decoding.entropy import EntropyConfig
from ebsd_env.decoding.models import derive_drafter
from ebsd_env.decoding.multi import multi_pair
from ebsd_env.envs.multi import FIRST_DRAFTER
from ebsd_env.replay.env import ReplayEnv
from ebsd_env.replay.multi import MANIFEST, MultiReplayEnv, MultiTraceSet
from ebsd_env.replay.oracle import optimal_plan
from ebsd_env.replay.oracle_multi import NO_DRAFTER, optimal_multi_plan, optimal_multi_time
from ebsd_env.replay.record import record_multi, settings_dict
from ebsd_env.replay.trace import SIGNALS, Trace, TraceError, TraceSet
from ebsd_env.timing.cost_model import CostModel

ROWS = [{"id": f"p{i}", "category": c, "prompt": p} for i, (c, p) in enumerate(
    [("chat", "hello world, hello world, hello"), ("code", "abc abc abc abc"), ("chat", "the cat sat on the mat")])]
# Dyadic costs: sums of them are exact in floating point, so plans compare with ==.
VERIFY = ((1, 1.0), (2, 1.125), (5, 1.5), (9, 2.0), (17, 3.0))
COSTS = [CostModel(draft_s=s, verify_points=VERIFY, source="toy") for s in (0.25, 0.375, 0.0625)]


@pytest.fixture(scope="module")
def recorded(noisy_pair, tmp_path_factory):
    drafters = [noisy_pair.drafter, derive_drafter(noisy_pair.verifier, "int4"),
                derive_drafter(noisy_pair.verifier, "ngram")]
    pair = multi_pair(noisy_pair, drafters, ["noisy", "int4", "ngram"])
    out = tmp_path_factory.mktemp("multi-traces")
    record_multi(pair, ROWS, out, max_draft_len=5, max_new_tokens=20, shard_size=2, calibrate_clock=False,
                 progress=False)
    return out


def test_record_writes_one_readable_single_drafter_set_per_drafter(recorded):
    manifest = json.loads((recorded / MANIFEST).read_text())
    assert [e["name"] for e in manifest["drafters"]] == ["noisy", "int4", "ngram"]
    multi = MultiTraceSet.load(recorded)
    assert len(multi) == len(ROWS)
    for entry, traces in zip(manifest["drafters"], multi.sets, strict=True):
        single = TraceSet.load(recorded / entry["folder"])  # as before: a single-drafter set
        assert single.fingerprint["drafter"] == entry["name"]
        env = ReplayEnv(single, cost_model=COSTS[0])
        env.reset(options={"prompt_index": 0})
        assert [t.output for t in traces.traces] == [t.output for t in multi.sets[0].traces]
    chains = [multi.sets[d][1].chain(4).tolist() for d in range(3)]
    assert len({tuple(c) for c in chains}) > 1  # the drafters propose differently at one position


def test_misaligned_sets_are_refused(recorded):
    multi = MultiTraceSet.load(recorded)
    other = TraceSet([multi.sets[1][i] for i in range(len(multi))], multi.sets[1].fingerprint, multi.sets[1].settings)
    broken = other.traces[1]
    other.traces[1] = Trace(broken.id, broken.category, broken.prompt_index, broken.prompt_ids,
                            broken.output[:-1] + [broken.output[-1] + 1], broken.budget, broken.chain_offsets,
                            broken.chain_tokens, broken.signals)
    with pytest.raises(TraceError, match="not aligned"):
        MultiTraceSet(multi.names[:2], [multi.sets[0], other])
    with pytest.raises(TraceError, match="no multi.json"):
        MultiTraceSet.load(recorded / "drafter-0-noisy")


def test_replay_checkers_and_chains_of_the_selected_drafter(recorded):
    env = gym.make("EBSD-Multi-Replay-v1", traces=str(recorded), cost_model=COSTS)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gym_check_env(env.unwrapped)
        sb3_check_env(env.unwrapped, warn=True)
    assert [str(w.message) for w in caught] == []
    env = env.unwrapped
    multi = env.traces
    env.reset(options={"prompt_index": 1})
    for d in (2, 0, 1, 0):
        j = len(env.decoder.new_tokens)
        env.step(FIRST_DRAFTER + d)
        env.step(0)
        assert env.decoder.draft_tokens == multi.sets[d][1].chain(j)[:2].tolist()
        env.step(1)
    with pytest.raises(ValueError, match="wall clock cannot be replayed"):
        MultiReplayEnv(multi, clock="wall", cost_model=COSTS)


def random_traces(rng, n_drafters, length, budget, max_draft_len, vocab=3):
    """Aligned random traces of one prompt: one output, per drafter a chain at every position whose tokens follow
    the output with a drafter-specific error rate (so agreements vary by drafter and position)."""
    output = rng.integers(0, vocab, size=length).tolist()
    eos = vocab  # an output shorter than its budget ends in EOS, and a chain ends at a drafted EOS, as recorded
    if length < budget:
        output[-1] = eos
    traces = []
    for _ in range(n_drafters):
        error = rng.uniform(0.05, 0.8)
        offsets, tokens = [0], []
        for j in range(length):
            size = min(max_draft_len, budget - j - 1)
            for i in range(max(size, 0)):
                truth = output[j + i] if j + i < length else 0
                tokens.append(truth if rng.random() > error else (truth + 1) % vocab)
                if tokens[-1] == eos:
                    break
            offsets.append(len(tokens))
        signals = {name: np.zeros(len(tokens)) for name in SIGNALS}
        traces.append(Trace("prompt", "test", 0, [0], output, budget, np.asarray(offsets), np.asarray(tokens), signals))
    return traces


def exhaustive_time(traces, costs, max_draft_len, stop_mode, j=0):
    """The least time over every sequence of block choices (k = 0, or a drafter and a k), by enumeration."""
    N, budget = len(traces[0].output), traces[0].budget
    if j >= N:
        return 0.0
    options = [(None, 0)] + [(d, k) for d in range(len(traces))
                             for k in range(1, min(max_draft_len, len(traces[d].chain(j)), budget - j - 1) + 1)]
    best = float("inf")
    for d, k in options:
        if d is None:
            drafted, accepted = 0, 0
        else:
            kmax = min(max_draft_len, len(traces[d].chain(j)), budget - j - 1)
            chain, truth = traces[d].chain(j)[:k], traces[d].output[j:j + k]
            agree = [a == b for a, b in zip(chain, truth, strict=False)]
            accepted = agree.index(False) if False in agree else min(k, len(truth))
            drafted = k + 1 if stop_mode == "exclude" and k < kmax else k
        time_s = (costs[d].block_draft_cost(drafted) if d is not None else 0.0) + costs[0].verify_cost(k + 1)
        nxt = min(j + accepted + 1, N)
        if nxt < N and budget - nxt <= 1:  # one token of budget left: the verifier alone, at once
            time_s += costs[0].verify_cost(1)
            nxt += 1
        best = min(best, time_s + exhaustive_time(traces, costs, max_draft_len, stop_mode, nxt))
    return best


# Each drafter's block also pays its catch-up (`CostModel.catch_up_s`; binary fractions: sums stay exact).
CATCH_UP_COSTS = [dataclasses.replace(c, catch_up_s=s) for c, s in zip(COSTS, (0.5, 0.0625, 0.125), strict=True)]


@pytest.mark.parametrize("stop_mode", ["include", "exclude"])
@pytest.mark.parametrize("all_costs", [COSTS, CATCH_UP_COSTS], ids=["steps", "catch-up"])
def test_dp_equals_exhaustive_search(stop_mode, all_costs):
    rng = np.random.default_rng(7)
    blind_wrong = 0
    for case in range(40):
        n_drafters = int(rng.integers(1, 4))
        length = int(rng.integers(1, 8))
        budget = length + int(rng.integers(0, 2))
        max_draft_len = int(rng.integers(1, 4))
        traces = random_traces(rng, n_drafters, length, budget, max_draft_len)
        costs = all_costs[:n_drafters]
        dp = optimal_multi_time(traces, costs, max_draft_len, stop_mode)
        assert dp == exhaustive_time(traces, costs, max_draft_len, stop_mode), case
        # A planner blind to the catch-up, its plan priced with it, is caught where the catch-up changes the plan.
        blind = optimal_multi_plan(traces, COSTS[:n_drafters], max_draft_len, stop_mode)
        blind_wrong += plan_time(traces, costs, blind, stop_mode) != dp
    assert blind_wrong > 0 or all_costs is COSTS


def plan_time(traces, costs, plan, stop_mode) -> float:
    """The time of following `plan` (its drafter and k per block start) under `costs`, by the oracle's rules."""
    N, budget, j, time_s = len(traces[0].output), traces[0].budget, 0, 0.0
    while j < N:
        d, k = int(plan.drafter[j]), int(plan.k[j])
        if d == NO_DRAFTER:
            accepted, drafted = 0, 0
        else:
            chain, truth = traces[d].chain(j)[:k], traces[d].output[j:j + k]
            agree = [a == b for a, b in zip(chain, truth, strict=False)]
            accepted = agree.index(False) if False in agree else min(k, len(truth))
            drafted = k + 1 if stop_mode == "exclude" and k < plan.k_max[d, j] else k
        time_s += (costs[d].block_draft_cost(drafted) if d != NO_DRAFTER else 0.0) + costs[0].verify_cost(k + 1)
        j = min(j + accepted + 1, N)
        if j < N and budget - j <= 1:
            time_s += costs[0].verify_cost(1)
            j += 1
    return time_s


@pytest.mark.parametrize("stop_mode", ["include", "exclude"])
def test_one_drafter_is_the_single_drafter_oracle(stop_mode):
    rng = np.random.default_rng(3)
    for _ in range(20):
        traces = random_traces(rng, 1, int(rng.integers(1, 12)), 14, 4)
        single = optimal_plan(traces[0], COSTS[0], 4, stop_mode).time_s
        assert optimal_multi_time(traces, COSTS[:1], 4, stop_mode) == single


def test_switching_wins_where_drafters_take_turns():
    """Drafter 0 is right on the first half, drafter 1 on the second: the plan switches and beats both drafters'
    own oracle (a planner restricted to one drafter cannot reach it)."""
    vocab, half = 3, 8
    output = [int(i % vocab) for i in range(2 * half)]
    traces = []
    for d in range(2):
        offsets, tokens = [0], []
        for j in range(2 * half):
            right = (j < half) == (d == 0)
            for i in range(min(4, 2 * half - j - 1)):
                truth = output[j + i] if j + i < len(output) else 0
                tokens.append(truth if right else (truth + 1) % vocab)
            offsets.append(len(tokens))
        traces.append(Trace(f"d{d}", "test", 0, [0], output, 2 * half, np.asarray(offsets), np.asarray(tokens),
                            {name: np.zeros(len(tokens)) for name in SIGNALS}))
    costs = [COSTS[0], COSTS[0]]
    plan = optimal_multi_plan(traces, costs, 4)
    alone = min(optimal_plan(t, c, 4).time_s for t, c in zip(traces, costs, strict=True))
    assert plan.time_s < alone
    used = set(plan.drafter[plan.drafter != NO_DRAFTER].tolist())
    assert used == {0, 1}


def follow(env, plan, stop_mode):
    """Drive the replay env by the plan; returns the episode statistics."""
    env.reset(options={"prompt_index": 0})
    while True:
        j = len(env.decoder.new_tokens)
        d, k = int(plan.drafter[j]), int(plan.k[j])
        if d == NO_DRAFTER:
            result = env.step(1)
        else:
            result = env.step(FIRST_DRAFTER + d)
            # Exclude mode verifies k by stopping at k + 1; the whole draft (k_max) by continuing at its end.
            whole = stop_mode == "exclude" and k == plan.k_max[d, j]
            target = k + 1 if stop_mode == "exclude" else k
            while not result[4]["verified"]:
                result = env.step(1 if len(env.decoder.draft_steps) >= target and not whole else 0)
        if result[2] or result[3]:
            return result[4]["episode_stats"]


@pytest.mark.parametrize("stop_mode", ["include", "exclude"])
@pytest.mark.parametrize("all_costs", [COSTS, CATCH_UP_COSTS], ids=["steps", "catch-up"])
def test_the_replay_env_charges_the_plans_time(stop_mode, all_costs):
    """Following each plan through EBSD-Multi-Replay-v1 takes exactly the plan's time: the oracle and the env
    agree on every rule (costs per drafter and their catch-up, stop modes, forced ends, the last token of
    budget)."""
    rng = np.random.default_rng(11)
    for _ in range(15):
        length, max_draft_len = int(rng.integers(2, 14)), int(rng.integers(1, 5))
        traces = random_traces(rng, 3, length, length + int(rng.integers(0, 2)), max_draft_len)
        settings = settings_dict(EntropyConfig(), max_draft_len, traces[0].budget)
        sets = [TraceSet([t], {"vocab_size": 4}, settings) for t in traces]
        env = MultiReplayEnv(MultiTraceSet(["a", "b", "c"], sets), cost_model=all_costs, stop_mode=stop_mode)
        plan = optimal_multi_plan(traces, all_costs, max_draft_len, stop_mode)
        stats = follow(env, plan, stop_mode)
        assert stats["output_ids"] == traces[0].output
        assert stats["decode_s"] == pytest.approx(plan.time_s, rel=1e-12)


def cycle_policy(env, k=3):
    """Drafter (block index mod n) at each block start, then stop at k tokens: one action per observation."""
    blocks = [0]

    def act(obs):
        if not env.decoder.draft_steps:
            blocks[0] += 1
            return 1 if blocks[0] % (env.n_drafters + 1) == 0 else FIRST_DRAFTER + blocks[0] % env.n_drafters
        return 1 if len(env.decoder.draft_steps) >= k else 0

    return act


def test_replay_reproduces_the_live_multi_env(recorded, noisy_pair):
    """The same policy on the live env (model clock) and on the replay of its recording: the same blocks,
    acceptances and times, prompt by prompt (the recording is of the live decoder's own chains)."""
    multi = MultiTraceSet.load(recorded)
    drafters = [noisy_pair.drafter, derive_drafter(noisy_pair.verifier, "int4"),
                derive_drafter(noisy_pair.verifier, "ngram")]
    pair = multi_pair(noisy_pair, drafters, ["noisy", "int4", "ngram"])
    live = gym.make("EBSD-Multi-v1", pair=pair, prompts=multi.sets[0].rows(with_ids=True), clock="model",
                    cost_model=COSTS, max_new_tokens=20, max_draft_len=5).unwrapped
    replay = MultiReplayEnv(multi, cost_model=COSTS)
    keys = ("output_ids", "draft_lengths", "accepted_lengths", "drafter_blocks", "decode_s")
    for index in range(len(multi)):
        results = []
        for env in (live, replay):
            act = cycle_policy(env)
            obs, _ = env.reset(options={"prompt_index": index})
            observations, done = [obs], False
            while not done:
                obs, _, terminated, truncated, info = env.step(act(obs))
                observations.append(obs)
                done = terminated or truncated
            results.append(({key: info["episode_stats"][key] for key in keys}, observations))
        (live_stats, live_obs), (replay_stats, replay_obs) = results
        assert live_stats == replay_stats
        np.testing.assert_allclose(np.stack(live_obs), np.stack(replay_obs), atol=1e-5)
        assert sum(live_stats["drafter_blocks"]) > 2


@pytest.mark.parametrize("stop_mode", ["include", "exclude"])
def test_the_multi_oracle_is_at_least_every_drafters_own(recorded, stop_mode):
    """Every single-drafter plan is a multi-drafter plan, so the multi-drafter optimum is at least each one."""
    from ebsd_env.replay.oracle import optimal_rate
    from ebsd_env.replay.oracle_multi import optimal_multi_rate

    multi = MultiTraceSet.load(recorded)
    rate = optimal_multi_rate(multi, COSTS, 5, stop_mode)
    singles = [optimal_rate(s.traces, costs, 5, stop_mode) for s, costs in zip(multi.sets, COSTS, strict=True)]
    # Drafter d alone is priced with its own drafting cost and the first drafter's verify curve (the same here).
    assert rate >= max(singles) - 1e-12
