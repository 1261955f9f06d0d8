"""Baselines over drafters on EBSD-Multi (static, cascade, UCB, full information), the multi vector env, PPO."""

from __future__ import annotations

import dataclasses

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
from ebsd_env.timing.multi_clock import MultiClock
from ebsd_env.timing.multi_profiles import DRAFT_SCALES, VERIFY_SCALES, MultiCostProfiles, scale_costs

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
# Each drafter's signals at its own price (`CostModel.signal_s`), charged per draft step the observation reads.
SIGNAL_COSTS = [dataclasses.replace(c, signal_s=s) for c, s in zip(COSTS, (0.01, 0.03, 0.002), strict=True)]
# ... and each drafter's block its catch-up (`CostModel.catch_up_s`).
CATCH_UP_COSTS = [dataclasses.replace(c, catch_up_s=s) for c, s in zip(COSTS, (0.05, 0.02, 0.001), strict=True)]


@pytest.mark.parametrize("stop_mode", ["include", "exclude"])
@pytest.mark.parametrize("extra_signals,costs,cost_signals,decide_s", [(False, COSTS, False, None),
                                                                       (True, COSTS, False, None),
                                                                       (False, SIGNAL_COSTS, False, None),
                                                                       (False, CATCH_UP_COSTS, False, None),
                                                                       (True, CATCH_UP_COSTS, True, None),
                                                                       (False, COSTS, True, 0.004)])
def test_vector_env_steps_exactly_as_the_multi_replay_env(recorded, stop_mode, extra_signals, costs, cost_signals,
                                                          decide_s):
    multi = MultiTraceSet.load(recorded)
    count = len(multi)
    kwargs = dict(cost_model=costs, stop_mode=stop_mode, extra_signals=extra_signals, max_draft_len=4,
                  max_new_tokens=22, cost_signals=cost_signals, decide_s=decide_s)
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
                    assert stats["decide_s"] == pytest.approx(final["decide_s"][i], rel=1e-12)
                    assert stats["decide_s"] == pytest.approx(stats["decisions"] * (decide_s or 0.0), rel=1e-12)
                    assert stats["new_tokens"] == final["new_tokens"][i] and final["trace_index"][i] == i
                    assert stats["drafter_blocks"] == [final[f"drafter_blocks_{d}"][i] for d in range(3)]
    assert checked["steps"] > 100 and checked["switches"] > 20 and checked["ends"] == 3 * count


@pytest.mark.parametrize("drafter", [0, 1])
def test_multi_replay_charges_the_drafting_drafters_signal_s(recorded, drafter):
    """Every draft step's signals are read (observation="entropy") and cost the drafting drafter's `signal_s`."""
    multi = MultiTraceSet.load(recorded)
    results = []
    for costs in (COSTS, SIGNAL_COSTS):
        env = MultiReplayEnv(multi, cost_model=costs, max_draft_len=4, max_new_tokens=22)
        env.reset(options={"prompt_index": 0})
        done, info = False, {}
        while not done:
            # At a block start: draft the block with `drafter`; inside a block: continue.
            _, _, terminated, truncated, info = env.step(FIRST_DRAFTER + drafter)
            done = terminated or truncated
        results.append(info["episode_stats"])
    plain, signals = results
    steps = plain["drafted"] + plain["discarded"]
    assert steps > 0 and plain["drafter_blocks"][drafter] == sum(plain["drafter_blocks"])
    assert signals["draft_s"] == pytest.approx(plain["draft_s"] + steps * SIGNAL_COSTS[drafter].signal_s, rel=1e-12)


# Three multi-drafter clocks, each priced differently in every part: steps, signals, catch-up, verification curve.
PROFILES = [MultiClock("model", tuple(NAMES), tuple(COSTS)),
            MultiClock("model", tuple(NAMES), tuple(scale_costs(c, 2.0, 0.5) for c in SIGNAL_COSTS)),
            MultiClock("model", tuple(NAMES), tuple(scale_costs(c, s, 1.5) for c, s in
                                                    zip(CATCH_UP_COSTS, (0.5, 3.0, 1.0), strict=True)))]


