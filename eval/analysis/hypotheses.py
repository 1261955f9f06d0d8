"""The project's hypotheses H1-H4, each judged from one condition's paired comparisons: its statement, a verdict
(supported, not supported, inconclusive or not testable) and the evidence it rests on."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from ..metrics import policy_name, spearman, spec_params
from .cells import paired


def hypotheses(cond: dict, tps: dict) -> dict:
    """H1-H4 of one condition (`tps`: variant -> category -> the work of each unit)."""
    return {"H1": _h1(cond), "H2": _h2(cond), "H3": _h3(cond), "H4": _h4(cond, tps)}


def _verdict_from_ratios(ratios: list[dict], target: float = 1.0) -> tuple[str, int, int]:
    """supported / not supported / inconclusive from per-category paired ratios with CIs."""
    above = sum(1 for r in ratios if np.isfinite(r["ci"][0]) and r["ci"][0] > target)
    below = sum(1 for r in ratios if np.isfinite(r["ci"][1]) and r["ci"][1] < target)
    if not ratios:
        return "not testable", 0, 0
    if above >= len(ratios) / 2:
        return "supported", above, below
    if below >= len(ratios) / 2:
        return "not supported", above, below
    return "inconclusive", above, below


def _rule_variants(cond: dict, name: str) -> list[str]:
    return [v for v in cond["variants"] if cond["families"][v] == "ebsd" and policy_name(v) == name]


def _best_overall(cond: dict, variants: list[str]) -> str | None:
    scored = [(cond["results"][v]["all"].get("speedup_vs_best_fixed_k", {}).get("mean", float("nan")), v)
              for v in variants]
    scored = [s for s in scored if np.isfinite(s[0])]
    return max(scored)[1] if scored else None


def _h1(cond: dict) -> dict:
    """H1: EBSD beats fixed-k where the drafter's confidence varies (the chosen EBSD policy against each category's
    best fixed-k; the gain against the category's drafter-entropy spread)."""
    cats, res = cond["categories"], cond["results"]
    statement = "EBSD achieves higher speedup than fixed-k when drafter confidence varies"
    chosen = cond["chosen_ebsd"]
    if chosen is None:
        return {"statement": statement, "verdict": "not testable",
                "evidence": "needs at least one entropy-based and one fixed-k policy"}
    ratios = [cond["comparisons"][c]["chosen_ebsd"] for c in cats if "chosen_ebsd" in cond["comparisons"][c]]
    verdict, above, below = _verdict_from_ratios(ratios)
    spread = [cond["entropy_acceptance"]["by_category"][c]["entropy_std"] for c in cats]
    gains = [cond["comparisons"][c].get("chosen_ebsd", {}).get("mean", float("nan")) for c in cats]
    rho, p = spearman(spread, gains)
    return {
        "statement": statement,
        "verdict": verdict,
        "evidence": (f"{chosen} vs the best fixed-k per category: CI above 1 in {above}/{len(ratios)} "
                     f"categories, below 1 in {below}/{len(ratios)}; overall paired ratio "
                     f"{res[chosen]['all']['speedup_vs_best_fixed_k']['mean']:.3f} "
                     f"(95% CI {_ci(res[chosen]['all']['speedup_vs_best_fixed_k']['ci'])}); Spearman rho between "
                     f"a category's drafter-entropy spread and the gain: {rho:.2f} (permutation p={p:.2f})"),
    }


def _h2(cond: dict) -> dict:
    """H2: the best entropy threshold follows task complexity (the mean drafter entropy of the category)."""
    cats, res = cond["categories"], cond["results"]
    statement = "Optimal entropy threshold correlates with task complexity"
    tested = _rule_at_several_thresholds(cond)
    if tested is None or len(cats) < 3:
        return {"statement": statement, "verdict": "not testable",
                "evidence": "needs one rule at two or more thresholds (theta) and at least three categories"}
    name, variants, thetas = tested
    best = {c: max(variants, key=lambda v: res[v][c]["tokens_per_s"]["mean"] if c in res[v] else -1)
            for c in cats}
    best_theta = [float(thetas[best[c]]) for c in cats]
    complexity = [cond["entropy_acceptance"]["by_category"][c]["mean_entropy"] for c in cats]
    rho, p = spearman(complexity, best_theta)
    if not np.isfinite(rho):
        verdict = "not supported"
        why = f"the same theta ({best_theta[0]:g}) is best in every category"
    else:
        verdict = "supported" if p < 0.1 else "not supported"
        why = f"Spearman rho={rho:.2f}, permutation p={p:.2f} over {len(cats)} categories"
    pairs = ", ".join(f"{c}: theta={t:g} (H={h:.2f})" for c, t, h in zip(cats, best_theta, complexity, strict=True))
    return {"statement": statement, "verdict": verdict,
            "evidence": f"best {name} threshold per category vs mean drafter entropy: {pairs}; {why}"}


