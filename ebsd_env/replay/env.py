"""`EBSD-Replay-v1`: `EBSDEnv` itself, driven by a `ReplayDecoder` over recorded greedy traces.

Same observation, action, reward, stop modes and info as `EBSD-v1` (the env code is shared, only the decoder
differs), at thousands of steps per second. Time comes from the clock: ``model`` (default; the calibration
``ebsd record`` saved beside the traces, or `cost_model=`) or ``profile`` (`cost_model=` a cost profile), and
each decision of the policy is charged the clock's `decide_s` (`decide_s=`: seconds, or a policy spec whose
measured cost the cost model holds). The wall clock measures live work and cannot be replayed; neither can
sampling. ``cost_profiles=`` (files, folders, shipped sets: `ebsd_env.timing.cost_profiles`) prices each
episode with a profile drawn from the env's seed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..decoding.entropy import EntropyConfig
from ..envs.ebsd import DEFAULT_STOP_MODE, EBSDEnv
from ..timing.clock import Clock, check_calibration_pair
from ..timing.cost_model import CostModel
from ..timing.cost_profiles import CostProfiles
from .decoder import ReplayDecoder
from .trace import TraceError, TraceSet


def load_traces(traces: TraceSet | str | Path | Sequence[str | Path], pair=None) -> TraceSet:
    return traces if isinstance(traces, TraceSet) else TraceSet.load(traces, pair=pair)


def replay_clock(traces: TraceSet, clock: str | Clock, cost_model: CostModel | str | Path | None) -> Clock:
    """The replay's clock: ``model`` uses `cost_model` or the traces' own calibration; ``profile`` needs
    `cost_model`; ``wall`` is refused (nothing runs, so nothing can be measured)."""
    if isinstance(clock, Clock):
        if clock.kind == "wall":
            raise ValueError("the wall clock cannot be replayed (no model runs): use clock='model' or 'profile'")
        return clock
    if clock == "wall":
        raise ValueError("the wall clock cannot be replayed (no model runs): use clock='model' (the calibration "
                         "recorded with the traces) or clock='profile' with cost_model='profile.json'")
    if isinstance(cost_model, (str, Path)):
        cost_model = CostModel.load(cost_model)
    if cost_model is None:
        if clock == "profile":
            raise ValueError("clock='profile' needs a cost profile: pass cost_model='profile.json'")
        if traces.cost_model is None:
            raise ValueError(f"the traces in {traces.source!r} have no cost_model.json: pass cost_model= (a "
                             "CostModel or JSON file) or rerun `ebsd record` to calibrate the pair")
        cost_model = CostModel.from_dict(traces.cost_model)
    if clock == "model":
        check_calibration_pair(cost_model, traces.fingerprint, "the traces' pair")
    return Clock(clock, cost_model)


def replay_limits(traces: TraceSet, max_draft_len: int | None, max_new_tokens: int | None) -> tuple[int, int]:
    """The vector env's (draft cap, token budget): the traces' own, or lower ones asked for."""
    L = traces.max_draft_len if max_draft_len is None else int(max_draft_len)
    if not 1 <= L <= traces.max_draft_len:
        raise TraceError(f"max_draft_len={L} must be in [1, {traces.max_draft_len}] (the recorded chain length)")
    budget = traces.max_new_tokens if max_new_tokens is None else int(max_new_tokens)
    if not 1 <= budget <= traces.max_new_tokens:
        raise TraceError(f"max_new_tokens={budget} must be in [1, {traces.max_new_tokens}] (the recorded budget)")
    return L, budget


def recorded_entropy_scale(traces: TraceSet) -> float:
    """The recorded entropy measure's maximum over the vocabulary (what the observation divides entropies by)."""
    e = traces.settings["entropy"]
    entropy = EntropyConfig(e["measure"], e["param"], e["temperature"])
    vocab = int(traces.fingerprint.get("vocab_size") or 0)
    if vocab < 2:
        raise TraceError("the traces do not record the vocabulary size; record them again with `ebsd record`")
    return entropy.max_value(vocab)


