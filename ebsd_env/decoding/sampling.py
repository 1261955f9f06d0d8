"""Verification's acceptance rule: greedy prefix matching, or lossless speculative sampling.

Greedy (``temperature == 0``): keep draft tokens while they equal the verifier's argmax, then add the verifier's
own token. Sampling (Leviathan et al. 2023, Chen et al. 2023): accept draft token x with probability
min(1, p(x)/q(x)), else resample from norm(max(0, p - q)); after a fully accepted draft, sample a bonus from p.
Both models' logits go through the same temperature / top-p processing (`processed_probs`), so the output
follows the verifier's processed distribution exactly. The decoder owns the random draws (its generator), so
these functions take them as callables.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from ..envs.observation import TOP_LOGPROBS

# The greedy draft token was first taken as index 0 of ``softmax(logits).topk(TOP_LOGPROBS)``. Softmax is monotone,
# so where the top logit leads the second by a clear margin (TIE_GAP relative: ~800 float32 roundings) that index is
# the top logit's, found without a softmax over the vocabulary. Near a tie the softmax can round distinct logits to
# equal probabilities and topk then picks among them: there the token is still taken the original way, so the choice
# is the same in every case (tests/test_decoder.py checks ties and near-ties).
TIE_GAP = 1e-4


def greedy_token(logits: torch.Tensor) -> int:
    """The drafter's greedy token from its logits ([V], float32), exactly as the softmax's top-k index 0."""
    top = logits.topk(2)
    first, second = top.values.tolist()
    if math.isfinite(first) and first - second >= TIE_GAP * max(1.0, abs(first)):
        return int(top.indices[0])
    return int(torch.softmax(logits, dim=-1).topk(TOP_LOGPROBS).indices[0])


def processed_probs(logits: torch.Tensor, temperature: float, top_p: float) -> torch.Tensor:
    """Sampling distribution from logits: temperature, then top-p (both models get the same)."""
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        # Keep the smallest prefix whose mass reaches top_p (the first token always stays).
        drop = (sorted_probs.cumsum(-1) - sorted_probs) >= top_p
        sorted_probs = sorted_probs.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
        probs = probs / probs.sum(-1, keepdim=True)
    return probs


def greedy_accepts(draft: Sequence[int], logits: torch.Tensor) -> tuple[int, int]:
    """(draft tokens equal to the verifier's argmax before the first that differs, the verifier's next token)."""
    targets = logits.argmax(-1).tolist()
    accepted = 0
    while accepted < len(draft) and draft[accepted] == targets[accepted]:
        accepted += 1
    return accepted, targets[accepted]


def sampled_accepts(draft: Sequence[int], p: torch.Tensor, draft_probs: Sequence[torch.Tensor],
                    uniform: Callable[[int], float]) -> int:
    """Draft tokens accepted by rejection sampling: token i stays while ``uniform(i) < p/q`` (drawn in order, up
    to the first rejection). `p` holds the verifier's processed rows, `draft_probs` the drafter's q per token."""
    for i, token in enumerate(draft):
        if not uniform(i) * float(draft_probs[i][token]) < float(p[i, token]):  # u < p/q without dividing by 0
            return i
    return len(draft)


def residual(p_row: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """What a rejected draft token is resampled from: norm(max(0, p - q))."""
    rest = (p_row - q).clamp_min(0.0)
    if float(rest.sum()) <= 0.0:  # p == q up to rounding: any draw from p is exact
        rest = p_row
    return rest / rest.sum()
