"""The verdict's report step: the live test episodes judged against the choices made on validation, rliable's
aggregates, the replay's shares of oracle-dp and the goals, into ``verdict.json``, report.md and the profile plot."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ebsd_env.io import write_atomic, write_json_atomic

from .config import VerdictConfig
from .summaries import rate, selection_record, summarize_replay, training_summary
from .tables import GOAL_VS_STATIC, plot_profiles, render

# What the report reads, and the step that writes it.
EARLIER_STEPS = (("live_policies.json", "live"), ("selection.json", "live"), ("replay.json", "replay"),
                 ("replay-validation.json", "replay"))


def live_work(out: Path) -> tuple[dict[str, dict[str, tuple[float, float]]], dict[str, str]]:
    """spec -> {prompt id: (tokens, seconds)} of the live verdict, and prompt id -> category."""
    from eval.run import read_rows

    work: dict[str, dict] = {}
    categories = {}
    for row in read_rows(out / "eval-live" / "episodes.jsonl"):
        work.setdefault(row["policy"], {})[row["prompt_id"]] = (row["stats"]["new_tokens"], row["stats"]["decode_s"])
        categories[row["prompt_id"]] = row["category"]
    return work, categories


def report(config: VerdictConfig) -> dict:
    """verdict.json, report.md and profile.png under --results, from what the earlier steps left in OUT."""
    from policies.baselines import verifier_alone

    out = config.out
    for name, step in EARLIER_STEPS:
        if not (out / name).is_file():
            raise FileNotFoundError(f"{out / name} is missing: run `python -m eval.verdict {step} --out {out}` first")
    chosen = json.loads((out / "live_policies.json").read_text())
    selection = json.loads((out / "selection.json").read_text())
    if not selection["best_learned"] or not selection["best_tuned"]:
        raise ValueError(f"{out / 'selection.json'} chose no learned or no tuned policy: the experiment needs PPO "
                         "runs under OUT/ppo and tuned rules under OUT/tune")
    by_label, categories = live_units(out, chosen)
    cats = list(dict.fromkeys(categories.values()))
    ids = {c: [i for i, cat in categories.items() if cat == c] for c in cats}
    base = by_label[verifier_alone(by_label)]
    rows = live_rows(by_label, base, categories, ids)
    # Every "best" was chosen on the validation prompts (selection.json); the test rows only judge the choices.
    best_learned, best_tuned = selection["best_learned"], selection["best_tuned"]
    per_category = judged_per_category(out, selection, rows, ids)
    replay_summary = summarize_replay(out)
    verdict = {
        "machine": _machine(out), "threads": config.threads, "max_new_tokens": config.max_new_tokens,
        "prompts": len(categories), "prompts_per_category": {c: len(ids[c]) for c in cats},
        "policies": chosen, "rows": rows, "best_learned": best_learned, "best_tuned": best_tuned,
        "per_category": per_category, **aggregates(per_prompt_speedups(by_label, base, categories), best_learned),
        "replay": replay_summary, "training": training_summary(out),
        "selection": selection_record(out, selection, len(categories)),
        "goals": goals(per_category, rows, replay_summary, best_learned, best_tuned),
    }
    config.results.mkdir(parents=True, exist_ok=True)
    write_json_atomic(config.results / "verdict.json", verdict, sort_keys=True)
    plot_profiles(verdict, config.results / "profile.png")
    write_atomic(config.results / "report.md", render(verdict))
    print(render(verdict))
    return verdict


def live_units(out: Path, chosen: dict[str, str]) -> tuple[dict[str, dict], dict[str, str]]:
    """label -> {prompt id: (tokens, seconds)} of every chosen policy's live episodes, and prompt id -> category;
    a chosen policy without episodes is refused."""
    from policies.registry import make_policy

    work, categories = live_work(out)
    # The eval canonicalises specs: map each chosen label to the spec the episodes carry.
    label_of = {make_policy(spec).spec: label for label, spec in chosen.items()}
    by_label = {label_of.get(spec, spec): units for spec, units in work.items()}
    missing = [label for label in chosen if label not in by_label]
    if missing:
        raise ValueError(f"the live verdict has no episodes of {missing}: run `python -m eval.verdict live` first")
    return by_label, categories


def live_rows(by_label: dict[str, dict], base: dict, categories: dict[str, str], ids: dict[str, list[str]]) -> dict:
    """Per policy: its objective, its paired ratio to the verifier alone (`base`), and both per category."""
    from ebsd_env.envs.objective import paired_ratio

    rows = {}
    for label, units in by_label.items():
        rows[label] = {"tokens_per_s": rate(units, categories), "vs_verifier": paired_ratio(units, base),
                       "per_category": {c: {"tokens_per_s": rate(units, ids[c]),
                                            "vs_verifier": rate(units, ids[c]) / rate(base, ids[c])} for c in ids}}
    return rows


def judged_per_category(out: Path, selection: dict, rows: dict, ids: dict[str, list[str]]) -> dict:
    """Per category: the best learned policy against the best static and the best tuned policy chosen on
    validation, and against the best static in hindsight (chosen on these test prompts, labelled so)."""
    from eval.selection import rates_by_category
    from policies.baselines import is_static, static_baseline

    validation = rates_by_category(json.loads((out / "replay-validation.json").read_text()))
    test_static = {label: {c: rows[label]["per_category"][c]["tokens_per_s"] for c in ids}
                   for label in rows if is_static(label)}
    statics = static_baseline({label: r for label, r in validation.items() if label in test_static}, test_static)
    per_category = {}
    for c in ids:
        static, top_tuned = statics[c], selection["best_tuned_per_category"][c]
        mine = rows[selection["best_learned"]]["per_category"][c]["tokens_per_s"]
        per_category[c] = {"prompts": len(ids[c]), "best_static": static["chosen"], "best_tuned": top_tuned,
                           "best_static_hindsight": static["hindsight"],
                           "learned_vs_best_static": mine / static["chosen_rate"],
                           "learned_vs_best_static_hindsight": mine / static["hindsight_rate"],
                           "learned_vs_best_tuned": mine / rows[top_tuned]["per_category"][c]["tokens_per_s"]}
    return per_category


def per_prompt_speedups(by_label: dict[str, dict], base: dict, categories: dict[str, str]) -> dict[str, np.ndarray]:
    """label -> per-prompt speedups over the verifier alone, as rliable's ``[runs, tasks]`` (runs = prompts, one
    task: greedy decoding has one seed)."""
    return {label: np.asarray([[(units[i][0] / units[i][1]) / (base[i][0] / base[i][1])] for i in categories
                               if i in units and i in base]) for label, units in by_label.items()}


def aggregates(speedups: dict[str, np.ndarray], best_learned: str) -> dict:
    """rliable's aggregates of the per-prompt speedups: IQM per policy, the best learned policy's probability of
    improvement over each other one, and the performance profiles."""
    from eval import aggregate

    improvement = {label: {"p": aggregate.probability_of_improvement(speedups[best_learned], s),
                           "ci": aggregate.stratified_bootstrap(aggregate.probability_of_improvement,
                                                                speedups[best_learned], s)}
                   for label, s in speedups.items() if label != best_learned}
    taus = np.round(np.linspace(0.6, 2.0, 29), 3)
    return {"aggregates": {label: {"iqm": aggregate.iqm(s), "iqm_ci": aggregate.stratified_bootstrap(aggregate.iqm, s)}
                           for label, s in speedups.items()},
            "probability_of_improvement": improvement,
            "performance_profile": {"taus": taus.tolist(),
                                    "fractions": {label: aggregate.performance_profile(s, taus).tolist()
                                                  for label, s in speedups.items()}}}


def goals(per_category: dict, rows: dict, replay_summary: dict, best_learned: str, best_tuned: str) -> dict:
    """The verdict's goals, measured (`eval.verdict.tables.goals_list` states each)."""
    share_key = f"ppo {best_learned.removeprefix('ppo ')}"
    return {
        "learned_vs_best_static_min": min(v["learned_vs_best_static"] for v in per_category.values()),
        "categories_at_goal": sum(v["learned_vs_best_static"] >= GOAL_VS_STATIC for v in per_category.values()),
        "learned_share_of_oracle_dp": replay_summary["variants"].get(share_key.removeprefix("ppo "), {}).get(
            "best_seed_share"),
        "learned_vs_best_tuned_overall": rows[best_learned]["tokens_per_s"] / rows[best_tuned]["tokens_per_s"],
        "categories_learned_beats_tuned": sum(v["learned_vs_best_tuned"] >= 1.0 for v in per_category.values()),
        "categories": len(per_category)}


def _machine(out: Path) -> dict:
    """The machine as the live run ended (OUT/live_machine.json), or as it is now for an older experiment."""
    from ebsd_env.decoding.kernels import machine_state

    machine_path = out / "live_machine.json"
    return json.loads(machine_path.read_text()) if machine_path.is_file() else machine_state()
