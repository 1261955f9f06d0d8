"""Kernel variants chosen by measurement (with a fake clock), their cache, and the one thread setting."""

from __future__ import annotations

import json
import os
import stat
import sys
import time

import pytest
import torch

from ebsd_env import machine
from ebsd_env.decoding import kernels
from ebsd_env.decoding.kernels import (
    BUCKETS,
    VARIANTS,
    KernelChoice,
    KernelVariant,
    WidthDispatchLinear,
    apply_choice,
    auto_candidates,
    bucket_of,
    choose_kernels,
    configure_threads,
    everywhere,
    kernel_cache_key,
    machine_state,
    pick_variant,
    select_kernels,
    warn_if_busy,
)
from ebsd_env.decoding.models import ModelLoadError
from ebsd_env.decoding.tiny import tiny_model


def _model():
    return tiny_model(20, seed=0)


SLOW = 10.0  # seconds per row of a variant a fake clock does not name: never chosen


def fake_timer(seconds_per_row: dict[str, float], fixed: dict[str, float] | None = None, odd_extra: float = 0.0):
    """A clock where each variant costs `fixed` plus a time per row (`SLOW` for variants not named), plus
    `odd_extra` for an odd row count above one; records what was timed."""
    calls = []
    fixed = fixed or {}

    def timer(variant, rows, run):
        calls.append((variant, rows))
        odd = odd_extra if rows > 1 and rows % 2 else 0.0
        return fixed.get(variant, 0.0) + seconds_per_row.get(variant, SLOW) * rows + odd

    return timer, calls


@pytest.mark.parametrize("onednn,expected", [(0.5, "onednn"), (1.5, "plain"), (0.97, "plain"), (1.0, "plain")])
def test_selection_never_picks_a_variant_slower_than_plain(tmp_path, onednn, expected):
    timer, calls = fake_timer({"plain": 1.0, "onednn": onednn})
    choice = choose_kernels(_model(), timer=timer, cache_file=tmp_path / "k.json", repeats=3)
    assert choice.by_bucket == dict.fromkeys(BUCKETS, expected) and choice.variant == expected
    assert choice.source == "measured" and choice.pad_rows == {}  # costs grow with the rows: nothing padded
    slow = {name: 10_000.0 for name in auto_candidates(torch.device("cpu")) if name not in ("plain", "onednn")}
    assert choice.timings_ms["1"] == {"plain": 1000.0, "onednn": pytest.approx(1000.0 * onednn), **slow}
    assert choice.timings_ms["17+"] == {"plain": 49000.0, "onednn": pytest.approx(49000.0 * onednn),  # 17 + 32 rows
                                        **{name: 49 * ms for name, ms in slow.items()}}
    assert choice.timings_ms["3-4"]["plain"] == 7000.0  # 3 + 4 rows
    assert choice.timings_ms["5-8"]["plain"] == 26000.0  # 5 + 6 + 7 + 8 rows
    assert choice.rows_ms[7] == {"plain": 7000.0, "onednn": pytest.approx(7000.0 * onednn),
                                 **{name: 7 * ms for name, ms in slow.items()}}
    # Interleaved: every round times every variant at every row count up to 17 and at 32, in a rotated order.
    widths, variants = 18, len(auto_candidates(torch.device("cpu")))
    assert len(calls) == 3 * widths * variants and calls[:2] == [("plain", 1), ("onednn", 1)]
    assert calls[widths * variants] == ("onednn", 1)
    assert {rows for _, rows in calls} == {*range(1, 18), 32}


