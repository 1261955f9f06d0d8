"""`ebsd tune`: grid search and Bayesian optimisation (optuna) of the hand-made stopping rules.

Every trial runs the rule through the same environment, decoder and reward as PPO training
(`policies.rollout.run_episode` on `EBSD-v1`), on the tuning prompts of one category (a study per category) or
of all of them (the ``overall`` study). Studies live in an optuna SQLite database, so an interrupted study
resumes where it stopped and can be inspected (``optuna.load_study(study_name=..., storage="sqlite:///runs/tune/tune.db")``,
or optuna-dashboard where installed). The best configuration per category is printed and saved as JSON.

    ebsd tune grid --budget 40                                   # the full grid, 40 points per study
    ebsd tune bayes --rule entropy-abs --budget 30               # TPE over the rule's default space
    ebsd tune bayes --rule entropy-abs --space theta=0.2:4.0 max=4:20
"""

from __future__ import annotations

import itertools
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import tyro

from ebsd_env.cli.args import PairArgs, PromptArgs, load_pair_from_args, parse
from ebsd_env.io import write_json_atomic

from .common import (
    by_category,
    check_cost_profiles,
    load_prompt_rows,
    resolve_cost_model,
    run_policy,
    summarize,
)

GRID_STRATEGIES = ("absolute", "relative", "combined")
# Default Bayesian search spaces per rule: name -> (low, high) (int bounds give integer parameters).
DEFAULT_SPACES: dict[str, dict[str, tuple]] = {
    "entropy-abs": {"theta": (0.05, 6.0), "min": (1, 3), "max": (2, 16)},
    "entropy-rel": {"theta": (1.05, 4.0), "min": (1, 3), "max": (2, 16)},
    "entropy-window": {"w": (1, 5), "theta": (0.05, 6.0), "min": (1, 3), "max": (2, 16)},
    "entropy-pos": {"theta": (0.05, 6.0), "alpha": (-0.5, 0.5), "min": (1, 3), "max": (2, 16)},
    "fixed-k": {"k": (1, 16)},
    "random-k": {"max_k": (1, 16)},
    # The field's rules: their thresholds and caps (svip's gamma and theta only matter through theta^2 / gamma).
    "hf-confidence": {"threshold": (0.02, 0.98), "max": (1, 16)},
    "hf-confidence-roc": {"threshold": (0.02, 0.98), "fn_weight": (0.5, 6.0), "max": (1, 16)},
    "hf-heuristic": {"k": (1, 12)},
    "svip": {"theta": (0.02, 1.2), "max": (1, 16)},
    "adaedl-like": {"lam": (0.05, 0.98), "target": (0.3, 0.98), "max": (1, 16)},
    "draft-verify": {"threshold": (0.05, 0.98), "target": (0.3, 0.98), "max": (1, 16)},
    "kangaroo": {"threshold": (0.02, 0.98), "max": (1, 16)},
    "llamacpp": {"p_min": (0.02, 0.98), "max": (1, 16)},
    "bandit-ucb": {"c": (0.05, 4.0)},
    "bandit-exp3": {"gamma": (0.01, 0.5)},
}


class TuneError(ValueError):
    """Bad tuning arguments; the message names the problem and the fix."""


