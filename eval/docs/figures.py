"""`FIGURES`: every figure the docs may mark, by name, with the result file it comes from and its formatter."""

from __future__ import annotations

from .benches import (
    bench_env_table,
    overhead_goal,
    overhead_table,
    ray_record_projection,
    ray_record_summary,
    ray_tune_table,
    replay_rates,
    runner_attention_table,
)
from .drafters import (
    agreement_goal,
    bench_baseline,
    bench_drafters_table,
    best_fixed_k,
    best_policy,
    card_figures,
    cost_goal,
    drafters_table,
    fastest_drafter,
    forward_cost_ratio,
    goal_best_fixed_k,
    goal_best_fixed_k_eval,
    goal_int4,
    heldout_of,
    speedup_by_k,
    speedup_goal,
    transformers_best,
    ttt_table,
    v1_v2_table,
    weakest_categories,
)
from .runs import (
    category_table,
    clock_validation,
    cost_ratio,
    entropy_auroc,
    goal_best_fixed_k_default,
    goal_paying,
    overall,
    profile_replay_table,
    speedup,
    stop_mode_table,
    transfer_table,
)
from .sources import (
    BENCH_DRAFTERS,
    BENCH_ENV,
    BENCH_FEATURE,
    BENCH_RAY_RECORD,
    BENCH_RAY_TUNE,
    DISTILL_TTT,
    DISTILL_V2,
    DRAFTER_CARD,
    EVAL_DEFAULT,
    EVAL_DRAFTERS,
    EVAL_FEATURE,
    FEATURE_CARD,
    MULTI_LIVE,
    MULTI_REPLAY,
    PPO_VS_LONG_K,
    PPO_VS_LONG_K_1T,
    REPLAY_PPO,
    REPLAY_VALIDATION,
    RUNNER_ATTENTION,
    STOP_MODE,
    TRANSFER,
    TRANSFER_CELLS,
    TRANSFER_REPLAY,
    Figure,
    grouped,
)
from .verdict_figures import verdict_figures


def _transfer_cells(result: dict) -> str:
    from eval.transfer import cells_table

    return cells_table(result)


def _rate_ratio(summary: dict, static: str, policy: str = "ppo:policies/trained/ppo_multi.zip") -> str:
    """The shipped multi-drafter policy's rate over a static policy's, in one run."""
    return f"{overall(summary, policy)['tokens_per_s']['mean'] / overall(summary, static)['tokens_per_s']['mean']:.2f}×"


