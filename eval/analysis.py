"""From ``episodes.jsonl`` rows to ``summary.json``: per-category metrics, baselines, paired comparisons, the
project's hypotheses H1-H4 with verdicts (each stated in its ``statement`` below), its success criteria
(`TARGET_GAIN`, `TARGET_SHARE`, `ACCEPTANCE_TOLERANCE`) and the failure modes.

Conditions: rows are grouped by (sampling temperature, max_new_tokens); inside a condition every variant (a
policy spec plus its env settings) decoded the same (prompt, seed) units, which makes the comparisons paired.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import numpy as np

from ebsd_env.envs.objective import objective_summary, paired_ratio
from policies.baselines import best_static, fastest, units_rate, verifier_alone_rate

from .metrics import (
    auroc,
    bootstrap_ci,
    calibration,
    episode_flops,
    mean_summary,
    percentiles,
    policy_name,
    privileged,
    request_latency,
    spearman,
    spec_params,
    token_latencies,
    token_marks,
    unit,
)

TARGET_GAIN = 1.10  # success criterion: > 10 % over the best fixed-k ...
TARGET_SHARE = 0.5  # ... on at least half of the tasks
ACCEPTANCE_TOLERANCE = 0.9  # acceptance rate within 10 % of fixed-k


def _by(rows, key):
    out = defaultdict(list)
    for row in rows:
        out[key(row)].append(row)
    return out


def _work_by_unit(rows) -> dict:
    """(new tokens, decoding seconds) per (prompt, seed) unit, summed if a unit appears more than once."""
    out: dict = {}
    for r in rows:
        n, t = out.get(unit(r), (0.0, 0.0))
        out[unit(r)] = (n + float(r["stats"]["new_tokens"]), t + float(r["stats"]["decode_s"]))
    return out


def _rate(work: tuple) -> float:
    return work[0] / work[1] if work[1] > 0 else float("nan")


def _paired(a: dict, b: dict) -> dict:
    """The objective of `a` over that of `b` on their shared units (`ebsd_env.envs.objective.paired_ratio`)."""
    return paired_ratio(a, b)


def _share(part: list[float], whole: list[float]) -> float:
    total = float(np.sum(whole))
    return float(np.sum(part)) / total if total > 0 else float("nan")


def cell_metrics(rows: list[dict], flops: dict) -> dict:
    """Metrics of one variant on one set of rows (a category or all)."""
    stats = [r["stats"] for r in rows]
    drafted = sum(s.get("drafted", sum(s.get("draft_lengths", []))) for s in stats)
    accepted = sum(s.get("accepted", sum(s.get("accepted_lengths", []))) for s in stats)
    blocks = sum(s.get("blocks", len(s.get("draft_lengths", []))) for s in stats)
    new_tokens = sum(s["new_tokens"] for s in stats)
    lengths = Counter(length for s in stats for length in s.get("draft_lengths", []))
    entropies, marks = [], []
    for row in rows:
        h, a = token_marks(row)
        entropies += h
        marks += a
    token_lat = [t for row in rows for t in token_latencies(row)]
    out = {
        "episodes": len(rows),
        "tokens_per_s": objective_summary([(r["stats"]["new_tokens"], r["stats"]["decode_s"]) for r in rows]),
        # Prefill included (measured on every clock; absent from rows written before it was reported: nan).
        "end_to_end_tokens_per_s": objective_summary(
            [(r["stats"]["new_tokens"], r["stats"]["decode_s"] + r["stats"].get("wall_prefill_s", float("nan")))
             for r in rows]) if all("wall_prefill_s" in r["stats"] for r in rows) else
        {"mean": float("nan"), "ci": [float("nan"), float("nan")], "n": 0},
        # The share of decoding time the policy's own decisions took (0 where a clock declared none).
        "decide_share": _share([r["stats"].get("decide_s", 0.0) for r in rows], [r["stats"]["decode_s"] for r in rows]),
        "wall_tokens_per_s": mean_summary([r["stats"].get("wall_tokens_per_s", float("nan")) for r in rows]),
        "acceptance_rate": accepted / drafted if drafted else float("nan"),
        "tau": new_tokens / blocks if blocks else float("nan"),
        "mean_draft_len": drafted / blocks if blocks else 0.0,
        "draft_len_hist": {str(k): v for k, v in sorted(lengths.items())},
        "new_tokens": new_tokens,
        "token_latency_ms": {k: v * 1e3 for k, v in percentiles(token_lat).items()},
        "request_latency_s": percentiles([request_latency(r) for r in rows]),
        "entropy_auroc": auroc(entropies, [not a for a in marks]),
        "judged_tokens": len(marks),
        "mean_draft_entropy": float(np.mean(entropies)) if entropies else float("nan"),
    }
    if flops.get("drafter") and flops.get("verifier"):
        per_token = [episode_flops(r["stats"], flops["drafter"], flops["verifier"]) / r["stats"]["new_tokens"]
                     for r in rows if r["stats"]["new_tokens"]]
        out["gflops_per_token"] = float(np.mean(per_token)) / 1e9 if per_token else float("nan")
    nll = [r["verifier_nll"] for r in rows if r.get("verifier_nll") is not None]
    if nll:
        out["verifier_ppl"] = mean_summary([float(np.exp(x)) for x in nll])
    return out


def _condition_label(temperature: float, max_new_tokens: int) -> str:
    return f"T={temperature:g},new={max_new_tokens}"


def analyse_condition(rows: list[dict], flops: dict) -> dict:
    variants = sorted({r["variant"] for r in rows})
    fam = {r["variant"]: r["family"] for r in rows}
    categories = list(dict.fromkeys(r["category"] for r in rows))
    by_variant = _by(rows, lambda r: r["variant"])
    reference = next((v for v in variants if fam[v] == "verifier"), None)
    oracle = next((v for v in variants if fam[v] == "oracle"), None)
    fixed = [v for v in variants if fam[v] == "fixed-k"]
    ebsd = [v for v in variants if fam[v] == "ebsd"]

    tps = {v: {c: _work_by_unit([r for r in by_variant[v] if r["category"] == c]) for c in categories}
           for v in variants}
    # The best static policy (fixed-k ∪ k = 0) per category, on these prompts (in hindsight: the reports say so);
    # kept under its former key, best_fixed_k, which every reader of summaries knows.
    static = [*fixed, *([reference] if reference else [])]
    chosen_static = best_static({v: {c: units_rate(tps[v][c]) for c in categories if tps[v][c]} for v in static})
    best_fixed = {c: chosen_static.get(c) for c in categories}

    def baseline_units(choice: dict[str, str | None], cats) -> dict:
        out = {}
        for c in cats:
            if choice.get(c):
                out.update(tps[choice[c]][c])
        return out

    outputs = {}
    if reference is not None:
        outputs = {unit(r): r["stats"].get("output_ids") for r in by_variant[reference]}

    results: dict[str, dict] = {}
    for v in variants:
        results[v] = {}
        for c in [*categories, "all"]:
            cats = categories if c == "all" else [c]
            cell_rows = [r for r in by_variant[v] if r["category"] in cats]
            if not cell_rows:
                continue
            m = cell_metrics(cell_rows, flops)
            mine = baseline_units({x: v for x in cats}, cats)
            if reference is not None:
                m["speedup_vs_verifier"] = _paired(mine, baseline_units({x: reference for x in cats}, cats))
            if any(best_fixed.get(x) for x in cats):
                m["speedup_vs_best_fixed_k"] = _paired(mine, baseline_units(best_fixed, cats))
            if oracle is not None:
                m["oracle_share"] = _paired(mine, baseline_units({x: oracle for x in cats}, cats))
            if outputs:
                same = [r["stats"].get("output_ids") == outputs[unit(r)] for r in cell_rows if unit(r) in outputs]
                m["identical_to_verifier"] = float(np.mean(same)) if same else float("nan")
            if reference is not None and "verifier_ppl" in m:
                ref_nll = {unit(r): r["verifier_nll"] for r in by_variant[reference]
                           if r["category"] in cats and r.get("verifier_nll") is not None}
                diffs = [np.exp(r["verifier_nll"]) - np.exp(ref_nll[unit(r)]) for r in cell_rows
                         if unit(r) in ref_nll and r.get("verifier_nll") is not None]
                m["ppl_diff_vs_verifier"] = {"mean": float(np.mean(diffs)) if diffs else float("nan"),
                                             "ci": list(bootstrap_ci(diffs)), "n": len(diffs)}
            results[v][c] = m

    # Entropy-acceptance relation, pooled over fixed-k drafts (their draft length ignores entropy, so the
    # judged tokens are not selected by the signal being evaluated); all drafting policies as a fallback.
    pool = [r for v in (fixed or [v for v in variants if fam[v] not in ("verifier",)]) for r in by_variant[v]]
    entropies, marks = [], []
    for r in pool:
        h, a = token_marks(r)
        entropies += h
        marks += a
    relation = {"source": "fixed-k drafts" if fixed else "all drafting policies",
                "auroc": auroc(entropies, [not a for a in marks]), "tokens": len(marks),
                "calibration": calibration(entropies, marks),
                "by_category": {}}
    for c in categories:
        h_c, a_c = [], []
        for r in pool:
            if r["category"] == c:
                h, a = token_marks(r)
                h_c += h
                a_c += a
        relation["by_category"][c] = {"auroc": auroc(h_c, [not a for a in a_c]), "tokens": len(a_c),
                                      "mean_entropy": float(np.mean(h_c)) if h_c else float("nan"),
                                      "entropy_std": float(np.std(h_c)) if h_c else float("nan")}

    chosen = None
    if ebsd and any(best_fixed.values()):
        chosen = max(ebsd, key=lambda v: results[v]["all"]["speedup_vs_best_fixed_k"]["mean"]
                     if np.isfinite(results[v]["all"]["speedup_vs_best_fixed_k"]["mean"]) else -1)
    best_ebsd_per_category = {}
    for c in categories:
        scored = [(results[v][c]["tokens_per_s"]["mean"], v) for v in ebsd if c in results[v]]
        best_ebsd_per_category[c] = max(scored)[1] if scored else None

    is_privileged = {v: privileged(v) for v in variants}
    condition = {"variants": variants, "families": fam, "privileged": is_privileged,
                 "categories": categories, "reference": reference,
                 "oracle": oracle, "best_fixed_k": best_fixed, "chosen_ebsd": chosen,
                 "verifier_alone_tokens_per_s": {
                     c: verifier_alone_rate({reference: {u: w for x in (categories if c == "all" else [c])
                                                         for u, w in tps[reference][x].items()}})
                     for c in [*categories, "all"]} if reference else {},
                 # The fastest drafting policy one can deploy (neither the reference nor an oracle).
                 "fastest": {c: fastest({v: results[v][c]["tokens_per_s"]["mean"] for v in variants
                                         if c in results[v] and v != reference}, is_privileged.get)
                             for c in [*categories, "all"]},
                 "best_ebsd_per_category": best_ebsd_per_category, "results": results,
                 "entropy_acceptance": relation}
    if reference is not None and any(best_fixed.values()):
        # The per-category best static policies together, over the verifier alone on the same units.
        condition["best_static_speedup"] = _paired(baseline_units(best_fixed, categories),
                                                   baseline_units({x: reference for x in categories}, categories))
    condition["comparisons"] = comparisons(condition, tps)
    condition["hypotheses"] = hypotheses(condition, tps)
    condition["success_criteria"] = success_criteria(condition)
    condition["failure_modes"] = failure_modes(condition, rows, tps)
    return condition


def comparisons(cond: dict, tps: dict) -> dict:
    """Paired comparisons on the same prompts: the chosen and the per-category best EBSD policy against the
    category's best fixed-k, per category."""
    out = {}
    for c in cond["categories"]:
        base = cond["best_fixed_k"].get(c)
        entry = {"best_fixed_k": base}
        for label, v in (("chosen_ebsd", cond["chosen_ebsd"]), ("best_ebsd", cond["best_ebsd_per_category"].get(c))):
            if v and base:
                entry[label] = {"variant": v, **_paired(tps[v][c], tps[base][c])}
        out[c] = entry
    return out


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


