"""The safety net (`safe:inner=[...]`): it falls back to the verifier alone where speculation loses, keeps
speculating where it wins, live on tiny pairs and on replayed traces, and learns only from what the env reports."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import ebsd_env  # noqa: F401  (registers EBSD-v1)
from ebsd_env.replay import ReplayEnv
from ebsd_env.replay.record import record
from ebsd_env.timing.cost_model import CostModel
from policies import make_policy, run_episode

PROMPTS = [{"id": "a", "category": "chat", "prompt": "hello there, how are you?"},
           {"id": "b", "category": "code", "prompt": "count 1 2 3 4 5"}]
MAX_NEW, MAX_DRAFT, EPISODES = 32, 8, 6
# CPU-like: verifying 2 tokens costs 1.7x one (issue 23's CPU); GPU-like: verification is flat in the tokens fed.
STEEP = CostModel(draft_s=0.02, verify_points=((1, 0.1), (2, 0.17), (9, 0.4), (17, 0.6)), source="steep")
FLAT = CostModel(draft_s=0.01, verify_points=((1, 0.1), (17, 0.102)), source="flat")


def live_env(pair, costs):
    return gym.make("EBSD-Deterministic-v1", pair=pair, prompts=PROMPTS, max_draft_len=MAX_DRAFT, cost_model=costs,
                    max_new_tokens=MAX_NEW)


@pytest.fixture(scope="module")
def traces(random_pair, copy_pair, tmp_path_factory):
    folders = {}
    for name, pair in (("random", random_pair), ("copy", copy_pair)):
        folders[name] = tmp_path_factory.mktemp("traces") / name
        record(pair, PROMPTS, folders[name], max_draft_len=MAX_DRAFT, max_new_tokens=MAX_NEW, shard_size=2,
               progress=False, calibrate_clock=False)
    return folders


def run(env, spec: str) -> tuple[float, list[int]]:
    """(tokens per clock second over EPISODES episodes, the draft lengths of the last one); one policy object
    throughout, so what it learns carries from episode to episode as in `ebsd eval`."""
    policy = make_policy(spec, env=env)
    results = [run_episode(env, policy, seed=0, options={"prompt_index": i % len(PROMPTS)}) for i in range(EPISODES)]
    rate = sum(r["new_tokens"] for r in results) / sum(r["decode_s"] for r in results)
    return rate, results[-1]["draft_lengths"]


def envs(name, costs, request):
    """The live env on the named tiny pair and the replay env over its recorded traces, both priced by `costs`."""
    pair = request.getfixturevalue(f"{name}_pair")
    replay = ReplayEnv(request.getfixturevalue("traces")[name], clock="profile", cost_model=costs,
                       max_draft_len=MAX_DRAFT)
    return {"live": live_env(pair, costs), "replay": replay}


@pytest.mark.parametrize("inner", ["fixed-k:k=4", "entropy-abs:theta=1.0"])
def test_safety_net_falls_back_to_the_verifier_when_the_drafter_is_always_wrong(inner, request):
    """A drafter that is always wrong and a verification that costs more per token fed: the bare policy is far
    slower than the verifier alone; the wrapped one ends near k = 0 and near the verifier's rate."""
    for kind, env in envs("random", STEEP, request).items():
        bare, _ = run(env, inner)
        wrapped, lengths = run(env, f"safe:inner=[{inner}]")
        verifier_alone = STEEP.verifier_rate
        assert bare < 0.6 * verifier_alone, (kind, bare)  # the setting is one where speculation loses
        assert wrapped > 1.4 * bare, (kind, wrapped, bare)
        assert wrapped > 0.8 * verifier_alone, (kind, wrapped)
        assert np.mean(np.asarray(lengths) == 0) > 0.85, (kind, lengths)  # the last episode: k = 0 but re-probes


@pytest.mark.parametrize("costs", [FLAT, STEEP], ids=["flat", "steep"])
def test_safety_net_keeps_speculating_when_the_drafter_is_always_right(costs, request):
    for kind, env in envs("copy", costs, request).items():
        bare, _ = run(env, "fixed-k:k=4")
        wrapped, lengths = run(env, "safe:inner=[fixed-k:k=4]")
        assert bare > 1.3 * costs.verifier_rate, (kind, bare)  # the setting is one where speculation wins
        assert wrapped > 0.95 * bare, (kind, wrapped, bare)
        assert 0 not in lengths, (kind, lengths)  # no probe in the last episode: one in 16 blocks, 7 per episode


