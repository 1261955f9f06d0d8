"""Several drafters on one verifier: `load_pair(drafter="int4+feature+ngram")` and `MultiDraftDecoder`.

A ``+``-joined drafter spelling loads one verifier and every named drafter (each as `load_pair` would alone) into
one `ModelPair` whose ``drafter`` is a `MultiDrafter` (`ebsd_env.decoding.drafting`): the drafters in the order
given, with their names. (``--drafters`` elsewhere means drafters *side by side*, one pair each; ``+`` means one
pair that switches.)

`MultiDraftDecoder` is `SpeculativeDecoder` with ``select(i)`` at a block start: the block is drafted by drafter
i's strategy, then verified as always, so the output is the verifier's whatever the switching sequence (the
drafters only propose). Each strategy keeps its own state over the verifier's caches:

- an LM or feature drafter's cache holds committed tokens only (its own rollback runs after each of its blocks);
  when it drafts again, its first ``next_logits`` feeds the tokens committed meanwhile (with the verifier's
  true features, for the feature drafter): that catch-up is inside the draft step's timer;
- a drafter that reads the verifier's cache (int4, int8) loads the positions committed meanwhile from it at its
  next first draft step (`_catch_up`), also inside that step's timer, exactly as its own rollback would have;
- prompt lookup (ngram) has no state.

So no switch costs anything hidden: what a drafter must catch up on is charged to its next draft step. When any
drafter reads the verifier's features, every verification keeps them (the feature drafter may be picked later),
as a single-drafter decoder with that drafter does.
"""

from __future__ import annotations

import time

import torch
from torch import nn

from .decoder import DecoderError, DraftStep, SpeculativeDecoder, _sync
from .drafting import SEPARATOR, DraftStrategy, MultiDrafter, parse_drafters, strategy_for  # noqa: F401
from .entropy import EntropyConfig
from .models import ModelPair
from .sampling import greedy_token


def is_multi(pair: ModelPair) -> bool:
    return isinstance(pair.drafter, MultiDrafter)


def multi_pair(verifier_pair: ModelPair, drafters: list[nn.Module], names: list[str]) -> ModelPair:
    """A multi-drafter pair from loaded drafters and a pair holding the verifier (tests build tiny ones so)."""
    return ModelPair(MultiDrafter(drafters, names), verifier_pair.verifier, verifier_pair.tokenizer,
                     SEPARATOR.join(names), verifier_pair.verifier_name, metadata=dict(verifier_pair.metadata))


def sub_pairs(pair: ModelPair) -> list[ModelPair]:
    """One ordinary pair per drafter of a multi-drafter pair, sharing its verifier (for calibration, recording)."""
    if not is_multi(pair):
        raise ValueError(f"{pair.drafter_name!r} is a single drafter: sub_pairs takes a '+'-joined pair")
    pairs = []
    for drafter, name in zip(pair.drafter.drafters, pair.drafter.names, strict=True):
        metadata = {key: value for key, value in pair.metadata.items() if key != "drafter_kernels"}
        if name in pair.metadata.get("drafter_kernels", {}):  # this drafter's own kernels, as if loaded alone
            metadata["kernels"] = {**metadata.get("kernels", {}), "drafter": pair.metadata["drafter_kernels"][name]}
        pairs.append(ModelPair(drafter, pair.verifier, pair.tokenizer, name, pair.verifier_name, metadata=metadata))
    return pairs


