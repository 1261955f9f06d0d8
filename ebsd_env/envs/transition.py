"""One `EBSD-v1` transition's decoder work and what it shows: drafting and verification charged on the env's clock,
the observation vector, the latest draft token's signals in `info`.

A draft token's signals are computed when first read (`ebsd_env.decoding.protocol.DraftStep`), and the env reads
only those its observation layout shows: the entropies of the last `history` tokens (``"entropy"``,
``"ltd+entropy"``), the latest token's probabilities (``extra_signals``) and log-probabilities (``"ltd"``), none
with ``observation="position"``. What a read costs is charged to the step that read it (`_charge_signals`), so
a policy pays for the signals it reads and for no others: the measured seconds on the wall clock, the cost
model's `signal_s` per step read on the model and profile clocks. `info` shows the signals that were read; its
``block_entropies`` are computed on first access after the block was verified, a diagnostic that charges nobody
and is left out of the policy's next decision time (`BlockEntropies`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from ..decoding.protocol import DraftStep, VerifyResult

INFO_SIGNALS = ("entropy", "top1_prob", "margin", "token_prob")  # of the latest draft token, once read


class BlockEntropies(Sequence):
    """``info["block_entropies"]``: the entropies of a verified block's draft tokens, computed on first access.

    Where the observation read the entropies they are cached and cost nothing here; otherwise (a policy that
    reads none, e.g. fixed k, while `ebsd eval` records every block's entropies for its calibration) the steps
    are closed, so computing them charges no block, and `on_read(started, seconds)` lets the env leave their
    time out of the policy's next decision. Pickled or copied, it becomes a plain tuple."""

    def __init__(self, steps: Sequence[DraftStep], on_read: Callable[[float, float], None]):
        self._steps = list(steps)
        self._values: tuple[float, ...] | None = None
        self._on_read = on_read

    def _load(self) -> tuple[float, ...]:
        if self._values is None:
            t0 = time.perf_counter()
            self._values = tuple(step.entropy for step in self._steps)
            self._on_read(t0, time.perf_counter() - t0)
            self._steps = []
        return self._values

    def __len__(self) -> int:
        return len(self._steps) if self._values is None else len(self._values)

    def __getitem__(self, index):
        return self._load()[index]

    def __eq__(self, other) -> bool:
        return isinstance(other, Sequence) and list(self._load()) == list(other)

    def __reduce__(self):
        return tuple, (self._load(),)

    def __repr__(self) -> str:
        return repr(list(self._load()))


class Transition:
    """`EBSDEnv`'s decoder work and observation assembly. The env holds `decoder`, `observation_layout`,
    `decode_clock`, the episode's clock totals (`_draft_s`, `_verify_s`, `_pending_s`: charged, not yet in a
    reward; `_signal_s_seen`: the decoder's signal seconds already charged; `_read_step`: the latest draft step
    whose signals were charged; `_block_reads`: the current block's steps whose signals were read; `_untimed_s`:
    diagnostic seconds to leave out of the policy's current decision) and running values (`_prev_emitted`,
    `_prev_acceptance`, `_acceptance_ema`).

    Why not the draft/verify driver (`DraftState.run_block`, which `generate`, calibration, the recorder and the
    bench share): a policy decides after every draft token, so one transition is one `draft()` or one `verify()`,
    not a whole block. Where a draft ends by itself comes from the same place as the driver's stop:
    `BlockRules.draft_ends`, asked through `BlockRules.resolve` (`EBSDEnv._resolve`, `_begin_block`)."""

    def _draft(self) -> None:
        step = self.decoder.draft()
        # Priced at the block's start; its first step pays the drafter's catch-up (`CostModel.catch_up_s`).
        dt = self.decode_clock.draft_time(step.time_s, len(self.decoder.tokens), first=step.position == 1)
        self._draft_s += dt
        self._pending_s += dt

    def _verify(self) -> VerifyResult:
        self._block_steps = list(self.decoder.draft_steps)  # the verified ones: info's block_entropies
        context = len(self.decoder.tokens)  # committed before this block: what its verification attends over
        result = self.decoder.verify()
        draft_s, verify_s = self.decode_clock.block_times(result.drafted, result.discarded, result.draft_time_s,
                                                          result.verify_time_s, context, self._block_reads)
        self._block_reads = 0
        self._block_draft_s, self._block_verify_s = draft_s, verify_s
        self._verify_s += verify_s
        self._pending_s += verify_s
        return result

    def _block_entropies(self) -> BlockEntropies:
        return BlockEntropies(self._block_steps, self._diagnostic_read(self._decisions))

    def exclude_from_decision(self, seconds: float) -> None:
        """Leave `seconds` spent since the last observation out of the policy's decision time on the wall clock:
        work that is not the policy's own, such as the privileged oracle's peek at the verifier (the `verify` that
        follows repeats that work and is charged for it)."""
        self._untimed_s += seconds

    def _diagnostic_read(self, decisions: int) -> Callable[[float, float], None]:
        """A callback for a diagnostic computed after the step that made it returned: its seconds are left out of
        the policy's next decision (made after `decisions` decisions), as nothing of the policy's own."""
        def on_read(started: float, seconds: float) -> None:
            if self._decisions == decisions and started >= self._returned_at:
                self._untimed_s += seconds
        return on_read

    def _charge_signals(self) -> None:
        """Charge the signals this step's observation read as drafting time of the current block: the seconds
        computed since the last charge on the wall clock, `signal_s` per step read on the model and profile
        clocks (`Clock.signal_time`). Which steps were read: the latest one, when the layout shows token signals
        and it was not charged yet (each draft step is observed at once, so the earlier ones of the block were
        read as the latest; a replayed step's signals are given, so nothing is measured, but they count)."""
        spent = self.decoder.signal_s - self._signal_s_seen
        self._signal_s_seen = self.decoder.signal_s
        steps = self.decoder.draft_steps
        read = int(self.observation_layout.reads_token_signals and bool(steps) and steps[-1] is not self._read_step)
        if read:
            self._read_step = steps[-1]
            self._block_reads += 1
        if spent or read:
            dt = self._signal_time(spent, read)
            self._draft_s += dt
            self._pending_s += dt

    def _signal_time(self, measured_s: float, steps: int) -> float:
        """The clock's charge for `steps` read steps' signals (`measured_s` of them measured)."""
        return self.decode_clock.signal_time(measured_s, steps)

    def _draft_signals(self) -> dict:
        """The latest draft token's position and the signals read so far (none is computed for `info`)."""
        steps = self.decoder.draft_steps
        if not steps:
            return {"position": 0}
        last = steps[-1]
        return {"position": last.position, **{name: getattr(last, name) for name in INFO_SIGNALS
                                              if last.computed(name)}}

    def _observe(self) -> np.ndarray:
        """The observation, reading only the signals the layout shows."""
        layout = self.observation_layout
        steps = self.decoder.draft_steps
        last = steps[-1] if steps else None
        signals = {}
        if last is not None and layout.extra_signals:
            signals.update(top1_prob=last.top1_prob, margin=last.margin, token_prob=last.token_prob)
        if last is not None and layout.has_ltd:
            signals["top_logprobs"] = last.top_logprobs
        if layout.cost_signals:
            signals.update(self._cost_signals(len(steps)))
        entropies = [step.entropy for step in steps[-layout.history:]] if layout.has_entropy else []
        return layout.encode(entropies, len(steps), prev_emitted=self._prev_emitted,
                             generated=len(self.decoder.new_tokens), prev_acceptance=self._prev_acceptance,
                             context_len=len(self.decoder.tokens) + len(steps), **signals)

    def _cost_signals(self, drafted: int) -> dict:
        """What drafting and verifying cost here, from the clock at the block's context (`COST_SIGNALS`)."""
        costs, context = self.decode_clock.costs, len(self.decoder.tokens)
        one = costs.verify_cost(1, context)
        return {"draft_cost_ratio": costs.draft_cost(context) / one,
                "marginal_verify_cost": (costs.verify_cost(drafted + 2, context)
                                         - costs.verify_cost(drafted + 1, context)) / one,
                "acceptance_ema": self._acceptance_ema, "block_context": context}
