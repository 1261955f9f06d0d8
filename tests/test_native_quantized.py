"""The native AVX2 int4 / int8 products against torch's kernels and exact arithmetic, the runner on them, and
how the runner's backend is chosen."""

from __future__ import annotations

import pytest
import torch

from ebsd_env.decoding.quantized import runner as quantized_runner
from ebsd_env.decoding.quantized.native import (
    NativeInt4Matmul,
    NativeInt8Matmul,
    native_problem,
    pack_int4_words,
)
from ebsd_env.decoding.quantized.runner import MATMUL_ENV, QuantizedLlamaRunner, build_runner, quantized_drafter
from ebsd_env.decoding.quantized.weights import quantize_int8
from ebsd_env.decoding.tiny import tiny_model

PROBLEM = native_problem()
needs_native = pytest.mark.skipif(PROBLEM is not None, reason=f"no native kernels here: {PROBLEM}")


def _bf16_step(values: torch.Tensor) -> torch.Tensor:
    """The distance from each value to the next bfloat16 away from zero (one unit in the last place)."""
    magnitude = values.abs().to(torch.bfloat16).float().clamp_min(torch.finfo(torch.bfloat16).tiny)
    return torch.ldexp(torch.ones_like(magnitude), torch.frexp(magnitude).exponent - 8)


def _tolerance(x: torch.Tensor, weight: torch.Tensor, exact: torch.Tensor) -> torch.Tensor:
    """One bfloat16 step of the exact value, plus float32 accumulation's own error bound (for sums that cancel)."""
    return _bf16_step(exact) + 2.0**-20 * (x.double().abs() @ weight.double().abs().T)


