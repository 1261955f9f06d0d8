"""The policy registry: `make_policy(spec)`, `list_policies()`, and `ebsd policies` (a table of them)."""

from __future__ import annotations

from dataclasses import dataclass

import tyro

from .base import POLICY_CLASSES, make_policy, policy_class
from .field import SVIP, AdaEDLLike, DraftVerify, HFConfidence, HFConfidenceROC, HFHeuristic, Kangaroo, LlamaCpp
from .learned import AcceptancePolicy, EXP3Bandit, PPOPolicy, UCBBandit
from .multi import MultiCascade, MultiFullInfo, MultiStatic, MultiUCB
from .rules import (
    Combined,
    EntropyAbs,
    EntropyPos,
    EntropyRel,
    EntropyWindow,
    FixedK,
    NoSpec,
    OracleDP,
    OracleFirstReject,
    RandomK,
)
from .safety import SafetyNet
from .tuned import TunedPolicy

POLICY_CLASSES.update({cls.name: cls for cls in (
    EntropyAbs, EntropyRel, EntropyWindow, EntropyPos, Combined,
    FixedK, RandomK, NoSpec, OracleFirstReject, OracleDP,
    HFConfidence, HFConfidenceROC, HFHeuristic, SVIP, AdaEDLLike, DraftVerify, Kangaroo, LlamaCpp,
    PPOPolicy, UCBBandit, EXP3Bandit, AcceptancePolicy, TunedPolicy, SafetyNet,
    MultiStatic, MultiCascade, MultiUCB, MultiFullInfo,
)})
POLICIES = POLICY_CLASSES  # the registry's public name for the table
__all__ = ["POLICIES", "list_policies", "make_policy", "policy_class"]


def list_policies() -> list[dict]:
    """Each policy's name, one-line description, flags and parameters (name, type, default, bounds, help)."""
    rows = []
    for cls in POLICIES.values():
        rows.append({
            "name": cls.name,
            "description": cls.description,
            "requires_extra_signals": cls.requires_extra_signals,
            "privileged": cls.privileged,
            "stop_mode": cls.stop_mode,
            "params": [{"name": p.name, "type": "specs" if p.kind == "specs" else p.kind.__name__,
                        "default": p.format(p.default), "low": p.low, "high": p.high, "help": p.help}
                       for p in cls.params],
        })
    return rows


@dataclass
class PoliciesConfig:
    """List the stopping policies, their parameters and defaults."""

    name: str | None = None
    """Show only this policy, with each parameter's help."""


def main(argv: list[str] | None = None) -> int:
    config = tyro.cli(PoliciesConfig, args=argv, prog="ebsd policies")
    rows = list_policies()
    if config.name is not None:
        policy_class(config.name)  # a clear error for an unknown name
        for row in rows:
            if row["name"] == config.name:
                print(f"{row['name']}: {row['description']}")
                print(POLICIES[row["name"]].__doc__)
                for p in row["params"]:
                    print(f"  {p['name']} = {p['default']}  ({p['type']})  {p['help']}")
        return 0
    width = max(len(r["name"]) for r in rows)
    print(f"{'policy':<{width}}  {'flags':<5}  {'mode':<7}  description / parameters (defaults)")
    for row in rows:
        flags = ("x" if row["requires_extra_signals"] else "-") + ("P" if row["privileged"] else "-")
        print(f"{row['name']:<{width}}  {flags:<5}  {row['stop_mode'] or 'env':<7}  {row['description']}")
        if row["params"]:
            print(f"{'':<{width}}  {'':<5}  {'':<7}  " + ", ".join(f"{p['name']}={p['default']}"
                                                                  for p in row["params"]))
    print("\nflags: x = needs the env's extra signals (extra_signals=True); P = privileged (sees the verifier)."
          "\nmode: the stop mode of the rule's source (include / exclude); env = follows the env's stop_mode."
          "\nspec: name:key=value,... e.g. entropy-abs:theta=1.0,max=12 ; lists in brackets: "
          "combined:mode=any,rules=[svip;fixed-k:k=8]")
    return 0
