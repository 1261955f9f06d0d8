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


@pytest.mark.parametrize("kernels", ["transposed", "onednn", "weight-left", "by-width"])
def test_a_fresh_int4_copy_is_derived_from_a_verifier_whose_kernels_were_chosen(kernels):
    """`load_pair` converts the verifier's linears before any lossy reference is asked for (on an AVX2 EPYC `ebsd
    eval --drafter feature-v1` skipped it: "already repacked"): the copy is derived from their dense weights, gives
    the logits of a copy of the plain verifier, and leaves the converted layers in place."""
    from ebsd_env.decoding.kernels.variants import (
        BUCKETS,
        CONVERTED_LINEARS,
        apply_choice,
        apply_variant,
        onednn_available,
    )

    if kernels == "onednn" and not onednn_available("cpu"):
        pytest.skip("oneDNN is not available on this CPU")
    plain = tiny_pair("noisy", seed=2)
    expected = lossy.copy_runner(plain).forward(torch.tensor([3, 4, 5]))
    pair = tiny_pair("noisy", seed=2)
    if kernels == "by-width":
        by_bucket = {bucket: ("transposed", "weight-left")[i % 2] for i, bucket in enumerate(BUCKETS)}
        apply_choice(pair.verifier, by_bucket, {3: 4})
    else:
        apply_variant(pair.verifier, kernels)
    before = [type(m) for m in pair.verifier.modules()]
    assert any(isinstance(m, CONVERTED_LINEARS) for m in pair.verifier.modules())
    logits = lossy.copy_runner(pair).forward(torch.tensor([3, 4, 5]))
    assert torch.equal(logits, expected)
    assert [type(m) for m in pair.verifier.modules()] == before  # the chosen kernels are back


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
