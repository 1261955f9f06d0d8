"""`tuned:path=best.json`: the rule configurations `ebsd tune` found, per prompt category, as one policy."""

from __future__ import annotations

from pathlib import Path

from ebsd_env.fingerprint import check_artifact_fingerprint, env_fingerprint, env_requirements
from ebsd_env.io import read_json

from .base import Param, Policy, common_stop_mode


class TunedPolicy(Policy):
    """The best configuration `ebsd tune` wrote (``runs/tune/best.json``): per category its category's tuned
    spec (``scope=category``, the default; a category the file lacks takes the ``overall`` one), or the
    ``overall`` spec everywhere (``scope=overall``). The category is the current prompt's (the env's
    `prompt_row`).

    The file carries the fingerprint of the env it was tuned on (`ebsd_env.fingerprint`); binding to an env
    with another pair, observation layout, stop mode or draft bounds is refused unless allow_mismatch=1.
    """

    name = "tuned"
    description = "the rules `ebsd tune` found, per category (tuned:path=runs/tune/best.json)"
    params = (Param("path", str, "", "the best.json written by `ebsd tune`"),
              Param("scope", str, "category", "category: each category's tuned spec; overall: the overall one"),
              Param("allow_mismatch", int, 0, "1: bind to an env other than the one it was tuned on (warns)",
                    low=0, high=1))

    def validate(self):
        from .base import make_policy

        if self.scope not in ("category", "overall"):
            raise ValueError(f"tuned: scope must be category or overall, got {self.scope!r}")
        path = Path(self.path)
        if not path.is_file():
            raise ValueError(f"tuned: no file at {self.path!r}; give the best.json written by `ebsd tune --out`")
        data = read_json(path, "tuned: the file", "give the best.json written by `ebsd tune --out`")
        if not isinstance(data, dict) or not isinstance(data.get("best"), dict):
            raise ValueError(f"tuned: {self.path} holds no `best` configurations; give the best.json written by "
                             "`ebsd tune --out`")
        best = data["best"]
        if self.scope == "overall" and "overall" not in best:
            raise ValueError(f"tuned: {self.path} has no overall study; tune with --scope overall or both, or use "
                             "scope=category")
        self.fingerprint = data.get("fingerprint")
        self.specs = {category: row["spec"] for category, row in best.items()}
        self.subs = {category: make_policy(spec) for category, spec in self.specs.items()}
        subs = list(self.subs.values())
        self.stop_mode = common_stop_mode(self.name, subs)
        self.requires_extra_signals = any(p.requires_extra_signals for p in subs)
        self.reads_entropy = any(p.reads_entropy for p in subs)
        self.reads_token_signals = any(p.reads_token_signals for p in subs)
        self.current = None

    def bind(self, env=None, layout=None, stop_mode=None):
        for sub in self.subs.values():
            sub.bind(env=env, layout=layout, stop_mode=stop_mode)
        return super().bind(env=env, layout=layout, stop_mode=stop_mode)

    def check_binding(self):
        if self.env is not None:
            check_artifact_fingerprint(self.fingerprint, env_fingerprint(self.env), f"tuned:{self.path}",
                                       bool(self.allow_mismatch))

    def env_requirements(self) -> dict:
        """The env settings the rules were tuned with (its fingerprint), allow_mismatch or not: it relaxes the
        check of the env, not the env the rules need."""
        return env_requirements(self.fingerprint)

    def policy_for(self, category: str | None) -> Policy:
        if self.scope == "category" and category in self.subs:
            return self.subs[category]
        if "overall" in self.subs:
            return self.subs["overall"]
        raise ValueError(f"tuned: {self.path} holds no spec for category {category!r} and no overall one; tune "
                         "with --scope both")

    def reset(self):
        super().reset()
        for sub in getattr(self, "subs", {}).values():
            sub.reset()
        self.current = None

    def act(self, obs):
        if self.current is None:  # the episode's first decision: its prompt's category picks the rule
            row = getattr(getattr(self.env, "unwrapped", None), "prompt_row", None) if self.env is not None else None
            self.current = self.policy_for(row["category"] if row else None)
        return self.current.act(obs)

    def on_verify(self, info):
        if self.current is not None:
            self.current.on_verify(info)