def _rule_at_several_thresholds(cond: dict) -> tuple[str, list[str], dict] | None:
    """The first entropy rule run at two or more thresholds under the same env settings (thresholds are only
    comparable under the same entropy measure, ...): (rule, its variants, variant -> theta), or None."""
    for name in ("entropy-abs", "entropy-window", "entropy-pos"):
        groups = defaultdict(list)
        for v in _rule_variants(cond, name):
            groups[v.partition(" @ ")[2]].append(v)
        for variants in groups.values():
            thetas = {v: spec_params(v).get("theta") for v in variants}
            if len({t for t in thetas.values() if t is not None}) >= 2:
                return name, [v for v in variants if thetas[v] is not None], thetas
    return None


def _h3(cond: dict) -> dict:
    """H3: the relative entropy increase is more robust (a higher worst category, less spread) than the absolute
    threshold."""
    cats, res = cond["categories"], cond["results"]
    statement = "Relative entropy increase is more robust than absolute threshold"
    rel, ab = _best_overall(cond, _rule_variants(cond, "entropy-rel")), _best_overall(cond, _rule_variants(
        cond, "entropy-abs"))
    if rel is None or ab is None:
        return {"statement": statement, "verdict": "not testable",
                "evidence": "needs both entropy-rel and entropy-abs policies and a fixed-k baseline"}

    def profile(v):
        values = [res[v][c]["speedup_vs_best_fixed_k"]["mean"] for c in cats if c in res[v]]
        return min(values), float(np.std(values))
    (rel_min, rel_sd), (abs_min, abs_sd) = profile(rel), profile(ab)
    verdict = ("supported" if rel_min > abs_min and rel_sd <= abs_sd else
               "not supported" if rel_min < abs_min and rel_sd >= abs_sd else "inconclusive")
    return {"statement": statement, "verdict": verdict,
            "evidence": (f"ratio to the best fixed-k across categories: {rel} worst {rel_min:.3f}, sd "
                         f"{rel_sd:.3f}; {ab} worst {abs_min:.3f}, sd {abs_sd:.3f} (robust = higher worst "
                         f"case and lower spread)")}


def _h4(cond: dict, tps: dict) -> dict:
    """H4: combined criteria beat the best single criterion (paired, per category and overall)."""
    cats = cond["categories"]
    statement = "Combined criteria outperform single criterion"
    combined = _best_overall(cond, _rule_variants(cond, "combined"))
    singles = [v for v in cond["variants"] if cond["families"][v] == "ebsd"
               and policy_name(v) in ("entropy-abs", "entropy-rel", "entropy-window", "entropy-pos")]
    single = _best_overall(cond, singles)
    if combined is None or single is None:
        return {"statement": statement, "verdict": "not testable",
                "evidence": "needs a combined policy and at least one single entropy rule"}
    ratios = [paired(tps[combined][c], tps[single][c]) for c in cats]
    verdict, above, below = _verdict_from_ratios(ratios)
    overall = paired({u: x for c in cats for u, x in tps[combined][c].items()},
                     {u: x for c in cats for u, x in tps[single][c].items()})
    return {"statement": statement, "verdict": verdict,
            "evidence": (f"{combined} vs the best single rule {single}: paired ratio {overall['mean']:.3f} "
                         f"(95% CI {_ci(overall['ci'])}); CI above 1 in {above}/{len(cats)} categories, "
                         f"below 1 in {below}/{len(cats)}")}


def _ci(ci) -> str:
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]" if all(np.isfinite(ci)) else "n/a"
