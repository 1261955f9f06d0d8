"""The verdict: do learned stopping policies beat the best hand-made rules on prompts nothing learned from?

Steps of `scripts/ppo_verdict.sh`, each resumable, over one experiment folder OUT (``runs/verdict``):

    python -m eval.verdict calibrate --out OUT --threads 2   # the model clock of the live verdict's threads
    python -m eval.verdict replay --out OUT                  # every policy and seed on the validation and test traces
    python -m eval.verdict live --out OUT --threads 2        # the policies chosen on validation, live on test
    python -m eval.verdict report --out OUT --results docs/results/verdict
    python -m eval.verdict release --out OUT                 # the best learned policy -> policies/trained/

OUT holds ``split/`` (`ebsd split`: train.jsonl, validation.jsonl, test.jsonl), ``traces-train/``,
``traces-validation/`` and ``traces-test/`` (`ebsd record`), ``tune/*.json`` (`ebsd tune`), ``ppo/*/`` (`ebsd
train ppo` runs named ``{env}__{variant}__{seed}__{time}``) and what these steps write: ``cost_model.json``,
``replay-validation.json``, ``replay.json`` (test), ``selection.json``, ``live_policies.json``, ``eval-live/``.

Which prompts are used for what (`eval.selection`; the report's "Selection" section says it again):

- **train** prompts: tuning (`ebsd tune`) and PPO training, including each run's best-model choice.
- **validation** prompts: every choice. The replay step runs every static policy, every tuned rule (per
  category and overall), every PPO run's best model (all seeds) and `oracle-first-reject` on their traces (model
  clock); from that replay alone come the best static policy per category (fixed-k ∪ k = 0), the tuned rule of
  each family run live, the seed of each PPO variant, the best learned and the best tuned policy.
- **test** prompts: used once, for the final numbers. Live (wall clock): the verifier alone, fixed k = 1, 2, 3,
  4, 6 (and the chosen static policies), the chosen tuned rules and the chosen seed of each PPO variant; replay
  of the test traces gives each policy's share of oracle-dp. The best static in hindsight (chosen on the test
  prompts) is reported beside the chosen one, labelled, as the strongest possible static baseline.
- **report**: speedups with paired bootstrap CIs, per category; rliable's IQM, performance profile and
  probability of improvement over per-prompt speedups (`eval.aggregate`); shares of oracle-dp; the goals.
"""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import tyro

from ebsd_env.io import write_atomic, write_json_atomic

from .verdict_tables import (  # noqa: F401  (the tables, re-exported: eval.docs renders them from verdict.json)
    GOAL_VS_ORACLE,
    GOAL_VS_STATIC,
    category_table,
    goals_list,
    headroom_table,
    improvement_list,
    live_curve_table,
    main_table,
    plot_profiles,
    render,
    selection_list,
    shares_table,
    training_table,
    variants_table,
)

STATIC = ("no-spec", "fixed-k:k=1", "fixed-k:k=2", "fixed-k:k=3", "fixed-k:k=4", "fixed-k:k=6")
RUN_NAME = re.compile(r"^(?P<env>[^_]+(?:_[^_]+)*)__(?P<variant>.+)__(?P<seed>\d+)__(?P<time>\d+)$")
MAX_DRAFT_LEN = 16


VERDICT_DRAFTER = "distilled"  # v1 of the shipped feature drafter: what the traces, tuning and PPO were made for


@dataclass
class VerdictConfig:
    step: tyro.conf.Positional[Literal["calibrate", "replay", "live", "report", "release"]]
    """calibrate, replay, live, report or release (see the module docstring)."""
    out: Path = Path("runs/verdict")
    """The experiment folder."""
    threads: int = 2
    """torch threads of the live verdict and of its clock's calibration (the verifier alone is fastest at 2 on a
    2-core machine; `ebsd bench decoder` measures it)."""
    max_new_tokens: int = 64
    """Tokens per prompt (as recorded)."""
    drafter: str = VERDICT_DRAFTER
    """The pair's drafter (calibrate, live): the verdict was run, and its policy trained, for the feature
    drafter, whatever the project's default drafter is."""
    results: Path = Path("docs/results/verdict")
    """report: where verdict.json, report.md and the performance-profile plot go."""
    tiny: Literal["copy", "random", "noisy"] | None = None
    """live: a config-built tiny pair instead of the embedded one (tests and smoke runs)."""


