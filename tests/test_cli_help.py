"""`ebsd <command> --help`: every flag of every subcommand has help text, on one line, its default said once;
and the help of `ebsd record`, `split` and `tune` comes without importing torch (fast)."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ebsd_env.cli import SUBCOMMANDS, main

# Subcommands whose module dispatches on a second word.
SECOND_WORDS = {"bench": ("decoder", "env"), "train": ("ppo",)}
COMMANDS = [[name, *([word] if word else [])] for name in SUBCOMMANDS for word in SECOND_WORDS.get(name, (None,))]
ROOT = Path(__file__).resolve().parents[1]


def help_text(command: list[str], monkeypatch) -> str:
    # So wide that tyro wraps nothing: a help text on two lines has a line break of its own.
    monkeypatch.setenv("COLUMNS", "1000")
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code in (0, None)
    return out.getvalue()


def option_helps(text: str) -> dict[str, list[str]]:
    """Each option's invocation -> its help lines, tyro's own "(default: ...)" / "(required)" suffix removed.

    An option starts on a line indented by two spaces with a dash; its help follows the invocation after two or
    more spaces, or on the more indented lines below; anything else (blank line, group title, rule) ends it."""
    options: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("  -"):
            invocation, *rest = re.split(r"\s{2,}", line.strip(), maxsplit=1)
            current = options.setdefault(invocation, [])
            current += rest
        elif current is not None and line.startswith("   ") and line.strip() and not line.strip().startswith("--"):
            current.append(line.strip())
        else:
            current = None
    for invocation, lines in options.items():
        if lines:  # tyro's suffix is the last "(default: " / "(fixed to: " / "(required)" of the last line
            last = lines[-1]
            start = max(last.rfind("(default: "), last.rfind("(fixed to: "), last.rfind("(required)"))
            last = last[:start].rstrip() if start >= 0 and last.endswith(")") else last
            options[invocation] = [*lines[:-1], last] if last else lines[:-1]
    return options


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_flag_has_one_line_of_help_with_its_default_once(command, monkeypatch):
    options = option_helps(help_text(command, monkeypatch))
    assert len(options) > 1, f"no options parsed from `ebsd {' '.join(command)} --help`"
    missing = [invocation for invocation, lines in options.items() if not lines]
    assert not missing, f"`ebsd {' '.join(command)} --help`: no help text for {missing}"
    broken = {invocation: lines for invocation, lines in options.items() if len(lines) > 1}
    assert not broken, f"help text broken over lines (a line break inside the docstring): {broken}"
    twice = [invocation for invocation, lines in options.items() if "default:" in " ".join(lines).lower()]
    assert not twice, f"help text names a default that tyro prints again: {twice}"


def test_help_parser_sees_a_flag_without_help():
    text = ("options\n  -h, --help  show this help\n  --kernels {auto,plain}\n                   (default: auto)\n"
            "  --threads INT  CPU threads (default: all) (default: None)\n")
    assert option_helps(text) == {"-h, --help": ["show this help"], "--kernels {auto,plain}": [],
                                  "--threads INT": ["CPU threads (default: all)"]}


# Commands whose --help imports no torch, and a flag their help shows. (eval, train ppo, generate, distill, bench,
# policies and fit-acceptance still do: their configs or modules import the env, the decoder or torch at the top.)
FAST_HELP = {"record": "--out", "split": "--out", "tune": "--method"}


@pytest.mark.parametrize("command", FAST_HELP)
def test_help_imports_no_torch(command):
    """`ebsd <command> --help` must not import torch (seconds before any output); -X importtime lists every module."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "ebsd_env.cli", command, "--help"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert FAST_HELP[command] in done.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "tyro" in imported  # the listing is real
    heavy = sorted(imported & {"torch", "transformers"})
    assert not heavy, f"`ebsd {command} --help` imports {heavy}"
