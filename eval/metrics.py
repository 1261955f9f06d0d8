"""The evaluation's statistics (speed, acceptance, latency, FLOPs, quality, entropy-acceptance), as pure
functions of the rows in ``episodes.jsonl``.

Units of comparison are (prompt, seed) pairs: every policy decodes the same prompts with the same seeds, so
speed-ups are paired ratios on the same prompt and confidence intervals come from a bootstrap over those units.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from policies.base import parse_spec
from policies.baselines import privileged  # noqa: F401  (re-exported: the one definition)

BASELINE_FAMILIES = {"no-spec": "verifier", "fixed-k": "fixed-k", "random-k": "random-k",
                     "oracle-first-reject": "oracle", "oracle-dp": "oracle-dp"}
N_BOOT = 2000
CALIBRATION_BINS = 10


def _policy_spec(label: str) -> str:
    """The policy spec of an episode row's `policy` label: `eval.run` appends `` @ key=value,...`` to tell apart
    the env variants (ablations) of one spec; that suffix is not part of the spec grammar."""
    return label.split(" @ ", 1)[0]


def policy_name(spec: str) -> str:
    return parse_spec(_policy_spec(spec))[0]


def family(spec: str) -> str:
    """``verifier`` / ``fixed-k`` / ``random-k`` / ``oracle`` for the baselines, ``ebsd`` for every entropy
    rule and learned policy (rule or PPO: whatever decides from the entropy observation)."""
    return BASELINE_FAMILIES.get(policy_name(spec), "ebsd")


def spec_params(spec: str) -> dict[str, str]:
    """Top-level ``key=value`` parameters of a spec (as text), sub-spec lists in brackets kept whole, parsed by
    the policies' own grammar (`policies.base.parse_spec`); a bare first value has no key and is left out."""
    return {key: value for key, value in parse_spec(_policy_spec(spec))[1] if key is not None}


# ------------------------------------------------------------------------------------------- statistics


def finite(values: Sequence[float]) -> np.ndarray:
    array = np.asarray([v for v in values if v is not None], dtype=float)
    return array[np.isfinite(array)]


def _row_means(samples: np.ndarray) -> np.ndarray:
    return samples.mean(axis=1)


def _row_geomeans(samples: np.ndarray) -> np.ndarray:
    return np.exp(np.log(samples).mean(axis=1))


