"""Bad input, on the command line and through the Python API: each case ends in one line that names the problem,
with exit status 2, before any model is loaded, anything calibrated or recorded, or any file written; and nothing
is left behind. Every model loader is replaced by one that fails the test (`no_models`), and every command runs
in an empty working folder whose contents are compared before and after (`workdir`).

Issue 27 listed the cases that once gave a traceback, a message that named no file, a silent acceptance, or a
refusal only after the slow work; each has a case here, beside many more of the same kind."""

from __future__ import annotations

import json
import math
import re
import tempfile
from pathlib import Path

import gymnasium as gym
import pytest
import torch

import ebsd_env  # noqa: F401  (registers the env ids)
from ebsd_env.cli import main as ebsd

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")


def _no_model(*_, **__):
    raise AssertionError("a model was loaded (or calibrated) before the bad input was refused")


@pytest.fixture
def no_models(monkeypatch):
    """Every way a command loads a pair, a verifier or a calibration fails the test."""
    import ebsd_env.cli.args
    import ebsd_env.cli.generate
    import ebsd_env.decoding.models
    import ebsd_env.decoding.tiny
    import ebsd_env.envs.ebsd
    import ebsd_env.envs.env_clock
    import ebsd_env.timing.calibration
    import ebsd_env.timing.clock
    import eval.bench.decoder
    import eval.bench.env
    import eval.run
    import train.drafter.distill
    import train.ppo
    import train.tune

    for module, name in ((ebsd_env.decoding.models, "load_pair"), (ebsd_env.decoding.models, "cached_pair"),
                         (ebsd_env.decoding.tiny, "tiny_pair"), (ebsd_env.cli.args, "load_pair_from_args"),
                         (ebsd_env.cli.generate, "load_pair"), (ebsd_env.envs.ebsd, "cached_pair"),
                         (ebsd_env.timing.calibration, "calibrate"), (ebsd_env.timing.clock, "cached_cost_model"),
                         (eval.bench.decoder, "load_pair"),
                         (eval.bench.env, "cached_pair"), (eval.run, "load_pair_from_args"),
                         (train.ppo, "load_pair_from_args"), (train.tune, "load_pair_from_args"),
                         (train.drafter.distill, "_load_verifier")):
        monkeypatch.setattr(module, name, _no_model)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """An empty working folder (relative default outputs such as runs/ land here) with the bad files the cases
    name, and a private temporary folder; yields a function that lists both, to compare before and after."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("not a folder\n")
    (tmp_path / "emptydir").mkdir()
    (tmp_path / "empty.gguf").write_bytes(b"")
    (tmp_path / "text.gguf").write_text("not a model\n")
    (tmp_path / "binary.jsonl").write_bytes(b"\xff\xfe\x00\x01\x80binary")
    (tmp_path / "binary.csv").write_bytes(b"\xff\xfe\x00\x01\x80binary")
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00\x01\x80binary")
    (tmp_path / "binary.parquet").write_bytes(b"\xff\xfe\x00\x01\x80binary")
    (tmp_path / "binary.jsonl.gz").write_bytes(b"\xff\xfe\x00\x01\x80binary")
    (tmp_path / "torn.jsonl").write_text('{"category": "a", "prompt": "x"}\n{"category": "b", "pro\n')
    (tmp_path / "corrupt.json").write_text('{"draft_s": 0.01, "verify_points": [[1, ')
    (tmp_path / "list.json").write_text("[1, 2, 3]\n")
    (tmp_path / "nofields.json").write_text('{"source": "x"}\n')
    (tmp_path / "corrupt.zip").write_text("not a zip\n")
    (tmp_path / "export").mkdir()  # a drafter export of an unknown architecture
    (tmp_path / "export/config.json").write_text('{"architecture": "some-other-drafter", "num_layers": 1}\n')
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt/config.json").write_text('{"architecture": ')
    scratch = tmp_path / "system-temp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    def listing() -> list[str]:
        return sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*"))

    yield listing


def refused(argv: list[str], capsys) -> str:
    """Runs `ebsd ARGV`; asserts exit status 2 and exactly one error line, without a traceback; returns it."""
    status = ebsd(argv)
    err = capsys.readouterr().err
    assert status == 2, err
    lines = [line for line in err.splitlines()  # a progress bar's "ebsd eval:   0%|" is no error line
             if line.startswith(f"ebsd {argv[0]}:") and not re.search(r"\d+%\|", line)]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def check_refused(argv, message, capsys, listing):
    before = listing()
    line = refused(argv, capsys)
    assert message in line, line
    assert listing() == before, "a refused run left files behind"


TINY = ["--pair", "tiny-copy"]

EVAL = [
    (["--seeds", "-3"], "--seeds must be >= 0"),
    (["--seeds", "0", "-1"], "--seeds must be >= 0"),
    (["--max-new-tokens", "0"], "--max-new-tokens must be >= 1"),
    (["--max-new-tokens", "-5"], "--max-new-tokens must be >= 1"),
    (["--temperature", "-1"], "--temperature must be finite numbers >= 0"),
    (["--temperature", "nan"], "--temperature must be finite numbers >= 0"),
    (["--temperature", "inf"], "--temperature must be finite numbers >= 0"),
    (["--top-p", "0"], "--top-p must be in (0, 1]"),
    (["--top-p", "1.5"], "--top-p must be in (0, 1]"),
    (["--entropy", "bogus"], "--entropy"),
    (["--entropy-temperature", "0"], "--entropy"),
    (["--history", "0"], "--history must be >= 1"),
    (["--max-draft-len", "0"], "--max-draft-len >= 1"),
    (["--min-draft-len", "5", "--max-draft-len", "2"], "--min-draft-len <= --max-draft-len"),
    (["--min-draft-len", "-1"], "--min-draft-len"),
    (["--out", "afile"], "--out afile: that path is a file"),
    (["--out", "afile/run"], "passes through the file afile"),
    (["--policies", "oracle-dp"], "--policies oracle-dp: it plans on recorded traces"),
    (["--policies", "fixed-k:k=2", "oracle-dp"], "--policies oracle-dp"),
    (["--policies", "nope"], "bad policy spec 'nope'"),
    (["--policies", "fixed-k:k=-1"], "bad policy spec 'fixed-k:k=-1'"),
    (["--policies", "fixed-k:q=1"], "bad policy spec 'fixed-k:q=1'"),
    (["--policies", "ppo:missing.zip"], "ppo: no model file at 'missing.zip'"),
    (["--policies", "ppo:corrupt.zip"], "'corrupt.zip' is not a model .zip"),
    (["--policies", "tuned:path=missing.json"], "tuned: no file at 'missing.json'"),
    (["--policies", "tuned:path=corrupt.json"], "'corrupt.json' is not valid JSON"),
    (["--policies", "tuned:path=binary.json"], "'binary.json' is not text"),
    (["--policies", "tuned:path=list.json"], "list.json holds no `best`"),
    (["--policies", "acceptance:path=corrupt.json"], "acceptance model 'corrupt.json' is not valid JSON"),
    (["--policies", "acceptance:path=list.json"], "acceptance model 'list.json' is not one"),
    (["--cost-model", "missing.json"], "cost model file 'missing.json' does not exist"),
    (["--cost-model", "corrupt.json"], "cost model file 'corrupt.json' is not valid JSON"),
    (["--cost-model", "binary.json"], "cost model file 'binary.json' is not text"),
    (["--cost-model", "list.json"], "cost model file 'list.json'"),
    (["--cost-model", "nofields.json"], "cost model file 'nofields.json': cost profile lacks field(s)"),
    (["--prompt-source", "binary.jsonl"], "binary.jsonl: not UTF-8 text"),
    (["--prompt-source", "binary.csv"], "binary.csv: not UTF-8 text"),
    (["--prompt-source", "binary.json"], "binary.json: not UTF-8 text"),
    (["--prompt-source", "binary.parquet"], "binary.parquet: cannot be read as a .parquet prompt file"),
    (["--prompt-source", "binary.jsonl.gz"], "binary.jsonl.gz: cannot be read"),
    (["--prompt-source", "torn.jsonl"], "torn.jsonl:2: not valid JSON"),
    (["--prompt-source", "missing.jsonl"], "prompt file not found"),
    (["--prompt-source", "nope"], "unknown prompt source 'nope'"),
    (["--prompt-source", "list.json"], "list.json"),
    (["--categories", "nope"], "--categories: nope not in the built-in suite"),
    (["--threads", "0"], "--threads must be >= 1"),
    (["--device", "nonsense"], "--device 'nonsense' is not a torch device"),
    pytest.param(["--device", "cuda"], "use --device cpu", marks=NO_CUDA),
    (["--drafters", "int4", "feature", "--pair", "tiny-copy"], "--drafters needs real drafters"),
]


@pytest.mark.parametrize("args, message", EVAL, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_eval_refuses_before_any_model(args, message, capsys, no_models, workdir):
    check_refused(["eval", "--pair", "tiny-copy", *args], message, capsys, workdir)


RECORD = [
    (["--max-new-tokens", "0"], "--max-new-tokens must be >= 1"),
    (["--max-draft-len", "-1"], "--max-draft-len must be >= 1"),
    (["--max-draft-len", "0"], "--max-draft-len must be >= 1"),
    (["--shard-size", "0"], "--shard-size must be >= 1"),
    (["--shard-size", "-2"], "--shard-size must be >= 1"),
    (["--temperature", "0.7"], "record with --temperature 0"),
    (["--prompts-per-category", "0"], "--prompts-per-category must be >= 1"),
    (["--entropy", "bogus"], "--entropy"),
    (["--entropy", "renyi", "--entropy-param", "-1"], "--entropy"),
    (["--threads", "0"], "--threads must be >= 1"),
    (["--device", "nonsense"], "is not a torch device"),
    pytest.param(["--device", "cuda"], "use --device cpu", marks=NO_CUDA),
    (["--batched"], "--batched records feature drafters and Hugging Face causal LMs, not the int4 drafter"),
    (["--batched", "--drafter", "int8"], "not the int8 drafter"),
    (["--batched", "--drafter", "ngram"], "not the ngram drafter"),
    (["--prompt-source", "binary.jsonl"], "binary.jsonl: not UTF-8 text"),
    (["--prompt-source", "torn.jsonl"], "torn.jsonl:2: not valid JSON"),
    (["--prompt-source", "missing.jsonl"], "prompt file not found"),
]


@pytest.mark.parametrize("args, message", RECORD, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_record_refuses_before_any_model(args, message, capsys, no_models, workdir):
    check_refused(["record", "--out", "traces", *args], message, capsys, workdir)


@pytest.mark.parametrize("out, message", [("afile", "--out afile: that path is a file"),
                                          ("afile/traces", "passes through the file afile")])
def test_record_refuses_an_out_it_cannot_make(out, message, capsys, no_models, workdir):
    check_refused(["record", "--out", out], message, capsys, workdir)


def test_an_unwritable_out_is_refused_before_the_models(capsys, no_models, workdir):
    import os

    target = Path("/sys/ebsd-out")  # root may write anywhere else; /sys refuses even root
    if target.parent.is_dir() and os.access(target.parent, os.W_OK):
        try:
            os.rmdir(tempfile.mkdtemp(dir=target.parent))
            pytest.skip("/sys is writable here")
        except OSError:
            pass
    else:
        pytest.skip("no /sys here")
    check_refused(["record", "--out", str(target)], "cannot write in /sys", capsys, workdir)
    check_refused(["eval", "--pair", "tiny-copy", "--out", str(target / "run")], "cannot write in /sys", capsys,
                  workdir)


BENCH_DECODER = [
    (["--repeats", "0"], "--repeats must be >= 1"),
    (["--repeats", "-1"], "--repeats must be >= 1"),
    (["--num-prompts", "0"], "--num-prompts must be in [1, 7]"),
    (["--num-prompts", "8"], "--num-prompts must be in [1, 7]"),
    (["--max-new-tokens", "0"], "--max-new-tokens must be >= 1"),
    (["--ks", "0"], "--ks must be a non-empty list of draft lengths >= 1"),
    (["--ks", "1", "-2"], "--ks must be a non-empty list"),
    (["--out", "emptydir"], "--out emptydir: that path is a folder"),
    (["--out", "afile/report.json"], "passes through the file afile"),
    (["--threads", "0"], "--threads must be >= 1"),
    (["--device", "nonsense"], "is not a torch device"),
    pytest.param(["--device", "cuda"], "use --device cpu", marks=NO_CUDA),
]


@pytest.mark.parametrize("args, message", BENCH_DECODER, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_bench_decoder_refuses_before_any_model(args, message, capsys, no_models, workdir):
    check_refused(["bench", "decoder", *args], message, capsys, workdir)


BENCH_ENV = [
    (["--replay-seconds", "-1"], "--replay-seconds must be a finite number > 0"),
    (["--replay-seconds", "0"], "--replay-seconds must be a finite number > 0"),
    (["--replay-seconds", "nan"], "--replay-seconds must be a finite number > 0"),
    (["--replay-seconds", "inf"], "--replay-seconds must be a finite number > 0"),
    (["--num-prompts", "0"], "--num-prompts must be in [1, 7]"),
    (["--num-prompts", "99"], "--num-prompts must be in [1, 7]"),
    (["--k", "0"], "--k must be >= 1"),
    (["--max-new-tokens", "0"], "--max-new-tokens must be >= 1"),
    (["--vector-envs", "0"], "--vector-envs must be >= 1"),
    (["--clocks", "bogus"], "--clocks takes wall and/or model"),
    (["--clocks", "wall", "profile"], "--clocks takes wall and/or model"),
    (["--backend", "replay", "--traces", "missing"], "--traces missing: no trace shards there"),
    (["--backend", "replay", "--traces", "emptydir"], "--traces emptydir: no trace shards there"),
    (["--backend", "replay", "--traces", "afile"], "--traces afile: no trace shards there"),
    (["--traces", "emptydir"], "--traces feeds the replay backend"),
    (["--out", "emptydir"], "--out emptydir: that path is a folder"),
    (["--out", "afile/bench.json"], "passes through the file afile"),
    (["--threads", "0"], "--threads must be >= 1"),
    (["--device", "nonsense"], "is not a torch device"),
    pytest.param(["--device", "cuda"], "use --device cpu", marks=NO_CUDA),
]


@pytest.mark.parametrize("args, message", BENCH_ENV, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_bench_env_refuses_before_any_model(args, message, capsys, no_models, workdir):
    check_refused(["bench", "env", *args], message, capsys, workdir)


PPO = [
    (["--gamma", "2"], "--gamma must be in (0, 1]"),
    (["--gamma", "0"], "--gamma must be in (0, 1]"),
    (["--gamma", "-0.5"], "--gamma must be in (0, 1]"),
    (["--gamma", "nan"], "--gamma must be in (0, 1]"),
    (["--net-arch", "0"], "--net-arch takes hidden layer sizes >= 1"),
    (["--net-arch", "64", "0"], "--net-arch takes hidden layer sizes >= 1"),
    (["--net-arch", "-8"], "--net-arch takes hidden layer sizes >= 1"),
    (["--gae-lambda", "1.5"], "--gae-lambda must be in [0, 1]"),
    (["--gae-lambda", "-0.1"], "--gae-lambda must be in [0, 1]"),
    (["--learning-rate", "0"], "--learning-rate must be a finite number > 0"),
    (["--learning-rate", "-1e-3"], "--learning-rate must be a finite number > 0"),
    (["--learning-rate", "inf"], "--learning-rate must be a finite number > 0"),
    (["--clip-range", "0"], "--clip-range must be a finite number > 0"),
    (["--ent-coef", "-1"], "--ent-coef must be a finite number >= 0"),
    (["--vf-coef", "-1"], "--vf-coef must be a finite number >= 0"),
    (["--n-epochs", "0"], "--n-epochs must be >= 1"),
    (["--live-eval-freq", "-1"], "--live-eval-freq must be >= 0"),
    (["--fixed-ks", "0", "-1"], "--fixed-ks takes draft lengths >= 0"),
    (["--live-fixed-ks", "-2"], "--live-fixed-ks takes draft lengths >= 0"),
    (["--history", "0"], "--history must be >= 1"),
    (["--max-new-tokens", "0"], "--max-new-tokens must be >= 1"),
    (["--eval-prompts-per-category", "0"], "--eval-prompts-per-category must be >= 1"),
    (["--live-eval-prompts-per-category", "0"], "--live-eval-prompts-per-category must be >= 1"),
    (["--prompts-per-category", "0"], "--prompts-per-category must be >= 1"),
    (["--max-draft-len", "0"], "--max-draft-len >= 1"),
    (["--min-draft-len", "5", "--max-draft-len", "2"], "--min-draft-len <= --max-draft-len"),
    (["--min-draft-len", "-1"], "--min-draft-len"),
    (["--temperature", "-1"], "--temperature must be a finite number >= 0"),
    (["--entropy", "bogus"], "--entropy"),
    (["--total-timesteps", "0"], "--total-timesteps must be >= 1"),
    (["--num-envs", "0"], "--num-envs must be >= 1"),
    (["--n-steps", "1"], "--n-steps must be >= 2"),
    (["--batch-size", "1"], "--batch-size must lie in [2, n_steps * num_envs"),
    (["--batch-size", "5000"], "--batch-size must lie in [2, n_steps * num_envs"),
    (["--eval-freq", "-1"], "--eval-freq must be >= 0"),
    (["--checkpoint-freq", "0"], "--checkpoint-freq >= 1"),
    (["--env-id", "CartPole-v1"], "--env-id 'CartPole-v1' is not an EBSD env"),
    (["--traces", "missing", "--clock", "model"], "--traces missing: no trace shards there"),
    (["--traces", "emptydir", "--clock", "model"], "--traces emptydir: no trace shards there"),
    (["--traces", "emptydir"], "only the model clock can time: add --clock model"),
    (["--cost-model", "missing.json"], "cost model file 'missing.json' does not exist"),
    (["--cost-model", "corrupt.json"], "cost model file 'corrupt.json' is not valid JSON"),
    (["--cost-model", "binary.json"], "cost model file 'binary.json' is not text"),
    (["--save-model", "emptydir"], "--save-model emptydir: that path is a folder"),
    (["--save-model", "afile/model.zip"], "passes through the file afile"),
    (["--runs-dir", "afile"], "--runs-dir afile: that path is a file"),
    (["--runs-dir", "afile/runs"], "passes through the file afile"),
    (["--threads", "0"], "--threads must be >= 1"),
    (["--device", "nonsense"], "is not a torch device"),
    pytest.param(["--device", "cuda"], "use --device cpu", marks=NO_CUDA),
    (["--pair", "bogus"], "unknown pair 'bogus'"),
    (["--drafter", "int4"], "takes no --drafter/--verifier"),
    (["--resume", "missing-run"], "--resume missing-run: no config.json there"),
    (["--resume", "emptydir"], "--resume emptydir: no config.json there"),
    # After the run folder is made: the refusal removes it again (the listing must not change).
    (["--prompt-source", "binary.jsonl"], "binary.jsonl: not UTF-8 text"),
    (["--prompt-source", "torn.jsonl"], "torn.jsonl:2: not valid JSON"),
    (["--prompt-source", "missing.jsonl"], "prompt file not found"),
]


@pytest.mark.parametrize("args, message", PPO, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_train_ppo_refuses_before_any_model_and_leaves_no_run_folder(args, message, capsys, no_models, workdir):
    check_refused(["train", "ppo", *TINY, *args], message, capsys, workdir)


def test_train_ppo_total_timesteps_help_says_whole_rollouts(capsys):
    with pytest.raises(SystemExit):
        ebsd(["train", "ppo", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "20,000 with the defaults runs 20,480" in out


TUNE = [
    (["--storage", "afile/x.db"], "--storage afile/x.db: that path passes through the file afile"),
    (["--storage", "emptydir"], "--storage emptydir: that path is a folder"),
    (["--out", "afile/best.json"], "--out afile/best.json: that path passes through the file afile"),
    (["--out", "emptydir"], "--out emptydir: that path is a folder"),
    (["--budget", "-1"], "--budget must be >= 0"),
    (["bayes", "--budget", "0"], "--budget 0 means 'the whole grid'"),
    (["--prompts-per-category", "0"], "--prompts-per-category must be >= 1"),
    (["--max-new-tokens", "0"], "--max-new-tokens must be >= 1"),
    (["--history", "0"], "--history must be >= 1"),
    (["--env-max-draft-len", "0"], "--env-max-draft-len must be >= 1"),
    (["--prompt-pool", "1"], "--prompt-pool (1) must hold the --prompts-per-category (2)"),
    (["--temperature", "-1"], "--temperature must be a finite number >= 0"),
    (["grid", "--min-draft-len", "-1"], "grid draft bounds"),
    (["grid", "--max-draft-len", "0"], "grid draft bounds"),
    (["grid", "--stopping-strategy", "sideways"], "unknown stopping strategy"),
    (["grid", "--window-size", "9"], "--window-size 9 exceeds the observation --history 8"),
    (["--traces", "missing"], "--traces missing: no trace shards there"),
    (["--traces", "emptydir"], "--traces emptydir: no trace shards there"),
    (["--traces", "emptydir", "--clock", "wall"], "only the model clock can time"),
    (["--cost-model", "corrupt.json"], "cost model file 'corrupt.json' is not valid JSON"),
    (["--cost-model", "missing.json"], "cost model file 'missing.json' does not exist"),
    (["--rule", "nope"], "unknown rule 'nope'"),
    (["--space", "theta"], "bad --space item 'theta'"),
    (["--space", "theta=2:1"], "bad --space range 'theta=2:1'"),
    (["--threads", "0"], "--threads must be >= 1"),
    (["--device", "nonsense"], "is not a torch device"),
    pytest.param(["--device", "cuda"], "use --device cpu", marks=NO_CUDA),
    (["--prompt-source", "binary.jsonl"], "binary.jsonl: not UTF-8 text"),
    (["--prompt-source", "missing.jsonl"], "prompt file not found"),
]


@pytest.mark.parametrize("args, message", TUNE, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_tune_refuses_before_any_model(args, message, capsys, no_models, workdir):
    method, args = (args[:1], args[1:]) if args[0] in ("grid", "bayes") else (["bayes"], args)
    check_refused(["tune", *method, *TINY, *args], message, capsys, workdir)


DISTILL = [
    (["--batch-size", "0"], "--batch-size must be >= 1"),
    (["--steps", "-1"], "--steps must be >= 0"),  # 0 exports the starting weights (--init-from), as asked
    (["--gen-batch-size", "0"], "--gen-batch-size must be >= 1"),
    (["--prompts-per-category", "0"], "--prompts-per-category must be >= 1"),
    (["--max-new-tokens", "0"], "--max-new-tokens must be >= 1"),
    (["--max-prompt-tokens", "0"], "--max-prompt-tokens must be >= 1"),
    (["--top-k", "0"], "--top-k must be >= 1"),
    (["--num-layers", "0"], "--num-layers must be >= 1"),
    (["--max-len", "0"], "--max-len must be >= 1"),
    (["--head-size", "0"], "--head-size must be >= 1"),
    (["--eval-every", "0"], "--eval-every must be >= 1"),
    (["--checkpoint-every", "0"], "--checkpoint-every must be >= 1"),
    (["--draft-steps", "0"], "--draft-steps 0: need at least 1"),
    (["--heldout-per-category", "-1"], "--heldout-per-category must be >= 0"),
    (["--sampled-per-prompt", "-1"], "--sampled-per-prompt must be >= 0"),
    (["--warmup-steps", "-1"], "--warmup-steps must be >= 0"),
    (["--text-prompts-per-category", "-1"], "--text-prompts-per-category must be >= 0"),
    (["--learning-rate", "0"], "--learning-rate must be a finite number > 0"),
    (["--learning-rate", "nan"], "--learning-rate must be a finite number > 0"),
    (["--sample-temperature", "0"], "--sample-temperature must be a finite number > 0"),
    (["--data-minutes", "0"], "--data-minutes must be a finite number > 0"),
    (["--train-minutes", "-1"], "--train-minutes must be a finite number > 0"),
    (["--weight-decay", "-1"], "--weight-decay must be a finite number >= 0"),
    (["--feature-weight", "-1"], "--feature-weight must be a finite number >= 0"),
    (["--later-step-weight", "nan"], "--later-step-weight must be a finite number >= 0"),
    (["--sample-top-p", "0"], "--sample-top-p must be in (0, 1]"),
    (["--sample-top-p", "1.5"], "--sample-top-p must be in (0, 1]"),
    (["--threads", "0"], "--threads must be >= 1"),
    (["--init-from", "emptydir"], "--init-from emptydir holds no exported drafter"),
    (["--init-from", "export"], "--init-from export holds another architecture than --architecture feature"),
    (["--init-from", "export", "--architecture", "layers"], "holds another architecture than --architecture layers"),
    (["--init-from", "corrupt"], "--init-from: the drafter config 'corrupt/config.json' is not valid JSON"),
    (["--out", "afile"], "--out afile: that path is a file"),
    (["--export-to", "afile/drafter"], "passes through the file afile"),
    # The tiny suite has 5 prompts per category: holding out 5 leaves nothing to train on (the cause, named).
    (["--heldout-per-category", "5"], "--heldout-per-category 5 holds out every prompt of chat, code"),
    (["--heldout-per-category", "9"], "leaving none to train on"),
    (["--categories", "nope"], "--categories: nope not in the --tiny suite"),
]


@pytest.mark.parametrize("args, message", DISTILL, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_distill_refuses_before_the_verifier_and_the_run_folder(args, message, capsys, no_models, workdir):
    check_refused(["distill", "--tiny", *args], message, capsys, workdir)


def test_plain_distill_tiny_holds_out_one_prompt_per_category(monkeypatch, capsys, workdir):
    """The default --heldout-per-category fits the tiny suite: the split leaves training prompts in every
    category (the run itself is stopped at the verifier load, the first slow step)."""
    from train.drafter import distill

    split = {}

    def stop(config):
        raise KeyboardInterrupt

    real_check = distill.check_split

    def record_split(config, train_rows, heldout_rows):
        split["train"], split["heldout"] = train_rows, heldout_rows
        return real_check(config, train_rows, heldout_rows)

    monkeypatch.setattr(distill, "check_split", record_split)
    monkeypatch.setattr(distill, "_load_verifier", stop)
    assert ebsd(["distill", "--tiny", "--out", "run"]) == 130
    assert len(split["heldout"]) == 2 and len(split["train"]) == 8
    assert {row["category"] for row in split["train"]} == {"chat", "code"}


FIT = [
    (["--episodes-per-prompt", "0"], "--episodes-per-prompt must be >= 1"),
    (["--episodes-per-prompt", "-2"], "--episodes-per-prompt must be >= 1"),
    (["--l2", "-1"], "--l2 must be a finite number >= 0"),
    (["--l2", "nan"], "--l2 must be a finite number >= 0"),
    (["--max-new-tokens", "0"], "--max-new-tokens must be >= 1"),
    (["--max-draft-len", "0"], "--max-draft-len must be >= 1"),
    (["--history", "0"], "--history must be >= 1"),
    (["--prompts-per-category", "0"], "--prompts-per-category must be >= 1"),
    (["--temperature", "-1"], "--temperature must be a finite number >= 0"),
    (["--entropy", "bogus"], "--entropy"),
    (["--policy", "no-spec"], "does not draft"),
    (["--policy", "fixed-k:k=0"], "does not draft"),
    (["--policy", "nope"], "--policy 'nope'"),
    (["--out", "emptydir"], "--out emptydir: that path is a folder"),
    (["--out", "afile/acceptance.json"], "passes through the file afile"),
    (["--threads", "0"], "--threads must be >= 1"),
    (["--device", "nonsense"], "is not a torch device"),
    pytest.param(["--device", "cuda"], "use --device cpu", marks=NO_CUDA),
    (["--pair", "bogus"], "unknown pair 'bogus'"),
    (["--prompt-source", "binary.jsonl"], "binary.jsonl: not UTF-8 text"),
    (["--prompt-source", "missing.jsonl"], "prompt file not found"),
]


@pytest.mark.parametrize("args, message", FIT, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_fit_acceptance_refuses_before_any_model(args, message, capsys, no_models, workdir):
    check_refused(["fit-acceptance", *TINY, *args], message, capsys, workdir)


GENERATE = [
    (["--k", "0"], "--k must be >= 1"),
    (["--max-new-tokens", "0"], "--max-new-tokens must be >= 1"),
    (["--temperature", "-1"], "--temperature must be a finite number >= 0"),
    (["--temperature", "nan"], "--temperature must be a finite number >= 0"),
    (["--top-p", "0"], "--top-p must be in (0, 1]"),
    (["--top-p", "1.5"], "--top-p must be in (0, 1]"),
    (["--prompt", "  "], "--prompt is empty"),
    (["--threads", "0"], "--threads must be >= 1"),
    (["--device", "nonsense"], "is not a torch device"),
    pytest.param(["--device", "cuda"], "use --device cpu", marks=NO_CUDA),
]


@pytest.mark.parametrize("args, message", GENERATE, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_generate_refuses_before_any_model(args, message, capsys, no_models, workdir):
    check_refused(["generate", *args], message, capsys, workdir)


# ------------------------------------------------------------------------------------------------ the API


@pytest.mark.parametrize("kwargs, message", [
    pytest.param({"device": "cuda"}, "no CUDA device", marks=NO_CUDA),
    pytest.param({"device": "cuda:1"}, "no CUDA device", marks=NO_CUDA),
    ({"device": "nonsense"}, "device= 'nonsense' is not a torch device"),
    ({"verifier": "empty.gguf"}, "GGUF file 'empty.gguf' is empty (0 bytes)"),
    ({"verifier": "text.gguf"}, "GGUF file 'text.gguf' is not a GGUF file"),
    ({"verifier": "missing.gguf"}, "GGUF file 'missing.gguf' does not exist"),
    ({"verifier": "emptydir"}, "folder 'emptydir' holds no config.json"),
    ({"verifier": "./missing-model"}, "model path './missing-model' does not exist"),
    ({"kernels": "bogus"}, "unknown kernels 'bogus'"),
])
def test_load_pair_refuses_in_one_line_before_loading(kwargs, message, workdir, monkeypatch):
    from ebsd_env.decoding import models

    monkeypatch.setattr(models.AutoModelForCausalLM, "from_pretrained", _no_model)
    with pytest.raises(models.ModelLoadError) as error:
        models.load_pair(**kwargs)
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("pair", ["str", 3, {"drafter": "x"}, ["a", "b"]])
def test_env_refuses_a_pair_that_is_not_a_model_pair(pair, no_models):
    with pytest.raises(TypeError, match=r"pair= takes a loaded ModelPair .*give drafter= / verifier= instead"):
        gym.make("EBSD-v1", pair=pair, prompts=["x"])


@pytest.mark.parametrize("kwargs, message", [
    ({"temperature": -1.0}, "temperature must be a finite number >= 0"),
    ({"temperature": math.nan}, "temperature must be a finite number >= 0"),
    ({"top_p": 0.0}, r"top_p must be in \(0, 1\]"),
    ({"top_p": 2.0}, r"top_p must be in \(0, 1\]"),
    ({"max_new_tokens": 0}, "max_new_tokens must be >= 1"),
    ({"history": 0}, "history must be >= 1"),
    ({"min_draft_len": -1}, "min_draft_len must be >= 0"),
    ({"min_draft_len": 5, "max_draft_len": 2}, r"min_draft_len \(5\) must be <= max_draft_len \(2\)"),
    ({"clock": "sundial"}, "unknown clock 'sundial'"),
    ({"stop_mode": "sometimes"}, "unknown stop_mode 'sometimes'"),
    ({"reward_scale": 0.0}, "reward_scale must be > 0"),
    ({"device": "nonsense"}, "device= 'nonsense' is not a torch device"),
    pytest.param({"device": "cuda"}, "no CUDA device", marks=NO_CUDA),
])
def test_env_refuses_bad_settings_before_loading_models(kwargs, message, monkeypatch):
    from ebsd_env.decoding import models

    monkeypatch.setattr(models.AutoModelForCausalLM, "from_pretrained", _no_model)
    monkeypatch.setattr(models, "_PAIR_CACHE", {})
    with pytest.raises(ValueError, match=message):
        gym.make("EBSD-v1", prompts=["x"], **kwargs)


@pytest.mark.parametrize("name, message", [
    ("binary.jsonl", "binary.jsonl: not UTF-8 text"), ("binary.json", "binary.json: not UTF-8 text"),
    ("binary.csv", "binary.csv: not UTF-8 text"), ("binary.parquet", "binary.parquet: cannot be read"),
    ("binary.jsonl.gz", "binary.jsonl.gz: cannot be read"), ("torn.jsonl", "torn.jsonl:2: not valid JSON"),
    ("corrupt.json", "corrupt.json: cannot be read as a .json prompt file"),
    ("list.json", "list.json"), ("empty.gguf", "unsupported file type"),
])
def test_a_prompt_file_that_cannot_be_read_is_named(name, message, workdir):
    from ebsd_env.prompts import PromptSourceError, load_prompts

    with pytest.raises(PromptSourceError) as error:
        load_prompts(name)
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("name, message", [
    ("corrupt.json", "cost model file 'corrupt.json' is not valid JSON"),
    ("binary.json", "cost model file 'binary.json' is not text"),
    ("list.json", "cost model file 'list.json': a cost profile is a JSON object"),
    ("nofields.json", "cost model file 'nofields.json': cost profile lacks field(s) draft_s, verify_points"),
    ("missing.json", "cost model file 'missing.json' does not exist"),
])
def test_a_corrupt_cost_model_file_is_named(name, message, workdir):
    from ebsd_env.timing.cost_model import CostModel

    with pytest.raises((ValueError, FileNotFoundError)) as error:
        CostModel.load(name)
    assert message in str(error.value)


@pytest.mark.parametrize("spec, message", [
    ("tuned:path=corrupt.json", "tuned: the file 'corrupt.json' is not valid JSON"),
    ("tuned:path=binary.json", "tuned: the file 'binary.json' is not text"),
    ("tuned:path=list.json", "tuned: list.json holds no `best` configurations"),
    ("tuned:path=nofields.json", "tuned: nofields.json holds no `best` configurations"),
    ("tuned:path=missing.json", "tuned: no file at 'missing.json'"),
    ("acceptance:path=corrupt.json", "acceptance model 'corrupt.json' is not valid JSON"),
    ("acceptance:path=binary.json", "acceptance model 'binary.json' is not text"),
    ("acceptance:path=list.json", "acceptance model 'list.json' is not one `ebsd fit-acceptance` wrote"),
    ("ppo:corrupt.zip", "ppo: 'corrupt.zip' is not a model .zip"),
    ("ppo:corrupt.json", "ppo: 'corrupt.json' is not a model .zip"),
])
def test_a_corrupt_policy_file_is_named(spec, message, workdir):
    from policies.registry import make_policy

    with pytest.raises(ValueError) as error:
        make_policy(spec)
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.fixture
def tiny_traces(tmp_path, copy_pair):
    """Two prompts recorded on the tiny copy pair, with a toy model-clock calibration beside them."""
    from ebsd_env.replay.record import record
    from ebsd_env.timing.cost_model import CostModel

    folder = tmp_path / "traces"
    record(copy_pair, [{"id": "a", "category": "chat", "prompt": "hello"},
                       {"id": "b", "category": "code", "prompt": "print 1"}], folder, max_draft_len=4,
           max_new_tokens=8, calibrate_clock=False, progress=False)
    CostModel(draft_s=0.002, verify_points=((1, 0.01), (2, 0.011), (5, 0.013)), source="toy").save(
        folder / "cost_model.json")
    return folder


def test_a_corrupt_trace_calibration_is_named(tiny_traces):
    from ebsd_env.replay import TraceSet

    (tiny_traces / "cost_model.json").write_text("{oops")
    with pytest.raises(ValueError, match=r"the traces' model-clock calibration '.*cost_model.json' is not valid "
                                         r"JSON .*record the traces again"):
        TraceSet.load(tiny_traces)


# ------------------------------------------------------------------------------- strict JSON, no nan shown


def test_episode_rows_are_strict_json_with_null_for_nan(tmp_path):
    from eval.run import append_row, read_rows

    path = tmp_path / "episodes.jsonl"
    with open(path, "a", encoding="utf-8") as handle:
        append_row(handle, {"key": "k", "stats": {"acceptance_rate": math.nan, "tokens_per_s": math.inf},
                            "verifier_nll": float("nan"), "blocks": [{"entropies": [0.5, math.nan]}]})

    def no_constants(name):
        raise AssertionError(f"bare {name} in episodes.jsonl")

    row = json.loads(path.read_text(), parse_constant=no_constants)
    assert row["stats"] == {"acceptance_rate": None, "tokens_per_s": None} and row["verifier_nll"] is None
    assert row["blocks"][0]["entropies"] == [0.5, None]
    assert read_rows(path) == [row]


def _pair_with_metadata(pair):
    from ebsd_env.decoding.models import ModelPair

    return ModelPair(pair.drafter, pair.verifier, pair.tokenizer, pair.drafter_name, pair.verifier_name,
                     metadata={**pair.metadata, "threads": 1, "kernels": {"drafter": "plain", "verifier": "plain"}})


def test_generate_prints_n_a_not_nan_and_strict_json(copy_pair, capsys, monkeypatch):
    import ebsd_env.cli.generate

    monkeypatch.setattr(ebsd_env.cli.generate, "load_pair", lambda *_, **__: _pair_with_metadata(copy_pair))
    assert ebsd(["generate", "--prompt", "hello", "--max-new-tokens", "6", "--k", "2"]) == 0
    out = capsys.readouterr().out
    table = [line for line in out.splitlines() if line.startswith("verifier alone")]
    assert len(table) == 1 and "n/a" in table[0]  # the verifier alone drafts nothing: no acceptance rate
    assert "nan" not in out.lower()
    json.loads(out.strip().splitlines()[-1], parse_constant=lambda name: pytest.fail(f"bare {name}"))


def test_bench_env_reads_given_traces_and_prints_n_a_without_a_live_rate(tiny_traces, copy_pair, capsys,
                                                                          monkeypatch, tmp_path):
    """--backend replay alone has no live rate to compare with: the "x live" column says n/a, not nan. The
    given --traces are read, not recorded into (their files stay as they were)."""
    import eval.bench.env

    monkeypatch.setattr(eval.bench.env, "cached_pair", lambda *_, **__: _pair_with_metadata(copy_pair))
    monkeypatch.setattr(eval.bench.env, "_prompts", lambda count: [{"id": "a", "category": "chat",
                                                                     "prompt": "hello"}][:count])
    before = {path.name: path.read_bytes() for path in tiny_traces.iterdir()}
    assert ebsd(["bench", "env", "--backend", "replay", "--traces", str(tiny_traces), "--num-prompts", "1", "--k", "2",
                 "--max-new-tokens", "8", "--replay-seconds", "0.05", "--vector-envs", "4",
                 "--out", str(tmp_path / "bench.json")]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("replay")]
    assert len(rows) == 3 and all(line.split()[-1] == "n/a" for line in rows), out
    assert "nan" not in out.lower()
    assert {path.name: path.read_bytes() for path in tiny_traces.iterdir()} == before
    json.loads((tmp_path / "bench.json").read_text(), parse_constant=lambda name: pytest.fail(f"bare {name}"))


def test_bench_env_without_traces_leaves_no_folder_in_the_temp_dir(copy_pair, capsys, monkeypatch, tmp_path):
    import eval.bench.env
    from ebsd_env.replay import record as record_module
    from ebsd_env.timing.cost_model import CostModel

    scratch = tmp_path / "system-temp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    real_record = record_module.record
    recorded = []

    def record_without_calibration(pair, rows, out, **kwargs):  # a toy clock: no calibration on a busy machine
        recorded.append(Path(out))
        summary = real_record(pair, rows, out, calibrate_clock=False, progress=False, **kwargs)
        CostModel(draft_s=0.002, verify_points=((1, 0.01), (2, 0.011), (5, 0.013))).save(Path(out) / "cost_model.json")
        return summary

    monkeypatch.setattr(record_module, "record", record_without_calibration)
    monkeypatch.setattr(eval.bench.env, "cached_pair", lambda *_, **__: _pair_with_metadata(copy_pair))
    monkeypatch.setattr(eval.bench.env, "_prompts", lambda count: [{"id": "a", "category": "chat",
                                                                     "prompt": "hello"}][:count])
    assert ebsd(["bench", "env", "--backend", "replay", "--num-prompts", "1", "--k", "2", "--max-new-tokens", "8",
                 "--replay-seconds", "0.05", "--vector-envs", "4"]) == 0
    assert len(recorded) == 1 and recorded[0].parent == scratch  # it did record, into the temporary folder
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize("existing", [False, True])
def test_an_eval_refused_before_its_first_episode_leaves_no_run_folder(existing, capsys, monkeypatch, workdir,
                                                                       make_prompt_file, tmp_path):
    """A refusal that only the env can make (here a calibration on a busy machine) comes after --out exists: a
    folder this run made is removed again, so the corrected rerun does not meet a stale run.json; a folder the
    user had made stays."""
    import ebsd_env.envs.ebsd
    import ebsd_env.envs.env_clock

    def busy(*_, **__):
        raise ValueError("calibration measured a non-monotone cost curve: the machine is too busy")

    monkeypatch.setattr(ebsd_env.envs.env_clock, "make_clock", busy)
    prompts = make_prompt_file(tmp_path, [{"id": "a", "category": "x", "prompt": "hello"}])
    if existing:
        (tmp_path / "run").mkdir()
    before = workdir()
    line = refused(["eval", "--pair", "tiny-copy", "--prompt-source", prompts, "--policies", "fixed-k:k=2", "--out",
                    "run", "--max-new-tokens", "4"], capsys)
    assert "the machine is too busy" in line
    assert workdir() == before
    assert (tmp_path / "run").is_dir() is existing