@pytest.mark.parametrize("stop_mode", ["include", "exclude"])
def test_vector_env_with_cost_profiles_prices_each_episode_as_the_env_on_its_profile(recorded, stop_mode):
    """Under `cost_profiles` each episode of the vector env is `MultiReplayEnv` on the profile it drew: the same
    observations (cost ratios included), rewards and statistics; every profile is drawn."""
    multi = MultiTraceSet.load(recorded)
    count = len(multi)
    kwargs = dict(stop_mode=stop_mode, max_draft_len=4, max_new_tokens=22, cost_signals=True)
    vec = MultiReplayVectorEnv(multi, num_envs=count, seed=3, cost_profiles=PROFILES, cost_model=COSTS, **kwargs)
    assert vec.cost_profile_names == ("profile0", "profile1", "profile2")
    rng = np.random.default_rng(5)
    drawn = set()
    for _ in range(4):
        vec_obs, _ = vec.reset(options={"trace_indices": list(range(count))})
        profiles = vec._price_set.copy()
        drawn.update(profiles.tolist())
        envs = [MultiReplayEnv(multi, cost_model=PROFILES[p], **kwargs) for p in profiles]
        for i, env in enumerate(envs):
            obs, _ = env.reset(options={"prompt_index": i})
            np.testing.assert_array_equal(obs, vec_obs[i])
        done = np.zeros(count, dtype=bool)
        while not done.all():
            actions = rng.choice(vec.single_action_space.n, size=count, p=[0.45, 0.25, 0.1, 0.1, 0.1])
            vec_obs, vec_rewards, vec_term, vec_trunc, vec_info = vec.step(actions)
            for i, env in enumerate(envs):
                if done[i]:
                    continue
                obs, reward, term, trunc, info = env.step(int(actions[i]))
                np.testing.assert_array_equal(obs, vec_info["final_obs"][i] if term or trunc else vec_obs[i])
                assert reward == pytest.approx(vec_rewards[i], abs=1e-12)
                if term or trunc:
                    done[i] = True
                    final = vec_info["final_info"]
                    assert info["episode_stats"]["decode_s"] == pytest.approx(final["decode_s"][i], rel=1e-12)
                    assert final["cost_profile"][i] == profiles[i]
    assert drawn == {0, 1, 2}


def test_jitter_family_scales_drafting_and_the_verification_rise():
    """`scale_costs` moves every drafting cost by its factor and verification's excess over one token by its own,
    verify(1) (the verifier-alone rate) unchanged; `jitter` is every combination, the calibration among them."""
    costs = dataclasses.replace(CATCH_UP_COSTS[0], signal_s=0.01)
    scaled = scale_costs(costs, 2.0, 0.5)
    assert scaled.draft_s == pytest.approx(2 * costs.draft_s)
    assert (scaled.signal_s, scaled.catch_up_s) == pytest.approx((0.02, 2 * costs.catch_up_s))
    assert scaled.verify_cost(1) == costs.verify_cost(1)
    for fed in (2, 5, 9, 17, 20):
        assert scaled.verify_cost(fed) - 1.0 == pytest.approx(0.5 * (costs.verify_cost(fed) - 1.0))
    base = PROFILES[0]
    family = MultiCostProfiles.load(["jitter"], base)
    assert len(family) == len(VERIFY_SCALES) * len(DRAFT_SCALES) ** len(NAMES)
    def prices(clock):  # what the clock charges (names and sources aside)
        return tuple((c.draft_s, c.verify_points, c.signal_s, c.catch_up_s) for c in clock.costs)

    assert prices(base) in {prices(clock) for clock in family.clocks}
    ratios = {tuple(clock.cost_ratio(d) for d in range(3)) for clock in family.clocks}
    assert len(ratios) == len(DRAFT_SCALES) ** len(NAMES)
    with pytest.raises(ValueError, match="neither 'jitter', a file nor a folder"):
        MultiCostProfiles.load(["no/such/profiles"], base)


def test_vector_env_state_carries_the_episodes_in_flight_to_another_env(recorded):
    """The multi vector env's `state_dict` (a PPO checkpoint's) holds the per-drafter bookkeeping too."""
    from tests.test_replay import assert_state_carries_over

    multi = MultiTraceSet.load(recorded)
    assert_state_carries_over(lambda seed: MultiReplayVectorEnv(multi, num_envs=3, seed=seed, cost_model=COSTS,
                                                                extra_signals=True), len(NAMES) + FIRST_DRAFTER)


