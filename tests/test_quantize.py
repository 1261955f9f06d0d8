"""Weight-only int4 / int8 drafters: exact quantization, kernels against float32, exact speculative output."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from ebsd_env.decoding.attention import few_query_problem
from ebsd_env.decoding.decoder import SpeculativeDecoder
from ebsd_env.decoding.models import DERIVED_DRAFTERS, ModelLoadError, ModelPair, derive_drafter, load_pair
from ebsd_env.decoding.quantized.runner import QuantizedLlamaRunner, quantized_drafter, runner_problem
from ebsd_env.decoding.quantized.weights import (
    Int4Linear,
    Int8Linear,
    dequantize_int4,
    quantize_int4,
    quantize_int8,
    requantization_error,
)
from ebsd_env.decoding.tiny import tiny_model, tiny_pair, tiny_tokenizer

PROMPT = "the cat sat on the mat. "
FEW_QUERY_PROBLEM = few_query_problem()
needs_few_query = pytest.mark.skipif(FEW_QUERY_PROBLEM is not None,
                                     reason=f"the few-query kernel cannot run here: {FEW_QUERY_PROBLEM}")


def _int4_weight(n: int, k: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """A weight built as d*q + m per group of 32 columns, d and m float16 values (as in a Q4_1 GGUF file),
    every group holding q = 0 and q = 15."""
    generator = torch.Generator().manual_seed(seed)
    groups = k // 32
    d = (torch.rand(n, groups, generator=generator) * 0.05 + 0.001).half().float()
    m = (-torch.rand(n, groups, generator=generator) * 0.4).half().float()
    q = torch.randint(0, 16, (n, groups, 32), generator=generator)
    q[..., 0], q[..., 1] = 0, 15
    weight = (d[..., None] * q + m[..., None]).reshape(n, k)
    return weight, q.reshape(n, k), d, m


def test_int4_quantization_reproduces_a_d_q_plus_m_weight_exactly():
    weight, q, d, m = _int4_weight(48, 96)
    q2, d2, m2 = quantize_int4(weight)
    assert torch.equal(q2, q.to(torch.int32)) and torch.equal(d2, d) and torch.equal(m2, m)
    assert torch.equal(dequantize_int4(q2, d2, m2), weight)
    linear = torch.nn.Linear(96, 48, bias=False)
    linear.weight.data = weight
    model = torch.nn.Sequential(linear)
    model.get_output_embeddings = lambda: None
    assert requantization_error(model) == 0.0
    linear.weight.data = weight + 1e-3 * torch.randn(weight.shape)  # not of that form: an error shows
    assert requantization_error(model) > 1e-5
    # A constant group (d = 0) comes back as its value.
    flat = torch.full((16, 32), 0.25)
    assert torch.equal(dequantize_int4(*quantize_int4(flat)), flat)


def test_quantized_layers_match_float32_products():
    torch.manual_seed(0)
    weight, *_ = _int4_weight(64, 96)
    linear = torch.nn.Linear(96, 64)
    linear.weight.data = weight
    x = torch.randn(2, 3, 96)
    reference = x @ weight.T + linear.bias
    with torch.inference_mode():
        out4, out8 = Int4Linear(linear)(x), Int8Linear(linear)(x)
    assert out4.shape == out8.shape == (2, 3, 64) and out4.dtype == out8.dtype == torch.bfloat16
    scale = reference.abs().max()
    assert (out4.float() - reference).abs().max() < 0.02 * scale  # bfloat16 activations, scales and zeros
    assert (out8.float() - reference).abs().max() < 0.02 * scale
    q8, s8 = quantize_int8(weight)
    assert q8.dtype == torch.int8 and int(q8.abs().max()) == 127
    assert (q8.float() * s8[:, None] - weight).abs().max() <= s8.max() / 2 + 1e-7


def test_int4_weight_hash_does_not_depend_on_the_cpus_packing(monkeypatch):
    """torch packs int4 weights one way on AVX2 and another on AVX-512 CPUs, so a shipped artifact's drafter hash
    (`drafter_hash`, through `weight_state`) must describe the integers, not the packed buffer: a layer packed in
    another layout hashes the same, a changed integer does not."""
    from ebsd_env.timing.cost_model import weight_state

    torch.manual_seed(0)
    weight, *_ = _int4_weight(32, 64)
    linear = torch.nn.Linear(64, 32)
    linear.weight.data = weight

    def digest(layer):
        import hashlib

        h = hashlib.sha256()
        for name, tensor in sorted(weight_state(torch.nn.Sequential(layer)).items()):
            h.update(name.encode() + tensor.float().contiguous().numpy().tobytes())
        return h.hexdigest()

    here = Int4Linear(linear)
    assert "0.packed" not in weight_state(torch.nn.Sequential(here))
    pack = torch.ops.aten._convert_weight_to_int4pack_for_cpu
    # Another CPU's layout: the same integers, packed in a different order.
    monkeypatch.setattr(torch.ops.aten, "_convert_weight_to_int4pack_for_cpu", lambda q, n: pack(q, n).flip(0))
    elsewhere = Int4Linear(linear)
    assert not torch.equal(elsewhere.packed, here.packed) and digest(elsewhere) == digest(here)
    monkeypatch.undo()
    changed = weight.clone()
    changed[0, [0, 1]] = changed[0, [1, 0]]  # two integers of one group swapped: same scale and minimum
    assert not torch.equal(changed, weight)
    linear.weight.data = changed
    assert digest(Int4Linear(linear)) != digest(here)


def _reference(pair, ids, max_new_tokens):
    out = pair.verifier.generate(torch.tensor([ids]), max_new_tokens=max_new_tokens, do_sample=False,
                                 eos_token_id=sorted(pair.eos_token_ids), pad_token_id=pair.tokenizer.pad_token_id)
    return out[0, len(ids):].tolist()


@pytest.mark.parametrize("kind", ["int4", "int8"])
def test_quantized_drafters_keep_greedy_output_exact(run_policy, kind):
    base = tiny_pair("copy", seed=2)
    drafter = derive_drafter(base.verifier, kind)
    assert not any(type(m) is torch.nn.Linear for m in drafter.modules())
    assert {p.dtype for p in drafter.parameters()} == {torch.bfloat16}
    assert all(p.dtype == torch.float32 for p in base.verifier.parameters())  # the verifier is untouched
    pair = ModelPair(drafter, base.verifier, base.tokenizer, kind, base.verifier_name)
    decoder = SpeculativeDecoder(pair, max_new_tokens=40)
    ids = decoder.encode_prompt(PROMPT)
    reference = _reference(pair, ids, 40)
    assert decoder.generate(PROMPT).token_ids == reference
    drafted = accepted = 0
    for k in (3, 1):
        result = decoder.generate(PROMPT, k)
        assert result.token_ids == reference
        drafted, accepted = drafted + result.stats["drafted"], accepted + result.stats["accepted"]
    by_entropy = run_policy(pair, ids, "entropy-abs:theta=1.0", max_draft_len=6, max_new_tokens=40)[0]
    assert by_entropy["output_ids"] == reference
    drafted, accepted = drafted + by_entropy["drafted"], accepted + by_entropy["accepted"]
    assert 0 < accepted < drafted  # a near-copy: most draft tokens kept, some rejected and rolled back


@pytest.mark.parametrize("kind", ["int4", "int8"])
def test_runner_gives_the_transformers_forward_logits_through_blocks_and_crops(kind):
    verifier = tiny_model(40, seed=4, layers=3, hidden=64)
    drafter = quantized_drafter(verifier, kind)
    assert isinstance(drafter.runner, QuantizedLlamaRunner)
    runner = QuantizedLlamaRunner(verifier, kind, capacity=4)  # small: the cache has to grow on the way
    ids = torch.randint(0, 40, (12,), generator=torch.Generator().manual_seed(0))

    def reference(prefix):
        with torch.inference_mode():
            return drafter(input_ids=prefix[None]).logits[0, -1].float()

    def check(logits, prefix):
        expected = reference(prefix)
        assert logits.dtype == torch.bfloat16 and logits.shape == expected.shape
        assert (logits.float() - expected).abs().max() < 0.05 * expected.abs().max()
        assert int(logits.argmax()) == int(expected.argmax())

    check(runner.forward(ids[:5]), ids[:5])  # a prompt block
    for stop in range(6, 9):  # token by token
        check(runner.forward(ids[stop - 1:stop]), ids[:stop])
    runner.crop(6)  # a rejected draft: positions 6.. go
    assert runner.length == 6
    check(runner.forward(ids[6:10]), ids[:10])  # a verified block fed again
    assert runner.capacity >= 10


@pytest.mark.parametrize("attention", ["sdpa", pytest.param("few-query-avx2", marks=needs_few_query)])
def test_runner_takes_committed_positions_from_the_verifier_cache(attention):
    """The verifier's keys and values rounded to bfloat16, in either cache dtype."""
    from transformers import DynamicCache

    verifier = tiny_model(40, seed=5, layers=2, hidden=64)
    runner = QuantizedLlamaRunner(verifier, "int4", capacity=4, attention=attention)
    ids = torch.randint(0, 40, (9,), generator=torch.Generator().manual_seed(1))
    cache = DynamicCache()
    with torch.inference_mode():
        verifier(input_ids=ids[None, :7], cache=cache, use_cache=True)
    runner.forward(ids[:3])  # computed by the runner itself
    runner.load_cache(cache, 3, 7)  # the rest taken from the verifier, growing the cache on the way
    assert runner.length == 7 and runner.capacity >= 7
    for index, layer in enumerate(cache.layers):
        assert torch.equal(runner.keys[index, :, 3:7].float(), layer.keys[0, :, 3:7].to(torch.bfloat16).float())
        assert torch.equal(runner.values[index, :, 3:7].float(), layer.values[0, :, 3:7].to(torch.bfloat16).float())
    logits = runner.forward(ids[7:8])
    assert runner.length == 8 and torch.isfinite(logits).all()
    with pytest.raises(ValueError, match="from position 9, but the runner holds 8"):
        runner.load_cache(cache, 9, 10)


