"""The speculative decoder: greedy exactness, losslessness of sampling, cache rollback, bad input."""

from __future__ import annotations

import copy
import random

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from ebsd_env.decoding.decoder import DecoderError, SpeculativeDecoder, rollback_cache
from ebsd_env.decoding.drafters import FeatureDrafter
from ebsd_env.decoding.models import ModelPair
from ebsd_env.decoding.tiny import tiny_pair
from policies.base import Param, Policy

PROMPT = "the cat sat on the mat. "


class CoinFlip(Policy):
    """Stops after each draft token with probability p, from a seeded coin: stops at random positions, in the
    env's stop mode (a test's policy: every stop rule but fixed k is a policy)."""

    name = "coin-flip"
    reads_entropy = False
    params = (Param("p", float, 0.5, "stop probability", low=0.0, high=1.0), Param("seed", int, 0, "coin seed"))

    def validate(self):
        self.rng = random.Random(self.seed)

    def decide(self, view, obs):
        return self.rng.random() < self.p


def _stop_policies():
    return {"stop-after-1": CoinFlip(p=1.0), "random": CoinFlip(p=0.4), "entropy": "entropy-abs:theta=1.5"}


def _reference(pair, ids, max_new_tokens):
    """The verifier's own greedy output through transformers' `generate`."""
    out = pair.verifier.generate(torch.tensor([ids]), max_new_tokens=max_new_tokens, do_sample=False,
                                 eos_token_id=sorted(pair.eos_token_ids), pad_token_id=pair.tokenizer.pad_token_id)
    return out[0, len(ids):].tolist()


def _ngram_pair(base):
    from ebsd_env.decoding.drafting import NGramModel

    return ModelPair(NGramModel(base.verifier.config), base.verifier, base.tokenizer, "ngram", base.verifier_name)


@pytest.fixture(scope="module")
def ngram_pair(copy_pair):
    return _ngram_pair(copy_pair)


def _check_stats(stats, reference, pair_name, name):
    assert stats["new_tokens"] == len(reference)
    assert stats["accepted"] <= stats["drafted"]
    assert sum(stats["draft_lengths"]) == stats["drafted"]
    # every block emits its accepted tokens plus one verifier token (except where EOS/budget cut it)
    assert stats["new_tokens"] <= stats["accepted"] + stats["blocks"]
    if pair_name == "copy_pair":
        assert stats["acceptance_rate"] == 1.0, name
    if pair_name == "random_pair":
        assert stats["acceptance_rate"] < 0.3, name


PAIRS = ["copy_pair", "random_pair", "noisy_pair", "feature_pair", "ngram_pair"]


@pytest.mark.parametrize("pair_name", PAIRS)
def test_greedy_output_equals_verifier_generate(request, pair_name):
    pair = request.getfixturevalue(pair_name)
    decoder = SpeculativeDecoder(pair, max_new_tokens=48)
    ids = decoder.encode_prompt(PROMPT)
    reference = _reference(pair, ids, 48)
    assert decoder.generate(PROMPT).token_ids == reference  # k = 0: the verifier alone, same code path
    for k in (1, 3, 6):
        result = decoder.generate(PROMPT, k)
        assert result.token_ids == reference, k
        _check_stats(result.stats, reference, pair_name, k)
        assert max(result.stats["draft_lengths"]) == k  # drafts run to k (shorter only at an EOS or the budget)
    if pair_name == "feature_pair":  # the feature drafter agrees in part: real accepts and real rollbacks
        stats = decoder.generate(PROMPT, 4).stats
        assert 0.05 < stats["acceptance_rate"] < 0.95


