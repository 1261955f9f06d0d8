"""`ebsd eval`'s flags (`EvalConfig`), the default policies and the default output folder: no torch, so `--help` is
fast."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Literal

import tyro

from ebsd_env.cli.args import ModelArgs
from ebsd_env.envs.block_rules import DEFAULT_STOP_MODE

DEFAULT_POLICIES = (
    "no-spec",
    "fixed-k:k=1",
    "fixed-k:k=2",
    "fixed-k:k=4",
    "fixed-k:k=8",
    "entropy-abs:theta=0.5",
    "entropy-abs:theta=1.5",
    "entropy-rel:theta=2.0",
    "combined",
    "svip",
    "oracle-first-reject",
)
# What the default `ebsd eval` adds on the CPU (`with_default_pair`): the pair of three drafters over the one
# verifier, and the policies that choose a drafter per block (the shipped multi-drafter PPO, the hand-made cascade),
# ranked beside DEFAULT_POLICIES, which draft with the pair's first drafter, int4, as on the int4 pair.
DEFAULT_MULTI_DRAFTERS = "int4+feature+ngram"
DEFAULT_MULTI_POLICIES = ("multi-cascade", "ppo:policies/trained/ppo_multi.zip")
# The env settings a run's flags give every policy (a variant or a trained artifact may override some).
ENV_KEYS = ("entropy", "entropy_param", "entropy_temperature", "max_draft_len", "min_draft_len", "history",
            "stop_mode")


@dataclass
class EvalConfig(ModelArgs):
    """Evaluate stopping policies on a prompt suite with the real decoder and write a report. With no --drafter and
    no --policies (on the CPU): the single-drafter policies drafting with int4 and the multi-drafter ones picking
    int4, feature or ngram per block, on the pair int4+feature+ngram, ranked together."""

    drafter: str | None = None
    ("Drafter: int4 / int8 / bf16 / self (derived from the verifier), feature, distilled, ngram, feature:FOLDER, a "
     "Hugging Face id, folder or .gguf file, or several joined by '+' (one pair that picks a drafter per block, e.g. "
     "int4+feature+ngram). None: int4+feature+ngram with the default --policies on the CPU and the embedded verifier "
     "(the single-drafter policies draft with int4, the multi-drafter ones choose per block), else int4 on the CPU "
     "and feature elsewhere.")
    prompts: Annotated[str, tyro.conf.arg(name="prompt-source")] = "builtin"
    ("prompt source: 'builtin' (offline suite), a .jsonl/.json/.csv/.parquet file with `category` and `prompt` or "
     "`turns`, or a benchmark name (gsm8k, cnn_dailymail, natural_questions, wmt14, openai_humaneval, mt_bench; "
     "NAME=PATH for a local copy)")
    categories: tuple[str, ...] | None = None
    """keep only these prompt categories (None: all of the source)"""
    policies: tuple[str, ...] = DEFAULT_POLICIES
    ("policy specs from the registry (`ebsd policies`), e.g. fixed-k:k=4 entropy-abs:theta=1.0 ppo:model.zip; no-spec "
     "(the verifier-alone reference) is added when missing. Left out with no --drafter on the CPU: these and the "
     "multi-drafter multi-cascade and ppo:policies/trained/ppo_multi.zip on int4+feature+ngram")
    allow_mismatch: bool = False
    ("run trained artifacts (ppo:, tuned:) even where their fingerprint names another pair (a warning instead of the "
     "refusal); their env still has the observation layout, stop mode and draft bounds they were made for")
    limit_per_category: Annotated[int | None, tyro.conf.arg(name="prompts-per-category")] = 2
    """prompts per category (a seeded subset); 0 or less for all"""
    max_new_tokens: int = 64
    """tokens generated per prompt"""
    temperature: tuple[float, ...] = (0.0,)
    """sampling temperatures (0 = greedy); each is a separate condition"""
    seeds: tuple[int, ...] = (0,)
    """episode seeds (sampler and prompt subset); each prompt is decoded once per seed"""
    top_p: float = 1.0
    """nucleus sampling for temperature > 0"""
    out: str | None = None
    """output folder (reuse it to resume); default runs/{env}__{exp_name}__{seed}__{time}"""
    exp_name: str = "eval"
    """experiment name used in the default output folder"""
    drafters: tuple[str, ...] = ()
    ("several drafters side by side: one evaluation each under OUT/drafter=NAME on the same prompts (those every "
     "trained drafter among them held out), and a comparison in OUT/drafters.md and drafters.json")
    pair: Literal["embedded", "tiny-copy", "tiny-random", "tiny-noisy"] = "embedded"
    ("model pair: `embedded` (the models --drafter / --verifier name) or a config-built tiny pair (tests and smoke "
     "runs)")
    tiny: tyro.conf.Suppress[Literal["copy", "random", "noisy"] | None] = None
    """The tiny pair of --pair without its `tiny-` (the Python API's older spelling; kept in step with `pair`)."""
    clock: Literal["wall", "model"] = "wall"
    """wall: measured times; model: the env's calibrated cost model (deterministic)"""
    ablation: Literal["entropy-type", "topk", "entropy-temperature", "temperature", "criteria", "thresholds",
                      "length", "stop-mode"] | None = None
    ("an ablation (docs/eval.md lists each): replaces --policies (and --temperature / --max-new-tokens for temperature "
     "/ length)")
    entropy: str = "shannon"
    """entropy measure the env reports (shannon, renyi, tsallis, topk)"""
    entropy_param: float | None = None
    """Rényi alpha / Tsallis q / top-k k"""
    entropy_temperature: float = 1.0
    """temperature applied to the drafter's logits before the entropy"""
    max_draft_len: int = 40
    """the env's cap on a draft (40: the field rules' own caps, 20 for transformers and 40 for SVIP, bind)"""
    min_draft_len: int = 0
    """the env's floor on the draft length a stop verifies (0: a policy may verify without drafting)"""
    stop_mode: Literal["include", "exclude"] = DEFAULT_STOP_MODE
    ("stop mode of the policies that follow the env (entropy rules, PPO, the oracle); the field's rules and fixed-k "
     "run in their own mode (`ebsd policies` lists them)")
    history: int = 8
    """entropies per observation (a ppo: model must match what it was trained on)"""
    cost_model: str | None = None
    """JSON cost model for --clock model (None: calibrate the pair once)"""
    tensorboard: bool = True
    """also write the summary scalars as TensorBoard events under OUT/tb"""
    lossy_reference: bool = True
    ("also measure the verifier's int4 copy decoding alone on the same prompts (greedy; CPU, Llama-family "
     "verifiers): a LOSSY reference, reported apart from the policies with its agreement with the verifier")

    def __post_init__(self):
        # `pair` and `tiny` name the same thing (the flag is --pair; older callers give tiny=): keep them in step.
        named = self.pair.removeprefix("tiny-") if self.pair != "embedded" else None
        if self.tiny is not None and named is not None and self.tiny != named:
            raise ValueError(f"pair={self.pair!r} and tiny={self.tiny!r} disagree: give one of them")
        self.tiny = self.tiny or named
        self.pair = f"tiny-{self.tiny}" if self.tiny else "embedded"


def with_default_pair(config: EvalConfig) -> tuple[EvalConfig, str | None]:
    """The run `ebsd eval` makes of `config`, and a note for the report when it chose the pair: with neither
    --drafter nor --policies given, on the CPU with the embedded verifier, the multi-drafter pair
    `DEFAULT_MULTI_DRAFTERS` and `DEFAULT_POLICIES` + `DEFAULT_MULTI_POLICIES` (the best of both kinds, on one
    verifier, ranked together). Any other run is `config` itself: an explicit --drafter (one drafter or a
    '+'-joined pair) or --policies keeps its meaning, and so do the flags EBSD-Multi-v1 cannot take (a draft floor,
    a one-drafter --cost-model), an ablation, a tiny pair and another verifier or device."""
    from ..multi.envs import holds_multi_costs

    if (config.drafter is not None or config.verifier is not None or config.tiny is not None or config.drafters
            or config.ablation is not None or tuple(config.policies) != DEFAULT_POLICIES or config.min_draft_len
            or config.device.split(":")[0] != "cpu"
            or (config.cost_model is not None and not holds_multi_costs(config.cost_model))):
        return config, None
    chosen = replace(config, drafter=DEFAULT_MULTI_DRAFTERS, policies=DEFAULT_POLICIES + DEFAULT_MULTI_POLICIES)
    return chosen, (f"pair: {DEFAULT_MULTI_DRAFTERS}, the default (no --drafter, no --policies): the single-drafter "
                    "policies draft with int4, its first drafter, as on the int4 pair; the multi-drafter ones "
                    f"({', '.join(DEFAULT_MULTI_POLICIES)}) choose the drafter of each block; --drafter int4 runs the "
                    "single-drafter policies alone")


def default_out(config: EvalConfig) -> Path:
    env_id = "EBSD-Deterministic-v1" if config.clock == "model" else "EBSD-v1"
    return Path("runs") / f"{env_id}__{config.exp_name}__{config.seeds[0]}__{int(time.time())}"

