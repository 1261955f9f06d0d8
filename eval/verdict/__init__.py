"""The verdict: do learned stopping policies beat the best hand-made rules on prompts nothing learned from?

Steps of `scripts/ppo_verdict.sh`, each resumable, over one experiment folder OUT (``runs/verdict``):

    python -m eval.verdict calibrate --out OUT --threads 2   # the model clock of the live verdict's threads
    python -m eval.verdict replay --out OUT                  # every policy and seed on the validation and test traces
    python -m eval.verdict live --out OUT --threads 2        # the policies chosen on validation, live on test
    python -m eval.verdict report --out OUT --results docs/results/verdict
    python -m eval.verdict release --out OUT                 # the best learned policy -> policies/trained/

OUT holds ``split/`` (`ebsd split`: train.jsonl, validation.jsonl, test.jsonl), ``traces-train/``,
``traces-validation/`` and ``traces-test/`` (`ebsd record`), ``tune/*.json`` (`ebsd tune`), ``ppo/*/`` (`ebsd
train ppo` runs named ``{env}__{variant}__{seed}__{time}``) and what these steps write: ``cost_model.json``,
``replay-validation.json``, ``replay.json`` (test), ``selection.json``, ``live_policies.json``, ``eval-live/``.

Which prompts are used for what (`eval.selection`; the report's "Selection" section says it again):

- **train** prompts: tuning (`ebsd tune`) and PPO training, including each run's best-model choice.
- **validation** prompts: every choice. The replay step runs every static policy, every tuned rule (per
  category and overall), every PPO run's best model (all seeds) and `oracle-first-reject` on their traces (model
  clock); from that replay alone come the best static policy per category (fixed-k ∪ k = 0), the tuned rule of
  each family run live, the seed of each PPO variant, the best learned and the best tuned policy.
- **test** prompts: used once, for the final numbers. Live (wall clock): the verifier alone, fixed k = 1, 2, 3,
  4, 6 (and the chosen static policies), the chosen tuned rules and the chosen seed of each PPO variant; replay
  of the test traces gives each policy's share of oracle-dp. The best static in hindsight (chosen on the test
  prompts) is reported beside the chosen one, labelled, as the strongest possible static baseline.
- **report**: speedups with paired bootstrap CIs, per category; rliable's IQM, performance profile and
  probability of improvement over per-prompt speedups (`eval.aggregate`); shares of oracle-dp; the goals.
"""

from __future__ import annotations

import sys

import tyro

# The steps live in replay.py (calibrate, replay), live.py, report.py and release.py, over the experiment folder
# (experiment.py); summaries.py and tables.py make the report. Their public names are re-exported here.
from .config import MAX_DRAFT_LEN, STATIC, VERDICT_DRAFTER, VerdictConfig, check_config, static_specs
from .experiment import RUN_NAME, cost_model_path, ppo_runs, split_path, traces_path, tuned_files
from .live import choose_live, live, select
from .release import release
from .replay import calibrate, replay, replay_policies, replay_traces
from .report import live_work, report
from .summaries import rate, selection_record, summarize_replay, training_summary
from .tables import (  # the tables, re-exported: eval.docs renders them from verdict.json
    GOAL_VS_ORACLE,
    GOAL_VS_STATIC,
    category_table,
    goals_list,
    headroom_table,
    improvement_list,
    live_curve_table,
    main_table,
    plot_profiles,
    render,
    selection_list,
    shares_table,
    training_table,
    variants_table,
)

__all__ = ["GOAL_VS_ORACLE", "GOAL_VS_STATIC", "MAX_DRAFT_LEN", "RUN_NAME", "STATIC", "VERDICT_DRAFTER",
           "VerdictConfig", "calibrate", "category_table", "choose_live", "cost_model_path", "goals_list",
           "headroom_table", "improvement_list", "live", "live_curve_table", "live_work", "main", "main_table",
           "plot_profiles", "ppo_runs", "rate", "release", "render", "replay", "replay_policies", "replay_traces",
           "report", "select", "selection_list", "selection_record", "shares_table", "split_path", "static_specs",
           "summarize_replay",
           "traces_path", "training_summary", "training_table", "tuned_files", "variants_table"]


def main(argv: list[str] | None = None) -> int:
    config = tyro.cli(VerdictConfig, args=sys.argv[1:] if argv is None else argv, description=__doc__,
                      prog="python -m eval.verdict")
    from ebsd_env.cli import BAD_INPUT, one_line

    try:
        check_config(config)
        {"calibrate": calibrate, "replay": replay, "live": live, "report": report,
         "release": release}[config.step](config)
    except BAD_INPUT as error:  # a missing step's output, a bad folder: one line naming the fix
        print(f"eval.verdict {config.step}: error: {one_line(error)}", file=sys.stderr)
        return 2
    return 0
