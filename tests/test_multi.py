"""Several drafters on one verifier (`ebsd_env.decoding.multi`): loading, switching, greedy outputs, catch-up."""

from __future__ import annotations

import numpy as np
import pytest

from ebsd_env.decoding.decoder import DecoderError, SpeculativeDecoder
from ebsd_env.decoding.models import ModelLoadError, derive_drafter, load_pair
from ebsd_env.decoding.multi import MultiDraftDecoder, multi_pair, parse_drafters, sub_pairs

PROMPTS = ["hello world, hello world, hello", "the cat sat on the mat. the cat", "abc abc abc abc"]


@pytest.fixture(scope="module")
def tiny_multi(noisy_pair):
    """Tiny verifier with three drafters of three kinds: a noisy LM, its int4 copy (reads the verifier's cache)
    and prompt lookup."""
    drafters = [noisy_pair.drafter, derive_drafter(noisy_pair.verifier, "int4"),
                derive_drafter(noisy_pair.verifier, "ngram")]
    return multi_pair(noisy_pair, drafters, ["noisy", "int4", "ngram"])


@pytest.fixture(scope="module")
def feature_multi(feature_pair, random_pair):
    """Every strategy kind: the feature drafter (reads the verifier's features), int4, an LM, prompt lookup."""
    drafters = [feature_pair.drafter, derive_drafter(feature_pair.verifier, "int4"), random_pair.drafter,
                derive_drafter(feature_pair.verifier, "ngram")]
    return multi_pair(feature_pair, drafters, ["feature", "int4", "random", "ngram"])


def verifier_alone(pair, prompt, budget):
    return SpeculativeDecoder(sub_pairs(pair)[0]).generate(prompt, max_new_tokens=budget).token_ids


def switching_decode(decoder: MultiDraftDecoder, prompt, budget, rng, max_k=6):
    """Decode with a random drafter (or none) and a random k per block; returns (output, drafters used)."""
    decoder.start(prompt, budget)
    used = []
    while not decoder.finished:
        choice = int(rng.integers(-1, decoder.n_drafters))
        if choice >= 0:
            decoder.select(choice)
            k = int(rng.integers(1, max_k + 1))
            while decoder.draft_room > 0 and len(decoder.draft_steps) < k:
                decoder.draft()
            if decoder.draft_steps and rng.random() < 0.3:
                decoder.discard_draft()
            used.append(choice)
        decoder.verify()
    return list(decoder.new_tokens), used


@pytest.mark.parametrize("fixture", ["tiny_multi", "feature_multi"])
def test_greedy_output_is_the_verifiers_for_any_switching(fixture, request):
    pair = request.getfixturevalue(fixture)
    decoder = MultiDraftDecoder(pair, max_new_tokens=40)
    rng = np.random.default_rng(0)
    every_drafter = set()
    for prompt in PROMPTS:
        expected = verifier_alone(pair, prompt, 40)
        for _ in range(3):
            output, used = switching_decode(decoder, prompt, 40, rng)
            assert output == expected
            every_drafter.update(used)
    assert every_drafter == set(range(decoder.n_drafters))  # every drafter drafted, after others had


def test_each_drafter_alone_drafts_as_its_own_pair(tiny_multi):
    """Selecting drafter i for every block proposes exactly what the single-drafter decoder of drafter i does."""

    def proposals(decoder, select=None):
        decoder.start(PROMPTS[0])
        drafts = []
        while not decoder.finished:  # one decoder at a time: an int4 copy's runner is shared by its decoders
            if select is not None:
                decoder.select(select)
            for _ in range(min(4, decoder.draft_room)):
                decoder.draft()
            drafts.append(decoder.draft_tokens)
            decoder.verify()
        return drafts

    for i, single in enumerate(sub_pairs(tiny_multi)):
        multi = proposals(MultiDraftDecoder(tiny_multi, max_new_tokens=30), select=i)
        assert multi == proposals(SpeculativeDecoder(single, max_new_tokens=30))


