"""`MultiReplayVectorEnv`: many `EBSD-Multi-Replay-v1` episodes stepped in numpy at once (fast PPO on multi traces).

Built on `ReplayVectorEnv`, so the block rules (forced stops, stop modes, the one-token-left verification, the
reward) are written once. How: the drafters' trace sets are laid end to end as one trace set of n * T traces,
copy d holding drafter d's chains, and a sub-env reads trace d * T + t while drafter d drafts trace t; choosing
drafter d at a block start moves the sub-env to copy d at the same position, and the per-episode "profile" of the
base env is the current drafter, which prices its drafting steps (`MultiClock`: each drafter its own step, the
verifier priced by the first drafter's curve, as `MultiEnv` charges them). The per-drafter signals and prompt
lookup's suffix (precomputed per position) are appended as `MultiEnv._observe` does.

Cost profiles (``cost_profiles=``, `ebsd_env.timing.multi_profiles`): each episode is priced by one multi-drafter
clock drawn from them (its drafters' steps, its verification curve, its cost ratios in the observation), the
"profile" row then being ``price_set * n + drafter``.

`tests/test_multi_baselines.py` checks it against `MultiReplayEnv` step by step (observations, rewards, flags,
episode statistics) on random actions in both stop modes, and with profiles against `MultiReplayEnv` priced by
each episode's profile. Restrictions: those of `ReplayVectorEnv` and of `MultiEnv`. A decision costs the traces'
clock's `decide_s` (`decide_s=`, as `MultiEnv`'s) under every profile: the policy's own compute is no price of the
pair.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from gymnasium import spaces

from ..envs.ebsd import DEFAULT_STOP_MODE
from ..envs.multi import FIRST_DRAFTER, LOOKUP, MAX_SUFFIX, PER_DRAFTER, longest_repeated_suffix
from ..timing.cost_profiles import EpisodePrices
from ..timing.multi_clock import MultiClock
from ..timing.multi_profiles import MultiCostProfiles
from .multi import MultiTraceSet
from .trace import TraceSet
from .vector import ReplayVectorEnv


class MultiReplayVectorEnv(ReplayVectorEnv):
    """`num_envs` multi-drafter replay episodes at once. Arguments as `MultiReplayEnv`'s, plus `num_envs`, `seed`
    and `trace_indices` as `ReplayVectorEnv`'s. Actions: one per sub-env in ``{0, .., n_drafters + 1}``, with
    `EBSD-Multi-v1`'s meanings; `cost_profiles` (`MultiCostProfiles.load`'s items, ``"jitter"`` among them) price
    each episode by one drawn from them instead of the traces' clock."""

    # A checkpoint's episodes in flight (`ReplayVectorEnv.state_dict`): the base env's, the episode's cost profile,
    # and per drafter the blocks, whether it was tried and its acceptance estimate.
    STATE_ARRAYS = (*ReplayVectorEnv.STATE_ARRAYS, "_price_set", "_tried", "_acceptance", "_blocks")

    def __init__(self, traces: MultiTraceSet | str | Path, num_envs: int = 16, history: int = 8,
                 max_draft_len: int | None = None, max_new_tokens: int | None = None,
                 clock: str | MultiClock = "model", cost_model=None, extra_signals: bool = False,
                 reward_scale: float | None = None, stop_mode: str = DEFAULT_STOP_MODE, temperature: float = 0.0,
                 seed: int | None = None, trace_indices=None, observation: str = "entropy",
                 acceptance_decay: float = 0.5, min_draft_len: int = 0,
                 cost_profiles: MultiCostProfiles | list | tuple | str | None = None, cost_signals: bool = False,
                 decide_s: float | str | None = None):
        if not 0 <= acceptance_decay < 1:
            raise ValueError(f"acceptance_decay must lie in [0, 1), got {acceptance_decay}")
        multi = traces if isinstance(traces, MultiTraceSet) else MultiTraceSet.load(traces)
        self.multi = multi
        self.multi_clock = multi.clock(clock, cost_model)
        self.drafter_names = list(multi.names)
        self.acceptance_decay = float(acceptance_decay)
        n, count = len(multi.names), len(multi)
        self.n_traces = count
        first = multi.sets[0]
        laid = TraceSet([t for s in multi.sets for t in s.traces], multi.fingerprint, first.settings,
                        source=multi.source)
        indices = range(count) if trace_indices is None else trace_indices
        super().__init__(laid, num_envs=num_envs, history=history, max_draft_len=max_draft_len,
                         max_new_tokens=max_new_tokens, clock=self.multi_clock.verifier_clock,
                         extra_signals=extra_signals, reward_scale=reward_scale, stop_mode=stop_mode,
                         min_draft_len=min_draft_len, temperature=temperature, seed=seed,
                         trace_indices=indices, observation=observation, cost_signals=cost_signals,
                         decide_s=decide_s)
        if self._pool.max() >= count:
            raise ValueError(f"trace_indices must be indices in [0, {count})")
        self.multi_profiles = None if cost_profiles is None else MultiCostProfiles.load(cost_profiles,
                                                                                         self.multi_clock)
        self._set_prices(self.multi_profiles.clocks if self.multi_profiles else (self.multi_clock,))
        # Prompt lookup's longest repeated suffix of prompt + output[:j], for every trace and j = 0 .. len(output).
        self._suffix_base = np.concatenate([[0], np.cumsum([len(t.output) + 1 for t in first.traces])[:-1]])
        self._suffix = np.asarray([longest_repeated_suffix(list(t.prompt_ids) + t.output[:j]) for t in first.traces
                                   for j in range(len(t.output) + 1)], dtype=np.int64)
        self.lookup_min_ngram = 1  # as `MultiEnv` over a replay decoder (no ngram strategy to ask)
        self.base_size = self.layout.size
        size = self.base_size + len(PER_DRAFTER) * n + len(LOOKUP)
        self.single_observation_space = spaces.Box(0.0, 1.0, (size,), np.float32)
        self.observation_space = spaces.Box(0.0, 1.0, (self.num_envs, size), np.float32)
        self.single_action_space = spaces.Discrete(n + FIRST_DRAFTER)
        self.action_space = spaces.MultiDiscrete(np.full(self.num_envs, n + FIRST_DRAFTER))
        B = self.num_envs
        self._price_set = np.zeros(B, dtype=np.int64)  # the episode's cost profile (0: the only clock)
        self._tried = np.zeros((B, n))
        self._acceptance = np.zeros((B, n))
        self._blocks = np.zeros((B, n), dtype=np.int64)
        self._pending = None

    def _set_prices(self, clocks) -> None:
        """Row ``p * n + d`` of the prices is drafter d's drafting step under clock p; the verifier and ρ are clock
        p's first drafter's for every d (as `MultiClock` prices them)."""
        n, L = self.n_drafters, self.max_draft_len
        costs = [c for clock in clocks for c in clock.costs]
        firsts = EpisodePrices.of([clock.costs[0] for clock in clocks], L)
        self.prices = EpisodePrices(draft_s=np.asarray([c.draft_s for c in costs], dtype=np.float64),
                                    verify_s=np.repeat(firsts.verify_s, n, axis=0),
                                    rho=np.repeat(firsts.rho, n, axis=0),
                                    context={},  # MultiClock prices no context
                                    signal_s=np.asarray([c.signal_s for c in costs],
                                                        dtype=np.float64) * self.layout.reads_token_signals,
                                    catch_up_s=np.asarray([c.catch_up_s for c in costs], dtype=np.float64))
        self._cost_ratios = np.clip([[clock.cost_ratio(i) for i in range(n)] for clock in clocks], 0.0, 1.0)

    @property
    def n_drafters(self) -> int:
        return len(self.drafter_names)

    @property
    def cost_profile_names(self) -> tuple[str, ...]:
        return () if self.multi_profiles is None else self.multi_profiles.names

    def _drafting(self) -> np.ndarray:
        """Each sub-env's current drafter (its price row within its episode's profile)."""
        return self.profile - self._price_set * self.n_drafters

    def _zero_state(self, rows: np.ndarray) -> None:
        super()._zero_state(rows)
        if hasattr(self, "_tried"):
            self._tried[rows] = 0.0
            self._acceptance[rows] = 0.0
            self._blocks[rows] = 0
        # An episode starts with drafter 0, on copy 0 (`_begin` draws t in [0, T)), priced by its profile.
        self.profile[rows] = self._price_set[rows] * self.n_drafters if hasattr(self, "_price_set") else 0

    def _begin(self, rows: np.ndarray) -> None:
        count = int(rows.sum())
        if count and self.multi_profiles is not None:  # drawn first: `_zero_state` starts the episode on it
            self._price_set[rows] = self.multi_profiles.sample(self._profile_rng, size=count)
        super()._begin(rows)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if options and "trace_indices" in options:
            indices = np.asarray(options["trace_indices"], dtype=np.int64)
            if indices.shape != (self.num_envs,) or indices.min() < 0 or indices.max() >= self.n_traces:
                raise ValueError(f"trace_indices must hold {self.num_envs} indices in [0, {self.n_traces})")
        return super().reset(seed=seed, options=options)

    def step(self, actions):
        if not self._started:
            raise RuntimeError("call reset() before step()")
        actions = np.asarray(actions).reshape(-1)
        n = self.n_drafters
        if actions.shape != (self.num_envs,) or not np.isin(actions, np.arange(n + FIRST_DRAFTER)).all():
            raise ValueError(f"expected {self.num_envs} actions in {{0, .., {n + 1}}} (0 = continue, 1 = stop, "
                             f"2 + i = draft with drafter i), got {np.asarray(actions).tolist()[:8]}...")
        # A drafter choice at a block start moves the sub-env to that drafter's copy; inside a block it continues.
        choose = (actions >= FIRST_DRAFTER) & (self.n == 0)
        drafter = np.where(choose, actions - FIRST_DRAFTER, self._drafting())
        self.t = self.t % self.n_traces + drafter * self.n_traces
        self.profile = self._price_set * n + drafter
        self._pending = (self.ep_blocks.copy(), self.ep_drafted.copy(), self.ep_accepted.copy(), self.n.copy(),
                         drafter.copy())
        return super().step(np.where(actions == 1, 1, 0))

    def _apply_verifications(self) -> None:
        """`MultiEnv._verify`'s per-drafter bookkeeping for the blocks this step verified (read from the base
        env's totals, so the block rules stay written once)."""
        blocks, drafted, accepted, n_before, drafter = self._pending
        self._pending = None
        verified = self.ep_blocks > blocks
        rows = self._rows_b
        self._blocks[rows, drafter] += verified & (n_before > 0)
        k = self.ep_drafted - drafted
        learn = verified & (k > 0)
        rate = (self.ep_accepted - accepted) / np.maximum(k, 1)
        tried = self._tried[rows, drafter] > 0
        decay = np.where(tried, self.acceptance_decay, 0.0)
        old = self._acceptance[rows, drafter]
        self._acceptance[rows, drafter] = np.where(learn, decay * old + (1 - decay) * rate, old)
        self._tried[rows, drafter] = np.where(learn, 1.0, self._tried[rows, drafter])

    def _observe(self) -> np.ndarray:
        if self._pending is not None:
            self._apply_verifications()
        base = super()._observe()
        n = self.n_drafters
        per = np.zeros((self.num_envs, n, len(PER_DRAFTER)), dtype=np.float32)
        per[self._rows_b, self._drafting(), 0] = 1.0
        per[:, :, 1] = self._tried
        per[:, :, 2] = np.clip(self._acceptance, 0.0, 1.0)
        per[:, :, 3] = self._cost_ratios[self._price_set]
        suffix = self._suffix[self._suffix_base[self.t % self.n_traces] + self.j]
        lookup = np.stack([np.minimum(suffix / MAX_SUFFIX, 1.0), suffix >= self.lookup_min_ngram], axis=1)
        return np.concatenate([base, per.reshape(self.num_envs, -1), lookup.astype(np.float32)], axis=1)

    def _episode_stats(self, rows: np.ndarray) -> dict:
        stats = super()._episode_stats(rows)
        stats["trace_index"] = np.where(rows, self.t % self.n_traces, -1)
        if self.multi_profiles is not None:
            stats["cost_profile"] = np.where(rows, self._price_set, -1)
        for d in range(self.n_drafters):  # `MultiEnv.episode_stats()["drafter_blocks"][d]`
            stats[f"drafter_blocks_{d}"] = np.where(rows, self._blocks[:, d], 0)
        return stats
