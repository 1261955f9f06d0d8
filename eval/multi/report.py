"""What `ebsd eval`'s report says of a multi-drafter pair's run (``int4+feature+ngram``): which drafter(s) each
policy drafted with, and the best policy of each kind, single-drafter (it drafts with the pair's first drafter, as
on that drafter's own pair) and multi-drafter (it picks the drafter of each block), ranked on the same prompts."""

from __future__ import annotations


def drafters_text(cond: dict, variant: str) -> str | None:
    """Which drafter(s) a variant drafted with, on a multi-drafter pair (None on a one-drafter pair, whose drafter
    the Run section names): one name, or each drafter's share of its drafted blocks; ``chooses per block`` marks
    a policy that picks the drafter (the others draft with the pair's first drafter)."""
    if "drafter_blocks" not in cond:
        return None
    counts = {name: n for name, n in cond["drafter_blocks"].get(variant, {}).items() if n}
    total = sum(counts.values())
    if not total:  # the verifier alone throughout (a chooser that always picked k = 0 too)
        used = "none (verifier alone)"
    elif len(counts) == 1:
        used = next(iter(counts))
    else:
        used = ", ".join(f"{name} {n / total:.0%}" for name, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    return f"chooses per block: {used}" if cond.get("chooses_drafter", {}).get(variant) else used


def best_of_each_kind(cond: dict, ranked: list[str], fmt) -> str:
    """On a run with both kinds: the fastest single-drafter and the fastest drafter-choosing policy, each with its
    speed-up over the verifier alone ('' when one kind is missing). `ranked`: the non-privileged variants, fastest
    first; `fmt`: the report's number format."""
    choosers = cond.get("chooses_drafter", {})
    drafting = [v for v in ranked if v != cond.get("reference")]
    kinds = {"single-drafter": [v for v in drafting if not choosers.get(v)],
             "multi-drafter": [v for v in drafting if choosers.get(v)]}
    if not all(kinds.values()):
        return ""
    parts = []
    for kind, variants in kinds.items():
        best = variants[0]  # `ranked` is fastest first
        m = cond["results"][best]["all"]
        used = drafters_text(cond, best)
        parts.append(f"{kind} `{best}`" + (f" ({used})" if used else "")
                     + f" at {fmt(m['tokens_per_s']['mean'], 1)} tokens/s"
                     + (f", {fmt(m['speedup_vs_verifier'].get('mean'))}x the verifier alone"
                        if m.get("speedup_vs_verifier") else ""))
    return " Best of each kind: " + "; ".join(parts) + "."