def test_quantized_draft_strategy_reads_the_verifier_cache_and_stays_exact():
    from ebsd_env.decoding.drafting import strategy_for

    base = tiny_pair("copy", seed=2)
    drafter = quantized_drafter(base.verifier, "int4")
    assert strategy_for(drafter).reads_verifier_cache
    pair = ModelPair(drafter, base.verifier, base.tokenizer, "int4", base.verifier_name)
    decoder = SpeculativeDecoder(pair, max_new_tokens=30)
    reference = decoder.generate(PROMPT).token_ids
    assert decoder.generate(PROMPT, 3).token_ids == reference
    # Verifier-alone blocks before the first draft: the drafter starts from a cache longer than the prompt.
    decoder.start(PROMPT)
    for _ in range(3):
        decoder.verify()
    while not decoder.finished:
        while len(decoder.draft_steps) < 2 and decoder.draft_room:
            decoder.draft()
        decoder.verify()
        # After every block the drafter holds exactly the verifier's committed positions.
        assert decoder.drafter.runner.length == decoder.verifier_cache.get_seq_length()
    assert decoder.new_tokens == reference


def test_runner_is_used_for_llama_only():
    assert runner_problem(tiny_model(20, seed=0)) is None
    from transformers import GPT2Config, GPT2LMHeadModel

    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=20, n_embd=32, n_layer=1, n_head=2, n_positions=64))
    assert "not llama" in runner_problem(gpt2)