# ------------------------------------------------------------------------------------------------- discovery
def ppo_runs(out: Path) -> list[dict]:
    """Finished PPO runs under OUT/ppo: variant, seed, folder, held-in replay evaluation of the best model."""
    runs = []
    for record_path in sorted((out / "ppo").glob("*/record.json")):
        match = RUN_NAME.match(record_path.parent.name)
        record = json.loads(record_path.read_text())
        if not match or "best_eval" not in record or not (record_path.parent / "best_model.zip").is_file():
            continue
        runs.append({"variant": match["variant"], "seed": int(match["seed"]), "folder": str(record_path.parent),
                     "model": str(record_path.parent / "best_model.zip"), "steps": record["steps"],
                     "held_in_tokens_per_s": record["best_eval"]["tokens_per_s"]})
    return runs


def tuned_files(out: Path) -> dict[str, dict]:
    """rule -> the `ebsd tune` result, with its file path."""
    files = {}
    for path in sorted((out / "tune").glob("*.json")):
        data = json.loads(path.read_text())
        if "best" in data:
            files[path.stem] = {**data, "path": str(path)}
    return files


def split_path(out: Path, name: str) -> Path:
    """OUT/split/NAME.jsonl (train, validation or test), or a one-line error naming the fix; an experiment split
    before validation prompts existed (verdict.jsonl) is refused rather than judged on what it chose from."""
    path = out / "split" / f"{name}.jsonl"
    if not path.is_file():
        old = " (this experiment was split before validation prompts existed: it has verdict.jsonl)" if (
            out / "split" / "verdict.jsonl").is_file() else ""
        raise FileNotFoundError(f"{path} is missing{old}: run `ebsd split --out {out / 'split'}` in a new experiment "
                                "folder and record its validation and test traces (scripts/ppo_verdict.sh does)")
    return path


def traces_path(out: Path, name: str) -> Path:
    """OUT/traces-NAME (validation or test), or a one-line error naming the fix."""
    path = out / f"traces-{name}"
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is missing: `ebsd record --out {path} --prompt-source "
                                f"{out / 'split' / (name + '.jsonl')}` (scripts/ppo_verdict.sh records it)")
    return path


def cost_model_path(out: Path) -> Path:
    path = out / "cost_model.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: run `python -m eval.verdict calibrate --out {out}` first")
    return path


# ------------------------------------------------------------------------------------------------- calibrate
def calibrate(config: VerdictConfig) -> None:
    from ebsd_env.decoding.kernels import configure_threads, warn_if_busy
    from ebsd_env.decoding.models import cached_pair
    from ebsd_env.timing.calibration import calibrate as fit_costs

    path = config.out / "cost_model.json"
    if path.is_file():
        print(f"[verdict] {path} exists; delete it to calibrate again")
        return
    configure_threads(config.threads)
    warn_if_busy()
    costs = fit_costs(cached_pair(config.drafter))
    costs.save(path)
    runs = ", ".join(f"k={r['k']} {r['error']:+.1%}" for r in costs.validation.get("runs", []))
    print(f"[verdict] model clock at {config.threads} threads: verify(1) {costs.verify_cost(1) * 1e3:.1f} ms, draft "
          f"{costs.draft_s * 1e3:.2f} ms; predicted vs wall time of fixed-k generations: {runs}")


# ------------------------------------------------------------------------------------------------- replay
def replay_policies(out: Path) -> dict[str, dict]:
    """label -> {spec, kind, ...} of everything the replay step runs."""
    policies = {spec: {"spec": spec, "kind": "static"} for spec in (*STATIC, "fixed-k:k=8")}
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
    policies = replay_policies(config.out)
    for name, path in (("validation", "replay-validation.json"), ("test", "replay.json")):
        results = replay_traces(config, TraceSet.load(folders[name]), costs, policies, name)
        write_json_atomic(config.out / path, results, sort_keys=True)
        print(f"[verdict] replay of {len(results['policies'])} policies on {len(results['categories'])} {name} "
              f"traces: {config.out / path}")