@pytest.mark.parametrize("stop_mode", ["include", "exclude"])
@pytest.mark.parametrize("pair_name", PAIRS)
def test_greedy_output_equals_verifier_generate_under_policies(request, run_policy, pair_name, stop_mode):
    """Stops at any position (random, by entropy, after every token), discarding in exclude mode: the output is
    the verifier's."""
    pair = request.getfixturevalue(pair_name)
    ids = SpeculativeDecoder(pair).encode_prompt(PROMPT)
    reference = _reference(pair, ids, 48)
    for name, policy in _stop_policies().items():
        stats = run_policy(pair, ids, policy, max_draft_len=6, stop_mode=stop_mode, max_new_tokens=48)[0]
        assert stats["output_ids"] == reference, name
        if stop_mode == "exclude" and name == "stop-after-1":  # every stop discards its only token: k = 0
            assert stats["drafted"] == 0 and stats["blocks"] == len(reference)
            assert stats["discarded"] >= stats["blocks"] - 1  # the last block has no room to draft
            continue
        _check_stats(stats, reference, pair_name, name)


def test_chat_messages_and_ids_are_accepted(noisy_pair):
    decoder = SpeculativeDecoder(noisy_pair, max_new_tokens=8)
    chat = [{"role": "user", "content": "hi"}]
    ids = decoder.encode_prompt(chat)
    assert noisy_pair.tokenizer.decode(ids).startswith("user: hi")
    assert decoder.generate(chat, 2).token_ids == decoder.generate(ids, 3).token_ids


def _fresh_last_logits(model, tokens):
    with torch.inference_mode():
        return model(input_ids=torch.tensor([tokens])).logits[0, -1]


def test_cache_rollback_leaves_caches_as_if_rejected_tokens_were_never_fed(random_pair):
    decoder = SpeculativeDecoder(random_pair, max_new_tokens=40)
    decoder.start(PROMPT)
    rejected_blocks = 0
    for _ in range(6):
        while len(decoder.draft_steps) < 5 and decoder.draft_room > 0:  # a drafted EOS ends the draft early
            decoder.draft()
        result = decoder.verify()
        rejected_blocks += result.accepted < result.drafted
        tokens = decoder.tokens
        assert decoder.verifier_cache.get_seq_length() == len(tokens) - 1
        assert decoder.drafter_cache.get_seq_length() <= len(tokens) - 1
        for model, cache in ((random_pair.verifier, decoder.verifier_cache),
                             (random_pair.drafter, decoder.drafter_cache)):
            with torch.inference_mode():
                cached = model(input_ids=torch.tensor([tokens[cache.get_seq_length():]]), cache=cache,
                               use_cache=True).logits[0, -1]
            torch.testing.assert_close(cached, _fresh_last_logits(model, tokens), rtol=1e-4, atol=1e-4)
            rollback_cache(cache, len(tokens) - 1)  # undo this probe before the next block
    assert rejected_blocks >= 3  # the test exercised real rollbacks


def test_feature_drafter_state_equals_a_fresh_computation_after_every_block(feature_pair):
    """The verifier features the decoder keeps, and the feature drafter's cache, match fresh forward passes."""
    verifier, drafter = feature_pair.verifier, feature_pair.drafter
    decoder = SpeculativeDecoder(feature_pair, max_new_tokens=60)
    decoder.start(PROMPT)
    rejected_blocks = 0
    while not decoder.finished:
        before = len(decoder.tokens)
        for _ in range(min(4, decoder.draft_room)):
            decoder.draft()
        result = decoder.verify()
        rejected_blocks += result.accepted < result.drafted
        tokens = decoder.tokens
        assert decoder.verifier_cache.get_seq_length() == len(tokens) - 1 == len(decoder._features)
        if result.drafted:  # rolled back to the tokens committed before the block (read with true features)
            assert decoder.drafter_cache.get_seq_length() == before
        with torch.inference_mode():
            fresh = verifier.get_decoder()(input_ids=torch.tensor([tokens])).last_hidden_state[0]
            torch.testing.assert_close(decoder._features, fresh[:-1], rtol=1e-4, atol=1e-4)
            previous = torch.cat([fresh.new_zeros(1, fresh.shape[-1]), fresh[:-1]]).unsqueeze(0)
            full = drafter.features(torch.tensor([tokens]), previous)[0]
            cached_len = decoder.drafter_cache.get_seq_length()
            cached = drafter.features(torch.tensor([tokens[cached_len:]]), previous[:, cached_len:],
                                      cache=decoder.drafter_cache, use_cache=True)[0]
            torch.testing.assert_close(cached, full[cached_len:], rtol=1e-4, atol=1e-4)
        rollback_cache(decoder.drafter_cache, cached_len)  # undo this probe before the next block
    assert rejected_blocks >= 3


