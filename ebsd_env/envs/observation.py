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

With ``observation="position"`` (no token signal: for a policy that reads none, whose env then computes none)
the first 2h entries are absent and the position is index 0 (extra signals are refused: three of them are token
signals). With ``observation="ltd"`` (Learning to Draft's observation, without entropies) the first 2h entries are
absent and every index above moves down by 2h; ``"ltd+entropy"`` keeps them. Either appends, after the rest:

| index (from the end)  | meaning                                                               |
|-----------------------|-----------------------------------------------------------------------|
| -(K+1) .. -2          | the drafter's K = TOP_LOGPROBS highest log-probabilities at the latest|
|                       | draft token, highest first, as 1 + logp / 30 (log-prob -30 or less: 0)|
| -1                    | context length: prompt + generated + drafted tokens / CONTEXT_SCALE   |

With ``cost_signals`` (an option, recorded in fingerprints: a policy trained with it reads the costs of the
machine and drafter it is bound to, so it can tell where speculation pays), after everything else:

| index (from the end)  | meaning                                                               |
|-----------------------|-----------------------------------------------------------------------|
| -5                    | draft cost ratio: one drafting step / one verification of one token   |
| -4                    | marginal verification cost of one more draft token at the current     |
|                       | draft length n: (verify(n + 2) - verify(n + 1)) / verify(1)            |
| -3                    | acceptance on this prompt: EMA (weight `ACCEPTANCE_EMA`) of accepted / |
|                       | drafted over the blocks that verified a draft; `ACCEPTANCE_PRIOR` first|
| -2                    | context length at the block's start / CONTEXT_SCALE                   |
| -1                    | the block's position in the output: tokens generated / max_new_tokens |

Costs come from the env's clock at the block's context (its cost model on the wall clock too), clipped to
[0, 1].

Token signals (entropies, top-1, margin, token probability, log-probabilities) are 0 at position 0: an empty
draft, which the env shows at the start of each block when `min_draft_len` is 0 (the policy may then verify
without drafting).

Entropies are divided by ``entropy_scale`` (the measure's maximum over the vocabulary, log|V| for Shannon) and
clipped to [0, 1]. Policies whose thresholds are in nats convert with `ObservationLayout.entropies_nats`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# What the decoder reports for the "ltd" observation (`DraftStep.top_logprobs`), defined here, torch-free, so that
# light modules (command configs, `--help`) can read the layout:
TOP_LOGPROBS = 4  # top log-probabilities each draft step reports
LOGPROB_FLOOR = -30.0  # log(0) is reported as this, so signals stay finite

# EBSD-Multi-v1 (`envs.multi`), here so that light modules (the multi-drafter policies) need no torch:
FIRST_DRAFTER = 2  # action 2 + i at a block start: draft this block with drafter i
MAX_SUFFIX = 8  # the prompt-lookup signal counts matching suffixes up to this many tokens

PAD_VALUE = 0.0
EXTRA_SIGNALS = ("top1_prob", "margin", "prev_emitted", "generated", "token_prob", "prev_acceptance")
# What the observation is built from: the entropy history (the default); Learning to Draft's top log-probabilities
# and context length (Zhang et al., ICLR 2026, `zhzihao/Learning-to-Draft`), whose authors found that adding
# entropy lowered their speedup; or both, to test that claim here; or no token signal at all ("position": the draft
# position and block features), for a policy that reads none: its env then computes none (signals are computed
# when read, and charged to whoever reads them).
OBSERVATIONS = ("entropy", "ltd", "ltd+entropy", "position")
CONTEXT_SCALE = 2048  # context lengths are divided by this (and clipped to 1)
COST_SIGNALS = ("draft_cost_ratio", "marginal_verify_cost", "acceptance_ema", "block_context", "output_position")
ACCEPTANCE_PRIOR = 0.5  # the acceptance estimate before a prompt's first verified draft
ACCEPTANCE_EMA = 0.3  # weight of the latest block in the running acceptance estimate


def update_acceptance(estimate, accepted, drafted):
    """The running acceptance estimate after a block (unchanged by a block that verified no draft); works on
    numbers and on numpy arrays alike, with the same arithmetic, so every env computes the same value."""
    return (1.0 - ACCEPTANCE_EMA) * estimate + ACCEPTANCE_EMA * (accepted / drafted)


def encode_logprobs(logprobs) -> np.ndarray:
    """Log-probabilities in [LOGPROB_FLOOR, 0] mapped to [0, 1] (1: probability 1)."""
    return np.clip(1.0 - np.asarray(logprobs, dtype=np.float64) / LOGPROB_FLOOR, 0.0, 1.0)


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
    top_logprobs: np.ndarray | None = None
    context_len: int | None = None
    draft_cost_ratio: float | None = None
    marginal_verify_cost: float | None = None
    acceptance_ema: float | None = None
    block_context: int | None = None
    output_position: float | None = None


@dataclass(frozen=True)
class ObservationLayout:
    history: int
    max_draft_len: int
    max_new_tokens: int
    entropy_scale: float
    extra_signals: bool = False
    observation: str = "entropy"
    cost_signals: bool = False

    def __post_init__(self):
        if self.history < 1:
            raise ValueError(f"history must be >= 1, got {self.history}")
        if self.entropy_scale <= 0:
            raise ValueError(f"entropy_scale must be > 0, got {self.entropy_scale}")
        if self.observation not in OBSERVATIONS:
            raise ValueError(f"observation must be one of {', '.join(OBSERVATIONS)}, got {self.observation!r}")
        if self.observation == "position" and self.extra_signals:
            raise ValueError("observation='position' shows no token signal, and extra_signals holds some (top-1 "
                             "probability, margin, token probability): use observation='entropy' for them")

    @property
    def has_entropy(self) -> bool:
        return self.observation in ("entropy", "ltd+entropy")

    @property
    def has_ltd(self) -> bool:
        return self.observation.startswith("ltd")

    @property
    def reads_token_signals(self) -> bool:
        """Whether an observation reads the latest draft token's signals (entropy, probabilities): every
        observation but ``"position"``. The env computes, and the clock charges, signals only for such layouts."""
        return self.has_entropy or self.has_ltd or self.extra_signals

    @property
    def position_index(self) -> int:
        """Index of the draft position; the entropy block (2h entries) comes before it when present."""
        return 2 * self.history if self.has_entropy else 0

    @property
    def ltd_index(self) -> int:
        """Index of the first top log-probability (the LTD block: K of them, then the context length)."""
        return self.position_index + 1 + (len(EXTRA_SIGNALS) if self.extra_signals else 0)

    @property
    def cost_index(self) -> int:
        """Index of the first cost signal (`COST_SIGNALS`, when `cost_signals`): after everything else."""
        return self.ltd_index + (TOP_LOGPROBS + 1 if self.has_ltd else 0)

    @property
    def size(self) -> int:
        return self.cost_index + (len(COST_SIGNALS) if self.cost_signals else 0)

    def encode(self, entropies: list[float], position: int, top1_prob: float = 0.0, margin: float = 0.0,
               prev_emitted: int = 0, generated: int = 0, token_prob: float = 0.0,
               prev_acceptance: float = 0.0, top_logprobs=(), context_len: int = 0,
               draft_cost_ratio: float = 0.0, marginal_verify_cost: float = 0.0,
               acceptance_ema: float = ACCEPTANCE_PRIOR, block_context: int = 0) -> np.ndarray:
        h = self.history
        obs = np.full(self.size, PAD_VALUE, dtype=np.float32)
        if self.has_entropy:
            recent = np.asarray(entropies[-h:], dtype=np.float64) / self.entropy_scale
            n = len(recent)
            if n:
                obs[h - n: h] = np.clip(recent, 0.0, 1.0)
                obs[2 * h - n: 2 * h] = 1.0
        p = self.position_index
        obs[p] = min(position / self.max_draft_len, 1.0)
        if self.extra_signals:
            obs[p + 1] = np.clip(top1_prob, 0.0, 1.0)
            obs[p + 2] = np.clip(margin, 0.0, 1.0)
            obs[p + 3] = min(prev_emitted / (self.max_draft_len + 1), 1.0)
            obs[p + 4] = min(generated / self.max_new_tokens, 1.0)
            obs[p + 5] = np.clip(token_prob, 0.0, 1.0)
            obs[p + 6] = np.clip(prev_acceptance, 0.0, 1.0)
        if self.has_ltd:
            q = self.ltd_index
            if len(top_logprobs):  # an empty draft has none: 0, as every token signal
                obs[q: q + TOP_LOGPROBS] = encode_logprobs(top_logprobs)
            obs[q + TOP_LOGPROBS] = min(context_len / CONTEXT_SCALE, 1.0)
        if self.cost_signals:
            c = self.cost_index
            obs[c] = np.clip(draft_cost_ratio, 0.0, 1.0)
            obs[c + 1] = np.clip(marginal_verify_cost, 0.0, 1.0)
            obs[c + 2] = np.clip(acceptance_ema, 0.0, 1.0)
            obs[c + 3] = min(block_context / CONTEXT_SCALE, 1.0)
            obs[c + 4] = min(generated / self.max_new_tokens, 1.0)
        return obs

    def decode(self, obs: np.ndarray) -> ObservationView:
        obs = np.asarray(obs, dtype=np.float64).reshape(-1)
        if obs.shape[0] != self.size:
            raise ValueError(f"observation has {obs.shape[0]} entries, this layout expects {self.size}")
        h, p = self.history, self.position_index
        if self.has_entropy:
            mask = obs[h: 2 * h] > 0.5
            entropies = obs[:h][mask] * self.entropy_scale
        else:
            entropies = None
        view = dict(entropies=entropies, position=int(round(obs[p] * self.max_draft_len)))
        if self.extra_signals:
            view.update(top1_prob=float(obs[p + 1]), margin=float(obs[p + 2]),
                        prev_emitted=int(round(obs[p + 3] * (self.max_draft_len + 1))),
                        generated=int(round(obs[p + 4] * self.max_new_tokens)),
                        token_prob=float(obs[p + 5]), prev_acceptance=float(obs[p + 6]))
        if self.has_ltd:
            q = self.ltd_index
            view.update(top_logprobs=(1.0 - obs[q: q + TOP_LOGPROBS]) * LOGPROB_FLOOR,
                        context_len=int(round(obs[q + TOP_LOGPROBS] * CONTEXT_SCALE)))
        if self.cost_signals:
            c = self.cost_index
            view.update(draft_cost_ratio=float(obs[c]), marginal_verify_cost=float(obs[c + 1]),
                        acceptance_ema=float(obs[c + 2]), block_context=int(round(obs[c + 3] * CONTEXT_SCALE)),
                        output_position=float(obs[c + 4]))
        return ObservationView(**view)

    def entropies_nats(self, obs: np.ndarray) -> np.ndarray:
        entropies = self.decode(obs).entropies
        if entropies is None:
            raise ValueError("this observation (observation='ltd') holds no entropies: make the env with "
                             "observation='entropy' or 'ltd+entropy' for a rule that reads them")
        return entropies
