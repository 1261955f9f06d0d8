"""The verdict's report: its tables, its performance-profile plot and report.md, from ``verdict.json``.

`eval.verdict report` writes them; `eval.docs` renders the same tables into the docs from the committed
``verdict.json`` (verdicts written before validation prompts existed included: their tables say what was chosen
on what).
"""

from __future__ import annotations

from pathlib import Path

GOAL_VS_STATIC, GOAL_VS_ORACLE = 1.15, 0.9


def training_table(verdict: dict) -> str:
    lines = ["| run | drafter | steps | wall time (s) | held-in × verifier | held-in × best fixed-k | "
             "within 0.5 % of its best at step |", "|---|---|---|---|---|---|---|"]
    for row in verdict["training"]:
        lines.append(f"| {row['variant']} seed {row['seed']} | {row['drafter']} | {row['steps']:,} | "
                     f"{row['wall_s']:.0f} | {row['held_in_vs_verifier']:.3f} | {row['held_in_vs_best_fixed_k']:.3f} | "
                     f"{row['plateau_step']:,} |")
    return "\n".join(lines).replace(",", " ")


def live_curve_table(verdict: dict) -> str:
    lines = ["| run | step | live × verifier | live × best fixed-k |", "|---|---|---|---|"]
    for row in verdict["training"]:
        for point in row.get("live", []):
            lines.append(f"| {row['variant']} seed {row['seed']} | {point['step']:,} | "
                         f"{point['speedup_vs_verifier']:.2f} | {point['speedup_vs_best_fixed_k']:.2f} |"
                         .replace(",", " "))
    return "\n".join(lines)


