"""`EBSD-v1`: one Gymnasium transition per drafting step of the real speculative decoder."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ..decoding.decoder import SpeculativeDecoder
from ..decoding.entropy import EntropyConfig
from ..decoding.models import ModelPair, cached_pair
from ..decoding.protocol import Decoder
from ..prompts import normalise_prompts
from ..timing.clock import CLOCK_KINDS, Clock
from ..timing.cost_model import CostModel
from .block_rules import DEFAULT_STOP_MODE, STOP_MODES, BlockRules, verifier_takes_last  # noqa: F401 (re-exported)
from .env_clock import EnvClock
from .episode import EpisodeRecord
from .observation import ACCEPTANCE_PRIOR, ObservationLayout, update_acceptance
from .transition import Transition

CLOCKS = CLOCK_KINDS
CONTINUE, STOP = 0, 1


def _check_settings(clock, history: int, max_new_tokens: int, reward_scale: float | None, pair,
                    temperature: float, top_p: float) -> None:
    """Refuse, in one line each, the constructor's arguments no env can run with."""
    if not isinstance(clock, Clock) and clock not in CLOCKS:
        raise ValueError(f"unknown clock {clock!r}; valid: {', '.join(CLOCKS)}")
    if history < 1:
        raise ValueError(f"history must be >= 1 (entropies shown per observation), got {history}")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if reward_scale is not None and not reward_scale > 0:
        raise ValueError(f"reward_scale must be > 0 tokens, got {reward_scale}")
    if pair is not None and not isinstance(pair, ModelPair):
        raise TypeError(f"pair= takes a loaded ModelPair (load_pair(...), cached_pair(...) or tiny_pair(...)), got "
                        f"{type(pair).__name__} {pair!r:.60}; to name models give drafter= / verifier= instead")
    if not (np.isfinite(temperature) and temperature >= 0):
        raise ValueError(f"temperature must be a finite number >= 0 (0 = greedy), got {temperature}")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")


def _pair_of(pair: ModelPair | None, decoder: Decoder | None, drafter: str | None, verifier: str | None,
             device: str, entropy_config: EntropyConfig) -> ModelPair | None:
    """The env's pair: the one given, the decoder's (a replay or custom decoder carries its own, if any), or the
    named models' (loaded once per process)."""
    if decoder is not None:
        if drafter is not None or verifier is not None:
            raise ValueError("give either decoder= or drafter=/verifier= model ids, not both")
        if getattr(decoder, "entropy", entropy_config) != entropy_config:
            raise ValueError(f"the decoder reports entropy {decoder.entropy} but the env was asked for "
                             f"{entropy_config}: make the env with the decoder's entropy settings")
        return pair if pair is not None else getattr(decoder, "pair", None)
    if pair is None:
        return cached_pair(drafter, verifier, device)
    if drafter is not None or verifier is not None:
        raise ValueError("give either pair= or drafter=/verifier= model ids, not both")
    return pair