def hypotheses(cond: dict, tps: dict) -> dict:
    cats = cond["categories"]
    res = cond["results"]
    out = {}

    # H1: EBSD beats fixed-k where the drafter's confidence varies.
    chosen = cond["chosen_ebsd"]
    if chosen is None:
        out["H1"] = {"statement": "EBSD achieves higher speedup than fixed-k when drafter confidence varies",
                     "verdict": "not testable", "evidence": "needs at least one entropy-based and one fixed-k policy"}
    else:
        ratios = [cond["comparisons"][c]["chosen_ebsd"] for c in cats if "chosen_ebsd" in cond["comparisons"][c]]
        verdict, above, below = _verdict_from_ratios(ratios)
        spread = [cond["entropy_acceptance"]["by_category"][c]["entropy_std"] for c in cats]
        gains = [cond["comparisons"][c].get("chosen_ebsd", {}).get("mean", float("nan")) for c in cats]
        rho, p = spearman(spread, gains)
        out["H1"] = {
            "statement": "EBSD achieves higher speedup than fixed-k when drafter confidence varies",
            "verdict": verdict,
            "evidence": (f"{chosen} vs the best fixed-k per category: CI above 1 in {above}/{len(ratios)} "
                         f"categories, below 1 in {below}/{len(ratios)}; overall paired ratio "
                         f"{res[chosen]['all']['speedup_vs_best_fixed_k']['mean']:.3f} "
                         f"(95% CI {_ci(res[chosen]['all']['speedup_vs_best_fixed_k']['ci'])}); Spearman rho between "
                         f"a category's drafter-entropy spread and the gain: {rho:.2f} (permutation p={p:.2f})"),
        }

    # H2: the best entropy threshold follows task complexity (mean drafter entropy of the category).
    statement = "Optimal entropy threshold correlates with task complexity"
    tested = None
    for name in ("entropy-abs", "entropy-window", "entropy-pos"):
        # Thresholds are only comparable under the same env settings (entropy measure, ...).
        groups = defaultdict(list)
        for v in _rule_variants(cond, name):
            groups[v.partition(" @ ")[2]].append(v)
        for variants in groups.values():
            thetas = {v: spec_params(v).get("theta") for v in variants}
            if len({t for t in thetas.values() if t is not None}) >= 2:
                tested = (name, [v for v in variants if thetas[v] is not None], thetas)
                break
        if tested:
            break
    if tested is None or len(cats) < 3:
        out["H2"] = {"statement": statement, "verdict": "not testable",
                     "evidence": "needs one rule at two or more thresholds (theta) and at least three categories"}
    else:
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
        pairs = ", ".join(f"{c}: theta={t:g} (H={h:.2f})" for c, t, h in zip(cats, best_theta, complexity,
                                                                              strict=True))
        out["H2"] = {"statement": statement, "verdict": verdict,
                     "evidence": f"best {name} threshold per category vs mean drafter entropy: {pairs}; {why}"}

    # H3: relative entropy increase is more robust (better worst category) than the absolute threshold.
    statement = "Relative entropy increase is more robust than absolute threshold"
    rel, ab = _best_overall(cond, _rule_variants(cond, "entropy-rel")), _best_overall(cond, _rule_variants(
        cond, "entropy-abs"))
    if rel is None or ab is None:
        out["H3"] = {"statement": statement, "verdict": "not testable",
                     "evidence": "needs both entropy-rel and entropy-abs policies and a fixed-k baseline"}
    else:
        def profile(v):
            values = [res[v][c]["speedup_vs_best_fixed_k"]["mean"] for c in cats if c in res[v]]
            return min(values), float(np.std(values))
        (rel_min, rel_sd), (abs_min, abs_sd) = profile(rel), profile(ab)
        verdict = ("supported" if rel_min > abs_min and rel_sd <= abs_sd else
                   "not supported" if rel_min < abs_min and rel_sd >= abs_sd else "inconclusive")
        out["H3"] = {"statement": statement, "verdict": verdict,
                     "evidence": (f"ratio to the best fixed-k across categories: {rel} worst {rel_min:.3f}, sd "
                                  f"{rel_sd:.3f}; {ab} worst {abs_min:.3f}, sd {abs_sd:.3f} (robust = higher worst "
                                  f"case and lower spread)")}

    # H4: combined criteria beat the best single criterion.
    statement = "Combined criteria outperform single criterion"
    combined = _best_overall(cond, _rule_variants(cond, "combined"))
    singles = [v for v in cond["variants"] if cond["families"][v] == "ebsd"
               and policy_name(v) in ("entropy-abs", "entropy-rel", "entropy-window", "entropy-pos")]
    single = _best_overall(cond, singles)
    if combined is None or single is None:
        out["H4"] = {"statement": statement, "verdict": "not testable",
                     "evidence": "needs a combined policy and at least one single entropy rule"}
    else:
        ratios = [_paired(tps[combined][c], tps[single][c]) for c in cats]
        verdict, above, below = _verdict_from_ratios(ratios)
        overall = _paired({u: x for c in cats for u, x in tps[combined][c].items()},
                          {u: x for c in cats for u, x in tps[single][c].items()})
        out["H4"] = {"statement": statement, "verdict": verdict,
                     "evidence": (f"{combined} vs the best single rule {single}: paired ratio {overall['mean']:.3f} "
                                  f"(95% CI {_ci(overall['ci'])}); CI above 1 in {above}/{len(cats)} categories, "
                                  f"below 1 in {below}/{len(cats)}")}
    return out


