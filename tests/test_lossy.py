"""The lossy reference row: the int4 copy alone, its rate and its agreement with the verifier."""

from __future__ import annotations

import pytest
import torch

from ebsd_env.decoding.models import ModelPair, derive_drafter
from ebsd_env.decoding.tiny import tiny_pair
from eval.bench import lossy


def int4_pair():
    base = tiny_pair("copy", seed=2)
    return ModelPair(derive_drafter(base.verifier, "int4"), base.verifier, base.tokenizer, "int4", base.verifier_name)


def test_the_copy_alone_is_measured_against_the_verifier():
    pair = int4_pair()
    prompts = ["the cat sat on the mat", "a b c d e f g"]
    report = lossy.lossy_reference(pair, prompts, max_new_tokens=10)
    assert report["lossless"] is False and "lossy" in report["label"]
    assert 0.0 <= report["agreement"] <= 1.0 and 0.0 <= report["identical_share"] <= 1.0
    assert report["tokens_per_s"] > report["end_to_end_tokens_per_s"] > 0  # prefill only adds time
    assert report["speedup"] == pytest.approx(report["tokens_per_s"] / report["verifier_tokens_per_s"])


def test_agreement_counts_the_copys_greedy_tokens_along_the_reference():
    pair = int4_pair()
    runner = lossy.copy_runner(pair)
    ids = [3, 4, 5, 6]
    output, _, _ = lossy._greedy(runner, ids, 8, eos_ids=set())
    # Along its own output the copy agrees everywhere; along a corrupted reference it disagrees where corrupted.
    assert lossy._agreement(runner, ids, output) == (len(output), len(output))
    vocab = pair.vocab_size
    corrupted = [(t + 1) % vocab if i in (2, 5) else t for i, t in enumerate(output)]
    agree, n = lossy._agreement(runner, ids, corrupted)
    assert n == len(output) and agree <= len(output) - 1  # position 2 differs; 5 sees a changed prefix


def test_a_non_copy_drafter_gets_a_fresh_int4_copy():
    pair = tiny_pair("noisy", seed=2)
    runner = lossy.copy_runner(pair)
    logits = runner.forward(torch.tensor([3, 4, 5]))
    assert logits.shape[-1] == pair.vocab_size


def test_a_multi_drafter_pair_measures_its_own_int4_copy():
    """On int4+feature+ngram (the default `ebsd eval` pair) the lossy reference is its int4 drafter's: the same
    runner object, and the same verifier-alone decoder as the int4 pair's (not skipped for having several drafters)."""
    from ebsd_env.decoding.multi import multi_pair

    single = int4_pair()
    ngram = derive_drafter(single.verifier, "ngram")
    multi = multi_pair(single, [ngram, single.drafter], ["ngram", "int4"])
    assert lossy.copy_runner(multi) is single.drafter.runner
    assert lossy.one_drafter(multi).drafter is single.drafter and lossy.one_drafter(single) is single
    prompts = ["the cat sat on the mat", "a b c d e f g"]
    report = lossy.lossy_reference(multi, prompts, max_new_tokens=10)
    alone = lossy.lossy_reference(single, prompts, max_new_tokens=10)
    assert "skipped" not in report
    assert (report["agreement"], report["identical_share"]) == (alone["agreement"], alone["identical_share"])