def test_safety_net_is_no_worse_than_the_bandits_over_k_where_speculation_loses(request):
    """bandit-ucb and bandit-exp3 over k = 0..8 (k = 0 included) explore every arm on the always-wrong drafter;
    the net around a fixed k pays only its re-probes."""
    env = envs("random", STEEP, request)["replay"]
    wrapped, _ = run(env, "safe:inner=[fixed-k:k=4]")
    for bandit in ("bandit-ucb", "bandit-exp3"):
        assert wrapped > run(env, bandit)[0], bandit


def block(policy, layout, emitted: int, seconds: float) -> int:
    """Drive `policy` through one block (at most 3 draft tokens) and report its verification: a k = 0 block emits
    1 token in 0.1 s (the verifier alone, 10 tok/s), a drafted one `emitted` tokens in `seconds`. Returns k."""
    obs = np.zeros(layout.size, dtype=np.float32)
    for position in range(4):
        obs[layout.position_index] = position / layout.max_draft_len
        if policy.act(obs) == 1:
            break
    tokens, spent = (1, 0.1) if position == 0 else (emitted, seconds)
    policy.on_verify({"emitted": tokens, "drafted": position, "accepted": tokens - 1, "draft_time_s": 0.0,
                      "verify_time_s": spent})
    return position


def test_probes_are_k0_blocks_the_wrapped_policy_never_learns_from():
    from ebsd_env.envs.observation import ObservationLayout

    layout = ObservationLayout(history=4, max_draft_len=8, max_new_tokens=64, entropy_scale=1.0)
    policy = make_policy("safe:inner=[bandit-ucb:arms=[fixed-k:k=2;fixed-k:k=3]],probe_every=4,min_blocks=2",
                         layout=layout)
    inner = policy.policy
    assert block(policy, layout, 3, 0.1) == 0  # the first block measures the verifier alone
    assert inner.counts.sum() == 0
    lengths = [block(policy, layout, 3, 0.1) for _ in range(6)]  # speculation wins: 3 tokens in 0.1 s
    assert lengths.count(0) == 1 and inner.counts.sum() == 5 and not policy.fallen_back
    assert policy.rate("speculate") == pytest.approx(30.0) and policy.rate("probe") == pytest.approx(10.0)
    lost = 0
    while not policy.fallen_back:  # then it loses, 5 tok/s, until the decayed estimate drops below 10 tok/s
        lost += block(policy, layout, 1, 0.2) > 0
        assert lost <= 5
    assert lost >= 3  # one bad block does not outweigh the good ones before it (decay 0.8)
    reprobes = [block(policy, layout, 1, 0.2) for _ in range(8 + 16 + 1)]
    # Fallen back: k = 0, with one re-probe after 8 blocks; it loses again, so the next comes after 16.
    assert [i for i, k in enumerate(reprobes) if k] == [7, 23]
    assert make_policy(policy.spec) == policy


@pytest.mark.parametrize("spec, message", [
    ("safe:inner=[svip;fixed-k:k=2]", "wraps exactly one policy"),
    ("safe:inner=svip", "list of specs in brackets"),
    ("safe:inner=[fixed-k:k=2],reprobe_every=16,reprobe_max=8", "reprobe_max=8 < reprobe_every=16"),
    ("safe:inner=[fixed-k:k=2],decay=1.5", "decay=1.5 is out of range"),
])
def test_bad_safety_specs(spec, message):
    with pytest.raises(ValueError, match=message):
        make_policy(spec)


def test_safety_net_wears_a_trained_ppo_model_with_its_env_requirements(noisy_pair, tmp_path):
    """A PPO model keeps its fingerprint's requirements and stop mode under the net, and is refused elsewhere."""
    from stable_baselines3 import PPO

    from ebsd_env.fingerprint import env_fingerprint, save_model

    env = gym.make("EBSD-Deterministic-v1", pair=noisy_pair, prompts=PROMPTS, max_draft_len=MAX_DRAFT,
                   cost_model=STEEP, max_new_tokens=16, stop_mode="exclude")
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=32, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=32)
    save_model(model, tmp_path / "model.zip", env_fingerprint(env))
    bare = make_policy(f"ppo:{tmp_path / 'model.zip'}")
    wrapped = make_policy(f"safe:inner=[ppo:{tmp_path / 'model.zip'}]")
    assert wrapped.env_requirements() == bare.env_requirements() and wrapped.env_requirements()
    assert wrapped.stop_mode == "exclude"
    result = run_episode(env, wrapped, seed=0)
    assert result["new_tokens"] > 0 and result["draft_lengths"][0] == 0  # the first block is a k = 0 probe
    other = gym.make("EBSD-Deterministic-v1", pair=noisy_pair, prompts=PROMPTS, max_draft_len=4, cost_model=STEEP,
                     max_new_tokens=16, stop_mode="exclude")
    with pytest.raises(ValueError, match="max_draft_len"):
        wrapped.bind(env=other)
