"""The lossy reference: the verifier's quantized copy (int4) decoding by itself, NOT lossless.

Speculative decoding with the int4 copy as drafter gives exactly the verifier's output, 1.4-1.6x faster on the
CPUs measured so far. The copy alone gives a different output (its bfloat16 activations, its bfloat16-rounded
scales and zeros and its int8 output head flip some greedy choices) at the copy's own speed, which can be
higher. A user choosing between the two needs both numbers side by side: this module measures the copy's
rate and how often it agrees with the verifier.

- ``tokens_per_s`` / ``end_to_end_tokens_per_s``: the copy's greedy decoding rate without / with its prefill;
- ``agreement``: on the verifier's own greedy output, the share of positions where the copy's greedy token is
  the verifier's (teacher-forced: each position sees the verifier's prefix), the quality measure that does not
  compound early divergences;
- ``identical_share``: the share of prompts whose whole free-running output equals the verifier's.
"""

from __future__ import annotations

import time

import torch

from ebsd_env.decoding.decoder import SpeculativeDecoder
from ebsd_env.decoding.drafting import QuantizedCopyDraft, strategy_for
from ebsd_env.decoding.kernels.variants import dense_linears
from ebsd_env.decoding.quantized.runner import quantized_drafter, runner_problem
from ebsd_env.decoding.quantized.weights import ACTIVATION_DTYPE
from policies.baselines import verifier_alone_rate

LOSSY_LABEL = "int4 alone (lossy: not the verifier's output)"


def one_drafter(pair):
    """A multi-drafter pair's (``int4+feature+ngram``) sub-pair of its first quantized copy, else of its first
    drafter: the copy's runner and the verifier alone are then those of the int4 pair (`sub_pairs` shares the
    verifier); a one-drafter pair itself."""
    from ebsd_env.decoding.multi import is_multi, sub_pairs

    if not is_multi(pair):
        return pair
    pairs = sub_pairs(pair)
    return next((p for p in pairs if isinstance(strategy_for(p.drafter), QuantizedCopyDraft)), pairs[0])


def copy_runner(pair):
    """The quantized copy's flat runner: the pair's own drafter when it is an int4/int8 copy (on a multi-drafter
    pair, its first such drafter), else a fresh int4 copy of the verifier (CPU, Llama-family verifiers only; a
    ValueError names why not)."""
    pair = one_drafter(pair)
    strategy = strategy_for(pair.drafter)
    if isinstance(strategy, QuantizedCopyDraft):
        return strategy.runner
    if pair.device.type != "cpu":
        raise ValueError(f"the int4 copy runs on the CPU only (torch's CPU int4 kernels); this pair is on "
                         f"{pair.device}")
    # The verifier's linears may run converted kernels already (`load_pair` chose them): quantize their dense
    # weights, the same ones (`dense_linears`).
    with dense_linears(pair.verifier):
        problem = runner_problem(pair.verifier)
        if problem:
            raise ValueError(f"no int4 copy of {pair.verifier_name}: its flat runner needs a plain Llama block "
                             f"({problem})")
        return quantized_drafter(pair.verifier, "int4").runner


@torch.inference_mode()
def _greedy(runner, prompt_ids: list[int], max_new_tokens: int, eos_ids: set[int]) -> tuple[list[int], float, float]:
    """The copy's free-running greedy output, its prefill seconds and its decode seconds."""
    runner.reset()
    t0 = time.perf_counter()
    logits = runner.forward(torch.tensor(prompt_ids))
    prefill_s = time.perf_counter() - t0
    output: list[int] = []
    t1 = time.perf_counter()
    while True:
        token = int(torch.argmax(logits.float()))
        output.append(token)
        if token in eos_ids or len(output) >= max_new_tokens:
            break
        logits = runner.forward(torch.tensor([token]))
    return output, prefill_s, time.perf_counter() - t1


@torch.inference_mode()
def _agreement(runner, prompt_ids: list[int], reference: list[int]) -> tuple[int, int]:
    """(positions where the copy's greedy token equals the reference's, positions) along the reference."""
    runner.reset()
    logits = runner.forward(torch.tensor(prompt_ids))
    agree = 0
    for i, token in enumerate(reference):
        agree += int(torch.argmax(logits.float())) == token
        if i + 1 < len(reference):
            logits = runner.forward(torch.tensor([token]))
    return agree, len(reference)


def lossy_reference(pair, prompts: list, max_new_tokens: int, runner=None) -> dict:
    """The int4 copy alone on `prompts` (text or chat messages, as the decoder takes them), beside the verifier
    alone on the same prompts; totals over prompts (the objective's own form)."""
    if not prompts:
        raise ValueError("lossy_reference needs at least one prompt")
    pair = one_drafter(pair)
    runner = runner or copy_runner(pair)
    decoder = SpeculativeDecoder(pair, temperature=0.0, max_new_tokens=max_new_tokens)
    copy_tokens = copy_prefill = copy_decode = 0.0
    verifier: dict[int, tuple[int, float]] = {}  # per prompt: the verifier alone's (tokens, decoding seconds)
    verifier_total = 0.0
    agree = positions = identical = 0
    for i, prompt in enumerate(prompts):
        generation = decoder.generate(prompt)  # the verifier alone: the reference output and rate
        ids, reference = generation.prompt_ids, generation.token_ids
        verifier[i] = (len(reference), generation.stats["decode_s"])
        verifier_total += generation.stats["total_s"]
        budget = decoder.budget  # what the verifier had (the context window may cap max_new_tokens)
        output, prefill_s, decode_s = _greedy(runner, ids, budget, set(decoder.eos_ids))
        copy_tokens += len(output)
        copy_prefill += prefill_s
        copy_decode += decode_s
        identical += output == reference
        a, n = _agreement(runner, ids, reference)
        agree, positions = agree + a, positions + n
    verifier_rate = verifier_alone_rate({"no-spec": verifier})
    return {"label": LOSSY_LABEL, "lossless": False, "prompts": len(prompts), "max_new_tokens": max_new_tokens,
            "activations": str(ACTIVATION_DTYPE).replace("torch.", ""),
            "tokens_per_s": copy_tokens / copy_decode, "end_to_end_tokens_per_s": copy_tokens / (copy_prefill
                                                                                                 + copy_decode),
            "verifier_tokens_per_s": verifier_rate,
            "verifier_end_to_end_tokens_per_s": sum(tokens for tokens, _ in verifier.values()) / verifier_total,
            "speedup": (copy_tokens / copy_decode) / verifier_rate,
            "agreement": agree / positions, "identical_share": identical / len(prompts)}