def test_rollback_helper_drops_exactly_the_tail(copy_pair):
    model = copy_pair.verifier
    from transformers import DynamicCache

    cache = DynamicCache()
    with torch.inference_mode():
        model(input_ids=torch.tensor([[5, 6, 7, 8, 9, 10]]), cache=cache, use_cache=True)
        rollback_cache(cache, 3)
        assert cache.get_seq_length() == 3
        rollback_cache(cache, 5)  # longer than the cache: nothing to drop
        assert cache.get_seq_length() == 3
        logits = model(input_ids=torch.tensor([[11]]), cache=cache, use_cache=True).logits[0, -1]
    torch.testing.assert_close(logits, _fresh_last_logits(model, [5, 6, 7, 11]), rtol=1e-4, atol=1e-4)


def _exact_joint(pair, ids, temperature, top_p, length=3):
    """Exact distribution of the first `length` emitted tokens under the verifier's processed distribution."""
    decoder = SpeculativeDecoder(pair, temperature=temperature, top_p=top_p)
    eos = pair.eos_token_ids
    joint = {}

    def expand(prefix: tuple, prob: float):
        if len(prefix) == length or (prefix and prefix[-1] in eos):
            joint[prefix] = prob
            return
        probs = decoder._process(_fresh_last_logits(pair.verifier, ids + list(prefix))).double()
        for token in range(len(probs)):
            if probs[token] > 0:
                expand(prefix + (token,), prob * float(probs[token]))

    expand((), 1.0)
    return joint


def _chi2_pvalue(counts: dict, expected: dict, n: int) -> float:
    keys = [k for k in expected if expected[k] * n >= 5]  # pool rare cells so the test is valid
    rare = [k for k in expected if k not in keys]
    observed = [counts.get(k, 0) for k in keys] + [sum(counts.get(k, 0) for k in rare)]
    exp = [expected[k] * n for k in keys] + [sum(expected[k] for k in rare) * n]
    if exp[-1] == 0:
        observed, exp = observed[:-1], exp[:-1]
    exp = np.asarray(exp) * (sum(observed) / sum(exp))
    return float(chisquare(observed, exp).pvalue)


@pytest.mark.parametrize("temperature,top_p,drafter,stop_mode", [(1.0, 1.0, "token", "include"),
                                                                  (1.5, 0.95, "token", "exclude"),
                                                                  (1.0, 1.0, "feature", "include"),
                                                                  (1.0, 1.0, "ngram", "include")])
