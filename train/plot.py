"""Learning-curve PNG of a `ebsd train ppo` run, read from its TensorBoard event files.

    python -m train.plot runs/EBSD-v1__ppo__1__1764400000          # learning_curve.png in the run folder
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import tyro

from ebsd_env.io import save_atomic

PANELS = (
    ("ebsd/eval/tokens_per_s", "held-in eval tokens/s"),
    ("rollout/ep_rew_mean", "training episode return"),
    ("ebsd/train/mean_draft_len", "training mean draft length"),
    ("ebsd/train/acceptance_rate", "training acceptance rate"),
)


@dataclass
class PlotConfig:
    run: tyro.conf.Positional[str]
    """Run folder written by `ebsd train ppo`."""
    out: str | None = None
    """PNG path (default: `learning_curve.png` in the run folder)."""


def read_scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of the run, merged over its event files (a resumed run has one per session), by step."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    files = sorted((run_dir / "tb").glob("events.out.tfevents.*"))
    if not files:
        raise FileNotFoundError(f"no TensorBoard event files under {run_dir / 'tb'}; is {run_dir} a training run?")
    scalars: dict[str, dict[int, float]] = {}
    for path in files:
        events = EventAccumulator(str(path), size_guidance={"scalars": 0})
        events.Reload()
        for tag in events.Tags()["scalars"]:
            scalars.setdefault(tag, {}).update({e.step: e.value for e in events.Scalars(tag)})
    return {tag: sorted(points.items()) for tag, points in scalars.items()}


def plot(run_dir: Path, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from policies.baselines import best_static

    scalars = read_scalars(run_dir)
    baselines = {}
    if (run_dir / "eval.json").is_file():
        baselines = json.loads((run_dir / "eval.json").read_text())["baselines"]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    for ax, (tag, title) in zip(axes.flat, PANELS, strict=True):
        points = scalars.get(tag, [])
        if points:
            steps, values = zip(*points, strict=True)
            ax.plot(steps, values, marker="o" if tag.startswith("ebsd/eval") else None, ms=3, label="PPO")
        if tag == "ebsd/eval/tokens_per_s" and baselines:
            # The best static policy, as the run's evaluations logged it (`policies.baselines.best_static`).
            best = best_static({s: {"all": b["tokens_per_s"]} for s, b in baselines.items()})["all"]
            ax.axhline(baselines[best]["tokens_per_s"], color="tab:red", ls="--",
                       label=f"best fixed-k ({best.split('=')[1] if '=' in best else 0})")  # no-spec: k = 0
            ax.axhline(baselines["no-spec"]["tokens_per_s"], color="tab:gray", ls=":", label="verifier alone")
            ax.legend(fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("environment steps (drafted tokens)")
    fig.suptitle(run_dir.name, fontsize=10)
    fig.tight_layout()
    save_atomic(out, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    config = tyro.cli(PlotConfig, args=argv, description=__doc__, prog="python -m train.plot")
    run_dir = Path(config.run)
    out = plot(run_dir, Path(config.out) if config.out else run_dir / "learning_curve.png")
    print(f"[ebsd] learning curve written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