def test_vector_env_refuses_bad_actions_and_indices(recorded):
    vec = MultiReplayVectorEnv(recorded, num_envs=2, cost_model=COSTS)
    vec.reset(seed=0)
    with pytest.raises(ValueError, match="actions in"):
        vec.step([0, 5])
    with pytest.raises(ValueError, match="trace_indices"):
        vec.reset(options={"trace_indices": [0, len(ROWS)]})


# ---------------------------------------------------------------------------------------------- the baselines
BASELINES = ["multi-static:drafter=int4,k=3", "multi-static:drafter=ngram,k=0", "multi-cascade:min_match=2",
             "multi-cascade:fallback=noisy,k_fallback=2,min_match=3", "multi-ucb:k=3", "multi-ucb:ks=2/4/6,c=0.5",
             "multi-fullinfo:k=3", "multi-fullinfo:ks=2/3/5,score=all,decay=0.5"]


def hand_obs(env, position=0, suffix=0):
    """An observation of `env` with the draft `position` and prompt lookup's `suffix`, all else 0."""
    obs = np.zeros(env.observation_space.shape, dtype=np.float32)
    obs[env.observation_layout.position_index] = position / env.max_draft_len
    obs[-2], obs[-1] = min(suffix / 8, 1.0), float(suffix >= 1)
    return obs


@pytest.fixture(scope="module")
def replay_env(recorded):
    return MultiReplayEnv(MultiTraceSet.load(recorded), cost_model=COSTS)


def test_static_and_cascade_decisions_on_hand_made_observations(replay_env):
    from policies import make_policy

    static = make_policy("multi-static:drafter=int4,k=3", env=replay_env)
    assert static.act(hand_obs(replay_env, 0)) == FIRST_DRAFTER + 1  # the block starts with int4
    assert [static.act(hand_obs(replay_env, p)) for p in (1, 2, 3)] == [0, 0, 1]  # stops at k = 3
    assert make_policy("multi-static:drafter=2,k=0", env=replay_env).act(hand_obs(replay_env, 0)) == 1
    cascade = make_policy("multi-cascade:min_match=3,k_lookup=5,k_fallback=2", env=replay_env)
    assert cascade.act(hand_obs(replay_env, 0, suffix=3)) == FIRST_DRAFTER + 2  # a long match: prompt lookup
    assert [cascade.act(hand_obs(replay_env, p)) for p in (1, 4, 5)] == [0, 0, 1]
    assert cascade.act(hand_obs(replay_env, 0, suffix=2)) == FIRST_DRAFTER + 1  # too short: int4
    assert [cascade.act(hand_obs(replay_env, p)) for p in (1, 2)] == [0, 1]
    assert cascade.act(hand_obs(replay_env, 0, suffix=8)) == FIRST_DRAFTER + 2


def block(accepted, drafted, emitted, seconds):
    return {"accepted": accepted, "drafted": drafted, "emitted": emitted, "draft_time_s": seconds / 2,
            "verify_time_s": seconds / 2, "verified": True}


def test_ucb_tries_each_drafter_then_follows_tokens_per_second(replay_env):
    from policies import make_policy

    ucb = make_policy("multi-ucb:k=2,c=0", env=replay_env)
    ucb.reset()
    rates = {0: (1, 2.0), 1: (3, 1.0), 2: (2, 1.0)}  # (tokens, seconds) of each drafter's blocks
    chosen = []
    for _ in range(6):
        action = ucb.act(hand_obs(replay_env, 0))
        drafter = action - FIRST_DRAFTER
        chosen.append(drafter)
        tokens, seconds = rates[drafter]
        ucb.on_verify(block(tokens - 1, 2, tokens, seconds))
    assert chosen == [0, 1, 2, 1, 1, 1]  # each once, then the best rate (c = 0: no exploration)
    explore = make_policy("multi-ucb:k=2,c=50", env=replay_env)
    explore.reset()
    for drafter in (0, 1, 2, 1, 1, 1, 1, 1):
        assert explore.act(hand_obs(replay_env, 0)) - FIRST_DRAFTER in (0, 1, 2)
        explore.block_drafter = drafter
        explore.on_verify(block(rates[drafter][0] - 1, 2, *rates[drafter]))
    assert explore.act(hand_obs(replay_env, 0)) - FIRST_DRAFTER != 1  # the bonus of the rarely tried wins
    explore.reset()  # persist=0: a new prompt starts afresh
    assert explore.counts.tolist() == [0, 0, 0]
    # Values are normalised by the best before the bonus is added (UCB1 assumes rewards in [0, 1]): at 100x the
    # rates the choice is the same, where raw tokens/s would drown the bonus.
    fast = make_policy("multi-ucb:k=2,c=0.5", env=replay_env)
    fast.reset()
    for drafter in (0, 1, 2) + (1,) * 9:
        fast.act(hand_obs(replay_env, 0))
        fast.block_drafter = drafter
        fast.on_verify(block(rates[drafter][0] - 1, 2, rates[drafter][0], rates[drafter][1] / 100))
    assert fast.act(hand_obs(replay_env, 0)) == FIRST_DRAFTER + 2  # 2/3 + sqrt(0.5 ln 12) beats 1 + its bonus


