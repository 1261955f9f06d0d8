"""One `EBSD-v1` transition's decoder work and what it shows: drafting and verification charged on the env's clock,
the observation vector, the latest draft token's signals in `info`."""

from __future__ import annotations

import numpy as np

from ..decoding.protocol import VerifyResult


class Transition:
    """`EBSDEnv`'s decoder work and observation assembly. The env holds `decoder`, `observation_layout`,
    `decode_clock`, the episode's clock totals (`_draft_s`, `_verify_s`, `_pending_s`: charged, not yet in a
    reward) and running values (`_prev_emitted`, `_prev_acceptance`, `_acceptance_ema`)."""

    def _draft(self) -> None:
        step = self.decoder.draft()
        dt = self.decode_clock.draft_time(step.time_s, len(self.decoder.tokens))  # priced at the block's start
        self._draft_s += dt
        self._pending_s += dt

    def _verify(self) -> VerifyResult:
        self._block_entropies = [step.entropy for step in self.decoder.draft_steps]
        context = len(self.decoder.tokens)  # committed before this block: what its verification attends over
        result = self.decoder.verify()
        draft_s, verify_s = self.decode_clock.block_times(result.drafted, result.discarded, result.draft_time_s,
                                                    result.verify_time_s, context)
        self._block_draft_s, self._block_verify_s = draft_s, verify_s
        self._verify_s += verify_s
        self._pending_s += verify_s
        return result

    def _draft_signals(self) -> dict:
        steps = self.decoder.draft_steps
        if not steps:
            return {"position": 0}
        last = steps[-1]
        return {"position": last.position, "entropy": last.entropy, "top1_prob": last.top1_prob,
                "margin": last.margin, "token_prob": last.token_prob}

    def _observe(self) -> np.ndarray:
        steps = self.decoder.draft_steps
        last = steps[-1] if steps else None
        costs = self._cost_signals(len(steps)) if self.observation_layout.cost_signals else {}
        return self.observation_layout.encode(
            [step.entropy for step in steps], len(steps),
            top1_prob=last.top1_prob if last else 0.0, margin=last.margin if last else 0.0,
            prev_emitted=self._prev_emitted, generated=len(self.decoder.new_tokens),
            token_prob=last.token_prob if last else 0.0, prev_acceptance=self._prev_acceptance,
            top_logprobs=last.top_logprobs if last else (), context_len=len(self.decoder.tokens) + len(steps),
            **costs)

    def _cost_signals(self, drafted: int) -> dict:
        """What drafting and verifying cost here, from the clock at the block's context (`COST_SIGNALS`)."""
        costs, context = self.decode_clock.costs, len(self.decoder.tokens)
        one = costs.verify_cost(1, context)
        return {"draft_cost_ratio": costs.draft_cost(context) / one,
                "marginal_verify_cost": (costs.verify_cost(drafted + 2, context)
                                         - costs.verify_cost(drafted + 1, context)) / one,
                "acceptance_ema": self._acceptance_ema, "block_context": context}
