"""Learned and online policies: a stable-baselines3 PPO model, bandits over rules, the acceptance predictor."""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np

from ebsd_env.envs.objective import arm_value
from ebsd_env.fingerprint import (
    check_artifact_fingerprint,
    env_fingerprint,
    env_requirements,
    observation_fingerprint,
    read_zip,
)

from .acceptance import AcceptanceModel
from .actor import NumpyActor
from .base import SPECS, Param, Policy, bounds_params, common_stop_mode

IN_MEMORY = "<in memory>"  # PPOPolicy.path of a model given as an object (PPOPolicy.from_model)


class PPOPolicy(Policy):
    """A trained stable-baselines3 PPO model: `predict` delegates to it. The stop decision as a two-action RL
    problem over drafting steps is also the formulation of "Learning To Draft" (LTD, ICLR 2026; code
    `zhzihao/Learning-to-Draft`), which trains it with PPO too.

    The model carries the fingerprint of the env it was trained on (`ebsd_env.fingerprint`, saved inside the
    .zip by `ebsd train ppo`): binding it to an env with another pair, observation layout, stop mode or draft
    bounds is refused with a one-line error naming the difference; allow_mismatch=1 (`--allow-mismatch`) warns
    instead. Defaults deterministic=1 (the model's most likely action; 0 samples from its policy).

    A deterministic decision of a model loaded from a file is computed by `policies.actor.NumpyActor` (the same
    action as SB3's ``predict``: on a 2-core Xeon 7 µs instead of 250 µs in a tight loop, ~60 µs instead of
    ~450 µs with the caches cold, as between draft steps; it matters because every decision is charged to the
    policy). Near-ties, other model structures, sampling and a model being trained go through SB3 (`sb3_calls`
    counts those decisions).
    """

    name = "ppo"
    reads_entropy = False
    description = "a stable-baselines3 PPO model file: ppo:path/to/model.zip"
    params = (Param("path", str, "", "the model .zip saved by PPO.save"),
              Param("deterministic", int, 1, "1: most likely action; 0: sample the policy", low=0, high=1),
              Param("allow_mismatch", int, 0, "1: bind to an env other than the one it was trained for (warns)",
                    low=0, high=1))

    @classmethod
    def from_model(cls, model, deterministic: bool = True) -> PPOPolicy:
        """The same policy over a model in memory (the one being trained, which the evaluation callback runs
        between updates) instead of a file; its spec says so: ``ppo:path=<in memory>``."""
        policy = cls.__new__(cls)
        policy.model = model
        Policy.__init__(policy, path=IN_MEMORY, deterministic=int(deterministic))
        policy.actor = None  # the weights change between updates: SB3 reads the current ones each call
        policy.sb3_calls = 0
        return policy

    def validate(self):
        from stable_baselines3 import PPO

        if self.path == IN_MEMORY and getattr(self, "model", None) is not None:
            return
        if not self.path or not Path(self.path).is_file():
            raise ValueError(f"ppo: no model file at {self.path!r}; give the .zip written by PPO.save, "
                             "e.g. ppo:runs/EBSD-v1__ppo__0__1700000000/model.zip")
        if not zipfile.is_zipfile(self.path):  # SB3 says only "wasn't a zip-file", without the fix
            raise ValueError(f"ppo: {self.path!r} is not a model .zip (not a zip archive); give the .zip written by "
                             "PPO.save or `ebsd train ppo` (model.zip, best_model.zip)")
        self.model = PPO.load(self.path, device="cpu")
        self.actor = NumpyActor.from_model(self.model)
        self.sb3_calls = 0
        self.fingerprint = read_zip(self.path)
        if self.fingerprint is not None and not self.allow_mismatch:
            # It acts in the stop mode it was trained in: `ebsd eval` makes it an env of that mode.
            self.stop_mode = self.fingerprint["action"]["stop_mode"]

    def check_binding(self):
        if self.path == IN_MEMORY:  # the model being trained, evaluated on its own run's env
            return
        if self.env is not None:
            check_artifact_fingerprint(self.fingerprint, env_fingerprint(self.env), f"ppo:{self.path}",
                                       bool(self.allow_mismatch))
        elif self.layout is not None:  # bound to a layout alone: only the observation can be compared
            trained = None if self.fingerprint is None else {"observation": self.fingerprint["observation"]}
            check_artifact_fingerprint(trained, {"observation": observation_fingerprint(self.layout)},
                                       f"ppo:{self.path}", bool(self.allow_mismatch))
        expected = self.model.observation_space.shape
        base = getattr(self.env, "unwrapped", None)
        if getattr(base, "drafter_names", None) is not None:  # EBSD-Multi: the layout plus its per-drafter entries
            given, actions = base.observation_space.shape, int(base.action_space.n)
            if (expected, int(self.model.action_space.n)) != (given, actions):
                raise ValueError(f"{self.spec}: the model reads observations of shape {expected} and takes "
                                 f"{self.model.action_space.n} actions, this EBSD-Multi env gives {given} and takes "
                                 f"{actions} (drafters {'+'.join(base.drafter_names)}); bind it to the multi-drafter "
                                 "pair and settings it was trained with")
            return
        trained_multi = (self.fingerprint or {}).get("multi")
        if self.layout is not None and expected != (self.layout.size,):
            if trained_multi:
                raise ValueError(f"{self.spec}: the model chooses among drafters {'+'.join(trained_multi['drafters'])}"
                                 " (EBSD-Multi-v1); bind it to an EBSD-Multi-v1 env on that pair, not an EBSD-v1 "
                                 "env or a layout alone")
            raise ValueError(f"{self.spec}: the model expects observations of shape {expected}, the env gives "
                             f"({self.layout.size},); make the env with the history / extra_signals it was "
                             "trained with")

    def env_requirements(self) -> dict:
        """The env settings the model was trained with (its fingerprint): what `ebsd eval` makes its env with,
        allow_mismatch or not (it relaxes the check of the pair, not the observations the model reads)."""
        return env_requirements(self.fingerprint)

    def predict(self, observation, state=None, episode_start=None, deterministic: bool = True):
        deterministic = bool(self.deterministic) and deterministic
        if deterministic and self.actor is not None:
            action = self.actor.act(observation)
            if action is not None:
                return (int(action) if np.ndim(action) == 0 else action), state
        self.sb3_calls += 1
        action, state = self.model.predict(observation, state=state, episode_start=episode_start,
                                           deterministic=deterministic)
        return (int(action) if np.ndim(action) == 0 else action), state

    def act(self, obs):
        return self.predict(obs)[0]


