"""Drafter strategies: one class per kind of drafter, behind the one protocol the decoder drives.

As transformers' candidate generators do for assisted generation, each kind of drafter is a class that knows
how to draft; the decoder never branches on what the drafter is. A strategy holds the drafter's per-sequence
state (its KV cache) and answers three calls:

- ``start(prefix, previous_features)``: a new sequence; prefill with the prompt's tokens but the last;
- ``next_logits(sequence, in_draft, previous_features)``: logits of the next token after `sequence` (the
  committed tokens plus the current draft), a 1-D tensor over the drafter's vocabulary;
- ``rollback(committed_before, committed)``: after a verification, drop what the drafter must not keep.

A strategy that ``reads_verifier_features`` (EAGLE-style) also gets the verifier's last hidden state of the
positions before each token it has not seen: ``previous_features(start, stop)`` returns them. A strategy that
``reads_verifier_cache`` (a quantized copy of the verifier, whose keys and values have the verifier's shapes)
gets the verifier's KV cache at ``start`` and ``rollback`` and takes the committed positions' keys and values
from it instead of computing them: it never prefills the prompt itself and drafts from the verifier's exact
context. Either way the output is the verifier's: the drafter only proposes.

Selection is explicit, as transformers picks a candidate generator class from the generation config: every
drafter model the loader builds names its strategy in a ``draft_strategy`` attribute (a model that names none is
a plain causal LM), and `strategy_for` looks that name up in `STRATEGIES`; an unknown name is an error, never a
fallback.

=========  ====================  ======================================================================
Several drafters on one verifier (``load_pair(drafter="int4+feature+ngram")``) load as a `MultiDrafter`, which
`ebsd_env.decoding.multi.MultiDraftDecoder` drives with one strategy per drafter, switched per block.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from transformers import DynamicCache, PretrainedConfig

from .kv_cache import new_kv_cache

FeatureSource = Callable[[int, int], torch.Tensor]


def rollback_cache(cache: DynamicCache, length: int) -> None:
    """Drop cached positions past `length` through the public `Cache.crop` (negative = tokens to remove)."""
    excess = cache.get_seq_length() - length
    if excess > 0:
        cache.crop(-excess)


class DraftStrategy:
    """Base of the strategies; `kind` names it, `model` is what drafts (a module, for devices and configs)."""

    kind = ""
    reads_verifier_features = False
    reads_verifier_cache = False

    def __init__(self, model: nn.Module):
        self.model = model
        self.vocab_size = int(model.config.get_text_config().vocab_size)
        tensor = next(iter(model.parameters()), None)
        if tensor is None:
            tensor = next(iter(model.buffers()), None)
        self.device = tensor.device if tensor is not None else torch.device("cpu")

    def start(self, prefix: torch.Tensor, previous_features: FeatureSource | None = None,
              verifier_cache: DynamicCache | None = None) -> None:
        raise NotImplementedError

    def next_logits(self, sequence: list[int], in_draft: bool,
                    previous_features: FeatureSource | None = None) -> torch.Tensor:
        raise NotImplementedError

    def rollback(self, committed_before: int, committed: int, verifier_cache: DynamicCache | None = None) -> None:
        """`committed_before`: tokens committed before the block just verified; `committed`: after it;
        `verifier_cache` (strategies that read it): the verifier's cache, holding positions [0, committed - 1)."""

    def embeddable(self, ids: torch.Tensor) -> torch.Tensor:
        """Ids past the drafter's vocabulary (a verifier with a larger output layer emitted them) become its last
        id: what the drafter is fed only shapes its proposals, never the output."""
        return ids.clamp_max(self.vocab_size - 1)


class LMDraft(DraftStrategy):
    """A causal LM with its own KV cache: each call feeds the tokens it has not seen yet."""

    kind = "lm"

    def start(self, prefix, previous_features=None, verifier_cache=None):
        self.cache = new_kv_cache(self.device)
        if prefix.shape[1]:
            self.model(input_ids=self.embeddable(prefix), cache=self.cache, use_cache=True, logits_to_keep=1)

    def next_logits(self, sequence, in_draft, previous_features=None):
        seen = self.cache.get_seq_length()
        unseen = torch.tensor([sequence[seen:]], device=self.device)
        return self.model(input_ids=self.embeddable(unseen), cache=self.cache, use_cache=True,
                          logits_to_keep=1).logits[0, -1]

    def rollback(self, committed_before, committed, verifier_cache=None):
        rollback_cache(self.cache, committed - 1)  # what the next verification feeds again starts there