def _exact_joint(pair, ids, temperature, length):
    """Exact distribution of the first `length` emitted tokens under the verifier's processed distribution."""
    decoder = SpeculativeDecoder(pair, temperature=temperature)

    def probs(prefix):
        with torch.inference_mode():
            logits = pair.verifier(input_ids=torch.tensor([prefix])).logits[0, -1]
        return decoder._process(logits).double()

    joint, frontier = {}, [((), 1.0)]
    for depth in range(length):
        nxt = []
        for tokens, p in frontier:
            dist = probs(ids + list(tokens))
            for token in range(len(dist)):
                cell, mass = tokens + (token,), p * float(dist[token])
                if token in pair.eos_token_ids or depth == length - 1:  # the sequence ends here
                    joint[cell] = mass
                else:
                    nxt.append((cell, mass))
        frontier = nxt
    return joint


@pytest.mark.parametrize("kind", ["int4", "int8"])
def test_quantized_drafter_sampling_is_lossless(kind):
    base = tiny_pair("copy", seed=3, alphabet="abcd")  # 7 tokens: enough samples in every cell
    pair = ModelPair(derive_drafter(base.verifier, kind), base.verifier, base.tokenizer, kind,
                     base.verifier_name)
    assert pair.drafter.runner is not None  # drafts through the flat decode loop
    decoder = SpeculativeDecoder(pair, temperature=1.0, seed=7)
    ids = decoder.encode_prompt("abca")
    expected = _exact_joint(pair, ids, 1.0, 3)
    n, counts, drafted, accepted, lengths = 2000, {}, 0, 0, set()
    for _ in range(n):
        result = decoder.generate(ids, 3, max_new_tokens=3)
        counts[tuple(result.token_ids)] = counts.get(tuple(result.token_ids), 0) + 1
        drafted, accepted = drafted + result.stats["drafted"], accepted + result.stats["accepted"]
        lengths.update(result.stats["draft_lengths"])
    assert max(lengths) >= 2 and 0 < accepted < drafted  # multi-token drafts, accepted and rejected tokens
    assert set(counts) <= set(expected)
    assert _pvalue(counts, expected, n) > 1e-3
    # Power check: the drafter's own distribution differs, and the same test tells them apart.
    drafter_view = ModelPair(pair.drafter, pair.drafter, pair.tokenizer, kind, kind)
    assert _pvalue(counts, _exact_joint(drafter_view, ids, 1.0, 3), n) < 1e-6


