"""Every policy through the real env on tiny config-built pairs: greedy exactness, the oracle, no-spec, SB3."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import PPO
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv

import ebsd_env  # noqa: F401  (registers EBSD-v1)
from ebsd_env.decoding.decoder import SpeculativeDecoder
from ebsd_env.fingerprint import env_fingerprint, save_model
from ebsd_env.timing.cost_model import CostModel
from policies import list_policies, make_policy, run_episode, verify_callback
from policies.acceptance import fit
from policies.base import policy_class
from train.common import env_in_mode

PROMPTS = [{"id": "a", "category": "chat", "prompt": "hello there, how are you?"},
           {"id": "b", "category": "code", "prompt": "count 1 2 3 4 5"}]
MAX_NEW = 24
MAX_DRAFT = 8
# Fixed costs (no calibration in tests): a draft step costs 1/4 of a verification.
TOY_COSTS = CostModel(draft_s=0.025, verify_points=((1, 0.1), (2, 0.105), (9, 0.14), (17, 0.18)), source="toy")



def make_env(pair, **kwargs):
    """A model-clock env with toy costs; `stop_mode` defaults to the env's (exclude)."""
    kwargs = {"extra_signals": True, "max_new_tokens": MAX_NEW, **kwargs}
    return gym.make("EBSD-Deterministic-v1", pair=pair, prompts=PROMPTS, max_draft_len=MAX_DRAFT,
                    cost_model=TOY_COSTS, **kwargs)


@pytest.fixture(scope="module")
def env(noisy_pair):
    return make_env(noisy_pair)


@pytest.fixture(scope="module")
def reference(noisy_pair):
    """The verifier's own greedy output per prompt, from a separate decoder (no drafting)."""
    decoder = SpeculativeDecoder(noisy_pair, max_new_tokens=MAX_NEW)
    return [decoder.generate([{"role": "user", "content": row["prompt"]}]).token_ids for row in PROMPTS]


@pytest.fixture(scope="module")
def acceptance_file(env, tmp_path_factory):
    include = env_in_mode(env, "include")
    rollouts = [run_episode(include, make_policy("fixed-k:k=4", env=include), seed=0, options={"prompt_index": i})
                for i in range(len(PROMPTS))]
    return fit(rollouts).save(tmp_path_factory.mktemp("acc") / "acceptance.json")


@pytest.fixture(scope="module")
def ppo_file(env, tmp_path_factory):
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=32, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=32)
    path = tmp_path_factory.mktemp("ppo") / "model.zip"
    save_model(model, path, env_fingerprint(env))
    return path


@pytest.fixture(scope="module")
def tuned_file(env, tmp_path_factory):
    """A `best.json` as `ebsd tune` writes it: a tuned spec per category, and the env's fingerprint."""
    path = tmp_path_factory.mktemp("tuned") / "best.json"
    best = {"overall": {"spec": "entropy-abs:theta=1.0", "entropy": "shannon"},
            "custom": {"spec": "entropy-abs:theta=0.5", "entropy": "shannon"}}
    path.write_text(json.dumps({"best": best, "fingerprint": env_fingerprint(env)}))
    return path


def spec_for(name, acceptance_file, ppo_file, tuned_file=None):
    return {"ppo": f"ppo:{ppo_file}", "acceptance": f"acceptance:path={acceptance_file}",
            "tuned": f"tuned:path={tuned_file}"}.get(name, name)


def _cases():
    """(policy name, stop mode): policies of a source run in its mode, the others in both."""
    def mode_of(name):  # bandits and combinations take their rules' mode
        # A PPO model stops in the mode it was trained in (its fingerprint; the fixture trains in include).
        # A tuned file too: its fingerprint names the env's mode.
        return {"ppo": "include", "tuned": "include", "acceptance": None}.get(name) \
            if name in ("ppo", "acceptance", "tuned") else make_policy(name).stop_mode

    return [(row["name"], mode) for row in list_policies() for mode in ("include", "exclude")
            if mode_of(row["name"]) in (None, mode) and row["name"] != "oracle-dp"  # replay only: test_replay.py
            and not getattr(policy_class(row["name"]), "multi_drafter", False)]  # EBSD-Multi: test_multi_baselines.py


