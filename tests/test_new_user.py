"""What a new user runs into first: help that names the command, bad input that ends in one clear line before
any slow work, and files that others can read. Every case here was found by trying the tools as a newcomer."""

from __future__ import annotations

import json
import os
import stat
import time

import pytest
import torch

from ebsd_env.cli import main as ebsd
from ebsd_env.decoding.decoder import SpeculativeDecoder

PROMPTS = [{"id": "a1", "category": "alpha", "prompt": "the quick brown fox"},
           {"id": "b1", "category": "beta", "prompt": "hello world"}]


def one_error_line(err: str, command: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith(f"ebsd {command}: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("command", ["generate", "eval", "policies", "tune", "distill", "fit-acceptance",
                                     "bench decoder", "bench env", "train ppo", "split", "record"])
def test_help_names_the_subcommand(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        ebsd([*command.split(), "--help"])
    assert exit_info.value.code == 0
    assert f"usage: ebsd {command} " in capsys.readouterr().out


def test_bench_help_exits_0_and_lists_its_two_benchmarks(capsys):
    assert ebsd(["bench", "--help"]) == 0
    out = capsys.readouterr().out
    assert "ebsd bench decoder" in out and "ebsd bench env" in out


def test_shared_model_flags_keep_their_names(capsys):
    for command in ("generate", "eval", "tune", "train ppo", "bench decoder"):
        with pytest.raises(SystemExit):
            ebsd([*command.split(), "--help"])
        out = capsys.readouterr().out
        for flag in ("--drafter", "--verifier", "--device", "--threads", "--kernels"):
            assert flag in out, (command, flag)
    with pytest.raises(SystemExit):
        ebsd(["generate", "--help"])
    assert "--top-p" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--k", "0"], "--k must be >= 1"),
    (["--max-new-tokens", "0"], "--max-new-tokens must be >= 1"),
    (["--temperature", "-1"], "--temperature must be a finite number >= 0"),
    (["--top-p", "1.5"], "--top-p must be in (0, 1]"),
])
def test_generate_validates_before_loading_models(args, message, capsys, monkeypatch):
    import ebsd_env.cli.generate

    def no_loading(*_, **__):
        raise AssertionError("models loaded before the arguments were checked")

    monkeypatch.setattr(ebsd_env.cli.generate, "load_pair", no_loading)
    assert ebsd(["generate", *args]) == 2
    assert message in one_error_line(capsys.readouterr().err, "generate")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_missing_cuda_device_is_one_line_naming_the_fix(capsys):
    assert ebsd(["generate", "--device", "cuda"]) == 2
    assert "--device cpu" in one_error_line(capsys.readouterr().err, "generate")


def test_an_unreachable_model_id_fails_at_once(capsys, monkeypatch):
    from ebsd_env.decoding import hub

    monkeypatch.setattr(hub, "hub_offline", lambda: False)
    monkeypatch.setattr(hub, "hub_reachable", lambda: False)
    start = time.perf_counter()
    with pytest.raises(hub.HubUnavailable, match="cannot be reached from here"):
        hub.check_hub_model("no-such-org/no-such-model")
    assert time.perf_counter() - start < 5


def test_eval_refuses_bad_values_before_writing_run_json(tmp_path, noisy_pair, make_prompt_file):
    from eval.run import EvalConfig, evaluate

    out = tmp_path / "run"
    base = dict(prompts=make_prompt_file(tmp_path, PROMPTS), policies=("fixed-k:k=2",), max_new_tokens=8,
                clock="model", out=str(out), limit_per_category=None, tensorboard=False)
    for bad, message in (({"top_p": 0.0}, "--top-p"), ({"temperature": (-0.5,)}, "--temperature"),
                         ({"entropy": "gini"}, "unknown entropy type 'gini'")):
        with pytest.raises(ValueError, match=message):
            evaluate(EvalConfig(**base, **bad), pair=noisy_pair)
        assert not (out / "run.json").exists()
    evaluate(EvalConfig(**base), pair=noisy_pair)  # the corrected rerun into the same folder is accepted
    assert (out / "run.json").is_file()


def test_an_out_path_through_a_file_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "results.json"
    blocker.write_text("{}")
    assert ebsd(["eval", "--pair", "tiny-noisy", "--out", str(blocker / "run")]) == 2
    assert f"passes through the file {blocker}" in one_error_line(capsys.readouterr().err, "eval")


def test_decoder_refuses_none_prompts_and_entropy_rules_negative_thresholds(noisy_pair):
    from policies.registry import make_policy

    with pytest.raises(ValueError, match="the prompt must be text, chat messages"):
        SpeculativeDecoder(noisy_pair).generate(None, 1)
    with pytest.raises(ValueError, match="theta=-1.0 is out of range"):
        make_policy("entropy-abs:theta=-1")
    for bad in ("nan", "inf"):
        with pytest.raises(ValueError, match="theta must be a finite float"):
            make_policy(f"entropy-abs:theta={bad}")


def test_run_files_are_readable_by_others(tmp_path, noisy_pair, make_prompt_file):
    from eval.run import EvalConfig, evaluate

    prompts = make_prompt_file(tmp_path, PROMPTS)
    previous = os.umask(0o022)
    try:
        out = evaluate(EvalConfig(prompts=str(prompts), policies=("fixed-k:k=2",), max_new_tokens=8, clock="model",
                                  out=str(tmp_path / "run"), limit_per_category=None, tensorboard=False),
                       pair=noisy_pair)
    finally:
        os.umask(previous)
    for name in ("run.json", "summary.json", "report.md", "cost_model_T0.json"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o644, name
    assert "NaN" not in (out / "summary.json").read_text()
    report = (out / "report.md").read_text().splitlines()
    assert report[2].startswith("**T=0,new=8:** fastest non-privileged policy `") and "tokens/s" in report[2]
    summary = json.loads((out / "summary.json").read_text())
    cond = summary["conditions"]["T=0,new=8"]
    start = report.index("## Overall results (T=0,new=8)")
    table = [line.split(" | ")[0].lstrip("| ") for line in report[start:] if line.startswith("| ")][1:]
    speeds = [cond["results"][v]["all"]["tokens_per_s"]["mean"] for v in table[:len(cond["variants"])]]
    assert speeds == sorted(speeds, reverse=True)  # the main table is ordered by the objective


def test_eval_reads_each_policy_once_not_once_per_episode(tmp_path, noisy_pair, make_prompt_file, monkeypatch):
    """A `ppo:` spec loads its model file when made: the probes that tell eval what a policy needs of its env
    are made once per spec, not per episode or per env."""
    import policies.registry
    from eval.run import EvalConfig, evaluate

    real, unbound = policies.registry.make_policy, []

    def counting(spec, env=None, layout=None):
        if env is None and layout is None:
            unbound.append(spec)
        return real(spec, env=env, layout=layout)

    monkeypatch.setattr(policies.registry, "make_policy", counting)
    evaluate(EvalConfig(prompts=make_prompt_file(tmp_path, PROMPTS), policies=("fixed-k:k=2", "entropy-abs:theta=1"),
                        seeds=(0, 1), max_new_tokens=8, clock="model", out=str(tmp_path / "run"),
                        limit_per_category=None, tensorboard=False), pair=noisy_pair)
    assert sorted(unbound) == sorted({"no-spec", "fixed-k:k=2", "entropy-abs:theta=1"})
