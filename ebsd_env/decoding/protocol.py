"""The decoder protocol: what `EBSDEnv` needs from a decoder, live (`SpeculativeDecoder`) or replayed.

The env receives a decoder instead of building one, so the same env code (action resolution, observations,
rewards, stop modes, info) runs over live models and over recorded traces (`ebsd_env.replay.ReplayDecoder`):
the semantics cannot drift between the two. A decoder knows nothing of reinforcement learning: it drafts,
discards, verifies and reports measured times; the env prices them on its clock.

Both kinds of decoder report in the records defined here (`DraftStep`, `VerifyResult`, `SequenceStats`) and
derive their read-only state from their tokens the same way (`DraftState`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch

from ..envs.block_rules import draft_room
from ..envs.observation import LOGPROB_FLOOR, TOP_LOGPROBS  # noqa: F401  (TOP_LOGPROBS re-exported)


class DecoderError(RuntimeError):
    """The decoder was driven out of order (draft before start, verify after the end, ...)."""




def top_logprobs(values: torch.Tensor) -> tuple[float, ...]:
    """The log of the top probabilities `values` (highest first), floored at LOGPROB_FLOOR."""
    return tuple(max(math.log(v), LOGPROB_FLOOR) if v > 0 else LOGPROB_FLOOR for v in values.tolist())


@dataclass(frozen=True)
class DraftStep:
    """One drafted token and the drafter's signals about it."""

    token: int
    position: int  # 1-based index of this token in the current draft
    entropy: float  # the configured entropy measure, in nats
    top1_prob: float  # probability of the drafter's most likely token
    margin: float  # top-1 minus top-2 probability
    token_prob: float  # drafter probability of the token it emitted
    time_s: float  # whole step: forward pass, signals, token choice
    forward_s: float  # the drafter's forward pass alone
    # Log-probabilities of the drafter's TOP_LOGPROBS most likely tokens, highest first (the observation of
    # "Learning to Draft"; `ebsd_env.envs.observation` option "ltd").
    top_logprobs: tuple[float, ...] = ()


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of one verification (one block)."""

    drafted: int  # draft tokens verified
    accepted: int  # draft tokens kept (0..drafted)
    discarded: int  # draft tokens dropped before the verification (their drafting time is in draft_time_s)
    emitted: tuple[int, ...]  # accepted draft tokens + correction/bonus, cut at EOS and the token budget
    draft_time_s: float  # time of this block's draft steps
    verify_time_s: float  # verification step: forward pass, acceptance, cache rollback (the drafter's too)
    forward_s: float  # the verifier's forward pass alone
    finished: bool


@dataclass
class SequenceStats:
    """Totals of one sequence, all in seconds and tokens.

    `verify_s` is everything a verification does after the draft: the verifier's forward pass, the acceptance
    test, and rolling both caches back past the rejected tokens. The drafter's part of that rollback is charged
    here, not to `draft_s`: for a quantized (int4 / int8) copy of the verifier it is a reload of the verifier's
    keys and values for the newly committed positions (`QuantizedCopyDraft.rollback`), paid by every block once
    the drafter has drafted, verifier-alone blocks (k = 0) included. The model clock's verification costs are
    calibrated from these times, so they include it as well.
    """

    prompt_tokens: int = 0
    new_tokens: int = 0
    blocks: int = 0
    drafted: int = 0
    accepted: int = 0
    discarded: int = 0  # draft tokens dropped before verification (stop mode "exclude")
    prefill_s: float = 0.0
    draft_s: float = 0.0
    verify_s: float = 0.0
    draft_forward_s: float = 0.0
    verify_forward_s: float = 0.0
    draft_lengths: list[int] = field(default_factory=list)
    accepted_lengths: list[int] = field(default_factory=list)

    @property
    def decode_s(self) -> float:
        """Drafting plus verification time: the work a stopping policy influences."""
        return self.draft_s + self.verify_s

    @property
    def total_s(self) -> float:
        return self.prefill_s + self.decode_s

    def as_dict(self) -> dict:
        forward = self.draft_forward_s + self.verify_forward_s
        return {
            "prompt_tokens": self.prompt_tokens,
            "new_tokens": self.new_tokens,
            "blocks": self.blocks,
            "drafted": self.drafted,
            "accepted": self.accepted,
            "discarded": self.discarded,
            "acceptance_rate": self.accepted / self.drafted if self.drafted else float("nan"),
            "mean_accepted_tokens": self.new_tokens / self.blocks if self.blocks else float("nan"),
            "mean_draft_len": self.drafted / self.blocks if self.blocks else 0.0,
            "prefill_s": self.prefill_s,
            "draft_s": self.draft_s,
            "verify_s": self.verify_s,
            "decode_s": self.decode_s,
            "total_s": self.total_s,
            "tokens_per_s": self.new_tokens / self.total_s if self.total_s else float("nan"),
            "decode_tokens_per_s": self.new_tokens / self.decode_s if self.decode_s else float("nan"),
            "outside_forward_share": 1.0 - forward / self.decode_s if self.decode_s else float("nan"),
            "draft_lengths": list(self.draft_lengths),
            "accepted_lengths": list(self.accepted_lengths),
        }


class DraftState:
    """The read-only state a decoder derives from its committed tokens and current draft, the same way live
    (`SpeculativeDecoder`) and replayed (`ebsd_env.replay.ReplayDecoder`). Subclasses hold `tokens`,
    `prompt_len`, `budget`, `draft_steps`, `eos_ids`, `finished`, `_started` and `_discarded_steps`."""

    @property
    def new_tokens(self) -> list[int]:
        return self.tokens[self.prompt_len:]

    @property
    def draft_tokens(self) -> list[int]:
        return [step.token for step in self.draft_steps]

    @property
    def remaining(self) -> int:
        """New tokens the sequence may still produce."""
        return self.budget - len(self.tokens) + self.prompt_len

    @property
    def draft_room(self) -> int:
        """How many more tokens are worth drafting (`ebsd_env.envs.block_rules.draft_room`)."""
        steps = self.draft_steps
        return draft_room(self.remaining, len(steps), bool(steps) and steps[-1].token in self.eos_ids)

    def _check_running(self, action: str) -> None:
        if not self._started:
            raise DecoderError(f"call start(prompt) before {action}()")
        if self.finished:
            raise DecoderError(f"the sequence has finished (EOS or token budget); call start() before {action}()")

    def _check_can_draft(self) -> None:
        """The checks before a draft step: a running sequence, room to draft, no discarded token pending."""
        self._check_running("draft")
        if self.draft_room == 0:
            raise DecoderError("no room to draft: the token budget or context is reached, or the draft ended in "
                               "an end-of-sequence token; call verify()")
        if self._discarded_steps:
            raise DecoderError("a draft token was discarded: verify() the block before drafting again")


@runtime_checkable
class Decoder(Protocol):
    """Step API and read-only state of a speculative decoder (see `ebsd_env.decoding.decoder` for the semantics)."""

    greedy: bool  # temperature 0: the output is the verifier's greedy text whatever the stopping policy
    eos_ids: set[int]
    tokens: list[int]  # committed tokens: prompt + output so far
    prompt_len: int
    draft_steps: list[DraftStep]  # the current draft, latest last
    finished: bool  # the sequence ended (EOS or token budget)
    stats: SequenceStats  # measured totals of the sequence (wall times)

    @property
    def new_tokens(self) -> list[int]: ...

    @property
    def draft_tokens(self) -> list[int]: ...

    @property
    def remaining(self) -> int: ...

    @property
    def draft_room(self) -> int: ...

    def reseed(self, seed: int) -> None: ...

    def start(self, prompt: Any, max_new_tokens: int | None = None) -> Sequence[int]: ...

    def draft(self) -> DraftStep: ...

    def discard_draft(self) -> DraftStep: ...

    def verify(self) -> VerifyResult: ...

    def peek_accepts(self) -> int: ...