class StepLog(gym.Wrapper):
    """Keeps (draft position shown, action, info) of every step, and the signals shown at each decision."""

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self.steps, self.shown, self.position = [], [], info["position"]
        self._shown = info
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.steps.append((self.position, int(action), info))
        self.shown.append(self._shown)
        self.position, self._shown = info["position"], info
        return obs, reward, terminated, truncated, info


# Each rule's formula on the signals of the token it was shown, as its source states it.
FORMULAS = {
    "entropy-abs:theta=1.0": lambda s: s["entropy"] > 1.0,
    "svip": lambda s: (0.15 * s["entropy"]) ** 0.5 > 0.3,
    "hf-confidence": lambda s: s["token_prob"] < 0.4,
    "kangaroo": lambda s: s["top1_prob"] < 0.6,
    "llamacpp": lambda s: s["top1_prob"] < 0.75,
}


@pytest.mark.parametrize("spec, stop_mode", [(spec, mode) for spec in FORMULAS for mode in ("include", "exclude")
                                             if make_policy(spec).stop_mode in (None, mode)])
def test_rules_stop_where_their_formula_fires_through_the_env(noisy_pair, spec, stop_mode):
    """Through the env: a rule stops at exactly the tokens whose signals cross its threshold (below its cap),
    and the verified draft then holds that token (include) or not (exclude); each rule in its source's mode,
    the plan's rule in both."""
    log = StepLog(make_env(noisy_pair, temperature=0.0, max_new_tokens=48, stop_mode=stop_mode))
    policy = make_policy(spec, env=log)
    stops = continues = 0
    for index in range(len(PROMPTS)):
        run_episode(log, policy, seed=0, options={"prompt_index": index})
        for shown, (position, action, info) in zip(log.shown, log.steps, strict=True):
            if position == 0 or position >= min(MAX_DRAFT, policy.max):
                continue  # the empty draft (rules draft) and the caps are covered elsewhere
            assert action == int(FORMULAS[spec](shown)), (spec, position, shown)
            if action == 1 and not info["forced"]:
                assert info["drafted"] == position - (stop_mode == "exclude")
            stops += action
            continues += 1 - action
    assert stops > 0 and continues > 0  # both branches were exercised


@pytest.mark.parametrize("name, stop_mode", _cases())
def test_every_policy_keeps_greedy_output_exact(name, stop_mode, env, reference, acceptance_file, ppo_file,
                                                tuned_file):
    """Greedy output is the verifier's whatever the policy decides; and every block verifies what the policy's
    action implies in this mode: a stop at position j verifies j tokens (include) or j - 1 (exclude), a
    continue the env overrides (max_draft_len, a drafted EOS, the budget) verifies the whole draft."""
    log = StepLog(env_in_mode(env, stop_mode))
    policy = make_policy(spec_for(name, acceptance_file, ppo_file, tuned_file), env=log)
    verified_lengths = []
    for index in range(len(PROMPTS)):
        result = run_episode(log, policy, seed=0, options={"prompt_index": index})
        assert result["output_ids"] == reference[index], (name, index)
        assert result["new_tokens"] == len(reference[index]) and result["stop_mode"] == stop_mode
        for position, action, info in log.steps:
            if not info["verified"] or info["forced"] == "min_draft_len":
                continue
            expected = position - (stop_mode == "exclude" and position > 0) if action == 1 else position
            assert info["drafted"] == expected, (name, stop_mode, position, action, info["forced"])
            assert info["discarded"] == int(action == 1 and stop_mode == "exclude" and position > 0)
            verified_lengths.append(info["drafted"])
    assert max(verified_lengths) <= MAX_DRAFT
    if name == "no-spec":
        assert max(verified_lengths) == 0