class QuantizedCopyDraft(DraftStrategy):
    """A weight-only int4 / int8 copy of a Llama verifier (`ebsd_env.decoding.quantized`), drafting through its
    `QuantizedLlamaRunner`: torch's CPU int kernels (or the project's AVX2 ones, where faster) on bfloat16
    activations without the transformers forward's per-call overhead; its logits are cast to float by the
    decoder. It reads the verifier's cache: the committed positions' keys and values are the verifier's own. (A
    copy of another architecture has no runner and drafts as an `LMDraft`.)"""

    kind = "quantized"
    reads_verifier_cache = True

    def __init__(self, model: nn.Module):
        super().__init__(model)
        self.runner = model.runner

    def start(self, prefix, previous_features=None, verifier_cache=None):
        self.runner.reset()
        shared = 0
        if verifier_cache is not None:
            shared = verifier_cache.get_seq_length()
            self.runner.load_cache(verifier_cache, 0, shared)
        if prefix.shape[1] > shared:
            self.runner.forward(self.embeddable(prefix[0, shared:]))

    def next_logits(self, sequence, in_draft, previous_features=None):
        unseen = torch.tensor(sequence[self.runner.length:], device=self.device)
        return self.runner.forward(self.embeddable(unseen))

    def rollback(self, committed_before, committed, verifier_cache=None):
        if verifier_cache is None:
            self.runner.crop(committed - 1)  # what the next verification feeds again starts there
            return
        # Replace this block's positions (computed from the drafter's own activations) by the verifier's.
        shared = min(self.runner.length, committed_before - 1)
        self.runner.crop(shared)
        self.runner.load_cache(verifier_cache, shared, verifier_cache.get_seq_length())


class FeatureDraft(DraftStrategy):
    """EAGLE-style: token j is fed with the verifier's feature of position j - 1 (its own prediction inside a
    draft). Its cache is rolled back to the tokens committed before the block, since the accepted draft
    positions were computed from predicted features."""

    kind = "feature"
    reads_verifier_features = True

    def start(self, prefix, previous_features=None, verifier_cache=None):
        self.cache = new_kv_cache(self.device)
        self.draft_feature: torch.Tensor | None = None
        if prefix.shape[1]:
            self.model.features(prefix, previous_features(0, prefix.shape[1]), cache=self.cache, use_cache=True)

    def next_logits(self, sequence, in_draft, previous_features=None):
        seen = self.cache.get_seq_length()
        unseen = torch.tensor([sequence[seen:]], device=self.device)
        # Inside a draft only the last draft token is new, and the drafter's own prediction stands in for the
        # verifier feature it does not have yet.
        previous = self.draft_feature if in_draft else previous_features(seen, seen + unseen.shape[1])
        predicted = self.model.features(unseen, previous, cache=self.cache, use_cache=True)
        self.draft_feature = predicted[:, -1:]
        return self.model.logits(predicted[0, -1])

    def rollback(self, committed_before, committed, verifier_cache=None):
        rollback_cache(self.cache, committed_before)


class NGramModel(nn.Module):
    """The 'model' of the ngram drafter: no weights, only the verifier's config (vocabulary, EOS) and the
    lookup's settings. `load_pair(drafter="ngram")` builds it."""

    draft_strategy = "ngram"

    def __init__(self, config: PretrainedConfig, max_ngram: int = 3, min_ngram: int = 1, smoothing: float = 1e-3):
        super().__init__()
        if not 1 <= min_ngram <= max_ngram:
            raise ValueError(f"ngram drafter: need 1 <= min_ngram <= max_ngram, got {min_ngram}, {max_ngram}")
        if not 0 < smoothing < 1:
            raise ValueError(f"ngram drafter: smoothing must lie in (0, 1), got {smoothing}")
        self.config = config
        self.max_ngram, self.min_ngram, self.smoothing = max_ngram, min_ngram, smoothing
        self.register_buffer("_anchor", torch.zeros(0), persistent=False)  # gives the module a device


