"""`oracle-dp` over (drafter, k): the optimal plan for aligned multi-drafter traces, by dynamic programming.

The single-drafter oracle (`ebsd_env.replay.oracle`) chooses k per block start; here a plan chooses, at each block
start j of the greedy output y, either k = 0 (the verifier alone) or a drafter d and a draft length k >= 1. A
block of drafter d emits e(j, d, k) = min(min(k, m_dj) + 1, N - j) tokens (m_dj: the agreement of d's chain at j
with y) and costs, as `EBSD-Multi-v1` charges it (`ebsd_env.timing.multi_clock.MultiClock`):

- include mode: k drafting steps of d + d's catch-up (`CostModel.catch_up_s`, once per block) + verify_cost(k + 1);
- exclude mode: k + 1 drafting steps of d + verify_cost(k + 1), except at k = k_max(j, d) (the draft ends by
  itself and continuing verifies it whole: k steps);
- k = 0: verify_cost(1), whichever drafter would have been next (no drafting);

with k_max(j, d) = min(max_draft_len, d's chain length at j, budget - j - 1) (`ebsd_env.envs.block_rules`) and
verify_cost the first drafter's curve (the verifier is one). Switching drafters costs nothing beyond these steps: in
replay the recorded chains are what each drafter proposes at j, and live its catch-up is inside its next draft step
(priced as any block's catch-up).

As in the single-drafter oracle, N is the same for every plan under greedy decoding, so maximising N / T is
minimising T, and one backward pass T*(j) = min over (d, k) of cost + T*(j + e), T*(N) = 0, is exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..envs.block_rules import BlockRules, check_stop_mode, kept_many, verifier_takes_last
from ..timing.cost_model import CostModel
from .trace import Trace, TraceError

NO_DRAFTER = -1


@dataclass(frozen=True)
class MultiPlan:
    """The optimal decode time of one prompt and, per block start, the drafter and the draft length to verify."""

    time_s: float
    tokens: int
    drafter: np.ndarray  # drafter[j]: the drafter of a block starting at j (NO_DRAFTER where k[j] == 0)
    k: np.ndarray  # k[j]: the draft length to verify there
    k_max: np.ndarray  # k_max[d, j]: where a draft of drafter d starting at j ends by itself

    @property
    def rate(self) -> float:
        return self.tokens / self.time_s if self.time_s > 0 else float("nan")


def optimal_multi_plan(traces: Sequence[Trace], costs: Sequence[CostModel], max_draft_len: int,
                       stop_mode: str = "include", max_new_tokens: int | None = None) -> MultiPlan:
    """The time-optimal plan over (drafter, k) for one prompt: `traces[d]` is drafter d's trace of it, `costs[d]`
    its cost model (verifications priced by `costs[0]`); see the module docstring."""
    check_stop_mode(stop_mode)
    if not traces or len(traces) != len(costs):
        raise ValueError(f"give one trace and one cost model per drafter, got {len(traces)} traces and "
                         f"{len(costs)} cost models")
    first = traces[0]
    if any(t.output != first.output or t.budget != first.budget for t in traces[1:]):
        raise TraceError(f"prompt {first.id!r}: the drafters' traces hold different greedy outputs, so their "
                         "positions are not aligned; record them together (`ebsd record --drafter a+b`)")
    budget = first.budget if max_new_tokens is None else min(int(max_new_tokens), first.budget)
    N = min(len(first.output), budget)
    L = int(max_draft_len)
    rules = BlockRules(L, stop_mode)
    ks_all = np.arange(L + 1)
    vcost = np.asarray([costs[0].verify_cost(k + 1) for k in ks_all])
    matches = [t.match_lengths() for t in traces]
    chain_lens = [t.chain_lengths() for t in traces]
    best = np.zeros(N + 1)
    drafter_choice = np.full(N, NO_DRAFTER, dtype=np.int64)
    k_choice = np.zeros(N, dtype=np.int64)
    limits = np.zeros((len(traces), N), dtype=np.int64)

    def after(j: int, emitted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(next block start, tail seconds): the env verifies the last token of budget at once (k = 0) when a
        block leaves exactly one."""
        nxt = j + emitted
        tail = np.where((nxt < N) & verifier_takes_last(budget - nxt), vcost[0], 0.0)
        return np.where(tail > 0, nxt + 1, nxt), tail

    for j in range(N - 1, -1, -1):
        nxt, tail = after(j, np.asarray([1]))
        best_time, best_d, best_k = float(vcost[0] + tail[0] + best[nxt[0]]), NO_DRAFTER, 0  # k = 0
        for d, trace_costs in enumerate(costs):
            kmax = int(rules.k_max(budget - j, chain_lens[d][j]))
            limits[d, j] = kmax
            if kmax == 0:
                continue
            ks = ks_all[1: kmax + 1]
            drafted = rules.drafting_steps(ks, kmax)
            emitted = kept_many(ks, matches[d][j], N - j)[1]
            nxt, tail = after(j, emitted)
            total = drafted * trace_costs.draft_s + trace_costs.catch_up_s + vcost[ks] + tail + best[nxt]
            i = int(np.argmin(total))
            if total[i] < best_time:
                best_time, best_d, best_k = float(total[i]), d, int(ks[i])
        best[j], drafter_choice[j], k_choice[j] = best_time, best_d, best_k
    return MultiPlan(time_s=float(best[0]), tokens=N, drafter=drafter_choice, k=k_choice, k_max=limits)


def optimal_multi_time(traces: Sequence[Trace], costs: Sequence[CostModel], max_draft_len: int,
                       stop_mode: str = "include", max_new_tokens: int | None = None) -> float:
    """T*: the least decoding time any policy choosing drafters and draft lengths can reach on one prompt."""
    return optimal_multi_plan(traces, costs, max_draft_len, stop_mode, max_new_tokens).time_s


def optimal_multi_rate(multi, costs: Sequence[CostModel], max_draft_len: int, stop_mode: str = "include",
                       max_new_tokens: int | None = None) -> float:
    """The objective (total tokens / total time) of the optimal plans over a `MultiTraceSet`."""
    plans = [optimal_multi_plan([s[i] for s in multi.sets], costs, max_draft_len, stop_mode, max_new_tokens)
             for i in range(len(multi))]
    return sum(p.tokens for p in plans) / sum(p.time_s for p in plans)
