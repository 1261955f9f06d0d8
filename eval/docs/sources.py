"""The committed result files the docs' figures come from (each read once), and `Figure`: a source and a formatter."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DRAFTER_CARD = "ebsd_env/decoding/drafters/smollm2-135m-feature/config.json"  # v1, `distilled`
FEATURE_CARD = "ebsd_env/decoding/drafters/smollm2-135m-feature-v2/config.json"  # v2, `feature`
EVAL_DEFAULT = "docs/results/eval-default/summary.json"
STOP_MODE = "docs/results/stop-mode/summary.json"
BENCH_DRAFTERS = "docs/results/bench-drafters/bench.json"
BENCH_ENV = "docs/results/bench-env/bench.json"
REPLAY_VALIDATION = "docs/results/replay/validate.json"
REPLAY_PPO = "docs/results/replay/ppo-1m-record.json"
EVAL_DRAFTERS = "docs/results/eval-drafters/drafters.json"
VERDICT = "docs/results/verdict/verdict.json"
VERDICT_INT4 = "docs/results/verdict-int4/verdict.json"  # issue 22: the verdict again, on the int4 copy
# The same split again on the Zen 3 EPYC: the clock validated within 5 % at every k, int4 replay exact.
VERDICT_INT4_ZEN3 = "docs/results/verdict-int4-zen3/verdict.json"
BENCH_RAY_RECORD = "docs/results/bench-ray/record.json"
BENCH_RAY_TUNE = "docs/results/bench-ray/tune.json"
DISTILL_TTT = "docs/results/distill-ttt/history.json"
DISTILL_V2 = "docs/results/distill-v2/history.json"  # the run that made v2
BENCH_FEATURE = "docs/results/bench-feature/bench.json"  # v2 against v1, side by side
EVAL_FEATURE = "docs/results/eval-feature/drafters.json"  # the same, every policy through the env
TRANSFER = "docs/results/transfer-epyc/live-summary.json"  # issue 23: shipped and cost-aware PPO on another CPU
TRANSFER_REPLAY = "docs/results/transfer-epyc/validation-replay.json"  # the choice, on validation traces
TRANSFER_CELLS = "docs/results/transfer-replay/transfer.json"  # its replay half: (category, profile) cells
MULTI_LIVE = "docs/results/multi-epyc/live-summary.json"  # issue 24: the multi-drafter policies, live
MULTI_REPLAY = "docs/results/multi-epyc/validation-replay.json"  # and their choice on validation traces
# The multi-drafter PPO against fixed k = 8, 12, 16 on the default run's machine and prompts (its numpy actor).
PPO_VS_LONG_K = "docs/results/ppo-actor-xeon/k16/summary.json"
PPO_VS_LONG_K_1T = "docs/results/ppo-actor-xeon/t24-live-1t/summary.json"  # issue 24's live verdict, one thread
# Issue 26: the int4 runner attending by SDPA against the few-query kernel, whole decodes side by side.
RUNNER_ATTENTION = "docs/results/int4-attention-epyc/decode_ab_1t.json"


@cache
def load(source: str) -> dict:
    return json.loads((ROOT / source).read_text())


@dataclass(frozen=True)
class Figure:
    """One figure: the file it comes from and how it is written."""

    source: str
    render: Callable[[dict], str]


def grouped(number: int) -> str:
    """An integer with its thousands separated by spaces (1 015 808)."""
    return f"{number:,}".replace(",", " ")
