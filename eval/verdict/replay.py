"""The verdict's first steps: `calibrate` (the model clock at the live verdict's threads) and `replay` (every
candidate policy, and oracle-dp, on the validation and the test traces under that clock)."""

from __future__ import annotations

import math
from pathlib import Path

from ebsd_env.io import write_json_atomic

from .config import MAX_DRAFT_LEN, STATIC, VerdictConfig, static_specs
from .experiment import cost_model_path, ppo_runs, split_path, traces_path, tuned_files


def calibrate(config: VerdictConfig) -> None:
    """OUT/cost_model.json: the model clock of the drafter's pair at the live verdict's threads (kept once made),
    calibrated over the context lengths of the split's validation prompts and checked against the wall clock on
    one of them per category at every k (`calibrate_for`: the table is printed, and a point off by more than
    --clock-tolerance is refused in one line, nothing saved)."""
    import json

    from ebsd_env.decoding.kernels import configure_threads, warn_if_busy
    from ebsd_env.decoding.models import cached_pair
    from ebsd_env.decoding.tiny import tiny_pair
    from ebsd_env.replay.record import decoder_prompt
    from ebsd_env.timing.prompt_clock import calibrate_for

    path = config.out / "cost_model.json"
    if path.is_file():
        print(f"[verdict] {path} exists; delete it to calibrate again")
        return
    rows = [json.loads(line) for line in split_path(config.out, "validation").read_text().splitlines() if line]
    if not rows:
        raise ValueError(f"{split_path(config.out, 'validation')} holds no prompts to calibrate the clock over")
    configure_threads(config.threads)
    warn_if_busy()
    pair = tiny_pair(config.tiny) if config.tiny else cached_pair(config.drafter)
    costs = calibrate_for(pair, [decoder_prompt(pair, row) for row in rows], [row["category"] for row in rows],
                          config.max_new_tokens, tolerance=config.clock_tolerance, rounds=config.validation_rounds)
    costs.save(path)
    print(f"[verdict] model clock at {config.threads} threads: verify(1) {costs.verify_cost(1) * 1e3:.1f} ms, draft "
          f"{costs.draft_s * 1e3:.2f} ms -> {path}")


def replay_policies(out: Path, static: tuple[str, ...] = STATIC) -> dict[str, dict]:
    """label -> {spec, kind, ...} of everything the replay step runs."""
    policies = {spec: {"spec": spec, "kind": "static"} for spec in dict.fromkeys((*static, "fixed-k:k=8"))}
    for rule, data in tuned_files(out).items():
        for scope in ("category", "overall"):
            policies[f"tuned {rule} ({scope})"] = {"spec": f"tuned:path={data['path']},scope={scope}",
                                                    "kind": "tuned", "rule": rule, "scope": scope}
    for run in ppo_runs(out):
        policies[f"ppo {run['variant']} seed {run['seed']}"] = {"spec": f"ppo:{run['model']}", "kind": "ppo",
                                                                "variant": run["variant"], "seed": run["seed"]}
    policies["oracle-first-reject"] = {"spec": "oracle-first-reject", "kind": "oracle"}
    return policies


def replay(config: VerdictConfig) -> None:
    from ebsd_env.replay import TraceSet
    from ebsd_env.timing.cost_model import CostModel

    folders = {name: traces_path(config.out, name) for name in ("validation", "test")}  # both, before any work
    costs = CostModel.load(cost_model_path(config.out))
    policies = replay_policies(config.out, static_specs(config.static_ks))
    decisions: dict[str, float] = {}  # each policy's cost per decision, measured once for both splits
    for name, path in (("validation", "replay-validation.json"), ("test", "replay.json")):
        results = replay_traces(config, TraceSet.load(folders[name]), costs, policies, name, decisions)
        write_json_atomic(config.out / path, results, sort_keys=True)
        print(f"[verdict] replay of {len(results['policies'])} policies on {len(results['categories'])} {name} "
              f"traces: {config.out / path}")


def replay_traces(config: VerdictConfig, traces, costs, policies: dict[str, dict], name: str,
                  decisions: dict[str, float] | None = None) -> dict:
    """Every policy of `policies` and oracle-dp on `traces` (model clock): per prompt (tokens, seconds), each
    policy's decisions charged at the seconds one of them takes here (``decide_s``). `decisions` (spec -> seconds)
    holds costs measured before, and gains those measured here: one cost per policy across splits and profiles
    (its compute does not depend on the pair's prices)."""
    from tqdm import tqdm

    from ebsd_env.replay import ReplayEnv
    from policies.registry import make_policy
    from policies.rollout import decision_cost, run_episode

    envs: dict[tuple, ReplayEnv] = {}
    results = {}
    bound = {}  # every policy bound to its env first: a trained artifact for another env is refused before any episode
    for label, entry in policies.items():
        probe = make_policy(entry["spec"])
        settings = {"max_draft_len": MAX_DRAFT_LEN, "stop_mode": probe.stop_mode or "include",
                    "extra_signals": bool(probe.requires_extra_signals), **probe.env_requirements()}
        key = tuple(sorted(settings.items()))
        if key not in envs:
            envs[key] = ReplayEnv(traces, max_new_tokens=config.max_new_tokens, cost_model=costs, **settings)
        bound[label] = envs[key], make_policy(entry["spec"], env=envs[key])
    decisions = {} if decisions is None else decisions
    for label, entry in tqdm(policies.items(), desc=f"replay ({name})", unit="policy"):
        env, policy = bound[label]
        # Every second counts: the policy's own decisions are charged at their cost measured here, on one episode's
        # observations (`decision_cost`, a fresh instance, cold caches); a privileged oracle's peek is outside
        # every timer.
        if entry["spec"] not in decisions:
            decisions[entry["spec"]] = 0.0 if policy.privileged else decision_cost(
                env, make_policy(entry["spec"], env=env), seed=0, options={"prompt_index": 0})
        decide_s = decisions[entry["spec"]]
        env.decode_clock = env.decode_clock.with_decisions(decide_s)
        per_prompt = {}
        for index, trace in enumerate(traces.traces):
            stats = run_episode(env, policy, seed=0, options={"prompt_index": index})
            per_prompt[trace.id] = [stats["new_tokens"], stats["decode_s"]]
        results[label] = {**entry, "decide_s": decide_s, "per_prompt": per_prompt}
    results["oracle-dp"] = oracle_dp(traces, costs, config.max_new_tokens)
    categories = {t.id: t.category for t in traces.traces}
    return {"split": name, "categories": categories, "cost_model": costs.to_dict(), "policies": results}


def oracle_dp(traces, costs, max_new_tokens: int) -> dict:
    """oracle-dp's optimal plans on `traces`, in the stop mode where they are fastest: per prompt (tokens, seconds)."""
    from ebsd_env.replay.oracle import optimal_plan

    best_mode, best_rate = None, -math.inf
    for mode in ("include", "exclude"):
        plans = {t.id: optimal_plan(t, costs, MAX_DRAFT_LEN, mode, max_new_tokens) for t in traces.traces}
        rate = sum(p.tokens for p in plans.values()) / sum(p.time_s for p in plans.values())
        if rate > best_rate:
            best_mode, best_rate = mode, rate
            oracle = {tid: [p.tokens, p.time_s] for tid, p in plans.items()}
    return {"spec": "oracle-dp", "kind": "oracle", "stop_mode": best_mode, "per_prompt": oracle}

