"""Batched recording: the drafter chains of many positions in one forward pass per draft depth.

`ebsd record --batched` (opt-in) computes the same trace as `record_trace` differently: y by one verifier-alone
generation, the verifier's features of every position by one forward pass over prompt + y, and the chains by
one drafter pass over the whole sequence (the first draft token of every position at once) followed by one
forward per further depth over a batch of positions. Each row of a batch attends to the shared prefix cache up
to its own block start (a custom 4-D attention mask) and to its own chain, at its own RoPE positions.

Why opt-in: live decoding and the default recorder run the drafter one block at a time; a batched forward
rounds differently, so a signal can move by float32 rounding and a near-tie can flip a drafted token. The
default recorder is the live code path itself; this one is for expensive drafters, where the chains dominate
recording time. `compare_traces` counts the positions whose chain differs.

Drafters: the EAGLE-style feature drafter and Hugging Face causal LMs (Llama-family, which take
``position_ids`` and a 4-D mask). Other kinds (ngram prompt lookup, int4/int8 copies) are refused with an error
naming the default recorder.
"""

from __future__ import annotations

import numpy as np
import torch
from transformers import DynamicCache

from ..decoding.decoder import LOGPROB_FLOOR, TOP_LOGPROBS, SpeculativeDecoder
from ..decoding.protocol import on_verifier_vocab
from ..envs.block_rules import draft_room
from .trace import LOGPROB_SIGNALS, SIGNALS, Trace


def _signals(decoder: SpeculativeDecoder, logits: torch.Tensor) -> dict[str, torch.Tensor]:
    """The decoder's greedy draft signals for a batch of drafter logits ([B, V_drafter]), as `draft()` computes
    them for one: pad or cut to the verifier's vocabulary, entropy, softmax, top-2."""
    logits = on_verifier_vocab(logits.float(), decoder.vocab_size)
    entropy = decoder.entropy(logits)
    probs = torch.softmax(logits, dim=-1)
    top = probs.topk(TOP_LOGPROBS, dim=-1)
    token = top.indices[:, 0]
    top1 = top.values[:, 0]
    logprobs = top.values.double().log().clamp_min(LOGPROB_FLOOR)  # as `decoder.top_logprobs`
    return {"token": token, "entropy": entropy, "top1_prob": top1, "margin": top1.double() - top.values[:, 1].double(),
            "token_prob": top1, **{name: logprobs[:, i] for i, name in enumerate(LOGPROB_SIGNALS)}}


def _mask(limits: torch.Tensor, prefix: int, chain: int, dtype: torch.dtype, eager: bool) -> torch.Tensor:
    """[B, 1, 1, prefix + chain]: row b sees prefix keys < limits[b] and every chain key."""
    keys = torch.arange(prefix)
    allowed = torch.cat([keys[None, :] < limits[:, None], torch.ones(len(limits), chain, dtype=torch.bool)], dim=1)
    if not eager:
        return allowed[:, None, None, :]
    return torch.zeros(allowed.shape, dtype=dtype).masked_fill(~allowed, torch.finfo(dtype).min)[:, None, None, :]


def record_trace_batched(decoder: SpeculativeDecoder, prompt, max_draft_len: int, max_new_tokens: int,
                         row_id: str = "", category: str = "custom", prompt_index: int = 0,
                         batch_size: int = 64) -> Trace:
    """One prompt's trace with batched chains (see the module docstring)."""
    from ..decoding.drafters.feature import FeatureDrafter

    pair = decoder.pair
    feature = isinstance(pair.drafter, FeatureDrafter)
    body = _batchable_body(decoder, feature)
    generation = decoder.generate(prompt, k=0, max_new_tokens=max_new_tokens)
    ids = list(generation.prompt_ids)
    output = list(generation.token_ids)
    budget = decoder.budget
    P, N = len(ids), len(output)
    sequence = torch.tensor([ids + output], device=decoder.device)
    lengths = [min(max_draft_len, draft_room(budget - j, 0, False)) for j in range(N)]  # where each chain must end
    chains: list[list[dict]] = [[] for _ in range(N)]
    with torch.inference_mode():
        keys, first_logits, predicted = _prefix_pass(pair, feature, sequence)
        starts = [P + j - 1 for j in range(N)]  # index of the logits that give position j's first draft token
        for lo in range(0, N, batch_size):
            rows = [j for j in range(lo, min(lo + batch_size, N)) if lengths[j] > 0]
            if rows:
                _draft_chains(decoder, body, feature, keys, first_logits, predicted, rows, starts, lengths, chains,
                              max_draft_len, sequence.shape[1])
    offsets = np.concatenate([[0], np.cumsum([len(c) for c in chains])]).astype(np.int64)
    flat = [step for chain in chains for step in chain]
    return Trace(id=row_id, category=category, prompt_index=prompt_index, prompt_ids=ids, output=output,
                 budget=budget, chain_offsets=offsets,
                 chain_tokens=np.asarray([s["token"] for s in flat], dtype=np.int64),
                 signals={name: np.asarray([s[name] for s in flat], dtype=np.float64) for name in SIGNALS})