def test_each_bucket_of_rows_gets_its_own_winner(tmp_path):
    # oneDNN pays a fixed 2 per call and saves half of plain's per-row cost: it wins the buckets from 5-8 on
    # (5 and 8 rows: 4 + 6.5 against 13), not 3-4 (4 + 3.5 against 7).
    timer, _ = fake_timer({"plain": 1.0, "onednn": 0.5}, fixed={"onednn": 2.0})
    choice = choose_kernels(_model(), timer=timer, cache_file=tmp_path / "k.json", repeats=1)
    assert choice.by_bucket == {"1": "plain", "2": "plain", "3-4": "plain", "5-8": "onednn", "9-16": "onednn",
                                "17+": "onednn"}
    assert choice.variant == "1-4:plain,5+:onednn" and choice.as_dict()["by_bucket"] == choice.by_bucket
    assert KernelChoice({**choice.by_bucket, "17+": "plain"}, "x").variant == "1-4:plain,5-16:onednn,17+:plain"
    assert KernelChoice({**choice.by_bucket, "2": "onednn"}, "x").variant == "1:plain,2:onednn,3-4:plain,5+:onednn"
    again = choose_kernels(_model(), timer=None, cache_file=tmp_path / "k.json")
    assert (again.source, again.by_bucket) == ("cache", choice.by_bucket)


def test_an_odd_row_count_that_costs_more_than_the_next_is_padded(tmp_path):
    # Odd counts above one cost 3 more than plain's 1 per row: 3 rows (6) pad to 4 (4), 5 (8) to 6, 15 (18) to
    # 16; 17 rows (the last bucket, timed at 17 and 32 only) and 1 row (a bucket of its own) are never padded.
    timer, _ = fake_timer({"plain": 1.0, "onednn": 2.0}, odd_extra=3.0)
    choice = choose_kernels(_model(), timer=timer, cache_file=tmp_path / "k.json", repeats=1)
    assert choice.by_bucket == everywhere("plain")
    assert choice.pad_rows == {3: 4, 5: 6, 7: 8, 9: 10, 11: 12, 13: 14, 15: 16}
    assert choice.variant == "plain,pad:3>4,5>6,7>8,9>10,11>12,13>14,15>16"
    assert choice.timings_ms["3-4"]["plain"] == 8000.0  # 3 rows at 4 rows' cost, and 4 rows
    again = choose_kernels(_model(), timer=None, cache_file=tmp_path / "k.json")
    assert (again.source, again.pad_rows, again.rows_ms) == ("cache", choice.pad_rows, choice.rows_ms)
    # A saving within the margin (1.5 more: 9 rows cost 10.5, 10 rows 10, under 5 % less) pads nothing from 9 on.
    timer, _ = fake_timer({"plain": 1.0}, odd_extra=1.5)
    small = choose_kernels(_model(), timer=timer, cache_file=tmp_path / "other.json", repeats=1)
    assert small.pad_rows == {3: 4, 5: 6, 7: 8}


def test_a_padded_layer_multiplies_the_padded_rows_and_returns_the_real_ones(monkeypatch):
    monkeypatch.setitem(VARIANTS, "other", KernelVariant("other", "a recording variant", _Recording,
                                                         lambda device: True))
    model, reference = _model(), _model()
    apply_choice(model, {**everywhere("plain"), "3-4": "other", "9-16": "other"}, {3: 4, 11: 16})
    for rows, seen in ((3, 4), (4, 4), (11, 16), (12, 12), (5, None)):
        _Recording.calls.clear()
        ids = torch.arange(rows)[None] % 20
        with torch.inference_mode():
            torch.testing.assert_close(model(input_ids=ids).logits, reference(input_ids=ids).logits)
        assert set(_Recording.calls) == ({seen} if seen else set()), rows
    # Padding with plain alone also wraps the layers; padding that leaves its bucket is refused.
    plain = apply_choice(_model(), everywhere("plain"), {7: 8})
    assert any(isinstance(m, WidthDispatchLinear) for m in plain.modules())
    with pytest.raises(ValueError, match="pad_rows maps 4 rows to 5: padding must go up within a bucket"):
        apply_choice(_model(), everywhere("plain"), {4: 5})


