"""Learned and online policies: a stable-baselines3 PPO model, bandits over rules, the acceptance predictor."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .acceptance import AcceptanceModel
from .base import SPECS, Param, Policy, bounds_params


class PPOPolicy(Policy):
    """A trained stable-baselines3 PPO model (the LTD formulation, anchors §3.1): `predict` delegates to it.

    The model must have been trained on an env with the same observation layout (checked on binding).
    Defaults deterministic=1 (the model's most likely action; 0 samples from its policy).
    """

    name = "ppo"
    description = "a stable-baselines3 PPO model file: ppo:path/to/model.zip"
    params = (Param("path", str, "", "the model .zip saved by PPO.save"),
              Param("deterministic", int, 1, "1: most likely action; 0: sample the policy", low=0, high=1))

    def validate(self):
        from stable_baselines3 import PPO

        if not self.path or not Path(self.path).is_file():
            raise ValueError(f"ppo: no model file at {self.path!r}; give the .zip written by PPO.save, "
                             "e.g. ppo:runs/EBSD-v0__ppo__0__1700000000/model.zip")
        self.model = PPO.load(self.path, device="cpu")

    def check_binding(self):
        expected = self.model.observation_space.shape
        if self.layout is not None and expected != (self.layout.size,):
            raise ValueError(f"{self.spec}: the model expects observations of shape {expected}, the env gives "
                             f"({self.layout.size},); make the env with the history / extra_signals it was "
                             "trained with")

    def predict(self, observation, state=None, episode_start=None, deterministic: bool = True):
        action, state = self.model.predict(observation, state=state, episode_start=episode_start,
                                           deterministic=bool(self.deterministic) and deterministic)
        return (int(action) if np.ndim(action) == 0 else action), state

    def act(self, obs):
        return self.predict(obs)[0]


def block_tokens_per_s(info: dict) -> float:
    """Measured speed of one block: tokens emitted / (draft + verify time)."""
    emitted = info["emitted"]
    count = emitted if isinstance(emitted, (int, np.integer)) else len(emitted)
    seconds = float(info["draft_time_s"]) + float(info["verify_time_s"])
    if seconds <= 0:
        raise ValueError(f"a verification reported {seconds} s of work; the bandit needs positive block times")
    return count / seconds


class Bandit(Policy):
    """Base of the bandits: one arm (a rule) drives each block; its reward is the block's measured tokens/s.

    Rewards are divided by the largest tokens/s seen so far, so they lie in [0, 1] as UCB1 and EXP3 assume;
    the arms' statistics persist across episodes (online learning). Arms that adapt get `on_verify` too.
    """

    block_state = True

    def validate(self):
        self.k_arms = len(self.arms)
        self.counts = np.zeros(self.k_arms, dtype=np.int64)
        self.sums = np.zeros(self.k_arms)  # raw tokens/s, normalised when used
        self.best = 0.0
        self.arm = 0
        self.requires_extra_signals = any(a.requires_extra_signals for a in self.arms)
        self.privileged = any(a.privileged for a in self.arms)

    def bind(self, env=None, layout=None):
        for arm in self.arms:
            arm.bind(env=env, layout=layout)
        return super().bind(env=env, layout=layout)

    def reset(self):
        super().reset()
        for arm in getattr(self, "arms", ()):
            arm.reset()

    def start_block(self):
        self.arm = self.choose()

    def decide(self, view, obs):
        return self.arms[self.arm].act(obs) == 1

    def on_verify(self, info):
        reward = block_tokens_per_s(info)
        self.best = max(self.best, reward)
        self.counts[self.arm] += 1
        self.sums[self.arm] += reward
        self.update(self.arm, reward / self.best if self.best > 0 else 0.0)
        for arm in self.arms:
            arm.on_verify(info)

    def means(self) -> np.ndarray:
        """Mean measured tokens/s per arm (nan for arms not tried yet)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.sums / self.counts

    def choose(self) -> int:
        raise NotImplementedError

    def update(self, arm: int, reward: float) -> None:
        """Algorithm-specific bookkeeping with the normalised reward."""


DEFAULT_ARMS = "[fixed-k:k=4;entropy-abs:theta=0.5;entropy-abs:theta=1.0;entropy-abs:theta=2.0;svip]"


class UCBBandit(Bandit):
    """UCB1 over stop rules, one arm per block, rewarded by the block's tokens/s (online threshold adaptation).

    Sources: BanditSpec's UCBSpec (Hou et al., arXiv 2505.15141, ICML 2025) and TapOut (arXiv 2511.02017),
    anchors §2.8; UCB1 from Auer et al. 2002: each arm once, then argmax of mean + sqrt(c * ln n / n_i) with
    rewards normalised to [0, 1]. Defaults c=2 (UCB1), arms = fixed-k 4, entropy-abs 0.5 / 1 / 2 nats, svip.
    """

    name = "bandit-ucb"
    description = "UCB1 over rule arms per block, reward = block tokens/s"
    params = (Param("arms", SPECS, DEFAULT_ARMS, "the rules to choose among"),
              Param("c", float, 2.0, "exploration coefficient in sqrt(c ln n / n_i)", low=0.0))

    def choose(self):
        untried = np.flatnonzero(self.counts == 0)
        if len(untried):
            return int(untried[0])
        # Past rewards are rescaled by the best speed so far, so the means stay in [0, 1].
        means = self.sums / self.counts / self.best
        return int(np.argmax(means + np.sqrt(self.c * math.log(self.counts.sum()) / self.counts)))


class EXP3Bandit(Bandit):
    """EXP3 over stop rules, one arm per block, rewarded by the block's tokens/s (adversarial bandit).

    Sources: BanditSpec's EXP3Spec (arXiv 2505.15141), anchors §2.8; EXP3 from Auer et al. 2002: play arm i
    with p_i = (1 - gamma) w_i / sum w + gamma / K, then w_i *= exp(gamma * (r / p_i) / K), r in [0, 1]
    (normalised by the best speed so far). The arm draw uses a generator seeded by `seed`. Defaults
    gamma=0.1, seed=0, arms as bandit-ucb.
    """

    name = "bandit-exp3"
    description = "EXP3 over rule arms per block, reward = block tokens/s"
    params = (Param("arms", SPECS, DEFAULT_ARMS, "the rules to choose among"),
              Param("gamma", float, 0.1, "exploration rate", low=1e-6, high=1.0),
              Param("seed", int, 0, "arm-draw generator seed"))

    def validate(self):
        super().validate()
        self.log_weights = np.zeros(self.k_arms)
        self.rng = np.random.default_rng(self.seed)
        self.probs = np.full(self.k_arms, 1.0 / self.k_arms)

    def choose(self):
        w = np.exp(self.log_weights - self.log_weights.max())
        self.probs = (1.0 - self.gamma) * w / w.sum() + self.gamma / self.k_arms
        return int(self.rng.choice(self.k_arms, p=self.probs))

    def update(self, arm, reward):
        self.log_weights[arm] += self.gamma * (reward / self.probs[arm]) / self.k_arms


class AcceptancePolicy(Policy):
    """SpecDec++'s rule: stop when P(at least one rejection in the block) = 1 - prod_t p_t > threshold.

    p_t is the logistic acceptance model of `policies.acceptance` (fit it with `acceptance.fit(rollouts)`).
    Source: Huang et al., "SpecDec++", arXiv 2405.19715 (COLM 2025), anchors §2.4; its acceptance head is a
    trained network, here a logistic model on the observation. Defaults threshold=0.5, min=1, max=16.
    """

    name = "acceptance"
    description = "SpecDec++: stop when the predicted P(any rejection) > threshold (logistic model file)"
    params = (Param("path", str, "", "the model .json written by AcceptanceModel.save"),
              Param("threshold", float, 0.5, "stop when P(any rejection so far) exceeds this", low=0.0, high=1.0),
              *bounds_params(max_default=16))
    block_state = True

    def validate(self):
        self.model = AcceptanceModel.load(self.path)
        self.survival = 1.0

    def check_binding(self):
        if self.layout is not None:
            self.model.check_layout(self.layout)

    def start_block(self):
        self.survival = 1.0

    def decide(self, view, obs):
        self.survival *= self.model.prob(obs)
        return 1.0 - self.survival > self.threshold