def replay_traces(config: VerdictConfig, traces, costs, policies: dict[str, dict], name: str) -> dict:
    """Every policy of `policies` and oracle-dp on `traces` (model clock): per prompt (tokens, seconds)."""
    from tqdm import tqdm

    from ebsd_env.replay import ReplayEnv
    from ebsd_env.replay.oracle import optimal_plan
    from policies.registry import make_policy
    from policies.rollout import run_episode

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
    for label, entry in tqdm(policies.items(), desc=f"replay ({name})", unit="policy"):
        env, policy = bound[label]
        per_prompt = {}
        for index, trace in enumerate(traces.traces):
            stats = run_episode(env, policy, seed=0, options={"prompt_index": index})
            per_prompt[trace.id] = [stats["new_tokens"], stats["decode_s"]]
        results[label] = {**entry, "per_prompt": per_prompt}
    best_mode, best_rate = None, -math.inf
    for mode in ("include", "exclude"):
        plans = {t.id: optimal_plan(t, costs, MAX_DRAFT_LEN, mode, config.max_new_tokens) for t in traces.traces}
        rate = sum(p.tokens for p in plans.values()) / sum(p.time_s for p in plans.values())
        if rate > best_rate:
            best_mode, best_rate = mode, rate
            oracle = {tid: [p.tokens, p.time_s] for tid, p in plans.items()}
    results["oracle-dp"] = {"spec": "oracle-dp", "kind": "oracle", "stop_mode": best_mode, "per_prompt": oracle}
    categories = {t.id: t.category for t in traces.traces}
    return {"split": name, "categories": categories, "cost_model": costs.to_dict(), "policies": results}


# ------------------------------------------------------------------------------------------------- live
def select(out: Path) -> dict:
    """Every choice of the verdict, made on the validation replay (`eval.selection.choose`)."""
    from eval.selection import choose

    path = out / "replay-validation.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run `python -m eval.verdict replay --out {out}` first")
    test_categories = list(dict.fromkeys(json.loads(line)["category"]
                                         for line in split_path(out, "test").read_text().splitlines() if line))
    return choose(json.loads(path.read_text()), list(tuned_files(out)), ppo_runs(out), test_categories)


def choose_live(out: Path, selection: dict | None = None) -> dict[str, str]:
    """label -> spec of the live verdict: the static policies (those chosen on validation among them), the tuned
    rule of each family and the seed of each PPO variant chosen on validation (see the module docstring)."""
    selection = selection if selection is not None else select(out)
    statics = [spec for spec in selection["best_static"].values() if spec]
    live = {spec: spec for spec in dict.fromkeys([*STATIC, *statics])}
    tuned = tuned_files(out)
    for rule in selection["tuned_rules"].values():
        live[f"tuned {rule}"] = f"tuned:path={tuned[rule]['path']},scope=category"
    runs = {(run["variant"], run["seed"]): run for run in ppo_runs(out)}
    for variant, seed in selection["ppo_seeds"].items():
        live[f"ppo {variant}"] = f"ppo:{runs[(variant, seed)]['model']}"
    return live


def live(config: VerdictConfig) -> None:
    from eval.run import EvalConfig, evaluate

    selection = select(config.out)
    chosen = choose_live(config.out, selection)
    write_json_atomic(config.out / "selection.json", selection, sort_keys=True)
    write_json_atomic(config.out / "live_policies.json", chosen, sort_keys=True)
    from ebsd_env.decoding.kernels import machine_state

    evaluate(EvalConfig(prompts=str(split_path(config.out, "test")), policies=tuple(chosen.values()),
                        limit_per_category=0, max_new_tokens=config.max_new_tokens, clock="wall",
                        drafter=None if config.tiny else config.drafter,
                        out=str(config.out / "eval-live"), threads=config.threads, max_draft_len=MAX_DRAFT_LEN,
                        tensorboard=False, tiny=config.tiny))
    # The machine as the live run ended (its load average covers the run's last minutes).
    write_json_atomic(config.out / "live_machine.json", machine_state(), sort_keys=True)


# ------------------------------------------------------------------------------------------------- report
def live_work(out: Path) -> tuple[dict[str, dict[str, tuple[float, float]]], dict[str, str]]:
    """spec -> {prompt id: (tokens, seconds)} of the live verdict, and prompt id -> category."""
    from eval.run import read_rows

    work: dict[str, dict] = {}
    categories = {}
    for row in read_rows(out / "eval-live" / "episodes.jsonl"):
        work.setdefault(row["policy"], {})[row["prompt_id"]] = (row["stats"]["new_tokens"], row["stats"]["decode_s"])
        categories[row["prompt_id"]] = row["category"]
    return work, categories


def rate(units: dict, ids) -> float:
    """The objective of ``{prompt id: (tokens, seconds)}`` over `ids` (`policies.baselines.units_rate`)."""
    from policies.baselines import units_rate

    return units_rate(units, ids)


