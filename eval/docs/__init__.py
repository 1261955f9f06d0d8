"""Figures in the README and docs, written from the committed result files: ``python -m eval.docs``.

A measured figure that is typed by hand into several documents drifts: one run updates one place and the
others keep the old number. Here every such figure has a name, one source file and one formatter, and the
documents only mark where it goes:

    the drafter agrees with the verifier on <!-- figure: drafter.agreement -->0.39<!-- /figure --> of positions

``python -m eval.docs`` rewrites every marked region from its source; ``python -m eval.docs --check`` (and
`tests/test_docs.py`) fails when a document's figure differs from what its source file says. To add a figure,
add an entry to `FIGURES` (`figures.py`); to update the figures after a new run, commit the new result file and
run the module.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from ebsd_env.io import write_atomic

# The figures by subject: drafters.py (cards, distillation, the drafter benches), runs.py (`ebsd eval` runs),
# benches.py (the env and Ray benches), verdict_figures.py; figures.py names each in `FIGURES`; sources.py holds
# the result files and `Figure`. Their public names are re-exported here.
from .benches import SPEC_BENCH_PROMPTS
from .drafters import fastest_drafter
from .figures import FIGURES
from .runs import BASELINES_FIXED_K
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
    REPLAY_PPO,
    REPLAY_VALIDATION,
    ROOT,
    STOP_MODE,
    VERDICT,
    Figure,
    load,
)

__all__ = ["BASELINES_FIXED_K", "BENCH_DRAFTERS", "BENCH_ENV", "BENCH_FEATURE", "BENCH_RAY_RECORD", "BENCH_RAY_TUNE",
           "DISTILL_TTT", "DISTILL_V2", "DOCUMENTS", "DRAFTER_CARD", "EVAL_DEFAULT", "EVAL_DRAFTERS", "EVAL_FEATURE",
           "FEATURE_CARD", "FIGURES", "MARKER", "REPLAY_PPO", "REPLAY_VALIDATION", "ROOT", "SPEC_BENCH_PROMPTS",
           "STOP_MODE", "VERDICT", "Figure", "documents", "fastest_drafter", "load", "main", "render", "rewrite",
           "stale"]

# Documents that may hold figures: the README, the docs and the model cards.
DOCUMENTS = ("README.md", "docs/*.md", "ebsd_env/decoding/drafters/*/README.md")
MARKER = re.compile(r"<!-- figure: (?P<name>[\w.:=,-]+) -->(?P<body>.*?)<!-- /figure -->", re.DOTALL)


def documents() -> list[Path]:
    return sorted({path for pattern in DOCUMENTS for path in ROOT.glob(pattern)})


def render(name: str) -> str:
    if name not in FIGURES:
        raise KeyError(f"unknown figure {name!r}: add it to eval.docs.FIGURES (known: {', '.join(FIGURES)})")
    figure = FIGURES[name]
    return figure.render(load(figure.source))


def rewrite(text: str) -> str:
    """`text` with every marked figure written from its source."""
    return MARKER.sub(lambda m: f"<!-- figure: {m['name']} -->{render(m['name'])}<!-- /figure -->", text)


def stale() -> list[str]:
    """``path: figure name (has ..., source says ...)`` for every marked figure that differs from its source."""
    found = []
    for path in documents():
        for match in MARKER.finditer(path.read_text()):
            wanted = render(match["name"])
            if match["body"] != wanted:
                found.append(f"{path.relative_to(ROOT)}: {match['name']} has {match['body'].strip()[:60]!r}, "
                             f"{FIGURES[match['name']].source} says {wanted.strip()[:60]!r}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.docs", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report figures that differ; exit 1 if any")
    args = parser.parse_args(argv)
    if args.check:
        differences = stale()
        print("\n".join(differences) if differences else "every figure matches its source file")
        return 1 if differences else 0
    for path in documents():
        text = path.read_text()
        new = rewrite(text)
        if new != text:
            write_atomic(path, new)
            print(f"rewrote {path.relative_to(ROOT)}")
    return 0
