"""Ray backends on a local Ray instance started here (`ray.init(num_cpus=2)`): `ebsd record --ray` writes the
single-process shards byte for byte, `ebsd tune --backend ray` finds the single-process sweep's best trial and
resumes a killed sweep, `ebsd train ppo --sweep` runs PPO configs as trials; without ray, one line."""

from __future__ import annotations

import builtins
import json
from functools import partial

import pytest

from ebsd_env.decoding.tiny import tiny_pair
from ebsd_env.ray_support import RAY_MISSING, require_ray
from ebsd_env.replay.record import record

PROMPTS = [
    {"id": "a1", "category": "alpha", "prompt": "the cat sat on the mat"},
    {"id": "a2", "category": "alpha", "prompt": "one two three four"},
    {"id": "b1", "category": "beta", "prompt": "what is two plus two?"},
    {"id": "b2", "category": "beta", "prompt": "hello world, how are you"},
]
RECORD = dict(max_draft_len=6, max_new_tokens=24, shard_size=2, progress=False, calibrate_clock=False)


def test_missing_ray_is_one_line_before_any_work(monkeypatch, tmp_path, capsys):
    from ebsd_env.cli import main as cli
    from ebsd_env.decoding import models

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    def no_models(*args, **kwargs):
        raise AssertionError("a model was loaded before the missing Ray was reported")

    monkeypatch.setattr(builtins, "__import__", no_ray)
    monkeypatch.setattr(models, "cached_pair", no_models)
    with pytest.raises(ValueError, match=r"^Ray is not installed: pip install 'ebsd-gym\[ray\]'$"):
        require_ray()
    assert RAY_MISSING.count("\n") == 0
    (tmp_path / "sweep.yaml").write_text("seeds: [1, 2]\n")
    for argv in (["record", "--out", str(tmp_path / "traces"), "--ray"],
                 ["tune", "bayes", "--backend", "ray", "--traces", str(tmp_path / "none"),
                  "--storage", str(tmp_path / "tune.db")],
                 ["train", "ppo", "--sweep", str(tmp_path / "sweep.yaml"), "--backend", "ray"]):
        assert cli(argv) == 2, argv
        err = capsys.readouterr().err
        assert f"error: {RAY_MISSING}" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep.yaml"]  # nothing written


@pytest.fixture(scope="module")
def ray_session():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_recording_equals_the_single_process_shards(ray_session, noisy_pair, tmp_path):
    from ebsd_env.replay.ray_record import RayRecordOptions

    single, shards = tmp_path / "single", tmp_path / "ray"
    record(noisy_pair, PROMPTS, single, **RECORD)
    options = RayRecordOptions(load_pair=partial(tiny_pair, "noisy", noise=0.1), threads=1)
    summary = record(noisy_pair, PROMPTS, shards, ray=options, **RECORD)
    assert summary["recorded_shards"] == 2 and summary["recorded_prompts"] == 4
    names = sorted(p.name for p in single.iterdir())
    assert names == sorted(p.name for p in shards.iterdir()) == ["manifest.json", "shard-00000.parquet",
                                                                  "shard-00001.parquet"]
    for name in names:
        assert (single / name).read_bytes() == (shards / name).read_bytes(), name
    # A resumed run records only what is missing.
    (shards / "shard-00001.parquet").unlink()
    again = record(noisy_pair, PROMPTS, shards, ray=options, **RECORD)
    assert again["recorded_shards"] == 1 and again["recorded_prompts"] == 2
    assert (single / "shard-00001.parquet").read_bytes() == (shards / "shard-00001.parquet").read_bytes()


@pytest.fixture(scope="module")
def traces(noisy_pair, tmp_path_factory):
    prompts = [{"id": f"{c}{i}", "category": c, "prompt": text} for i, (c, text) in enumerate(
        [("alpha", "the cat sat on the mat"), ("alpha", "one two three four five six"),
         ("beta", "what is two plus two?"), ("beta", "hello world, how are you today")])]
    out = tmp_path_factory.mktemp("traces")
    record(noisy_pair, prompts, out, max_draft_len=8, max_new_tokens=32, shard_size=2, progress=False)
    return str(out)


def sweep(tmp_path, traces, **overrides):
    from train.ray_tune import RayTuneConfig

    values = dict(traces=traces, method="bayes", rule="entropy-abs", budget=6, scope="overall", max_new_tokens=32,
                  prompts_per_category=2, storage=str(tmp_path / "tune.db"), out=str(tmp_path / "best.json"),
                  seed=3, space=("theta=0.1:4.0", "max=1:8"), env_max_draft_len=8)
    return RayTuneConfig(**(values | overrides))


def trials(config):
    import optuna

    study = optuna.load_study(study_name=f"{config.study_name}/bayes/entropy-abs/overall",
                              storage=f"sqlite:///{config.storage}")
    return [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]


def test_ray_sweep_finds_the_single_process_best_trial(ray_session, traces, tmp_path):
    from train.ray_tune import tune_with_ray
    from train.tune import tune

    local = sweep(tmp_path / "local", traces)
    remote = sweep(tmp_path / "ray", traces, backend="ray", num_workers=2)
    best_local, best_ray = tune(local), tune_with_ray(remote)
    assert best_ray == best_local  # the same spec, value, user attributes and trial count
    # The same trials, in the same optuna study format (params, values, user attributes).
    key = lambda t: json.dumps(t.params, sort_keys=True)  # noqa: E731
    assert sorted(map(key, trials(local))) == sorted(map(key, trials(remote)))
    by_params = {key(t): t for t in trials(local)}
    for t in trials(remote):
        assert t.value == by_params[key(t)].value
        assert {k: v for k, v in t.user_attrs.items() if k != "ray_trial_id"} == by_params[key(t)].user_attrs
    saved = json.loads((tmp_path / "ray/best.json").read_text())
    assert saved == json.loads((tmp_path / "local/best.json").read_text())


