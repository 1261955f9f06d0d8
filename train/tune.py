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

# The search spaces and the grid, and names that lived here before the split (ray_tune imports some of them).
from .tune_space import (  # noqa: F401
    DEFAULT_SPACES,
    GRID_STRATEGIES,
    STRATEGY_AXES,
    TuneError,
    check_rule,
    check_spec,
    grid_points,
    grid_spec,
    parse_space,
    spec_of,
    suggest_params,
)

# Inside one study (its objective, its run, the repair of killed trials); the last two names lived here before.
from .tune_study import complete_trials, retry_interrupted_trials, run_study, study_objective  # noqa: F401


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


class Evaluator:
    """Runs policy specs on prompt subsets, one environment per entropy measure (the pair is loaded once)."""

    def __init__(self, config: TuneConfig, pair, prompts: list[dict], cost_model):
        self.config, self.pair, self.prompts, self.cost_model = config, pair, prompts, cost_model
        self.prompts_source = None  # a TraceSet when tuning on replays (--traces)
        self.cost_profiles = None  # a CostProfiles to draw one of per episode (--cost-profiles)
        self._oracle: dict[tuple, float] = {}
        self.envs: dict[str, object] = {}

    def env(self, entropy: str, signals: dict | None = None):
        """The env of `entropy` with the signal settings `signals` of the policies it runs (`Policy.signal_settings`:
        extra signals, or observation="position" for a policy that reads none, which then pays for none, as in
        `ebsd eval`); None: the entropy observation alone."""
        signals = signals or {}
        key = (entropy, tuple(sorted(signals.items())))
        if key not in self.envs:
            import gymnasium as gym

            import ebsd_env  # noqa: F401  (registers the environments)

            c = self.config
            if c.traces:  # replays: the same env code over recorded traces
                self.envs[key] = gym.make("EBSD-Replay-v1", traces=self.prompts_source, history=c.history,
                                          entropy=entropy, max_draft_len=c.env_max_draft_len,
                                          max_new_tokens=c.max_new_tokens, temperature=c.temperature,
                                          clock=c.clock, cost_model=self.cost_model, cost_profiles=self.cost_profiles,
                                          **signals)
                return self.envs[key]
            self.envs[key] = gym.make("EBSD-v1", pair=self.pair, prompts=self.prompts, history=c.history,
                                      entropy=entropy, max_draft_len=c.env_max_draft_len,
                                      max_new_tokens=c.max_new_tokens, temperature=c.temperature,
                                      clock=c.clock, cost_model=self.cost_model, **signals)
        return self.envs[key]

    def __call__(self, spec: str, entropy: str, indices: list[int]) -> dict:
        from policies import make_policy

        policy = make_policy(spec)
        env = self.env(entropy, policy.signal_settings())
        stats = run_policy(env, policy, indices, self.config.seed)
        result = summarize(stats)
        # The env's undiscounted return, (N - rho * T) / reward_scale, summed over the episodes.
        base = env.unwrapped
        rho = base.decode_clock.baseline_rate
        result["reward"] = float(np.sum([(s["new_tokens"] - rho * s["decode_s"]) / base.reward_scale for s in stats]))
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
            costs = env.decode_clock.costs
            self._oracle[key] = max(optimal_rate(traces, costs, env.max_draft_len, mode, env.max_new_tokens)
                                    for mode in ("include", "exclude"))
        return self._oracle[key]


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
    label, grid, space = _search_plan(config)
    try:
        check_cost_profiles(config.cost_profiles, config.traces, config.cost_model)
    except ValueError as error:
        raise TuneError(str(error)) from None
    configure_threads(config.threads)
    evaluate, prompts = _make_evaluator(config)
    Path(config.storage).parent.mkdir(parents=True, exist_ok=True)  # after the loads: a refused run writes nothing
    # One storage object: the interrupted-trial repair below writes through the same connection the studies use.
    storage = optuna.storages.RDBStorage(f"sqlite:///{Path(config.storage).resolve()}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    best = {}
    for category, indices in _studies(config, prompts).items():
        name = f"{config.study_name}/{config.method}/{label}/{category}"
        best[category] = run_study(config, storage, name, study_objective(config, grid, space, evaluate, indices),
                                   grid, len(indices))
    write_json_atomic(config.out, {"method": config.method, "rule": label, "objective": config.objective,
                                   "clock": config.clock, "pair": config.pair, "best": best,
                                   "fingerprint": tuned_fingerprint(evaluate, config, best)}, sort_keys=True)
    return best


def _search_plan(config: TuneConfig) -> tuple[str, list[dict] | None, dict | None]:
    """(the studies' label, the grid's points or None, the Bayesian space or None), each spec checked."""
    if config.method == "grid":
        grid = grid_points(config)
        for point in grid:
            check_spec(point["spec"])
        return "grid", grid, None
    if config.budget == 0:
        raise TuneError("--budget 0 means 'the whole grid', which only `grid` has: give bayes a trial count")
    space = parse_space(config.space) if config.space else DEFAULT_SPACES.get(config.rule, {})
    check_rule(config.rule, space)
    if not space:
        raise TuneError(f"rule {config.rule!r} has no built-in search space: give one with --space "
                        "name=low:high ...")
    return config.rule, None, space


def _make_evaluator(config: TuneConfig) -> tuple[Evaluator, list[dict]]:
    """(the evaluator of the trials, the prompts the studies split): over --traces, else over the loaded pair."""
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
        return evaluate, prompts
    prompts = load_prompt_rows(config.prompt_source, config.categories, config.prompt_pool, config.prompt_seed)
    pair = load_pair_from_args(config)  # after the prompts: a bad prompt file is refused before the load
    keep = Path(config.storage).with_name(f"{Path(config.storage).stem}.{config.pair}.cost_model.json")
    return Evaluator(config, pair, prompts, resolve_cost_model(config.cost_model, pair, config.temperature, keep)), \
        prompts


def tuned_fingerprint(evaluator: Evaluator, config: TuneConfig, best: dict) -> dict:
    """The env the rules were tuned on (`ebsd_env.fingerprint`), in the stop mode they act in: `tuned:` refuses
    an env that differs."""
    from ebsd_env.fingerprint import env_fingerprint
    from policies import make_policy
    from policies.base import signal_settings

    row = best.get("overall", next(iter(best.values())))
    rules = [make_policy(row["spec"]) for row in best.values()]
    # `tuned:` reads the signals of any of its rules, and runs where they are computed (or none, if none reads any).
    fingerprint = env_fingerprint(evaluator.env(row["entropy"], signal_settings(rules)))
    modes = {rule.stop_mode for rule in rules} - {None}
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