def plot_profiles(verdict: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ebsd_env.io import save_atomic

    taus = verdict["performance_profile"]["taus"]
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, fractions in verdict["performance_profile"]["fractions"].items():
        style = "-" if label.startswith("ppo") else ("--" if label.startswith("tuned") else ":")
        ax.plot(taus, fractions, style, label=label)
    ax.set_xlabel("speedup over the verifier alone, per prompt (tau)")
    ax.set_ylabel("fraction of prompts with speedup > tau")
    ax.set_title("Performance profiles, live verdict (wall clock)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    save_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)


def main_table(verdict: dict) -> str:
    """Every live policy: objective, speedup with its CI, IQM with its CI, speedup per category."""
    rows, cats = verdict["rows"], list(verdict["per_category"])
    lines = ["| policy | tokens/s | × verifier [95 % CI] | IQM of per-prompt speedups [95 % CI] | "
             + " | ".join(cats) + " |", "|---|---|---|---|" + "---|" * len(cats)]
    for label in sorted(rows, key=lambda label: -rows[label]["tokens_per_s"]):
        row, agg = rows[label], verdict["aggregates"][label]
        ci = row["vs_verifier"]["ci"]
        lines.append(f"| {label} | {row['tokens_per_s']:.1f} | {row['vs_verifier']['mean']:.2f} "
                     f"[{ci[0]:.2f}, {ci[1]:.2f}] | {agg['iqm']:.2f} [{agg['iqm_ci'][0]:.2f}, {agg['iqm_ci'][1]:.2f}]"
                     " | " + " | ".join(f"{row['per_category'][c]['vs_verifier']:.2f}" for c in cats) + " |")
    return "\n".join(lines)


def category_table(verdict: dict) -> str:
    """Per category: the best static and best tuned policy chosen on validation, the best learned against them;
    beside them the best static in hindsight (chosen on the test prompts). A verdict written before validation
    prompts existed chose everything on its test prompts: its header says so."""
    hindsight = all("best_static_hindsight" in v for v in verdict["per_category"].values())
    where = "chosen on validation" if hindsight else "chosen on these test prompts"
    lines = [f"| category | prompts | best static ({where}) | best learned / best static | best tuned rule ({where}) "
             "| best learned / best tuned |" + (" best static in hindsight (test) | best learned / it |"
                                                  if hindsight else ""),
             "|---|---|---|---|---|---|" + ("---|---|" if hindsight else "")]
    for c, v in verdict["per_category"].items():
        lines.append(f"| {c} | {v['prompts']} | {v['best_static']} | {v['learned_vs_best_static']:.3f} | "
                     f"{v['best_tuned']} | {v['learned_vs_best_tuned']:.3f} |"
                     + (f" {v['best_static_hindsight']} | {v['learned_vs_best_static_hindsight']:.3f} |"
                        if hindsight else ""))
    return "\n".join(lines)


def selection_list(verdict: dict) -> str:
    """Which prompts were used for what, and what was chosen on the validation prompts."""
    selection = verdict.get("selection")
    if selection is None:
        return "- every choice was made on the test prompts (a verdict written before validation prompts existed)"
    choices = selection["choices"]
    return "\n".join([
        *(f"- {name}: {selection[name]['prompts']} prompts: {selection[name]['used_for']}"
          for name in ("train", "validation", "test")),
        "- chosen on validation: best learned **{}**, best tuned **{}**; PPO seeds {}; tuned rules {}; best static "
        "per category {}".format(
            choices["best_learned"], choices["best_tuned"],
            ", ".join(f"{v} {s}" for v, s in choices["ppo_seeds"].items()) or "none",
            ", ".join(f"{f} {r}" for f, r in choices["tuned_rules"].items()) or "none",
            ", ".join(f"{c} {s}" for c, s in choices["best_static"].items()))])


def improvement_list(verdict: dict) -> str:
    return "\n".join(f"- {label}: {v['p']:.2f} [{v['ci'][0]:.2f}, {v['ci'][1]:.2f}]"
                     for label, v in verdict["probability_of_improvement"].items())


def shares_table(verdict: dict) -> str:
    shares = verdict["replay"]["shares"]
    return "\n".join(["| policy | share of oracle-dp |", "|---|---|"]
                     + [f"| {label} | {share:.3f} |" for label, share in shares.items()])


def variants_table(verdict: dict) -> str:
    chosen_on = "validation" if "selection" in verdict else "held-in"
    lines = [f"| variant | share of oracle-dp per seed | mean [95 % CI] | chosen seed ({chosen_on}) | its share |",
             "|---|---|---|---|---|"]
    for variant, v in verdict["replay"]["variants"].items():
        seeds = ", ".join(f"{s}: {x:.3f}" for s, x in v["seeds"].items())
        lines.append(f"| {variant} | {seeds} | {v['mean']:.3f} [{v['ci'][0]:.3f}, {v['ci'][1]:.3f}] | "
                     f"{v['chosen_seed']} | {v['best_seed_share']:.3f} |")
    return "\n".join(lines)


def headroom_table(verdict: dict) -> str:
    """Replay of the verdict traces: per category, what oracle-dp, the best PPO run and the best tuned rule get
    over the best static policy (oracle-dp's ratio is the ceiling of any stopping policy on this clock)."""
    lines = ["| category | best static (replay, in hindsight) | oracle-dp / best static | best PPO run / best static | "
             "best tuned rule / best static |", "|---|---|---|---|---|"]
    for c, v in verdict["replay"]["headroom"].items():
        def cell(x):
            return "–" if x is None else f"{x:.3f}"
        lines.append(f"| {c} | {v['best_static']} | {v['oracle_vs_best_static']:.3f} | "
                     f"{cell(v['best_ppo_vs_best_static'])} | {cell(v['best_tuned_vs_best_static'])} |")
    return "\n".join(lines)


def goals_list(verdict: dict) -> str:
    goals = verdict["goals"]
    return "\n".join([
        f"- best learned / best static ≥ {GOAL_VS_STATIC} in every category: {goals['categories_at_goal']} of "
        f"{goals['categories']} categories (lowest {goals['learned_vs_best_static_min']:.3f})",
        f"- best learned / oracle-dp ≥ {GOAL_VS_ORACLE}: {goals['learned_share_of_oracle_dp']:.3f} (replay of the "
        "verdict traces, model clock)",
        f"- best learned ≥ best tuned rule overall: {goals['learned_vs_best_tuned_overall']:.3f}; in "
        f"{goals['categories_learned_beats_tuned']} of {goals['categories']} categories"])


def render(verdict: dict) -> str:
    replay_summary = verdict["replay"]
    return "\n".join([
        "# The verdict: learned vs hand-made stopping policies, live on held-out prompts", "",
        f"{verdict['prompts']} prompts nothing learned from ("
        + ", ".join(f"{c} {n}" for c, n in verdict["prompts_per_category"].items())
        + f"), {verdict['max_new_tokens']} tokens, greedy, wall clock, {verdict['threads']} threads, load "
        f"{verdict['machine']['load_1min']:.2f} at the end. Speedup: the objective (total tokens / total decoding "
        "time) over the verifier alone's on the same prompts, 95 % paired bootstrap CI.", "",
        main_table(verdict), "",
        f"Best learned policy: **{verdict['best_learned']}**; best tuned rule: **{verdict['best_tuned']}** ("
        + ("both chosen on the validation prompts" if "selection" in verdict else "both by their live objective")
        + ").", "", "Selection (which prompts were used for what):", "", selection_list(verdict), "",
        category_table(verdict), "",
        f"Probability that {verdict['best_learned']} is faster on a prompt than each other policy (rliable's "
        "P(X > Y), 95 % bootstrap CI):", "", improvement_list(verdict), "",
        "Share of oracle-dp on the test traces (replay, model clock; oracle-dp "
        f"{replay_summary['oracle_dp_tokens_per_s']:.1f} tokens/s in {replay_summary['oracle_dp_stop_mode']} "
        "mode):", "", shares_table(verdict), "",
        "PPO variants over seeds (share of oracle-dp on the test traces; mean and 95 % t interval over seeds):",
        "", variants_table(verdict), "", "Training runs (held-in replay evaluations):", "",
        training_table(verdict), "", "Periodic live evaluations during training (wall clock):", "",
        live_curve_table(verdict), "", "Headroom (replay of the test traces, same clock):", "",
        headroom_table(verdict), "", "Goals:", "", goals_list(verdict), ""])