class MultiDraftDecoder(SpeculativeDecoder):
    """`SpeculativeDecoder` over a multi-drafter pair: ``select(i)`` at a block start picks the drafter of the
    block (default: drafter 0, then whichever was selected last); ``draft`` / ``discard_draft`` / ``verify`` as
    always. Arguments as `SpeculativeDecoder`'s."""

    def __init__(self, pair: ModelPair, temperature: float = 0.0, top_p: float = 1.0,
                 entropy: EntropyConfig | None = None, max_new_tokens: int = 128, seed: int = 0):
        if not is_multi(pair):
            raise ValueError(f"MultiDraftDecoder needs a '+'-joined drafter pair (e.g. drafter='int4+ngram'), got "
                             f"{pair.drafter_name!r}: use SpeculativeDecoder for one drafter")
        # Before the base __init__, which reads `self.drafter` (the selected strategy).
        self.strategies: list[DraftStrategy] = [strategy_for(d) for d in pair.drafter.drafters]
        self.current = 0
        self._started_flags = [False] * len(self.strategies)
        super().__init__(sub_pairs(pair)[0], temperature, top_p, entropy, max_new_tokens, seed)  # checks arguments
        self.pair = pair
        self.drafter_names = list(pair.drafter.names)
        self.reads_features = any(s.reads_verifier_features for s in self.strategies)
        self._synced = [0] * len(self.strategies)  # committed tokens when each strategy was last brought up to date

    @property
    def n_drafters(self) -> int:
        return len(self.strategies)

    # The base class drives `self.drafter` and `self._drafter_started`: both are the selected drafter's.
    @property
    def drafter(self) -> DraftStrategy:
        return self.strategies[self.current]

    @drafter.setter
    def drafter(self, value) -> None:  # the base __init__ sets its single strategy: replaced by `strategies`
        pass

    @property
    def _drafter_started(self) -> bool:
        return self._started_flags[self.current]

    @_drafter_started.setter
    def _drafter_started(self, value: bool) -> None:
        self._started_flags[self.current] = bool(value)

    def start(self, prompt, max_new_tokens: int | None = None) -> list[int]:
        ids = super().start(prompt, max_new_tokens)
        self._started_flags = [False] * len(self.strategies)
        self._synced = [0] * len(self.strategies)
        self.current = 0
        return ids

    def select(self, index: int) -> None:
        """Draft the next block with drafter `index` (only at a block start: no draft token pending)."""
        if not isinstance(index, int) or not 0 <= index < len(self.strategies):
            raise ValueError(f"drafter index must be an int in [0, {len(self.strategies)}) "
                             f"({', '.join(self.drafter_names)}), got {index!r}")
        if self.draft_steps or self._discarded_steps:
            raise DecoderError("select() a drafter at a block start: verify() the current draft first")
        self.current = index

    def draft(self) -> DraftStep:
        self._check_can_draft()
        catch_up_s = 0.0
        if not self.draft_steps and self._drafter_started and self._synced[self.current] < len(self.tokens):
            t0 = time.perf_counter()
            with torch.inference_mode():
                self._catch_up()
            _sync(self.device)
            catch_up_s = time.perf_counter() - t0
        step = super().draft()
        self._synced[self.current] = len(self.tokens)
        if catch_up_s:  # charged to this draft step, the work it was done for
            step.time_s += catch_up_s
            step.forward_s += catch_up_s
        return step

    def _catch_up(self) -> None:
        """Bring the selected strategy up to the committed tokens, as its own rollback after the blocks it missed
        would have (a cache reader loads the verifier's positions; the others crop nothing and catch up in
        `next_logits`)."""
        committed = len(self.tokens)
        self.drafter.rollback(committed, committed, self._shared_cache())

    def proposal(self, drafter: int, start: int, k: int) -> list[int] | None:
        """The first `k` tokens drafter `drafter` would propose greedily at output position `start`, if that needs
        no model: prompt lookup (ngram) reads only the tokens, so it is replayed here over the committed ones
        (the caller's time, outside every drafting timer); None for a model drafter, whose proposal would take k
        forward passes and a cache of its own at `start`."""
        strategy = self.strategies[drafter]
        if strategy.kind != "ngram":
            return None
        sequence = list(self.tokens[: self.prompt_len + start])
        proposed: list[int] = []
        for i in range(k):  # as `draft` picks a greedy token (ties broken the same way)
            logits = strategy.next_logits(sequence + proposed, i > 0)
            proposed.append(greedy_token(logits.float()))
        return proposed

    def verify(self):
        result = super().verify()
        if self._drafter_started:
            self._synced[self.current] = len(self.tokens)
        return result
