"""The policy interface and the text-spec grammar shared by every stopping policy.

A policy decides, at each observation of the current draft, whether to keep drafting (action 0) or to stop and
verify (action 1). It reads the environment's observation through the env's `ObservationLayout`, so a hand-made
rule and a loaded PPO model see the same vector and run through the same loop (`policies.rollout.run_episode`,
or `stable_baselines3.common.evaluation.evaluate_policy`).

Stop modes (`EBSD-v1`): a policy whose source stops in a given mode declares it (`stop_mode`, "include" or
"exclude") and refuses an env in the other mode; the others follow the env. Rules judge draft tokens, so at a
block's empty draft (position 0) they continue, unless they choose a draft length up front (`stop_at_empty`:
fixed-k with k = 0, no-spec). A rule's `min` / `max` count the draft tokens a stop *verifies*: in exclude mode a
stop at position j verifies j - 1 tokens, so `max=m` stops at position m + 1 (one extra token is drafted and
discarded unless the env's `max_draft_len` is m, where continue verifies all m).

Spec grammar: ``name`` or ``name:key=value,key=value``. A bare first value fills the first parameter
(``ppo:runs/model.zip``). Lists of sub-policies are written in brackets, separated by ``;``:
``combined:mode=any,rules=[entropy-abs:theta=1.0;fixed-k:k=8]``. `Policy.spec` is canonical: every parameter,
sorted by name, so ``make_policy(p.spec) == p``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ebsd_env.envs.block_rules import DEFAULT_STOP_MODE, stop_verifies
from ebsd_env.envs.observation import ObservationLayout, ObservationView

CONTINUE, STOP = 0, 1
SPECS = "specs"  # Param.kind of a list of sub-policies


@dataclass(frozen=True)
class Param:
    """One parameter of a policy: its type, default, bounds (inclusive) and one-line help."""

    name: str
    kind: Any  # int, float, str or SPECS
    default: Any
    help: str
    low: float | None = None
    high: float | None = None

    def describe(self) -> str:
        bounds = ""
        if self.low is not None or self.high is not None:
            fmt = (lambda v: str(int(v))) if self.kind is int else _fmt_number
            lo = "-inf" if self.low is None else fmt(self.low)
            hi = "inf" if self.high is None else fmt(self.high)
            bounds = f" in [{lo}, {hi}]"
        kind = "list of specs" if self.kind == SPECS else self.kind.__name__
        return f"{self.name}={self.format(self.default)} ({kind}{bounds}): {self.help}"

    def coerce(self, value: Any, owner: str) -> Any:
        """A parsed, checked value from spec text, a config value or a Python value."""
        if self.kind == SPECS:
            return self._coerce_specs(value, owner)
        try:
            if self.kind is int:
                number = float(value) if isinstance(value, str) else value
                if isinstance(number, bool) or float(number) != int(number):
                    raise ValueError
                value = int(number)
            elif self.kind is float:
                value = float(value)
                if not math.isfinite(value):
                    raise ValueError
            else:
                value = str(value)
        except (TypeError, ValueError):
            raise ValueError(f"{owner}: parameter {self.name} must be a finite {self.kind.__name__}, got {value!r}; "
                             f"{self.describe()}") from None
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise ValueError(f"{owner}: parameter {self.name}={value} is out of range; {self.describe()}")
        return value

    def _coerce_specs(self, value: Any, owner: str) -> tuple:
        if isinstance(value, str):
            text = value.strip()
            if not (text.startswith("[") and text.endswith("]")):
                raise ValueError(f"{owner}: parameter {self.name} is a list of specs in brackets, e.g. "
                                 f"[fixed-k:k=4;svip]; got {value!r}")
            value = [part for part in split_top(text[1:-1], ";") if part.strip()]
        policies = tuple(item if isinstance(item, Policy) else make_policy(str(item).strip()) for item in value)
        if not policies:
            raise ValueError(f"{owner}: parameter {self.name} needs at least one policy spec")
        return policies

    def format(self, value: Any) -> str:
        if self.kind == SPECS:
            return value if isinstance(value, str) else "[" + ";".join(p.spec for p in value) + "]"
        if self.kind is float:
            return _fmt_number(value)
        return str(value)

    def to_config(self, value: Any) -> Any:
        return [p.spec for p in value] if self.kind == SPECS else value


def _fmt_number(value: float) -> str:
    return repr(float(value))


def split_top(text: str, sep: str) -> list[str]:
    """Split on `sep` outside square brackets (sub-specs keep their commas)."""
    parts, depth, current = [], 0, []
    for char in text:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth < 0:
                raise ValueError(f"unbalanced ']' in policy spec {text!r}")
        if char == sep and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if depth != 0:
        raise ValueError(f"unbalanced '[' in policy spec {text!r}")
    parts.append("".join(current))
    return parts


def parse_spec(spec: str) -> tuple[str, list[tuple[str | None, str]]]:
    """``"name:k=v,..."`` -> (name, [(key or None for a bare value, text), ...])."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"a policy spec is a non-empty string like 'fixed-k:k=4', got {spec!r}")
    name, _, rest = spec.strip().partition(":")
    items = []
    for part in split_top(rest, ",") if rest.strip() else []:
        key, eq, value = part.partition("=")
        if eq and not key.strip().startswith("["):
            items.append((key.strip(), value.strip()))
        else:
            items.append((None, part.strip()))
    return name.strip(), items