@pytest.mark.parametrize("name", sorted(VARIANTS))
@pytest.mark.parametrize("bias", [True, False])
def test_every_variant_computes_the_linear_product_and_hashes_as_its_weights(name, bias):
    from ebsd_env.timing.cost_model import weight_state

    if not VARIANTS[name].available(torch.device("cpu")):
        pytest.skip(f"{name} cannot run on this CPU")
    linear = torch.nn.Linear(12, 7, bias=bias)
    expected = {key: tensor.clone() for key, tensor in linear.state_dict().items()}
    layer = VARIANTS[name].convert(linear)
    # 4, 8 and 16 rows: the products the MKL packs are made for (other counts take their plain path)
    for shape in ((1, 12), (1, 3, 12), (4, 12), (2, 4, 12), (2, 5, 12), (16, 12), (40, 12)):
        x = torch.randn(shape)
        with torch.inference_mode():
            out = layer(x)
        assert out.shape == (*shape[:-1], 7) and out.is_contiguous()  # a strided view slows every op after it
        torch.testing.assert_close(out, torch.nn.functional.linear(x, linear.weight, linear.bias))
    state = weight_state(torch.nn.Sequential(layer))
    assert {key.removeprefix("0.") for key in state} == set(expected)
    assert all(torch.equal(state[f"0.{key}"], value) for key, value in expected.items())


def test_the_command_line_offers_every_kernel_choice():
    from typing import get_args

    from ebsd_env.cli.args import KernelName
    from ebsd_env.decoding.kernels import KERNEL_CHOICES

    assert get_args(KernelName) == KERNEL_CHOICES


def test_auto_times_the_mkl_packs_only_when_enabled(monkeypatch, tmp_path):
    from ebsd_env.decoding.kernels import MKL_PACKS_ENV, mkl_packing_available

    if not mkl_packing_available("cpu"):
        pytest.skip("no MKL packing on this CPU")
    monkeypatch.delenv(MKL_PACKS_ENV, raising=False)
    off_key = kernel_cache_key(_model())
    assert not any(name.startswith("mkl-packed-") for name in auto_candidates(torch.device("cpu")))
    monkeypatch.setenv(MKL_PACKS_ENV, "1")
    assert {"mkl-packed-4", "mkl-packed-8", "mkl-packed-16"} <= set(auto_candidates(torch.device("cpu")))
    assert kernel_cache_key(_model()) == off_key + " | mkl packs"  # a choice made with them is cached apart
    timer, _ = fake_timer({"plain": 1.0, "mkl-packed-8": 0.1})
    choice = choose_kernels(_model(), timer=timer, cache_file=tmp_path / "k.json", repeats=1)
    assert "mkl-packed-8" in choice.timings_ms["5-8"]
    monkeypatch.setenv(MKL_PACKS_ENV, "yes")
    with pytest.raises(ModelLoadError, match="EBSD_MKL_PACKS='yes': set it to 1"):
        choose_kernels(_model(), cache_file=tmp_path / "k.json")


def test_mkl_packs_are_not_timed_where_their_copies_would_not_fit(capsys):
    from ebsd_env.decoding.kernels import affordable

    names = ["plain", "onednn", "transposed", "weight-left", "mkl-packed-4", "mkl-packed-8"]
    # 4 own-layout copies of 1 GB: 4 GB fit in half of 8 GB, not in half of 7 GB (shared-weight variants are free)
    assert affordable(names, 10**9, available=8 * 10**9) == names
    assert affordable(names, 10**9, available=7 * 10**9) == ["plain", "onednn", "transposed", "weight-left"]
    assert "not timing MKL-packed kernels: 4 copies of 1.0 GB" in capsys.readouterr().err


def test_pick_variant_keeps_plain_within_the_margin():
    assert pick_variant({"plain": 1.0, "onednn": 0.96}, margin=0.05) == "plain"
    assert pick_variant({"plain": 1.0, "onednn": 0.94}, margin=0.05) == "onednn"
    assert pick_variant({"plain": 1.0, "onednn": 0.9, "other": 0.5}) == "other"
    assert pick_variant({"plain": 1.0, "onednn": 1.2, "other": 1.1}) == "plain"


def test_bucket_of_rows():
    assert [bucket_of(rows) for rows in (0, 1, 2, 3, 4, 5, 8, 9, 16, 17, 200)] == \
        ["1", "1", "2", "3-4", "3-4", "5-8", "5-8", "9-16", "9-16", "17+", "17+"]