def test_speculative_sampling_preserves_the_verifier_distribution(run_policy, temperature, top_p, drafter,
                                                                  stop_mode):
    """The joint law of the first three tokens, drafted in blocks of up to three tokens (stops at random
    positions through the env; in exclude mode the token at a stop is discarded), is the verifier's
    (chi-square)."""
    pair = tiny_pair("random", seed=3, alphabet="abcd")  # 7 tokens: 343 three-token cells, rare ones pooled
    if drafter == "feature":  # a feature drafter (untrained: any drafter must leave the output distribution be)
        pair = ModelPair(FeatureDrafter(pair.verifier, 1, torch.arange(pair.vocab_size)).eval(), pair.verifier,
                         pair.tokenizer, "tiny-feature", pair.verifier_name)
    if drafter == "ngram":  # prompt lookup: its proposal distribution is the q of the rejection sampler
        pair = _ngram_pair(pair)
    decoder = SpeculativeDecoder(pair, temperature=temperature, top_p=top_p, seed=123)
    ids = decoder.encode_prompt("abca")
    expected = _exact_joint(pair, ids, temperature, top_p)
    n = 3000
    if stop_mode == "exclude":
        runs = run_policy(pair, ids, CoinFlip(p=0.3), episodes=n, seed=123, max_draft_len=3, max_new_tokens=3,
                          stop_mode=stop_mode, temperature=temperature, top_p=top_p)
        outputs = [stats["output_ids"] for stats in runs]
    else:
        runs = [decoder.generate(ids, 2, max_new_tokens=3) for _ in range(n)]
        outputs, runs = [run.token_ids for run in runs], [run.stats for run in runs]
    counts: dict = {}
    for output in outputs:
        counts[tuple(output)] = counts.get(tuple(output), 0) + 1
    drafted = sum(stats["drafted"] for stats in runs)
    accepted = sum(stats["accepted"] for stats in runs)
    lengths = [length for stats in runs for length in stats["draft_lengths"]]
    # Both acceptances and rejections were exercised (prompt lookup on random text rarely matches the verifier).
    assert (0.02 if drafter == "ngram" else 0.05) < accepted / drafted < 0.95
    assert lengths.count(2) > n / 4  # multi-token drafts were verified, not only one-token ones
    assert _chi2_pvalue(counts, expected, n) > 1e-3
    if drafter in ("feature", "ngram"):
        return  # the power check needs a drafter that is a language model of its own
    # Power check: the drafter's own distribution differs, and the same test tells them apart.
    drafter_view = tiny_pair("random", seed=3, alphabet="abcd")
    drafter_view.verifier = pair.drafter
    assert _chi2_pvalue(counts, _exact_joint(drafter_view, ids, temperature, top_p), n) < 1e-6


def test_ngram_proposes_what_followed_the_last_repeat_with_its_spread_as_confidence(copy_pair):
    from ebsd_env.decoding.drafting import NGramDraft, NGramModel, strategy_for

    strategy = strategy_for(NGramModel(copy_pair.verifier.config))
    assert isinstance(strategy, NGramDraft)
    vocab = strategy.vocab_size
    logits = strategy.next_logits([5, 6, 7, 9, 5, 6, 7], in_draft=False)
    assert int(logits.argmax()) == 9 and float(torch.softmax(logits, -1).max()) > 0.99  # one clear follower
    # The 3-gram (9, 5, 6) was followed by 2, then by 1: both count, the most recent a little more.
    split = torch.softmax(strategy.next_logits([5, 6, 1, 9, 5, 6, 2, 9, 5, 6, 1, 9, 5, 6], in_draft=False), -1)
    assert int(split.argmax()) == 1 and 0.3 < float(split[2]) < float(split[1]) < 0.7
    unseen = torch.softmax(strategy.next_logits([3, 4, 8], in_draft=False), -1)
    assert torch.allclose(unseen, torch.full((vocab,), 1.0 / vocab))  # no repeat: maximal entropy


def test_each_drafter_kind_has_its_strategy(copy_pair, feature_pair):
    from ebsd_env.decoding.drafting import FeatureDraft, LMDraft, NGramModel, QuantizedCopyDraft, strategy_for
    from ebsd_env.decoding.quantized.runner import quantized_drafter

    assert type(strategy_for(copy_pair.drafter)) is LMDraft
    assert type(strategy_for(feature_pair.drafter)) is FeatureDraft
    assert type(strategy_for(quantized_drafter(copy_pair.verifier, "int8"))) is QuantizedCopyDraft
    assert strategy_for(NGramModel(copy_pair.verifier.config)).kind == "ngram"
    with pytest.raises(ValueError, match="min_ngram <= max_ngram"):
        NGramModel(copy_pair.verifier.config, max_ngram=1, min_ngram=2)