def report(config: VerdictConfig) -> dict:
    from ebsd_env.decoding.kernels import machine_state
    from ebsd_env.envs.objective import paired_ratio
    from eval import aggregate
    from eval.selection import rates_by_category
    from policies.baselines import is_static, static_baseline, verifier_alone
    from policies.registry import make_policy

    out = config.out
    for name, step in (("live_policies.json", "live"), ("selection.json", "live"), ("replay.json", "replay"),
                       ("replay-validation.json", "replay")):
        if not (out / name).is_file():
            raise FileNotFoundError(f"{out / name} is missing: run `python -m eval.verdict {step} --out {out}` first")
    chosen = json.loads((out / "live_policies.json").read_text())
    selection = json.loads((out / "selection.json").read_text())
    if not selection["best_learned"] or not selection["best_tuned"]:
        raise ValueError(f"{out / 'selection.json'} chose no learned or no tuned policy: the experiment needs PPO "
                         "runs under OUT/ppo and tuned rules under OUT/tune")
    work, categories = live_work(out)
    # The eval canonicalises specs: map each chosen label to the spec the episodes carry.
    label_of = {make_policy(spec).spec: label for label, spec in chosen.items()}
    by_label = {label_of.get(spec, spec): units for spec, units in work.items()}
    missing = [label for label in chosen if label not in by_label]
    if missing:
        raise ValueError(f"the live verdict has no episodes of {missing}: run `python -m eval.verdict live` first")
    cats = list(dict.fromkeys(categories.values()))
    ids = {c: [i for i, cat in categories.items() if cat == c] for c in cats}
    base = by_label[verifier_alone(by_label)]
    rows = {}
    for label, units in by_label.items():
        rows[label] = {"tokens_per_s": rate(units, categories), "vs_verifier": paired_ratio(units, base),
                       "per_category": {c: {"tokens_per_s": rate(units, ids[c]),
                                            "vs_verifier": rate(units, ids[c]) / rate(base, ids[c])} for c in cats}}
    # Every "best" was chosen on the validation prompts (selection.json); the test rows only judge the choices.
    best_learned, best_tuned = selection["best_learned"], selection["best_tuned"]
    validation = rates_by_category(json.loads((out / "replay-validation.json").read_text()))
    test_static = {label: {c: rows[label]["per_category"][c]["tokens_per_s"] for c in cats}
                   for label in by_label if is_static(label)}
    statics = static_baseline({label: r for label, r in validation.items() if label in test_static}, test_static)
    per_category = {}
    for c in cats:
        static, top_tuned = statics[c], selection["best_tuned_per_category"][c]
        mine = rows[best_learned]["per_category"][c]["tokens_per_s"]
        per_category[c] = {"prompts": len(ids[c]), "best_static": static["chosen"], "best_tuned": top_tuned,
                           "best_static_hindsight": static["hindsight"],
                           "learned_vs_best_static": mine / static["chosen_rate"],
                           "learned_vs_best_static_hindsight": mine / static["hindsight_rate"],
                           "learned_vs_best_tuned": mine / rows[top_tuned]["per_category"][c]["tokens_per_s"]}
    # rliable's aggregates over per-prompt speedups (runs = prompts, one task: greedy decoding has one seed).
    speedups = {label: np.asarray([[(units[i][0] / units[i][1]) / (base[i][0] / base[i][1])] for i in categories
                                   if i in units and i in base]) for label, units in by_label.items()}
    aggregates = {label: {"iqm": aggregate.iqm(s), "iqm_ci": aggregate.stratified_bootstrap(aggregate.iqm, s)}
                  for label, s in speedups.items()}
    improvement = {label: {"p": aggregate.probability_of_improvement(speedups[best_learned], s),
                           "ci": aggregate.stratified_bootstrap(aggregate.probability_of_improvement,
                                                                speedups[best_learned], s)}
                   for label, s in speedups.items() if label != best_learned}
    taus = np.round(np.linspace(0.6, 2.0, 29), 3)
    profiles = {label: aggregate.performance_profile(s, taus).tolist() for label, s in speedups.items()}
    replay_summary = summarize_replay(out)
    share_key = f"ppo {best_learned.removeprefix('ppo ')}"
    machine_path = out / "live_machine.json"
    machine = json.loads(machine_path.read_text()) if machine_path.is_file() else machine_state()
    verdict = {
        "machine": machine, "threads": config.threads, "max_new_tokens": config.max_new_tokens,
        "prompts": len(categories), "prompts_per_category": {c: len(ids[c]) for c in cats},
        "policies": chosen, "rows": rows, "best_learned": best_learned, "best_tuned": best_tuned,
        "per_category": per_category, "aggregates": aggregates, "probability_of_improvement": improvement,
        "performance_profile": {"taus": taus.tolist(), "fractions": profiles}, "replay": replay_summary,
        "training": training_summary(out), "selection": selection_record(out, selection, len(categories)),
        "goals": {
            "learned_vs_best_static_min": min(v["learned_vs_best_static"] for v in per_category.values()),
            "categories_at_goal": sum(v["learned_vs_best_static"] >= GOAL_VS_STATIC for v in per_category.values()),
            "learned_share_of_oracle_dp": replay_summary["variants"].get(share_key.removeprefix("ppo "), {}).get(
                "best_seed_share"),
            "learned_vs_best_tuned_overall": rows[best_learned]["tokens_per_s"] / rows[best_tuned]["tokens_per_s"],
            "categories_learned_beats_tuned": sum(v["learned_vs_best_tuned"] >= 1.0 for v in per_category.values()),
            "categories": len(cats)},
    }
    config.results.mkdir(parents=True, exist_ok=True)
    write_json_atomic(config.results / "verdict.json", verdict, sort_keys=True)
    plot_profiles(verdict, config.results / "profile.png")
    write_atomic(config.results / "report.md", render(verdict))
    print(render(verdict))
    return verdict


