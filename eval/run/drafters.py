"""`ebsd eval --drafters`' comparison: per drafter, from its run's summary, the verifier alone, the cost ratio, the
acceptance at k = 1, the best static policies and every policy's speedup (`drafters.json`, `drafters.md`)."""

from __future__ import annotations


def compare_drafters(summaries: dict[str, dict]) -> dict:
    """Per drafter, from its summary: the verifier alone's tokens/s, the drafter's cost ratio
    (`policies.baselines.cost_ratio`: a drafting step over a one-token verification, from the run's cost model)
    and acceptance at k = 1 (from the fixed-k runs), the best static policy per category and the speedup of
    those together, the best single fixed k, and every policy's overall speedup over the verifier alone (the
    objective's ratio on the same prompts). The fastest drafter is the one whose fastest non-privileged policy
    is fastest (an oracle is an upper bound, not a policy)."""
    from policies.baselines import cost_ratio_of

    rows = {}
    for name, summary in summaries.items():
        label, cond = next(iter(summary["conditions"].items()))
        results = cond["results"]
        reference = cond["reference"]
        meta = summary.get("meta", {})
        cost = next(iter(meta.get("cost_models", {}).values()), None)
        fixed_one = next((v for v in cond["variants"] if v == "fixed-k:k=1"), None)
        speedups = {v: results[v]["all"]["speedup_vs_verifier"]["mean"] for v in cond["variants"]
                    if "speedup_vs_verifier" in results[v].get("all", {})}
        static = {c: cond["best_fixed_k"].get(c) for c in cond["categories"]}
        alone = cond.get("verifier_alone_tokens_per_s", {}).get("all")
        if alone is None and reference:  # a summary written before the analysis recorded it
            alone = results[reference]["all"]["tokens_per_s"]["mean"]
        rows[name] = {
            "condition": label,
            "verifier_tokens_per_s": alone,
            "cost_ratio": cost_ratio_of(cost) if cost else None,
            "acceptance_k1": results[fixed_one]["all"]["acceptance_rate"] if fixed_one else None,
            "best_static_per_category": static,
            "best_static_speedup": cond.get("best_static_speedup", {}).get("mean"),
            "best_fixed_k_speedup": max((s for v, s in speedups.items() if v.startswith("fixed-k")), default=None),
            "speedups": speedups,
        }
    return {"drafters": rows, "fastest": fastest_drafter(rows)}


def fastest_drafter(rows: dict[str, dict]) -> str | None:
    """The drafter whose fastest non-privileged policy (`policies.baselines.fastest`) has the highest speedup."""
    from policies.baselines import fastest

    best = {name: fastest(row["speedups"]) for name, row in rows.items()}
    scored = {name: rows[name]["speedups"][v] for name, v in best.items() if v is not None}
    return max(scored, key=scored.get) if scored else None


def drafters_markdown(comparison: dict) -> str:
    rows = comparison["drafters"]
    policies = list(dict.fromkeys(v for row in rows.values() for v in row["speedups"]))
    per_category = any(row.get("best_static_speedup") is not None for row in rows.values())
    lines = ["| drafter | verifier alone tok/s | cost ratio | acceptance (k=1) | best single fixed k | "
             + ("best static per category | " if per_category else "")
             + " | ".join(policies) + " |", "|---" * (5 + per_category + len(policies)) + "|"]
    for name, row in rows.items():
        def fmt(value, pattern="{:.2f}"):
            return "–" if value is None or value != value else pattern.format(value)

        lines.append(f"| {name} | {fmt(row['verifier_tokens_per_s'], '{:.1f}')} | {fmt(row['cost_ratio'], '{:.3f}')} | "
                     f"{fmt(row['acceptance_k1'])} | {fmt(row['best_fixed_k_speedup'], '{:.2f}×')} | "
                     + (f"{fmt(row.get('best_static_speedup'), '{:.2f}×')} | " if per_category else "")
                     + " | ".join(fmt(row["speedups"].get(p), "{:.2f}×") for p in policies) + " |")
    lines += ["", f"Fastest drafter (its fastest non-privileged policy's speedup; oracles are upper bounds, not "
              f"candidates): {fastest_drafter(rows)}. Speedups are the objective (total tokens / total decoding "
              "time) over the verifier alone's, on the same held-out prompts. Cost ratio: one drafting step over one "
              "verification of one token (whole decoder calls, the run's cost model). Best single fixed k: one k for "
              "all prompts; best static per category: the fastest of fixed-k ∪ k = 0 in each category, chosen on "
              "these prompts (in hindsight)."]
    return "\n".join(lines) + "\n"
