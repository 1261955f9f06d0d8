"""From ``episodes.jsonl`` rows to ``summary.json``: per-category metrics, baselines, paired comparisons, the
project's hypotheses H1-H4 with verdicts (each stated in its ``statement`` below), its success criteria
(`TARGET_GAIN`, `TARGET_SHARE`, `ACCEPTANCE_TOLERANCE`) and the failure modes.

Conditions: rows are grouped by (sampling temperature, max_new_tokens); inside a condition every variant (a
policy spec plus its env settings) decoded the same (prompt, seed) units, which makes the comparisons paired.
"""

from __future__ import annotations

# The analysis by step: cells.py (one variant's metrics on a set of rows), condition.py (one condition: baselines,
# results, comparisons), hypotheses.py (H1-H4), criteria.py (success criteria, failure modes). Their public names
# are re-exported here.
from .cells import cell_metrics, group_by
from .condition import analyse_condition, comparisons
from .criteria import (
    ACCEPTANCE_CRITERION,
    ACCEPTANCE_TOLERANCE,
    SPEED_CRITERION,
    TARGET_GAIN,
    TARGET_SHARE,
    failure_modes,
    success_criteria,
)
from .hypotheses import hypotheses

__all__ = ["ACCEPTANCE_CRITERION", "ACCEPTANCE_TOLERANCE", "SPEED_CRITERION", "TARGET_GAIN", "TARGET_SHARE",
           "analyse_condition", "cell_metrics", "comparisons", "failure_modes", "hypotheses", "success_criteria",
           "summarize"]


def _condition_label(temperature: float, max_new_tokens: int) -> str:
    return f"T={temperature:g},new={max_new_tokens}"


def summarize(rows: list[dict], meta: dict) -> dict:
    """The whole ``summary.json``: one analysis per (temperature, max_new_tokens) condition."""
    flops = meta.get("flops_per_token", {})
    conditions = {}
    by_condition = group_by(rows, lambda r: (r["temperature"], r["max_new_tokens"]))
    for (temperature, max_new), group in sorted(by_condition.items()):
        conditions[_condition_label(temperature, max_new)] = {
            "temperature": temperature, "max_new_tokens": max_new, **analyse_condition(group, flops)}
    return {"meta": meta, "episodes": len(rows), "conditions": conditions}