# Every policy class by its spec name, in the order `ebsd policies` lists them. `policies.registry` fills it (the
# package's __init__ imports the registry, so it is full before any spec is read); keeping the table here lets
# specs that nest specs (`combined`, bandits) be parsed without this module importing the classes built on it.
POLICY_CLASSES: dict[str, type[Policy]] = {}


def policy_class(name: str) -> type[Policy]:
    if name == "oracle":
        raise ValueError("the policy 'oracle' is now 'oracle-first-reject' (stop at the first rejection); "
                         "'oracle-dp' is the optimal plan on a replay env")
    if name not in POLICY_CLASSES:
        raise ValueError(f"unknown policy {name!r}; valid: {', '.join(POLICY_CLASSES)} (ebsd policies lists their "
                         "parameters)")
    return POLICY_CLASSES[name]


def make_policy(spec: str, env=None, layout=None) -> Policy:
    """A policy from its text spec, e.g. ``"entropy-abs:theta=1.0,min=1,max=12"`` or ``"ppo:runs/x/model.zip"``.

    `env` (a gymnasium env over `EBSD-v1`) gives the observation layout and, for the oracles only, the decoder's
    privileged peek (oracle-first-reject) or the replayed trace (oracle-dp); `layout` alone suffices for every
    other policy.
    """
    name, items = parse_spec(spec)
    policy = policy_class(name).from_spec_items(items)
    if env is not None or layout is not None:
        policy.bind(env=env, layout=layout)
    return policy


