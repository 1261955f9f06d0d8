"""Figures of the verdict (`python -m eval.verdict report`), from ``verdict.json``: its tables, as the verdict's
report renders them, and its headline numbers."""

from __future__ import annotations

from collections.abc import Callable

from .sources import VERDICT, VERDICT_INT4, VERDICT_INT4_ZEN3, Figure


def _span(values) -> tuple[float, float]:
    values = list(values)
    return min(values), max(values)


def verdict_figures() -> dict[str, Figure]:
    """The first verdict's figures (feature drafter v1), the rerun's on the int4 copy (`verdict_int4.*`) and that
    rerun's repeat on the Zen 3 EPYC with the validated clock and exact replay (`verdict_zen3.*`)."""
    return {**_verdict_figures("verdict", VERDICT), **_verdict_figures("verdict_int4", VERDICT_INT4, first=False),
            **_verdict_figures("verdict_zen3", VERDICT_INT4_ZEN3, first=False)}


def _verdict_figures(prefix: str, source: str, first: bool = True) -> dict[str, Figure]:
    """The figures of one verdict.json, named PREFIX.NAME; `first` adds those only the first verdict has (its
    variants' means, another drafter's runs)."""
    from eval import verdict as v

    def block(render: Callable[[dict], str]) -> Callable[[dict], str]:
        return lambda result: "\n" + render(result) + "\n"

    def speedup(label_key: str) -> Callable[[dict], str]:
        def render(result: dict) -> str:
            row = result["rows"][result[label_key]]["vs_verifier"]
            return f"{row['mean']:.2f}x [{row['ci'][0]:.2f}, {row['ci'][1]:.2f}]"
        return render

    figures = {
        f"{prefix}.main_table": Figure(source, block(v.main_table)),
        f"{prefix}.category_table": Figure(source, block(v.category_table)),
        f"{prefix}.improvement": Figure(source, block(v.improvement_list)),
        f"{prefix}.shares_table": Figure(source, block(v.shares_table)),
        f"{prefix}.variants_table": Figure(source, block(v.variants_table)),
        f"{prefix}.goals": Figure(source, block(v.goals_list)),
        f"{prefix}.headroom_table": Figure(source, block(v.headroom_table)),
        f"{prefix}.training_table": Figure(source, block(v.training_table)),
        f"{prefix}.prompts": Figure(source, lambda r: str(r["prompts"])),
        f"{prefix}.per_category": Figure(source, lambda r: ", ".join(f"{c} {n}"
                                                                   for c, n in r["prompts_per_category"].items())),
        f"{prefix}.load": Figure(source, lambda r: f"{r['machine']['load_1min']:.2f}"),
        f"{prefix}.best_learned": Figure(source, lambda r: r["best_learned"]),
        f"{prefix}.best_tuned": Figure(source, lambda r: r["best_tuned"]),
        f"{prefix}.best_learned.vs_verifier": Figure(source, speedup("best_learned")),
        f"{prefix}.best_tuned.vs_verifier": Figure(source, speedup("best_tuned")),
        f"{prefix}.learned_vs_tuned": Figure(source, lambda r: f"{r['goals']['learned_vs_best_tuned_overall']:.3f}"),
        f"{prefix}.learned_share_of_oracle_dp": Figure(
            source, lambda r: f"{r['goals']['learned_share_of_oracle_dp']:.3f}"),
        f"{prefix}.headroom_range": Figure(source, lambda r: "{:.2f}–{:.2f}".format(
            *_span(v["oracle_vs_best_static"] for v in r["replay"]["headroom"].values()))),
        f"{prefix}.share.oracle-first-reject": Figure(
            source, lambda r: f"{r['replay']['shares']['oracle-first-reject']:.3f}"),
        f"{prefix}.learned_spread": Figure(source, lambda r: "{:.1f} %".format(100 * (lambda lo, hi: hi / lo - 1)(
            *_span(row["tokens_per_s"] for label, row in r["rows"].items() if label.startswith("ppo "))))),
        f"{prefix}.poi_vs_best_tuned": Figure(source, lambda r: (lambda poi: "{:.2f} [{:.2f}, {:.2f}]".format(
            poi["p"], *poi["ci"]))(r["probability_of_improvement"][r["best_tuned"]])),
        f"{prefix}.ppo_wall_range": Figure(source, lambda r: "{:.0f}–{:.0f}".format(*_span(
            row["wall_s"] for row in r["training"]))),
    }
    if first:
        figures.update({
            f"{prefix}.live_curve_table": Figure(source, block(v.live_curve_table)),
            f"{prefix}.variant_mean.mlp-h8": Figure(
                source, lambda r: f"{r['replay']['variants']['mlp-h8']['mean']:.3f}"),
            f"{prefix}.variant_mean.ltd": Figure(source, lambda r: f"{r['replay']['variants']['ltd']['mean']:.3f}"),
            f"{prefix}.variant_mean.ltd-entropy": Figure(
                source, lambda r: f"{r['replay']['variants']['ltd-entropy']['mean']:.3f}"),
            f"{prefix}.plateau_range.entropy": Figure(source, lambda r: "{:,}–{:,}".format(*_span(
                row["plateau_step"] for row in r["training"] if row["variant"].startswith("mlp") and
                row["drafter"] == "distilled")).replace(",", " ")),
            f"{prefix}.ngram_vs_best_fixed_k": Figure(source, lambda r: "{:.3f}".format(max(
                row["held_in_vs_best_fixed_k"] for row in r["training"] if row["drafter"] == "ngram"))),
            f"{prefix}.distilled_vs_best_fixed_k": Figure(source, lambda r: "{:.3f}".format(max(
                row["held_in_vs_best_fixed_k"] for row in r["training"] if row["drafter"] == "distilled"))),
        })
    return figures