def synthetic_multi(errors, names, length=30, max_draft_len=4, seed=0):
    """Aligned traces of one prompt whose drafter d proposes a wrong token with probability errors[d]."""
    from ebsd_env.decoding.entropy import EntropyConfig
    from ebsd_env.replay.record import settings_dict
    from ebsd_env.replay.trace import SIGNALS, Trace, TraceSet

    rng = np.random.default_rng(seed)
    output = rng.integers(0, 3, size=length).tolist()
    sets = []
    for error in errors:
        offsets, tokens = [0], []
        for j in range(length):
            for i in range(max(min(max_draft_len, length - j - 1), 0)):
                truth = output[j + i]
                tokens.append(truth if rng.random() >= error else (truth + 1) % 3)
            offsets.append(len(tokens))
        signals = {name: np.zeros(len(tokens)) for name in SIGNALS}
        trace = Trace("p", "test", 0, [0, 1], output, length, np.asarray(offsets), np.asarray(tokens), signals)
        sets.append(TraceSet([trace], {"vocab_size": 4}, settings_dict(EntropyConfig(), max_draft_len, length)))
    return MultiTraceSet(names, sets)


@pytest.mark.parametrize("score,names,expected", [
    ("all", ["a", "b", "c"], lambda blocks: blocks[0] == 1 and blocks[2] == 0 and blocks[1] >= 5),
    ("cheap", ["a", "b", "c"], lambda blocks: blocks[0] == 1 and blocks[2] == 1 and blocks[1] >= 5),
    ("cheap", ["a", "b", "ngram"], lambda blocks: blocks[0] == 1 and blocks[2] == 0 and blocks[1] >= 5)])
def test_full_information_scores_the_drafters_that_did_not_draft(score, names, expected):
    """Drafters 0 and 2 are always wrong, drafter 1 always right. After one block of drafter 0, scoring every
    drafter against the verified tokens finds drafter 1 at once (drafter 2 is never tried); scoring only what
    live decoding can (cheap, no prompt lookup among them) must try each in turn; prompt lookup is cheap."""
    from policies import make_policy
    from policies.rollout import run_episode

    env = MultiReplayEnv(synthetic_multi([1.0, 0.0, 1.0], names), cost_model=COSTS)
    stats = run_episode(env, make_policy(f"multi-fullinfo:k=3,score={score}", env=env), options={"prompt_index": 0})
    assert expected(stats["drafter_blocks"]), stats["drafter_blocks"]


def test_fit_static_picks_each_drafters_best_k(recorded):
    from policies import make_policy
    from policies.multi import fit_static
    from policies.rollout import run_episode

    fitted = fit_static(recorded, ks=[1, 3, 5], cost_model=COSTS)
    assert set(fitted["drafters"]) == set(NAMES)
    env = MultiReplayEnv(MultiTraceSet.load(recorded), cost_model=COSTS)
    for name, entry in fitted["drafters"].items():
        for k in (1, 3, 5):  # the fitted k is the best of the grid, each measured independently here
            runs = [run_episode(env, make_policy(f"multi-static:drafter={name},k={k}", env=env),
                                options={"prompt_index": i}) for i in range(len(ROWS))]
            rate = sum(r["new_tokens"] for r in runs) / sum(r["decode_s"] for r in runs)
            assert rate <= entry["tokens_per_s"] + 1e-12
    best = max(fitted["drafters"].values(), key=lambda e: e["tokens_per_s"])
    assert fitted["best"] == (best["spec"] if best["tokens_per_s"] > fitted["verifier_alone"]
                              else "multi-static:drafter=0,k=0")