def test_asha_rungs_prune_into_the_study(ray_session, traces, tmp_path):
    import optuna

    from train.ray_tune import tune_with_ray

    config = sweep(tmp_path, traces, backend="ray", asha_rungs=2, budget=8, seed=5)
    best = tune_with_ray(config)
    study = optuna.load_study(study_name=best["overall"]["study"], storage=f"sqlite:///{config.storage}")
    states = [t.state for t in study.trials]
    assert states.count(optuna.trial.TrialState.COMPLETE) == 8
    assert best["overall"]["value"] == max(t.value for t in trials(config))


def test_killed_sweep_resumes(ray_session, traces, tmp_path):
    import os
    import signal

    from ray.tune import Callback

    from train.ray_tune import tune_with_ray

    fired = tmp_path / "interrupted"

    class KillAfter(Callback):
        """Ctrl-C to the driver after two trials have finished, as a user stopping the sweep; once (Ray restores
        the experiment's callbacks with it)."""

        def __init__(self):
            self.finished = 0

        def on_trial_complete(self, iteration, trials, trial, **info):
            self.finished += 1
            if self.finished == 2 and not fired.exists():
                fired.touch()
                os.kill(os.getpid(), signal.SIGINT)

    config = sweep(tmp_path, traces, backend="ray", num_workers=1, budget=6)
    with pytest.raises(KeyboardInterrupt):
        tune_with_ray(config, callbacks=[KillAfter()])
    assert 2 <= len(trials(config)) < 6
    best = tune_with_ray(config)
    assert len(trials(config)) == 6
    single = sweep(tmp_path / "single", traces)
    from train.tune import tune

    assert best["overall"]["value"] == tune(single)["overall"]["value"]


def ppo_argv(traces, tmp_path, sweep_file, *extra) -> list[str]:
    return ["--traces", traces, "--clock", "model", "--total-timesteps", "128", "--num-envs", "2", "--n-steps", "32",
            "--batch-size", "64", "--n-epochs", "1", "--eval-freq", "64", "--eval-prompts-per-category", "1",
            "--fixed-ks", "1", "2", "--checkpoint-freq", "64", "--max-draft-len", "8", "--max-new-tokens", "32",
            "--runs-dir", str(tmp_path / "runs"), "--no-progress-bar", "--live-eval-freq", "0", "--sweep",
            str(sweep_file), *extra]


def test_bad_sweep_files_are_refused_in_one_line(tmp_path, traces):
    from ebsd_env.cli import main as cli

    cases = {"typo.yaml": "grid: {learning_rat: [0.001]}\n", "key.json": '{"seed": [1]}',
             "empty.yaml": "grid: {ent_coef: []}\n", "fixed.yaml": "set: {runs_dir: elsewhere}\n"}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
    from train.sweep import SweepConfig, sweep

    with pytest.raises(ValueError, match=r"unknown field 'learning_rat' in `grid`; valid: .*learning_rate"):
        sweep(SweepConfig(sweep=str(tmp_path / "typo.yaml"), traces=traces, clock="model"))
    with pytest.raises(ValueError, match=r"unknown key 'seed'; valid: seeds, grid, set"):
        sweep(SweepConfig(sweep=str(tmp_path / "key.json"), traces=traces, clock="model"))
    with pytest.raises(ValueError, match="grid field 'ent_coef' needs a non-empty list"):
        sweep(SweepConfig(sweep=str(tmp_path / "empty.yaml"), traces=traces, clock="model"))
    assert cli(["train", "ppo", *ppo_argv(traces, tmp_path, tmp_path / "fixed.yaml")]) == 2
    assert not (tmp_path / "runs").exists()  # refused before any run folder


def test_ppo_sweep_runs_trials_in_their_run_folders_and_reports_the_best(ray_session, traces, tmp_path, capsys):
    from ebsd_env.cli import main as cli

    sweep_file = tmp_path / "seeds.yaml"
    sweep_file.write_text("seeds: [1, 2]\ngrid: {ent_coef: [0.0]}\n")
    assert cli(["train", "ppo", *ppo_argv(traces, tmp_path, sweep_file, "--backend", "ray")]) == 0
    out = capsys.readouterr().out
    summary = json.loads((tmp_path / "runs/sweep-seeds.json").read_text())
    folders = [row["run_dir"] for row in summary["runs"]]
    assert len(folders) == 2 and {row["seed"] for row in summary["runs"]} == {1, 2}
    for folder in folders:  # today's run folder: TensorBoard, checkpoints, record
        assert {"config.json", "record.json", "tb", "checkpoints", "best_model.zip"} <= {
            p.name for p in __import__("pathlib").Path(folder).iterdir()}
    best = summary["best"]
    assert best["best_tokens_per_s"] == max(row["best_tokens_per_s"] for row in summary["runs"])
    assert f"best run: {best['run_dir']}" in out and "fingerprint:" in out
    # A rerun finds every run finished: no new folder, the same best.
    assert cli(["train", "ppo", *ppo_argv(traces, tmp_path, sweep_file)]) == 0
    assert json.loads((tmp_path / "runs/sweep-seeds.json").read_text())["runs"] == summary["runs"]
