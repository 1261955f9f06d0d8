"""The metrics of one variant on one set of episode rows (a category, or all), and the small pieces the analysis
shares: rows grouped, the work (tokens, seconds) of each (prompt, seed) unit, paired ratios of that work."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from ebsd_env.envs.objective import objective_summary, paired_ratio

from ..metrics import (
    auroc,
    episode_flops,
    mean_summary,
    percentiles,
    request_latency,
    token_latencies,
    token_marks,
    unit,
)


def group_by(rows, key):
    """Rows by `key(row)`, each group in the rows' order."""
    out = defaultdict(list)
    for row in rows:
        out[key(row)].append(row)
    return out


def work_by_unit(rows) -> dict:
    """(new tokens, decoding seconds) per (prompt, seed) unit, summed if a unit appears more than once."""
    out: dict = {}
    for r in rows:
        n, t = out.get(unit(r), (0.0, 0.0))
        out[unit(r)] = (n + float(r["stats"]["new_tokens"]), t + float(r["stats"]["decode_s"]))
    return out


def work_rate(work: tuple) -> float:
    return work[0] / work[1] if work[1] > 0 else float("nan")


def paired(a: dict, b: dict) -> dict:
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