def _pvalue(counts: dict, expected: dict, n: int) -> float:
    keys = [k for k in expected if expected[k] * n >= 5]  # rare cells pooled so the test is valid
    rare = [k for k in expected if k not in keys]
    observed = [counts.get(k, 0) for k in keys] + [sum(counts.get(k, 0) for k in rare)]
    exp = np.asarray([expected[k] * n for k in keys] + [sum(expected[k] for k in rare) * n])
    if exp[-1] == 0:
        observed, exp = observed[:-1], exp[:-1]
    return float(chisquare(observed, exp * (sum(observed) / exp.sum())).pvalue)


def test_quantized_drafter_bad_input_is_refused_in_one_line(tmp_path):
    verifier = tiny_model(20, seed=0, hidden=48)  # 48 input columns: not a whole number of 32-column groups
    with pytest.raises(ModelLoadError, match=r"layer 'model.layers.0.self_attn.q_proj' is \[48, 48\].*"
                                             r"multiple of the group size 32.*drafter='int8'") as info:
        derive_drafter(verifier, "int4")
    assert "\n" not in str(info.value)
    assert isinstance(derive_drafter(verifier, "int8"), type(verifier))  # int8 takes any shape
    with pytest.raises(ModelLoadError, match="CPU kernels but the verifier is on 'meta'.*device='cpu'"):
        quantized_drafter(tiny_model(20, seed=0).to("meta"), "int4")
    with pytest.raises(ModelLoadError, match=r"unknown derived drafter 'int3'; valid: int4, int8, int8-dynamic") \
            as info:
        derive_drafter(tiny_model(20, seed=0), "int3")
    assert "\n" not in str(info.value) and all(name in str(info.value) for name in DERIVED_DRAFTERS)
    with pytest.raises(ModelLoadError, match="the int4 drafter runs on torch's CPU kernels"):
        load_pair(drafter="int4", verifier=str(tmp_path / "never-read"), device="meta")  # refused before loading
    packed = load_pair(drafter="self", verifier=_save(tmp_path), kernels="onednn")
    with pytest.raises(ModelLoadError, match="already converted to a kernel variant"):
        derive_drafter(packed.verifier, "int4")


def _save(tmp_path):
    tokenizer = tiny_tokenizer("abcdefgh ")
    tiny_model(len(tokenizer), 0).save_pretrained(tmp_path / "v")
    tokenizer.save_pretrained(tmp_path / "v")
    return str(tmp_path / "v")


def test_load_pair_builds_quantized_drafters(tmp_path):
    pair = load_pair(drafter="int4", verifier=_save(tmp_path))
    assert pair.drafter_name == "int4" and pair.metadata["kernels"]["drafter"] == "plain"
    assert any(isinstance(m, Int4Linear) for m in pair.drafter.modules())
    assert isinstance(pair.drafter.get_output_embeddings(), Int8Linear)  # the head is int8
    result = SpeculativeDecoder(pair, max_new_tokens=12).generate("abc", 3)
    assert len(result.token_ids) == 12


