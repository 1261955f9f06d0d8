"""`python -m ebsd_env.timing.profile_width`: the verifier's cost by width and by op, on a tiny model."""

from __future__ import annotations

import pytest

from ebsd_env.timing.profile_width import CATEGORIES, ProfileWidthConfig, check_config, main, print_report, run


def _verifier(tmp_path) -> str:
    from ebsd_env.decoding.tiny import tiny_model, tiny_tokenizer

    tokenizer = tiny_tokenizer()
    tiny_model(len(tokenizer), 0, layers=2, hidden=64).save_pretrained(tmp_path / "v")
    tokenizer.save_pretrained(tmp_path / "v")
    return str(tmp_path / "v")


def test_cost_curve_and_profile_by_op(tmp_path, capsys):
    config = ProfileWidthConfig(verifier=_verifier(tmp_path), context=30, widths=[1, 4], kernels=["plain", "onednn"],
                                profile_kernels="plain", repeats=3, profile_iters=3, clock="cpu")
    report = run(config)
    assert set(report["curve"]) == {"plain", "onednn"} and report["kernels"]["onednn"] == "onednn"
    assert all(cell["best_s"] <= cell["median_s"] for cells in report["curve"].values() for cell in cells.values())
    assert set(report["by_op"]) == {1, 4}
    for row in report["by_op"].values():
        # Every forward runs linears, norms, attention and the head.
        assert min(row[c] for c in ("linears (attention)", "linears (mlp)", "norms", "attention", "lm head")) > 0
        assert row["masks"] > 0  # transformers builds (or decides to skip) the mask in every forward
        assert row["forward"] == pytest.approx(sum(row[c] for c in CATEGORIES) + row["other"])
        assert 0 < row["outside aten ops"] < 1 and row["other"] > 0
    assert report["same_argmax"] == {"plain": {1: True, 4: True}, "onednn": {1: True, 4: True}}
    print_report(report)
    out = capsys.readouterr().out
    assert "cost curve" in out and "linears (mlp)" in out and "x M=1 @4" in out


def test_bad_input_is_refused_before_loading(tmp_path, capsys):
    with pytest.raises(ValueError, match="unknown kernels 'fast': pick from auto, plain, onednn"):
        check_config(ProfileWidthConfig(kernels=["fast"]))
    with pytest.raises(ValueError, match="--widths must be token counts >= 1"):
        check_config(ProfileWidthConfig(widths=[0, 2]))
    with pytest.raises(ValueError, match="--clock cpu times the calling thread only"):
        check_config(ProfileWidthConfig(clock="cpu", threads=2))
    assert main(["--verifier", str(tmp_path / "never-read"), "--widths", "0"]) == 2
    assert "profile_width: error: --widths" in capsys.readouterr().err


def test_by_op_counts_a_by_width_layer_once():
    from ebsd_env.decoding.kernels import apply_choice, everywhere
    from ebsd_env.decoding.tiny import tiny_model
    from ebsd_env.timing.profile_width import WidthRunner, profile_by_op

    model = tiny_model(40, seed=0, layers=2, hidden=64)
    apply_choice(model, {**everywhere("onednn"), "1": "plain"})
    by_op = profile_by_op(WidthRunner(model, 20, 3), [1, 3], 3)
    for row in by_op.values():
        # The oneDNN module inside each layer is not timed a second time (that would leave the MLP's
        # activation at minus its linears).
        assert row["mlp activation"] > -0.5 * row["linears (mlp)"] and row["attention"] > 0