@pytest.mark.parametrize("spec", BASELINES)
def test_every_baseline_is_below_the_multi_oracle_on_replay(recorded, spec):
    """The oracle over (drafter, k) is an upper bound: no baseline takes less time on any prompt (same clock;
    dyadic costs, so the sums compare exactly)."""
    from ebsd_env.replay.oracle_multi import optimal_multi_plan
    from policies import make_policy
    from policies.rollout import run_episode

    multi = MultiTraceSet.load(recorded)
    env = MultiReplayEnv(multi, cost_model=COSTS)
    policy = make_policy(spec, env=env)
    for i in range(len(multi)):
        stats = run_episode(env, policy, options={"prompt_index": i})
        plan = optimal_multi_plan([s[i] for s in multi.sets], COSTS, env.max_draft_len, "include",
                                  env.max_new_tokens)
        assert stats["output_ids"] == multi.sets[0][i].output
        assert stats["decode_s"] >= plan.time_s


STATIC = "multi-static:drafter=int4,k=3"
DECIDE_COSTS = [dataclasses.replace(COSTS[0], decide_s={STATIC: 0.003}), *COSTS[1:]]  # the policy's measured cost


def test_multi_envs_charge_each_decision_of_the_policy(recorded, noisy_pair):
    """`decide_s` (seconds, or a policy spec whose cost the first drafter's cost model holds) is charged per decision
    by the multi replay env, its vector env and the live env on the model clock; the decisions themselves do not
    change."""
    import gymnasium as gym

    from policies import make_policy
    from policies.rollout import run_episode

    multi = MultiTraceSet.load(recorded)

    def episodes(env, count=None):
        policy = make_policy(STATIC)
        policy.bind(env=env)
        return [run_episode(env, policy, options={"prompt_index": i}) for i in range(count or len(multi))]

    free = episodes(MultiReplayEnv(multi, cost_model=DECIDE_COSTS))
    for decide in (0.003, STATIC):
        charged = episodes(MultiReplayEnv(multi, cost_model=DECIDE_COSTS, decide_s=decide))
        for a, b in zip(free, charged, strict=True):
            assert a["output_ids"] == b["output_ids"] and a["draft_lengths"] == b["draft_lengths"]
            assert a["decide_s"] == 0.0 and b["decisions"] == a["decisions"] > 0
            assert b["decide_s"] == pytest.approx(0.003 * b["decisions"], rel=1e-12)
            assert b["decode_s"] == pytest.approx(a["decode_s"] + b["decide_s"], rel=1e-12)
    assert MultiReplayVectorEnv(multi, num_envs=2, cost_model=DECIDE_COSTS, decide_s=STATIC)._decide_s == 0.003
    live = gym.make("EBSD-Multi-v1", pair=tiny_multi_pair(noisy_pair), prompts=[ROWS[0]["prompt"]], clock="model",
                    cost_model=DECIDE_COSTS, max_new_tokens=12, max_draft_len=5, decide_s=STATIC).unwrapped
    stats = episodes(live, 1)[0]
    assert stats["decide_s"] == pytest.approx(0.003 * stats["decisions"], rel=1e-12)
    with pytest.raises(ValueError, match="wall clock measures each decision"):
        gym.make("EBSD-Multi-v1", pair=tiny_multi_pair(noisy_pair), clock="wall", decide_s=0.01)
    with pytest.raises(ValueError, match="fresh calibration holds no decision cost"):
        gym.make("EBSD-Multi-v1", pair=tiny_multi_pair(noisy_pair), clock="model", decide_s=STATIC)
    with pytest.raises(ValueError, match="has no decision cost for policy"):
        MultiReplayEnv(multi, cost_model=COSTS, decide_s=STATIC)