def selection_record(out: Path, selection: dict, test_prompts: int) -> dict:
    """Which prompts were used for what: the report's "Selection" section."""
    split = out / "split" / "split.json"
    counts = json.loads(split.read_text()).get("counts", {}) if split.is_file() else {}
    return {"train": {"prompts": sum(counts.get("train", {}).values()),
                      "used_for": "tuning (ebsd tune) and PPO training, including each run's best-model choice"},
            "validation": {"prompts": selection["prompts"], "per_category": selection["prompts_per_category"],
                           "used_for": "every choice: best static per category (fixed-k ∪ k = 0), the tuned rule of "
                                       "each family, the seed of each PPO variant, the best learned and best tuned "
                                       "policy (replay of the validation traces, model clock)"},
            "test": {"prompts": test_prompts,
                     "used_for": "once, for the final numbers (live, wall clock) and the shares of oracle-dp "
                                 "(replay); the best static in hindsight is chosen on it and labelled so"},
            "choices": {key: selection[key] for key in ("best_static", "tuned_rules", "ppo_seeds", "best_learned",
                                                         "best_tuned", "best_tuned_per_category")}}


def summarize_replay(out: Path) -> dict:
    """Shares of oracle-dp on the test traces (model clock): every policy, and per PPO variant the mean and the
    spread over seeds (a t interval over the seeds' shares) and the share of the seed chosen on validation."""
    from scipy import stats

    data = json.loads((out / "replay.json").read_text())
    policies = data["policies"]
    ids = list(data["categories"])
    oracle = rate(policies["oracle-dp"]["per_prompt"], ids)
    shares = {label: rate(entry["per_prompt"], ids) / oracle for label, entry in policies.items()}
    variants: dict[str, dict] = {}
    for label, entry in policies.items():
        if entry["kind"] == "ppo":
            variants.setdefault(entry["variant"], {})[entry["seed"]] = shares[label]
    summary = {}
    seeds = json.loads((out / "selection.json").read_text())["ppo_seeds"]  # chosen on validation
    for variant, by_seed in variants.items():
        values = np.asarray(list(by_seed.values()))
        half = (stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values))
                if len(values) > 1 else float("nan"))
        chosen_seed = seeds[variant]
        summary[variant] = {"seeds": {str(k): v for k, v in sorted(by_seed.items())}, "mean": float(values.mean()),
                            "ci": [float(values.mean() - half), float(values.mean() + half)],
                            "best_seed_share": by_seed[chosen_seed], "chosen_seed": chosen_seed}
    # Headroom per category: the most any stopping policy could gain over the best static one on this clock,
    # oracle-dp's objective over the best static policy's (the ceiling of the "learned / best static" goal). The
    # best static here is the one in hindsight (the fastest on these traces): the ceiling is not inflated.
    headroom = {}
    for category in dict.fromkeys(data["categories"].values()):
        cat_ids = [i for i in ids if data["categories"][i] == category]
        best_oracle = rate(policies["oracle-dp"]["per_prompt"], cat_ids)
        static = {label: rate(policies[label]["per_prompt"], cat_ids) for label in STATIC if label in policies}
        best_static = max(static, key=static.get)
        learned = {label: rate(entry["per_prompt"], cat_ids) for label, entry in policies.items()
                   if entry["kind"] == "ppo"}
        tuned = {label: rate(entry["per_prompt"], cat_ids) for label, entry in policies.items()
                 if entry["kind"] == "tuned"}
        headroom[category] = {"best_static": best_static, "oracle_vs_best_static": best_oracle / static[best_static],
                              "best_ppo_vs_best_static": max(learned.values()) / static[best_static]
                              if learned else None,
                              "best_tuned_vs_best_static": max(tuned.values()) / static[best_static]
                              if tuned else None}
    return {"oracle_dp_tokens_per_s": oracle, "oracle_dp_stop_mode": policies["oracle-dp"]["stop_mode"],
            "shares": dict(sorted(shares.items(), key=lambda kv: -kv[1])), "variants": summary,
            "headroom": headroom}


