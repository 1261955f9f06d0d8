"""Figures of the committed `ebsd eval` runs (the default run and the stop-mode ablation), from their
``summary.json``: speedups, the per-category table, the clock's check and the entropy signal."""

from __future__ import annotations

from policies.baselines import cost_ratio_of, fastest

from .sources import EVAL_DEFAULT, Figure

BASELINES_FIXED_K = ("fixed-k:k=1", "fixed-k:k=2", "fixed-k:k=4", "fixed-k:k=8")  # the default run's fixed ks


def _condition(summary: dict) -> dict:
    (condition,) = summary["conditions"].values()  # the committed runs hold one condition each
    return condition


def overall(summary: dict, variant: str) -> dict:
    return _condition(summary)["results"][variant]["all"]


def speedup(variant: str, against: str = "speedup_vs_verifier", source: str = EVAL_DEFAULT) -> Figure:
    return Figure(source, lambda summary: f"{overall(summary, variant)[against]['mean']:.2f}×")


def cost_ratio(summary: dict) -> str:
    """The drafter's cost ratio (`policies.baselines.cost_ratio`), from the run's calibration."""
    (cost,) = summary["meta"]["cost_models"].values()
    return f"{cost_ratio_of(cost):.2f}"


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


def category_table(summary: dict) -> str:
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


def stop_mode_table(summary: dict) -> str:
    """The `--ablation stop-mode` run: each rule's speed-up over the verifier alone in both stop modes."""
    names = {"entropy-abs:theta=0.5": "entropy-abs θ = 0.5", "entropy-abs:theta=1.5": "entropy-abs θ = 1.5",
             "entropy-abs:theta=3.0": "entropy-abs θ = 3.0", "oracle": "oracle (first rejection, privileged)"}
    lines = ["| rule | include | exclude |", "|---|---|---|"]
    for spec, name in names.items():
        cells = [f"{overall(summary, f'{spec} @ stop_mode={mode}')['speedup_vs_verifier']['mean']:.2f}×"
                 for mode in ("include", "exclude")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n" + "\n".join(lines) + "\n"


def goal_best_fixed_k_default(summary: dict) -> str:
    """The default run's fastest single fixed k over all its prompts (one k for every category)."""
    ratios = {k: overall(summary, k)["speedup_vs_verifier"]["mean"] for k in BASELINES_FIXED_K}
    best = max(ratios, key=ratios.get)
    return f"{ratios[best]:.2f}× ({best}, one k for all) | {'yes' if ratios[best] >= 1.5 else 'no'}"


def goal_paying(summary: dict) -> str:
    condition = _condition(summary)
    results = condition["results"]
    best = {c: results[_fastest(condition, c)][c]["speedup_vs_verifier"]["mean"] for c in condition["categories"]}
    paying = sum(ratio > 1.0 for ratio in best.values())
    return (f"`{summary['meta']['drafter']}`: {paying}/{len(best)} categories, fastest policy "
            f"{min(best.values()):.2f}–{max(best.values()):.2f}× | {'yes' if paying == len(best) else 'no'}")


# --- docs/env.md and the README: the clock's check against the wall clock and the entropy signal's AUROC. ---
def clock_validation(summary: dict) -> str:
    """The default run's calibration, checked against the wall clock: each fixed-k generation's error."""
    (cost,) = summary["meta"]["cost_models"].values()
    check = cost["validation"]
    errors = ", ".join(f"{100 * run['error']:+.1f} % (k = {run['k']})" for run in check["runs"])
    return (f"{cost['fingerprint']['threads']} threads, {check['max_new_tokens']} tokens: errors {errors}, "
            f"mean {100 * check['mean_abs_error']:.1f} %")


def entropy_auroc(summary: dict) -> str:
    signal = _condition(summary)["entropy_acceptance"]
    by_category = [c["auroc"] for c in signal["by_category"].values() if c.get("auroc") is not None]
    return f"{signal['auroc']:.2f} overall, {min(by_category):.2f}–{max(by_category):.2f} by category"


def transfer_table(summary: dict, names: dict[str, str]) -> str:
    """Speedup over the verifier alone of every policy in every category of a transfer run (`ebsd eval` on
    held-out prompts of another machine), policies named by `names` (spec fragment -> short name)."""
    condition = _condition(summary)
    results = condition["results"]
    categories = [c for c in results[condition["reference"]] if c != "all"]
    lines = ["| policy | " + " | ".join(categories) + " | all |", "|---" * (len(categories) + 2) + "|"]
    for variant in condition["variants"]:
        label = variant
        for fragment, name in names.items():
            label = label.replace(fragment, name)
        cells = [f"{results[variant][c]['speedup_vs_verifier']['mean']:.2f}×" for c in (*categories, "all")]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n" + "\n".join(lines) + "\n"


def profile_replay_table(rates: dict[str, dict[str, float]]) -> str:
    """Replayed rates over the verifier alone's, one column per cost profile (file stem), policies sorted by the
    first profile's."""
    profiles = list(rates)
    first = rates[profiles[0]]
    header = "| policy | " + " | ".join(p.rsplit("/", 1)[-1].removesuffix(".json") for p in profiles) + " |"
    lines = [header, "|---" * (len(profiles) + 1) + "|"]
    for label in sorted(first, key=lambda v: -first[v]):
        lines.append(f"| {label} | " + " | ".join(f"{rates[p][label] / rates[p]['no-spec']:.3f}×" for p in profiles)
                     + " |")
    return "\n" + "\n".join(lines) + "\n"

