"""The `ebsd` command: one entry point, one module per subcommand (imported only when used)."""

from __future__ import annotations

import importlib
import os
import sys

# subcommand -> (module with a `main(argv)` function, one-line help)
SUBCOMMANDS = {
    "generate": ("ebsd_env.generate", "speculative generation on a pair; prints the text and its statistics"),
    "bench": ("eval.bench", "benchmarks: `ebsd bench decoder`, `ebsd bench env`"),
    "eval": ("eval.run", "evaluate stopping policies on a prompt suite and write a report"),
    "train": ("train.ppo", "`ebsd train ppo`: train a stopping policy with PPO"),
    "tune": ("train.tune", "grid / Bayesian tuning of the hand-made rules"),
    "distill": ("train.drafter.distill", "distil a small drafter from the verifier"),
    "policies": ("policies.registry", "list the stopping policies and their parameters"),
    "fit-acceptance": ("policies.acceptance", "fit the SpecDec++-style acceptance model from logged rollouts"),
}


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
    except (ValueError, FileNotFoundError) as error:  # bad input: the message names the problem and the fix
        if os.environ.get("EBSD_DEBUG"):
            raise
        print(f"ebsd {name}: error: {error}\n(set EBSD_DEBUG=1 for the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