def test_drafter_selection_reads_the_declared_strategy_from_the_registry(copy_pair):
    """`strategy_for` looks the model's declared ``draft_strategy`` up in `STRATEGIES`: a declared name picks its
    class whatever the model's type, and a name no strategy implements is refused instead of drafting as an LM."""
    from ebsd_env.decoding.drafting import STRATEGIES, NGramDraft, strategy_for

    assert set(STRATEGIES) == {"lm", "feature", "quantized", "ngram"}
    model = copy.deepcopy(copy_pair.drafter)
    model.draft_strategy = "ngram"
    assert type(strategy_for(model)) is NGramDraft
    model.draft_strategy = "medusa"
    with pytest.raises(ValueError, match="draft_strategy='medusa'.*valid: lm, feature, quantized, ngram"):
        strategy_for(model)


def test_same_seed_same_sample(noisy_pair):
    runs = [SpeculativeDecoder(noisy_pair, temperature=1.0, seed=7).generate(PROMPT, 3, max_new_tokens=20)
            for _ in range(2)]
    assert runs[0].token_ids == runs[1].token_ids


def test_peek_accepts_predicts_verification(random_pair, noisy_pair, feature_pair):
    for pair, temperature in ((random_pair, 0.0), (noisy_pair, 0.0), (noisy_pair, 1.0), (feature_pair, 0.0),
                              (feature_pair, 1.0)):
        decoder = SpeculativeDecoder(pair, temperature=temperature, max_new_tokens=60, seed=1)
        decoder.start(PROMPT)
        while not decoder.finished:
            while decoder.draft_room and len(decoder.draft_steps) < 4:
                decoder.draft()
            predicted = decoder.peek_accepts()
            assert decoder.verify().accepted == predicted


def test_a_drafted_eos_ends_the_draft(copy_pair, eos_every_third):
    eos = copy_pair.tokenizer.eos_token_id
    pair = eos_every_third(copy_pair)
    decoder = SpeculativeDecoder(pair, max_new_tokens=40)
    reference = decoder.generate(PROMPT).token_ids
    assert eos not in reference  # the verifier itself never ends here: every drafted EOS gets rejected
    result = decoder.generate(PROMPT, 8)
    assert result.token_ids == reference
    assert max(result.stats["draft_lengths"]) < 8  # no draft ran on past a drafted EOS to the cap
    decoder.start(PROMPT)
    while decoder.draft_room > 0:
        decoder.draft()
    assert decoder.draft_steps[-1].token == eos and len(decoder.draft_steps) <= 3
    with pytest.raises(DecoderError, match="end-of-sequence"):
        decoder.draft()


def test_a_smaller_drafter_vocabulary_is_padded_never_truncating_the_verifier(run_policy):
    """Verifier vocabulary 46 + 6 padded rows, drafter 46: the verifier may emit ids the drafter cannot; the
    decoder pads the drafter's logits with -inf and feeds it such ids as its last id; outputs stay exact and
    sampling draws only tokens the drafter can propose."""
    from transformers import LlamaForCausalLM

    base = tiny_pair("noisy", noise=0.1)
    config = base.verifier.config.to_dict() | {"vocab_size": base.verifier.config.vocab_size + 6}
    torch.manual_seed(0)
    verifier = LlamaForCausalLM(type(base.verifier.config)(**config)).eval()
    with torch.no_grad():
        verifier.lm_head.weight[-6:] *= 4.0  # make the extra ids likely enough to be emitted
    pair = ModelPair(base.drafter, verifier, base.tokenizer, "small-vocab", "large-vocab")
    assert pair.vocab_size == base.drafter.config.vocab_size + 6 == pair.drafter_vocab_size + 6
    decoder = SpeculativeDecoder(pair, max_new_tokens=40)
    ids = decoder.encode_prompt(PROMPT)
    reference = _reference(pair, ids, 40)
    assert any(t >= pair.drafter_vocab_size for t in reference)  # the padded range was exercised
    assert decoder.generate(PROMPT, 3).token_ids == reference
    by_entropy = run_policy(pair, ids, "entropy-abs:theta=1.0", max_draft_len=4, max_new_tokens=40)[0]
    assert by_entropy["output_ids"] == reference and by_entropy["drafted"] > 0
    sampler = SpeculativeDecoder(pair, temperature=1.0, seed=0, max_new_tokens=10)
    sampler.start(PROMPT)
    step = sampler.draft()
    assert sampler._draft_probs[0].shape[-1] == pair.vocab_size and step.token < pair.drafter_vocab_size
    assert float(sampler._draft_probs[0][pair.drafter_vocab_size:].sum()) == 0.0


