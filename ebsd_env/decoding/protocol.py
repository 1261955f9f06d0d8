"""The decoder protocol: what `EBSDEnv` needs from a decoder, live (`SpeculativeDecoder`) or replayed.

The env receives a decoder instead of building one, so the same env code (action resolution, observations,
rewards, stop modes, info) runs over live models and over recorded traces (`ebsd_env.replay.ReplayDecoder`):
the semantics cannot drift between the two. A decoder knows nothing of reinforcement learning: it drafts,
discards, verifies and reports measured times; the env prices them on its clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from .decoder import DraftStep, SequenceStats, VerifyResult


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
