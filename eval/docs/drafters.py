"""Figures of the drafters: the shipped drafters' cards and training runs, `ebsd bench decoder --drafters` and
`ebsd eval --drafters`, and the goals of the drafter issues (docs/drafter.md, docs/benchmarks.md)."""

from __future__ import annotations

import re

from policies.baselines import fastest

from .sources import Figure, grouped


def heldout_of(card: dict) -> dict:
    return card["metadata"]["heldout"]


def card_figures(prefix: str, card: str, own: str = "α (own features)") -> dict[str, Figure]:
    """A shipped drafter's training run and held-out evaluation, from its config.json (`own`: what its second
    agreement column measured)."""
    return {
        f"{prefix}.agreement": Figure(card, lambda c: f"{heldout_of(c)['agreement']:.2f}"),
        f"{prefix}.agreement_table": Figure(card, lambda c: _agreement_table(c, own)),
        f"{prefix}.steps": Figure(card, lambda c: grouped(c['metadata']['step'])),
        f"{prefix}.train_seconds": Figure(card, lambda c: f"{c['metadata']['train_seconds']:.0f}"),
        f"{prefix}.train_records": Figure(card, lambda c: grouped(c['metadata']['train_records'])),
        f"{prefix}.train_positions": Figure(card, lambda c: grouped(c['metadata']['train_positions'])),
        f"{prefix}.head_coverage": Figure(card, lambda c: f"{heldout_of(c)['head_coverage']:.3f}"),
        f"{prefix}.heldout_positions": Figure(card, lambda c: grouped(heldout_of(c)['positions'])),
    }


def _agreement_table(card: dict, own: str = "α (own features)") -> str:
    heldout = heldout_of(card)
    rows = sorted(heldout["per_category"].items(), key=lambda item: -item[1])
    lines = [f"| category | α | {own} |", "|---|---|---|"]
    lines += [f"| {name} | {value:.3f} | ({heldout['per_category_own'][name]:.3f}) |" for name, value in rows]
    lines.append(f"| **all** | **{heldout['agreement']:.3f}** | **({heldout['agreement_own']:.3f})** |")
    return "\n" + "\n".join(lines) + "\n"


def ttt_table(run: dict, start: str = "shipped drafter") -> str:
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


def v1_v2_table(run: dict) -> str:
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


def forward_cost_ratio(drafter: dict) -> float:
    """A bench drafter's forward cost ratio (drafter forward / verifier one-token forward); reports written
    before the rename called it ``cost_ratio``."""
    return drafter["forward_cost_ratio"] if "forward_cost_ratio" in drafter else drafter["cost_ratio"]


def bench_drafters_table(report: dict) -> str:
    """`ebsd bench decoder --drafters`: each drafter's cost, acceptance by position and best fixed k."""
    lines = ["| drafter | forward cost ratio | acceptance at positions 1 / 2 / 3 / 4 | best fixed k (one k, all "
             "prompts) | speedup | ours / transformers at that k |", "|---|---|---|---|---|---|"]
    for name, d in report["drafters"].items():
        alphas = " / ".join("–" if a is None else f"{a:.2f}" for a in d["acceptance_by_position"][:4])
        ratio = d["ours_over_transformers"].get(str(d["best_k"]), d["ours_over_transformers"].get(d["best_k"]))
        lines.append(f"| {name} | {forward_cost_ratio(d):.3f} | {alphas} | {d['best_k']} | "
                     f"{d['best_k_speedup']:.2f}× | "
                     + ("–" if ratio is None else f"{ratio:.2f}×") + " |")
    return "\n" + "\n".join(lines) + "\n"


def speedup_by_k(report: dict) -> str:
    """Each drafter's speed-up over the verifier alone at every fixed k of the bench, from its rows."""
    rows = {r["method"]: r for r in report["rows"]}
    ks = sorted({int(m.group(1)) for m in map(re.compile(r"speculative k=(\d+) \[").match, rows) if m})
    lines = ["| drafter | " + " | ".join(f"k = {k}" for k in ks) + " |", "|---|" + "---|" * len(ks)]
    for name in report["drafters"]:
        cells = [f"{rows[f'speculative k={k} [{name}] (ours)']['vs_verifier_alone']:.2f}×" for k in ks]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n" + "\n".join(lines) + "\n"