def _ci(ci) -> str:
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]" if all(np.isfinite(ci)) else "n/a"


SPEED_CRITERION = ">10% speedup over the best fixed-k on at least 50% of tasks"
ACCEPTANCE_CRITERION = "Acceptance rate within 10% of fixed-k"


def _speed_rule(categories: int) -> str:
    need = f" (here >= {math.ceil(TARGET_SHARE * categories)} of {categories})" if categories else ""
    return (f"met if the chosen EBSD policy's paired ratio to the category's best fixed-k is >= {TARGET_GAIN:.2f}x "
            f"in at least {TARGET_SHARE:.0%} of the categories{need}")


def _acceptance_rule(categories: int) -> str:
    every = f" (here {categories} of {categories})" if categories else ""
    return (f"met if the chosen EBSD policy's acceptance rate is >= {ACCEPTANCE_TOLERANCE:g} x the best fixed-k's "
            f"in every category{every}")


def success_criteria(cond: dict) -> list[dict]:
    """The project's success criteria, each with the rule that decides `met` (stated, so that a count beside
    "not met" can be read against it) and the figures the rule was applied to."""
    res, cats = cond["results"], cond["categories"]
    chosen = cond["chosen_ebsd"]
    rows = []
    if chosen:
        gains = {c: cond["comparisons"][c]["chosen_ebsd"]["mean"] for c in cats
                 if "chosen_ebsd" in cond["comparisons"][c]}
        hits = [c for c, g in gains.items() if g >= TARGET_GAIN]
        best_hits = [c for c in cats if cond["comparisons"][c].get("best_ebsd", {}).get("mean", 0) >= TARGET_GAIN]
        rows.append({"criterion": SPEED_CRITERION, "rule": _speed_rule(len(gains)),
                     "met": len(hits) >= TARGET_SHARE * len(gains) and bool(gains),
                     "figures": (f"{chosen} (one policy for all categories): >=1.10x in {len(hits)}/{len(gains)} "
                                 f"categories ({', '.join(f'{c} {g:.2f}x' for c, g in gains.items())}); best EBSD "
                                 f"policy picked per category (optimistic, picked on the same data): "
                                 f"{len(best_hits)}/{len(cats)}")})
        fixed_acc = [res[cond["best_fixed_k"][c]][c]["acceptance_rate"] for c in cats if cond["best_fixed_k"][c]]
        ebsd_acc = [res[chosen][c]["acceptance_rate"] for c in cats if cond["best_fixed_k"][c]]
        within = [e >= ACCEPTANCE_TOLERANCE * f for e, f in zip(ebsd_acc, fixed_acc, strict=True)]
        rows.append({"criterion": ACCEPTANCE_CRITERION, "rule": _acceptance_rule(len(within)),
                     "met": bool(within) and all(within),
                     "figures": f"{chosen} acceptance >= 0.9 x best fixed-k's in {sum(within)}/{len(within)} "
                                f"categories (overall {res[chosen]['all']['acceptance_rate']:.3f})"})
    else:
        rows.append({"criterion": SPEED_CRITERION, "rule": _speed_rule(len(cats)), "met": None,
                     "figures": "not testable: needs an entropy-based policy and a fixed-k baseline"})
        rows.append({"criterion": ACCEPTANCE_CRITERION, "rule": _acceptance_rule(len(cats)), "met": None,
                     "figures": "not testable"})
    identical = {v: res[v]["all"].get("identical_to_verifier") for v in cond["variants"]
                 if "identical_to_verifier" in res[v].get("all", {})}
    ppl = {v: res[v]["all"]["ppl_diff_vs_verifier"] for v in cond["variants"]
           if "ppl_diff_vs_verifier" in res[v].get("all", {}) and cond["families"][v] != "verifier"}
    if ppl:
        ok = [v for v, d in ppl.items() if np.isfinite(d["ci"][0]) and d["ci"][0] <= 0 <= d["ci"][1]]
        rows.append({"criterion": "No quality degradation (same perplexity)",
                     "rule": f"met if the 95% CI of the verifier-perplexity difference to the verifier alone contains "
                             f"0 for every policy (here {len(ppl)} of {len(ppl)})",
                     "met": len(ok) == len(ppl),
                     "figures": f"verifier-perplexity difference to the verifier alone has a 95% CI containing 0 "
                                f"for {len(ok)}/{len(ppl)} policies"})
    elif identical:
        worst = min(identical.values())
        rows.append({"criterion": "No quality degradation (greedy output identical to the verifier's)",
                     "rule": f"met if every policy's greedy output equals the verifier alone's on every prompt (share "
                             f"1.000 for {len(identical)} of {len(identical)} policies)",
                     "met": worst == 1.0,
                     "figures": f"lowest share of outputs identical to the verifier alone: {worst:.3f} "
                                f"({sum(1 for x in identical.values() if x == 1.0)}/{len(identical)} policies at 1.0)"})
    else:
        rows.append({"criterion": "No quality degradation",
                     "rule": "met if every policy's output matches the verifier alone's (greedy) or keeps its "
                             "perplexity (sampling)", "met": None,
                     "figures": "not testable: needs the verifier-alone reference (no-spec)"})
    rows.append({"criterion": "Robust across different model pairs",
                 "rule": "met if the conclusions hold on a second drafter/verifier pair; one run measures one pair",
                 "met": None, "figures": "one pair per run: rerun with --drafter/--verifier and compare the reports"})
    return rows