class EBSDEnv(EnvClock, EpisodeRecord, Transition, gym.Env):
    """
    ## Description

    Entropy-based speculative decoding as a sequential decision problem. A drafter model proposes tokens one at
    a time; after each drafted token the agent decides whether to draft one more or to stop and let the verifier
    check the whole draft in one forward pass (the longest agreeing prefix is kept, plus one verifier token).
    Drafting long is cheap per token but wasted when the verifier rejects early; stopping short wastes verifier
    passes. Every transition runs the real `SpeculativeDecoder` on a real pair: one step = one drafting step,
    and the decisions are judged by the end-to-end generation speed they produce.

    ## Action Space

    `Discrete(2)`: `0` = continue (keep the latest draft token and draft another), `1` = stop and verify. The
    observation shows a draft of `n` tokens, the latest of which was just drafted; what a stop verifies depends
    on `stop_mode`:

    - `"include"` (transformers' confidence criteria): the draft of `n` tokens, the latest included;
    - `"exclude"` (SVIP, llama.cpp's `p_min`): the first `n - 1` tokens; the latest, whose signals said stop, is
      discarded (its drafting time is still charged). Stopping at `n = 1` verifies an empty draft.

    When `min_draft_len` is 0 (the default) every block starts with an observation of the empty draft
    (`n = 0`, no token signals): stop there verifies an empty draft, so the verifier alone produces the block
    with no drafting work at all (k = 0); continue drafts the first token. A policy that always stops at once
    is exactly verifier-alone decoding. With `min_draft_len >= 1` the env drafts the first token before the
    block's first observation.

    Exactly, with `v` the draft length a stop would verify (`n` or `n - 1` by the mode, 0 at `n = 0`):

    - if a stop would verify fewer than `min_draft_len` tokens, the action counts as continue;
    - a draft ends at `max_draft_len` tokens, at a drafted end-of-sequence token, and where the token budget
      or the context leaves no room (`decoder.draft_room == 0`): there continue verifies the whole draft and
      stop verifies `v` tokens;
    - otherwise `0` drafts one more token and `1` verifies `v` tokens.

    `info["forced"]` names the rule that overrode the action (`"min_draft_len"`, `"max_draft_len"`, `"eos"`,
    `"draft_room"`), or is `""`. When a verification leaves exactly one token of budget, the verifier produces
    it at once in the same step (a draft could not help) and the episode ends.

    ## Observation Space

    `Box(0, 1, (2 * history + 1,), float32)`, or `(2 * history + 7,)` with `extra_signals=True` (more with
    `observation="ltd"` / `"ltd+entropy"`, see Arguments), encoded by
    `ObservationLayout.encode` (`env.unwrapped.observation_layout` decodes it):

    | Index             | Observation                                                              | Min | Max |
    |-------------------|--------------------------------------------------------------------------|-----|-----|
    | 0 .. h-1          | last h drafter entropies of the current draft / `entropy_scale`, oldest  | 0   | 1   |
    |                   | first, right-aligned; padding (draft shorter than h) holds 0             |     |     |
    | h .. 2h-1         | mask: 1 where the entropy entry is real, 0 where it is padding           | 0   | 1   |
    | 2h                | draft length n / `max_draft_len` (0: the empty draft at a block's start) | 0   | 1   |
    | 2h+1 (extra)      | drafter top-1 probability of the latest draft token                      | 0   | 1   |
    | 2h+2 (extra)      | drafter top-1 minus top-2 probability                                    | 0   | 1   |
    | 2h+3 (extra)      | tokens emitted by the previous block / (`max_draft_len` + 1)             | 0   | 1   |
    | 2h+4 (extra)      | tokens generated so far / `max_new_tokens`                               | 0   | 1   |
    | 2h+5 (extra)      | drafter probability of the token it emitted (`token_prob`; = top-1 when  | 0   | 1   |
    |                   | greedy, the sampled token's probability when sampling)                   |     |     |
    | 2h+6 (extra)      | acceptance of the previous block: accepted / verified draft tokens (0    | 0   | 1   |
    |                   | before the first block and after a block that verified no draft)         |     |     |

    h = `history`. The entropy is the chosen measure (`entropy`: shannon, renyi, tsallis, topk with
    `entropy_param`) at `entropy_temperature`, divided by its maximum over the vocabulary (log|V| for Shannon,
    Rényi; log k for top-k; (1 - |V|^(1-q)) / (q - 1) for Tsallis), so it lies in [0, 1]. Token signals are 0
    at n = 0.

    ## Rewards

    With ρ the verifier-alone decoding rate (tokens/s, from the cost model, fixed per env) and `s` the
    `reward_scale` (tokens, default `max_draft_len + 1`, the most one block can emit):

        r_t = (emitted_t - ρ * dt_t) / s

    `dt_t` is the clock time of step t: the policy's decision that chose the action (`decide_s`: on the wall
    clock the time from the env returning the previous observation to this `step` call; on the model and
    profile clocks the clock's declared cost per decision, `decide_s=`) and the decoder work done in the step
    (drafting steps, discarded ones included, and verifications; a draft made before a block's first
    observation is charged to the step that led to it); and
    `emitted_t` the tokens committed in step t (0 for a drafting step). The undiscounted return is
    `(N - ρ T) / s` for N generated tokens in decoding time T. The objective of EBSD Gym
    (`ebsd_env.envs.objective`) is total tokens over total decoding time over a set of episodes: under greedy
    decoding the output for a prompt is the verifier's own greedy output whatever the policy, so N is fixed and
    the summed undiscounted return `(ΣN - ρΣT) / s` orders policies exactly as ΣN / ΣT does. Discount with
    γ = 1 (as `ebsd train ppo` does): with γ < 1 later tokens count less and the order can change. A per-block
    reward `accepted / block_time` does not rank by the objective either: it averages block rates instead of
    dividing totals. Under sampling N varies with the sampled output and the ranking holds in expectation per
    generated token. See docs/env.md for the derivation.

    Clocks (`ebsd_env.timing.clock`, the only time ledger): `clock="wall"` charges the decoder's synchronised
    `perf_counter` times of each drafting step and verification (forward passes, signals, acceptance, cache
    rollback: the verification's time includes the drafter's own cache update, which for an int4 / int8 copy of
    the verifier is a reload of the verifier's new keys and values, `SequenceStats`); `clock="model"` charges a
    deterministic, monotone `CostModel` calibrated by timing this very pair (seconds per draft step, seconds per
    verification as a function of the k + 1 fed tokens), so rewards and clock times repeat exactly;
    `clock="profile"` charges a cost profile loaded from JSON (`cost_model=`),
    e.g. measured on another machine. A `Clock` object may be passed as well. On the model and profile clocks
    `decide_s` (seconds, or a policy spec whose cost `CostModel.decide_s` holds) is charged per decision; the
    default is the clock's own (0 unless the `Clock` was made with one). `env.unwrapped.decode_clock` is the
    clock (its `kind`, cost model `costs` and ρ `baseline_rate`); `clock_kind` names its kind without making
    it. The former names `clock` (the kind), `ledger`, `cost_model` and `baseline_rate` still work for one
    release, with a DeprecationWarning.

    ## Starting State

    `reset` picks a prompt (`options={"prompt_index": i}` deterministically, else uniformly with
    `self.np_random`), seeds the sampler from `self.np_random` and prefills both models with the prompt; with
    `min_draft_len >= 1` it also drafts the first token.

    ## Episode End

    One episode generates one response. It terminates when the verifier emits an end-of-sequence token and is
    truncated when `max_new_tokens` (or the verifier's context window) is reached. Stepping after the end or
    before `reset` raises `RuntimeError`.

    ## Info

    Every step: `verified`, `forced`, `generated`, `step_s` (clock seconds charged), `decide_s` (its share for the
    policy's decision), and while a draft exists its latest token's `position` and the signals the observation
    read of `entropy` (nats), `top1_prob`, `margin`, `token_prob` (signals are computed when read and charged to the
    step that reads them: `ebsd_env.envs.transition`). A verifying step adds `accepted`, `drafted` (draft tokens
    verified), `discarded` (dropped by an exclude-mode stop), `emitted` (tokens committed by the step),
    `draft_time_s`, `verify_time_s` (clock seconds of the verified block) and `block_entropies` (of the verified
    draft tokens, computed on first access, charged to no one). The last step adds `episode_stats` (see
    `episode_stats`) and its scalar keys `tokens_per_s`, `acceptance_rate`, `mean_accepted_tokens`,
    `mean_draft_len`, `new_tokens` at top level, for `Monitor(info_keywords=...)`.

    ## Arguments

    ```python
    gym.make("EBSD-v1", pair=None, prompts=None, history=8, entropy="shannon", entropy_param=None,
             entropy_temperature=1.0, min_draft_len=0, max_draft_len=16, max_new_tokens=128, temperature=0.0,
             top_p=1.0, clock="wall", extra_signals=False, seed=None, drafter=None, verifier=None, device="cpu",
             reward_scale=None, cost_model=None, render_mode=None, stop_mode=DEFAULT_STOP_MODE,
             decoder=None, observation="entropy", decide_s=None, cost_signals=False)
    ```

    - `cost_signals`: append the cost-aware signals (`ebsd_env.envs.observation`, `COST_SIGNALS`): the draft
      cost ratio and the marginal verification cost of one more token at the current draft length, from the
      clock at the block's context; a running acceptance estimate on this prompt; the context length; the
      block's position in the output. A policy trained with them reads the costs of the env it is bound to.

    - `decide_s`: seconds charged per policy decision on the model and profile clocks, or a policy spec whose
      measured cost the cost model holds (`CostModel.decide_s`); refused with the wall clock, which measures it.

    - `observation`: `"entropy"` (the table above), `"ltd"` (Learning to Draft's observation: the drafter's
      top-4 log-probabilities at the latest draft token and the context length, no entropies), `"ltd+entropy"`
      (both) or `"position"` (no token signal: for a policy that reads none, which then pays for none);
      `ebsd_env.envs.observation` gives the layout.

    - `stop_mode`: `"include"` or `"exclude"` (see Action Space). The default, `DEFAULT_STOP_MODE`, is the
      mode that measured faster on the embedded pair (docs/env.md gives the measurement). Policies whose
      source stops in a given mode (the field's published rules) refuse an env in the other mode.

    - `pair`: a loaded `ModelPair` (shared, never copied by the env); if None, `cached_pair(drafter, verifier,
      device)` loads once per process.
    - `prompts`: list of rows `{id, category, prompt | turns}` (first turn used) or strings; None = the built-in
      offline suite (`ebsd_env.prompts.load_prompts()`). With a chat template the prompt is sent as a user
      message.
    - `temperature`, `top_p`: 0 = greedy verification; > 0 = lossless speculative sampling.
    - `cost_model`: a `CostModel`, a path to one saved as JSON (a cost profile), or None to calibrate the pair
      (once per process and sampler settings, when the clock is first used: the first `reset`, or reading
      `decode_clock`; the constructor does no timing). `clock="profile"` needs one.
    - `decoder`: the decoder to drive (any `ebsd_env.decoding.protocol.Decoder`, e.g. a `ReplayDecoder`); None builds a
      `SpeculativeDecoder` on `pair` with the env's sampler and entropy settings.
    - `render_mode`: None or `"ansi"` (text so far, the current draft in `[[...]]`). Other modes render
      nothing (`gym.make` warns about them); SB3's `make_vec_env` asks for `"rgb_array"` unless
      `env_kwargs={"render_mode": None}`.
    - `seed`: used by the first `reset` that is given no seed.

    `EBSD-Deterministic-v1` is this env with `clock="model"`: what the clock charges is deterministic (rewards,
    `step_s`, the statistics' clock times `draft_s`, `verify_s`, `decide_s`, `decode_s` and `tokens_per_s`;
    with a seed, sampled outputs too). The statistics prefixed `wall_` are measured on the wall clock whatever
    the env's clock, so they vary from run to run there as well.

    ## Version History

    * v1: a policy can decline to speculate: `min_draft_len` defaults to 0 and each block starts with an
      observation of the empty draft, where stop verifies k = 0 (the verifier alone). `stop_mode` adds
      `"exclude"` (stop before the token whose signals were read). Drafting ends at a drafted end-of-sequence
      token. Extra signals add the emitted token's probability and the previous block's acceptance. A drafter
      with a smaller vocabulary is padded with -inf instead of truncating the verifier's distribution. One
      objective (`ebsd_env.envs.objective`) with γ = 1. v0 is no longer registered.
    * v0: initial version (a block always drafted at least one token; stop always included the latest).
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(self, pair: ModelPair | None = None, prompts: Sequence[dict | str] | None = None, history: int = 8,
                 entropy: str = "shannon", entropy_param: float | None = None, entropy_temperature: float = 1.0,
                 min_draft_len: int = 0, max_draft_len: int = 16, max_new_tokens: int = 128,
                 temperature: float = 0.0, top_p: float = 1.0, clock: str = "wall", extra_signals: bool = False,
                 seed: int | None = None, drafter: str | None = None, verifier: str | None = None,
                 device: str = "cpu", reward_scale: float | None = None,
                 cost_model: CostModel | str | Path | None = None, render_mode: str | None = None,
                 stop_mode: str = DEFAULT_STOP_MODE, decoder: Decoder | None = None, observation: str = "entropy",
                 decide_s: float | str | None = None, cost_signals: bool = False):
        rules = BlockRules(int(max_draft_len), stop_mode, int(min_draft_len))  # refuses bad draft lengths, modes
        _check_settings(clock, history, max_new_tokens, reward_scale, pair, temperature, top_p)
        entropy_config = EntropyConfig(entropy, entropy_param, entropy_temperature)
        pair = _pair_of(pair, decoder, drafter, verifier, device, entropy_config)
        self.pair = pair
        self.prompts = normalise_prompts(prompts)
        self._set_block_rules(rules, max_new_tokens)
        self.render_mode = render_mode
        if decoder is None:
            decoder = SpeculativeDecoder(pair, temperature=temperature, top_p=top_p, entropy=entropy_config,
                                         max_new_tokens=max_new_tokens)
        self.decoder: Decoder = decoder
        self._set_up_clock(clock, pair, cost_model, temperature, top_p, decide_s)
        self.reward_scale = float(reward_scale or self.max_draft_len + 1)
        vocab_size = pair.vocab_size if pair is not None else decoder.vocab_size
        self._set_spaces(ObservationLayout(history=history, max_draft_len=self.max_draft_len,
                                           max_new_tokens=self.max_new_tokens,
                                           entropy_scale=entropy_config.max_value(vocab_size),
                                           extra_signals=extra_signals, observation=observation,
                                           cost_signals=cost_signals))
        self._init_seed, self._seeded = seed, False
        self._running, self._episode_over = False, False  # running: between a reset and the end of its episode

    def _set_block_rules(self, rules: BlockRules, max_new_tokens: int) -> None:
        self.rules = rules
        self.stop_mode = rules.stop_mode
        self.min_draft_len, self.max_draft_len = rules.min_draft_len, rules.max_draft_len
        self.max_new_tokens = int(max_new_tokens)

    def _set_spaces(self, layout: ObservationLayout) -> None:
        self.observation_layout = layout
        self.observation_space = spaces.Box(0.0, 1.0, (layout.size,), np.float32)
        self.action_space = spaces.Discrete(2)

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is None and not self._seeded:
            seed = self._init_seed
        super().reset(seed=seed)
        self._seeded = self._seeded or seed is not None
        index = self._prompt_index(options)
        row = self.prompts[index]
        self.decoder.reseed(int(self.np_random.integers(2**31)))
        self._wall_t0 = time.perf_counter()
        self.decoder.start(self._decoder_prompt(row), self.max_new_tokens)
        self._row = row
        self._pending_s = 0.0  # clock time of work not yet charged in a reward
        self._draft_s = 0.0
        self._verify_s = 0.0
        self._decide_s = 0.0
        self._decisions = 0
        self._prev_emitted = 0
        self._prev_acceptance = 0.0
        self._acceptance_ema = ACCEPTANCE_PRIOR
        self._running, self._episode_over = True, False
        self._signal_s_seen, self._read_step, self._block_reads = 0.0, None, 0  # signals charged (`Transition`)
        self._untimed_s = 0.0  # diagnostics read since the last observation: not the policy's decision
        self._begin_block()
        observation = self._observe()
        self._charge_signals()  # what the first observation read: charged in the first step's reward
        info = {"prompt_id": row["id"], "category": row["category"], "prompt_index": index,
                "generated": 0, **self._draft_signals()}
        self._returned_at = time.perf_counter()  # the policy's decision starts now
        return observation, info

    def step(self, action):
        return self._step(action, time.perf_counter())

    def _step(self, action, decided_at: float):
        """`step`, with the moment the policy's decision ended: a subclass that handles the action first (the
        multi-drafter env) takes that moment on entry, so its own work is not charged to the decision."""
        if self._episode_over:
            raise RuntimeError("the episode has ended (terminated or truncated); call reset() before step()")
        if not self._running:
            raise RuntimeError("call reset() before step()")
        if not self.action_space.contains(action):
            raise ValueError(f"invalid action {action!r}: the action space is Discrete(2) "
                             "(0 = continue drafting, 1 = stop and verify)")
        # The policy's decision: from the previous observation's return to this call, measured on the wall clock,
        # less the diagnostics read from info meanwhile (`BlockEntropies`).
        decide_s = self.decode_clock.decide_time(max(decided_at - self._returned_at - self._untimed_s, 0.0))
        self._untimed_s = 0.0
        self._decide_s += decide_s
        self._decisions += 1
        self._pending_s += decide_s
        stop = int(action) == STOP
        decoder = self.decoder
        n = len(decoder.draft_steps)
        verify, discard, forced = self._resolve(stop, n)
        info: dict = {"verified": verify, "forced": forced}
        emitted = 0
        if verify:
            if discard:
                decoder.discard_draft()
            result = self._verify()
            emitted = len(result.emitted)
            info.update(accepted=result.accepted, drafted=result.drafted, discarded=result.discarded,
                        draft_time_s=self._block_draft_s, verify_time_s=self._block_verify_s,
                        block_entropies=self._block_entropies())
            # One token of budget left: no draft can help, the verifier alone produces it.
            while not decoder.finished and verifier_takes_last(decoder.remaining):
                emitted += len(self._verify().emitted)
            info["emitted"] = emitted
            self._prev_emitted = emitted
            self._prev_acceptance = result.accepted / result.drafted if result.drafted else 0.0
            if result.drafted:
                self._acceptance_ema = update_acceptance(self._acceptance_ema, result.accepted, result.drafted)
            self._begin_block()
        else:
            self._draft()

        # The observation reads the signals it shows: charged to this step, with the drafting they belong to.
        observation = self._observe()
        self._charge_signals()
        step_s, self._pending_s = self._pending_s, 0.0
        reward = (emitted - self.decode_clock.baseline_rate * step_s) / self.reward_scale
        info.update(generated=len(decoder.new_tokens), step_s=step_s, decide_s=decide_s, **self._draft_signals())
        terminated = truncated = False
        if decoder.finished:
            terminated = decoder.tokens[-1] in decoder.eos_ids
            truncated = not terminated
            self._running, self._episode_over = False, True
            stats = self.episode_stats()
            info["episode_stats"] = stats
            info.update({key: stats[key] for key in ("tokens_per_s", "acceptance_rate", "mean_accepted_tokens",
                                                     "mean_draft_len", "new_tokens")})
        self._returned_at = time.perf_counter()
        return observation, float(reward), terminated, truncated, info

    # ------------------------------------------------------------------ internals
    def _resolve(self, stop: bool, n: int) -> tuple[bool, bool, str]:
        """(verify?, discard the latest draft token first?, forced-rule name) for an action on a draft of n."""
        decoder = self.decoder
        last_is_eos = n > 0 and decoder.draft_steps[-1].token in decoder.eos_ids
        return self.rules.resolve(stop, n, decoder.draft_room, last_is_eos)

    def _begin_block(self) -> None:
        """Start a block: with `min_draft_len` >= 1 the first token is drafted before the policy is asked."""
        decoder = self.decoder
        if not decoder.finished and self.min_draft_len >= 1 and not self.rules.draft_ends(0, decoder.draft_room):
            self._draft()