@pytest.mark.slow
def test_embedded_int4_drafter_is_exact_and_requantizes_without_error(run_policy):
    from ebsd_env.decoding.models import cached_pair

    pair = cached_pair("int4", kernels="plain")
    base = cached_pair("self", kernels="plain")  # the same verifier weights, float32, never repacked
    assert requantization_error(base.verifier) < 1e-6  # the Q4_1 weights come back exactly
    decoder = SpeculativeDecoder(pair, max_new_tokens=24)
    drafted = accepted = 0
    for content in ("Name three primary colors.", "Write a Python function that reverses a string."):
        chat = [{"role": "user", "content": content}]
        ids = decoder.encode_prompt(chat)
        reference = pair.verifier.generate(torch.tensor([ids]), max_new_tokens=24, do_sample=False)[0, len(ids):]
        result = decoder.generate(chat, 3)
        by_entropy = run_policy(pair, ids, "entropy-abs:theta=1.0", max_draft_len=8, max_new_tokens=24)[0]
        for stats, output in ((result.stats, result.token_ids), (by_entropy, by_entropy["output_ids"])):
            assert output == reference.tolist()
            drafted, accepted = drafted + stats["drafted"], accepted + stats["accepted"]
    assert accepted > 0.8 * drafted  # a close copy of the verifier


def test_runner_norm_and_rotation_are_the_previous_formulas_to_the_bit():
    """The runner's in-place norm and its one-pass rotation of queries and keys give the values of the formulas
    they replaced (x * rsqrt(mean(x^2) + eps) in float32; x * cos + cat(-x2, x1) * sin), bit for bit."""
    verifier = tiny_model(40, seed=6, layers=1, hidden=64)
    runner = QuantizedLlamaRunner(verifier, "int4", capacity=300)
    generator = torch.Generator().manual_seed(2)
    for width in (64, 576):  # 576 (the embedded model's): a mean over a width that is not a power of two
        weight = torch.randn(width, generator=generator).to(torch.bfloat16)
        for rows in (1, 3, 9, 200, 5000):  # many rows: a mean off by an ulp rarely survives the bfloat16 cast
            for scale in (0.01, 1.0, 30.0):
                x = (scale * torch.randn(rows, width, generator=generator)).to(torch.bfloat16)
                x32 = x.float()
                previous = (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + runner.eps)).to(torch.bfloat16)
                assert torch.equal(runner._rms(x, weight), previous * weight)
                kept = x32.clone()
                runner._rms(x32, weight)  # a float32 input is not normalized in place
                assert torch.equal(x32, kept)
    half = runner.head_dim // 2
    positions = torch.outer(torch.arange(runner.capacity).float(), runner.inv_freq)
    sin = torch.cat([positions, positions], dim=-1).sin().to(torch.bfloat16)  # the table the runner had
    for start, count in ((0, 1), (7, 1), (100, 5), (250, 40)):
        cos, signed = runner.cos[start:start + count], runner.signed_sin[start:start + count]
        qk = torch.randn(runner.heads + runner.kv_heads, count, runner.head_dim, generator=generator)
        qk = qk.to(torch.bfloat16)
        previous = qk * cos + torch.cat([-qk[..., half:], qk[..., :half]], dim=-1) * sin[start:start + count]
        assert torch.equal(runner._rotate(qk, cos, signed), previous)


# ------------------------------------------------------------------------------- the runner's attention