@pytest.mark.parametrize("temperature", [0.0, 0.8])
def test_oracle_stops_exactly_at_the_first_rejection(noisy_pair, temperature):
    env = make_env(noisy_pair, temperature=temperature, max_new_tokens=48, stop_mode="include")
    oracle = make_policy("oracle-first-reject", env=env)
    result = run_episode(env, oracle, seed=1, options={"prompt_index": 0})
    blocks = list(zip(result["draft_lengths"], result["accepted_lengths"], strict=True))
    # Every block drafts up to and including the first rejected token, never past it; a fully accepted block
    # ends only at max_draft_len or at the token budget (the last blocks; an empty draft is the env's final
    # verifier-alone step).
    for i, (drafted, accepted) in enumerate(blocks):
        assert drafted - accepted <= 1
        if drafted == accepted:
            assert drafted in (0, MAX_DRAFT) or i >= len(blocks) - 2, blocks
    assert sum(d == a + 1 for d, a in blocks) > 0
    # Exclude mode: the first rejected token is discarded instead, so every verified draft is accepted whole.
    exclude = env_in_mode(env, "exclude")
    result = run_episode(exclude, make_policy("oracle-first-reject", env=exclude), seed=1,
                         options={"prompt_index": 0})
    assert result["draft_lengths"] == result["accepted_lengths"] and result["discarded"] > 0
    if temperature == 0:
        assert result["output_ids"] == run_episode(env, oracle, seed=1, options={"prompt_index": 0})["output_ids"]


def test_oracle_on_extreme_pairs(copy_pair, random_pair):
    copy_env, random_env = make_env(copy_pair), make_env(random_pair, stop_mode="include")
    copied = run_episode(copy_env, make_policy("oracle-first-reject", env=copy_env), seed=0,
                         options={"prompt_index": 0})
    assert copied["acceptance_rate"] == 1.0 and copied["draft_lengths"][0] == MAX_DRAFT
    unrelated = run_episode(random_env, make_policy("oracle-first-reject", env=random_env), seed=0,
                            options={"prompt_index": 0})
    fixed = run_episode(random_env, make_policy("fixed-k:k=8", env=random_env), seed=0, options={"prompt_index": 0})
    assert unrelated["mean_draft_len"] < fixed["mean_draft_len"]
    assert unrelated["tokens_per_s"] > fixed["tokens_per_s"]


@pytest.mark.parametrize("stop_mode", ["include", "exclude"])
def test_no_spec_runs_the_verifier_alone_on_the_env_clock(env, reference, stop_mode):
    env = env_in_mode(env, stop_mode)
    result = run_episode(env, make_policy("no-spec", env=env), seed=0, options={"prompt_index": 1})
    assert result["drafted"] == result["discarded"] == 0 and result["output_ids"] == reference[1]
    assert result["blocks"] == result["new_tokens"]
    assert result["tokens_per_s"] == pytest.approx(1 / TOY_COSTS.verify_cost(1))  # one token per verification
    assert result["prompt_id"] == "b" and set(result["trace"]["positions"]) == {0}
    with pytest.raises(ValueError, match="min_draft_len=0"):
        make_policy("no-spec", env=make_env(env.unwrapped.pair, min_draft_len=1))


@pytest.mark.parametrize("spec", ["entropy-abs:theta=1.0", "hf-heuristic", "kangaroo", "bandit-ucb"])
def test_rules_run_through_sb3_evaluate_policy(noisy_pair, spec):
    mode = make_policy(spec).stop_mode
    env = Monitor(make_env(noisy_pair, **({"stop_mode": mode} if mode else {})))
    policy = make_policy(spec, env=env)
    feed, finished = verify_callback(policy), []

    def callback(locals_, globals_):
        feed(locals_, globals_)
        if "episode_stats" in locals_["info"]:
            finished.append(locals_["info"]["episode_stats"])

    rewards, lengths = evaluate_policy(policy, env, n_eval_episodes=2, return_episode_rewards=True,
                                       callback=callback)
    assert len(rewards) == 2 and min(lengths) > 0
    # Each return is its episode's (N - rho T) / scale, from its own totals on the env's clock.
    base = env.unwrapped
    for reward, stats in zip(rewards, finished, strict=True):
        assert reward == pytest.approx((stats["new_tokens"] - base.decode_clock.baseline_rate * stats["decode_s"])
                                       / base.reward_scale, rel=1e-5, abs=1e-6)
    if spec == "hf-heuristic":
        assert policy.current != policy.k  # the verify callback fed the schedule
    if spec == "bandit-ucb":
        assert policy.counts.sum() > 0


