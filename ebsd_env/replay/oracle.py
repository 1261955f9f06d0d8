"""`oracle-dp`: the optimal stopping plan for a recorded trace under a clock, by dynamic programming.

The objective is N / T (`ebsd_env.envs.objective`). A plan chooses, at each block start j (a position of the greedy
output y), how many draft tokens k to verify, k = 0 (the verifier alone) included; the block emits
e(j, k) = min(min(k, m_j) + 1, N - j) tokens, m_j being the agreement of the chain at j with y, and costs

- include mode: k drafting steps (+ the first step's catch-up, `CostModel.catch_up_s`, when k > 0) +
  verify_cost(k + 1);
- exclude mode: k + 1 drafting steps (the stop token is drafted, then discarded; + the catch-up) + verify_cost(k + 1),
  except
  k = 0 (stop at the empty draft: no drafting) and k = k_max, where the draft ends by itself (max_draft_len,
  a drafted EOS, or no room) and continuing verifies it whole with k drafting steps;

with k_max(j) = min(max_draft_len, chain length at j, budget - j - 1) (`BlockRules.k_max`; every block rule is
`ebsd_env.envs.block_rules`), plus, where the clock charges the
policy's decisions (`decide_s` seconds each), one decision per drafting step and one for the stop: (drafting
steps + 1) * decide_s. Maximising N / T is Dinkelbach's
fractional programme max_plan N / T; its inner problem min_plan T - λ N is a shortest path over positions.
Under greedy decoding N is the same for every plan (the output is y), so λ drops out and one backward pass,
T*(j) = min_k cost(j, k) + T*(j + e(j, k)), T*(N) = 0, is exact: the first Dinkelbach iteration is the last.
No stopping policy can beat the plan on this clock; `oracle-dp` (in `policies.rules`) follows it through a
replay env, and `optimal_rate` reports it for shares.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..envs.block_rules import BlockRules, check_stop_mode, kept_many, verifier_takes_last
from ..timing.cost_model import CostModel
from .trace import Trace


@dataclass(frozen=True)
class Plan:
    """The optimal decode time of one trace and the draft length to verify at each block start."""

    time_s: float
    tokens: int
    k: np.ndarray  # k[j]: the draft length to verify when a block starts at position j
    k_max: np.ndarray  # k_max[j]: where a draft starting at j ends by itself

    @property
    def rate(self) -> float:
        return self.tokens / self.time_s if self.time_s > 0 else float("nan")


def optimal_plan(trace: Trace, costs: CostModel, max_draft_len: int, stop_mode: str = "include",
                 max_new_tokens: int | None = None, decide_s: float = 0.0) -> Plan:
    """The time-optimal plan for `trace` (see the module docstring); `max_new_tokens` defaults to the trace's
    budget and may only lower it; `decide_s`: the clock's seconds per decision (`Clock.decide_s`)."""
    check_stop_mode(stop_mode)
    budget = trace.budget if max_new_tokens is None else min(int(max_new_tokens), trace.budget)
    N = min(len(trace.output), budget)
    match = trace.match_lengths()
    chain_len = trace.chain_lengths()
    L = int(max_draft_len)
    rules = BlockRules(L, stop_mode)
    ks_all = np.arange(L + 1)
    vcost = np.asarray([costs.verify_cost(k + 1) for k in ks_all])
    best = np.zeros(N + 1)
    choice = np.full(N, -1, dtype=np.int64)
    limit = np.zeros(N, dtype=np.int64)
    d = costs.draft_s
    # A context-aware clock prices each block at its start's context (prompt + position), as the env does.
    prompt = len(trace.prompt_ids)
    aware = costs.context_aware
    one = np.asarray([costs.verify_cost(1, prompt + x) for x in range(N + 1)]) if aware else None
    for j in range(N - 1, -1, -1):
        if aware:
            vcost = np.asarray([costs.verify_cost(k + 1, prompt + j) for k in ks_all])
            d = costs.draft_cost(prompt + j)
        kmax = int(rules.k_max(budget - j, chain_len[j]))
        limit[j] = kmax
        ks = ks_all[: kmax + 1]
        drafted = rules.drafting_steps(ks, kmax)
        emitted = kept_many(ks, match[j], N - j)[1]
        nxt = j + emitted
        # The env verifies the last token of budget at once (k = 0) when a block leaves exactly one.
        tail = np.where((nxt < N) & verifier_takes_last(budget - nxt), one[np.minimum(nxt, N)] if aware else vcost[0],
                        0.0)
        nxt = np.where(tail > 0, nxt + 1, nxt)
        catch_up = np.where(drafted > 0, costs.catch_up_s, 0.0)
        total = drafted * d + catch_up + (drafted + 1) * decide_s + vcost[ks] + tail + best[nxt]
        i = int(np.argmin(total))
        best[j], choice[j] = total[i], ks[i]
    return Plan(time_s=float(best[0]), tokens=N, k=choice, k_max=limit)


def optimal_rate(traces, costs: CostModel, max_draft_len: int, stop_mode: str = "include",
                 max_new_tokens: int | None = None, decide_s: float = 0.0) -> float:
    """The objective (total tokens / total time) of the optimal plans over `traces`."""
    plans = [optimal_plan(t, costs, max_draft_len, stop_mode, max_new_tokens, decide_s) for t in traces]
    return sum(p.tokens for p in plans) / sum(p.time_s for p in plans)