def _exact_attend_cache(query, keys, values, length, mask, scale):
    """`attend_cache` in float64: the attention a runner's float32 cache would give computed exactly."""
    heads, kv_heads = query.shape[0], keys.shape[0]
    k, v = (x[:, :length].double().repeat_interleave(heads // kv_heads, dim=0) for x in (keys, values))
    scores = query.double() @ k.transpose(-1, -2) * scale
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return (scores.softmax(-1) @ v).transpose(0, 1).float()


@needs_few_query
@pytest.mark.parametrize("kind", ["int4", "int8"])
def test_runner_few_query_attention_is_the_exact_attention_through_blocks_and_crops(kind, monkeypatch):
    """The runner attending by the few-query kernel (float32 cache of bfloat16 values) against the same runner with
    the attention computed in float64, through blocks, single tokens, a crop, a block fed again and a growing cache:
    within 0.5 % of the largest logit (measured: equal) and the same argmax. The runner on torch's bfloat16 SDPA, as
    before, is the less exact one (1-2 % off here): within 5 %, the same argmax. The float32 cache holds bfloat16
    values: in the first layer, the SDPA runner's keys bit for bit."""
    from ebsd_env.decoding.quantized import runner as runner_module

    verifier = tiny_model(40, seed=4, layers=3, hidden=64)
    runners = [QuantizedLlamaRunner(verifier, kind, capacity=4, attention=a)
               for a in ("sdpa", "few-query-avx2", "few-query-avx2")]  # the last: float64 attention below
    assert runners[1].attention == "few-query-avx2" and runners[1].keys.dtype == torch.float32
    assert runners[0].keys.dtype == torch.bfloat16
    kernel = runner_module.attend_cache
    ids = torch.randint(0, 40, (14,), generator=torch.Generator().manual_seed(1))
    for feed in [ids[:5], ids[5:6], ids[6:7], ids[7:8], ("crop", 6), ids[6:10], ids[10:11]]:
        if isinstance(feed, tuple):
            for runner in runners:
                runner.crop(feed[1])
            continue
        sdpa, few = runners[0].forward(feed), runners[1].forward(feed)
        monkeypatch.setattr(runner_module, "attend_cache", _exact_attend_cache)
        exact = runners[2].forward(feed).float()
        monkeypatch.setattr(runner_module, "attend_cache", kernel)
        assert few.dtype == torch.bfloat16 and few.shape == exact.shape
        assert (few.float() - exact).abs().max() <= 0.005 * exact.abs().max()
        assert (sdpa.float() - exact).abs().max() < 0.05 * exact.abs().max()
        assert int(few.argmax()) == int(exact.argmax()) == int(sdpa.argmax())
    stored = runners[1].keys[:, :, :runners[1].length]
    assert torch.equal(stored, stored.to(torch.bfloat16).float())
    # The first layer's keys come before any attention: the two runners store the same bfloat16 values there.
    assert torch.equal(stored[0].to(torch.bfloat16), runners[0].keys[0, :, :runners[0].length])


@needs_few_query
def test_attend_cache_is_the_exact_attention_over_the_cache_prefix():
    """`attend_cache` over the first `length` positions of a longer cache, grouped heads, with and without a mask:
    within float32 rounding of float64 attention (a key past `length` read, a wrong KV head or the mask ignored
    moves it by far more); more rows than the kernel takes, None; a wrong mask, one line."""
    from ebsd_env.decoding.attention import attend_cache

    generator = torch.Generator().manual_seed(3)
    heads, kv_heads, d, capacity, length = 6, 2, 16, 50, 31
    keys, values = (torch.randn(kv_heads, capacity, d, generator=generator) for _ in range(2))
    for m in (1, 4):
        query = torch.randn(m, heads, d, generator=generator).transpose(0, 1)  # [heads, m, d], strided rows
        mask = None if m == 1 else torch.ones(m, length, dtype=torch.bool).tril(length - m)
        got = attend_cache(query, keys, values, length, mask, d ** -0.5)
        k, v = (x[:, :length].double().repeat_interleave(heads // kv_heads, dim=0) for x in (keys, values))
        scores = query.double() @ k.transpose(-1, -2) * d ** -0.5
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        exact = (scores.softmax(-1) @ v).transpose(0, 1)  # [m, heads, d]
        assert got.shape == (m, heads, d) and (got.double() - exact).abs().max() < 2e-6
    assert attend_cache(torch.randn(heads, 65, d), keys, values, length, None, 0.25) is None
    with pytest.raises(ValueError, match="bool mask"):
        attend_cache(torch.randn(heads, 2, d), keys, values, length, torch.ones(2, length), 0.25)


def test_runner_attention_is_named_or_measured_and_a_wrong_name_is_one_line(monkeypatch):
    from ebsd_env.decoding.quantized.runner import ATTENTION_ENV, runner_attention

    monkeypatch.delenv(ATTENTION_ENV, raising=False)
    assert runner_attention("auto") == ("few-query-avx2" if FEW_QUERY_PROBLEM is None else "sdpa")
    assert runner_attention("sdpa") == "sdpa"
    monkeypatch.setenv(ATTENTION_ENV, "sdpa")
    assert runner_attention("auto") == "sdpa"
    monkeypatch.setenv(ATTENTION_ENV, "flash")
    with pytest.raises(ValueError, match=r"EBSD_RUNNER_ATTENTION must be one of sdpa, few-query-avx2, got 'flash'"):
        runner_attention("auto")
    with pytest.raises(ValueError, match="attention must be one of auto, sdpa, few-query-avx2"):
        runner_attention("dense")
