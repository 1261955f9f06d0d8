"""A step-by-step speculative decoder over a real drafter/verifier pair.

The decoder knows nothing of reinforcement learning. A caller (the environment, `generate`, a benchmark) drives it:

1. ``start(prompt)``: tokenize, prefill the verifier's KV cache with all prompt tokens but the last (the drafter
   prefills at its first draft step, so verifier-alone decoding never pays for it).
2. ``draft()``: the drafter proposes one token; its signals (entropy, top-1 probability, margin) are computed when
   read and charged to the block then (`DraftStep`).
3. ``verify()``: the verifier scores the whole draft in one forward pass; the longest acceptable prefix is kept,
   plus one correction (or bonus) token; both caches are rolled back past what was rejected.

Cache invariant: after every ``verify``, the verifier cache holds every committed token but the last one, so
the next verification feeds ``[last committed token] + draft`` and gets ``len(draft) + 1`` distributions.
The drafter cache holds a prefix of the committed tokens plus the draft; each draft step feeds whatever it
has not seen yet. Verifier-only decoding is ``verify()`` with an empty draft: the same code path and timers.
``discard_draft()`` drops the latest draft token before a verification (the "exclude" stop mode, which stops
*before* an uncertain token); its drafting time stays charged to the block. A draft ends at a drafted
end-of-sequence token (`draft_room` is then 0), as transformers and SVIP stop there. A whole block at a fixed
draft length is ``run_block(k)`` (`DraftState.run_block`): the one draft/verify driver of every fixed-k caller.

Vocabularies: the verifier's distribution is never truncated. A drafter with a smaller output layer gets its
logits padded with -inf (probability 0: never drafted), and committed tokens it cannot embed reach it as its
last id (what it is fed only shapes its proposals, never the output).

The drafter is driven through a strategy (`ebsd_env.decoding.drafting`: one class per kind of drafter, chosen by
`strategy_for(pair.drafter)`); the decoder never branches on the drafter's kind. A strategy that reads the
verifier's features (EAGLE-style) gets them from the decoder, which keeps the verifier's last hidden state of
every position in its cache.

Verification is greedy (``temperature == 0``: keep draft tokens while they equal the verifier's argmax) or
lossless rejection sampling (Leviathan et al. 2023, Chen et al. 2023); `ebsd_env.decoding.sampling` holds the
acceptance rule. The records the decoder reports and the state rules it shares with the replayed decoder are
`ebsd_env.decoding.protocol`'s.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import DynamicCache

from ..envs.block_rules import STOP_MODES  # noqa: F401 (re-exported)
from .drafting import rollback_cache, strategy_for
from .entropy import EntropyConfig
from .kv_cache import new_kv_cache
from .models import ModelPair

# What a decoder reports and the state it derives are the protocol's (live and replayed decoders share them);
# importing them from here keeps working.
from .protocol import (  # noqa: F401
    LOGPROB_FLOOR,
    TOP_LOGPROBS,
    DecoderError,
    DraftState,
    DraftStep,
    SequenceStats,
    VerifyResult,
    on_verifier_vocab,
    signal_sources,
    top_logprobs,
)
from .sampling import greedy_accepts, greedy_token, processed_probs, residual, sampled_accepts


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


class SpeculativeDecoder(DraftState):
    """Drafts with `pair.drafter`, verifies with `pair.verifier`, one sequence at a time.

    Args:
        pair: the loaded models and their shared tokenizer.
        temperature: 0 for greedy verification, > 0 for lossless rejection sampling at that temperature.
        top_p: nucleus filtering applied to both models' distributions when sampling (1.0 = off).
        entropy: which entropy each `DraftStep` reports.
        max_new_tokens: default token budget of a sequence.
        seed: seeds the sampler's generator (re-seed with `reseed`).
    """

    def __init__(self, pair: ModelPair, temperature: float = 0.0, top_p: float = 1.0,
                 entropy: EntropyConfig | None = None, max_new_tokens: int = 128, seed: int = 0):
        if not (temperature >= 0 and temperature < float("inf")):
            raise ValueError(f"temperature must be a finite number >= 0 (0 = greedy), got {temperature}")
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        self.pair = pair
        self.temperature = float(temperature)
        self.top_p = float(top_p)
        self.entropy = entropy or EntropyConfig()
        self.max_new_tokens = int(max_new_tokens)
        self.device = pair.device
        self.vocab_size = pair.vocab_size
        self.eos_ids = pair.eos_token_ids
        self.drafter = strategy_for(pair.drafter)
        self.reads_features = self.drafter.reads_verifier_features
        self.generator = torch.Generator(device="cpu")
        self.reseed(seed)
        self._started = False

    # ------------------------------------------------------------------ set-up
    def reseed(self, seed: int) -> None:
        self.generator.manual_seed(int(seed))

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def encode_prompt(self, prompt: str | Sequence[dict] | Sequence[int] | torch.Tensor) -> list[int]:
        """Token ids of a prompt: text as is, chat messages through the chat template, or ids."""
        tokenizer = self.pair.tokenizer
        if prompt is None or not isinstance(prompt, (str, Sequence, torch.Tensor)):
            raise ValueError(f"the prompt must be text, chat messages [{{'role': 'user', 'content': ...}}] or token "
                             f"ids, got {type(prompt).__name__}")
        if isinstance(prompt, torch.Tensor):
            ids = prompt.flatten().tolist()
        elif isinstance(prompt, str):
            ids = tokenizer.encode(prompt, add_special_tokens=True) if prompt.strip() else []
        elif len(prompt) > 0 and isinstance(prompt[0], dict):
            if not getattr(tokenizer, "chat_template", None):
                raise ValueError(f"{self.pair.verifier_name!r} has no chat template: pass the prompt as text")
            ids = tokenizer.apply_chat_template(list(prompt), add_generation_prompt=True, tokenize=True,
                                                return_dict=False)
        else:
            ids = [int(i) for i in prompt]
        if len(ids) == 0:
            raise ValueError("the prompt is empty: give at least one token of text")
        if any(i < 0 or i >= self.vocab_size for i in ids):
            raise ValueError(f"prompt ids must lie in [0, {self.vocab_size}) for this pair")
        if len(ids) >= self.pair.context_length:
            raise ValueError(
                f"the prompt has {len(ids)} tokens but the verifier's context window is "
                f"{self.pair.context_length}: shorten the prompt (leave room for new tokens)"
            )
        return ids

    def start(self, prompt, max_new_tokens: int | None = None) -> list[int]:
        """Begin a sequence: prefill both caches with the prompt (all but its last token)."""
        budget = self.max_new_tokens if max_new_tokens is None else int(max_new_tokens)
        if budget < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {budget}")
        ids = self.encode_prompt(prompt)
        self.tokens: list[int] = list(ids)  # committed: prompt + accepted output
        self.prompt_len = len(ids)
        self.budget = min(budget, self.pair.context_length - len(ids))
        self.draft_steps: list[DraftStep] = []
        self._draft_probs: list[torch.Tensor] = []  # drafter distribution q per draft token (sampling only)
        self._uniforms: list[float] = []  # acceptance draws of the current block, shared with `peek_accepts`
        self._discarded_steps: list[DraftStep] = []  # dropped by `discard_draft`: their time is still charged
        self.verifier_cache = new_kv_cache(self.device)
        hidden = self.pair.verifier.config.get_text_config().hidden_size
        # For a drafter that reads features: the verifier's feature of every position in its cache.
        self._features = torch.zeros(0, hidden, device=self.device)
        self.finished = False
        self.stats = SequenceStats(prompt_tokens=len(ids))
        self.signal_s = 0.0
        self._started = True
        t0 = time.perf_counter()
        self._drafter_started = False  # the drafter prefills at the first draft: verifier-alone decoding never pays
        if len(ids) > 1:
            prefix = torch.tensor([ids[:-1]], device=self.device)
            with torch.inference_mode():
                hidden = self._verifier_forward(prefix, 1)[1]
            if hidden is not None:
                self._features = hidden[0]
        _sync(self.device)
        self.stats.prefill_s = time.perf_counter() - t0
        return ids

    # ------------------------------------------------------------------ state (see `DraftState`)

    @property
    def drafter_started(self) -> bool:
        """Whether the drafter has prefilled this sequence (its first draft step does it, and pays for it)."""
        return self._drafter_started

    @property
    def drafter_cache(self) -> DynamicCache | None:
        """The drafter strategy's KV cache (None before its first draft, and for a drafter without one)."""
        return getattr(self.drafter, "cache", None) if self._drafter_started else None

    def _process(self, logits: torch.Tensor) -> torch.Tensor:
        """Sampling distribution from logits: temperature, then top-p (both models get the same)."""
        return processed_probs(logits, self.temperature, self.top_p)

    def _sample(self, probs: torch.Tensor) -> int:
        return int(torch.multinomial(probs.cpu(), 1, generator=self.generator).item())

    def _uniform(self, index: int) -> float:
        while len(self._uniforms) <= index:
            self._uniforms.append(float(torch.rand((), generator=self.generator)))
        return self._uniforms[index]

    # ------------------------------------------------------------------ 1. draft
    def draft(self) -> DraftStep:
        """The drafter proposes one more token for the current block."""
        self._check_can_draft()
        t0 = time.perf_counter()
        with torch.inference_mode():
            if not self._drafter_started:  # charged to this draft step: only drafting policies need it
                self.drafter.start(torch.tensor([self.tokens[: self.prompt_len - 1]], device=self.device),
                                   self._previous_features, self._shared_cache())
                self._drafter_started = True
            logits = self.drafter.next_logits(self.tokens + self.draft_tokens, bool(self.draft_steps),
                                              self._previous_features)
        _sync(self.device)
        t_forward = time.perf_counter()
        logits = on_verifier_vocab(logits.float(), self.vocab_size)
        token, probs = self._choose_draft_token(logits)
        # The signals are computed when read (`DraftStep`), charged to this block's drafting time then.
        step = DraftStep(token, len(self.draft_steps) + 1, time_s=time.perf_counter() - t0, forward_s=t_forward - t0,
                         sources=signal_sources(logits, self.entropy, token, probs), charge=self._charge_signals)
        self.draft_steps.append(step)
        return step

    def _choose_draft_token(self, logits: torch.Tensor) -> tuple[int, torch.Tensor | None]:
        """(drafted token, the distribution it was drawn from): the greedy token (no distribution needed), else a
        draw from the processed distribution, kept for the acceptance test."""
        if self.greedy:
            return greedy_token(logits), None
        probs = self._process(logits)
        self._draft_probs.append(probs)
        return self._sample(probs), probs

    def _shared_cache(self) -> DynamicCache | None:
        """The verifier's cache, for a drafter that takes committed positions' keys and values from it."""
        return self.verifier_cache if self.drafter.reads_verifier_cache else None

    def _previous_features(self, start: int, stop: int) -> torch.Tensor:
        """[1, stop - start, H]: for tokens start..stop-1, the verifier's feature of the position before
        (zeros before the first token)."""
        rows = self._features[max(start - 1, 0): stop - 1]  # a view: no copy of the whole history per block
        if start == 0:
            rows = torch.cat([rows.new_zeros(1, rows.shape[-1]), rows])
        return rows.unsqueeze(0)

    def discard_draft(self) -> DraftStep:
        """Drop the latest draft token before verifying (stop mode "exclude": stop *before* the token whose
        signals were just read). Its drafting time stays charged to the block. The drafter cache needs no
        rollback: a draft token is fed to the drafter only when the next one is drafted."""
        self._check_running("discard_draft")
        if not self.draft_steps:
            raise DecoderError("there is no draft token to discard; draft() first")
        step = self.draft_steps.pop()
        if self._draft_probs:
            self._draft_probs.pop()
        self._discarded_steps.append(step)
        return step

    # ------------------------------------------------------------------ 2. verify
    def _verifier_forward(self, unseen: torch.Tensor, keep: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Verifier logits of the last `keep` positions of `unseen` (through the verifier cache) and, for a
        feature drafter, the features (final hidden states) of all of them."""
        verifier = self.pair.verifier
        if not self.reads_features:
            return verifier(input_ids=unseen, cache=self.verifier_cache, use_cache=True,
                            logits_to_keep=keep).logits, None
        hidden = verifier.get_decoder()(input_ids=unseen, cache=self.verifier_cache,
                                        use_cache=True).last_hidden_state
        return verifier.get_output_embeddings()(hidden[:, -keep:]), hidden

    def _verifier_logits(self, draft: list[int]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Verifier logits for the next token after each prefix of `draft` (len(draft) + 1 rows), and the
        features of those positions for a feature drafter."""
        cached = self.verifier_cache.get_seq_length()
        unseen = torch.tensor([(self.tokens + draft)[cached:]], device=self.device)
        with torch.inference_mode():
            logits, hidden = self._verifier_forward(unseen, len(draft) + 1)
        return logits[0, :, : self.vocab_size].float(), hidden

    def _accept(self, draft: list[int], logits: torch.Tensor) -> tuple[int, int]:
        """(number of draft tokens accepted, correction or bonus token)."""
        if self.greedy:
            return greedy_accepts(draft, logits)
        p = self._process(logits)
        accepted = sampled_accepts(draft, p, self._draft_probs, self._uniform)
        if accepted < len(draft):
            return accepted, self._sample(residual(p[accepted], self._draft_probs[accepted]))
        return len(draft), self._sample(p[len(draft)])

    def verify(self) -> VerifyResult:
        """Score the draft with one verifier pass; commit the accepted prefix plus one verifier token."""
        self._check_running("verify")
        draft = self.draft_tokens
        t0 = time.perf_counter()
        rollback_cache(self.verifier_cache, len(self.tokens) - 1)  # undo any privileged peek
        committed_before = len(self.tokens)
        cached = self.verifier_cache.get_seq_length()
        logits, hidden = self._verifier_logits(draft)
        _sync(self.device)
        t_forward = time.perf_counter()
        accepted, extra = self._accept(draft, logits)
        emitted = self._commit(draft[:accepted] + [extra])
        self._roll_back_past_rejected(committed_before, cached, hidden)
        verify_s = time.perf_counter() - t0
        return self._close_block(len(draft), accepted, emitted, verify_s, t_forward - t0)

    def _commit(self, proposed: list[int]) -> list[int]:
        """Append the accepted draft tokens and the verifier's token, cut at the token budget and after an
        end-of-sequence token; returns what was emitted."""
        emitted = proposed[: self.remaining]
        for cut, token in enumerate(emitted):
            if token in self.eos_ids:
                emitted = emitted[: cut + 1]
                break
        self.tokens.extend(emitted)
        self.finished = emitted[-1] in self.eos_ids or self.remaining <= 0
        return emitted

    def _roll_back_past_rejected(self, committed_before: int, cached: int, hidden: torch.Tensor | None) -> None:
        """Both caches (and the kept verifier features) back to the committed tokens (the cache invariant)."""
        rollback_cache(self.verifier_cache, len(self.tokens) - 1)
        if self.reads_features:  # keep the features of what the verifier cache keeps
            kept = self.verifier_cache.get_seq_length() - cached
            self._features = torch.cat([self._features[:cached], hidden[0, :kept]])
        if self._drafter_started:
            self.drafter.rollback(committed_before, len(self.tokens), self._shared_cache())

    def _close_block(self, drafted: int, accepted: int, emitted: list[int], verify_s: float,
                     forward_s: float) -> VerifyResult:
        """Add the block to the sequence's totals, clear the draft and report the block."""
        all_steps = self.draft_steps + self._discarded_steps
        draft_s = sum(step.time_s for step in all_steps)
        stats = self.stats
        stats.blocks += 1
        stats.drafted += drafted
        stats.accepted += accepted
        stats.discarded += len(self._discarded_steps)
        stats.new_tokens = len(self.new_tokens)
        stats.draft_s += draft_s
        stats.verify_s += verify_s
        stats.draft_forward_s += sum(step.forward_s for step in all_steps)
        stats.verify_forward_s += forward_s
        stats.draft_lengths.append(drafted)
        stats.accepted_lengths.append(accepted)
        discarded = len(self._discarded_steps)
        for step in all_steps:
            step.close()
        self.draft_steps = []
        self._draft_probs = []
        self._uniforms = []
        self._discarded_steps = []
        return VerifyResult(drafted=drafted, accepted=accepted, discarded=discarded, emitted=tuple(emitted),
                            draft_time_s=draft_s, verify_time_s=verify_s, forward_s=forward_s,
                            finished=self.finished)

    # ------------------------------------------------------------------ privileged
    def peek_accepts(self) -> int:
        """PRIVILEGED (oracle only): how many of the current draft tokens the verifier would accept.

        Runs the verifier on the draft ahead of time, outside every timer, and rolls its cache back, so the
        next `verify` does (and is charged for) the same work as without the peek. Under sampling the
        acceptance draws are made here and reused by `verify`, so the prediction is exact and lossless.
        """
        self._check_running("peek_accepts")
        draft = self.draft_tokens
        if not draft:
            return 0
        logits = self._verifier_logits(draft)[0]
        rollback_cache(self.verifier_cache, len(self.tokens) - 1)
        if self.greedy:
            return greedy_accepts(draft, logits)[0]
        return sampled_accepts(draft, self._process(logits), self._draft_probs, self._uniform)

    # ------------------------------------------------------------------ whole sequences
    def generate(self, prompt, k: int = 0, max_new_tokens: int | None = None) -> Generation:
        """Decode a whole sequence with fixed-length drafts: every block is one `run_block(k)` (the draft/verify
        driver: drafting until the draft ends by itself under the block rules with ``max_draft_len = k``, then
        verifying). ``k=0`` decodes with the verifier alone (no drafting) through the same verification step.

        Any other stop decision is a policy's (`policies`), taken through the env: ``run_episode(env, policy)``
        on an `EBSD-v1` env over this pair."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise ValueError(f"k must be an int >= 0 (draft tokens per block; 0 = the verifier alone), got {k!r}; "
                             "other stop rules are policies, run through the env (policies.rollout.run_episode)")
        t0 = time.perf_counter()
        self.start(prompt, max_new_tokens)
        while not self.finished:
            self.run_block(k)
        wall_s = time.perf_counter() - t0
        stats = self.stats.as_dict()
        stats["wall_s"] = wall_s
        stats["wall_tokens_per_s"] = stats["new_tokens"] / wall_s
        return Generation(prompt_ids=self.tokens[: self.prompt_len], token_ids=self.new_tokens,
                          text=self.pair.tokenizer.decode(self.new_tokens, skip_special_tokens=True), stats=stats)


@dataclass
class Generation:
    prompt_ids: list[int]
    token_ids: list[int]
    text: str
    stats: dict