class Policy:
    """Base class: a stopping policy with SB3's `predict` signature.

    Subclasses set `name`, `description`, `params` and implement `decide(view, obs) -> bool` (True = stop).
    Adaptive policies override `on_verify(info)`: the rollout calls it after every verification with the
    env's info (``accepted``, ``drafted``, ``emitted``, ``draft_time_s``, ``verify_time_s``,
    ``block_entropies``). Policies track the current block from the observed draft position: a position that
    does not grow marks a new block (`start_block`).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    requires_extra_signals: ClassVar[bool] = False  # reads top-1 probability / margin (env extra_signals=True)
    reads_entropy: ClassVar[bool] = True  # reads the entropy history (absent from observation="ltd")
    # Reads any draft-token signal. False: the draft position and block features suffice, and `ebsd eval` binds the
    # policy to observation="position", whose env computes no signal (signals are charged to whoever reads them).
    reads_token_signals: ClassVar[bool] = True
    privileged: ClassVar[bool] = False  # sees what the verifier will do (the oracle only)
    stop_mode: ClassVar[str | None] = None  # the mode of the rule's source; None: the env's mode
    block_state: ClassVar[bool] = False  # keeps per-block state: one env at a time in a batched predict

    def __init__(self, **values: Any):
        known = {p.name: p for p in self.params}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"{self.name}: unknown parameter(s) {', '.join(unknown)}; {self.param_help()}")
        for param in self.params:
            setattr(self, param.name, param.coerce(values.get(param.name, param.default), self.name))
        if "min" in known and "max" in known and self.min > self.max:
            raise ValueError(f"{self.name}: min={self.min} > max={self.max}; need min <= max")
        self.validate()
        self.layout: ObservationLayout | None = None
        self.env = None
        self.acting_mode = self.stop_mode or DEFAULT_STOP_MODE  # the stop mode it acts in: the env's once bound
        self._last_position = math.inf
        self.reset()

    # ------------------------------------------------------------------ specs and configs
    @classmethod
    def param_help(cls) -> str:
        if not cls.params:
            return f"{cls.name} takes no parameters"
        return "valid parameters: " + "; ".join(p.describe() for p in cls.params)

    @classmethod
    def from_spec_items(cls, items: list[tuple[str | None, str]]) -> Policy:
        values = {}
        for i, (key, text) in enumerate(items):
            if key is None:
                if i != 0 or not cls.params:
                    raise ValueError(f"{cls.name}: only the first value may omit its name ({text!r}); "
                                     f"{cls.param_help()}")
                key = cls.params[0].name
            if key in values:
                raise ValueError(f"{cls.name}: parameter {key} given twice")
            values[key] = text
        return cls(**values)

    @property
    def spec(self) -> str:
        """Canonical spec: every parameter, sorted by name."""
        items = [f"{p.name}={p.format(getattr(self, p.name))}" for p in sorted(self.params, key=lambda p: p.name)]
        return self.name + (":" + ",".join(items) if items else "")

    def config(self) -> dict:
        """JSON-ready config: ``{"name": ..., "params": {...}}`` (round-trips through `from_config`)."""
        return {"name": self.name,
                "params": {p.name: p.to_config(getattr(self, p.name)) for p in sorted(self.params,
                                                                                    key=lambda p: p.name)}}

    @staticmethod
    def from_config(config: dict) -> Policy:
        if not isinstance(config, dict) or "name" not in config:
            raise ValueError(f"a policy config is a dict {{'name': ..., 'params': {{...}}}}, got {config!r}")
        return policy_class(config["name"])(**config.get("params", {}))

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.config() == other.config()

    def __hash__(self) -> int:
        return hash(self.spec)

    def __repr__(self) -> str:
        return f"make_policy({self.spec!r})"

    # ------------------------------------------------------------------ binding to an env / layout
    def bind(self, env=None, layout: ObservationLayout | None = None, stop_mode: str | None = None) -> Policy:
        """Attach the env (needed by the oracle), the observation layout (from the env if not given) and the
        stop mode (the env's; `stop_mode` when binding to a layout alone)."""
        if env is not None:
            if hasattr(env, "envs"):  # a stable-baselines3 VecEnv: the policy follows its single env
                if len(env.envs) != 1:
                    raise ValueError(f"{self.name}: bind a policy to one env, not a VecEnv of {len(env.envs)}; "
                                     "make one policy per env (make_policy(spec, env=vec_env.envs[i]))")
                env = env.envs[0]
            self.env = env
            if layout is None:
                layout = env.unwrapped.observation_layout
            stop_mode = env.unwrapped.stop_mode
        if stop_mode is not None:
            if self.stop_mode is not None and stop_mode != self.stop_mode:
                raise ValueError(f"{self.spec} stops in {self.stop_mode!r} mode, as its source does; this env stops "
                                 f"in {stop_mode!r} mode: make the env with stop_mode={self.stop_mode!r}")
            self.acting_mode = stop_mode
        if layout is not None:
            if not isinstance(layout, ObservationLayout):
                raise ValueError(f"{self.name}: layout must be an ebsd_env.ObservationLayout, got {type(layout)}")
            if self.requires_extra_signals and not layout.extra_signals:
                raise ValueError(
                    f"{self.spec} reads the drafter's top-1 probability, which this observation layout lacks: "
                    "create the env with extra_signals=True, e.g. gym.make('EBSD-v1', ..., extra_signals=True)")
            if self.reads_token_signals and layout.observation == "position":
                raise ValueError(f"{self.spec} reads draft-token signals, which observation='position' lacks: make "
                                 "the env with observation='entropy' (the default)")
            if self.reads_entropy and not layout.has_entropy:
                raise ValueError(f"{self.spec} reads the entropy history, which observation={layout.observation!r} "
                                 "lacks: make the env with observation='entropy' or 'ltd+entropy'")
            self.layout = layout
        self.check_binding()
        return self

    def signal_settings(self) -> dict:
        """The env settings of the draft-token signals this policy reads (`signal_settings`): `ebsd eval` and
        `ebsd tune` make the policy's env with them."""
        return signal_settings([self])

    def env_requirements(self) -> dict:
        """Env settings this policy must run with (e.g. a trained model's observation layout), as `EBSDEnv`
        keyword arguments; `ebsd eval` makes the policy's env with them."""
        return {}

    def check_binding(self) -> None:
        """Raise a clear error if the bound env / layout cannot serve this policy (override as needed)."""

    def validate(self) -> None:
        """Cross-parameter checks beyond each parameter's bounds (override as needed)."""

    # ------------------------------------------------------------------ acting
    def reset(self) -> None:
        """Episode start: clear per-episode state (adaptive state meant to persist across episodes stays)."""
        self._last_position = math.inf

    def start_block(self) -> None:
        """A new draft block begins (override to reset per-block state)."""

    def on_verify(self, info: dict) -> None:
        """Called after each verification with the env's info; adaptive policies learn here."""

    def decide(self, view: ObservationView, obs: np.ndarray) -> bool:
        """Stop after the latest draft token (position >= 1)?"""
        raise NotImplementedError

    def stop_at_empty(self, view: ObservationView, obs: np.ndarray) -> bool:
        """Stop at a block's empty draft (position 0), i.e. verify without drafting? Rules that judge draft
        tokens have nothing to judge yet: they continue."""
        return False

    def act(self, obs: np.ndarray) -> int:
        """One decision on one observation: block tracking, the rule, then its min / max draft lengths."""
        if self.layout is None:
            raise ValueError(f"{self.spec} has no observation layout: create it with make_policy(spec, env=env) "
                             "or make_policy(spec, layout=ObservationLayout(...)), or call policy.bind(env)")
        base_size = getattr(getattr(self.env, "unwrapped", None), "base_size", None)  # EBSD-Multi: the v1 part
        view = self.layout.decode(obs if base_size is None else obs[:base_size])
        if view.position <= self._last_position:
            self.start_block()
        self._last_position = view.position
        if view.position == 0:
            return STOP if self.stop_at_empty(view, obs) or getattr(self, "max", 1) == 0 else CONTINUE
        stop = bool(self.decide(view, obs))
        verified = stop_verifies(view.position, self.acting_mode)
        if hasattr(self, "min") and verified < self.min:
            return CONTINUE
        if hasattr(self, "max") and verified >= self.max:
            return STOP
        return STOP if stop else CONTINUE

    def predict(self, observation, state=None, episode_start=None, deterministic: bool = True):
        """SB3-style: ``(action, state)``; a batch of observations gives an array of actions.

        Rules are deterministic functions of the observation and their own (seeded) state, so `deterministic`
        only matters to learned policies. ``episode_start`` true resets the policy's per-episode state.
        """
        obs = np.asarray(observation, dtype=np.float32)
        starts = np.zeros(1, dtype=bool) if episode_start is None else np.asarray(episode_start, dtype=bool)
        if obs.ndim == 1:
            if starts.any():
                self.reset()
            return self.act(obs), state
        if obs.ndim != 2:
            raise ValueError(f"{self.name}: observation must be 1-D or a 2-D batch, got shape {obs.shape}")
        if len(obs) > 1 and self.block_state:
            raise ValueError(f"{self.spec} keeps per-block state and follows one episode at a time: evaluate it on "
                             "a single env (n_envs=1) or make one policy per env")
        starts = np.broadcast_to(starts.reshape(-1), (len(obs),))
        actions = []
        for row, start in zip(obs, starts, strict=True):
            if start:
                self.reset()
            actions.append(self.act(row))
        return np.asarray(actions, dtype=np.int64), state


def bounds_params(min_default: int = 0, max_default: int = 16, source: str = "") -> tuple:
    """The `min` / `max` parameters every rule carries: bounds on the draft length a stop verifies."""
    note = f" ({source})" if source else ""
    return (Param("min", int, min_default, "verify at least this many draft tokens per block", low=0),
            Param("max", int, max_default, f"verify at most this many draft tokens per block{note}", low=1))


def common_stop_mode(owner: str, policies: Sequence[Policy]) -> str | None:
    """The stop mode a set of sub-policies shares (None: all follow the env); a clear error if they differ."""
    modes = sorted({p.stop_mode for p in policies} - {None})
    if len(modes) > 1:
        raise ValueError(f"{owner}: its rules stop in different modes ({', '.join(modes)}); combine rules of one "
                         "stop mode (`ebsd policies` lists each rule's mode)")
    return modes[0] if modes else None


def latest(entropies: Sequence[float]) -> float | None:
    return float(entropies[-1]) if len(entropies) else None


def signal_settings(policies: Sequence[Policy]) -> dict:
    """The env settings of the draft-token signals that any of `policies` reads, as `EBSDEnv` keyword arguments:
    the extra signals if one reads them, and observation="position" if none reads any signal (that env computes
    none, so the policies pay for none: signals are charged to whoever reads them)."""
    reads = any(policy.reads_token_signals for policy in policies)
    return {"extra_signals": any(bool(policy.requires_extra_signals) for policy in policies),
            **({} if reads else {"observation": "position"})}