class _Recording(torch.nn.Module):
    """A test variant: the plain product, recording the row count of every call."""

    calls: list[int] = []

    def __init__(self, linear):
        super().__init__()
        self.linear = torch.nn.Linear(linear.in_features, linear.out_features, bias=linear.bias is not None)
        self.linear.load_state_dict(linear.state_dict())

    def forward(self, x):
        _Recording.calls.append(x.numel() // x.shape[-1])
        return self.linear(x)


def test_each_forward_runs_its_buckets_variant(monkeypatch):
    monkeypatch.setitem(VARIANTS, "other", KernelVariant("other", "a recording variant", _Recording,
                                                         lambda device: True))
    model, reference = _model(), _model()
    head_weight = model.get_output_embeddings().weight
    by_bucket = {**everywhere("plain"), "2": "other", "5-8": "other", "17+": "other"}
    apply_choice(model, by_bucket)
    layers = [m for m in model.modules() if isinstance(m, WidthDispatchLinear)]
    assert layers and not any(type(m) is torch.nn.Linear for m in model.modules() if m not in
                              [r.linear for layer in layers for r in layer.converted.values()])
    # The plain weight is kept, not copied (a tied embedding and output head stay one tensor).
    assert model.get_output_embeddings().weight is head_weight
    head = model.get_output_embeddings()
    for rows, runs_other in ((1, False), (2, True), (3, False), (4, False), (5, True), (8, True), (9, False),
                             (16, False), (17, True), (40, True)):
        _Recording.calls.clear()
        ids = torch.arange(rows)[None] % 20
        with torch.inference_mode():
            logits = model(input_ids=ids).logits
            torch.testing.assert_close(logits, reference(input_ids=ids).logits)
        assert _Recording.calls == ([rows] * len(layers) if runs_other else []), rows
    _Recording.calls.clear()
    with torch.inference_mode():
        head(torch.randn(2, 3, head.in_features))  # a batch: rows are counted over it (2 x 3 = 6: bucket 5-8)
    assert _Recording.calls == [6]


def test_a_new_variant_is_one_entry_and_is_measured_too(tmp_path, monkeypatch):
    monkeypatch.setitem(VARIANTS, "other", KernelVariant("other", "a test variant", lambda linear: linear,
                                                         lambda device: True))
    timer, calls = fake_timer({"plain": 1.0, "onednn": 2.0, "other": 0.25})
    model = _model()
    choice = select_kernels(model, timer=timer, cache_file=tmp_path / "k.json", repeats=1)
    assert choice.variant == "other" and {name for name, _ in calls} == {*auto_candidates(torch.device("cpu"))}
    assert "other" in auto_candidates(torch.device("cpu"))


def test_choice_is_cached_atomically_and_reused(tmp_path):
    path = tmp_path / "sub" / "kernels.json"
    timer, _ = fake_timer({"plain": 1.0, "onednn": 0.5})
    model = _model()
    first = choose_kernels(model, timer=timer, cache_file=path, repeats=1)
    assert first.variant == "onednn" and first.source == "measured"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert not [p for p in path.parent.iterdir() if p.name != "kernels.json"]  # no temporary file left
    entry = json.loads(path.read_text())["entries"][first.key]
    assert entry["buckets"] == everywhere("onednn") and entry["pad_rows"] == {}
    assert entry["timings_ms"]["2"] == {"plain": 2000.0, "onednn": 1000.0,
                                        **{name: 20_000.0 for name in auto_candidates(torch.device("cpu"))
                                           if name not in ("plain", "onednn")}}
    assert entry["rows_timed"]["5-8"] == [5, 6, 7, 8] and entry["rows_timed"]["1"] == [1]
    assert entry["rows_timed"]["17+"] == [17, 32] and entry["rows_ms"]["6"]["plain"] == 6000.0

    def no_timing(*_):
        raise AssertionError("a cached choice must not be measured again")

    again = choose_kernels(_model(), timer=no_timing, cache_file=path)
    assert (again.variant, again.source, again.key) == ("onednn", "cache", first.key)
    # A damaged cache is measured again and repaired.
    path.write_text("{not json")
    assert choose_kernels(model, timer=timer, cache_file=path, repeats=1).source == "measured"
    assert json.loads(path.read_text())["entries"][first.key]["buckets"] == everywhere("onednn")
    # A cache of an earlier version (one variant per model; per bucket without padding) is measured again.
    path.write_text(json.dumps({"version": 1, "entries": {first.key: {"variant": "onednn"}}}))
    assert choose_kernels(model, timer=timer, cache_file=path, repeats=1).source == "measured"
    path.write_text(json.dumps({"version": 2, "entries": {first.key: {"buckets": everywhere("onednn")}}}))
    assert choose_kernels(model, timer=timer, cache_file=path, repeats=1).source == "measured"
    # A damaged padding table in a current entry is measured again too.
    entries = json.loads(path.read_text())
    entries["entries"][first.key]["pad_rows"] = {"three": 4}
    path.write_text(json.dumps(entries))
    assert choose_kernels(model, timer=timer, cache_file=path, repeats=1).source == "measured"


def test_cache_key_changes_with_threads_dtype_and_shapes(tmp_path, monkeypatch):
    model = _model()
    key = kernel_cache_key(model, threads=1)
    assert key != kernel_cache_key(model, threads=2)
    assert key != kernel_cache_key(tiny_model(20, seed=0, hidden=64), threads=1)  # other linear shapes
    assert key == kernel_cache_key(tiny_model(20, seed=5), threads=1)  # other weights, same shapes
    assert "threads 1" in key and "float32" in key and machine.cpu_model() in key
    path = tmp_path / "k.json"
    timer, calls = fake_timer({"plain": 1.0, "onednn": 0.5})
    choose_kernels(model, timer=timer, cache_file=path, repeats=1)
    measured = len(calls)
    choose_kernels(model, timer=timer, cache_file=path, repeats=1)
    assert len(calls) == measured  # cached
    # Another thread count is another machine as far as kernels go: measured again (threads faked, not set).
    monkeypatch.setattr(torch, "get_num_threads", lambda: 7)
    choose_kernels(model, timer=timer, cache_file=path, repeats=1)
    assert len(calls) == 2 * measured
    assert len(json.loads(path.read_text())["entries"]) == 2


def test_requested_and_impossible_variants(tmp_path):
    model = _model()
    choice = select_kernels(model, "onednn", cache_file=tmp_path / "k.json")
    assert choice.source == "requested" and not any(type(m) is torch.nn.Linear for m in model.modules())
    # Nothing left to convert: a packed (or quantized) model reports plain without timing anything.
    assert choose_kernels(model, cache_file=tmp_path / "k.json").source == "no float32 linear layers"
    with pytest.raises(ModelLoadError, match="kernels='onednn' cannot run on 'meta'"):
        choose_kernels(_model().to("meta"), "onednn")
    assert choose_kernels(_model().to("meta")).source == "only variant available"
    with pytest.raises(ModelLoadError, match="unknown kernels 'fastest'; valid: auto, plain, onednn, transposed, "
                                             "weight-left"):
        choose_kernels(_model(), "fastest")


def test_real_measurement_on_a_tiny_model(tmp_path):
    choice = choose_kernels(_model(), cache_file=tmp_path / "k.json", repeats=2)
    assert choice.source == "measured" and set(choice.timings_ms) == set(BUCKETS)
    assert all(set(ms) == set(auto_candidates(torch.device("cpu"))) and min(ms.values()) > 0
               for ms in choice.timings_ms.values())
    assert set(choice.rows_ms) == {*range(1, 18), 32}


def test_configure_threads_order(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.delenv("EBSD_THREADS", raising=False)
    assert configure_threads(None) == before  # nothing set: torch's setting stays
    monkeypatch.setenv("EBSD_THREADS", "1")
    assert configure_threads(None) == 1
    assert configure_threads(1) == 1  # an explicit count wins over the variable
    monkeypatch.setenv("EBSD_THREADS", "many")
    with pytest.raises(ValueError, match="EBSD_THREADS='many' is not a whole number") as info:
        configure_threads(None)
    assert "\n" not in str(info.value)
    monkeypatch.setenv("EBSD_THREADS", "0")
    with pytest.raises(ValueError, match=">= 1"):
        configure_threads(None)
    with pytest.raises(ValueError, match="threads must be >= 1, got 0"):
        configure_threads(0)
    torch.set_num_threads(before)


def test_machine_state_and_busy_warning(monkeypatch, capsys):
    state = machine_state()
    assert set(state) == {"cpu", "cores", "threads", "load_1min"} and state["cores"] >= 1
    monkeypatch.setattr(machine, "cpu_cores", lambda: 2)
    monkeypatch.setattr(machine, "other_cpu_load", lambda window_s: 0.05)  # an idle machine: background noise
    assert warn_if_busy(own_threads=2) is None and capsys.readouterr().err == ""
    # Another 2-thread job on 2 cores: the load average (2.0) stays under this run's 2 threads plus slack,
    # which is why it once never warned; the CPU time of other processes shows it.
    monkeypatch.setattr(machine.os, "getloadavg", lambda: (2.0, 2.0, 2.0))
    monkeypatch.setattr(machine, "other_cpu_load", lambda window_s: 1.9)
    message = warn_if_busy(own_threads=2)
    assert message and "busy" in message and "1.90 cores of 2" in message and message in capsys.readouterr().err
    monkeypatch.setattr(machine, "other_cpu_load", lambda window_s: None)  # no /proc: the load average
    monkeypatch.setattr(machine.os, "getloadavg", lambda: (3.5, 0.0, 0.0))
    assert "1-minute load average" in warn_if_busy(own_threads=1)
    monkeypatch.setattr(machine.os, "getloadavg", lambda: (1.2, 0.0, 0.0))
    assert warn_if_busy(own_threads=1) is None


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="reads /proc")
def test_busy_warning_counts_another_process(capsys):
    """A busy subprocess is seen (whatever else runs here, it adds a core's worth), and this process's own
    work is not counted as another's."""
    import subprocess

    cores = machine.cpu_cores()
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.2)
        others = machine.other_cpu_load(0.5)
        message = warn_if_busy(own_threads=cores - 1 if cores > 1 else 1, window_s=0.5)
    finally:
        spinner.kill()
        spinner.wait()
    assert others > 0.5 and message and "busy" in message


