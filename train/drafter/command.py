"""`ebsd distill`'s entry point: the flags are parsed (and ``--help`` answered) by `train.drafter.config`, which
imports no torch; the run (`train.drafter.distill.run`) and its heavy imports come only after them."""

from __future__ import annotations

from .config import parse_config


def main(argv: list[str] | None = None) -> int:
    config = parse_config(argv)
    from .distill import run

    return run(config)