def bootstrap_ci(values: Sequence[float], stat: Callable[[np.ndarray], np.ndarray] = _row_means,
                 n_boot: int = N_BOOT, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval over `values` of `stat`, which maps a (draws, n) array of resamples to one
    statistic per draw (nan, nan with fewer than two values)."""
    data = finite(values)
    if len(data) < 2:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(data), size=(n_boot, len(data)))
    stats = stat(data[draws])
    alpha = (1 - level) / 2
    return float(np.quantile(stats, alpha)), float(np.quantile(stats, 1 - alpha))


def geomean(values: Sequence[float]) -> float:
    data = finite(values)
    data = data[data > 0]
    return float(np.exp(np.mean(np.log(data)))) if len(data) else float("nan")


def ratio_summary(ratios: Sequence[float]) -> dict:
    """Geometric mean of paired ratios, its bootstrap 95% CI, the share of units above 1, and n."""
    data = finite(ratios)
    data = data[data > 0]
    return {"mean": geomean(data), "ci": list(bootstrap_ci(data, _row_geomeans)), "wins": float(np.mean(data > 1))
            if len(data) else float("nan"), "n": int(len(data))}


def mean_summary(values: Sequence[float]) -> dict:
    data = finite(values)
    return {"mean": float(np.mean(data)) if len(data) else float("nan"), "ci": list(bootstrap_ci(data)),
            "n": int(len(data))}


def percentiles(values: Sequence[float], qs=(50, 90, 99)) -> dict:
    data = finite(values)
    return {f"p{q}": float(np.percentile(data, q)) if len(data) else float("nan") for q in qs}


def auroc(scores: Sequence[float], positives: Sequence[bool]) -> float:
    """Area under the ROC curve of `scores` for telling positives from negatives (Mann-Whitney, ties = 1/2)."""
    scores = np.asarray(scores, dtype=float)
    positives = np.asarray(positives, dtype=bool)
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = scores.argsort(kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # Average ranks over ties.
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i: j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def calibration(entropies: Sequence[float], accepted: Sequence[bool], bins: int = CALIBRATION_BINS) -> dict:
    """Acceptance rate per entropy bin (equal-count bins): the entropy-acceptance calibration curve."""
    h = np.asarray(entropies, dtype=float)
    a = np.asarray(accepted, dtype=float)
    if len(h) == 0:
        return {"entropy": [], "acceptance": [], "count": []}
    edges = np.unique(np.quantile(h, np.linspace(0, 1, bins + 1)))
    index = np.clip(np.searchsorted(edges, h, side="right") - 1, 0, max(len(edges) - 2, 0))
    out = {"entropy": [], "acceptance": [], "count": []}
    for b in range(max(len(edges) - 1, 1)):
        mask = index == b
        if mask.any():
            out["entropy"].append(float(h[mask].mean()))
            out["acceptance"].append(float(a[mask].mean()))
            out["count"].append(int(mask.sum()))
    return out


def spearman(x: Sequence[float], y: Sequence[float], n_perm: int = 5000, seed: int = 0) -> tuple[float, float]:
    """Spearman rank correlation and its two-sided permutation p-value (nan when undefined)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan"), float("nan")

    def ranks(v):
        return np.argsort(np.argsort(v, kind="mergesort"), kind="mergesort").astype(float)

    rx, ry = ranks(x), ranks(y)
    rho = float(np.corrcoef(rx, ry)[0, 1])
    rng = np.random.default_rng(seed)
    perms = np.array([np.corrcoef(rx, rng.permutation(ry))[0, 1] for _ in range(n_perm)])
    return rho, float((np.sum(np.abs(perms) >= abs(rho) - 1e-12) + 1) / (n_perm + 1))


# ------------------------------------------------------------------------------------------------ FLOPs


def forward_flops_per_token(config) -> float:
    """Approximate forward FLOPs per token of a decoder-only transformer from its HF config (2 x weights used
    per token: attention projections, gated MLP, LM head; attention over the context is left out)."""
    d = config.hidden_size
    layers = config.num_hidden_layers
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or d // heads
    ffn = getattr(config, "intermediate_size", None) or 4 * d
    attention = d * heads * head_dim * 2 + d * kv_heads * head_dim * 2
    mlp = 3 * d * ffn
    return 2.0 * (layers * (attention + mlp) + d * config.vocab_size)


def episode_flops(stats: dict, drafter_flops: float, verifier_flops: float) -> float:
    """FLOPs of one episode: every verification feeds its draft plus one token to the verifier; the drafter
    processes each drafted token plus about one catch-up token per block (the committed correction)."""
    blocks = stats.get("blocks") or len(stats.get("draft_lengths") or [])
    drafted = stats.get("drafted", sum(stats.get("draft_lengths") or []))
    drafter_tokens = drafted + (blocks if drafted else 0)
    return verifier_flops * (drafted + blocks) + drafter_flops * drafter_tokens


# ------------------------------------------------------------------------------------- per-episode views


def token_marks(row: dict) -> tuple[list[float], list[bool]]:
    """(entropy, accepted) of every draft token the verifier judged: the accepted prefix of each block and
    its first rejected token; tokens after the first rejection were never judged and are left out."""
    entropies, accepted = [], []
    for block in row.get("blocks", []):
        for i, h in enumerate(block["entropies"]):
            if i > block["accepted"] or i >= block["drafted"]:
                break
            entropies.append(float(h))
            accepted.append(i < block["accepted"])
    return entropies, accepted


def token_latencies(row: dict) -> list[float]:
    """Per-token latency in seconds: each emitted token is charged its block's draft + verify + decision time
    divided by the tokens the block emitted (the verifier-alone path: decode time / tokens)."""
    blocks = row.get("blocks") or []
    if blocks:
        out = []
        for block in blocks:
            if block["emitted"] > 0:
                seconds = block["draft_s"] + block["verify_s"] + block.get("decide_s", 0.0)
                out += [seconds / block["emitted"]] * block["emitted"]
        return out
    stats = row["stats"]
    n = int(stats.get("new_tokens") or 0)
    decode = (stats.get("draft_s") or 0.0) + (stats.get("verify_s") or 0.0) + (stats.get("decide_s") or 0.0)
    return [decode / n] * n if n else []


def verification_curve(rows: list[dict]) -> dict[int, dict]:
    """verify(k + 1) / verify(1) as a run measured it: the median verification seconds of the blocks that
    drafted k tokens, every episode and policy pooled, over that of the blocks that drafted none (the verifier
    alone's steps), per k with its block count: ``{k: {"ratio", "median_s", "blocks"}}`` (k = 0 included, ratio
    1; in the exclude stop mode a block verifies one token fewer than it drafted). Empty when no block drafted
    nothing. What speculation can win depends on this curve, and on a shared
    machine it moves from hour to hour (docs/benchmarks.md)."""
    by_drafted: dict[int, list[float]] = {}
    for row in rows:
        for block in row.get("blocks") or []:
            by_drafted.setdefault(int(block["drafted"]), []).append(float(block["verify_s"]))
    if 0 not in by_drafted:
        return {}
    one = float(np.median(by_drafted[0]))
    return {k: {"ratio": float(np.median(times)) / one, "median_s": float(np.median(times)), "blocks": len(times)}
            for k, times in sorted(by_drafted.items())}


def request_latency(row: dict) -> float:
    stats = row["stats"]
    tps = stats.get("tokens_per_s")
    n = stats.get("new_tokens") or 0
    return n / tps if tps and n else float("nan")


def unit(row: dict) -> tuple:
    return (row["prompt_id"], row["seed"])