def training_summary(out: Path) -> list[dict]:
    """Every finished PPO run of the experiment (``ppo/`` and another drafter's ``ppo-<drafter>/``): its budget,
    its best held-in replay evaluation, the step its evaluations came within 0.5 % of that best (how soon it
    plateaued), and its periodic live evaluations where it ran them."""
    runs = []
    for record_path in sorted(out.glob("ppo*/*/record.json")):
        folder = record_path.parent
        match = RUN_NAME.match(folder.name)
        record = json.loads(record_path.read_text())
        if not match or "best_eval" not in record:
            continue
        history = json.loads((folder / "eval.json").read_text())["evaluations"]
        best = max(e["tokens_per_s"] for e in history)
        row = {"run": folder.name, "variant": match["variant"], "seed": int(match["seed"]),
               "drafter": (record.get("fingerprint") or {}).get("pair", {}).get("drafter"),
               "steps": record["steps"], "wall_s": record["wall_s"],
               "held_in_vs_verifier": record["best_eval"]["speedup_vs_verifier"],
               "held_in_vs_best_fixed_k": record["best_eval"]["speedup_vs_best_fixed_k"],
               "plateau_step": next(e["step"] for e in history if e["tokens_per_s"] >= 0.995 * best)}
        if (folder / "live_eval.json").is_file():
            live_log = json.loads((folder / "live_eval.json").read_text())
            row["live"] = [{k: e[k] for k in ("step", "speedup_vs_verifier", "speedup_vs_best_fixed_k")}
                           for e in live_log["evaluations"]]
        runs.append(row)
    return runs


def release(config: VerdictConfig, target: Path = Path("policies/trained/ppo_embedded")) -> Path:
    """Copy the verdict's best learned policy (the live winner among the PPO variants) to `target`.zip, with
    `target`.json saying where it came from, what it was made for (its fingerprint) and what the verdict
    measured."""
    import shutil

    from ebsd_env.fingerprint import read_zip

    verdict = json.loads((config.results / "verdict.json").read_text())
    label = verdict["best_learned"]
    model = Path(verdict["policies"][label].removeprefix("ppo:"))
    run = model.parent
    record = json.loads((run / "record.json").read_text())
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model, target.with_suffix(".zip"))
    row = verdict["rows"][label]
    write_json_atomic(target.with_suffix(".json"), {
        "policy": label, "run": run.name, "steps": record["steps"], "fingerprint": read_zip(model),
        "config": json.loads((run / "config.json").read_text()),
        "held_in_best_eval": record["best_eval"], "verdict": {
            "prompts": verdict["prompts"], "tokens_per_s": row["tokens_per_s"], "vs_verifier": row["vs_verifier"],
            "source": str(config.results / "verdict.json")}}, sort_keys=True)
    print(f"[verdict] {label} ({run.name}) -> {target.with_suffix('.zip')}")
    return target.with_suffix(".zip")


def main(argv: list[str] | None = None) -> int:
    config = tyro.cli(VerdictConfig, args=sys.argv[1:] if argv is None else argv, description=__doc__,
                      prog="python -m eval.verdict")
    from ebsd_env.cli import BAD_INPUT, one_line

    try:
        {"calibrate": calibrate, "replay": replay, "live": live, "report": report,
         "release": release}[config.step](config)
    except BAD_INPUT as error:  # a missing step's output, a bad folder: one line naming the fix
        print(f"eval.verdict {config.step}: error: {one_line(error)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