def test_own_cpu_time_is_not_counted_as_others(monkeypatch):
    readings = iter([(1000, 50), (1100, 150), (1000, 50), (1100, 70)])  # (busy ticks of our CPUs, own ticks)
    monkeypatch.setattr(machine, "_cpu_jiffies", lambda cpus: next(readings))
    assert machine.other_cpu_load(0.01) == 0.0  # all 100 busy ticks were this process's
    assert machine.other_cpu_load(0.01) > 0.0  # 80 of them were another's


@pytest.mark.skipif(not kernels.onednn_available("cpu"), reason="this torch has no oneDNN")
def test_drafter_hash_describes_the_weights_not_their_kernel_layout():
    """A drafter prepacked for oneDNN hashes as the same drafter with stock layers (the fingerprint of a shipped
    artifact must not depend on which kernels this machine picked); a changed weight changes the hash."""
    from ebsd_env.decoding.tiny import tiny_pair
    from ebsd_env.timing.cost_model import drafter_hash, weight_state

    plain, packed, changed = tiny_pair("noisy"), tiny_pair("noisy"), tiny_pair("noisy")
    kernels.pack_linears(packed.drafter)
    assert any(isinstance(m, kernels.PackedLinear) for m in packed.drafter.modules())
    assert drafter_hash(packed) == drafter_hash(plain)
    with torch.no_grad():
        changed.drafter.model.layers[0].mlp.down_proj.weight[0, 0] += 1e-3
    kernels.pack_linears(changed.drafter)
    assert drafter_hash(changed) != drafter_hash(plain)
    # Kernels chosen per width (plain for one row, oneDNN for more) keep the hash too.
    by_width = tiny_pair("noisy")
    kernels.apply_choice(by_width.drafter, {bucket: "plain" if bucket == "1" else "onednn"
                                           for bucket in kernels.BUCKETS})
    assert any(isinstance(m, kernels.WidthDispatchLinear) for m in by_width.drafter.modules())
    assert drafter_hash(by_width) == drafter_hash(plain)
    # A layer with a bias gives back the same names and values packed as plain (a missing bias stays missing).
    layers = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2, bias=False))
    expected = {name: tensor.clone() for name, tensor in layers.state_dict().items()}
    state = weight_state(kernels.pack_linears(layers))
    assert set(state) == set(expected)
    assert all(torch.equal(state[name], expected[name]) for name in expected)