@pytest.fixture(scope="module")
def live_env(noisy_pair):
    import gymnasium as gym

    return gym.make("EBSD-Multi-v1", pair=tiny_multi_pair(noisy_pair), prompts=[r["prompt"] for r in ROWS],
                    clock="model", cost_model=COSTS, max_new_tokens=24, max_draft_len=5).unwrapped


@pytest.mark.parametrize("spec", BASELINES)
def test_every_baseline_outputs_the_verifiers_greedy_tokens_live(noisy_pair, live_env, spec):
    from ebsd_env.decoding.decoder import SpeculativeDecoder
    from policies import make_policy
    from policies.rollout import run_episode

    policy = make_policy(spec, env=live_env)
    for i, row in enumerate(ROWS):
        stats = run_episode(live_env, policy, options={"prompt_index": i})
        expected = SpeculativeDecoder(noisy_pair).generate([{"role": "user", "content": row["prompt"]}],
                                                           max_new_tokens=24).token_ids
        assert stats["output_ids"] == expected
        assert sum(stats["drafter_blocks"]) >= 1 or spec.endswith("k=0")


def test_live_lookup_proposal_is_what_prompt_lookup_drafts(live_env):
    """`MultiDraftDecoder.proposal` (what multi-fullinfo scores live) equals the chain the ngram drafter drafts."""
    env = live_env
    env.reset(options={"prompt_index": 0})
    compared = 0
    for _ in range(6):
        decoder = env.decoder
        j = len(decoder.new_tokens)
        room = min(decoder.draft_room, 4)
        if decoder.finished or room < 1:
            break
        expected = decoder.proposal(2, j, room)
        assert decoder.proposal(1, j, room) is None  # int4 is a model: not free to score
        env.step(FIRST_DRAFTER + 2)
        for _ in range(room - 1):
            env.step(0)
        assert decoder.draft_tokens == expected
        compared += 1
        _, _, terminated, truncated, _ = env.step(1)
        if terminated or truncated:
            break
    assert compared >= 2


# ---------------------------------------------------------------------------------------------- PPO on multi replay
def calibrated_copy(recorded, tmp_path):
    """(traces, runs folder, common `ebsd train ppo` arguments): a copy of the recorded traces, each drafter's
    folder given its `COSTS` calibration."""
    import shutil

    traces = tmp_path / "traces"
    shutil.copytree(recorded, traces)
    for (folder, costs) in zip(sorted(traces.glob("drafter-*")), COSTS, strict=True):
        costs.save(folder / "cost_model.json")
    runs = tmp_path / "runs"
    return traces, runs, ["--traces", str(traces), "--clock", "model", "--runs-dir", str(runs), "--no-progress-bar",
                          "--max-draft-len", "5", "--max-new-tokens", "24"]


def test_ppo_trains_on_multi_drafter_traces(recorded, tmp_path):
    """`ebsd train ppo --traces DIR` on aligned multi traces trains on EBSD-Multi-Replay-v1 end to end (the vector
    env, evaluation against the baselines, the saved model) and refuses what it does not support first."""
    import json

    from stable_baselines3 import PPO

    from train.ppo import main

    traces, runs, common = calibrated_copy(recorded, tmp_path)
    with pytest.raises(ValueError, match="--min-draft-len is not supported on multi-drafter traces"):
        main(common + ["--min-draft-len", "1"])
    assert not runs.exists()
    assert main(common + ["--total-timesteps", "512", "--num-envs", "4", "--n-steps", "64", "--batch-size", "64",
                          "--n-epochs", "1", "--eval-freq", "256", "--eval-prompts-per-category", "2"]) == 0
    (run,) = runs.iterdir()
    assert run.name.startswith("EBSD-Multi-Replay-v1__")
    model = PPO.load(run / "model.zip", device="cpu")
    env = MultiReplayEnv(MultiTraceSet.load(traces), cost_model=COSTS, max_draft_len=5)
    assert model.observation_space == env.observation_space and model.action_space == env.action_space
    record = json.loads((run / "record.json").read_text())
    assert record["steps"] == 512 and record["best_eval"]["tokens_per_s"] > 0


