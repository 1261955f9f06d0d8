"""Figures of the verdict (`python -m eval.verdict report`), from ``verdict.json``: its tables, as the verdict's
report renders them, and its headline numbers."""

from __future__ import annotations

from collections.abc import Callable

from .sources import VERDICT, Figure


def _span(values) -> tuple[float, float]:
    values = list(values)
    return min(values), max(values)


def verdict_figures() -> dict[str, Figure]:
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