BY_WIDTH_CHOICES = {
    "torch's": {"1": "transposed", "2": "plain", "3-4": "weight-left", "5-8": "onednn", "9-16": "plain",
                "17+": "onednn"},
    "with avx2-panels": {"1": "avx2-panels", "2": "transposed", "3-4": "avx2-panels", "5-8": "plain",
                         "9-16": "avx2-panels", "17+": "avx2-panels"},
}


@pytest.mark.parametrize("choice", sorted(BY_WIDTH_CHOICES))
def test_by_width_kernels_keep_greedy_outputs_exact(run_policy, choice):
    """A verifier whose widths run different kernels (every variant, some row counts padded) gives the verifier
    alone's greedy output at every draft length."""
    from ebsd_env.decoding.decoder import SpeculativeDecoder
    from ebsd_env.decoding.models import ModelPair
    from ebsd_env.decoding.tiny import tiny_pair

    if not all(VARIANTS[name].available(torch.device("cpu")) for name in BY_WIDTH_CHOICES[choice].values()):
        pytest.skip(f"a variant of {BY_WIDTH_CHOICES[choice]} cannot run on this CPU")
    base = tiny_pair("noisy", seed=3, noise=0.2)
    mixed = tiny_pair("noisy", seed=3, noise=0.2).verifier
    apply_choice(mixed, BY_WIDTH_CHOICES[choice], {3: 4, 7: 8, 11: 12})
    assert any(isinstance(m, WidthDispatchLinear) for m in mixed.modules())
    pair = ModelPair(base.drafter, mixed, base.tokenizer, base.drafter_name, "tiny-by-width")
    prompt = "the cat sat on the mat. the dog"
    ids = base.tokenizer.encode(prompt)
    plain = base.verifier.generate(torch.tensor([ids]), max_new_tokens=40, do_sample=False, eos_token_id=None,
                                   pad_token_id=0)[0, len(ids):].tolist()
    decoder = SpeculativeDecoder(pair, max_new_tokens=40)
    reference = decoder.generate(prompt).token_ids
    assert reference[: len(plain)] == plain[: len(reference)]  # the same model as the plain one
    drafted = accepted = 0
    for k in (1, 2, 3, 6, 8, 10):  # 2 to 11 rows: every variant, padded (3, 7, 11 rows) and not
        result = decoder.generate(prompt, k)
        assert result.token_ids == reference, k
        drafted, accepted = drafted + result.stats["drafted"], accepted + result.stats["accepted"]
    by_entropy = run_policy(pair, decoder.encode_prompt(prompt), "entropy-abs:theta=0.5", max_draft_len=12,
                            max_new_tokens=40)[0]
    assert by_entropy["output_ids"] == reference
    assert 0 < accepted < drafted  # blocks of every width were verified, with rejections rolled back


def test_grouped_attention_gives_the_same_logits_and_greedy_output():
    """The verifier's masked (multi-token) forwards with KV heads grouped instead of repeated: the same logits to
    the bit, prefill, one token and blocks alike."""
    from transformers import DynamicCache

    from ebsd_env.decoding.attention import GROUPED_SDPA, use_cpu_attention
    from ebsd_env.decoding.tiny import tiny_model

    reference, grouped = tiny_model(40, seed=7, layers=2, hidden=64), tiny_model(40, seed=7, layers=2, hidden=64)
    assert use_cpu_attention(grouped, few_query=False) == "grouped"
    assert grouped.config._attn_implementation == GROUPED_SDPA
    assert use_cpu_attention(grouped) == "grouped"  # already switched: nothing changes
    ids = torch.randint(0, 40, (1, 60), generator=torch.Generator().manual_seed(3))
    caches = DynamicCache(), DynamicCache()
    with torch.inference_mode():
        for start, stop in ((0, 30), (30, 31), (31, 34), (34, 43), (43, 60)):
            expected, got = (model(input_ids=ids[:, start:stop], cache=cache, use_cache=True).logits
                             for model, cache in zip((reference, grouped), caches, strict=True))
            assert torch.equal(got, expected), (start, stop)
