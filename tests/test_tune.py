"""`ebsd tune` on a tiny config-built pair with the model clock: grid and Bayesian studies in SQLite that run,
resume and report a best configuration per category; clear errors for bad arguments."""

from __future__ import annotations

import json

import optuna
import pytest

from train.tune import TuneConfig, TuneError, grid_points, main, parse_space, tune

PROMPTS = [
    {"id": "a1", "category": "alpha", "prompt": "the cat sat on the mat"},
    {"id": "b1", "category": "beta", "prompt": "what is two plus two?"},
]


@pytest.fixture
def prompt_file(tmp_path, make_prompt_file) -> str:
    return make_prompt_file(tmp_path, PROMPTS)


def tiny_tune(tmp_path, prompt_file, **overrides) -> TuneConfig:
    values = dict(pair="tiny-noisy", prompt_source=prompt_file, prompts_per_category=1, max_new_tokens=16,
                  storage=str(tmp_path / "tune.db"), out=str(tmp_path / "best.json"), theta_abs=(0.5, 2.0),
                  theta_rel=(1.5,), window_size=(1,), min_draft_len=(1,), max_draft_len=(4,),
                  entropy_type=("shannon",), stopping_strategy=("absolute", "relative"))
    return TuneConfig(**(values | overrides))


def completed(storage: str, name: str) -> list[optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{storage}")
    return [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]


def test_grid_study_runs_resumes_and_reports_best_per_category(tmp_path, prompt_file, capsys):
    from policies import make_policy

    config = tiny_tune(tmp_path, prompt_file, method="grid", budget=0)
    points = grid_points(config)
    assert len(points) == 3  # absolute x 2 thresholds, relative x 1 (unused axes do not multiply the grid)
    best = tune(config)
    assert set(best) == {"overall", "alpha", "beta"}
    for row in best.values():
        trials = completed(config.storage, row["study"])
        assert len(trials) == 3
        assert row["value"] == max(t.value for t in trials) == row["tokens_per_s"] > 0
        make_policy(row["spec"])  # a valid spec for the registry
    saved = json.loads((tmp_path / "best.json").read_text())
    assert saved["best"]["overall"]["spec"] == best["overall"]["spec"]
    assert set(saved["best"]["overall"]["per_category"]) == {"alpha", "beta"}

    # Resuming a complete study runs nothing new and reports the same best configuration.
    assert main(["grid", *_argv(config)]) == 0
    out = capsys.readouterr().out
    assert "complete (3 trials)" in out and best["overall"]["spec"] in out
    assert len(completed(config.storage, best["overall"]["study"])) == 3


def _argv(config: TuneConfig) -> list[str]:
    return ["--pair", config.pair, "--prompt-source", config.prompt_source, "--prompts-per-category", "1",
            "--max-new-tokens", "16", "--storage", config.storage, "--out", config.out, "--budget",
            str(config.budget), "--theta-abs", "0.5", "2.0", "--theta-rel", "1.5", "--window-size", "1",
            "--min-draft-len", "1", "--max-draft-len", "4", "--entropy", "shannon", "--stopping-strategy",
            "absolute", "relative"]


def test_bayes_study_resumes_and_extends(tmp_path, prompt_file):
    config = tiny_tune(tmp_path, prompt_file, method="bayes", rule="entropy-abs", budget=2, scope="overall",
                       space=("theta=0.1:3.0", "max=2:6"))
    first = tune(config)
    name = first["overall"]["study"]
    assert len(completed(config.storage, name)) == 2
    config.budget = 4
    second = tune(config)
    trials = completed(config.storage, name)
    assert len(trials) == 4
    assert second["overall"]["value"] == max(t.value for t in trials) >= first["overall"]["value"]
    assert second["overall"]["spec"].startswith("entropy-abs:theta=")
    # The reward objective ranks by the env's return, which the trial records as well.
    assert all("reward" in t.user_attrs for t in trials)


def test_bad_arguments_give_clear_errors(tmp_path, prompt_file, capsys):
    with pytest.raises(TuneError, match="unknown rule 'entropy-typo'; valid rules: entropy-abs"):
        tune(tiny_tune(tmp_path, prompt_file, rule="entropy-typo"))
    with pytest.raises(TuneError, match="rule 'entropy-abs' has no parameter thresh to tune; its parameters: max"):
        tune(tiny_tune(tmp_path, prompt_file, space=("thresh=0:1",)))
    with pytest.raises(TuneError, match="the grid is empty: --theta-abs has no values"):
        tune(tiny_tune(tmp_path, prompt_file, method="grid", theta_abs=()))
    with pytest.raises(TuneError, match="the grid is empty: every min_draft_len exceeds"):
        tune(tiny_tune(tmp_path, prompt_file, method="grid", min_draft_len=(5,), max_draft_len=(4,)))
    with pytest.raises(TuneError, match="--budget must be >= 0 trials, got -1"):
        tune(tiny_tune(tmp_path, prompt_file, budget=-1))
    with pytest.raises(TuneError, match="unknown stopping strategy"):
        tune(tiny_tune(tmp_path, prompt_file, method="grid", stopping_strategy=("sometimes",)))
    assert main(["bayes", "--rule", "nope", "--budget", "3"]) == 2
    assert "ebsd tune: unknown rule 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "tune.db").exists()  # errors come before any work


def test_parse_space():
    assert parse_space(("theta=0.1:2", "max=2:8", "mode=any|all")) == {
        "theta": (0.1, 2), "max": (2, 8), "mode": ("choice", ["any", "all"])}
    for bad in ("theta", "theta=1", "theta=2:1", "theta=a:b"):
        with pytest.raises(TuneError, match="bad --space"):
            parse_space((bad,))



class Killed(BaseException):
    """A kill mid-trial: like SIGKILL, optuna catches nothing of it, so nothing marks the trial finished."""


def test_a_killed_study_resumes_with_the_interrupted_trial_failed_and_counts_complete_trials(tmp_path, prompt_file,
                                                                                            monkeypatch):
    from ebsd_env.timing.cost_model import CostModel
    from train import tune as tune_module

    costs = tmp_path / "costs.json"  # a fixed model clock: no calibration, which a busy machine can refuse
    CostModel(draft_s=0.025, verify_points=((1, 0.1), (2, 0.105), (9, 0.14)), source="toy").save(costs)
    config = tiny_tune(tmp_path, prompt_file, method="grid", budget=0, scope="overall", cost_model=str(costs))
    evaluate, calls = tune_module.Evaluator.__call__, []

    def killed_on_the_second_trial(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise Killed
        return evaluate(self, *args, **kwargs)

    monkeypatch.setattr(tune_module.Evaluator, "__call__", killed_on_the_second_trial)
    with pytest.raises(Killed):
        tune(config)
    monkeypatch.undo()
    (summary,) = optuna.get_all_study_summaries(f"sqlite:///{config.storage}")
    name, storage = summary.study_name, f"sqlite:///{config.storage}"
    assert [t.state for t in optuna.load_study(study_name=name, storage=storage).trials] == [
        optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.RUNNING]

    best = tune(config)
    trials = optuna.load_study(study_name=name, storage=storage).trials
    assert trials[1].state == optuna.trial.TrialState.FAIL
    assert not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
    complete = completed(config.storage, name)
    # Every grid point exactly once among the complete trials, the interrupted one included; only they count.
    assert sorted(t.user_attrs["spec"] for t in complete) == sorted(p["spec"] for p in grid_points(config))
    assert best["overall"]["trials"] == 3
    assert json.loads((tmp_path / "best.json").read_text())["best"]["overall"]["trials"] == 3


def test_rules_that_read_no_signal_are_tuned_where_none_is_computed(tmp_path, prompt_file, noisy_pair):
    """As `ebsd eval` binds them (`Policy.signal_settings`), `ebsd tune` runs a rule that reads no draft-token signal
    (fixed k) in an env with observation="position": its result does not change when the clock prices each read
    step's signals, while an entropy rule's does (it reads them, and pays)."""
    from ebsd_env.timing.cost_model import CostModel
    from train.tune import Evaluator

    def evaluate(spec: str, signal_s: float) -> tuple[dict, Evaluator]:
        costs = CostModel(draft_s=0.025, verify_points=((1, 0.1), (2, 0.105), (9, 0.14)), signal_s=signal_s,
                          source="toy")
        evaluator = Evaluator(tiny_tune(tmp_path, prompt_file), noisy_pair, PROMPTS, costs)
        return evaluator(spec, "shannon", [0, 1]), evaluator

    free, _ = evaluate("fixed-k:k=3", 0.0)
    priced, evaluator = evaluate("fixed-k:k=3", 0.01)
    assert priced["tokens_per_s"] == free["tokens_per_s"] and priced["reward"] == free["reward"]
    (env,) = evaluator.envs.values()
    assert env.unwrapped.observation_layout.observation == "position"
    reads_free, _ = evaluate("entropy-abs:theta=1.0", 0.0)
    reads_priced, evaluator = evaluate("entropy-abs:theta=1.0", 0.01)
    assert reads_priced["tokens_per_s"] < reads_free["tokens_per_s"]
    (env,) = evaluator.envs.values()
    assert env.unwrapped.observation_layout.observation == "entropy"