def test_budget_and_eos_end_the_sequence(copy_pair):
    decoder = SpeculativeDecoder(copy_pair, max_new_tokens=5)
    result = decoder.generate(PROMPT, 8)
    assert len(result.token_ids) <= 5
    assert result.stats["draft_lengths"][0] <= 4  # drafting never goes past what the budget can emit
    with pytest.raises(DecoderError, match="finished"):
        decoder.draft()


def test_bad_input_gets_clear_errors(noisy_pair):
    with pytest.raises(ValueError, match="temperature"):
        SpeculativeDecoder(noisy_pair, temperature=-1)
    with pytest.raises(ValueError, match="temperature"):
        SpeculativeDecoder(noisy_pair, temperature=float("nan"))
    with pytest.raises(ValueError, match="top_p"):
        SpeculativeDecoder(noisy_pair, top_p=0)
    with pytest.raises(ValueError, match="max_new_tokens"):
        SpeculativeDecoder(noisy_pair, max_new_tokens=0)
    decoder = SpeculativeDecoder(noisy_pair)
    with pytest.raises(DecoderError, match="start"):
        decoder.draft()
    with pytest.raises(ValueError, match="empty"):
        decoder.start("   ")
    with pytest.raises(ValueError, match="empty"):
        decoder.start([])
    with pytest.raises(ValueError, match="context window"):
        decoder.start("a" * 400)  # the tiny verifier's context is 256
    with pytest.raises(ValueError, match="max_new_tokens"):
        decoder.start("abc", max_new_tokens=0)
    with pytest.raises(ValueError, match="must lie in"):
        decoder.start([1, 2, 10_000])
    for bad in (-1, 1.5, None, lambda steps: True):
        with pytest.raises(ValueError, match="k must be an int >= 0"):
            decoder.generate("abc", bad)


def test_the_acceptance_rule_draws_in_order_and_stops_at_the_first_rejection():
    """`ebsd_env.decoding.sampling`, which `verify` and `peek_accepts` share: one uniform per draft token, drawn in
    order up to the first rejection; a rejected token is redrawn from norm(max(0, p - q)), or from p where p == q."""
    from ebsd_env.decoding.sampling import greedy_accepts, residual, sampled_accepts

    p = torch.tensor([[0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [0.2, 0.3, 0.5]])
    q = [torch.tensor([0.5, 0.5, 0.0]), torch.tensor([0.0, 0.0, 1.0])]
    drawn = []

    def uniform(index: int) -> float:
        drawn.append(index)
        return 0.99

    # Token 0 has p / q = 1 (kept whatever the draw); token 2 at position 1 has p = 0 (always rejected).
    assert sampled_accepts([0, 2], p, q, uniform) == 1 and drawn == [0, 1]
    drawn.clear()
    assert sampled_accepts([0], p, q, uniform) == 1 and drawn == [0]
    assert residual(p[1], q[1]).tolist() == [0.0, 1.0, 0.0]
    assert torch.equal(residual(p[0], q[0]), p[0])
    logits = torch.tensor([[0.0, 5.0, 0.0], [5.0, 0.0, 0.0], [0.0, 0.0, 5.0]])
    assert greedy_accepts([1, 0], logits) == (2, 2)  # all kept: the bonus is the verifier's next argmax
    assert greedy_accepts([1, 2], logits) == (1, 0)  # the second differs: the verifier's token replaces it