def block_work(info: dict) -> tuple[int, float]:
    """(tokens emitted, clock seconds of drafting and verification) of one verified block."""
    emitted = info["emitted"]
    count = emitted if isinstance(emitted, (int, np.integer)) else len(emitted)
    seconds = float(info["draft_time_s"]) + float(info["verify_time_s"])
    if seconds <= 0:
        raise ValueError(f"a verification reported {seconds} s of work; the bandit needs positive block times")
    return int(count), seconds


class Bandit(Policy):
    """Base of the bandits: one arm drives each block; arms are valued by the objective (`ebsd_env.envs.objective`).

    An arm's value is the tokens its blocks emitted over the seconds they took (a ratio of sums, not a mean of
    per-block rates, which can rank arms the wrong way round), divided by the best value so far so that it
    lies in [0, 1] as UCB1 and EXP3 assume. The arms' statistics persist across episodes (online learning).
    Arms that adapt get `on_verify` too. The default arms are draft lengths k = 0 (the verifier alone), 1, 2, 3,
    4, 6, 8, as BanditSpec's arms over hyperparameters.
    """

    block_state = True

    def validate(self):
        self.k_arms = len(self.arms)
        self.counts = np.zeros(self.k_arms, dtype=np.int64)
        self.tokens = np.zeros(self.k_arms)
        self.seconds = np.zeros(self.k_arms)
        self.arm = 0
        self.requires_extra_signals = any(a.requires_extra_signals for a in self.arms)
        self.reads_entropy = any(a.reads_entropy for a in self.arms)
        self.reads_token_signals = any(a.reads_token_signals for a in self.arms)
        self.privileged = any(a.privileged for a in self.arms)
        self.stop_mode = common_stop_mode(self.name, self.arms)

    def bind(self, env=None, layout=None, stop_mode=None):
        for arm in self.arms:
            arm.bind(env=env, layout=layout, stop_mode=stop_mode)
        return super().bind(env=env, layout=layout, stop_mode=stop_mode)

    def reset(self):
        super().reset()
        for arm in getattr(self, "arms", ()):
            arm.reset()

    def start_block(self):
        self.arm = self.choose()

    def stop_at_empty(self, view, obs):
        return self.arms[self.arm].stop_at_empty(view, obs)

    def decide(self, view, obs):
        return self.arms[self.arm].act(obs) == 1

    def on_verify(self, info):
        tokens, seconds = block_work(info)
        self.counts[self.arm] += 1
        self.tokens[self.arm] += tokens
        self.seconds[self.arm] += seconds
        self.update(self.arm, tokens, seconds)
        for arm in self.arms:
            arm.on_verify(info)

    def means(self) -> np.ndarray:
        """Each arm's value, tokens per second over its blocks (nan for arms not tried yet)."""
        return np.asarray([arm_value(t, s) if c else float("nan")
                           for t, s, c in zip(self.tokens, self.seconds, self.counts, strict=True)])

    def choose(self) -> int:
        raise NotImplementedError

    def update(self, arm: int, tokens: int, seconds: float) -> None:
        """Algorithm-specific bookkeeping after a block of `arm`."""