class ReplayEnv(EBSDEnv):
    """`EBSDEnv` over a `ReplayDecoder`. Arguments as `EBSDEnv`'s (the model-loading ones excepted), plus
    `traces`: a `TraceSet`, a folder of shards or shard files. Entropy settings default to the recorded ones;
    other ones, a `max_draft_len` above the recorded chain length, a larger `max_new_tokens`, or sampling are
    refused with a TraceError / ValueError.

    `cost_profiles` (a `CostProfiles`, or profile files, folders and shipped set names): every episode is priced
    on the ``profile`` clock of one of them, drawn at reset from a generator seeded by the reset's seed (else the
    env's `seed`), so episodes with the same seed get the same profile; `cost_model` is then not used.
    ``info["cost_profile"]`` and the episode statistics name it."""

    def __init__(self, traces: TraceSet | str | Path | Sequence[str | Path], history: int = 8,
                 entropy: str | None = None, entropy_param: float | None = None,
                 entropy_temperature: float | None = None, min_draft_len: int = 0, max_draft_len: int | None = None,
                 max_new_tokens: int | None = None, temperature: float = 0.0, clock: str | Clock = "model",
                 extra_signals: bool = False, seed: int | None = None, reward_scale: float | None = None,
                 cost_model: CostModel | str | Path | None = None, render_mode: str | None = None,
                 stop_mode: str = DEFAULT_STOP_MODE, pair=None, top_p: float = 1.0, observation: str = "entropy",
                 cost_profiles: CostProfiles | Sequence[str | Path | CostModel] | None = None,
                 decide_s: float | str | None = None, cost_signals: bool = False):
        if temperature != 0:
            raise ValueError(f"sampling (temperature={temperature}) cannot be replayed: the output then depends on "
                             "the policy's draws; use the live EBSD-v1 env, or temperature=0")
        traces = load_traces(traces, pair)
        recorded = traces.settings["entropy"]
        given = entropy
        entropy = recorded["measure"] if given is None else given
        entropy_param = recorded["param"] if given is None and entropy_param is None else entropy_param
        entropy_temperature = recorded["temperature"] if entropy_temperature is None else entropy_temperature
        max_draft_len = traces.max_draft_len if max_draft_len is None else int(max_draft_len)
        max_new_tokens = traces.max_new_tokens if max_new_tokens is None else int(max_new_tokens)
        if max_draft_len > traces.max_draft_len:
            raise TraceError(f"max_draft_len={max_draft_len} exceeds the recorded chain length "
                             f"{traces.max_draft_len}: use max_draft_len <= {traces.max_draft_len} or record again "
                             "with a larger --max-draft-len")
        decoder = ReplayDecoder(traces, max_new_tokens)
        self.traces = traces
        self.cost_profiles = None if cost_profiles is None else CostProfiles.load(cost_profiles)
        self.cost_profile: str | None = None  # the current episode's profile
        self._profile_rng = np.random.default_rng(seed)
        if self.cost_profiles is not None:
            clock, cost_model = Clock("profile", self.cost_profiles.models[0]), None
        super().__init__(pair=pair, prompts=traces.rows(), history=history, entropy=entropy,
                         entropy_param=entropy_param, entropy_temperature=entropy_temperature,
                         min_draft_len=min_draft_len, max_draft_len=max_draft_len, max_new_tokens=max_new_tokens,
                         temperature=0.0, top_p=top_p, clock=replay_clock(traces, clock, cost_model),
                         extra_signals=extra_signals, seed=seed, reward_scale=reward_scale, render_mode=render_mode,
                         stop_mode=stop_mode, decoder=decoder, observation=observation, decide_s=decide_s,
                         cost_signals=cost_signals)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if self.cost_profiles is not None:
            if seed is not None:
                self._profile_rng = np.random.default_rng(seed)
            index = self.cost_profiles.sample(self._profile_rng)
            self.use_costs(self.cost_profiles.models[index])
            self.cost_profile = self.cost_profiles.names[index]
        obs, info = super().reset(seed=seed, options=options)
        if self.cost_profile is not None:
            info["cost_profile"] = self.cost_profile
        return obs, info

    def use_costs(self, costs: CostModel) -> None:
        """Price from now on with `costs` (the profile clock): the clock, its cost model and the reward's ρ."""
        self.decode_clock = dataclasses.replace(self.decode_clock, kind="profile", costs=costs)

    def episode_stats(self) -> dict:
        stats = super().episode_stats()
        if self.cost_profile is not None:
            stats["cost_profile"] = self.cost_profile
        return stats

    def _decoder_prompt(self, row: dict):
        return int(row["trace_index"])
