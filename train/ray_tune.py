"""`ebsd tune --backend ray`: the Bayesian study of `ebsd tune` as a Ray Tune experiment over replay traces.

This module is `ebsd tune`'s entry: without --backend ray it runs `train.tune` as it is.

Ray Tune runs the trials (`--num-workers` at a time, on a local Ray instance or the cluster at `--address`);
`OptunaSearch` suggests them with the TPE sampler and seed of the single-process study and writes them into the
*same* optuna study (same SQLite storage, same study name, the same params and user attributes), so
`optuna.load_study`, `best.json` and `ebsd tune`'s own resume read either backend's trials. An `ASHAScheduler`
stops poor trials early when each trial reports more than once (`--asha-rungs N`: the study's prompts in N
chunks); a trial ASHA stopped enters the study as PRUNED with its intermediate values, so only trials that saw
every prompt can be best. With one rung (the default) no trial is stopped and every value equals the
single-process one.

Same seed, same best trial: TPE's first 10 trials are random draws from the seeded sampler, asked in order, so
they are the single-process study's whatever the concurrency; later ones depend on which trials have finished
when a suggestion is asked, which is the same only with `--num-workers 1`.

A killed sweep resumes: the experiment lives in ``<storage folder>/ray/<study name>``; rerunning the same command
restores it (`Tuner.restore`: finished trials are kept, unfinished ones run again) and then runs whatever the
study still lacks.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np

from ebsd_env.cli.args import parse
from ebsd_env.io import write_json_atomic
from ebsd_env.ray_support import fit_tuner, init_ray, require_ray

from .tune import (
    DEFAULT_SPACES,
    Evaluator,
    TuneConfig,
    TuneError,
    _studies,
    check_rule,
    parse_space,
    spec_of,
    tune,
    tuned_fingerprint,
    validate,
)

BEST_KEYS = ("tokens_per_s", "reward", "acceptance_rate", "mean_accepted_tokens", "mean_draft_len", "per_category",
             "oracle_dp_share")
_EVALUATORS: dict[str, Evaluator] = {}  # per worker process: traces loaded once, however many trials it runs


@dataclass
class RayTuneConfig(TuneConfig):
    backend: Literal["local", "ray"] = "local"
    ("`ray`: the `bayes` study on --traces as a Ray Tune experiment (OptunaSearch + ASHA; same studies and best.json; "
     "`pip install 'ebsd-gym[ray]'`, docs/ray.md); `local`: in this process.")
    num_workers: int = 2
    """With --backend ray: trials run at a time (one CPU each)."""
    address: str | None = None
    """With --backend ray: the cluster to use (`ray start --head` prints it; None: a local Ray instance)."""
    asha_rungs: int = 1
    ("With --backend ray: report each trial after this many chunks of its prompts, so ASHA can stop poor trials early "
     "(1: no early stop; every trial's value is the single-process one).")


def check(config: RayTuneConfig) -> dict:
    """Everything about a Ray sweep that can be refused before Ray starts or traces load; returns the space."""
    require_ray()
    validate(config)
    if config.method != "bayes":
        raise TuneError("--backend ray runs the Bayesian study (`ebsd tune bayes`); the grid runs in-process")
    if not config.traces:
        raise TuneError("--backend ray tunes on replay traces: give --traces DIR (record them with `ebsd record`)")
    if config.clock != "model":
        raise TuneError("--traces replays recorded traces, which only the model clock can time: --clock model")
    if config.budget < 1:
        raise TuneError(f"--budget must be >= 1 trials with --backend ray, got {config.budget}")
    if config.num_workers < 1 or config.asha_rungs < 1:
        raise TuneError(f"--num-workers and --asha-rungs must be >= 1, got {config.num_workers} and "
                        f"{config.asha_rungs}")
    space = parse_space(config.space) if config.space else DEFAULT_SPACES.get(config.rule, {})
    check_rule(config.rule, space)
    if not space:
        raise TuneError(f"rule {config.rule!r} has no built-in search space: give one with --space name=low:high ...")
    return space


def suggest(trial, space: dict) -> None:
    """The single-process objective's suggestions, in the same order with the same distributions."""
    for name, bounds in space.items():
        if bounds[0] == "choice":
            trial.suggest_categorical(name, bounds[1])
        elif isinstance(bounds[0], int) and isinstance(bounds[1], int):
            trial.suggest_int(name, bounds[0], bounds[1])
        else:
            trial.suggest_float(name, float(bounds[0]), float(bounds[1]))


