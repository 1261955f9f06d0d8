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


# Commands whose --help imports no torch, and a flag their help shows.
FAST_HELP = {"record": "--out", "split": "--out", "tune": "--method", "eval": "--policies", "train ppo": "--traces",
             "generate": "--prompt", "fit-acceptance": "--l2", "policies": "--name", "bench decoder": "--ks",
             "bench env": "--clocks", "distill": "--architecture"}
SLOW_HELP = ()


def test_every_command_is_checked_for_fast_help_or_listed_as_slow():
    assert sorted([*FAST_HELP, *SLOW_HELP]) == sorted(" ".join(command) for command in COMMANDS)


@pytest.mark.parametrize("command", FAST_HELP)
def test_help_imports_no_torch(command):
    """`ebsd <command> --help` must not import torch (seconds before any output); -X importtime lists every module."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "ebsd_env.cli", *command.split(), "--help"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert FAST_HELP[command] in done.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "tyro" in imported  # the listing is real
    heavy = sorted(imported & {"torch", "transformers"})
    assert not heavy, f"`ebsd {command} --help` imports {heavy}"


# --- One vocabulary of flags (docs/cli.md): old spellings are deprecated aliases, rewritten before tyro parses.

from ebsd_env.cli.args import DEPRECATED_FLAGS, parse  # noqa: E402

# The config class each command parses, and a value for each old flag that differs from its default.
CONFIGS = {"record": ("ebsd_env.replay.record", "RecordConfig"), "eval": ("eval.run", "EvalConfig"),
           "split": ("eval.split", "SplitConfig"), "tune": ("train.ray_tune", "RayTuneConfig"),
           "distill": ("train.drafter.distill", "DistillConfig"),
           "bench decoder": ("eval.bench.decoder", "BenchDecoderConfig"),
           "bench env": ("eval.bench.env", "BenchEnvConfig"), "fit-acceptance": ("policies.acceptance", "FitConfig")}
VALUES = {"--seed": ["3"], "--limit-per-category": ["3"], "--prompts": ["5"], "--entropy-type": ["renyi", "topk"],
          "--lr": ["0.01"], "--run-dir": ["elsewhere"], "--seeds": ["2"], "--tiny": ["copy"]}
REQUIRED = {"record": ["--out", "traces"]}
ALIASES = [(command, old, new) for command, table in DEPRECATED_FLAGS.items() for old, new in table.items()]


def new_spelling(old: str, new) -> list[str]:
    """The arguments `old` with its test value is rewritten to (a (flag, format) entry formats the value)."""
    flag, form = new if isinstance(new, tuple) else (new, "{}")
    return [flag, *(form.format(value) for value in VALUES[old])]


def warning(command: str, old: str, new) -> str:
    if isinstance(new, tuple):
        return (f"ebsd {command}: {old} NAME is deprecated and will be removed in the next release; use "
                f"{new[0]} {new[1].format('NAME')}")
    return f"ebsd {command}: {old} is deprecated and will be removed in the next release; use {new}"
# Old spellings that no command may expose any more. `--seed` (record, split) and `--seeds` (fit-acceptance) stay
# in other commands, where they mean another thing (the command's own randomness; eval's list of episode seeds);
# `--tiny` stays in distill, not yet unified (docs/cli.md).
RETIRED = {old for table in DEPRECATED_FLAGS.values() for old in table} - {"--seed", "--seeds", "--tiny"}


def config_class(command: str):
    import importlib

    module, name = CONFIGS[command]
    return getattr(importlib.import_module(module), name)


def test_every_command_with_aliases_has_a_config():
    assert set(DEPRECATED_FLAGS) == set(CONFIGS)
    assert {old for _, old, _ in ALIASES} <= set(VALUES)


@pytest.mark.parametrize(("command", "old", "new"), ALIASES, ids=lambda value: str(value))
def test_an_old_spelling_parses_as_the_new_one_with_one_warning(command, old, new, capsys):
    cls, args = config_class(command), [*REQUIRED.get(command, []), old, *VALUES[old]]
    with_old = parse(cls, args, command)
    warned = capsys.readouterr().err.splitlines()
    assert warned == [warning(command, old, new)]
    with_new = parse(cls, [*REQUIRED.get(command, []), *new_spelling(old, new)], command)
    assert capsys.readouterr().err == ""  # the new spelling does not warn
    assert with_old == with_new
    assert with_new != parse(cls, REQUIRED.get(command, []), command)  # the flag took effect
    # `--old=value` is rewritten too
    if len(VALUES[old]) == 1:
        assert parse(cls, [*REQUIRED.get(command, []), f"{old}={VALUES[old][0]}"], command) == with_new
        assert len(capsys.readouterr().err.splitlines()) == 1


def test_rewrite_warns_once_per_flag_and_leaves_other_arguments_alone():
    from ebsd_env.cli.args import rewrite_deprecated

    lines = []
    argv = ["--seed", "1", "--out", "x", "--seed=2", "--", "--seed"]
    assert rewrite_deprecated("record", argv, lines.append) == ["--prompt-seed", "1", "--out", "x", "--prompt-seed=2",
                                                                 "--", "--seed"]
    assert lines == ["ebsd record: --seed is deprecated and will be removed in the next release; use --prompt-seed"]
    assert rewrite_deprecated("tune", ["--seed", "1"], lines.append) == ["--seed", "1"]  # tune's own --seed
    assert rewrite_deprecated("eval", ["--tiny", "noisy", "--tiny=copy"], lines.append) == [
        "--pair", "tiny-noisy", "--pair=tiny-copy"]
    assert lines[-1] == warning("eval", "--tiny", ("--pair", "tiny-{}"))
    assert lines[-1].endswith("; use --pair tiny-NAME")


@pytest.mark.parametrize(("command", "old", "new"), ALIASES, ids=lambda value: str(value))
def test_the_ebsd_command_rewrites_an_old_spelling(command, old, new, monkeypatch, capsys):
    """Through `ebsd ...` itself: the command's `main` hands tyro the new spelling (tyro stopped there)."""
    import tyro

    class Parsed(Exception):
        pass

    def stop(cls, args, **_):
        raise Parsed(list(args))

    monkeypatch.setattr(tyro, "cli", stop)
    with pytest.raises(Parsed) as parsed:
        main([*command.split(), *REQUIRED.get(command, []), old, *VALUES[old]])
    assert parsed.value.args[0] == [*REQUIRED.get(command, []), *new_spelling(old, new)]
    assert capsys.readouterr().err.count("is deprecated") == 1


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_speaks_the_one_vocabulary(command, monkeypatch):
    flags = {flag for invocation in option_helps(help_text(command, monkeypatch))
             for flag in re.findall(r"--[a-z0-9-]+", invocation)}
    name = " ".join(command)
    exposed_retired = flags & (RETIRED | set(DEPRECATED_FLAGS.get(name, {})))
    assert not exposed_retired, f"`ebsd {name} --help` still offers {sorted(exposed_retired)} (docs/cli.md)"
    missing = {new[0] if isinstance(new, tuple) else new for new in DEPRECATED_FLAGS.get(name, {}).values()} - flags
    assert not missing, f"`ebsd {name} --help` lacks {sorted(missing)}"