@dataclass
class TuneConfig(PairArgs, PromptArgs):
    method: Literal["grid", "bayes"] = "bayes"
    """`grid`: the full grid over rules and entropy types; `bayes`: optuna TPE over one rule's parameters."""
    rule: str = "entropy-abs"
    """Rule tuned by `bayes` (a policy name from `ebsd policies`)."""
    space: tuple[str, ...] = ()
    ("`bayes` search space, `name=low:high` (integers if both bounds are) or `name=a|b|c` (choices); empty: the "
     "rule's built-in space.")
    budget: int = 20
    ("Trials per study in total (a resumed study runs only the missing ones); for `grid`, points drawn at random "
     "without repetition (0: the whole grid).")
    scope: Literal["overall", "per-category", "both"] = "both"
    """One study over all prompts, one per category, or both."""
    theta_abs: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0, 2.5)
    """Grid: absolute entropy thresholds (nats)."""
    theta_rel: tuple[float, ...] = (1.2, 1.5, 2.0, 3.0)
    """Grid: relative entropy increase ratios."""
    window_size: tuple[int, ...] = (1, 3, 5)
    """Grid: sliding-window sizes of the absolute rule."""
    min_draft_len: tuple[int, ...] = (0, 1, 2)
    """Grid: minimum draft lengths."""
    max_draft_len: tuple[int, ...] = (8, 12, 16, 20)
    """Grid: maximum draft lengths."""
    entropy_type: Annotated[tuple[str, ...], tyro.conf.arg(name="entropy")] = ("shannon", "renyi", "topk")
    """Grid: entropy measures (the environment's `entropy`); `bayes` uses the first."""
    stopping_strategy: tuple[str, ...] = ("absolute", "relative", "combined")
    ("Grid: stopping strategies: absolute (entropy-abs, or entropy-window for a window > 1), relative (entropy-rel), "
     "combined (either of the two stops).")
    objective: Literal["tokens_per_s", "reward"] = "tokens_per_s"
    ("Maximised: the objective, total tokens over total decoding time on the study's prompts "
     "(`ebsd_env.envs.objective`), or the summed episode return (gamma = 1), which orders rules the same way under "
     "greedy decoding.")
    clock: Literal["wall", "model"] = "model"
    """Clock of the tokens/s: the calibrated model clock (repeatable; default) or wall time (noisy)."""
    prompts_per_category: int = 2
    ("Tuning prompts per category: the first ones of the loaded pool, i.e. the held-in prompts `ebsd train ppo` "
     "evaluates on with --eval-prompts-per-category of the same value.")
    prompt_pool: int | None = 16
    """Prompts loaded per category (as `ebsd train ppo --prompts-per-category`; None: all)."""
    max_new_tokens: int = 128
    """Token budget of each episode."""
    temperature: float = 0.0
    """Decoding temperature (0 = greedy)."""
    history: int = 8
    """Entropies in the observation (must match the environment PPO policies are compared in)."""
    env_max_draft_len: int = 20
    """The environment's hard draft cap (rules stop earlier through their own max)."""
    cost_model: str | None = None
    ("Model-clock calibration (CostModel JSON), e.g. a PPO run's `cost_model.json` for a fair comparison; None: the "
     "one kept next to the storage from an earlier session, else calibrate now.")
    cost_profiles: tuple[str, ...] = ()
    ("With --traces: cost profiles to price the episodes, one drawn per episode from its seed (so every trial sees the "
     "same draws): profile JSON files, folders of them, or the shipped sets `h200` and `synthetic` "
     "(`ebsd_env.timing.cost_profiles`); replaces the traces' model clock. No oracle-dp share then.")
    traces: str | None = None
    ("Tune on recorded greedy traces (`ebsd record --out DIR`) with `EBSD-Replay-v1` instead of live decoding: exact "
     "under greedy decoding and thousands of times faster; --clock model (the traces' calibration or --cost-model); "
     "the traces' prompts replace the prompt options; no models are loaded.")
    storage: str = "runs/tune/tune.db"
    """SQLite file of the studies (created if missing; reused to resume)."""
    study_name: str = "ebsd-tune"
    """Studies are named `{study_name}/{method}/{rule or grid}/{category}`."""
    out: str = "runs/tune/best.json"
    """Where the best configuration per category is written (JSON, atomically)."""
    seed: int = 0
    """Seeds the optuna sampler and the episodes."""


def parse_space(items: tuple[str, ...]) -> dict[str, tuple]:
    """`name=low:high` -> (low, high); `name=a|b` -> ("choice", [a, b])."""
    space = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise TuneError(f"bad --space item {item!r}: write name=low:high or name=a|b|c")
        if "|" in value:
            space[name] = ("choice", [_number(v) for v in value.split("|")])
            continue
        low, sep, high = value.partition(":")
        if not sep:
            raise TuneError(f"bad --space item {item!r}: write name=low:high or name=a|b|c")
        low, high = _number(low), _number(high)
        if not isinstance(low, (int, float)) or not isinstance(high, (int, float)) or low > high:
            raise TuneError(f"bad --space range {item!r}: need numbers with low <= high")
        space[name] = (low, high)
    return space