def test_int4_catches_up_from_the_verifier_cache_and_is_charged(tiny_multi, monkeypatch):
    """After other drafters' blocks, int4's first draft step loads the positions committed meanwhile from the
    verifier's cache (as its own rollback would have), inside that step's timer."""
    decoder = MultiDraftDecoder(tiny_multi, max_new_tokens=30)
    decoder.start(PROMPTS[1])
    decoder.select(1)
    decoder.draft()
    decoder.verify()
    runner = decoder.strategies[1].runner
    held = runner.length
    for _ in range(3):  # the LM drafts three blocks: int4 sees none of them
        decoder.select(0)
        decoder.draft()
        decoder.verify()
    assert runner.length == held < len(decoder.tokens) - 1
    import time as time_module

    real_rollback = decoder.strategies[1].rollback
    calls = []

    def slow_rollback(*args):
        calls.append(args[:2])
        time_module.sleep(0.05)
        return real_rollback(*args)

    monkeypatch.setattr(decoder.strategies[1], "rollback", slow_rollback)
    decoder.select(1)
    step = decoder.draft()
    assert len(calls) == 1
    assert step.time_s >= 0.05  # the catch-up is in the step that needed it
    # The runner now holds the verifier's positions of every committed token but the last, then the draft input.
    assert runner.length == len(decoder.tokens)
    second = decoder.draft()
    assert second.time_s < 0.05  # caught up once per block, not per step
    # What int4 proposes after the catch-up is what it proposes alone at that point: the same verifier positions.
    committed = list(decoder.tokens)
    alone = SpeculativeDecoder(sub_pairs(tiny_multi)[1], max_new_tokens=30)
    alone.start(PROMPTS[1])
    while len(alone.tokens) < len(committed):
        alone.verify()
    assert alone.tokens == committed
    alone_steps = [alone.draft(), alone.draft()]
    assert [(s.token, s.entropy, s.top1_prob) for s in alone_steps] == \
        [(s.token, s.entropy, s.top1_prob) for s in (step, second)]


def test_select_only_at_a_block_start(tiny_multi):
    decoder = MultiDraftDecoder(tiny_multi, max_new_tokens=10)
    decoder.start(PROMPTS[0])
    with pytest.raises(ValueError, match=r"int in \[0, 3\)"):
        decoder.select(3)
    decoder.draft()
    with pytest.raises(DecoderError, match="block start"):
        decoder.select(1)
    decoder.discard_draft()
    with pytest.raises(DecoderError, match="block start"):
        decoder.select(1)


def test_single_drafter_decoder_refuses_a_multi_pair(tiny_multi):
    with pytest.raises(ValueError, match="MultiDraftDecoder"):
        SpeculativeDecoder(tiny_multi)


@pytest.mark.parametrize("spec, problem", [("int4+", "no empty part"), ("int4+ngram+int4", "more than once"),
                                           ("+ngram", "no empty part")])
def test_bad_spellings_fail_before_loading(spec, problem, monkeypatch):
    from ebsd_env.decoding import models

    monkeypatch.setattr(models, "load_model", lambda *a, **k: pytest.fail("a model was loaded"))
    with pytest.raises(ModelLoadError, match=problem):
        load_pair(spec)


def test_int4_in_a_multi_pair_is_refused_off_cpu(monkeypatch):
    from ebsd_env.decoding import models

    monkeypatch.setattr(models, "load_model", lambda *a, **k: pytest.fail("a model was loaded"))
    with pytest.raises(ModelLoadError, match="the int4 drafter runs on torch's CPU"):
        load_pair("ngram+int4", device="meta", kernels="plain")


def test_parse_drafters():
    assert parse_drafters("int4+feature+ngram") == ["int4", "feature", "ngram"]
    assert parse_drafters(" int4 + ngram") == ["int4", "ngram"]


def test_record_refuses_batched_or_ray_for_several_drafters(monkeypatch):
    from ebsd_env.decoding import models
    from ebsd_env.replay import record

    monkeypatch.setattr(models, "load_model", lambda *a, **k: pytest.fail("a model was loaded"))
    with pytest.raises(ValueError, match="drop --batched"):
        record.main(["--drafter", "int4+ngram", "--out", "/nonexistent/x", "--batched"])