def failure_modes(cond: dict, rows: list[dict], tps: dict) -> dict:
    res, cats = cond["results"], cond["categories"]
    out = {"losing_categories": [], "slower_than_verifier": [], "drafting": [], "worst_prompts": []}
    for c in cats:
        comp = cond["comparisons"][c].get("chosen_ebsd")
        if comp and comp["mean"] < 1.0:
            rel = cond["entropy_acceptance"]["by_category"][c]
            out["losing_categories"].append({
                "category": c, "ratio": comp["mean"], "ci": comp["ci"], "best_fixed_k": cond["best_fixed_k"][c],
                "mean_entropy": rel["mean_entropy"], "auroc": rel["auroc"],
                "acceptance_rate": res[comp["variant"]][c]["acceptance_rate"]})
    for v in cond["variants"]:
        if cond["families"][v] in ("verifier",):
            continue
        s = res[v]["all"].get("speedup_vs_verifier")
        if s and s["mean"] < 1.0:
            vrows = [r for r in rows if r["variant"] == v]
            draft = sum(r["stats"].get("draft_s", 0.0) for r in vrows)
            decode = sum(r["stats"]["decode_s"] for r in vrows)  # decisions included
            out["slower_than_verifier"].append({"variant": v, "speedup": s["mean"],
                                                "draft_share": draft / decode if decode else float("nan")})
        if cond["families"][v] == "ebsd":
            blocks = [b for r in rows if r["variant"] == v for b in r.get("blocks", [])]
            drafted = sum(b["drafted"] for b in blocks)
            wasted = sum(b["drafted"] - b["accepted"] for b in blocks)
            full = sum(1 for b in blocks if b["drafted"] and b["accepted"] == b["drafted"])
            out["drafting"].append({"variant": v, "wasted_draft_share": wasted / drafted if drafted else float("nan"),
                                    "fully_accepted_block_share": full / len(blocks) if blocks else float("nan")})
    chosen = cond["chosen_ebsd"]
    if chosen:
        losses = []
        for c in cats:
            base = cond["best_fixed_k"].get(c)
            if base:
                for u, x in tps[chosen][c].items():
                    if u in tps[base][c] and _rate(tps[base][c][u]) > 0:
                        losses.append({"prompt_id": u[0], "seed": u[1], "category": c,
                                       "ratio": _rate(x) / _rate(tps[base][c][u])})
        out["worst_prompts"] = sorted(losses, key=lambda d: d["ratio"])[:5]
    return out


def summarize(rows: list[dict], meta: dict) -> dict:
    """The whole ``summary.json``: one analysis per (temperature, max_new_tokens) condition."""
    flops = meta.get("flops_per_token", {})
    conditions = {}
    for (temperature, max_new), group in sorted(_by(rows, lambda r: (r["temperature"], r["max_new_tokens"])).items()):
        conditions[_condition_label(temperature, max_new)] = {
            "temperature": temperature, "max_new_tokens": max_new, **analyse_condition(group, flops)}
    return {"meta": meta, "episodes": len(rows), "conditions": conditions}