class NGramDraft(DraftStrategy):
    """Prompt lookup (Saxena 2023; transformers' `PromptLookupCandidateGenerator`): find the longest n-gram
    (n from `max_ngram` down to `min_ngram`) that ends the sequence and occurred earlier in it; propose what
    followed.

    Confidence signal: the proposal is a distribution, the next tokens observed after every earlier occurrence
    of that n-gram (counts, most recent occurrence breaking ties), mixed with the uniform distribution by
    `smoothing`. Its entropy is low when the context repeats itself one way, higher when earlier occurrences
    disagree, and near log|V| when no n-gram matches (the proposal is then an arbitrary token, and entropy
    rules stop). The distribution is a proper q, so lossless speculative sampling works with it too."""

    kind = "ngram"

    def start(self, prefix, previous_features=None, verifier_cache=None):
        pass

    def next_logits(self, sequence, in_draft, previous_features=None):
        model: NGramModel = self.model
        counts = torch.zeros(self.vocab_size, dtype=torch.float64)
        n_tokens = len(sequence)
        for n in range(min(model.max_ngram, n_tokens - 1), model.min_ngram - 1, -1):
            suffix = sequence[n_tokens - n:]
            found = False
            for start in range(n_tokens - n - 1, -1, -1):  # most recent first
                if sequence[start: start + n] == suffix:
                    follower = sequence[start + n]
                    # The most recent occurrence gets a little more weight, so it wins ties.
                    counts[follower] += 1.0 + (0.0 if found else 0.5)
                    found = True
            if found:
                break
        total = float(counts.sum())
        uniform = model.smoothing / self.vocab_size
        if not total:
            return torch.zeros(self.vocab_size, device=self.device)  # no earlier repeat: uniform, entropy log|V|
        probs = (1 - model.smoothing) * counts / total + uniform
        return probs.log().float().to(self.device)


# Several drafters on one verifier (`ebsd_env.decoding.multi`): names joined by "+", e.g. "int4+feature+ngram".
SEPARATOR = "+"


class MultiDrafter(nn.Module):
    """The drafters of a multi-drafter pair, in order, with their names (`names[i]` drafts as drafter i)."""

    def __init__(self, drafters: list[nn.Module], names: list[str]):
        super().__init__()
        if len(drafters) != len(names) or len(drafters) < 2:
            raise ValueError(f"a multi-drafter pair needs >= 2 drafters with one name each, got {len(drafters)} "
                             f"drafters and names {names}")
        # A drafter may be the verifier itself ("self"): a plain list keeps the verifier's weights from being
        # registered as a submodule; `state_dict` (the drafter hash) and `parameters` still see every drafter.
        self.drafters = list(drafters)
        self.names = list(names)
        self.config = drafters[0].config

    def state_dict(self, *args, **kwargs):
        state = {}
        for name, drafter in zip(self.names, self.drafters, strict=True):
            state.update({f"{name}.{key}": value for key, value in drafter.state_dict().items()})
        return state

    def parameters(self, recurse: bool = True):
        for drafter in self.drafters:
            yield from drafter.parameters(recurse)


def parse_drafters(spec: str) -> list[str]:
    """The drafter names of a ``+``-joined spelling; one line naming the fix when a part is empty or repeated."""
    names = [part.strip() for part in spec.split(SEPARATOR)]
    if len(names) < 2 or any(not name for name in names):
        raise ValueError(f"drafter spelling {spec!r}: join two or more drafter names with '+', e.g. "
                         "'int4+feature+ngram' (no empty part)")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"drafter spelling {spec!r} names {', '.join(repeated)} more than once: name each drafter "
                         "once")
    return names


# The registry `strategy_for` reads: a drafter's declared ``draft_strategy`` -> the class that drafts with it.
STRATEGIES: dict[str, type[DraftStrategy]] = {cls.kind: cls for cls in (LMDraft, FeatureDraft, QuantizedCopyDraft,
                                                                         NGramDraft)}


def strategy_class(model: nn.Module) -> type[DraftStrategy]:
    """The `STRATEGIES` entry that `model`'s ``draft_strategy`` attribute names (``"lm"`` when it names none, as a
    Hugging Face causal LM does); `load_pair` asks it before any timing, so an unknown name fails early."""
    if isinstance(model, MultiDrafter):
        raise ValueError(f"the pair has several drafters ({'+'.join(model.names)}): drive it with "
                         "ebsd_env.decoding.multi.MultiDraftDecoder (EBSD-Multi-v1), or load one drafter")
    name = getattr(model, "draft_strategy", LMDraft.kind)
    if name not in STRATEGIES:
        raise ValueError(f"drafter {type(model).__name__} declares draft_strategy={name!r}, which no strategy "
                         f"implements; valid: {', '.join(STRATEGIES)} (add a DraftStrategy to STRATEGIES)")
    return STRATEGIES[name]


def strategy_for(model: nn.Module) -> DraftStrategy:
    """A new strategy drafting with `model` (`strategy_class`)."""
    return strategy_class(model)(model)