def _int4_case(n: int, k: int, seed: int):
    generator = torch.Generator().manual_seed(seed)
    q = torch.randint(0, 16, (n, k), generator=generator, dtype=torch.int32)
    scales = (0.02 * torch.randn(k // 32, n, 2, generator=generator)).to(torch.bfloat16)
    scale, zero = scales.double().unbind(-1)
    weight = (q.double() - 8) * scale.T.repeat_interleave(32, 1) + zero.T.repeat_interleave(32, 1)
    return q, scales, weight


@needs_native
def test_packing_puts_eight_values_in_a_word_lowest_first():
    q = torch.arange(16, dtype=torch.int32).reshape(1, 16)
    words = pack_int4_words(q)
    assert words.dtype == torch.int32 and words.shape == (1, 2)
    assert [int(w) & 0xFFFFFFFF for w in words[0]] == [0x76543210, 0xFEDCBA98]


@needs_native
@pytest.mark.parametrize("rows", [1, 2, 5])
@pytest.mark.parametrize(("n", "k"), [(32, 64), (48, 96), (64, 576)])
def test_int4_product_is_exact_to_one_bfloat16_step_and_mostly_torchs_bits(rows, n, k):
    q, scales, weight = _int4_case(n, k, seed=rows * 100 + n)
    x = torch.randn(rows, k, generator=torch.Generator().manual_seed(n + k)).to(torch.bfloat16)
    exact = x.double() @ weight.T
    native = NativeInt4Matmul(q, scales)(x)
    ours = torch.ops.aten._weight_int4pack_mm_for_cpu(
        x, torch.ops.aten._convert_weight_to_int4pack_for_cpu(q, 1), 32, scales)
    assert native.dtype == torch.bfloat16 and native.shape == (rows, n) and native.is_contiguous()
    tolerance = _tolerance(x, weight, exact)
    assert ((native.double() - exact).abs() <= tolerance).all()
    assert ((ours.double() - exact).abs() <= tolerance).all()  # the reference meets the same bound
    assert (native == ours).double().mean() >= 0.95


@needs_native
def test_int4_product_handles_an_odd_column_count():
    # torch's packing needs 16 output rows at a time; the native kernel takes any count (its last column alone)
    q, scales, weight = _int4_case(33, 64, seed=3)
    x = torch.randn(3, 64, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    exact = x.double() @ weight.T
    native = NativeInt4Matmul(q, scales)(x)
    assert ((native.double() - exact).abs() <= _tolerance(x, weight, exact)).all()


@needs_native
@pytest.mark.parametrize(("rows", "n", "k"), [(1, 40, 64), (3, 257, 72), (1, 512, 576)])
def test_int8_product_is_exact_to_one_bfloat16_step_and_mostly_torchs_bits(rows, n, k):
    generator = torch.Generator().manual_seed(n)
    weight, scale = quantize_int8(torch.randn(n, k, generator=generator))
    scale = scale.to(torch.bfloat16)
    x = torch.randn(rows, k, generator=generator).to(torch.bfloat16)
    exact = (x.double() @ weight.double().T) * scale.double()
    native = NativeInt8Matmul(weight, scale)(x)
    assert ((native.double() - exact).abs() <= _tolerance(x, weight * scale.double()[:, None], exact)).all()
    assert (native == torch.ops.aten._weight_int8pack_mm(x, weight, scale)).double().mean() >= 0.95


@needs_native
def test_threads_split_columns_without_changing_a_bit():
    q, scales, _ = _int4_case(96, 128, seed=5)
    int4 = NativeInt4Matmul(q, scales)
    weight, scale = quantize_int8(torch.randn(96, 128, generator=torch.Generator().manual_seed(1)))
    int8 = NativeInt8Matmul(weight, scale.to(torch.bfloat16))
    x = torch.randn(2, 128, generator=torch.Generator().manual_seed(2)).to(torch.bfloat16)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = int4(x), int8(x)
        torch.set_num_threads(2)
        two = int4(x), int8(x)
    finally:
        torch.set_num_threads(before)
    assert all(torch.equal(a, b) for a, b in zip(one, two, strict=True))


@needs_native
def test_kept_logits_survive_the_next_step_and_a_reused_output_is_a_fresh_result():
    verifier = tiny_model(40, seed=2, layers=2, hidden=64)
    runner = QuantizedLlamaRunner(verifier, "int4", matmul="native")
    first = runner.forward(torch.tensor([3, 4]))
    kept = first.clone()
    runner.forward(torch.tensor([5]))
    assert torch.equal(first, kept)  # the head's output is never overwritten by a later call
    q, scales, weight = _int4_case(32, 64, seed=9)
    product = NativeInt4Matmul(q, scales, reuse_output=True)
    for seed in range(3):  # the same tensor each time, holding this call's product
        x = torch.randn(2, 64, generator=torch.Generator().manual_seed(seed)).to(torch.bfloat16)
        exact = x.double() @ weight.T
        assert ((product(x).double() - exact).abs() <= _tolerance(x, weight, exact)).all()


@needs_native
def test_a_wrong_input_is_refused_before_the_c_code_reads_it():
    q, scales, _ = _int4_case(32, 64, seed=0)
    product = NativeInt4Matmul(q, scales)
    for bad in (torch.randn(1, 64), torch.randn(1, 32).to(torch.bfloat16), torch.randn(64).to(torch.bfloat16)):
        with pytest.raises(ValueError, match="2-D bfloat16 CPU input of width 64"):
            product(bad)


@needs_native
@pytest.mark.parametrize("kind", ["int4", "int8"])
def test_native_runner_follows_the_torch_runner_through_blocks_and_crops(kind):
    verifier = tiny_model(40, seed=4, layers=3, hidden=64)
    runners = [QuantizedLlamaRunner(verifier, kind, capacity=4, matmul=m) for m in ("torch", "native")]
    ids = torch.randint(0, 40, (12,), generator=torch.Generator().manual_seed(0))
    feeds = [ids[:5], ids[5:6], ids[6:7], ids[7:8], ("crop", 6), ids[6:10]]
    for feed in feeds:
        if isinstance(feed, tuple):
            for runner in runners:
                runner.crop(feed[1])
            continue
        reference, native = (runner.forward(feed) for runner in runners)
        assert native.dtype == torch.bfloat16 and native.shape == reference.shape
        assert (native.float() - reference.float()).abs().max() < 0.02 * reference.float().abs().max()
        assert int(native.argmax()) == int(reference.argmax())
    assert runners[1].length == 10 and runners[1].matmul == "native"


@needs_native
def test_auto_measures_once_then_reuses_the_cached_choice(monkeypatch, tmp_path):
    monkeypatch.delenv(MATMUL_ENV, raising=False)
    monkeypatch.setattr(quantized_runner, "runner_matmul_file", lambda: tmp_path / "runner_matmul.json")
    verifier = tiny_model(40, seed=1, layers=2, hidden=64)
    first = build_runner(verifier, "int4")
    assert first.matmul_choice["reason"] == "measured now"
    assert set(first.matmul_choice["seconds_per_step"]) == {"torch", "native"}
    assert first.matmul == first.matmul_choice["matmul"]
    calls = []
    monkeypatch.setattr(quantized_runner, "time_runner_step", lambda *a, **k: calls.append(1) or 1.0)
    second = build_runner(verifier, "int4")
    assert calls == [] and second.matmul == first.matmul and "cached" in second.matmul_choice["reason"]


def test_auto_keeps_torch_when_native_is_not_faster_by_the_margin(monkeypatch, tmp_path):
    monkeypatch.setattr(quantized_runner, "runner_matmul_file", lambda: tmp_path / "runner_matmul.json")
    monkeypatch.setattr(quantized_runner, "native_problem", lambda: None)
    monkeypatch.setattr(quantized_runner, "QuantizedLlamaRunner",
                        lambda verifier, kind, group_size, matmul="torch": type("R", (), {"matmul": matmul})())
    seconds = {"torch": 1.0, "native": 0.97}  # 3 % faster: under the 5 % margin
    monkeypatch.setattr(quantized_runner, "time_runner_step", lambda runner, steps=8: seconds[runner.matmul])
    runner, choice = quantized_runner.choose_runner_matmul(object.__new__(_Verifier), "int4")
    assert runner.matmul == "torch" and choice["matmul"] == "torch"
    seconds["native"] = 0.9
    (tmp_path / "runner_matmul.json").unlink()
    runner, choice = quantized_runner.choose_runner_matmul(object.__new__(_Verifier), "int4")
    assert runner.matmul == "native"


class _Verifier:
    """Just enough of a model for the cache key."""

    class config:  # noqa: N801
        @staticmethod
        def get_text_config():
            return type("C", (), dict(hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                                      num_attention_heads=2, num_key_value_heads=1, vocab_size=10))


def test_auto_without_native_kernels_says_why_and_uses_torch(monkeypatch):
    monkeypatch.delenv(MATMUL_ENV, raising=False)
    monkeypatch.setattr(quantized_runner, "native_problem", lambda: "no compiler here")
    runner = build_runner(tiny_model(40, seed=1, layers=1, hidden=64), "int4")
    assert runner.matmul == "torch" and runner.matmul_choice == {"matmul": "torch", "reason": "no compiler here"}


def test_the_backend_is_asked_for_by_name_and_a_wrong_one_is_refused(monkeypatch):
    verifier = tiny_model(40, seed=1, layers=1, hidden=64)
    monkeypatch.setenv(MATMUL_ENV, "torch")
    assert quantized_drafter(verifier, "int4").runner.matmul_choice == {"matmul": "torch",
                                                                      "reason": f"${MATMUL_ENV}"}
    monkeypatch.setenv(MATMUL_ENV, "fast")
    with pytest.raises(ValueError, match=f"{MATMUL_ENV} must be one of torch, native, got 'fast'"):
        quantized_drafter(verifier, "int4")
    with pytest.raises(ValueError, match="matmul must be one of auto, torch, native"):
        build_runner(verifier, "int4", matmul="avx")


@pytest.mark.slow
@needs_native
def test_embedded_pair_with_native_int4_is_exact(monkeypatch):
    """The embedded verifier's int4 copy on the native products: greedy output equal to the verifier's own, and
    drafts that agree with the copy on torch's kernels."""
    from ebsd_env.decoding.decoder import SpeculativeDecoder
    from ebsd_env.decoding.models import load_pair

    monkeypatch.setenv(MATMUL_ENV, "native")
    pair = load_pair("int4", kernels="plain")
    assert pair.drafter.runner.matmul == "native" and pair.metadata["drafter_matmul"] == {"int4": "native"}
    decoder = SpeculativeDecoder(pair, max_new_tokens=24)
    chat = [{"role": "user", "content": "Name three primary colors."}]
    ids = decoder.encode_prompt(chat)
    reference = pair.verifier.generate(torch.tensor([ids]), max_new_tokens=24, do_sample=False)[0, len(ids):]
    result = decoder.generate(chat, 4)
    assert result.token_ids == reference.tolist()
    assert result.stats["accepted"] > 0.8 * result.stats["drafted"]
    torch_runner = QuantizedLlamaRunner(pair.verifier, "int4", matmul="torch")
    same = 0
    for runner in (pair.drafter.runner, torch_runner):
        runner.reset()
    for token in [*ids, *reference.tolist()]:
        native, reference_logits = (r.forward(torch.tensor([token])) for r in (pair.drafter.runner, torch_runner))
        same += int(native.argmax()) == int(reference_logits.argmax())
    assert same >= 0.9 * (len(ids) + len(reference))  # near-ties may go either way; a broken product: ~0


def test_a_wrong_backend_name_is_refused_before_the_verifier_loads(monkeypatch):
    from ebsd_env.decoding import models

    monkeypatch.setenv(MATMUL_ENV, "fast")
    monkeypatch.setattr(models, "load_model", lambda *args, **kwargs: pytest.fail("a model was loaded first"))
    with pytest.raises(ValueError, match=f"{MATMUL_ENV} must be one of torch, native, got 'fast'"):
        models.load_pair("int4")
    monkeypatch.delenv(MATMUL_ENV)
    monkeypatch.setenv("EBSD_RUNNER_ATTENTION", "flash")
    with pytest.raises(ValueError, match="EBSD_RUNNER_ATTENTION must be one of sdpa, few-query-avx2, got 'flash'"):
        models.load_pair("int4")


@needs_native
@pytest.mark.parametrize("width", [64, 576, 8192])  # 576: a cascade level (18 groups); 8192: two levels
def test_native_norm_gives_torchs_bits_and_is_used_only_where_it_does(monkeypatch, width):
    """`NativeNorm` against the runner's torch norm, bit for bit, on 1-5 rows of scales 1e-4 to 1e4 (a sum of
    squares added in another order, or a product fused into it, changes the last bit of some rows); the runner
    uses it wherever torch's sums run the order it follows (torch's AVX2 and AVX-512 kernels), and keeps torch's
    norm where a check finds a differing bit."""
    from ebsd_env.decoding.quantized.native import NativeNorm

    runner = QuantizedLlamaRunner(tiny_model(40, seed=4, layers=2, hidden=64), "int4", matmul="native")
    if torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512"):
        assert runner.norm_kernel == "native"
    norm, generator = NativeNorm(runner.eps), torch.Generator().manual_seed(width)
    weight = (torch.rand(width, generator=generator) * 2).to(torch.bfloat16)
    for trial in range(24):
        x = (torch.randn(1 + trial % 5, width, generator=generator) * 10.0 ** (trial % 9 - 4)).to(torch.bfloat16)
        assert torch.equal(norm(x, weight), runner._rms(x, weight))
    # A sum in another order moves a bfloat16 output only when it sits at a rounding boundary: many rows at once
    # (the lanes added in reverse order differ in 14 of 20 000 rows of width 576, and in 3 and 1 at the others).
    x = torch.randn(20_000 if width < 8192 else 2_000, width, generator=generator).to(torch.bfloat16)
    assert torch.equal(norm(x, weight), runner._rms(x, weight))
    logits = runner.forward(torch.tensor([3, 5, 7]))
    monkeypatch.setattr(NativeNorm, "__call__", lambda self, x, w: runner._rms(x, w).view(torch.int16).add(1)
                        .view(torch.bfloat16))  # one bit off
    fallback = QuantizedLlamaRunner(tiny_model(40, seed=4, layers=2, hidden=64), "int4", matmul="native")
    assert fallback.norm_kernel == "torch"
    assert torch.equal(fallback.forward(torch.tensor([3, 5, 7])), logits)  # the same bits by either norm