def _number(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def spec_of(rule: str, params: dict) -> str:
    return rule + (":" + ",".join(f"{k}={_fmt(v)}" for k, v in params.items()) if params else "")


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def grid_spec(strategy: str, theta_abs: float, theta_rel: float, window: int, low: int, high: int) -> str:
    """Policy spec of one grid point. The absolute strategy with a window > 1 is the sliding-window mean rule;
    `combined` stops when either the absolute (or window) rule or the relative rule does."""
    bounds = {"min": low, "max": high}
    absolute = (spec_of("entropy-abs", {"theta": theta_abs, **bounds}) if window == 1
                else spec_of("entropy-window", {"w": window, "theta": theta_abs, **bounds}))
    relative = spec_of("entropy-rel", {"theta": theta_rel, **bounds})
    if strategy == "absolute":
        return absolute
    if strategy == "relative":
        return relative
    # Sub-rules carry the same min / max (a sub-rule at its own max votes stop).
    return spec_of("combined", {"mode": "any", "rules": f"[{absolute};{relative}]", **bounds})


# The grid axes each strategy uses (the others would only repeat the same rule).
STRATEGY_AXES = {"absolute": ("theta_abs", "window_size"), "relative": ("theta_rel",),
                 "combined": ("theta_abs", "theta_rel", "window_size")}


def grid_points(config: TuneConfig) -> list[dict]:
    """The plan's grid without duplicates: each strategy only varies the axes it uses."""
    for axis in ("theta_abs", "theta_rel", "window_size", "min_draft_len", "max_draft_len", "entropy_type",
                 "stopping_strategy"):
        if not getattr(config, axis):
            raise TuneError(f"the grid is empty: --{axis.replace('_', '-')} has no values; give at least one")
    unknown = set(config.stopping_strategy) - set(GRID_STRATEGIES)
    if unknown:
        raise TuneError(f"unknown stopping strategy {sorted(unknown)}; valid: {', '.join(GRID_STRATEGIES)}")
    if max(config.window_size) > config.history:
        raise TuneError(f"--window-size {max(config.window_size)} exceeds the observation --history "
                        f"{config.history}; raise --history or drop the window")
    points = set()
    for strategy in config.stopping_strategy:
        used = STRATEGY_AXES[strategy]
        axes = {a: getattr(config, a) if a in used else getattr(config, a)[:1]
                for a in ("theta_abs", "theta_rel", "window_size")}
        for entropy, t_abs, t_rel, window, low, high in itertools.product(
                config.entropy_type, axes["theta_abs"], axes["theta_rel"], axes["window_size"],
                config.min_draft_len, config.max_draft_len):
            if low <= high:
                points.add((strategy, entropy, grid_spec(strategy, t_abs, t_rel, window, low, high)))
    if not points:
        raise TuneError("the grid is empty: every min_draft_len exceeds every max_draft_len")
    return [{"strategy": s, "entropy": e, "spec": spec} for s, e, spec in sorted(points)]


class Evaluator:
    """Runs policy specs on prompt subsets, one environment per entropy measure (the pair is loaded once)."""

    def __init__(self, config: TuneConfig, pair, prompts: list[dict], cost_model):
        self.config, self.pair, self.prompts, self.cost_model = config, pair, prompts, cost_model
        self.prompts_source = None  # a TraceSet when tuning on replays (--traces)
        self.cost_profiles = None  # a CostProfiles to draw one of per episode (--cost-profiles)
        self._oracle: dict[tuple, float] = {}
        self.envs: dict[str, object] = {}

    def env(self, entropy: str, extra_signals: bool = False):
        key = (entropy, extra_signals)
        if key not in self.envs:
            import gymnasium as gym

            import ebsd_env  # noqa: F401  (registers the environments)

            c = self.config
            if c.traces:  # replays: the same env code over recorded traces
                self.envs[key] = gym.make("EBSD-Replay-v1", traces=self.prompts_source, history=c.history,
                                          entropy=entropy, max_draft_len=c.env_max_draft_len,
                                          max_new_tokens=c.max_new_tokens, temperature=c.temperature,
                                          clock=c.clock, cost_model=self.cost_model, extra_signals=extra_signals,
                                          cost_profiles=self.cost_profiles)
                return self.envs[key]
            self.envs[key] = gym.make("EBSD-v1", pair=self.pair, prompts=self.prompts, history=c.history,
                                      entropy=entropy, max_draft_len=c.env_max_draft_len,
                                      max_new_tokens=c.max_new_tokens, temperature=c.temperature,
                                      clock=c.clock, cost_model=self.cost_model, extra_signals=extra_signals)
        return self.envs[key]

    def __call__(self, spec: str, entropy: str, indices: list[int]) -> dict:
        from policies import make_policy

        policy = make_policy(spec)
        env = self.env(entropy, policy.requires_extra_signals)
        stats = run_policy(env, policy, indices, self.config.seed)
        result = summarize(stats)
        # The env's undiscounted return, (N - rho * T) / reward_scale, summed over the episodes.
        base = env.unwrapped
        result["reward"] = float(np.sum([(s["new_tokens"] - base.baseline_rate * s["decode_s"]) / base.reward_scale
                                         for s in stats]))
        # Replays on one clock: the share of the optimum (oracle-dp) on these prompts (one plan per clock).
        if self.prompts_source is not None and self.cost_profiles is None:
            result["oracle_dp_share"] = result["tokens_per_s"] / self.oracle_rate(base, indices)
        return result

    def oracle_rate(self, env, indices: list[int]) -> float:
        """The objective of oracle-dp's plans on the traces `indices` (the better of the two stop modes)."""
        from ebsd_env.replay.oracle import optimal_rate

        key = tuple(indices)
        if key not in self._oracle:
            traces = [self.prompts_source[i] for i in indices]
            self._oracle[key] = max(optimal_rate(traces, env.cost_model, env.max_draft_len, mode, env.max_new_tokens)
                                    for mode in ("include", "exclude"))
        return self._oracle[key]


def check_rule(rule: str, space: dict) -> None:
    """The rule exists and every searched parameter is one of its numeric parameters."""
    from policies import list_policies

    rules = {row["name"]: row for row in list_policies()}
    if rule not in rules:
        raise TuneError(f"unknown rule {rule!r}; valid rules: {', '.join(rules)} (see `ebsd policies`)")
    params = {p["name"] for p in rules[rule]["params"] if p["type"] in ("int", "float", "str")}
    unknown = sorted(set(space) - params)
    if unknown:
        raise TuneError(f"rule {rule!r} has no parameter {', '.join(unknown)} to tune; its parameters: "
                        f"{', '.join(sorted(params)) or 'none'}")


def check_spec(spec: str) -> None:
    """Parse a spec up front, so a bad grid fails before any episode runs."""
    from policies import make_policy

    try:
        make_policy(spec)
    except ValueError as error:
        raise TuneError(f"grid point {spec!r} is not a valid policy: {error}") from None


def _studies(config: TuneConfig, prompts: list[dict]) -> dict[str, list[int]]:
    groups = {c: idx[: config.prompts_per_category] for c, idx in by_category(prompts).items()}
    studies = {}
    if config.scope in ("overall", "both"):
        studies["overall"] = [i for idx in groups.values() for i in idx]
    if config.scope in ("per-category", "both"):
        studies |= groups
    return studies


def validate(config: TuneConfig) -> None:
    """What can be refused before a model, trace or study is loaded and before anything is written (both
    backends): numbers out of range, paths that cannot be written, a cost model or trace folder that is not one."""
    from ebsd_env.cli.args import check_model_args
    from ebsd_env.io import check_file_path

    check_model_args(config)
    if config.budget < 0:
        raise TuneError(f"--budget must be >= 0 trials, got {config.budget}")
    for flag, value in (("--prompts-per-category", config.prompts_per_category),
                        ("--max-new-tokens", config.max_new_tokens), ("--history", config.history),
                        ("--env-max-draft-len", config.env_max_draft_len)):
        if value < 1:
            raise TuneError(f"{flag} must be >= 1, got {value}")
    if config.prompt_pool is not None and config.prompt_pool < config.prompts_per_category:
        raise TuneError(f"--prompt-pool ({config.prompt_pool}) must hold the --prompts-per-category "
                        f"({config.prompts_per_category}) tuning prompts: raise it, or None for all")
    if not (math.isfinite(config.temperature) and config.temperature >= 0):
        raise TuneError(f"--temperature must be a finite number >= 0 (0 = greedy), got {config.temperature}")
    if min(config.min_draft_len, default=0) < 0 or min(config.max_draft_len, default=1) < 1:
        raise TuneError(f"grid draft bounds: --min-draft-len >= 0 and --max-draft-len >= 1, got "
                        f"{list(config.min_draft_len)} and {list(config.max_draft_len)}")
    if config.traces is not None:
        if config.clock != "model":
            raise TuneError("--traces replays recorded traces, which only the model clock can time: --clock model")
        if not Path(config.traces).is_dir() or not any(Path(config.traces).glob("shard-*.parquet")):
            raise TuneError(f"--traces {config.traces}: no trace shards there; record them with `ebsd record --out "
                            f"{config.traces}`")
    if config.cost_model is not None:
        from ebsd_env.timing.cost_model import CostModel

        CostModel.load(config.cost_model)  # a missing or corrupt file, named, before any work
    check_file_path(config.storage, "--storage")
    check_file_path(config.out, "--out")


def tune(config: TuneConfig) -> dict:
    """Run (or resume) the studies; returns the best configuration per category."""
    import optuna

    from ebsd_env.decoding.kernels import configure_threads

    validate(config)
    if config.method == "grid":
        grid = grid_points(config)
        for point in grid:
            check_spec(point["spec"])
        label = "grid"
    else:
        if config.budget == 0:
            raise TuneError("--budget 0 means 'the whole grid', which only `grid` has: give bayes a trial count")
        space = parse_space(config.space) if config.space else DEFAULT_SPACES.get(config.rule, {})
        check_rule(config.rule, space)
        if not space:
            raise TuneError(f"rule {config.rule!r} has no built-in search space: give one with --space "
                            "name=low:high ...")
        label = config.rule
    try:
        check_cost_profiles(config.cost_profiles, config.traces, config.cost_model)
    except ValueError as error:
        raise TuneError(str(error)) from None
    configure_threads(config.threads)
    if config.traces:
        from ebsd_env.replay import TraceSet

        if config.clock != "model":
            raise TuneError("--traces replays recorded traces, which only the model clock can time: --clock model")
        traces = TraceSet.load(config.traces)
        prompts = traces.rows()
        evaluate = Evaluator(config, None, prompts, config.cost_model)
        evaluate.prompts_source = traces
        if config.cost_profiles:
            from ebsd_env.timing.cost_profiles import CostProfiles

            evaluate.cost_profiles = CostProfiles.load(config.cost_profiles)
    else:
        prompts = load_prompt_rows(config.prompt_source, config.categories, config.prompt_pool, config.prompt_seed)
        pair = load_pair_from_args(config)  # after the prompts: a bad prompt file is refused before the load
        keep = Path(config.storage).with_name(f"{Path(config.storage).stem}.{config.pair}.cost_model.json")
        evaluate = Evaluator(config, pair, prompts, resolve_cost_model(config.cost_model, pair, config.temperature,
                                                                       keep))
    Path(config.storage).parent.mkdir(parents=True, exist_ok=True)  # after the loads: a refused run writes nothing
    # One storage object: the interrupted-trial repair below writes through the same connection the studies use.
    storage = optuna.storages.RDBStorage(f"sqlite:///{Path(config.storage).resolve()}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    best = {}
    for category, indices in _studies(config, prompts).items():
        name = f"{config.study_name}/{config.method}/{label}/{category}"
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

        def objective(trial, indices=indices):
            if config.method == "grid":
                point = grid[trial.suggest_categorical("grid_point", list(range(len(grid))))]
                spec, entropy = point["spec"], point["entropy"]
            else:
                params = {}
                for pname, bounds in space.items():
                    if bounds[0] == "choice":
                        params[pname] = trial.suggest_categorical(pname, bounds[1])
                    elif isinstance(bounds[0], int) and isinstance(bounds[1], int):
                        params[pname] = trial.suggest_int(pname, bounds[0], bounds[1])
                    else:
                        params[pname] = trial.suggest_float(pname, float(bounds[0]), float(bounds[1]))
                if "min" in params and "max" in params and params["min"] > params["max"]:
                    params["min"] = params["max"]
                spec, entropy = spec_of(config.rule, params), config.entropy_type[0]
            result = evaluate(spec, entropy, indices)
            trial.set_user_attr("spec", spec)
            trial.set_user_attr("entropy", entropy)
            for key, value in result.items():
                trial.set_user_attr(key, value)
            return result[config.objective]

        if total > done:
            print(f"[ebsd] study {name}: {done} trials done, running {total - done} on {len(indices)} prompts",
                  flush=True)
            study.optimize(objective, n_trials=total - done, show_progress_bar=True)
        else:
            print(f"[ebsd] study {name}: complete ({done} trials)", flush=True)
        trial = study.best_trial
        best[category] = {"spec": trial.user_attrs["spec"], "entropy": trial.user_attrs["entropy"],
                          "value": trial.value, "trials": len(complete_trials(study)), "study": name,
                          **{k: trial.user_attrs[k] for k in ("tokens_per_s", "reward", "acceptance_rate",
                                                              "mean_accepted_tokens", "mean_draft_len",
                                                              "per_category", "oracle_dp_share")
                             if k in trial.user_attrs}}
    write_json_atomic(config.out, {"method": config.method, "rule": label, "objective": config.objective,
                                   "clock": config.clock, "pair": config.pair, "best": best,
                                   "fingerprint": tuned_fingerprint(evaluate, config, best)}, sort_keys=True)
    return best


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


def tuned_fingerprint(evaluator: Evaluator, config: TuneConfig, best: dict) -> dict:
    """The env the rules were tuned on (`ebsd_env.fingerprint`), in the stop mode they act in: `tuned:` refuses
    an env that differs."""
    from ebsd_env.fingerprint import env_fingerprint
    from policies import make_policy

    row = best.get("overall", next(iter(best.values())))
    fingerprint = env_fingerprint(evaluator.env(row["entropy"], make_policy(row["spec"]).requires_extra_signals))
    modes = {make_policy(row["spec"]).stop_mode for row in best.values()} - {None}
    if len(modes) == 1:
        fingerprint["action"]["stop_mode"] = modes.pop()
    return fingerprint


def print_best(best: dict, objective: str) -> None:
    width = max(map(len, best))
    share = any("oracle_dp_share" in row for row in best.values())  # tuned on replays
    print(f"\n{'category':<{width}}  {objective:>12}  {'entropy':>8}  " + ("of oracle-dp  " if share else "") + "spec")
    for category, row in best.items():
        value = row[objective]
        shown = f"{value:12.2f}" if math.isfinite(value) else f"{'nan':>12}"
        extra = f"{row.get('oracle_dp_share', float('nan')):>12.3f}  " if share else ""
        print(f"{category:<{width}}  {shown}  {row['entropy']:>8}  {extra}{row['spec']}")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("grid", "bayes"):
        argv = ["--method", argv[0], *argv[1:]]
    config = parse(TuneConfig, argv, "tune", description=__doc__, prog="ebsd tune")
    return run_and_report(config, tune)


def run_and_report(config: TuneConfig, run) -> int:
    """`run(config)` (a tuning backend), then the table of best configurations; a TuneError is one line."""
    try:
        best = run(config)
    except TuneError as error:
        print(f"ebsd tune: {error}", file=sys.stderr)
        return 2
    print_best(best, config.objective)
    print(f"\n[ebsd] best configurations written to {config.out}; studies in {config.storage}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
