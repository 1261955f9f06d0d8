"""Entropy measures of next-token distributions, computed from logits.

Every function takes logits of shape ``(..., V)`` and returns a tensor of shape ``(...)`` in nats. They work
from ``log_softmax`` (no ``+ eps`` inside a logarithm), so they stay exact for peaked distributions and
for probabilities that underflow to zero. ``temperature`` divides the logits first, as sampling does.

- Shannon: ``H = -sum p log p``
- Rényi of order alpha: ``H_a = log(sum p^a) / (1 - a)``  (-> Shannon as a -> 1)
- Tsallis of index q: ``S_q = (1 - sum p^q) / (q - 1)``  (-> Shannon as q -> 1)
- top-k: Shannon entropy of the distribution renormalised over the k most likely tokens
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

ENTROPY_TYPES = ("shannon", "renyi", "tsallis", "topk")


def _log_probs(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0 for an entropy, got {temperature}")
    return torch.log_softmax(logits.float() / temperature, dim=-1)


def shannon(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    log_p = _log_probs(logits, temperature)
    # xlogy-style product: exp(-inf) * -inf would be nan, so zero-probability terms are dropped.
    p = log_p.exp()
    return -torch.where(p > 0, p * log_p, torch.zeros_like(p)).sum(-1)


def renyi(logits: torch.Tensor, alpha: float = 2.0, temperature: float = 1.0) -> torch.Tensor:
    if alpha < 0:
        raise ValueError(f"Rényi order alpha must be >= 0, got {alpha}")
    if abs(alpha - 1.0) < 1e-6:
        return shannon(logits, temperature)
    log_p = _log_probs(logits, temperature)
    if math.isinf(alpha):
        return -log_p.max(-1).values
    return torch.logsumexp(alpha * log_p, dim=-1) / (1.0 - alpha)


def tsallis(logits: torch.Tensor, q: float = 2.0, temperature: float = 1.0) -> torch.Tensor:
    if q < 0:
        raise ValueError(f"Tsallis index q must be >= 0, got {q}")
    if abs(q - 1.0) < 1e-6:
        return shannon(logits, temperature)
    log_p = _log_probs(logits, temperature)
    # -expm1(log sum p^q) = 1 - sum p^q without cancellation near q = 1.
    return -torch.expm1(torch.logsumexp(q * log_p, dim=-1)) / (q - 1.0)


def topk(logits: torch.Tensor, k: int = 10, temperature: float = 1.0) -> torch.Tensor:
    if k < 1:
        raise ValueError(f"top-k entropy needs k >= 1, got {k}")
    k = min(k, logits.shape[-1])
    return shannon(logits.float().topk(k, dim=-1).values, temperature)


def max_entropy(measure: str, vocab_size: int, param: float | None = None) -> float:
    """Largest value a measure reaches over ``vocab_size`` tokens (the uniform distribution)."""
    if measure == "topk":
        return math.log(min(int(param or 10), vocab_size))
    if measure == "tsallis":
        q = 2.0 if param is None else param
        if abs(q - 1.0) < 1e-6:
            return math.log(vocab_size)
        return (1.0 - vocab_size ** (1.0 - q)) / (q - 1.0)
    return math.log(vocab_size)  # Shannon and every Rényi order: log|V|


@dataclass(frozen=True)
class EntropyConfig:
    """Which entropy the decoder reports for each drafted token.

    ``param`` is Rényi's alpha, Tsallis's q or top-k's k (defaults 2, 2 and 10); Shannon ignores it.
    """

    measure: str = "shannon"
    param: float | None = None
    temperature: float = 1.0

    def __post_init__(self):
        if self.measure not in ENTROPY_TYPES:
            raise ValueError(f"unknown entropy type {self.measure!r}; valid: {', '.join(ENTROPY_TYPES)}")
        if self.temperature <= 0:
            raise ValueError(f"entropy temperature must be > 0, got {self.temperature}")
        if self.param is not None and self.param < 0:
            raise ValueError(f"entropy parameter must be >= 0, got {self.param}")
        if self.measure == "topk" and self.param is not None and self.param < 1:
            raise ValueError(f"top-k entropy needs k >= 1, got {self.param}")

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        t = self.temperature
        if self.measure == "shannon":
            return shannon(logits, t)
        if self.measure == "renyi":
            return renyi(logits, 2.0 if self.param is None else self.param, t)
        if self.measure == "tsallis":
            return tsallis(logits, 2.0 if self.param is None else self.param, t)
        return topk(logits, int(self.param or 10), t)

    def max_value(self, vocab_size: int) -> float:
        return max_entropy(self.measure, vocab_size, self.param)