def test_policies_bind_to_a_single_env_vec_env(noisy_pair):
    vec = DummyVecEnv([lambda: Monitor(make_env(noisy_pair))])
    oracle = make_policy("oracle-first-reject", env=vec)
    mean_reward, _ = evaluate_policy(oracle, vec, n_eval_episodes=1, callback=verify_callback(oracle))
    assert np.isfinite(mean_reward)
    two = DummyVecEnv([lambda: make_env(noisy_pair)] * 2)
    with pytest.raises(ValueError, match="not a VecEnv of 2"):
        make_policy("svip", env=two)


def test_ppo_spec_delegates_to_the_model(env, ppo_file):
    policy = make_policy(f"ppo:{ppo_file}", env=env)
    model = PPO.load(ppo_file, device="cpu")
    obs, _ = env.reset(seed=0, options={"prompt_index": 0})
    assert policy.predict(obs)[0] == int(model.predict(obs, deterministic=True)[0])
    assert make_policy(policy.spec) == policy
    small = make_env(env.unwrapped.pair, history=2)
    with pytest.raises(ValueError, match=r"trained for another env: observation: history 2 here vs 8"):
        make_policy(f"ppo:{ppo_file}", env=small)
    # --allow-mismatch warns and binds; the shape must still fit.
    other_mode = make_env(env.unwrapped.pair, stop_mode="exclude")
    with pytest.warns(UserWarning, match="action.stop_mode: 'exclude' here vs 'include'"):
        make_policy(f"ppo:{ppo_file},allow_mismatch=1", env=other_mode)
    with pytest.raises(ValueError, match="stops in 'include' mode"):
        make_policy(f"ppo:{ppo_file}", env=other_mode)


def test_a_model_without_fingerprint_is_refused_unless_allowed(env, tmp_path):
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=32, n_epochs=1, seed=0, device="cpu")
    model.save(tmp_path / "bare.zip")
    with pytest.raises(ValueError, match="carries no fingerprint"):
        make_policy(f"ppo:{tmp_path / 'bare.zip'}", env=env)
    with pytest.warns(UserWarning, match="carries no fingerprint"):
        policy = make_policy(f"ppo:{tmp_path / 'bare.zip'},allow_mismatch=1", env=env)
    obs, _ = env.reset(seed=0, options={"prompt_index": 0})
    assert policy.predict(obs)[0] in (0, 1)


def test_the_old_name_of_the_artifact_check_still_works_with_a_deprecation_warning():
    import ebsd_env.fingerprint as fingerprint

    with pytest.warns(DeprecationWarning, match="use check_artifact_fingerprint"):
        old = fingerprint.check_fingerprint
    assert old is fingerprint.check_artifact_fingerprint
    with pytest.raises(AttributeError, match="no attribute 'check_fingerprints'"):
        fingerprint.check_fingerprints  # noqa: B018  (only the one old name is kept)


def test_acceptance_model_learns_from_real_rollouts(env, acceptance_file):
    lengths = {}
    for threshold in (0.2, 0.8):
        policy = make_policy(f"acceptance:path={acceptance_file},threshold={threshold}", env=env)
        result = run_episode(env, policy, seed=0, options={"prompt_index": 0})
        lengths[threshold] = result["mean_draft_len"]
    assert policy.model.samples > 10 and 0 < policy.model.positive_rate < 1
    assert lengths[0.2] < lengths[0.8]  # a lower tolerance for a rejection stops earlier


