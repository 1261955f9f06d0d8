"""The observation layout shared by the environment (which writes observations) and policies (which read them).

One flat float32 vector, all entries in [0, 1]:

| index                 | meaning                                                               |
|-----------------------|-----------------------------------------------------------------------|
| 0 .. h-1              | last h entropies of the current draft / entropy_scale, oldest first; |
|                       | missing entries (draft shorter than h) hold `PAD_VALUE`              |
| h .. 2h-1             | mask: 1 where the entropy entry is real, 0 where it is padding        |
| 2h                    | position in the draft: tokens drafted so far / max_draft_len          |
| 2h+1 (extra signals)  | drafter top-1 probability of the latest token                         |
| 2h+2 (extra signals)  | drafter top-1 minus top-2 probability                                 |
| 2h+3 (extra signals)  | tokens emitted by the previous block / (max_draft_len + 1)            |
| 2h+4 (extra signals)  | tokens generated so far / max_new_tokens                              |
| 2h+5 (extra signals)  | drafter probability of the latest token it emitted (= top-1 greedy)   |
| 2h+6 (extra signals)  | acceptance of the previous block: accepted / verified draft tokens    |
|                       | (0 before the first block and after a block that verified no draft)  |

Token signals (entropies, top-1, margin, token probability) are 0 at position 0: an empty draft, which the env
shows at the start of each block when `min_draft_len` is 0 (the policy may then verify without drafting).

Entropies are divided by ``entropy_scale`` (the measure's maximum over the vocabulary, log|V| for Shannon) and
clipped to [0, 1]. Policies whose thresholds are in nats convert with `ObservationLayout.entropies_nats`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PAD_VALUE = 0.0
EXTRA_SIGNALS = ("top1_prob", "margin", "prev_emitted", "generated", "token_prob", "prev_acceptance")


@dataclass(frozen=True)
class ObservationView:
    """An observation decoded back into named fields (entropies in nats, most recent last)."""

    entropies: np.ndarray
    position: int
    top1_prob: float | None = None
    margin: float | None = None
    prev_emitted: int | None = None
    generated: int | None = None
    token_prob: float | None = None
    prev_acceptance: float | None = None


@dataclass(frozen=True)
class ObservationLayout:
    history: int
    max_draft_len: int
    max_new_tokens: int
    entropy_scale: float
    extra_signals: bool = False

    def __post_init__(self):
        if self.history < 1:
            raise ValueError(f"history must be >= 1, got {self.history}")
        if self.entropy_scale <= 0:
            raise ValueError(f"entropy_scale must be > 0, got {self.entropy_scale}")

    @property
    def size(self) -> int:
        return 2 * self.history + 1 + (len(EXTRA_SIGNALS) if self.extra_signals else 0)

    def encode(self, entropies: list[float], position: int, top1_prob: float = 0.0, margin: float = 0.0,
               prev_emitted: int = 0, generated: int = 0, token_prob: float = 0.0,
               prev_acceptance: float = 0.0) -> np.ndarray:
        h = self.history
        obs = np.full(self.size, PAD_VALUE, dtype=np.float32)
        recent = np.asarray(entropies[-h:], dtype=np.float64) / self.entropy_scale
        n = len(recent)
        if n:
            obs[h - n: h] = np.clip(recent, 0.0, 1.0)
            obs[2 * h - n: 2 * h] = 1.0
        obs[2 * h] = min(position / self.max_draft_len, 1.0)
        if self.extra_signals:
            obs[2 * h + 1] = np.clip(top1_prob, 0.0, 1.0)
            obs[2 * h + 2] = np.clip(margin, 0.0, 1.0)
            obs[2 * h + 3] = min(prev_emitted / (self.max_draft_len + 1), 1.0)
            obs[2 * h + 4] = min(generated / self.max_new_tokens, 1.0)
            obs[2 * h + 5] = np.clip(token_prob, 0.0, 1.0)
            obs[2 * h + 6] = np.clip(prev_acceptance, 0.0, 1.0)
        return obs

    def decode(self, obs: np.ndarray) -> ObservationView:
        obs = np.asarray(obs, dtype=np.float64).reshape(-1)
        if obs.shape[0] != self.size:
            raise ValueError(f"observation has {obs.shape[0]} entries, this layout expects {self.size}")
        h = self.history
        mask = obs[h: 2 * h] > 0.5
        view = dict(entropies=obs[:h][mask] * self.entropy_scale,
                    position=int(round(obs[2 * h] * self.max_draft_len)))
        if self.extra_signals:
            view.update(top1_prob=float(obs[2 * h + 1]), margin=float(obs[2 * h + 2]),
                        prev_emitted=int(round(obs[2 * h + 3] * (self.max_draft_len + 1))),
                        generated=int(round(obs[2 * h + 4] * self.max_new_tokens)),
                        token_prob=float(obs[2 * h + 5]), prev_acceptance=float(obs[2 * h + 6]))
        return ObservationView(**view)

    def entropies_nats(self, obs: np.ndarray) -> np.ndarray:
        return self.decode(obs).entropies
