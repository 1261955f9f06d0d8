"""The optuna studies of `ebsd tune`: each study's objective, its run (created or resumed, its missing trials
run) and the repair of the trials a killed run left behind.

`train.tune` plans the studies and writes their best configurations; this module holds what happens inside one
study. It takes the tuner's config and evaluator as arguments (it does not import `train.tune`, which imports it).
"""

from __future__ import annotations

from .tune_space import spec_of, suggest_params


def study_objective(config, grid: list[dict] | None, space: dict | None, evaluate, indices: list[int]):
    """The optuna objective of one study: the trial's spec run on the study's prompts, every result kept as a
    user attribute of the trial."""
    def objective(trial):
        if config.method == "grid":
            point = grid[trial.suggest_categorical("grid_point", list(range(len(grid))))]
            spec, entropy = point["spec"], point["entropy"]
        else:
            spec, entropy = spec_of(config.rule, suggest_params(trial, space)), config.entropy_type[0]
        result = evaluate(spec, entropy, indices)
        trial.set_user_attr("spec", spec)
        trial.set_user_attr("entropy", entropy)
        for key, value in result.items():
            trial.set_user_attr(key, value)
        return result[config.objective]

    return objective


def run_study(config, storage, name: str, objective, grid: list[dict] | None, prompts: int) -> dict:
    """Create or resume the study `name`, run its missing trials, and return its best configuration."""
    import optuna

    if config.method == "grid":
        sampler = optuna.samplers.GridSampler({"grid_point": list(range(len(grid)))}, seed=config.seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=config.seed)
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize", sampler=sampler,
                                load_if_exists=True)
    retry_interrupted_trials(study, storage)
    done = len(complete_trials(study))
    total = len(grid) if config.method == "grid" and config.budget == 0 else config.budget
    if config.method == "grid":
        total = min(total, len(grid))
    if total > done:
        print(f"[ebsd] study {name}: {done} trials done, running {total - done} on {prompts} prompts", flush=True)
        study.optimize(objective, n_trials=total - done, show_progress_bar=True)
    else:
        print(f"[ebsd] study {name}: complete ({done} trials)", flush=True)
    trial = study.best_trial
    return {"spec": trial.user_attrs["spec"], "entropy": trial.user_attrs["entropy"], "value": trial.value,
            "trials": len(complete_trials(study)), "study": name,
            **{k: trial.user_attrs[k] for k in ("tokens_per_s", "reward", "acceptance_rate", "mean_accepted_tokens",
                                                "mean_draft_len", "per_category", "oracle_dp_share")
               if k in trial.user_attrs}}


def complete_trials(study) -> list:
    """The study's finished trials: those that count towards --budget and that best.json reports."""
    import optuna

    return study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))


def retry_interrupted_trials(study, storage) -> list[int]:
    """Mark the trials a killed `ebsd tune` left RUNNING as FAIL, each queued again with its parameters (a grid
    trial with its grid point, which the grid sampler would otherwise count as visited) so that the resumed study
    evaluates what the killed one did not finish; returns their numbers. One `ebsd tune` runs a study at a time
    (the single-process backend): a RUNNING trial found at the start is one whose process is gone."""
    import optuna

    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    study_id = storage.get_study_id_from_name(study.study_name)
    for trial in running:
        storage.set_trial_state_values(storage.get_trial_id_from_study_id_trial_number(study_id, trial.number),
                                       optuna.trial.TrialState.FAIL)
        study.add_trial(optuna.trial.create_trial(
            state=optuna.trial.TrialState.WAITING, params=trial.params, distributions=trial.distributions,
            system_attrs={**trial.system_attrs, "interrupted_trial": trial.number}))
    if running:
        print(f"[ebsd] study {study.study_name}: trial(s) {', '.join(str(t.number) for t in running)} were "
              "interrupted: marked failed and queued again", flush=True)
    return [trial.number for trial in running]