def test_bandit_counts_every_block(env):
    env = env_in_mode(env, "include")
    bandit = make_policy("bandit-exp3:arms=[fixed-k:k=0;fixed-k:k=1;fixed-k:k=4]", env=env)
    blocks = sum(run_episode(env, bandit, seed=0, options={"prompt_index": i})["blocks"] for i in range(2))
    # Blocks the env verifies with an empty draft (one token of budget left) never reach the policy.
    assert 0 < bandit.counts.sum() <= blocks


@pytest.mark.slow
def test_rules_keep_greedy_output_exact_on_the_embedded_pair(embedded_pair):
    env = gym.make("EBSD-Deterministic-v1", pair=embedded_pair, prompts=PROMPTS[:1], max_new_tokens=16,
                   max_draft_len=MAX_DRAFT, cost_model=TOY_COSTS, extra_signals=True)
    reference = run_episode(env, make_policy("no-spec"), seed=0, options={"prompt_index": 0})["output_ids"]
    for spec in ("svip", "kangaroo", "oracle-first-reject", "entropy-abs:theta=1.0", "fixed-k:k=3"):
        for mode in ("include", "exclude"):
            if make_policy(spec).stop_mode in (None, mode):
                mode_env = env_in_mode(env, mode)
                result = run_episode(mode_env, make_policy(spec, env=mode_env), seed=0, options={"prompt_index": 0})
                assert result["output_ids"] == reference, (spec, mode)


def prompt_file(folder):
    path = folder / "prompts.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in PROMPTS))
    return path


def test_acceptance_cli_fits_and_writes_a_model(tmp_path, capsys):
    from policies.acceptance import AcceptanceModel
    from policies.acceptance import main as fit_main

    out = tmp_path / "acc.json"
    assert fit_main(["--pair", "tiny-noisy", "--out", str(out), "--prompt-source", str(prompt_file(tmp_path)),
                     "--max-new-tokens", "12", "--max-draft-len", "6"]) == 0
    model = AcceptanceModel.load(out)
    assert model.samples > 0 and model.layout["max_draft_len"] == 6
    assert f"acceptance:path={out}" in capsys.readouterr().out


def test_the_episode_trace_is_what_the_policy_saw_and_what_each_block_accepted(env):
    """`run_episode` builds its trace after the episode (so the env does not charge it to the policy): the
    observations the policy was given, its actions, and per step whether that draft token was accepted and the
    block's accepted count, as the verifications reported them."""
    policy = make_policy("entropy-abs:theta=1.0", env=env)
    seen, infos = [], []
    predict, step = policy.predict, env.step

    def watched_predict(obs, **kwargs):
        seen.append(np.array(obs, dtype=np.float64))
        return predict(obs, **kwargs)

    def watched_step(action):
        result = step(action)
        infos.append(result[4])
        return result

    policy.predict, env.step = watched_predict, watched_step
    try:
        trace = run_episode(env, policy, seed=0, options={"prompt_index": 0})["trace"]
    finally:
        del policy.predict, env.step
    assert trace["observations"] == [obs.tolist() for obs in seen]
    layout = env.unwrapped.observation_layout
    assert trace["positions"] == [layout.decode(obs).position for obs in seen]
    blocks, start = 0, 0
    for i, info in enumerate(infos):
        if info.get("verified"):
            accepted = info["accepted"]
            assert trace["block_accepted"][start:i + 1] == [accepted] * (i + 1 - start)
            assert trace["accepted"][start:i + 1] == [int(p <= accepted) for p in trace["positions"][start:i + 1]]
            blocks, start = blocks + 1, i + 1
    assert blocks >= 3 and start == len(infos)  # the episode ends on a verification
    assert 0 < sum(trace["accepted"]) < len(trace["accepted"])  # both kinds of step: the check can fail
