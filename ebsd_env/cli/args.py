"""The command-line arguments every `ebsd` command shares, written once: which models, on which device and
threads, with which kernels (`ModelArgs`, `PairArgs`), and which prompts (`PromptArgs`).

A command's config dataclass inherits the groups it needs (`ThreadArgs` alone where a command loads no pair,
as `ebsd distill`), so the flags keep their flat names (``--drafter``,
``--verifier``, ``--device``, ``--threads``, ``--kernels``, ``--pair``, ``--prompt-source``, ...) and read the
same everywhere; `load_pair_from_args` is the one way a command turns them into a loaded pair, and
`check_model_args` refuses what cannot work (a device this machine lacks) before anything slow starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

TINY_PAIRS = ("tiny-copy", "tiny-random", "tiny-noisy")

# A flag's help is its field's docstring. tyro keeps every line break of a triple-quoted one (the help then breaks
# mid-sentence), so a docstring longer than a line is written as adjacent strings in parentheses (one string), and a
# None default is explained as "None: ..." (tyro prints "(default: ...)" itself). tests/test_cli_help.py checks both.


# `ebsd_env.decoding.kernels.KERNEL_CHOICES`, spelled out so that parsing arguments does not import torch
# (tests/test_kernels.py checks the two agree).
KernelName = Literal["auto", "plain", "onednn", "transposed", "weight-left", "mkl-packed-4", "mkl-packed-8",
                     "mkl-packed-16", "avx2-panels"]


@dataclass
class ThreadArgs:
    threads: int | None = None
    ("torch CPU threads (None: $EBSD_THREADS, else torch's own choice, the number of physical cores); 1 suits a "
     "shared CPU.")


@dataclass
class ModelArgs(ThreadArgs):
    drafter: str | None = None
    ("Drafter: Hugging Face id, folder, .gguf file, int4 / int8 / int8-dynamic / bf16 / self (derived from the "
     "verifier), ngram (prompt lookup, no model), feature-v2 (the shipped feature drafter; alias feature), feature-v1 "
     "(the first shipped one, which the verdict and the shipped PPO policy were made for; old name distilled), or "
     "feature:FOLDER (one from `ebsd distill`). None: int4 on the CPU (the fastest measured on held-out prompts), "
     "feature-v2 elsewhere.")
    verifier: str | None = None
    """Verifier: Hugging Face id, folder or .gguf file (None: the embedded SmolLM2-135M-Instruct)."""
    device: str = "cpu"
    """Device of both models (and of a policy network): cpu, cuda, cuda:1, mps, ..."""
    kernels: KernelName = "auto"
    """Linear-layer kernels (auto: the fastest measured on this machine, cached; see `ebsd_env.decoding.kernels`)."""


@dataclass
class PairArgs(ModelArgs):
    pair: str = "embedded"
    ("Model pair: `embedded` (the models --drafter / --verifier name, by default SmolLM2-135M-Instruct and the shipped "
     "drafter) or a config-built tiny-noisy / tiny-copy / tiny-random pair (tests, smoke runs).")


@dataclass
class PromptArgs:
    prompt_source: str | None = None
    ("Prompt source for `ebsd_env.prompts.load_prompts`: a .jsonl/.json/.csv/.parquet file, a benchmark name "
     "(NAME=PATH for a local copy), or None for the built-in offline suite.")
    categories: tuple[str, ...] | None = None
    """Keep only these prompt categories (None: all of the source's)."""
    prompt_seed: int = 0
    """Seed of the prompt subset (`load_prompts(seed=...)`); commands compared with each other take the same."""


def check_device(device: str) -> None:
    """Refuse a device this machine cannot use, in one line that names the fix, before any model is loaded."""
    from ..errors import check_device as check

    check(device, "--device")


def check_threads(args: ThreadArgs) -> None:
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")


def check_model_args(args: ModelArgs) -> None:
    """Everything about the model arguments that can be checked without loading a model."""
    check_device(args.device)
    check_threads(args)
    pair = getattr(args, "pair", "embedded")
    if pair not in ("embedded", *TINY_PAIRS):
        raise ValueError(f"unknown pair {pair!r}; valid: embedded, {', '.join(TINY_PAIRS)} "
                         "(choose other models with --drafter / --verifier and --pair embedded)")
    if pair in TINY_PAIRS and (args.drafter or args.verifier):
        raise ValueError(f"the config-built {pair} pair takes no --drafter/--verifier: give either a tiny pair or "
                         "the models, not both")


def load_pair_from_args(args: ModelArgs, pair: str | None = None, tiny_context: int | None = None):
    """The pair the arguments name: a config-built tiny pair, or `cached_pair` (one load per process, shared by
    every env) of --drafter / --verifier on --device with --kernels (the command applies --threads first).

    `pair` overrides ``args.pair`` (commands with their own way to name a tiny pair); `tiny_context` is a tiny
    pair's context length (character-level tokens: long prompts need more)."""
    if pair is not None:
        from dataclasses import replace

        args = replace(args, pair=pair) if hasattr(args, "pair") else PairArgs(
            drafter=args.drafter, verifier=args.verifier, device=args.device, threads=args.threads,
            kernels=args.kernels, pair=pair)
    check_model_args(args)
    name = getattr(args, "pair", "embedded")
    if name in TINY_PAIRS:
        from ..decoding.tiny import tiny_pair

        return tiny_pair(name.removeprefix("tiny-"), **({"context": tiny_context} if tiny_context else {}))
    from ..decoding.models import cached_pair

    return cached_pair(args.drafter, args.verifier, device=args.device, kernels=args.kernels)


# One vocabulary of flags (docs/cli.md, "Flags"): each concept has one spelling in every command. The spellings
# a command used before are kept for one release as deprecated aliases: `parse`, which every command's `main` parses
# its argv with, turns them into the new flag before tyro sees them, with one warning line. Keyed by the command as
# typed ("bench decoder"), because an old spelling can mean different concepts in two commands (`--prompts`: eval's
# source, bench's count). A (flag, format) entry rewrites the value too (`--tiny copy` -> `--pair tiny-copy`).
DEPRECATED_FLAGS: dict[str, dict[str, str | tuple[str, str]]] = {
    "record": {"--seed": "--prompt-seed", "--limit-per-category": "--prompts-per-category"},
    "eval": {"--prompts": "--prompt-source", "--limit-per-category": "--prompts-per-category",
             "--tiny": ("--pair", "tiny-{}")},
    "split": {"--seed": "--prompt-seed"},
    "tune": {"--entropy-type": "--entropy"},
    "distill": {"--lr": "--learning-rate", "--run-dir": "--out"},
    "bench decoder": {"--prompts": "--num-prompts"},
    "bench env": {"--prompts": "--num-prompts"},
    "fit-acceptance": {"--limit-per-category": "--prompts-per-category", "--seeds": "--episodes-per-prompt"},
}


def rewrite_deprecated(command: str, argv: list[str], warn=None) -> list[str]:
    """`argv` with `command`'s deprecated flags (``--old V`` and ``--old=V``) spelled the new way; one warning line
    on stderr per old flag used. Nothing after ``--`` is touched (a positional that looks like a flag)."""
    import sys

    table = DEPRECATED_FLAGS.get(command, {})
    warn = warn or (lambda line: print(line, file=sys.stderr))
    out: list[str] = []
    warned: set[str] = set()
    value_format = None  # the format of the value that follows an old flag whose value changes form
    for index, arg in enumerate(argv):
        if arg == "--":
            return out + argv[index:]
        if value_format is not None:
            out.append(value_format.format(arg))
            value_format = None
            continue
        old, eq, value = arg.partition("=")
        if old not in table:
            out.append(arg)
            continue
        new, form = table[old] if isinstance(table[old], tuple) else (table[old], None)
        if old not in warned:
            warned.add(old)
            hint = f"{new} {form.format('NAME')}" if form else new
            old_hint = f"{old} NAME" if form else old
            warn(f"ebsd {command}: {old_hint} is deprecated and will be removed in the next release; use {hint}")
        if eq:
            out.append(f"{new}={form.format(value) if form else value}")
        else:
            out.append(new)
            value_format = form
    return out


def parse(config_class, argv: list[str] | None, command: str, **tyro_args):
    """The command's config from `argv` (None: ``sys.argv[1:]``) by `tyro.cli`, its deprecated flags rewritten
    first (`rewrite_deprecated`); `tyro_args` (description, prog, ...) go to tyro."""
    import sys

    import tyro

    argv = sys.argv[1:] if argv is None else list(argv)
    return tyro.cli(config_class, args=rewrite_deprecated(command, argv), **tyro_args)