def _batchable_body(decoder: SpeculativeDecoder, feature: bool):
    """The drafter's transformer body, which the batched chains run through; drafters it cannot batch and
    sampling are refused in one line."""
    pair = decoder.pair
    drafter = pair.drafter
    body = drafter.model if feature else getattr(drafter, "model", None)
    if not feature and (getattr(drafter, "quantized_kind", None) or body is None
                        or not hasattr(drafter, "get_output_embeddings")):
        raise ValueError(f"batched recording supports feature drafters and Hugging Face causal LMs, not "
                         f"{pair.drafter_name!r}: record without --batched")
    if not decoder.greedy:
        raise ValueError("sampling cannot be replayed exactly: record traces with temperature=0")
    return body


def _prefix_pass(pair, feature: bool, sequence: torch.Tensor) -> tuple[list, torch.Tensor, torch.Tensor | None]:
    """One drafter forward over the whole committed sequence but its last token: (the cache's keys and values per
    layer, the logits at every position, a feature drafter's predicted features or None)."""
    drafter = pair.drafter
    prefix = sequence[:, : sequence.shape[1] - 1]
    cache = DynamicCache()
    predicted = None
    if feature:
        hidden = pair.verifier.get_decoder()(input_ids=prefix).last_hidden_state  # features of S[:M-1]
        previous = torch.cat([hidden.new_zeros(1, 1, hidden.shape[-1]), hidden[:, :-1]], dim=1)
        predicted = drafter.features(prefix, previous, cache=cache, use_cache=True)  # [1, M-1, H]
        first_logits = drafter.logits(predicted[0])
    else:
        first = drafter(input_ids=prefix.clamp_max(pair.drafter_vocab_size - 1), cache=cache, use_cache=True)
        first_logits = first.logits[0]
    return [(layer.keys, layer.values) for layer in cache.layers], first_logits, predicted


def _draft_chains(decoder: SpeculativeDecoder, body, feature: bool, keys: list, first_logits: torch.Tensor,
                  predicted: torch.Tensor | None, rows: list[int], starts: list[int], lengths: list[int],
                  chains: list[list[dict]], max_draft_len: int, M: int) -> None:
    """Append to ``chains[j]`` the drafter's chain at each output position j of `rows`, one batched forward per
    draft depth, every row over a copy of the prefix cache masked to the tokens committed before it."""
    pair, drafter, eos = decoder.pair, decoder.pair.drafter, decoder.eos_ids
    eager = getattr(body.config, "_attn_implementation", "sdpa") == "eager"
    index = torch.tensor([starts[j] for j in rows])
    signals = _signals(decoder, first_logits[index])
    feature_in = predicted[0, index][:, None] if feature else None
    alive = torch.ones(len(rows), dtype=torch.bool)
    for r, j in enumerate(rows):
        chains[j].append({k: v[r].item() for k, v in signals.items()})
        alive[r] = chains[j][-1]["token"] not in eos and lengths[j] > 1
    batch_cache = DynamicCache()
    for layer, (k, v) in enumerate(keys):
        batch_cache.update(k.expand(len(rows), -1, -1, -1).contiguous(),
                           v.expand(len(rows), -1, -1, -1).contiguous(), layer)
    limits = index + 1  # row j sees the committed tokens S[:P + j]
    for depth in range(1, max_draft_len):
        if not alive.any():
            break
        tokens = signals["token"][:, None].to(decoder.device)
        positions = (index + depth)[:, None].to(decoder.device)
        mask = _mask(limits, M - 1, depth, torch.float32, eager).to(decoder.device)
        if feature:
            embeds = drafter._embedding(tokens).to(drafter.dtype)
            fused = drafter.fuse(torch.cat([embeds, feature_in.to(drafter.dtype)], dim=-1))
            out = body(inputs_embeds=fused, attention_mask=mask, position_ids=positions, cache=batch_cache,
                       use_cache=True).last_hidden_state
            feature_in = out
            logits = drafter.logits(out[:, 0])
        else:
            logits = drafter(input_ids=tokens.clamp_max(pair.drafter_vocab_size - 1), attention_mask=mask,
                             position_ids=positions, cache=batch_cache, use_cache=True).logits[:, -1]
        signals = _signals(decoder, logits)
        for r, j in enumerate(rows):
            if alive[r]:
                chains[j].append({k: v[r].item() for k, v in signals.items()})
                alive[r] = chains[j][-1]["token"] not in eos and len(chains[j]) < lengths[j]


def compare_traces(a: Trace, b: Trace) -> dict:
    """Positions whose chains differ between two traces of one prompt, and the largest signal difference."""
    if a.output != b.output:
        return {"positions": len(a.output), "differ": len(a.output), "max_signal_deviation": float("inf")}
    differ, worst = 0, 0.0
    for j in range(len(a.output)):
        ca, cb = a.chain(j), b.chain(j)
        if len(ca) != len(cb) or not np.array_equal(ca, cb):
            differ += 1
            continue
        sa, sb = slice(a.chain_offsets[j], a.chain_offsets[j + 1]), slice(b.chain_offsets[j], b.chain_offsets[j + 1])
        for name in SIGNALS:
            if len(ca):
                worst = max(worst, float(np.abs(a.signals[name][sa] - b.signals[name][sb]).max()))
    return {"positions": len(a.output), "differ": differ, "max_signal_deviation": worst}
