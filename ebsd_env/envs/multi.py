"""`EBSD-Multi-v1`: choose the drafter of each block as well as when to stop, over one verifier.

`MultiEnv` is `EBSDEnv` (same blocks, stop modes, reward, clocks, info) over a `MultiDraftDecoder`: a pair with
several drafters (``drafter="int4+feature+ngram"``, `ebsd_env.decoding.multi`), one of which drafts each block.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
from gymnasium import spaces

from ..decoding.entropy import EntropyConfig
from ..decoding.models import ModelPair, cached_pair
from ..decoding.multi import MultiDraftDecoder, is_multi
from ..drafter_ids import same_drafter
from ..timing.clock import check_decisions, needs_calibration
from ..timing.multi_clock import MultiClock, make_multi_clock
from .ebsd import CONTINUE, DEFAULT_STOP_MODE, EBSDEnv
from .observation import FIRST_DRAFTER, MAX_SUFFIX  # noqa: F401 (re-exported: defined here before)

DEFAULT_DRAFTERS = "int4+feature+ngram"
PER_DRAFTER = ("selected", "tried", "acceptance", "cost_ratio")
LOOKUP = ("lookup_suffix", "lookup_has_proposal")


def longest_repeated_suffix(tokens: Sequence[int], limit: int = MAX_SUFFIX) -> int:
    """The longest n <= `limit` such that the last n tokens occurred earlier with a token after them (what prompt
    lookup matches; 0: the last token never occurred before)."""
    seq = np.asarray(tokens, dtype=np.int64)
    size = len(seq)
    if size < 2:
        return 0
    ends = np.flatnonzero(seq[:-1] == seq[-1])  # earlier occurrences of the last token, each with a follower
    n = 0
    while len(ends) and n < limit:
        n += 1
        ends = ends[ends - n >= 0]
        if n < size and len(ends):
            ends = ends[seq[ends - n] == seq[size - 1 - n]]
        else:
            break
    return n


class MultiEnv(EBSDEnv):
    """
    ## Description

    `EBSD-v1` with a choice of drafter. A pair holds one verifier and several drafters (e.g. int4, the feature
    drafter and prompt lookup); at each block start the agent picks which drafter drafts the block, or none
    (k = 0: the verifier alone), then decides after each drafted token, as in `EBSD-v1`, whether to continue or
    stop and verify. Switching costs only what the chosen drafter must catch up on, charged to its first draft
    step (`ebsd_env.decoding.multi`). Under greedy decoding the output is the verifier's whatever the choices.

    ## Action Space

    `Discrete(n_drafters + 2)`, with `EBSD-v1`'s meanings kept for 0 and 1:

    - `0` = continue: draft one more token; at a block start, with the drafter that drafted last (drafter 0
      before any), so an `EBSD-v1` policy runs here unchanged;
    - `1` = stop and verify (at a block start: k = 0, the verifier alone);
    - `2 + i` = at a block start, draft the block with drafter `i` (its first token is drafted in this step);
      inside a block the drafter is fixed and `2 + i` counts as continue (`info["forced"]` is then
      `"drafter_fixed"` unless another rule forced the step).

    `action_masks()` (sb3-contrib's MaskablePPO convention) allows every action at a block start and only 0 and
    1 inside a block. Stop modes, `max_draft_len`, the EOS and budget rules are `EBSD-v1`'s (`min_draft_len` is
    0: the drafter must be chosen before any token is drafted).

    ## Observation Space

    `Box(0, 1, (b + 4 * n_drafters + 2,), float32)`: first the `EBSD-v1` observation of b entries (same layout,
    `env.unwrapped.observation_layout`), whose token signals are those of the drafter drafting the current
    block; then, per drafter i (`multi_fields()` names every entry):

    | entry        | meaning                                                                              |
    |--------------|--------------------------------------------------------------------------------------|
    | selected     | 1 if drafter i drafts the current block (at a block start: the one `0` would draft)   |
    | tried        | 1 once drafter i has had a block verified on this prompt                             |
    | acceptance   | its recent acceptance on this prompt: accepted / verified draft tokens of its blocks,  |
    |              | averaged with weight `acceptance_decay` on the past (0 before it is tried)            |
    | cost_ratio   | its drafting step over a verifier-alone step (the clock's calibration), clipped to 1  |

    and last, prompt lookup's signals on the committed tokens: the longest suffix that occurred earlier (a
    proposal exists), over `MAX_SUFFIX` (clipped to 1), and whether prompt lookup has a proposal (the suffix is
    at least its `min_ngram`, 1 without an ngram drafter).

    ## Rewards, clocks, episodes, info

    As `EBSD-v1`: `r_t = (emitted_t - ρ dt_t) / s`, ρ the verifier-alone rate. A drafting step costs the drafting
    drafter's step (`ebsd_env.timing.multi_clock.MultiClock`: one calibration per drafter, the verifier priced
    once). `info["drafter"]` is the index of the drafter of the current (or just verified) block, -1 for a
    block without a draft; `episode_stats` adds `drafter_names` and `drafter_blocks` (blocks drafted by each).

    ## Arguments

    As `EBSD-v1`'s (no `min_draft_len`; `cost_signals` priced as below: the drafting drafter's step, the verifier's
    curve, no context; `decide_s` as `EBSD-v1`'s, a policy spec's cost read from the first drafter's cost model,
    `MultiClock.costs[0].decide_s`), `drafter` a ``+``-joined spelling (default ``int4+feature+ngram``) or
    `pair` a multi-drafter pair, `cost_model` a `MultiClock`, one `CostModel` per drafter, or a JSON file
    (`MultiClock.save`), or None to calibrate each drafter's pair when the clock is first used (the first
    `reset`, or reading `multi_clock`: the constructor does no timing), and `acceptance_decay` (default 0.5).

    ## Version History

    * v1: initial version.
    """

    def __init__(self, pair: ModelPair | None = None, prompts: Sequence[dict | str] | None = None, history: int = 8,
                 entropy: str = "shannon", entropy_param: float | None = None, entropy_temperature: float = 1.0,
                 max_draft_len: int = 16, max_new_tokens: int = 128, temperature: float = 0.0, top_p: float = 1.0,
                 clock: str | MultiClock = "wall", extra_signals: bool = False, seed: int | None = None,
                 drafter: str | None = None, verifier: str | None = None, device: str = "cpu",
                 reward_scale: float | None = None, cost_model=None, render_mode: str | None = None,
                 stop_mode: str = DEFAULT_STOP_MODE, decoder=None, observation: str = "entropy",
                 acceptance_decay: float = 0.5, cost_signals: bool = False, decide_s: float | str | None = None):
        if not 0 <= acceptance_decay < 1:
            raise ValueError(f"acceptance_decay must lie in [0, 1), got {acceptance_decay}")
        if max_new_tokens < 1 or max_draft_len < 1:
            raise ValueError(f"max_new_tokens and max_draft_len must be >= 1, got {max_new_tokens}, {max_draft_len}")
        if decoder is None:
            if pair is None:
                pair = cached_pair(drafter or DEFAULT_DRAFTERS, verifier, device)
            elif drafter is not None or verifier is not None:
                raise ValueError("give either pair= or drafter=/verifier= model ids, not both")
            if not is_multi(pair):
                raise ValueError(f"EBSD-Multi-v1 needs several drafters: drafter='int4+feature+ngram' (any '+'-joined "
                                 f"names), not {pair.drafter_name!r}; use EBSD-v1 for one drafter")
            decoder = MultiDraftDecoder(pair, temperature=temperature, top_p=top_p,
                                        entropy=EntropyConfig(entropy, entropy_param, entropy_temperature),
                                        max_new_tokens=max_new_tokens)
        # The clock is made when first used, not here (as `EBSDEnv`'s): a clock that needs calibrations (wall or
        # model, no cost models given: one per drafter) would time every drafter's pair in the constructor.
        clock_pair = pair if decoder.pair is None else decoder.pair
        self._multi_clock: MultiClock | None = clock if isinstance(clock, MultiClock) else None
        self._multi_clock_args = (clock, clock_pair, cost_model, temperature, top_p)
        self._cost_ratios_cache: np.ndarray | None = None
        self.drafter_names = list(decoder.drafter_names)
        if self._multi_clock is None and not needs_calibration(clock, cost_model, clock_pair):
            self._multi_clock = make_multi_clock(clock, clock_pair, cost_model, temperature, top_p,
                                                 names=self.drafter_names)
        if self._multi_clock is not None:
            self._check_clock_names(self._multi_clock)
        self.acceptance_decay = float(acceptance_decay)
        ngram = [s for s in getattr(decoder, "strategies", []) if s.kind == "ngram"]
        self.lookup_min_ngram = int(ngram[0].model.min_ngram) if ngram else 1
        self._reset_drafter_state()
        super().__init__(pair=pair, prompts=prompts, history=history, entropy=entropy, entropy_param=entropy_param,
                         entropy_temperature=entropy_temperature, min_draft_len=0, max_draft_len=max_draft_len,
                         max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
                         clock=clock.kind if isinstance(clock, MultiClock) else clock, extra_signals=extra_signals,
                         seed=seed, reward_scale=reward_scale, render_mode=render_mode, stop_mode=stop_mode,
                         decoder=decoder, observation=observation, cost_signals=cost_signals, decide_s=decide_s)
        n = len(self.drafter_names)
        self.base_size = self.observation_layout.size
        self.observation_space = spaces.Box(0.0, 1.0, (self.base_size + len(PER_DRAFTER) * n + len(LOOKUP),),
                                            np.float32)
        self.action_space = spaces.Discrete(n + FIRST_DRAFTER)

    # ------------------------------------------------------------------ the clock
    @property
    def multi_clock(self) -> MultiClock:
        """The env's per-drafter clock (`ebsd_env.timing.multi_clock.MultiClock`), made (and each drafter's pair
        calibrated, if it must be) on first use: the first `reset`, or reading this or the verifier's clock."""
        if self._multi_clock is None:
            clock, pair, cost_model, temperature, top_p = self._multi_clock_args
            multi_clock = make_multi_clock(clock, pair, cost_model, temperature, top_p, names=self.drafter_names)
            self._check_clock_names(multi_clock)
            self._multi_clock = multi_clock
        return self._multi_clock

    def _check_clock_names(self, multi_clock: MultiClock) -> None:
        if not same_drafter(list(multi_clock.names), self.drafter_names):
            raise ValueError(f"the clock prices drafters {list(multi_clock.names)} but the decoder drafts with "
                             f"{self.drafter_names}: give one cost model per drafter, in order")

    def _set_up_clock(self, clock, pair, cost_model, temperature, top_p, decide_s) -> None:
        """`EnvClock._set_up_clock` for the per-drafter clock: the verifier's clock is made now when the multi clock
        is (it needs no calibration), else on first use; a bad `decide_s` is refused now either way."""
        check_decisions(clock, decide_s)
        if self._multi_clock is None and clock == "model" and isinstance(decide_s, str):
            raise ValueError(f"a fresh calibration holds no decision cost for policy {decide_s!r}: pass cost_model= "
                             "per-drafter cost models whose first holds it (time it with ebsd_env.timing.clock."
                             "time_decisions), or give decide_s in seconds")
        self.clock_kind = clock
        self._clock_args = (clock, pair, cost_model, temperature, top_p, decide_s)
        self._decode_clock = None if self._multi_clock is None else self._make_clock()

    def _make_clock(self):
        """`EBSDEnv`'s clock here: the verifier's (its ρ, its verifications, the policy's decisions), from the
        multi-drafter clock; a policy spec's decision cost is read from the first drafter's cost model."""
        return self.multi_clock.verifier_clock.with_decisions(self._clock_args[-1])

    @property
    def _cost_ratios(self) -> np.ndarray:
        """Each drafter's drafting step over a verifier-alone step, clipped to 1 (the observation's cost_ratio)."""
        if self._cost_ratios_cache is None:
            ratios = [self.multi_clock.cost_ratio(i) for i in range(self.n_drafters)]
            self._cost_ratios_cache = np.clip(ratios, 0.0, 1.0)
        return self._cost_ratios_cache

    @property
    def n_drafters(self) -> int:
        return len(self.drafter_names)

    def multi_fields(self) -> list[str]:
        """Names of the observation entries after the `EBSD-v1` layout, in order."""
        return [f"{field}:{name}" for name in self.drafter_names for field in PER_DRAFTER] + list(LOOKUP)

    def action_masks(self) -> np.ndarray:
        """Actions that mean what they say here: every one at a block start, continue and stop inside a block."""
        mask = np.ones(self.action_space.n, dtype=bool)
        if self.decoder.draft_steps:
            mask[FIRST_DRAFTER:] = False
        return mask

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        self._reset_drafter_state()
        return super().reset(seed=seed, options=options)

    def step(self, action):
        decided_at = time.perf_counter()  # the policy's decision ends here: what follows is the env's work
        if not self.action_space.contains(action):
            raise ValueError(f"invalid action {action!r}: the action space is Discrete({self.action_space.n}) (0 = "
                             f"continue, 1 = stop and verify, 2 + i = draft the block with drafter i of "
                             f"{', '.join(self.drafter_names)})")
        action = int(action)
        fixed = False
        if action >= FIRST_DRAFTER:
            if self._running and not self.decoder.draft_steps:
                self.decoder.select(action - FIRST_DRAFTER)
            else:
                fixed = True
            action = CONTINUE
        obs, reward, terminated, truncated, info = self._step(action, decided_at)
        if fixed and not info["forced"]:
            info["forced"] = "drafter_fixed"
        return obs, reward, terminated, truncated, info

    def episode_stats(self) -> dict:
        stats = super().episode_stats()
        stats["drafter_names"] = list(self.drafter_names)
        stats["drafter_blocks"] = [int(count) for count in self._blocks]
        return stats

    # ------------------------------------------------------------------ internals (hooks of EBSDEnv)
    def _reset_drafter_state(self) -> None:
        n = len(self.drafter_names)
        self._tried = np.zeros(n)
        self._acceptance = np.zeros(n)
        self._blocks = np.zeros(n, dtype=np.int64)
        self._block_drafter = -1
        self._lookup: tuple[int, float] = (-1, 0.0)  # (committed tokens, suffix length) of the last computation

    def _draft(self) -> None:
        step = self.decoder.draft()
        dt = self.multi_clock.draft_time(self.decoder.current, step.time_s, first=step.position == 1)
        self._draft_s += dt
        self._pending_s += dt

    def _verify(self):
        drafter = self.decoder.current
        self._block_steps = list(self.decoder.draft_steps)  # the verified ones: info's block_entropies
        result = self.decoder.verify()
        draft_s, verify_s = self.multi_clock.block_times(drafter, result.drafted, result.discarded,
                                                         result.draft_time_s, result.verify_time_s, self._block_reads)
        self._block_reads = 0
        self._block_draft_s, self._block_verify_s = draft_s, verify_s
        self._verify_s += verify_s
        self._pending_s += verify_s
        self._block_drafter = drafter if result.drafted + result.discarded else -1
        if result.drafted + result.discarded:
            self._blocks[drafter] += 1
        if result.drafted:
            rate = result.accepted / result.drafted
            decay = self.acceptance_decay if self._tried[drafter] else 0.0
            self._acceptance[drafter] = decay * self._acceptance[drafter] + (1 - decay) * rate
            self._tried[drafter] = 1.0
        return result

    def _cost_signals(self, drafted: int) -> dict:
        """`EBSD-v1`'s cost signals, priced as `MultiClock` prices a block: the step of the drafter drafting it (at a
        block start, the one `0` would draft), the verifier's curve, both context-free (it prices no context)."""
        clock = self.multi_clock
        verify = clock.costs[0]
        one = verify.verify_cost(1)
        return {"draft_cost_ratio": clock.costs[self.decoder.current].draft_s / one,
                "marginal_verify_cost": (verify.verify_cost(drafted + 2) - verify.verify_cost(drafted + 1)) / one,
                "acceptance_ema": self._acceptance_ema, "block_context": len(self.decoder.tokens)}

    def _signal_time(self, measured_s: float, steps: int) -> float:
        """Signals read are charged at the rate of the drafter drafting the block (the one whose steps they are)."""
        return self.multi_clock.signal_time(self.decoder.current, measured_s, steps)

    def _draft_signals(self) -> dict:
        signals = super()._draft_signals()
        signals["drafter"] = self.decoder.current if self.decoder.draft_steps else self._block_drafter
        return signals

    def _lookup_suffix(self) -> int:
        tokens = self.decoder.tokens
        if self._lookup[0] != len(tokens):  # committed tokens change only at a verification
            self._lookup = (len(tokens), longest_repeated_suffix(tokens))
        return int(self._lookup[1])

    def _observe(self) -> np.ndarray:
        base = super()._observe()
        n = len(self.drafter_names)
        extra = np.zeros(len(PER_DRAFTER) * n + len(LOOKUP), dtype=np.float32)
        per = extra[: len(PER_DRAFTER) * n].reshape(n, len(PER_DRAFTER))
        per[self.decoder.current, 0] = 1.0
        per[:, 1] = self._tried
        per[:, 2] = np.clip(self._acceptance, 0.0, 1.0)
        per[:, 3] = self._cost_ratios
        suffix = self._lookup_suffix()
        extra[-2] = min(suffix / MAX_SUFFIX, 1.0)
        extra[-1] = float(suffix >= self.lookup_min_ngram)
        return np.concatenate([base, extra])
