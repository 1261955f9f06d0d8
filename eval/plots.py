"""The report's PNG plots (matplotlib Agg): tokens/s per category, draft lengths, entropy calibration and entropy
trajectories, one colour per policy."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _f(value, digits: int = 2) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


# Strong colours first (tab10), then tab20's lighter halves and tab20b/tab20c: fifty colours, no two alike.
_PALETTE = [*plt.get_cmap("tab10").colors, *plt.get_cmap("tab20").colors[1::2], *plt.get_cmap("tab20b").colors,
            *plt.get_cmap("tab20c").colors]


def policy_colours(variants) -> dict[str, tuple]:
    """A distinct colour per policy, given in the sorted order of the labels: a policy keeps its colour whatever its
    speed and in every plot of a report; past the palette, evenly spaced hues (still no two alike)."""
    labels = sorted(set(variants))
    if len(labels) <= len(_PALETTE):
        return {v: tuple(_PALETTE[i]) for i, v in enumerate(labels)}
    hsv = [(i / len(labels), 0.75 if i % 2 else 0.55, 0.9 if i % 3 else 0.65) for i in range(len(labels))]
    return {v: tuple(matplotlib.colors.hsv_to_rgb(c)) for v, c in zip(labels, hsv, strict=True)}


def plot_tokens_per_s(cond: dict, path: Path) -> dict[str, tuple]:
    """Bars per category, one colour per policy; returns the colour each policy's bars were drawn in."""
    variants, cats = cond["variants"], cond["categories"]
    colours, drawn = policy_colours(variants), {}
    fig, ax = plt.subplots(figsize=(max(8, 1.2 * len(cats) * max(1, len(variants)) / 4), 4.5))
    width = 0.8 / max(len(variants), 1)
    for i, v in enumerate(variants):
        means, lows, highs = [], [], []
        for c in [*cats, "all"]:
            t = cond["results"][v].get(c, {}).get("tokens_per_s", {})
            m = t.get("mean", float("nan"))
            lo, hi = t.get("ci", [float("nan"), float("nan")])
            means.append(m)
            lows.append(m - lo if np.isfinite(lo) else 0)
            highs.append(hi - m if np.isfinite(hi) else 0)
        x = np.arange(len(cats) + 1) + i * width
        bars = ax.bar(x, means, width, yerr=[lows, highs], capsize=2, label=v, color=colours[v])
        drawn[v] = tuple(bars.patches[0].get_facecolor()[:3])
    ax.set_xticks(np.arange(len(cats) + 1) + 0.4 - width / 2)
    ax.set_xticklabels([*cats, "all"], rotation=20)
    ax.set_ylabel("tokens/s (mean, 95% bootstrap CI)")
    ax.set_title(f"Tokens/s per category ({cond['label']})")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return drawn


def plot_draft_hist(cond: dict, path: Path) -> None:
    drafting = [v for v in cond["variants"] if cond["families"][v] != "verifier"]
    if not drafting:
        return
    cols = min(3, len(drafting))
    rows = math.ceil(len(drafting) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.6 * rows), squeeze=False)
    for ax, v in zip(axes.flat, drafting, strict=False):
        hist = cond["results"][v]["all"]["draft_len_hist"]
        keys = sorted(int(k) for k in hist)
        # k = 0 is a block verified without drafting (a stop at the empty draft): legitimate under EBSD-v1, and
        # drawn apart so that it reads as "the verifier alone" rather than as a draft length.
        ax.bar(keys, [hist[str(k)] for k in keys], color=["tab:gray" if k == 0 else "tab:blue" for k in keys])
        ax.set_title(v[:45], fontsize=8)
        ax.set_xlabel("draft length k (grey k = 0: verifier alone)", fontsize=8)
    for ax in list(axes.flat)[len(drafting):]:
        ax.axis("off")
    fig.suptitle(f"Draft-length distribution ({cond['label']})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_calibration(cond: dict, path: Path) -> None:
    relation = cond["entropy_acceptance"]
    cal = relation["calibration"]
    fig, ax = plt.subplots(figsize=(5, 4))
    if cal["entropy"]:
        ax.plot(cal["entropy"], cal["acceptance"], "o-", label=f"AUROC (entropy -> reject) {_f(relation['auroc'])}")
    ax.set_xlabel("drafter entropy (nats, bin mean)")
    ax.set_ylabel("acceptance rate of judged draft tokens")
    ax.set_ylim(0, 1)
    ax.set_title(f"Entropy calibration ({relation['source']})", fontsize=9)
    if cal["entropy"]:  # no judged draft tokens (e.g. the verifier alone only): nothing to label
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no judged draft tokens", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_trajectories(cond: dict, rows: list[dict], path: Path, per_figure: int = 4) -> None:
    """Drafter entropy of every drafted token along the generation, marked accepted / rejected / not judged,
    for one prompt per category under the chosen EBSD policy (or the first drafting policy)."""
    variant = cond["chosen_ebsd"] or next((v for v in cond["variants"] if cond["families"][v] != "verifier"), None)
    if variant is None:
        return
    picks = []
    for c in cond["categories"]:
        match = next((r for r in rows if r["variant"] == variant and r["category"] == c and r.get("blocks")), None)
        if match:
            picks.append(match)
    picks = picks[:per_figure * 2]
    if not picks:
        return
    fig, axes = plt.subplots(len(picks), 1, figsize=(10, 1.9 * len(picks)), squeeze=False)
    for ax, row in zip(axes.flat, picks, strict=True):
        points = {"accepted": ([], []), "rejected": ([], []), "unjudged": ([], [])}
        x = 0
        for block in row["blocks"]:
            for i, h in enumerate(block["entropies"][: block["drafted"]]):
                kind = "accepted" if i < block["accepted"] else "rejected" if i == block["accepted"] else "unjudged"
                points[kind][0].append(x)
                points[kind][1].append(h)
                x += 1
            ax.axvline(x - 0.5, color="0.85", lw=0.5)
        for kind, (marker, color) in {"accepted": ("o", "tab:green"), "rejected": ("x", "tab:red"),
                                      "unjudged": (".", "0.6")}.items():
            ax.scatter(*points[kind], marker=marker, color=color, s=12, label=kind)
        ax.set_ylabel("H (nats)", fontsize=7)
        ax.set_title(f"{row['category']} / {row['prompt_id']} ({variant[:40]}): green accepted, red rejected, "
                     "grey not judged", fontsize=7)
    axes.flat[-1].set_xlabel("drafted token index (grey lines: verification)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
