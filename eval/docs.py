"""Figures in the README and docs, written from the committed result files: ``python -m eval.docs``.

A measured figure that is typed by hand into several documents drifts: one run updates one place and the
others keep the old number. Here every such figure has a name, one source file and one formatter, and the
documents only mark where it goes:

    the drafter agrees with the verifier on <!-- figure: drafter.agreement -->0.39<!-- /figure --> of positions

``python -m eval.docs`` rewrites every marked region from its source; ``python -m eval.docs --check`` (and
`tests/test_docs.py`) fails when a document's figure differs from what its source file says. To add a figure,
add an entry to `FIGURES`; to update the figures after a new run, commit the new result file and run the
module.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ebsd_env.io import write_atomic
from policies.baselines import cost_ratio_of, fastest

ROOT = Path(__file__).resolve().parents[1]
DRAFTER_CARD = "ebsd_env/decoding/drafters/smollm2-135m-feature/config.json"  # v1, `distilled`
FEATURE_CARD = "ebsd_env/decoding/drafters/smollm2-135m-feature-v2/config.json"  # v2, `feature`
EVAL_DEFAULT = "docs/results/eval-default/summary.json"
STOP_MODE = "docs/results/stop-mode/summary.json"
BENCH_DRAFTERS = "docs/results/bench-drafters/bench.json"
BENCH_ENV = "docs/results/bench-env/bench.json"
REPLAY_VALIDATION = "docs/results/replay/validate.json"
REPLAY_PPO = "docs/results/replay/ppo-1m-record.json"
EVAL_DRAFTERS = "docs/results/eval-drafters/drafters.json"
VERDICT = "docs/results/verdict/verdict.json"
BENCH_RAY_RECORD = "docs/results/bench-ray/record.json"
BENCH_RAY_TUNE = "docs/results/bench-ray/tune.json"
DISTILL_TTT = "docs/results/distill-ttt/history.json"
DISTILL_V2 = "docs/results/distill-v2/history.json"  # the run that made v2
BENCH_FEATURE = "docs/results/bench-feature/bench.json"  # v2 against v1, side by side
EVAL_FEATURE = "docs/results/eval-feature/drafters.json"  # the same, every policy through the env
BASELINES_FIXED_K = ("fixed-k:k=1", "fixed-k:k=2", "fixed-k:k=4", "fixed-k:k=8")  # the default run's fixed ks
SPEC_BENCH_PROMPTS = 480  # the Spec-Bench set docs/ray.md projects the recording of
# Documents that may hold figures: the README, the docs and the model cards.
DOCUMENTS = ("README.md", "docs/*.md", "ebsd_env/decoding/drafters/*/README.md")
MARKER = re.compile(r"<!-- figure: (?P<name>[\w.:=,-]+) -->(?P<body>.*?)<!-- /figure -->", re.DOTALL)


@cache
def load(source: str) -> dict:
    return json.loads((ROOT / source).read_text())


@dataclass(frozen=True)
class Figure:
    """One figure: the file it comes from and how it is written."""

    source: str
    render: Callable[[dict], str]


def _grouped(number: int) -> str:
    """An integer with its thousands separated by spaces (1 015 808)."""
    return f"{number:,}".replace(",", " ")


def _heldout(card: dict) -> dict:
    return card["metadata"]["heldout"]


def _ttt_table(run: dict, start: str = "shipped drafter") -> str:
    """`ebsd distill --draft-steps 3` warm-started from a drafter: held-out agreement of draft tokens 1..3 (each
    reading the drafter's own earlier predictions, attending as in decoding) before and after."""
    before, after = run["history"][0], run["history"][-1]
    steps = len(after["agreement_by_step"])
    lines = ["| held-out greedy agreement | " + " | ".join(f"draft token {i + 1}" for i in range(steps)) + " |",
             "|---|" + "---|" * steps]
    for label, entry in ((f"{start} (step {before['step']})", before),
                         (f"after {after['step']:,} steps with the training-time test", after)):
        lines.append(f"| {label} | " + " | ".join(f"{v:.3f}" for v in entry["agreement_by_step"]) + " |")
    return "\n" + "\n".join(lines) + "\n"


def _v1_v2_table(run: dict) -> str:
    """Per category, v1 (the run's warm start, step 0) against v2 (its last evaluation) on the same held-out
    positions, draft tokens 1 and 2, both measured as decoding computes them."""
    before, after = run["history"][0], run["history"][-1]
    rows = sorted(after["per_category"], key=lambda c: -after["per_category"][c])
    lines = ["| category | v1 token 1 | v2 token 1 | v1 token 2 | v2 token 2 |", "|---|---|---|---|---|"]
    for c in rows:
        lines.append(f"| {c} | {before['per_category'][c]:.3f} | {after['per_category'][c]:.3f} | "
                     f"{before['per_category_own'][c]:.3f} | {after['per_category_own'][c]:.3f} |")
    lines.append(f"| **all** | **{before['agreement']:.3f}** | **{after['agreement']:.3f}** | "
                 f"**{before['agreement_own']:.3f}** | **{after['agreement_own']:.3f}** |")
    return "\n" + "\n".join(lines) + "\n"


def _speedup_by_k(report: dict) -> str:
    """Each drafter's speed-up over the verifier alone at every fixed k of the bench, from its rows."""
    rows = {r["method"]: r for r in report["rows"]}
    ks = sorted({int(m.group(1)) for m in map(re.compile(r"speculative k=(\d+) \[").match, rows) if m})
    lines = ["| drafter | " + " | ".join(f"k = {k}" for k in ks) + " |", "|---|" + "---|" * len(ks)]
    for name in report["drafters"]:
        cells = [f"{rows[f'speculative k={k} [{name}] (ours)']['vs_verifier_alone']:.2f}×" for k in ks]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n" + "\n".join(lines) + "\n"


def _best_fixed_k(report: dict, drafter: str) -> str:
    """A drafter's best fixed k in an `ebsd bench decoder --drafters` report, as 'speedup (k = k)'."""
    found = report["drafters"][drafter]
    return f"{found['best_k_speedup']:.2f}× (k = {found['best_k']})"


def _best_policy(comparison: dict, drafter: str) -> str:
    """A drafter's best non-privileged policy in an `ebsd eval --drafters` comparison, as 'speedup (policy)'."""
    speedups = comparison["drafters"][drafter]["speedups"]
    best = fastest(speedups)
    return f"{speedups[best]:.2f}× ({best})"


def _card_figures(prefix: str, card: str, own: str = "α (own features)") -> dict[str, Figure]:
    """A shipped drafter's training run and held-out evaluation, from its config.json (`own`: what its second
    agreement column measured)."""
    return {
        f"{prefix}.agreement": Figure(card, lambda c: f"{_heldout(c)['agreement']:.2f}"),
        f"{prefix}.agreement_table": Figure(card, lambda c: _agreement_table(c, own)),
        f"{prefix}.steps": Figure(card, lambda c: _grouped(c['metadata']['step'])),
        f"{prefix}.train_seconds": Figure(card, lambda c: f"{c['metadata']['train_seconds']:.0f}"),
        f"{prefix}.train_records": Figure(card, lambda c: _grouped(c['metadata']['train_records'])),
        f"{prefix}.train_positions": Figure(card, lambda c: _grouped(c['metadata']['train_positions'])),
        f"{prefix}.head_coverage": Figure(card, lambda c: f"{_heldout(c)['head_coverage']:.3f}"),
        f"{prefix}.heldout_positions": Figure(card, lambda c: _grouped(_heldout(c)['positions'])),
    }


def _agreement_table(card: dict, own: str = "α (own features)") -> str:
    heldout = _heldout(card)
    rows = sorted(heldout["per_category"].items(), key=lambda item: -item[1])
    lines = [f"| category | α | {own} |", "|---|---|---|"]
    lines += [f"| {name} | {value:.3f} | ({heldout['per_category_own'][name]:.3f}) |" for name, value in rows]
    lines.append(f"| **all** | **{heldout['agreement']:.3f}** | **({heldout['agreement_own']:.3f})** |")
    return "\n" + "\n".join(lines) + "\n"


def _condition(summary: dict) -> dict:
    (condition,) = summary["conditions"].values()  # the committed runs hold one condition each
    return condition


def _overall(summary: dict, variant: str) -> dict:
    return _condition(summary)["results"][variant]["all"]


def _cost_ratio(summary: dict) -> str:
    """The drafter's cost ratio (`policies.baselines.cost_ratio`), from the run's calibration."""
    (cost,) = summary["meta"]["cost_models"].values()
    return f"{cost_ratio_of(cost):.2f}"


def _forward_cost_ratio(drafter: dict) -> float:
    """A bench drafter's forward cost ratio (drafter forward / verifier one-token forward); reports written
    before the rename called it ``cost_ratio``."""
    return drafter["forward_cost_ratio"] if "forward_cost_ratio" in drafter else drafter["cost_ratio"]


def _speedup(variant: str, against: str = "speedup_vs_verifier", source: str = EVAL_DEFAULT) -> Figure:
    return Figure(source, lambda summary: f"{_overall(summary, variant)[against]['mean']:.2f}×")


def _fastest(condition: dict, category: str) -> str:
    """The fastest drafting policy one can deploy in a category (neither the verifier alone nor an oracle): as
    the summary records it, or by `policies.baselines.fastest` in summaries written before it did."""
    if category in condition.get("fastest", {}):
        return condition["fastest"][category]
    results = condition["results"]
    return fastest({v: results[v][category]["tokens_per_s"]["mean"] for v in results
                    if category in results[v] and v != condition["reference"]})


def _verifier_alone(condition: dict, category: str) -> float:
    """The verifier alone's tokens/s in a category, as the summary records it (older ones: its row)."""
    recorded = condition.get("verifier_alone_tokens_per_s", {})
    if category in recorded:
        return recorded[category]
    return condition["results"][condition["reference"]][category]["tokens_per_s"]["mean"]


def _category_table(summary: dict) -> str:
    """The default run per category: the verifier alone, the best static policy and the fastest non-privileged
    policy (both picked per category on these prompts) against the verifier alone."""
    condition = _condition(summary)
    results = condition["results"]
    lines = ["| category | verifier alone tok/s | best fixed k | fastest policy | paying? |", "|---|---|---|---|---|"]
    for category in condition["categories"]:
        fixed = condition["best_fixed_k"][category]
        best = _fastest(condition, category)
        ratio = results[best][category]["speedup_vs_verifier"]["mean"]
        fixed_ratio = results[fixed][category]["speedup_vs_verifier"]["mean"]
        lines.append(f"| {category} | {_verifier_alone(condition, category):.1f} | "
                     f"{fixed.removeprefix('fixed-k:')} at {fixed_ratio:.2f}× | "
                     f"{best} at {ratio:.2f}× | {'yes' if ratio > 1.0 else 'no'} |")
    return "\n" + "\n".join(lines) + "\n"


def _stop_mode_table(summary: dict) -> str:
    """The `--ablation stop-mode` run: each rule's speed-up over the verifier alone in both stop modes."""
    names = {"entropy-abs:theta=0.5": "entropy-abs θ = 0.5", "entropy-abs:theta=1.5": "entropy-abs θ = 1.5",
             "entropy-abs:theta=3.0": "entropy-abs θ = 3.0", "oracle": "oracle (first rejection, privileged)"}
    lines = ["| rule | include | exclude |", "|---|---|---|"]
    for spec, name in names.items():
        cells = [f"{_overall(summary, f'{spec} @ stop_mode={mode}')['speedup_vs_verifier']['mean']:.2f}×"
                 for mode in ("include", "exclude")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n" + "\n".join(lines) + "\n"


def _bench_drafters_table(report: dict) -> str:
    """`ebsd bench decoder --drafters`: each drafter's cost, acceptance by position and best fixed k."""
    lines = ["| drafter | forward cost ratio | acceptance at positions 1 / 2 / 3 / 4 | best fixed k (one k, all "
             "prompts) | speedup | ours / transformers at that k |", "|---|---|---|---|---|---|"]
    for name, d in report["drafters"].items():
        alphas = " / ".join("–" if a is None else f"{a:.2f}" for a in d["acceptance_by_position"][:4])
        ratio = d["ours_over_transformers"].get(str(d["best_k"]), d["ours_over_transformers"].get(d["best_k"]))
        lines.append(f"| {name} | {_forward_cost_ratio(d):.3f} | {alphas} | {d['best_k']} | "
                     f"{d['best_k_speedup']:.2f}× | "
                     + ("–" if ratio is None else f"{ratio:.2f}×") + " |")
    return "\n" + "\n".join(lines) + "\n"


# --- docs/benchmarks.md: the goals of the drafter-zoo issue, each from its result file. ---
def _goal_best_fixed_k(report: dict) -> str:
    name, best = max(report["drafters"].items(), key=lambda item: item[1]["best_k_speedup"])
    met = "yes" if best["best_k_speedup"] >= 1.5 else "no"
    return f"{best['best_k_speedup']:.2f}× ({name}, k = {best['best_k']}) | {met}"


def _goal_best_fixed_k_eval(comparison: dict) -> str:
    name, best = max(comparison["drafters"].items(), key=lambda item: item[1]["best_fixed_k_speedup"])
    return f"{best['best_fixed_k_speedup']:.2f}× ({name}) | {'yes' if best['best_fixed_k_speedup'] >= 1.5 else 'no'}"


def _goal_best_fixed_k_default(summary: dict) -> str:
    """The default run's fastest single fixed k over all its prompts (one k for every category)."""
    ratios = {k: _overall(summary, k)["speedup_vs_verifier"]["mean"] for k in BASELINES_FIXED_K}
    best = max(ratios, key=ratios.get)
    return f"{ratios[best]:.2f}× ({best}, one k for all) | {'yes' if ratios[best] >= 1.5 else 'no'}"


def _goal_int4(report: dict) -> str:
    int4 = report["drafters"]["int4"]
    alpha, cost = int4["acceptance_by_position"][0], _forward_cost_ratio(int4)
    return (f"α {alpha:.2f} at position 1, cost {cost:.3f} | α {'yes' if alpha >= 0.95 else 'no'}, "
            f"cost {'yes' if cost <= 0.30 else 'no'}")


def _goal_paying(summary: dict) -> str:
    condition = _condition(summary)
    results = condition["results"]
    best = {c: results[_fastest(condition, c)][c]["speedup_vs_verifier"]["mean"] for c in condition["categories"]}
    paying = sum(ratio > 1.0 for ratio in best.values())
    return (f"`{summary['meta']['drafter']}`: {paying}/{len(best)} categories, fastest policy "
            f"{min(best.values()):.2f}–{max(best.values()):.2f}× | {'yes' if paying == len(best) else 'no'}")


def _bench_baseline(report: dict) -> str:
    return f"{report['baseline']}, {report['baseline_tokens_per_s']:.1f} tokens/s"


def _transformers_best(report: dict) -> str:
    """The fastest transformers assisted-generation row of the bench, as 'method (speedup)'."""
    rows = [r for r in report["rows"] if r["method"].endswith("(transformers)")]
    if not rows:
        return "none (no drafter transformers can run)"
    best = max(rows, key=lambda r: r["tokens_per_s"])
    return f"{best['method']} at {best['vs_verifier_alone']:.2f}×"


def _bench_env_table(report: dict) -> str:
    """`ebsd bench env --backend live replay`: steps/s of the live env and of replay, side by side."""
    live = report["clocks"][0]["steps_per_s"]
    lines = ["| backend | steps/s | × live |", "|---|---|---|"]
    lines += [f"| live ({c['clock']} clock) | {c['steps_per_s']:,.1f} | {c['steps_per_s'] / live:.2f} |"
              for c in report["clocks"]]
    lines += [f"| {r['backend']} | {r['steps_per_s']:,.0f} | {r['steps_per_s'] / live:,.0f} |"
              for r in report["replay"]]
    shares = ", ".join(f"{k} {v:.2f}" for k, v in report["oracle_dp_shares"].items() if not k.endswith("tokens_per_s"))
    return "\n" + "\n".join(lines) + f"\n\nShares of oracle-dp on the same traces (model clock): {shares}.\n"


def fastest_drafter(rows: dict) -> str | None:
    from eval.run import fastest_drafter as fastest_of

    return fastest_of(rows)


def _drafters_table(comparison: dict) -> str:
    from eval.run import drafters_markdown

    return "\n" + drafters_markdown(comparison)


def _span(values) -> tuple[float, float]:
    values = list(values)
    return min(values), max(values)


def _verdict_figures() -> dict[str, Figure]:
    from eval import verdict as v

    def block(render: Callable[[dict], str]) -> Callable[[dict], str]:
        return lambda result: "\n" + render(result) + "\n"

    def speedup(label_key: str) -> Callable[[dict], str]:
        def render(result: dict) -> str:
            row = result["rows"][result[label_key]]["vs_verifier"]
            return f"{row['mean']:.2f}x [{row['ci'][0]:.2f}, {row['ci'][1]:.2f}]"
        return render

    return {
        "verdict.main_table": Figure(VERDICT, block(v.main_table)),
        "verdict.category_table": Figure(VERDICT, block(v.category_table)),
        "verdict.improvement": Figure(VERDICT, block(v.improvement_list)),
        "verdict.shares_table": Figure(VERDICT, block(v.shares_table)),
        "verdict.variants_table": Figure(VERDICT, block(v.variants_table)),
        "verdict.goals": Figure(VERDICT, block(v.goals_list)),
        "verdict.headroom_table": Figure(VERDICT, block(v.headroom_table)),
        "verdict.training_table": Figure(VERDICT, block(v.training_table)),
        "verdict.live_curve_table": Figure(VERDICT, block(v.live_curve_table)),
        "verdict.prompts": Figure(VERDICT, lambda r: str(r["prompts"])),
        "verdict.per_category": Figure(VERDICT, lambda r: ", ".join(f"{c} {n}"
                                                                   for c, n in r["prompts_per_category"].items())),
        "verdict.load": Figure(VERDICT, lambda r: f"{r['machine']['load_1min']:.2f}"),
        "verdict.best_learned": Figure(VERDICT, lambda r: r["best_learned"]),
        "verdict.best_tuned": Figure(VERDICT, lambda r: r["best_tuned"]),
        "verdict.best_learned.vs_verifier": Figure(VERDICT, speedup("best_learned")),
        "verdict.best_tuned.vs_verifier": Figure(VERDICT, speedup("best_tuned")),
        "verdict.learned_vs_tuned": Figure(VERDICT, lambda r: f"{r['goals']['learned_vs_best_tuned_overall']:.3f}"),
        "verdict.learned_share_of_oracle_dp": Figure(
            VERDICT, lambda r: f"{r['goals']['learned_share_of_oracle_dp']:.3f}"),
        "verdict.headroom_range": Figure(VERDICT, lambda r: "{:.2f}–{:.2f}".format(
            *_span(v["oracle_vs_best_static"] for v in r["replay"]["headroom"].values()))),
        "verdict.share.oracle-first-reject": Figure(
            VERDICT, lambda r: f"{r['replay']['shares']['oracle-first-reject']:.3f}"),
        "verdict.variant_mean.mlp-h8": Figure(VERDICT, lambda r: f"{r['replay']['variants']['mlp-h8']['mean']:.3f}"),
        "verdict.variant_mean.ltd": Figure(VERDICT, lambda r: f"{r['replay']['variants']['ltd']['mean']:.3f}"),
        "verdict.variant_mean.ltd-entropy": Figure(
            VERDICT, lambda r: f"{r['replay']['variants']['ltd-entropy']['mean']:.3f}"),
        "verdict.learned_spread": Figure(VERDICT, lambda r: "{:.1f} %".format(100 * (lambda lo, hi: hi / lo - 1)(
            *_span(row["tokens_per_s"] for label, row in r["rows"].items() if label.startswith("ppo "))))),
        "verdict.poi_vs_best_tuned": Figure(VERDICT, lambda r: (lambda poi: "{:.2f} [{:.2f}, {:.2f}]".format(
            poi["p"], *poi["ci"]))(r["probability_of_improvement"][r["best_tuned"]])),
        "verdict.plateau_range.entropy": Figure(VERDICT, lambda r: "{:,}–{:,}".format(*_span(
            row["plateau_step"] for row in r["training"] if row["variant"].startswith("mlp") and
            row["drafter"] == "distilled")).replace(",", " ")),
        "verdict.ppo_wall_range": Figure(VERDICT, lambda r: "{:.0f}–{:.0f}".format(*_span(
            row["wall_s"] for row in r["training"]))),
        "verdict.ngram_vs_best_fixed_k": Figure(VERDICT, lambda r: "{:.3f}".format(max(
            row["held_in_vs_best_fixed_k"] for row in r["training"] if row["drafter"] == "ngram"))),
        "verdict.distilled_vs_best_fixed_k": Figure(VERDICT, lambda r: "{:.3f}".format(max(
            row["held_in_vs_best_fixed_k"] for row in r["training"] if row["drafter"] == "distilled"))),
    }


def _ray_record_summary(result: dict) -> str:
    return (f"{result['prompts']} prompts ({result['tokens']} tokens, budget {result['max_new_tokens']}, chains of "
            f"{result['max_draft_len']}) in {result['seconds']:.1f} s with {result['threads']} thread, "
            f"{result['seconds_per_prompt']:.2f} s per prompt or {result['seconds_per_token'] * 1e3:.0f} ms per "
            f"token (1-minute load {result['machine_before']['load_1min']:.2f} on {result['machine_before']['cores']}"
            " cores when it started)")


def _ray_record_projection(result: dict) -> str:
    lines = ["| workers | hours at the measured cost per prompt |", "|---|---|"]
    for workers in (1, 2, 4, 8, 16, 32):
        hours = SPEC_BENCH_PROMPTS * result["seconds_per_prompt"] / workers / 3600
        lines.append(f"| {workers} | {hours:.2f} |")
    return "\n" + "\n".join(lines) + "\n"


def _ray_tune_table(result: dict) -> str:
    lines = [f"| workers | sweep wall time, median of {result['repeats']} (s) | each run (s) | 1-minute load at "
             "each start |", "|---|---|---|---|"]
    for workers, median in result["median_s"].items():
        runs = ", ".join(f"{t:.1f}" for t in result["seconds"][workers])
        loads = ", ".join(f"{x:.2f}" for x in result["load_1min"][workers])
        lines.append(f"| {workers} | {median:.1f} | {runs} | {loads} |")
    return (f"\n{result['trials']} trials over {result['trace_prompts']} traces ({result['trace_tokens']} tokens), "
            f"{result['machine_before']['cores']} cores:\n\n" + "\n".join(lines) + "\n")


# --- docs/drafter.md: the goals of issue 7 (held-out α ≥ 0.65 in every category, cost ≤ 0.15, best fixed k
# ≥ 1.3×), each as "measured | met?" so that the verdict cannot drift from the figure either. ---
def _weakest_categories(card: dict) -> str:
    rows = sorted(_heldout(card)["per_category"].items(), key=lambda item: item[1])[:2]
    return " and ".join(f"{name} ({value:.2f})" for name, value in rows)


def _agreement_goal(card: dict) -> str:
    heldout = _heldout(card)
    (low, low_value), *_, (high, high_value) = sorted(heldout["per_category"].items(), key=lambda item: item[1])
    met = "yes" if low_value >= 0.65 else "no"
    return f"{low_value:.2f} ({low}) … {high_value:.2f} ({high}), {heldout['agreement']:.2f} overall | {met}"


def _cost_goal(report: dict) -> str:
    distilled = report["drafters"]["distilled"]
    met = "yes" if _forward_cost_ratio(distilled) <= 0.15 else "no"
    return (f"{_forward_cost_ratio(distilled):.3f} ({1000 * distilled['drafter_token_s']:.1f} ms vs "
            f"{1000 * report['verifier_token_s']:.1f} ms) | {met}")


def _speedup_goal(report: dict) -> str:
    distilled = report["drafters"]["distilled"]
    met = "yes" if distilled["best_k_speedup"] >= 1.3 else "no"
    return (f"{distilled['best_k_speedup']:.2f}× (k = {distilled['best_k']}) on {report['prompts']} held-out "
            f"prompts | {met}")


# --- docs/env.md, docs/replay.md and the README: the clock's check against the wall clock, the env's overhead
# outside model forwards, the entropy signal's AUROC and replay's speed. ---
def _clock_validation(summary: dict) -> str:
    """The default run's calibration, checked against the wall clock: each fixed-k generation's error."""
    (cost,) = summary["meta"]["cost_models"].values()
    check = cost["validation"]
    errors = ", ".join(f"{100 * run['error']:+.1f} % (k = {run['k']})" for run in check["runs"])
    return (f"{cost['fingerprint']['threads']} threads, {check['max_new_tokens']} tokens: errors {errors}, "
            f"mean {100 * check['mean_abs_error']:.1f} %")


def _overhead_table(report: dict) -> str:
    """`ebsd bench env`'s live rows: steps/s and the time outside model forwards, per clock."""
    lines = ["| clock | steps | steps/s | outside forwards | env layer alone |", "|---|---|---|---|---|"]
    lines += [f"| {c['clock']} | {c['steps']} | {c['steps_per_s']:.1f} | {100 * c['outside_forward_share']:.1f} % | "
              f"{100 * c['env_layer_share']:.2f} % |" for c in report["clocks"]]
    return "\n" + "\n".join(lines) + "\n"


def _overhead_goal(report: dict) -> str:
    worst = max(c["outside_forward_share"] for c in report["clocks"])
    return f"{'met' if worst <= 0.05 else 'not met'} ({100 * worst:.1f} % at most)"


def _entropy_auroc(summary: dict) -> str:
    signal = _condition(summary)["entropy_acceptance"]
    by_category = [c["auroc"] for c in signal["by_category"].values() if c.get("auroc") is not None]
    return f"{signal['auroc']:.2f} overall, {min(by_category):.2f}–{max(by_category):.2f} by category"


def _replay_rates(report: dict) -> str:
    """Replay's steps/s: one env without Gymnasium's wrappers, and the vector env."""
    rows = {r["backend"]: r for r in report["replay"]}
    (vector,) = [r for name, r in rows.items() if name.startswith("replay vector x")]
    envs = vector["backend"].removeprefix("replay vector x")
    return (f"{rows['replay (unwrapped)']['steps_per_s'] / 1e3:.0f}k steps/s per env, "
            f"{vector['steps_per_s'] / 1e6:.1f}M as a vector of {envs}")


FIGURES: dict[str, Figure] = {
    # v1 (`distilled`, the first shipped feature drafter): its training run's held-out evaluation, kept in its
    # config.json.
    **_card_figures("drafter", DRAFTER_CARD),
    # v2 (`feature`): its card, and the run that made it, warm-started from v1 (docs/results/distill-v2).
    **_card_figures("feature-v2", FEATURE_CARD, "α, draft token 2"),
    "feature-v2.agreement_by_step": Figure(FEATURE_CARD, lambda card: " / ".join(
        f"{v:.3f}" for v in _heldout(card)["agreement_by_step"])),
    "distill-v2.table": Figure(DISTILL_V2, lambda run: _ttt_table(run, "v1, the warm start")),
    "distill-v2.categories": Figure(DISTILL_V2, _v1_v2_table),
    "bench-feature.table": Figure(BENCH_FEATURE, _bench_drafters_table),
    "bench-feature.by_k": Figure(BENCH_FEATURE, _speedup_by_k),
    "eval-feature.table": Figure(EVAL_FEATURE, _drafters_table),
    "bench-feature.baseline": Figure(BENCH_FEATURE, _bench_baseline),
    "bench-feature.load": Figure(BENCH_FEATURE, lambda report: (
        f"{report['machine']['load_1min']:.2f} before, {report['machine_after']['load_1min']:.2f} after")),
    **{f"bench-feature.{name}.best": Figure(BENCH_FEATURE, lambda report, name=name: _best_fixed_k(report, name))
       for name in ("feature", "distilled")},
    # A first training-time-test run warm-started from v1 (docs/results/distill-ttt, not shipped).
    "distill-ttt.table": Figure(DISTILL_TTT, _ttt_table),
    "distill-ttt.run": Figure(DISTILL_TTT, lambda run: (
        f"{run['history'][-1]['step']:,} steps, {run['history'][-1]['train_seconds']:.0f} s of training on "
        f"{run['train_records']:,} records ({run['train_positions']:,} positions)")),
    # The default `ebsd eval` run (docs/results/eval-default): the default drafter (int4 on the CPU).
    "eval-default.cost_ratio": Figure(EVAL_DEFAULT, _cost_ratio),
    "eval-default.prompts": Figure(EVAL_DEFAULT, lambda summary: str(summary["meta"]["prompts"])),
    "eval-default.drafter": Figure(EVAL_DEFAULT, lambda summary: f"`{summary['meta']['drafter']}`"),
    "eval-default.category_table": Figure(EVAL_DEFAULT, _category_table),
    "eval-default.entropy-abs-1.5.vs_verifier": _speedup("entropy-abs:theta=1.5"),
    "eval-default.entropy-abs-1.5.vs_best_fixed_k": _speedup("entropy-abs:theta=1.5", "speedup_vs_best_fixed_k"),
    "eval-default.fixed-k-8.vs_verifier": _speedup("fixed-k:k=8"),
    "eval-default.oracle-first-reject.vs_verifier": _speedup("oracle-first-reject"),
    "eval-default.verifier_tokens_per_s": Figure(
        EVAL_DEFAULT, lambda summary: f"{_overall(summary, 'no-spec')['tokens_per_s']['mean']:.1f}"),
    # Drafters side by side: `ebsd bench decoder --drafters` and `ebsd eval --drafters` (docs/results/*-drafters).
    "bench-drafters.table": Figure(BENCH_DRAFTERS, _bench_drafters_table),
    "goals.best_fixed_k": Figure(BENCH_DRAFTERS, _goal_best_fixed_k),
    "goals.int4": Figure(BENCH_DRAFTERS, _goal_int4),
    "goals.best_fixed_k_eval": Figure(EVAL_DRAFTERS, _goal_best_fixed_k_eval),
    "goals.best_fixed_k_default": Figure(EVAL_DEFAULT, _goal_best_fixed_k_default),
    "goals.feature_alpha": Figure(DISTILL_V2, lambda run: (
        f"{run['history'][-1]['agreement']:.3f} (v2, shipped as `feature`); v1 {run['history'][0]['agreement']:.3f} | "
        f"{'yes' if run['history'][-1]['agreement'] >= 0.55 else 'no'}")),
    "goals.default_eval_paying": Figure(EVAL_DEFAULT, _goal_paying),
    "bench-drafters.baseline": Figure(BENCH_DRAFTERS, _bench_baseline),
    "bench-drafters.transformers_best": Figure(BENCH_DRAFTERS, _transformers_best),
    "eval-drafters.table": Figure(EVAL_DRAFTERS, _drafters_table),
    "eval-drafters.distilled.best": Figure(EVAL_DRAFTERS, lambda comparison: _best_policy(comparison, "distilled")),
    "eval-feature.feature.best": Figure(EVAL_FEATURE, lambda comparison: _best_policy(comparison, "feature")),
    "bench-drafters.distilled.cost_ratio": Figure(
        BENCH_DRAFTERS, lambda report: f"{_forward_cost_ratio(report['drafters']['distilled']):.3f}"),
    "bench-drafters.distilled.best": Figure(BENCH_DRAFTERS, lambda report: _best_fixed_k(report, "distilled")),
    "bench-env.table": Figure(BENCH_ENV, _bench_env_table),
    "bench-env.load": Figure(BENCH_ENV, lambda report: f"{report['machine']['load_1min']:.2f}"),
    # Replay against the live env on the embedded pair (`python -m eval.replay_validate`) and PPO on replay.
    "replay.validate.differ": Figure(
        REPLAY_VALIDATION, lambda result: f"{result['differ']} of {result['episodes']}"),
    "replay.validate.max_obs_deviation": Figure(
        REPLAY_VALIDATION, lambda result: f"{result['max_obs_deviation']:.1e}"),
    "replay.ppo.steps": Figure(REPLAY_PPO, lambda record: _grouped(record['steps'])),
    "replay.ppo.wall_s": Figure(REPLAY_PPO, lambda record: f"{record['wall_s']:.1f}"),
    "replay.ppo.steps_per_s": Figure(REPLAY_PPO, lambda record: _grouped(round(record['steps'] / record['wall_s']))),
    "replay.ppo.vs_verifier": Figure(
        REPLAY_PPO, lambda record: f"{record['best_eval']['speedup_vs_verifier']:.2f}x"),
    "replay.ppo.vs_best_fixed_k": Figure(
        REPLAY_PPO, lambda record: f"{record['best_eval']['speedup_vs_best_fixed_k']:.2f}x"),
    # Ray (`python -m eval.bench.ray_cluster`): the recording cost behind the Spec-Bench projection, 1 vs 2 sweep
    # workers.
    "ray.record.summary": Figure(BENCH_RAY_RECORD, _ray_record_summary),
    "ray.record.projection": Figure(BENCH_RAY_RECORD, _ray_record_projection),
    "ray.tune.table": Figure(BENCH_RAY_TUNE, _ray_tune_table),
    "ray.tune.speedup": Figure(BENCH_RAY_TUNE, lambda result: f"{result['speedup']:.2f}×"),
    "eval-drafters.fastest": Figure(EVAL_DRAFTERS, lambda comparison: str(fastest_drafter(comparison["drafters"]))),
    # The stop-mode ablation that chose the env's default stop mode (docs/results/stop-mode).
    "stop-mode.table": Figure(STOP_MODE, _stop_mode_table),
    "stop-mode.verifier_tokens_per_s": Figure(
        STOP_MODE, lambda summary: f"{_overall(summary, 'no-spec')['tokens_per_s']['mean']:.1f}"),
    "stop-mode.fixed-k-1.vs_verifier": _speedup("fixed-k:k=1", source=STOP_MODE),
    "stop-mode.fixed-k-2.vs_verifier": _speedup("fixed-k:k=2", source=STOP_MODE),
    # The verdict: learned vs hand-made stopping policies (`python -m eval.verdict report`).
    **_verdict_figures(),
    # --- docs/drafter.md: the shipped drafter's training run (its config.json) and the drafters bench. ---
    "drafter.agreement_own": Figure(DRAFTER_CARD, lambda card: f"{_heldout(card)['agreement_own']:.2f}"),
    "drafter.agreement.weakest": Figure(DRAFTER_CARD, _weakest_categories),
    "drafter.goal.agreement": Figure(DRAFTER_CARD, _agreement_goal),
    "bench-drafters.int4.cost_ratio": Figure(
        BENCH_DRAFTERS, lambda report: f"{_forward_cost_ratio(report['drafters']['int4']):.2f}"),
    "bench-drafters.int8.cost_ratio": Figure(
        BENCH_DRAFTERS, lambda report: f"{_forward_cost_ratio(report['drafters']['int8']):.2f}"),
    "bench-drafters.goal.cost": Figure(BENCH_DRAFTERS, _cost_goal),
    "bench-drafters.goal.speedup": Figure(BENCH_DRAFTERS, _speedup_goal),
    "bench-drafters.load": Figure(BENCH_DRAFTERS, lambda report: f"{report['machine']['load_1min']:.1f}"),
    # --- docs/env.md, docs/replay.md and the README: figures of the env, its clock and replay, each from the run
    # that measured it (bench-env: `ebsd bench env --backend live replay`; the default eval and stop-mode runs). ---
    "eval-default.clock_validation": Figure(EVAL_DEFAULT, _clock_validation),
    "stop-mode.setup": Figure(STOP_MODE, lambda summary: (
        f"{summary['meta']['prompts']} held-out prompts, interleaved, {summary['meta']['config']['clock']} clock, "
        f"{summary['meta']['torch_threads']} threads, on the {summary['meta']['cpu_count']}-core development machine")),
    "stop-mode.entropy_auroc": Figure(STOP_MODE, _entropy_auroc),
    "bench-env.overhead_table": Figure(BENCH_ENV, _overhead_table),
    "bench-env.overhead_goal": Figure(BENCH_ENV, _overhead_goal),
    "bench-env.replay_rates": Figure(BENCH_ENV, _replay_rates),
    "bench-drafters.int8.record_cost": Figure(  # one verifier step and up to 16 drafter steps per output token
        BENCH_DRAFTERS, lambda report: f"{1 + 16 * _forward_cost_ratio(report['drafters']['int8']):.0f}x"),
}


def documents() -> list[Path]:
    return sorted({path for pattern in DOCUMENTS for path in ROOT.glob(pattern)})


def render(name: str) -> str:
    if name not in FIGURES:
        raise KeyError(f"unknown figure {name!r}: add it to eval.docs.FIGURES (known: {', '.join(FIGURES)})")
    figure = FIGURES[name]
    return figure.render(load(figure.source))


def rewrite(text: str) -> str:
    """`text` with every marked figure written from its source."""
    return MARKER.sub(lambda m: f"<!-- figure: {m['name']} -->{render(m['name'])}<!-- /figure -->", text)


def stale() -> list[str]:
    """``path: figure name (has ..., source says ...)`` for every marked figure that differs from its source."""
    found = []
    for path in documents():
        for match in MARKER.finditer(path.read_text()):
            wanted = render(match["name"])
            if match["body"] != wanted:
                found.append(f"{path.relative_to(ROOT)}: {match['name']} has {match['body'].strip()[:60]!r}, "
                             f"{FIGURES[match['name']].source} says {wanted.strip()[:60]!r}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.docs", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report figures that differ; exit 1 if any")
    args = parser.parse_args(argv)
    if args.check:
        differences = stale()
        print("\n".join(differences) if differences else "every figure matches its source file")
        return 1 if differences else 0
    for path in documents():
        text = path.read_text()
        new = rewrite(text)
        if new != text:
            write_atomic(path, new)
            print(f"rewrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