FIGURES: dict[str, Figure] = {
    # v1 (`distilled`, the first shipped feature drafter): its training run's held-out evaluation, kept in its
    # config.json.
    **card_figures("drafter", DRAFTER_CARD),
    # v2 (`feature`): its card, and the run that made it, warm-started from v1 (docs/results/distill-v2).
    **card_figures("feature-v2", FEATURE_CARD, "α, draft token 2"),
    "feature-v2.agreement_by_step": Figure(FEATURE_CARD, lambda card: " / ".join(
        f"{v:.3f}" for v in heldout_of(card)["agreement_by_step"])),
    "distill-v2.table": Figure(DISTILL_V2, lambda run: ttt_table(run, "v1, the warm start")),
    "distill-v2.categories": Figure(DISTILL_V2, v1_v2_table),
    "bench-feature.table": Figure(BENCH_FEATURE, bench_drafters_table),
    "bench-feature.by_k": Figure(BENCH_FEATURE, speedup_by_k),
    "eval-feature.table": Figure(EVAL_FEATURE, drafters_table),
    # Issue 23's transfer check: the PPO policies on the 2-core AMD EPYC, held-out test prompts, one thread.
    "transfer.table": Figure(TRANSFER, lambda summary: transfer_table(summary, {
        "runs/t23/ppo/EBSD-Replay-v1__t23-costaware__1__1796457318/model.zip": "policies/trained/ppo_costaware.zip"})),
    "transfer.replay": Figure(TRANSFER_REPLAY, profile_replay_table),
    # Its replay half: every (category, profile) cell, held-out categories and cost profiles (eval.transfer).
    "transfer.cells": Figure(TRANSFER_CELLS, lambda result: "\n" + _transfer_cells(result) + "\n"),
    "transfer.cells_goals": Figure(TRANSFER_CELLS, lambda result: (lambda g: (
        f"{g['floor met']} of {g['held_out_cells']} (worst {g['worst vs max(verifier, static on training)']:.3f}); "
        f"≥ 0.95 × the verifier alone in {g['verifier floor met']} of {g['held_out_cells']} (worst "
        f"{g['worst vs verifier alone']:.3f}); averaged, best learned / static chosen on training "
        f"{g['mean vs static on training']:.3f}× (goal 1.05: {'met' if g['mean gain met'] else 'missed'})"))(
        result["goals"])),
    # Issue 24: the multi-drafter PPO policy, chosen on validation traces and run live on the test prompts.
    "multi.replay": Figure(MULTI_REPLAY, lambda result: profile_replay_table(
        {"validation traces (multi replay)": result["validation_tokens_per_s"]})),
    "multi.live": Figure(MULTI_LIVE, lambda summary: transfer_table(summary, {
        "runs/t24/ppo/EBSD-Multi-Replay-v1__t24-multi__1__1796459660/model.zip": "policies/trained/ppo_multi.zip"})),
    "bench-feature.baseline": Figure(BENCH_FEATURE, bench_baseline),
    "bench-feature.load": Figure(BENCH_FEATURE, lambda report: (
        f"{report['machine']['load_1min']:.2f} before, {report['machine_after']['load_1min']:.2f} after")),
    **{f"bench-feature.{name}.best": Figure(BENCH_FEATURE, lambda report, name=name: best_fixed_k(report, name))
       for name in ("feature", "distilled")},
    # A first training-time-test run warm-started from v1 (docs/results/distill-ttt, not shipped).
    "distill-ttt.table": Figure(DISTILL_TTT, ttt_table),
    "distill-ttt.run": Figure(DISTILL_TTT, lambda run: (
        f"{run['history'][-1]['step']:,} steps, {run['history'][-1]['train_seconds']:.0f} s of training on "
        f"{run['train_records']:,} records ({run['train_positions']:,} positions)")),
    # The default `ebsd eval` run (docs/results/eval-default): the default drafter (int4 on the CPU).
    "eval-default.cost_ratio": Figure(EVAL_DEFAULT, cost_ratio),
    "eval-default.prompts": Figure(EVAL_DEFAULT, lambda summary: str(summary["meta"]["prompts"])),
    "eval-default.drafter": Figure(EVAL_DEFAULT, lambda summary: f"`{summary['meta']['drafter']}`"),
    "eval-default.category_table": Figure(EVAL_DEFAULT, category_table),
    "eval-default.entropy-abs-1.5.vs_verifier": speedup("entropy-abs:theta=1.5"),
    "eval-default.entropy-abs-1.5.vs_best_fixed_k": speedup("entropy-abs:theta=1.5", "speedup_vs_best_fixed_k"),
    "eval-default.fixed-k-8.vs_verifier": speedup("fixed-k:k=8"),
    "eval-default.oracle-first-reject.vs_verifier": speedup("oracle-first-reject"),
    "eval-default.ppo-multi.vs_verifier": speedup("ppo:policies/trained/ppo_multi.zip"),
    "eval-default.ppo-multi.vs_best_fixed_k": Figure(EVAL_DEFAULT, lambda summary: (lambda row: (
        f"{row['mean']:.2f}× [{row['ci'][0]:.2f}, {row['ci'][1]:.2f}]"))(
        overall(summary, "ppo:policies/trained/ppo_multi.zip")["speedup_vs_best_fixed_k"])),
    "ppo-vs-long-k.vs_k16": Figure(PPO_VS_LONG_K, lambda summary: _rate_ratio(summary, "fixed-k:k=16")),
    "ppo-vs-long-k.vs_k16_1t": Figure(PPO_VS_LONG_K_1T, lambda summary: _rate_ratio(
        summary, "multi-static:drafter=int4,k=16")),
    "eval-default.multi-cascade.vs_verifier": speedup("multi-cascade"),
    "eval-default.verifier_tokens_per_s": Figure(
        EVAL_DEFAULT, lambda summary: f"{overall(summary, 'no-spec')['tokens_per_s']['mean']:.1f}"),
    # Drafters side by side: `ebsd bench decoder --drafters` and `ebsd eval --drafters` (docs/results/*-drafters).
    "bench-drafters.table": Figure(BENCH_DRAFTERS, bench_drafters_table),
    "goals.best_fixed_k": Figure(BENCH_DRAFTERS, goal_best_fixed_k),
    "goals.int4": Figure(BENCH_DRAFTERS, goal_int4),
    "goals.best_fixed_k_eval": Figure(EVAL_DRAFTERS, goal_best_fixed_k_eval),
    "goals.best_fixed_k_default": Figure(EVAL_DEFAULT, goal_best_fixed_k_default),
    "goals.feature_alpha": Figure(DISTILL_V2, lambda run: (
        f"{run['history'][-1]['agreement']:.3f} (v2, shipped as `feature`); v1 {run['history'][0]['agreement']:.3f} | "
        f"{'yes' if run['history'][-1]['agreement'] >= 0.55 else 'no'}")),
    "goals.default_eval_paying": Figure(EVAL_DEFAULT, goal_paying),
    "bench-drafters.baseline": Figure(BENCH_DRAFTERS, bench_baseline),
    "bench-drafters.transformers_best": Figure(BENCH_DRAFTERS, transformers_best),
    "eval-drafters.table": Figure(EVAL_DRAFTERS, drafters_table),
    "eval-drafters.distilled.best": Figure(EVAL_DRAFTERS, lambda comparison: best_policy(comparison, "distilled")),
    "eval-feature.feature.best": Figure(EVAL_FEATURE, lambda comparison: best_policy(comparison, "feature")),
    "bench-drafters.distilled.cost_ratio": Figure(
        BENCH_DRAFTERS, lambda report: f"{forward_cost_ratio(report['drafters']['distilled']):.3f}"),
    "bench-drafters.distilled.best": Figure(BENCH_DRAFTERS, lambda report: best_fixed_k(report, "distilled")),
    "bench-env.table": Figure(BENCH_ENV, bench_env_table),
    "bench-env.load": Figure(BENCH_ENV, lambda report: f"{report['machine']['load_1min']:.2f}"),
    # Replay against the live env on the embedded pair (`python -m eval.replay_validate`) and PPO on replay.
    "replay.validate.differ": Figure(
        REPLAY_VALIDATION, lambda result: f"{result['differ']} of {result['episodes']}"),
    "replay.validate.max_obs_deviation": Figure(
        REPLAY_VALIDATION, lambda result: f"{result['max_obs_deviation']:.1e}"),
    "replay.ppo.steps": Figure(REPLAY_PPO, lambda record: grouped(record['steps'])),
    "replay.ppo.wall_s": Figure(REPLAY_PPO, lambda record: f"{record['wall_s']:.1f}"),
    "replay.ppo.steps_per_s": Figure(REPLAY_PPO, lambda record: grouped(round(record['steps'] / record['wall_s']))),
    "replay.ppo.vs_verifier": Figure(
        REPLAY_PPO, lambda record: f"{record['best_eval']['speedup_vs_verifier']:.2f}x"),
    "replay.ppo.vs_best_fixed_k": Figure(
        REPLAY_PPO, lambda record: f"{record['best_eval']['speedup_vs_best_fixed_k']:.2f}x"),
    # Ray (`python -m eval.bench.ray_cluster`): the recording cost behind the Spec-Bench projection, 1 vs 2 sweep
    # workers.
    "ray.record.summary": Figure(BENCH_RAY_RECORD, ray_record_summary),
    "ray.record.projection": Figure(BENCH_RAY_RECORD, ray_record_projection),
    "ray.tune.table": Figure(BENCH_RAY_TUNE, ray_tune_table),
    "ray.tune.speedup": Figure(BENCH_RAY_TUNE, lambda result: f"{result['speedup']:.2f}×"),
    "eval-drafters.fastest": Figure(EVAL_DRAFTERS, lambda comparison: str(fastest_drafter(comparison["drafters"]))),
    # The stop-mode ablation that chose the env's default stop mode (docs/results/stop-mode).
    "stop-mode.table": Figure(STOP_MODE, stop_mode_table),
    "stop-mode.verifier_tokens_per_s": Figure(
        STOP_MODE, lambda summary: f"{overall(summary, 'no-spec')['tokens_per_s']['mean']:.1f}"),
    "stop-mode.fixed-k-1.vs_verifier": speedup("fixed-k:k=1", source=STOP_MODE),
    "stop-mode.fixed-k-2.vs_verifier": speedup("fixed-k:k=2", source=STOP_MODE),
    # The verdict: learned vs hand-made stopping policies (`python -m eval.verdict report`).
    **verdict_figures(),
    # --- docs/drafter.md: the shipped drafter's training run (its config.json) and the drafters bench. ---
    "drafter.agreement_own": Figure(DRAFTER_CARD, lambda card: f"{heldout_of(card)['agreement_own']:.2f}"),
    "drafter.agreement.weakest": Figure(DRAFTER_CARD, weakest_categories),
    "drafter.goal.agreement": Figure(DRAFTER_CARD, agreement_goal),
    "bench-drafters.int4.cost_ratio": Figure(
        BENCH_DRAFTERS, lambda report: f"{forward_cost_ratio(report['drafters']['int4']):.2f}"),
    "bench-drafters.int8.cost_ratio": Figure(
        BENCH_DRAFTERS, lambda report: f"{forward_cost_ratio(report['drafters']['int8']):.2f}"),
    "bench-drafters.goal.cost": Figure(BENCH_DRAFTERS, cost_goal),
    "bench-drafters.goal.speedup": Figure(BENCH_DRAFTERS, speedup_goal),
    "bench-drafters.load": Figure(BENCH_DRAFTERS, lambda report: f"{report['machine']['load_1min']:.1f}"),
    # --- docs/env.md, docs/replay.md and the README: figures of the env, its clock and replay, each from the run
    # that measured it (bench-env: `ebsd bench env --backend live replay`; the default eval and stop-mode runs). ---
    "eval-default.clock_validation": Figure(EVAL_DEFAULT, clock_validation),
    "stop-mode.setup": Figure(STOP_MODE, lambda summary: (
        f"{summary['meta']['prompts']} held-out prompts, interleaved, {summary['meta']['config']['clock']} clock, "
        f"{summary['meta']['torch_threads']} threads, on the {summary['meta']['cpu_count']}-core development machine")),
    "stop-mode.entropy_auroc": Figure(STOP_MODE, entropy_auroc),
    "bench-env.overhead_table": Figure(BENCH_ENV, overhead_table),
    "bench-env.overhead_goal": Figure(BENCH_ENV, overhead_goal),
    "bench-env.replay_rates": Figure(BENCH_ENV, replay_rates),
    "int4-attention.table": Figure(RUNNER_ATTENTION, runner_attention_table),
    "bench-drafters.int8.record_cost": Figure(  # one verifier step and up to 16 drafter steps per output token
        BENCH_DRAFTERS, lambda report: f"{1 + 16 * forward_cost_ratio(report['drafters']['int8']):.0f}x"),
}
