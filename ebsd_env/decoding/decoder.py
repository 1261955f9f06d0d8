"""A step-by-step speculative decoder over a real drafter/verifier pair.

The decoder knows nothing of reinforcement learning. A caller (the environment, `generate`, a benchmark) drives it:

1. ``start(prompt)``: tokenize, prefill the verifier's KV cache with all prompt tokens but the last (the drafter
   prefills at its first draft step, so verifier-alone decoding never pays for it).
2. ``draft()``: the drafter proposes one token and reports its signals (entropy, top-1 probability, margin, time).
3. ``verify()``: the verifier scores the whole draft in one forward pass; the longest acceptable prefix is kept,
   plus one correction (or bonus) token; both caches are rolled back past what was rejected.

Cache invariant: after every ``verify``, the verifier cache holds every committed token but the last one, so
the next verification feeds ``[last committed token] + draft`` and gets ``len(draft) + 1`` distributions.
The drafter cache holds a prefix of the committed tokens plus the draft; each draft step feeds whatever it
has not seen yet. Verifier-only decoding is ``verify()`` with an empty draft: the same code path and timers.
``discard_draft()`` drops the latest draft token before a verification (the "exclude" stop mode, which stops
*before* an uncertain token); its drafting time stays charged to the block. A draft ends at a drafted
end-of-sequence token (`draft_room` is then 0), as transformers and SVIP stop there.

Vocabularies: the verifier's distribution is never truncated. A drafter with a smaller output layer gets its
logits padded with -inf (probability 0: never drafted), and committed tokens it cannot embed reach it as its
last id (what it is fed only shapes its proposals, never the output).

The drafter is driven through a strategy (`ebsd_env.decoding.drafting`: one class per kind of drafter, chosen by
`strategy_for(pair.drafter)`); the decoder never branches on the drafter's kind. A strategy that reads the
verifier's features (EAGLE-style) gets them from the decoder, which keeps the verifier's last hidden state of
every position in its cache.

Verification is greedy (``temperature == 0``: keep draft tokens while they equal the verifier's argmax) or
lossless rejection sampling (Leviathan et al. 2023, Chen et al. 2023): accept token x with probability
min(1, p(x)/q(x)), else resample from norm(max(0, p - q)); after a fully accepted draft, sample a bonus from p.
Both models' logits go through the same temperature / top-p processing, so the output follows the verifier's
processed distribution exactly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from transformers import DynamicCache

from .constants import LOGPROB_FLOOR, STOP_MODES, TOP_LOGPROBS  # noqa: F401  (re-exported: defined here before)
from .drafting import rollback_cache, strategy_for
from .entropy import EntropyConfig
from .models import ModelPair


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
    verify_time_s: float  # verification step: forward pass, acceptance, cache rollback
    forward_s: float  # the verifier's forward pass alone
    finished: bool


@dataclass
class SequenceStats:
    """Totals of one sequence, all in seconds and tokens."""

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


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


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
        """How many more tokens are worth drafting: a block emits at most len(draft) + 1 tokens, and nothing
        follows a drafted end-of-sequence token."""
        steps = self.draft_steps
        if steps and steps[-1].token in self.eos_ids:
            return 0
        return max(0, self.remaining - 1 - len(steps))

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
        self.verifier_cache = DynamicCache()
        hidden = self.pair.verifier.config.get_text_config().hidden_size
        # For a drafter that reads features: the verifier's feature of every position in its cache.
        self._features = torch.zeros(0, hidden, device=self.device)
        self.finished = False
        self.stats = SequenceStats(prompt_tokens=len(ids))
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
    def drafter_cache(self) -> DynamicCache | None:
        """The drafter strategy's KV cache (None before its first draft, and for a drafter without one)."""
        return getattr(self.drafter, "cache", None) if self._drafter_started else None

    def _process(self, logits: torch.Tensor) -> torch.Tensor:
        """Sampling distribution from logits: temperature, then top-p (both models get the same)."""
        probs = torch.softmax(logits.float() / self.temperature, dim=-1)
        if self.top_p < 1.0:
            sorted_probs, order = probs.sort(dim=-1, descending=True)
            # Keep the smallest prefix whose mass reaches top_p (the first token always stays).
            drop = (sorted_probs.cumsum(-1) - sorted_probs) >= self.top_p
            sorted_probs = sorted_probs.masked_fill(drop, 0.0)
            probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
            probs = probs / probs.sum(-1, keepdim=True)
        return probs

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
        logits = logits.float()
        if logits.shape[-1] != self.vocab_size:  # never truncate the verifier: pad a smaller drafter with -inf
            logits = logits[: self.vocab_size]
            if logits.shape[-1] < self.vocab_size:
                logits = torch.cat([logits, logits.new_full((self.vocab_size - logits.shape[-1],), float("-inf"))])
        entropy = float(self.entropy(logits))
        if self.greedy:
            probs = torch.softmax(logits, dim=-1)
            top = probs.topk(TOP_LOGPROBS)
            token = int(top.indices[0])
        else:
            probs = self._process(logits)
            self._draft_probs.append(probs)
            top = probs.topk(TOP_LOGPROBS)
            token = self._sample(probs)
        top1, second = float(top.values[0]), float(top.values[1])
        step = DraftStep(token=token, position=len(self.draft_steps) + 1, entropy=entropy, top1_prob=top1,
                         margin=top1 - second, token_prob=float(probs[token]),
                         time_s=time.perf_counter() - t0, forward_s=t_forward - t0,
                         top_logprobs=top_logprobs(top.values))
        self.draft_steps.append(step)
        return step

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
            targets = logits.argmax(-1).tolist()
            accepted = 0
            while accepted < len(draft) and draft[accepted] == targets[accepted]:
                accepted += 1
            return accepted, targets[accepted]
        p = self._process(logits)
        for i, token in enumerate(draft):
            q = self._draft_probs[i]
            if self._uniform(i) * float(q[token]) < float(p[i, token]):  # u < p/q without dividing by 0
                continue
            residual = (p[i] - q).clamp_min(0.0)
            if float(residual.sum()) <= 0.0:  # p == q up to rounding: any draw from p is exact
                residual = p[i]
            return i, self._sample(residual / residual.sum())
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
        emitted = (draft[:accepted] + [extra])[: self.remaining]
        for cut, token in enumerate(emitted):
            if token in self.eos_ids:
                emitted = emitted[: cut + 1]
                break
        self.tokens.extend(emitted)
        self.finished = emitted[-1] in self.eos_ids or self.remaining <= 0
        rollback_cache(self.verifier_cache, len(self.tokens) - 1)
        if self.reads_features:  # keep the features of what the verifier cache keeps
            kept = self.verifier_cache.get_seq_length() - cached
            self._features = torch.cat([self._features[:cached], hidden[0, :kept]])
        if self._drafter_started:
            self.drafter.rollback(committed_before, len(self.tokens), self._shared_cache())
        verify_s = time.perf_counter() - t0

        all_steps = self.draft_steps + self._discarded_steps
        draft_s = sum(step.time_s for step in all_steps)
        stats = self.stats
        stats.blocks += 1
        stats.drafted += len(draft)
        stats.accepted += accepted
        stats.discarded += len(self._discarded_steps)
        stats.new_tokens = len(self.new_tokens)
        stats.draft_s += draft_s
        stats.verify_s += verify_s
        stats.draft_forward_s += sum(step.forward_s for step in all_steps)
        stats.verify_forward_s += t_forward - t0
        stats.draft_lengths.append(len(draft))
        stats.accepted_lengths.append(accepted)
        discarded = len(self._discarded_steps)
        self.draft_steps = []
        self._draft_probs = []
        self._uniforms = []
        self._discarded_steps = []
        return VerifyResult(drafted=len(draft), accepted=accepted, discarded=discarded, emitted=tuple(emitted),
                            draft_time_s=draft_s, verify_time_s=verify_s, forward_s=t_forward - t0,
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
            return self._accept(draft, logits)[0]
        p = self._process(logits)
        for i, token in enumerate(draft):
            if not self._uniform(i) * float(self._draft_probs[i][token]) < float(p[i, token]):
                return i
        return len(draft)

    # ------------------------------------------------------------------ whole sequences
    def generate(self, prompt, stop: Callable[[list[DraftStep]], bool] | None = None, max_draft_len: int = 8,
                 max_new_tokens: int | None = None, stop_mode: str = "include") -> Generation:
        """Decode a whole sequence. After each draft token, `stop(draft_steps)` returns True to end the draft:
        with ``stop_mode="include"`` the draft is verified with that token, with ``"exclude"`` without it (it is
        discarded; stopping at the first token verifies an empty draft). ``stop=None`` decodes with the verifier
        alone (no drafting) through the same verification step."""
        if max_draft_len < 1:
            raise ValueError(f"max_draft_len must be >= 1, got {max_draft_len}")
        if stop_mode not in STOP_MODES:
            raise ValueError(f"stop_mode must be one of {', '.join(STOP_MODES)}, got {stop_mode!r}")
        t0 = time.perf_counter()
        self.start(prompt, max_new_tokens)
        while not self.finished:
            if stop is not None:
                while self.draft_room > 0 and len(self.draft_steps) < max_draft_len:
                    self.draft()
                    if stop(self.draft_steps):
                        if stop_mode == "exclude":
                            self.discard_draft()
                        break
            self.verify()
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


def fixed_k(k: int) -> Callable[[list[DraftStep]], bool]:
    """Stop rule: draft exactly k tokens (fewer only where the budget ends)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return lambda steps: len(steps) >= k


def entropy_above(threshold: float) -> Callable[[list[DraftStep]], bool]:
    """Stop rule: end the draft after a token whose drafter entropy exceeds `threshold` nats. Entropy is never
    negative, so a negative threshold would stop after every token: refused, as fixed_k(1) says that plainly."""
    if not (isinstance(threshold, (int, float)) and math.isfinite(threshold) and threshold >= 0):
        raise ValueError(f"threshold must be a finite number of nats >= 0, got {threshold!r} (fixed_k(1) stops after "
                         "every token)")
    return lambda steps: steps[-1].entropy > threshold