def _evaluator(config) -> Evaluator:
    key = json.dumps(dataclasses.asdict(config), sort_keys=True, default=str)
    if key not in _EVALUATORS:
        from ebsd_env.replay import TraceSet

        traces = TraceSet.load(config.traces)
        _EVALUATORS[key] = Evaluator(config, None, traces.rows(), config.cost_model)
        _EVALUATORS[key].prompts_source = traces
    return _EVALUATORS[key]


def _result(evaluate: Evaluator, env, stats: list[dict], indices: list[int], final: bool) -> dict:
    """`Evaluator.__call__`'s result of episode statistics run chunk by chunk (the oracle share at the end)."""
    from .common import summarize

    result = summarize(stats)
    base = env.unwrapped
    rho = base.decode_clock.baseline_rate
    result["reward"] = float(np.sum([(s["new_tokens"] - rho * s["decode_s"]) / base.reward_scale for s in stats]))
    if final:
        result["oracle_dp_share"] = result["tokens_per_s"] / evaluate.oracle_rate(base, indices)
    return result


def trial(params: dict, config, indices: list[int]) -> None:
    """One Ray Tune trial: the rule with `params` on the study's prompts, reported after each of the
    --asha-rungs chunks (ASHA may stop it between them)."""
    from ray import tune

    from policies import make_policy

    from .common import run_policy

    evaluate = _evaluator(config)
    params = dict(params)
    if "min" in params and "max" in params and params["min"] > params["max"]:
        params["min"] = params["max"]  # as the single-process objective
    spec, entropy = spec_of(config.rule, params), config.entropy_type[0]
    chunks = [list(c) for c in np.array_split(np.asarray(indices), config.asha_rungs) if len(c)]
    stats: list[dict] = []
    for n, chunk in enumerate(chunks):
        final = n == len(chunks) - 1
        if len(chunks) == 1:  # the single-process code path itself
            result = evaluate(spec, entropy, indices)
        else:  # episode seeds as in one pass: seed + the prompt's position in the study
            policy = make_policy(spec)
            env = evaluate.env(entropy, policy.signal_settings())
            stats += run_policy(env, policy, chunk, config.seed + len(stats))
            result = _result(evaluate, env, stats, indices[:len(stats)], final)
        tune.report({config.objective: result[config.objective], "prompts_done": len(stats) or len(indices),
                     "prompts_total": len(indices),
                     "ebsd_result": json.dumps({"spec": spec, "entropy": entropy, **result}) if final else ""})


def searcher_class():
    from ray.tune.search.optuna import OptunaSearch

    class StudySearch(OptunaSearch):
        """OptunaSearch that records each trial as the single-process `ebsd tune` does (spec, entropy and the
        evaluation as user attributes) and a trial ASHA stopped early as PRUNED, not COMPLETE."""

        def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False):
            ot_trial = self._ot_trials.get(trial_id)
            if result and not error and ot_trial is not None:
                if not result.get("ebsd_result"):
                    result = None  # stopped before its last chunk: pruned (its intermediate values are kept)
                elif not self._ot_study._storage.get_trial(ot_trial._trial_id).state.is_finished():
                    for key, value in json.loads(result["ebsd_result"]).items():
                        ot_trial.set_user_attr(key, value)
                    ot_trial.set_user_attr("ray_trial_id", trial_id)
            super().on_trial_complete(trial_id, result, error)

    return StudySearch


def progress_callback(total: int, desc: str):
    from ray.tune import Callback
    from tqdm import tqdm

    class Progress(Callback):
        def __init__(self):
            self.bar = None

        def setup(self, **info):
            self.bar = tqdm(total=total, desc=desc, unit="trial")

        def on_trial_complete(self, iteration, trials, trial, **info):
            self.bar.update(1)

        def on_experiment_end(self, trials, **info):
            self.bar.close()

    return Progress()


def completed(study) -> int:
    import optuna

    return len([t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE])


