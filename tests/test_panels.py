"""The ``avx2-panels`` float32 kernel variant (our C code for products of a few rows) and the C build it shares
with the int4 drafter's kernels."""

from __future__ import annotations

import shutil

import pytest
import torch

from ebsd_env.decoding import kernels
from ebsd_env.decoding.kernels import VARIANTS, WidthDispatchLinear, auto_candidates, choose_kernels, panels
from ebsd_env.decoding.kernels import native as native_build
from ebsd_env.decoding.kernels.panels import PanelLinear, from_panels, panels_problem, to_panels

PROBLEM = panels_problem()
needs_panels = pytest.mark.skipif(PROBLEM is not None, reason=f"avx2-panels cannot run here: {PROBLEM}")


def _exact(x: torch.Tensor, linear: torch.nn.Linear) -> torch.Tensor:
    out = x.double() @ linear.weight.double().T
    return out if linear.bias is None else out + linear.bias.double()


@needs_panels
@pytest.mark.parametrize("rows", [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 17, 32])
@pytest.mark.parametrize(("n", "k", "bias"), [(64, 576, False), (37, 24, True), (200, 3, True), (16, 1536, False)])
def test_the_product_is_as_exact_as_torchs_at_every_row_count(rows, n, k, bias):
    """Every row and column (a dropped row block, panel, partial panel or bias shows as an error of order one)
    within float32 rounding of the exact product: the bound is a few float32 steps of the sum of |terms|."""
    torch.manual_seed(rows * 1000 + n)
    linear = torch.nn.Linear(k, n, bias=bias)
    x = torch.randn(rows, k)
    with torch.inference_mode():
        out = PanelLinear(linear)(x)
    exact = _exact(x, linear)
    scale = x.double().abs() @ linear.weight.double().abs().T + (linear.bias.double().abs() if bias else 0)
    bound = 4 * k * torch.finfo(torch.float32).eps * scale + 1e-30
    assert out.shape == (rows, n) and out.dtype is torch.float32
    assert bool(((out.double() - exact).abs() <= bound).all())
    torch_error = (torch.nn.functional.linear(x, linear.weight, linear.bias).double() - exact).abs().max()
    assert (out.double() - exact).abs().max() <= 8 * torch_error + 1e-6  # no worse than BLAS by more than its order


@needs_panels
def test_panels_hold_sixteen_columns_per_input_index_and_give_the_weight_back():
    weight = torch.arange(20 * 3, dtype=torch.float32).reshape(20, 3)
    laid = to_panels(weight)
    assert laid.shape == (2, 3, 16)
    assert torch.equal(laid[0, 1], weight[:16, 1]) and torch.equal(laid[1, 2, :4], weight[16:, 2])
    assert not laid[1, :, 4:].any()  # the last panel's padding
    assert torch.equal(from_panels(laid, 20), weight)


@needs_panels
def test_threads_split_the_panels_without_changing_a_bit():
    torch.manual_seed(0)
    layer = PanelLinear(torch.nn.Linear(96, 1000))
    threads = torch.get_num_threads()
    try:
        for rows in (1, 3, 7, 12):
            x = torch.randn(rows, 96)
            torch.set_num_threads(1)
            one = layer(x)
            torch.set_num_threads(2)
            assert torch.equal(layer(x), one), rows
    finally:
        torch.set_num_threads(threads)


@needs_panels
def test_a_strided_input_is_copied_and_a_wrong_one_refused_before_the_c_code_reads_it():
    linear = torch.nn.Linear(8, 5)
    layer = PanelLinear(linear)
    wide = torch.randn(3, 16)
    strided = wide[:, ::2]
    torch.testing.assert_close(layer(strided), linear(strided).detach())
    for bad in (torch.randn(2, 9), torch.randn(2, 8, dtype=torch.float64), torch.randn(2, 8).to(torch.bfloat16)):
        with pytest.raises(ValueError, match="PanelLinear takes float32 CPU inputs of width 8"):
            layer(bad)
    assert layer(torch.randn(0, 8)).shape == (0, 5)


@needs_panels
def test_auto_can_choose_it_per_bucket_and_the_model_runs_it(tmp_path):
    from ebsd_env.decoding.tiny import tiny_model

    def timer(variant, rows, run):  # panels cheapest from two rows on, transposed for one: a mixed choice
        cost = {"plain": 1.0, "transposed": 0.5 if rows == 1 else 1.0, "avx2-panels": 0.8 if rows == 1 else 0.3}
        return cost.get(variant, 5.0) * rows

    model = tiny_model(20, seed=0)
    assert "avx2-panels" in auto_candidates(torch.device("cpu"))
    choice = choose_kernels(model, timer=timer, cache_file=tmp_path / "kernels.json", repeats=1)
    assert choice.by_bucket["1"] == "transposed"
    assert all(choice.by_bucket[bucket] == "avx2-panels" for bucket in kernels.BUCKETS[1:])
    kernels.apply_choice(model, choice.by_bucket, choice.pad_rows)
    dispatch = [m for m in model.modules() if isinstance(m, WidthDispatchLinear)]
    assert dispatch and all(isinstance(m.converted["avx2-panels"], PanelLinear) for m in dispatch)


def test_without_a_compiler_it_is_not_offered_and_says_why(monkeypatch):
    monkeypatch.setattr(panels, "panels_problem", lambda: "the avx2-panels float32 kernels need a C compiler")
    assert not VARIANTS["avx2-panels"].available(torch.device("cpu"))
    assert "avx2-panels" not in auto_candidates(torch.device("cpu"))
    with pytest.raises(kernels.ModelLoadError, match="kernels='avx2-panels' cannot run on 'cpu'"):
        choose_kernels(torch.nn.Sequential(torch.nn.Linear(4, 4)), "avx2-panels")


def test_the_shared_build_says_why_it_cannot_build(monkeypatch, tmp_path):
    """No compiler, and a source the compiler refuses: one line each, nothing loaded, nothing left half-built."""
    source = tmp_path / "broken_kernel.c"
    source.write_text("int f(void) { return missing_name; }\n")
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    monkeypatch.setattr(native_build, "cpu_flags", lambda: {"avx2", "fma"})
    monkeypatch.setattr(native_build.platform, "machine", lambda: "x86_64")
    native_build.load_native.cache_clear()
    assert native_build.load_native(source, "the test kernels") == \
        "the test kernels need a C compiler (cc, gcc or clang, or $CC) to build once"
    if shutil.which("cc") is None:
        return
    monkeypatch.setenv("CC", "cc")
    monkeypatch.setenv("EBSD_CACHE", str(tmp_path / "cache"))
    native_build.load_native.cache_clear()
    problem = native_build.load_native(source, "the test kernels")
    assert isinstance(problem, str) and problem.startswith("compiling the test kernels with ")
    assert "missing_name" in problem and "\n" not in problem
    assert not list((tmp_path / "cache").rglob("*.so"))
    native_build.load_native.cache_clear()
    monkeypatch.setattr(native_build, "cpu_flags", lambda: {"avx2"})
    assert native_build.load_native(source, "the test kernels") == \
        "the test kernels need the CPU features fma, which this CPU lacks"
    native_build.load_native.cache_clear()
