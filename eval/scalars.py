"""The report's scalars as TensorBoard events (``tb/`` of an `ebsd eval` run), from `summary.json`."""

from __future__ import annotations

import math
from pathlib import Path


def write_tensorboard(summary: dict, logdir: Path) -> None:
    """The report's scalars as TensorBoard events: ``{condition}/{category}/{metric}/{policy}``."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(logdir))
    for label, cond in summary["conditions"].items():
        for v, per_cat in cond["results"].items():
            for c, m in per_cat.items():
                scalars = {"tokens_per_s": m["tokens_per_s"]["mean"], "acceptance_rate": m["acceptance_rate"],
                           "tau": m["tau"], "mean_draft_len": m["mean_draft_len"],
                           "speedup_vs_verifier": m.get("speedup_vs_verifier", {}).get("mean"),
                           "speedup_vs_best_fixed_k": m.get("speedup_vs_best_fixed_k", {}).get("mean"),
                           "oracle_share": m.get("oracle_share", {}).get("mean"),
                           "gflops_per_token": m.get("gflops_per_token"), "entropy_auroc": m["entropy_auroc"],
                           "token_latency_p50_ms": m["token_latency_ms"]["p50"],
                           "request_latency_p90_s": m["request_latency_s"]["p90"]}
                for name, value in scalars.items():
                    if value is not None and math.isfinite(value):
                        writer.add_scalar(f"{label}/{c}/{name}/{v}", value, 0)
        if math.isfinite(cond["entropy_acceptance"]["auroc"]):
            writer.add_scalar(f"{label}/entropy_auroc", cond["entropy_acceptance"]["auroc"], 0)
    writer.close()