def test_ppo_trains_on_multi_drafter_traces_over_jittered_cost_profiles(recorded, tmp_path):
    """`--cost-profiles jitter` on multi traces prices the training episodes by the family around the traces'
    calibration (kept in the run), the evaluation by the calibration; a profile that is not there is refused
    before the run folder exists."""
    import json

    from train.ppo import main

    traces, runs, common = calibrated_copy(recorded, tmp_path)
    with pytest.raises(ValueError, match="neither 'jitter', a file nor a folder"):
        main(common + ["--cost-profiles", "nowhere.json"])
    assert not runs.exists()
    assert main(common + ["--cost-profiles", "jitter", "--total-timesteps", "256", "--num-envs", "4", "--n-steps",
                          "64", "--batch-size", "64", "--n-epochs", "1", "--eval-freq", "0"]) == 0
    (run,) = runs.iterdir()
    profiles = json.loads((run / "cost_profiles.json").read_text())
    assert len(profiles) == len(VERIFY_SCALES) * len(DRAFT_SCALES) ** len(NAMES)
    calibration = json.loads((run / "cost_model.json").read_text())["drafters"]
    assert [calibration[name]["draft_s"] for name in NAMES] == [c.draft_s for c in COSTS]


def test_ppo_on_multi_drafter_traces_killed_mid_run_resumes_to_the_reference_weights(recorded, tmp_path,
                                                                                     monkeypatch):
    """Killed inside its third rollout (of 256 steps; checkpoint at 512) and resumed, PPO on multi traces ends
    with the uninterrupted run's weights, to the bit: the checkpoint keeps the multi vector env's episodes."""
    import json
    import shutil

    import torch
    from stable_baselines3 import PPO

    from train import callbacks
    from train.ppo import main

    traces = tmp_path / "traces"
    shutil.copytree(recorded, traces)
    for (folder, costs) in zip(sorted(traces.glob("drafter-*")), COSTS, strict=True):
        costs.save(folder / "cost_model.json")

    def argv(runs):
        return ["--traces", str(traces), "--clock", "model", "--runs-dir", str(tmp_path / runs), "--no-progress-bar",
                "--max-draft-len", "5", "--max-new-tokens", "24", "--total-timesteps", "1024", "--num-envs", "4",
                "--n-steps", "64", "--batch-size", "64", "--n-epochs", "1", "--eval-freq", "0",
                "--checkpoint-freq", "256", "--seed", "5"]

    def final_weights(runs):
        (run,) = (tmp_path / runs).iterdir()
        return PPO.load(run / "checkpoints" / "step_1024" / "model.zip", device="cpu").policy.state_dict()

    assert main(argv("reference")) == 0
    step = callbacks.EpisodeMetricsCallback._on_step

    def killed(self):
        if self.num_timesteps >= 600:
            raise KeyboardInterrupt
        return step(self)

    monkeypatch.setattr(callbacks.EpisodeMetricsCallback, "_on_step", killed)
    assert main(argv("resumed")) == 130
    monkeypatch.undo()
    (run,) = (tmp_path / "resumed").iterdir()
    assert json.loads((run / "checkpoints" / "latest.json").read_text())["step"] == 512
    assert main(["--resume", str(run), "--no-progress-bar"]) == 0
    reference, resumed = final_weights("reference"), final_weights("resumed")
    assert reference.keys() == resumed.keys()
    assert all(torch.equal(reference[name], resumed[name]) for name in reference)


def test_bad_specs_and_bindings_fail_with_one_line(replay_env, noisy_pair):
    import gymnasium as gym

    from policies import make_policy

    for spec, problem in [("multi-static:drafter=eagle", "not a drafter of this env; valid: noisy, int4, ngram"),
                          ("multi-ucb:ks=4/4", "must give 3 draft lengths >= 1"),
                          ("multi-fullinfo:ks=4/0/4", "must give 3 draft lengths >= 1"),
                          ("multi-cascade:lookup=ngram,fallback=2", "the same drafter"),
                          ("multi-fullinfo:score=some", "score must be 'cheap' or 'all'")]:
        with pytest.raises(ValueError, match=problem):
            make_policy(spec, env=replay_env)
    single = gym.make("EBSD-v1", pair=noisy_pair, prompts=["hi"], clock="model", cost_model=COSTS[0])
    with pytest.raises(ValueError, match="bind it to an EBSD-Multi-v1"):
        make_policy("multi-ucb", env=single)
