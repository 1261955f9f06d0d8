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
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch

from ..envs.block_rules import BlockRules, draft_room
from ..envs.observation import LOGPROB_FLOOR, TOP_LOGPROBS


class DecoderError(RuntimeError):
    """The decoder was driven out of order (draft before start, verify after the end, ...)."""




def on_verifier_vocab(logits: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """A drafter's logits ([..., V_drafter]) over the verifier's vocabulary: never truncate the verifier, pad a
    smaller drafter with -inf (probability 0: never drafted)."""
    if logits.shape[-1] != vocab_size:
        logits = logits[..., :vocab_size]
        if logits.shape[-1] < vocab_size:
            pad = logits.new_full((*logits.shape[:-1], vocab_size - logits.shape[-1]), float("-inf"))
            logits = torch.cat([logits, pad], dim=-1)
    return logits


def top_logprobs(values: torch.Tensor) -> tuple[float, ...]:
    """The log of the top probabilities `values` (highest first), floored at LOGPROB_FLOOR."""
    return tuple(max(math.log(v), LOGPROB_FLOOR) if v > 0 else LOGPROB_FLOOR for v in values.tolist())


# A draft token's signals, in two groups computed separately on first read: the entropy (from the logits) and the
# probabilities (one softmax and top-k). A policy that reads only entropies pays only for them.
ENTROPY_SIGNALS = ("entropy",)
PROBABILITY_SIGNALS = ("top1_prob", "margin", "token_prob", "top_logprobs")
SIGNAL_GROUPS = {"entropy": ENTROPY_SIGNALS, "probabilities": PROBABILITY_SIGNALS}
_GROUP_OF = {name: group for group, names in SIGNAL_GROUPS.items() for name in names}


class DraftStep:
    """One drafted token and the drafter's signals about it.

    `entropy` (the configured measure, in nats), `top1_prob` (the drafter's most likely token), `margin` (top-1
    minus top-2 probability), `token_prob` (of the token it emitted) and `top_logprobs` (its TOP_LOGPROBS highest
    log-probabilities, highest first: Learning to Draft's observation) are given (a replay) or computed on first
    read from `sources` (a live decoder: `signal_sources`), a group at a time (`SIGNAL_GROUPS`), and cached. The
    seconds a read computes are added to `time_s` and `signal_s` and passed to `charge` (the decoder's drafting
    time of the current block): signals cost what they cost to whoever reads them. `close()` (the block was
    verified) stops the charging: a later read (a diagnostic) charges nobody.
    """

    __slots__ = ("token", "position", "time_s", "forward_s", "signal_s", "_values", "_sources", "_charge")

    def __init__(self, token: int, position: int, entropy: float | None = None, top1_prob: float | None = None,
                 margin: float | None = None, token_prob: float | None = None, time_s: float = 0.0,
                 forward_s: float = 0.0, top_logprobs: tuple[float, ...] = (), *,
                 sources: dict[str, Callable[[], dict]] | None = None, charge: Callable[[float], None] | None = None):
        self.token = token
        self.position = position  # 1-based index of this token in the current draft
        self.time_s = time_s  # whole step: forward pass, token choice, and the signals read so far
        self.forward_s = forward_s  # the drafter's forward pass alone
        self.signal_s = 0.0  # seconds spent computing signals on read
        self._sources = dict(sources or {})
        given = {"entropy": entropy, "top1_prob": top1_prob, "margin": margin, "token_prob": token_prob,
                 "top_logprobs": tuple(top_logprobs)}
        self._values = {name: value for name, value in given.items() if _GROUP_OF[name] not in self._sources}
        self._charge = charge

    def _signal(self, name: str):
        if name not in self._values:
            t0 = time.perf_counter()
            self._values.update(self._sources.pop(_GROUP_OF[name])())  # the logits go with the last source
            spent = time.perf_counter() - t0
            self.signal_s += spent
            self.time_s += spent
            if self._charge is not None:
                self._charge(spent)
        return self._values[name]

    entropy = property(lambda self: self._signal("entropy"))
    top1_prob = property(lambda self: self._signal("top1_prob"))
    margin = property(lambda self: self._signal("margin"))
    token_prob = property(lambda self: self._signal("token_prob"))
    top_logprobs = property(lambda self: self._signal("top_logprobs"))

    def computed(self, name: str) -> bool:
        """Whether signal `name` is known without computing it (given, or read before)."""
        return name in self._values

    def signals(self) -> dict:
        """Every signal by name (computing what was not read yet)."""
        return {name: self._signal(name) for name in _GROUP_OF}

    def close(self) -> None:
        """The block this step belongs to was verified: reads from now on charge nobody."""
        self._charge = None

    def __repr__(self) -> str:
        known = ", ".join(f"{name}={value!r}" for name, value in self._values.items())
        return f"DraftStep(token={self.token}, position={self.position}, time_s={self.time_s:.6f}, {known})"


def signal_sources(logits: torch.Tensor, entropy: Callable[[torch.Tensor], torch.Tensor], token: int,
                   probs: torch.Tensor | None = None) -> dict[str, Callable[[], dict]]:
    """How a live draft step computes its signals when read (`DraftStep`), by group."""
    source = SignalSource(logits, entropy, token, probs)
    return {"entropy": source.entropy_group, "probabilities": source.probability_group}


class SignalSource:
    """What a live draft step's signals are computed from: the drafter's logits over the verifier's vocabulary
    (the entropy), and `probs`, the distribution the token was drawn from when sampling, else the softmax of the
    logits (greedy: the probabilities). The decoder hands over tensors it no longer writes. A class, not closures,
    so that an env can be pickled mid-episode."""

    def __init__(self, logits: torch.Tensor, entropy: Callable[[torch.Tensor], torch.Tensor], token: int,
                 probs: torch.Tensor | None = None):
        self.logits, self.entropy, self.token, self.probs = logits, entropy, token, probs

    def entropy_group(self) -> dict:
        return {"entropy": float(self.entropy(self.logits))}

    def probability_group(self) -> dict:
        dist = torch.softmax(self.logits, dim=-1) if self.probs is None else self.probs
        top = dist.topk(TOP_LOGPROBS)
        top1, second = float(top.values[0]), float(top.values[1])
        return {"top1_prob": top1, "margin": top1 - second, "token_prob": float(dist[self.token]),
                "top_logprobs": top_logprobs(top.values)}


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

    # Seconds this sequence spent computing draft signals on read (`DraftStep`), charged to the blocks they were
    # read in; the env charges them on its clock (`EBSDEnv`). A replayed decoder computes none.
    signal_s: float = 0.0

    def _charge_signals(self, seconds: float) -> None:
        self.signal_s += seconds

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

    def run_block(self, k: int, on_draft: Callable[[DraftStep, float], None] | None = None,
                  on_verify: Callable[[VerifyResult, float], None] | None = None,
                  keep_draft: bool = True) -> VerifyResult:
        """The draft/verify driver: one whole block at a fixed draft length `k`, the block loop every caller that
        decides nothing per step shares (`generate`, calibration, the recorder, the bench).

        Drafts until the draft ends by itself under the block rules with ``max_draft_len = k``
        (`BlockRules.draft_ends`: at k tokens, at a drafted end-of-sequence token, or where the token budget
        leaves no room); k = 0 drafts nothing (the verifier alone). Then verifies: the draft, or with
        ``keep_draft=False`` nothing drafted, every draft token discarded first (the recorder's chains: the
        verifier alone commits one token). Hooks see each call as it returns, with the call's wall seconds
        (``perf_counter`` around it): ``on_draft(step, seconds)`` after each `draft()`, before the next (a signal
        read there is charged as the env charges it), ``on_verify(result, seconds)`` after `verify()`.

        The env cannot call this: its policy decides after each draft step, so it takes one step per transition
        (`EBSDEnv.step`), ending a draft by the same `BlockRules.draft_ends` (through `BlockRules.resolve`)."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise ValueError(f"k must be an int >= 0 (draft tokens per block; 0 = the verifier alone), got {k!r}")
        rules = BlockRules(max(k, 1))
        while k and not rules.draft_ends(len(self.draft_steps), self.draft_room):
            t0 = time.perf_counter()
            step = self.draft()
            seconds = time.perf_counter() - t0
            if on_draft is not None:
                on_draft(step, seconds)
        if not keep_draft:
            while self.draft_steps:
                self.discard_draft()
        t0 = time.perf_counter()
        result = self.verify()
        seconds = time.perf_counter() - t0
        if on_verify is not None:
            on_verify(result, seconds)
        return result

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
    signal_s: float  # seconds spent computing draft signals on read (`DraftStep`), over the sequence

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
