"""`policies.actor.NumpyActor`: a PPO policy's deterministic decisions without SB3's per-call overhead, always
SB3's own action (near-ties, other structures, sampling and a model in training go through SB3)."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3 import PPO

import ebsd_env  # noqa: F401  (registers the envs)
from ebsd_env.fingerprint import env_fingerprint, save_model
from policies import make_policy
from policies.actor import TIE_MARGIN, NumpyActor
from policies.learned import PPOPolicy

TRAINED = sorted((Path(__file__).parent.parent / "policies" / "trained").glob("ppo_*.zip"))


class Box8(gym.Env):
    """A stand-in env with the spaces of a stopping policy: 8 inputs in [0, 1], `actions` actions."""

    def __init__(self, actions: int = 2):
        self.observation_space = spaces.Box(0.0, 1.0, (8,), dtype=np.float32)
        self.action_space = spaces.Discrete(actions)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, True, False, {}


def model(actions: int = 2, head_scale: float = 300.0, **policy_kwargs) -> PPO:
    """A PPO model whose action head is scaled up: a fresh head (gain 0.01) puts most logits within `TIE_MARGIN`
    of each other, where the actor rightly defers to SB3; scaled, most decisions are clear."""
    ppo = PPO("MlpPolicy", Box8(actions), seed=0, device="cpu", policy_kwargs=policy_kwargs or None)
    with torch.no_grad():
        ppo.policy.action_net.weight.mul_(head_scale)
        ppo.policy.action_net.bias.uniform_(-1.0, 1.0, generator=torch.Generator().manual_seed(0))
    return ppo


def observations(n: int, size: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-0.5, 1.5, (n, size)).astype(np.float32)


@pytest.mark.parametrize("actions", [2, 5])
def test_the_actor_takes_sb3s_action_one_at_a_time_and_in_batches(actions):
    ppo = model(actions)
    actor = NumpyActor.from_model(ppo)
    assert actor is not None
    obs = observations(2000)
    expected = ppo.predict(obs, deterministic=True)[0]
    batch = actor.act(obs[:50])
    assert batch is not None and np.array_equal(batch, expected[:50])
    decided = 0
    for row, action in zip(obs, expected, strict=True):
        fast = actor.act(row)
        if fast is not None:
            decided += 1
            assert int(fast) == int(action)
    assert decided > 0.95 * len(obs)  # the scaled head leaves few near-ties: the fast path is the one tested


def test_a_near_tie_goes_to_sb3():
    ppo = model(2)
    with torch.no_grad():  # logits 0.5 and 0.5 + margin / 2 whatever the observation
        ppo.policy.action_net.weight.zero_()
        ppo.policy.action_net.bias.copy_(torch.tensor([0.5, 0.5 + TIE_MARGIN / 2]))
    actor = NumpyActor.from_model(ppo)
    obs = observations(3)
    assert actor.act(obs[0]) is None and actor.act(obs) is None
    with torch.no_grad():
        ppo.policy.action_net.bias.copy_(torch.tensor([0.5, 0.5 + 4 * TIE_MARGIN]))
    assert int(NumpyActor.from_model(ppo).act(obs[0])) == 1
    with torch.no_grad():  # logits SB3 would have to rank: NaN is no clear winner either
        ppo.policy.action_net.bias.copy_(torch.tensor([float("nan"), 0.5]))
    actor = NumpyActor.from_model(ppo)
    assert actor.act(obs[0]) is None and actor.act(obs) is None


def test_an_observation_of_another_shape_goes_to_sb3():
    actor = NumpyActor.from_model(model(2))
    assert actor.act(np.zeros(7, dtype=np.float32)) is None
    assert actor.act(np.zeros((2, 9), dtype=np.float32)) is None


def test_structures_the_actor_does_not_know_stay_with_sb3():
    assert NumpyActor.from_model(model(2, activation_fn=torch.nn.ELU)) is None
    relu = model(2, activation_fn=torch.nn.ReLU, net_arch=[16, 8, 4])
    actor = NumpyActor.from_model(relu)
    assert actor is not None and len(actor.layers) == 3
    obs = observations(500, seed=1)
    expected = relu.predict(obs, deterministic=True)[0]
    fast = [actor.act(row) for row in obs]
    assert all(int(a) == int(e) for a, e in zip(fast, expected, strict=True) if a is not None)


def test_the_ppo_policy_decides_with_the_actor_and_falls_back_to_sb3(tmp_path, noisy_pair):
    real = gym.make("EBSD-Deterministic-v1", pair=noisy_pair, prompts=["hello there, how are you?"],
                    max_draft_len=4, max_new_tokens=8)
    ppo = PPO("MlpPolicy", real, n_steps=16, batch_size=16, n_epochs=1, seed=0, device="cpu")
    with torch.no_grad():
        ppo.policy.action_net.weight.mul_(300.0)
    path = tmp_path / "model.zip"
    save_model(ppo, path, env_fingerprint(real))
    policy = make_policy(f"ppo:{path}", env=real)
    assert isinstance(policy.actor, NumpyActor)
    obs = observations(300, size=real.observation_space.shape[0], seed=2)
    for row in obs:
        assert policy.predict(row)[0] == int(ppo.predict(row, deterministic=True)[0])
    fast_calls = len(obs) - policy.sb3_calls
    assert fast_calls > 0.9 * len(obs)
    sampled = make_policy(f"ppo:{path},deterministic=0", env=real)
    before = sampled.sb3_calls
    sampled.predict(obs[0])
    assert sampled.sb3_calls == before + 1  # sampling is SB3's
    training = PPOPolicy.from_model(ppo)
    assert training.actor is None  # a model being trained: its current weights, through SB3


@pytest.mark.parametrize("path", TRAINED, ids=lambda p: p.name)
def test_the_shipped_models_decide_as_sb3_does(path):
    ppo = PPO.load(path, device="cpu")
    actor = NumpyActor.from_model(ppo)
    assert actor is not None
    obs = observations(3000, size=ppo.observation_space.shape[0], seed=3)
    expected = ppo.predict(obs, deterministic=True)[0]
    fast = [actor.act(row) for row in obs]
    assert sum(a is not None for a in fast) > 0.99 * len(obs)
    assert all(int(a) == int(e) for a, e in zip(fast, expected, strict=True) if a is not None)


def test_the_actor_pickles_as_a_policy_sent_to_a_ray_worker_does():
    import pickle

    actor = NumpyActor.from_model(model(2, activation_fn=torch.nn.ReLU))
    copy = pickle.loads(pickle.dumps(actor))
    obs = observations(20, seed=4)
    assert np.array_equal(copy.logits(obs), actor.logits(obs))
