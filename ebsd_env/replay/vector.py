"""`ReplayVectorEnv`: many `EBSD-Replay-v1` episodes stepped in numpy at once, and an SB3 VecEnv adapter.

Each sub-env follows exactly `EBSDEnv`'s rules over a `ReplayDecoder` (action resolution, forced stops, stop
modes, the one-token-left verification: the numpy forms of `ebsd_env.envs.block_rules`; observation encoding,
reward), written as array operations over all sub-envs, so one `step` costs a few dozen numpy calls whatever the
number of envs. `tests/test_replay.py` checks it against `ReplayEnv` step by step (observations, rewards, flags)
for both stop modes.

Autoreset is same-step (`gymnasium.vector.AutoresetMode.SAME_STEP`): when an episode ends, the returned
observation is the next episode's first one and ``infos["final_obs"]`` / ``infos["final_info"]`` (masked by
``infos["_final_obs"]``) hold the last one and the episode's statistics, as SB3 expects.

Cost profiles (``cost_profiles=``, `ebsd_env.timing.cost_profiles`): each episode of each sub-env is priced by a
profile drawn when it begins, from a generator seeded by the env's seed (apart from the one drawing traces, so the
traces drawn are those of a run without profiles); ``infos["final_info"]["cost_profile"]`` holds its index.
Each step is one decision of the policy for every sub-env: the clock's `decide_s` is charged to each.

Restrictions (one-line errors): ``min_draft_len`` must be 0 (every block starts at the empty draft, the v1
default), and what `ReplayEnv` refuses (sampling, the wall clock, settings beyond the traces).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv

from ..envs.block_rules import (
    DEFAULT_STOP_MODE,
    BlockRules,
    check_stop_mode,
    draft_room_many,
    kept_many,
    verifier_takes_last,
)
from ..envs.env_clock import warn_deprecated
from ..envs.observation import ACCEPTANCE_PRIOR, CONTEXT_SCALE, ObservationLayout, encode_logprobs, update_acceptance
from ..timing.clock import Clock
from ..timing.cost_model import CostModel
from ..timing.cost_profiles import CostProfiles, EpisodePrices
from .env import load_traces, recorded_entropy_scale, replay_clock, replay_limits
from .trace import LOGPROB_SIGNALS, SIGNALS, TraceSet


def _check_settings(temperature: float, min_draft_len: int, stop_mode: str, num_envs: int) -> None:
    if temperature != 0:
        raise ValueError(f"sampling (temperature={temperature}) cannot be replayed: use temperature=0")
    if min_draft_len != 0:
        raise ValueError(f"the vector replay env needs min_draft_len=0 (got {min_draft_len}); use ReplayEnv for "
                         "min_draft_len >= 1")
    check_stop_mode(stop_mode)
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")


class ReplayVectorEnv(VectorEnv):
    """`num_envs` replay episodes at once. Arguments as `ReplayEnv`'s; `trace_indices` restricts the traces an
    episode is drawn from (uniformly, from the env's seeded generator)."""

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, traces: TraceSet | str | Path | Sequence[str | Path], num_envs: int = 16, history: int = 8,
                 max_draft_len: int | None = None, max_new_tokens: int | None = None, clock: str | Clock = "model",
                 cost_model: CostModel | str | Path | None = None, extra_signals: bool = False,
                 reward_scale: float | None = None, stop_mode: str = DEFAULT_STOP_MODE, min_draft_len: int = 0,
                 temperature: float = 0.0, seed: int | None = None, trace_indices: Sequence[int] | None = None,
                 observation: str = "entropy",
                 cost_profiles: CostProfiles | Sequence[str | Path | CostModel] | None = None,
                 decide_s: float | str | None = None, cost_signals: bool = False):
        _check_settings(temperature, min_draft_len, stop_mode, num_envs)
        self.traces = traces = load_traces(traces)
        self._set_up_clock(clock, cost_model, cost_profiles, decide_s)
        L, budget = replay_limits(traces, max_draft_len, max_new_tokens)
        self.rules = BlockRules(L, stop_mode)
        self.max_draft_len, self.max_new_tokens, self.stop_mode = L, budget, stop_mode
        self.num_envs = int(num_envs)
        self._set_spaces(ObservationLayout(history=history, max_draft_len=L, max_new_tokens=budget,
                                           entropy_scale=recorded_entropy_scale(traces), extra_signals=extra_signals,
                                           observation=observation, cost_signals=cost_signals))
        self.reward_scale = float(reward_scale or L + 1)
        # Each sub-env prices its episode with row `self.profile[i]` of these (row 0, the clock's, without profiles).
        self.prices = EpisodePrices.of(self.cost_profiles.models if self.cost_profiles is not None
                                       else (self.decode_clock.costs,), L,
                                       reads_signals=self.layout.reads_token_signals)
        self._decide_s = self.decode_clock.decide_s  # charged to every sub-env at every step: each is a decision
        self._load_trace_arrays(L, budget)
        self._set_trace_pool(trace_indices)
        self._set_up_episodes(seed, history)

    def _set_up_clock(self, clock: str | Clock, cost_model, cost_profiles, decide_s) -> None:
        """`decode_clock` (its kind `clock_kind`) prices every sub-env, unless `cost_profiles` price each episode."""
        self.cost_profiles = None if cost_profiles is None else CostProfiles.load(cost_profiles)
        if self.cost_profiles is not None:
            clock, cost_model = Clock("profile", self.cost_profiles.models[0]), None
        self.decode_clock: Clock = replay_clock(self.traces, clock, cost_model).with_decisions(decide_s)
        self.clock_kind: str = self.decode_clock.kind

    def _set_spaces(self, layout: ObservationLayout) -> None:
        self.layout = self.observation_layout = layout
        self.single_observation_space = spaces.Box(0.0, 1.0, (layout.size,), np.float32)
        self.single_action_space = spaces.Discrete(2)
        self.observation_space = spaces.Box(0.0, 1.0, (self.num_envs, layout.size), np.float32)
        self.action_space = spaces.MultiDiscrete(np.full(self.num_envs, 2))

    def _load_trace_arrays(self, L: int, budget: int) -> None:
        """The traces as flat arrays a step indexes: each prompt's chains, outputs and signals, cut to `L` draft
        tokens and `budget` output tokens."""
        traces = self.traces
        flat = traces.flat()
        self._base = flat["base"]
        self._budget = np.minimum(flat["budget"], budget)
        self._n_out = np.minimum(flat["length"], self._budget)
        eos = np.asarray(sorted(traces.fingerprint.get("eos_ids") or []), dtype=np.int64)
        last = np.asarray([t.output[n - 1] if n else -1 for t, n in zip(traces.traces, self._n_out, strict=True)])
        self._terminates = np.isin(last, eos)
        self._match = flat["match"]
        self._is_eos = np.isin(flat["tokens"][:, :L], eos)
        self._sig = {name: np.ascontiguousarray(flat[name][:, :L]) for name in SIGNALS}
        self._prompt_len = np.asarray([len(t.prompt_ids) for t in traces.traces], dtype=np.int64)
        self._scale = self.layout.entropy_scale

    def _set_trace_pool(self, trace_indices: Sequence[int] | None) -> None:
        count = len(self.traces)
        self._pool = np.arange(count) if trace_indices is None else np.asarray(trace_indices, dtype=np.int64)
        if len(self._pool) == 0 or self._pool.min() < 0 or self._pool.max() >= count:
            raise ValueError(f"trace_indices must be non-empty indices in [0, {count})")

    def _set_up_episodes(self, seed: int | None, history: int) -> None:
        """The generators and the per-sub-env state arrays, zeroed: no episode begun before `reset`."""
        B = self.num_envs
        self._rng = np.random.default_rng(seed)
        self._profile_rng = self._profile_generator(seed)
        self._arange_h = np.arange(history)
        self._rows_b = np.arange(B)
        for name in (*self.POSITIONS, *self.EPISODE_COUNTS):
            setattr(self, name, np.zeros(B, dtype=np.int64))
        for name in self.EPISODE_SUMS:
            setattr(self, name, np.zeros(B, dtype=np.float64))
        self._zero_state(np.ones(B, dtype=bool))
        self._started = False

    @property
    def cost_profile_names(self) -> tuple[str, ...]:
        """The names of the cost profiles that price the episodes (their statistics' ``cost_profile`` indexes)."""
        return () if self.cost_profiles is None else self.cost_profiles.names

    # ------------------------------------------------------------------ former names
    @property
    def clock(self) -> Clock:
        """Deprecated: the clock, now `decode_clock` (as `EBSDEnv`'s, whose former `clock` was the kind)."""
        warn_deprecated("ReplayVectorEnv.clock", "decode_clock")
        return self.decode_clock

    @property
    def baseline_rate(self) -> float:
        """Deprecated: ρ, the verifier-alone rate, now `decode_clock.baseline_rate`."""
        warn_deprecated("ReplayVectorEnv.baseline_rate", "decode_clock.baseline_rate")
        return self.decode_clock.baseline_rate

    # ------------------------------------------------------------------ state
    # Per-sub-env arrays of the episodes in flight: with the two generators, all that a step reads and changes.
    # Where each episode is (trace, position, draft length, cost profile), then what a new episode starts anew.
    POSITIONS = ("t", "j", "n", "profile")
    EPISODE_COUNTS = ("prev_emitted", "ep_len", "ep_blocks", "ep_drafted", "ep_accepted")
    EPISODE_SUMS = ("prev_acc", "ep_draft_s", "ep_verify_s", "ep_decide_s", "ep_return", "acc_ema")
    STATE_ARRAYS = (*POSITIONS, *EPISODE_COUNTS, *EPISODE_SUMS)

    def state_dict(self) -> dict:
        """The episodes in flight and the generators' states (a checkpoint's): `load_state_dict` on an env made
        with the same arguments continues exactly as this one would, so a resumed PPO run is the uninterrupted one."""
        return {"num_envs": self.num_envs, "traces": len(self.traces), "started": self._started,
                "arrays": {name: getattr(self, name).copy() for name in self.STATE_ARRAYS},
                "rng": self._rng.bit_generator.state, "profile_rng": self._profile_rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        shapes = {name: np.shape(value) for name, value in state["arrays"].items()}
        if shapes != {name: getattr(self, name).shape for name in self.STATE_ARRAYS} or \
                state["traces"] != len(self.traces):
            raise ValueError(f"this state is of another vector env ({state['num_envs']} envs over {state['traces']} "
                             f"traces; this one: {self.num_envs} over {len(self.traces)}): resume with the run's "
                             "own traces and settings")
        for name in self.STATE_ARRAYS:
            setattr(self, name, np.array(state["arrays"][name], dtype=getattr(self, name).dtype))
        self._rng.bit_generator.state = state["rng"]
        self._profile_rng.bit_generator.state = state["profile_rng"]
        self._started = bool(state["started"])

    @staticmethod
    def _profile_generator(seed: int | None) -> np.random.Generator:
        return np.random.default_rng(None if seed is None else [int(seed), 1])  # a stream apart from the traces'

    def _zero_state(self, rows: np.ndarray) -> None:
        for name in (*self.EPISODE_COUNTS, *self.EPISODE_SUMS):
            getattr(self, name)[rows] = 0
        self.acc_ema[rows] = ACCEPTANCE_PRIOR

    def _begin(self, rows: np.ndarray) -> None:
        count = int(rows.sum())
        if count:
            self.t[rows] = self._pool[self._rng.integers(len(self._pool), size=count)]
            if self.cost_profiles is not None:
                self.profile[rows] = self.cost_profiles.sample(self._profile_rng, size=count)
            self.j[rows] = 0
            self.n[rows] = 0
            self._zero_state(rows)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
            self._profile_rng = self._profile_generator(seed)
        if options:
            unknown = set(options) - {"trace_indices"}
            if unknown:
                raise ValueError(f"unknown reset option(s) {sorted(unknown)}; valid: 'trace_indices' (one per env)")
            indices = np.asarray(options["trace_indices"], dtype=np.int64)
            if indices.shape != (self.num_envs,) or indices.min() < 0 or indices.max() >= len(self.traces):
                raise ValueError(f"trace_indices must hold {self.num_envs} indices in [0, {len(self.traces)})")
        self._begin(np.ones(self.num_envs, dtype=bool))
        if options:
            self.t[:] = indices
        self._started = True
        return self._observe(), {}

    def _observe(self) -> np.ndarray:
        layout = self.layout
        h, p = layout.history, layout.position_index
        n, row = self.n, self._base[self.t] + self.j
        obs = np.zeros((self.num_envs, layout.size), dtype=np.float32)
        if layout.has_entropy:
            cols = n[:, None] - h + self._arange_h[None, :]
            valid = cols >= 0
            ent = self._sig["entropy"][row[:, None], np.maximum(cols, 0)] / self._scale
            obs[:, :h] = np.where(valid, np.clip(ent, 0.0, 1.0), 0.0)
            obs[:, h:2 * h] = valid
        obs[:, p] = np.minimum(n / self.max_draft_len, 1.0)
        has = n > 0
        last = np.maximum(n - 1, 0)
        if layout.extra_signals:
            for offset, name in ((1, "top1_prob"), (2, "margin"), (5, "token_prob")):
                obs[:, p + offset] = np.where(has, np.clip(self._sig[name][row, last], 0.0, 1.0), 0.0)
            obs[:, p + 3] = np.minimum(self.prev_emitted / (self.max_draft_len + 1), 1.0)
            obs[:, p + 4] = np.minimum(self.j / self.max_new_tokens, 1.0)
            obs[:, p + 6] = np.clip(self.prev_acc, 0.0, 1.0)
        if layout.has_ltd:
            q = layout.ltd_index
            for i, name in enumerate(LOGPROB_SIGNALS):
                obs[:, q + i] = np.where(has, encode_logprobs(self._sig[name][row, last]), 0.0)
            context = self._prompt_len[self.t] + self.j + n
            obs[:, q + len(LOGPROB_SIGNALS)] = np.minimum(context / CONTEXT_SCALE, 1.0)
        if layout.cost_signals:
            c = layout.cost_index
            context = self._prompt_len[self.t] + self.j  # the block's start, as the env prices it
            # k = 0 .. max_draft_len + 1: the marginal cost of one more token, whatever the draft's length.
            vcost = self.prices.verifying(self.profile, context, self.max_draft_len + 2)
            draft = self.prices.drafting(self.profile, context)
            one = vcost[:, 0]
            obs[:, c] = np.clip(draft / one, 0.0, 1.0)
            obs[:, c + 1] = np.clip((vcost[self._rows_b, n + 1] - vcost[self._rows_b, n]) / one, 0.0, 1.0)
            obs[:, c + 2] = np.clip(self.acc_ema, 0.0, 1.0)
            obs[:, c + 3] = np.minimum(context / CONTEXT_SCALE, 1.0)
            obs[:, c + 4] = np.minimum(self.j / self.max_new_tokens, 1.0)
        return obs

    def step(self, actions):
        if not self._started:
            raise RuntimeError("call reset() before step()")
        actions = np.asarray(actions).reshape(-1)
        if actions.shape != (self.num_envs,) or not np.isin(actions, (0, 1)).all():
            raise ValueError(f"expected {self.num_envs} actions in {{0, 1}} (0 = continue, 1 = stop), got "
                             f"{np.asarray(actions).tolist()[:8]}...")
        stop = actions == 1
        t, j, n = self.t, self.j, self.n
        row = self._base[t] + j
        budget = self._budget[t]
        empty = n == 0
        last_eos = ~empty & self._is_eos[row, np.maximum(n - 1, 0)]
        room = draft_room_many(budget - j, n, last_eos)
        verify, discard = self.rules.resolve_many(stop, n, room)
        context = self._prompt_len[t] + j  # the block's start, where a context-aware profile prices it
        vcost = self.prices.verifying(self.profile, context, self.max_draft_len + 1)  # (envs, L + 1)
        draft_cost = self.prices.drafting(self.profile, context)
        # A block's first drafting step (n == 0) also pays the drafter's catch-up, as the env's clock charges it.
        dt = np.where(verify, 0.0, draft_cost + self.prices.signal_s[self.profile]
                      + np.where(n == 0, self.prices.catch_up_s[self.profile], 0.0))
        self.ep_draft_s += dt
        k = n - discard
        n_out = self._n_out[t]
        accepted, emitted = kept_many(k, self._match[row], n_out - j)
        emitted = np.where(verify, emitted, 0)
        verify_s = np.where(verify, vcost[self._rows_b, k], 0.0)
        j_new = j + emitted
        # One token of budget left after a verification: the verifier alone produces it in the same step.
        extra = verify & (j_new < n_out) & verifier_takes_last(budget - j_new)
        emitted = emitted + extra
        j_new = j_new + extra
        # The extra token's verification (k = 0), priced at its own context.
        tail = self.prices.verifying(self.profile, self._prompt_len[t] + j_new - extra, 1)[:, 0]
        verify_s = verify_s + np.where(extra, tail, 0.0)
        dt = dt + verify_s + self._decide_s
        self.ep_verify_s += verify_s
        self.ep_decide_s += self._decide_s
        self.ep_blocks += verify.astype(np.int64) + extra
        self.ep_drafted += np.where(verify, k, 0)
        self.ep_accepted += np.where(verify, accepted, 0)
        self.prev_emitted = np.where(verify, emitted, self.prev_emitted)
        self.prev_acc = np.where(verify, np.where(k > 0, accepted / np.maximum(k, 1), 0.0), self.prev_acc)
        self.acc_ema = np.where(verify & (k > 0), update_acceptance(self.acc_ema, accepted, np.maximum(k, 1)),
                                self.acc_ema)
        self.j = j_new
        self.n = np.where(verify, 0, n + 1)
        rewards = (emitted - self.prices.rho[self.profile] * dt) / self.reward_scale
        self.ep_return += rewards
        self.ep_len += 1
        done = self.j >= n_out
        terminated = done & self._terminates[t]
        truncated = done & ~terminated
        obs = self._observe()
        infos: dict = {}
        if done.any():
            infos = {"final_obs": np.where(done[:, None], obs, 0.0).astype(np.float32), "_final_obs": done,
                     "final_info": self._episode_stats(done), "_final_info": done}
            self._begin(done)
            obs[done] = self._observe()[done]
        return obs, rewards, terminated, truncated, infos

    def _episode_stats(self, rows: np.ndarray) -> dict:
        decode = self.ep_draft_s + self.ep_verify_s + self.ep_decide_s
        tokens = self.j
        with np.errstate(divide="ignore", invalid="ignore"):
            return {"tokens_per_s": np.where(rows, tokens / decode, np.nan), "new_tokens": np.where(rows, tokens, 0),
                    "decode_s": np.where(rows, decode, 0.0), "draft_s": np.where(rows, self.ep_draft_s, 0.0),
                    "verify_s": np.where(rows, self.ep_verify_s, 0.0),
                    "decide_s": np.where(rows, self.ep_decide_s, 0.0), "decisions": np.where(rows, self.ep_len, 0),
                    "blocks": np.where(rows, self.ep_blocks, 0),
                    "drafted": np.where(rows, self.ep_drafted, 0), "accepted": np.where(rows, self.ep_accepted, 0),
                    "acceptance_rate": np.where(rows & (self.ep_drafted > 0), self.ep_accepted / self.ep_drafted,
                                                np.nan),
                    "mean_accepted_tokens": np.where(rows, tokens / self.ep_blocks, np.nan),
                    "mean_draft_len": np.where(rows, self.ep_drafted / self.ep_blocks, np.nan),
                    "episode_return": np.where(rows, self.ep_return, 0.0),
                    "episode_length": np.where(rows, self.ep_len, 0), "trace_index": np.where(rows, self.t, -1),
                    **({} if self.cost_profiles is None else {"cost_profile": np.where(rows, self.profile, -1)})}


def sb3_vec_env(venv: ReplayVectorEnv):
    """`venv` as a stable-baselines3 `VecEnv` (terminal observations in ``infos[i]["terminal_observation"]``,
    episode statistics in ``infos[i]["episode_stats"]`` and SB3's ``infos[i]["episode"]``)."""
    from stable_baselines3.common.vec_env import VecEnv

    class SB3ReplayVecEnv(VecEnv):
        def __init__(self, inner: ReplayVectorEnv):
            self.venv = inner
            super().__init__(inner.num_envs, inner.single_observation_space, inner.single_action_space)
            self._actions = None

        def reset(self):
            seed = self._seeds[0] if any(s is not None for s in self._seeds) else None
            obs, _ = self.venv.reset(seed=seed)
            self._reset_seeds()
            return obs

        def step_async(self, actions):
            self._actions = actions

        def step_wait(self):
            obs, rewards, terminated, truncated, info = self.venv.step(self._actions)
            dones = terminated | truncated
            infos = [{} for _ in range(self.num_envs)]
            if dones.any():
                final, stats = info["final_obs"], info["final_info"]
                for i in np.flatnonzero(dones):
                    episode = {key: value[i].item() for key, value in stats.items()}
                    episode["category"] = self.venv.traces[episode["trace_index"]].category
                    if "cost_profile" in episode:  # its name, as the single replay env reports it
                        episode["cost_profile"] = self.venv.cost_profile_names[episode["cost_profile"]]
                    infos[i] = {"terminal_observation": final[i], "TimeLimit.truncated": bool(truncated[i]),
                                "episode_stats": episode,
                                "episode": {"r": episode["episode_return"], "l": episode["episode_length"]}}
            return obs, rewards.astype(np.float32), dones, infos

        def close(self):
            pass

        def state_dict(self) -> dict:
            return self.venv.state_dict()

        def load_state_dict(self, state: dict) -> None:  # no reset follows: drop the seeds kept for one
            self.venv.load_state_dict(state)
            self._reset_seeds()

        def get_attr(self, attr_name, indices=None):
            return [getattr(self.venv, attr_name)] * len(self._get_indices(indices))

        def set_attr(self, attr_name, value, indices=None):
            setattr(self.venv, attr_name, value)

        def env_method(self, method_name, *method_args, indices=None, **method_kwargs):
            raise AttributeError(f"the replay VecEnv steps all envs in numpy; it has no per-env {method_name!r}")

        def env_is_wrapped(self, wrapper_class, indices=None):
            return [False] * len(self._get_indices(indices))

    return SB3ReplayVecEnv(venv)