def best_fixed_k(report: dict, drafter: str) -> str:
    """A drafter's best fixed k in an `ebsd bench decoder --drafters` report, as 'speedup (k = k)'."""
    found = report["drafters"][drafter]
    return f"{found['best_k_speedup']:.2f}× (k = {found['best_k']})"


def bench_baseline(report: dict) -> str:
    return f"{report['baseline']}, {report['baseline_tokens_per_s']:.1f} tokens/s"


def transformers_best(report: dict) -> str:
    """The fastest transformers assisted-generation row of the bench, as 'method (speedup)'."""
    rows = [r for r in report["rows"] if r["method"].endswith("(transformers)")]
    if not rows:
        return "none (no drafter transformers can run)"
    best = max(rows, key=lambda r: r["tokens_per_s"])
    return f"{best['method']} at {best['vs_verifier_alone']:.2f}×"


# --- docs/benchmarks.md: the goals of the drafter-zoo issue, each from its result file. ---
def goal_best_fixed_k(report: dict) -> str:
    name, best = max(report["drafters"].items(), key=lambda item: item[1]["best_k_speedup"])
    met = "yes" if best["best_k_speedup"] >= 1.5 else "no"
    return f"{best['best_k_speedup']:.2f}× ({name}, k = {best['best_k']}) | {met}"


def goal_int4(report: dict) -> str:
    int4 = report["drafters"]["int4"]
    alpha, cost = int4["acceptance_by_position"][0], forward_cost_ratio(int4)
    return (f"α {alpha:.2f} at position 1, cost {cost:.3f} | α {'yes' if alpha >= 0.95 else 'no'}, "
            f"cost {'yes' if cost <= 0.30 else 'no'}")


# --- docs/drafter.md: the goals of issue 7 (held-out α ≥ 0.65 in every category, cost ≤ 0.15, best fixed k
# ≥ 1.3×), each as "measured | met?" so that the verdict cannot drift from the figure either. ---
def weakest_categories(card: dict) -> str:
    rows = sorted(heldout_of(card)["per_category"].items(), key=lambda item: item[1])[:2]
    return " and ".join(f"{name} ({value:.2f})" for name, value in rows)


def agreement_goal(card: dict) -> str:
    heldout = heldout_of(card)
    (low, low_value), *_, (high, high_value) = sorted(heldout["per_category"].items(), key=lambda item: item[1])
    met = "yes" if low_value >= 0.65 else "no"
    return f"{low_value:.2f} ({low}) … {high_value:.2f} ({high}), {heldout['agreement']:.2f} overall | {met}"


def cost_goal(report: dict) -> str:
    distilled = report["drafters"]["distilled"]
    met = "yes" if forward_cost_ratio(distilled) <= 0.15 else "no"
    return (f"{forward_cost_ratio(distilled):.3f} ({1000 * distilled['drafter_token_s']:.1f} ms vs "
            f"{1000 * report['verifier_token_s']:.1f} ms) | {met}")


def speedup_goal(report: dict) -> str:
    distilled = report["drafters"]["distilled"]
    met = "yes" if distilled["best_k_speedup"] >= 1.3 else "no"
    return (f"{distilled['best_k_speedup']:.2f}× (k = {distilled['best_k']}) on {report['prompts']} held-out "
            f"prompts | {met}")


def fastest_drafter(rows: dict) -> str | None:
    from eval.run import fastest_drafter as fastest_of

    return fastest_of(rows)


def drafters_table(comparison: dict) -> str:
    from eval.run import drafters_markdown

    return "\n" + drafters_markdown(comparison)


def best_policy(comparison: dict, drafter: str) -> str:
    """A drafter's best non-privileged policy in an `ebsd eval --drafters` comparison, as 'speedup (policy)'."""
    speedups = comparison["drafters"][drafter]["speedups"]
    best = fastest(speedups)
    return f"{speedups[best]:.2f}× ({best})"


def goal_best_fixed_k_eval(comparison: dict) -> str:
    name, best = max(comparison["drafters"].items(), key=lambda item: item[1]["best_fixed_k_speedup"])
    return f"{best['best_fixed_k_speedup']:.2f}× ({name}) | {'yes' if best['best_fixed_k_speedup'] >= 1.5 else 'no'}"