DEFAULT_ARMS = "[fixed-k:k=0;fixed-k:k=1;fixed-k:k=2;fixed-k:k=3;fixed-k:k=4;fixed-k:k=6;fixed-k:k=8]"


class UCBBandit(Bandit):
    """UCB1 over arms (draft lengths or rules), one arm per block, valued by the objective.

    Sources: BanditSpec's UCBSpec (Hou et al., arXiv 2505.15141, ICML 2025) and TapOut (arXiv 2511.02017); UCB1
    from Auer et al. 2002: each arm once, then argmax of value + sqrt(c * ln n / n_i), values normalised to
    [0, 1] by the best arm's. Defaults c=2 (UCB1), arms = fixed-k 0, 1, 2, 3, 4, 6, 8.
    """

    name = "bandit-ucb"
    description = "UCB1 over arms per block (default: k = 0..8), arm value = its tokens / its seconds"
    params = (Param("arms", SPECS, DEFAULT_ARMS, "the policies to choose among"),
              Param("c", float, 2.0, "exploration coefficient in sqrt(c ln n / n_i)", low=0.0))

    def choose(self):
        untried = np.flatnonzero(self.counts == 0)
        if len(untried):
            return int(untried[0])
        values = self.means()
        return int(np.argmax(values / values.max() + np.sqrt(self.c * math.log(self.counts.sum()) / self.counts)))


class EXP3Bandit(Bandit):
    """EXP3 over arms, one arm per block (adversarial bandit).

    Sources: BanditSpec's EXP3Spec (arXiv 2505.15141); EXP3 from Auer et al. 2002: play arm i with
    p_i = (1 - gamma) w_i / sum w + gamma / K, then w_i *= exp(gamma * (r / p_i) / K), r in [0, 1]. EXP3 needs
    one reward per block; to rank arms by the objective (tokens over seconds) the reward is Dinkelbach's:
    r = 1/2 + (N - rho T) / (2 M), N tokens in T seconds, rho the overall rate so far and M the largest
    |N - rho T| seen. Its expectation is linear in E[N] - rho E[T], which orders arms as E[N] / E[T] once rho
    reaches the best arm's rate. The arm draw uses a generator seeded by `seed`. Defaults gamma=0.1, seed=0,
    arms as bandit-ucb.
    """

    name = "bandit-exp3"
    description = "EXP3 over arms per block, Dinkelbach reward N - rho*T (rho: the overall rate so far)"
    params = (Param("arms", SPECS, DEFAULT_ARMS, "the policies to choose among"),
              Param("gamma", float, 0.1, "exploration rate", low=1e-6, high=1.0),
              Param("seed", int, 0, "arm-draw generator seed"))

    def validate(self):
        super().validate()
        self.log_weights = np.zeros(self.k_arms)
        self.rng = np.random.default_rng(self.seed)
        self.probs = np.full(self.k_arms, 1.0 / self.k_arms)
        self.scale = 0.0

    def choose(self):
        w = np.exp(self.log_weights - self.log_weights.max())
        self.probs = (1.0 - self.gamma) * w / w.sum() + self.gamma / self.k_arms
        return int(self.rng.choice(self.k_arms, p=self.probs))

    def update(self, arm, tokens, seconds):
        rate = arm_value(self.tokens.sum(), self.seconds.sum())
        advantage = tokens - rate * seconds
        self.scale = max(self.scale, abs(advantage))
        reward = 0.5 + 0.5 * advantage / self.scale if self.scale > 0 else 0.5
        self.log_weights[arm] += self.gamma * (reward / self.probs[arm]) / self.k_arms


class AcceptancePolicy(Policy):
    """SpecDec++'s rule: stop when P(at least one rejection in the block) = 1 - prod_t p_t > threshold.

    p_t is the logistic acceptance model of `policies.acceptance` (fit it with `acceptance.fit(rollouts)`).
    Source: Huang et al., "SpecDec++", arXiv 2405.19715 (COLM 2025); its acceptance head is a
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
        if self.env is not None and self.model.fingerprint is not None:
            check_artifact_fingerprint(self.model.fingerprint, env_fingerprint(self.env), f"acceptance:{self.path}")
        if self.layout is not None:
            self.model.check_layout(self.layout)

    def start_block(self):
        self.survival = 1.0

    def decide(self, view, obs):
        self.survival *= self.model.prob(obs)
        return 1.0 - self.survival > self.threshold
