"""The `ebsd` command: one entry point, one module per subcommand (imported only when used)."""

from __future__ import annotations

import importlib
import os
import sys

# subcommand -> (module with a `main(argv)` function, one-line help)
SUBCOMMANDS = {
    "generate": ("ebsd_env.cli.generate", "speculative generation on a pair; prints the text and its statistics"),
    "bench": ("eval.bench", "benchmarks: `ebsd bench decoder`, `ebsd bench env`"),
    "split": ("eval.split", "split the built-in prompts into verdict prompts nothing learned from and training ones"),
    "record": ("ebsd_env.replay.record", "record greedy decoding traces for replay (EBSD-Replay-v1, oracle-dp)"),
    "eval": ("eval.run", "evaluate stopping policies on a prompt suite and write a report"),
    # train.sweep hands a command without --sweep to train.ppo, and train.ray_tune one without --backend ray to
    # train.tune: the Ray backends wrap the single-process commands, which know nothing of them.
    "train": ("train.sweep", "`ebsd train ppo`: train a stopping policy with PPO (--sweep FILE: seeds / grids)"),
    "tune": ("train.ray_tune", "grid / Bayesian tuning of the hand-made rules (--backend ray: on a Ray cluster)"),
    "distill": ("train.drafter.command", "distil a small drafter from the verifier"),
    "policies": ("policies.registry", "list the stopping policies and their parameters"),
    "fit-acceptance": ("policies.acceptance", "fit the SpecDec++-style acceptance model from logged rollouts"),
}


# Errors that mean the input was wrong, not the program: a bad value, a missing file, a path through a file
# (NotADirectoryError), a folder that cannot be written. Each becomes one line naming the fix.
BAD_INPUT = (ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError, FileExistsError, PermissionError)


def one_line(error: BaseException) -> str:
    """The error's message on one line (an OSError names its path)."""
    if isinstance(error, OSError) and error.filename is not None:
        hint = {NotADirectoryError: "a folder on that path is a file: choose another path",
                IsADirectoryError: "that path is a folder: give a file", FileExistsError: "it exists already",
                PermissionError: "no permission there: choose a folder you can write"}.get(type(error), "")
        return f"{error.strerror}: {error.filename}" + (f" ({hint})" if hint else "")
    return " ".join(str(error).split()) or type(error).__name__


def _usage() -> str:
    width = max(map(len, SUBCOMMANDS))
    lines = ["usage: ebsd <command> [options]   (ebsd <command> --help for its options)", "", "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, text) in SUBCOMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f"ebsd: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(SUBCOMMANDS[name][0])
    try:
        return int(module.main(rest) or 0)
    except KeyboardInterrupt:  # Ctrl-C: one line, the conventional status, no traceback
        if os.environ.get("EBSD_DEBUG"):
            raise
        print(f"ebsd {name}: interrupted", file=sys.stderr)
        return 130
    except BAD_INPUT as error:  # the message names the problem and the fix
        if os.environ.get("EBSD_DEBUG"):
            raise
        print(f"ebsd {name}: error: {one_line(error)}\n(set EBSD_DEBUG=1 for the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