def run_study(config, space: dict, name: str, indices: list[int], storage: str, callbacks: list = ()) -> None:
    """Run (restore, then complete) one study's Ray Tune experiment until it holds --budget complete trials."""
    import optuna
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    study = optuna.create_study(study_name=name, storage=storage, direction="maximize", load_if_exists=True)
    folder = Path(config.storage).resolve().parent / "ray"
    experiment = folder / name.replace("/", "__")
    trainable = tune.with_resources(tune.with_parameters(trial, config=config, indices=indices), {"cpu": 1})
    restored = False
    while completed(study) < config.budget:
        missing = config.budget - completed(study)
        print(f"[ebsd] study {name}: {completed(study)} trials done, running {missing} on {len(indices)} prompts "
              f"with Ray ({config.num_workers} at a time)", flush=True)
        if not restored and tune.Tuner.can_restore(str(experiment)):
            # A killed sweep: finished trials are kept, unfinished ones run again; the loop adds what is missing.
            tuner = tune.Tuner.restore(str(experiment), trainable=trainable, resume_unfinished=True,
                                       resume_errored=True)
        else:
            searcher = searcher_class()(space=partial(suggest, space=space), metric=config.objective, mode="max",
                                        sampler=optuna.samplers.TPESampler(seed=config.seed), study_name=name,
                                        storage=optuna.storages.RDBStorage(storage))
            scheduler = ASHAScheduler(time_attr="training_iteration", max_t=config.asha_rungs, grace_period=1,
                                      reduction_factor=2)
            tuner = tune.Tuner(trainable, tune_config=tune.TuneConfig(
                metric=config.objective, mode="max", search_alg=searcher, scheduler=scheduler,
                num_samples=missing, max_concurrent_trials=config.num_workers,
                reuse_actors=True),  # a new actor per trial would import torch again: seconds per trial
                run_config=tune.RunConfig(name=experiment.name, storage_path=str(folder), verbose=0,
                                          callbacks=[progress_callback(missing, "tune (ray)"), *callbacks]))
        restored = True
        results = fit_tuner(tuner)
        errors = [r.error for r in results if r.error is not None]
        if errors:
            raise RuntimeError(f"study {name}: {len(errors)} Ray trial(s) failed; the first: {errors[0]}")
        study = optuna.load_study(study_name=name, storage=storage)


def tune_with_ray(config, callbacks: list = ()) -> dict:
    """`train.tune.tune` with Ray Tune running the trials; the same studies, best.json and return value."""
    import optuna

    from ebsd_env.replay import TraceSet

    space = check(config)
    prompts = TraceSet.load(config.traces).rows()
    init_ray(config.address, num_cpus=None)
    Path(config.storage).parent.mkdir(parents=True, exist_ok=True)
    storage = f"sqlite:///{Path(config.storage).resolve()}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    best = {}
    for category, indices in _studies(config, prompts).items():
        name = f"{config.study_name}/{config.method}/{config.rule}/{category}"
        run_study(config, space, name, indices, storage, callbacks)
        study = optuna.load_study(study_name=name, storage=storage)
        if completed(study) >= config.budget:
            print(f"[ebsd] study {name}: complete ({completed(study)} trials)", flush=True)
        chosen = study.best_trial  # as the single-process study: the best COMPLETE trial
        best[category] = {"spec": chosen.user_attrs["spec"], "entropy": chosen.user_attrs["entropy"],
                          "value": chosen.value, "trials": len(study.trials), "study": name,
                          **{k: chosen.user_attrs[k] for k in BEST_KEYS if k in chosen.user_attrs}}
    write_json_atomic(config.out, {"method": config.method, "rule": config.rule, "objective": config.objective,
                                   "clock": config.clock, "pair": config.pair, "best": best,
                                   "fingerprint": tuned_fingerprint(_evaluator(config), config, best)},
                      sort_keys=True)
    return best


def main(argv: list[str] | None = None) -> int:
    """`ebsd tune [grid|bayes] ... [--backend ray]`."""
    import train.tune as single

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("grid", "bayes"):
        argv = ["--method", argv[0], *argv[1:]]
    usage = single.__doc__.rstrip() + "\n    ebsd tune bayes --traces DIR --backend ray --num-workers 8  # docs/ray.md"
    config = parse(RayTuneConfig, argv, "tune", description=usage, prog="ebsd tune")
    return single.run_and_report(config, tune_with_ray if config.backend == "ray" else tune)
