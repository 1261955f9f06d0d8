"""What one `ebsd eval` runs: its variants (a policy spec and the env settings it runs under) and conditions
(temperature, tokens), from the policy list or an ablation's expansion (docs/eval.md lists each ablation)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import DEFAULT_POLICIES, EvalConfig

BASELINES = ("no-spec", "fixed-k:k=1", "fixed-k:k=2", "fixed-k:k=4", "fixed-k:k=8")
# Entropy measures and threshold pairs (nats of that measure) for `--ablation entropy-type`; each measure has
# its own scale (Tsallis q=2 stays below 1, top-k below log k), so each gets thresholds inside its range.
ENTROPY_TYPE_GRID = (("shannon", None, (0.5, 1.5)), ("renyi", 2.0, (0.3, 1.0)), ("tsallis", 2.0, (0.2, 0.5)),
                     ("topk", 10.0, (0.3, 1.0)))
ABLATIONS = ("entropy-type", "topk", "entropy-temperature", "temperature", "criteria", "thresholds", "length",
             "stop-mode")


@dataclass(frozen=True)
class Variant:
    """A policy spec plus the env settings it runs under (those that differ from the run's defaults)."""

    spec: str
    env: tuple = ()  # sorted (key, value) pairs

    @property
    def label(self) -> str:
        if not self.env:
            return self.spec
        return self.spec + " @ " + ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.env)


@dataclass(frozen=True)
class Condition:
    temperature: float
    max_new_tokens: int


@dataclass
class Plan:
    variants: list[Variant]
    conditions: list[Condition]
    notes: list[str] = field(default_factory=list)


def _variant(spec: str, **env) -> Variant:
    return Variant(spec, tuple(sorted((k, v) for k, v in env.items() if v is not None)))


def build_plan(config: EvalConfig) -> Plan:
    """Variants and conditions of a run: the policy list, or an ablation's expansion (listed in docs/eval.md)."""
    temps = [float(t) for t in config.temperature]
    conditions = [Condition(t, config.max_new_tokens) for t in temps]
    name = config.ablation
    if name is None:
        return Plan([_variant(s) for s in _policy_specs(config)], conditions)
    variants, own_conditions, note = _ablation(name, temps, config.max_new_tokens)
    return Plan(list(dict.fromkeys(variants)), conditions if own_conditions is None else own_conditions,
                [f"ablation {name}: {note}"])


def _policy_specs(config: EvalConfig) -> list[str]:
    """--policies once each (trained artifacts allowed to mismatch with --allow-mismatch), the verifier alone
    first where it is missing."""
    specs = list(dict.fromkeys(config.policies))
    if config.allow_mismatch:
        specs = [f"{s},allow_mismatch=1" if s.split(":", 1)[0] in ("ppo", "tuned") else s for s in specs]
    if "no-spec" not in specs:
        specs.insert(0, "no-spec")
    return specs


def _ablation(name: str, temps: list[float], max_new_tokens: int) -> tuple[list[Variant], list[Condition] | None, str]:
    """An ablation's variants, its own conditions (None: the run's) and the note the report gives it."""
    base = [_variant(spec) for spec in BASELINES]
    conditions = None
    if name == "entropy-type":
        variants = base + [_variant(f"entropy-abs:theta={theta}", entropy=measure, entropy_param=param)
                           for measure, param, thetas in ENTROPY_TYPE_GRID for theta in thetas]
        note = "entropy-abs under Shannon / Rényi(2) / Tsallis(2) / top-10 entropy, two thresholds each"
    elif name == "topk":
        variants = base + [_variant("entropy-abs:theta=0.8", entropy="shannon")] + [
            _variant("entropy-abs:theta=0.8", entropy="topk", entropy_param=float(k)) for k in (5, 20, 100)]
        note = "full-vocabulary Shannon entropy vs top-k entropy (k = 5, 20, 100), same threshold"
    elif name == "entropy-temperature":
        variants = base + [_variant("entropy-abs:theta=1.0", entropy_temperature=t) for t in (0.5, 1.0, 2.0)]
        note = "entropy of the drafter's logits at temperature 0.5 / 1 / 2, same threshold"
    elif name == "temperature":
        variants = [_variant(s) for s in DEFAULT_POLICIES if s != "oracle-first-reject"]
        conditions = [Condition(t, max_new_tokens) for t in (0.0, 0.7, 1.0)]
        note = "sampling temperature 0 / 0.7 / 1.0 (lossless speculative sampling)"
    elif name == "criteria":
        variants = base + [_variant(s) for s in (
            "entropy-abs:theta=1.0", "entropy-rel:theta=2.0", "entropy-window:theta=1.0,w=3",
            "combined:mode=any,rules=[entropy-abs:theta=1.0;entropy-rel:theta=2.0]",
            "combined:mode=all,rules=[entropy-abs:theta=1.0;entropy-rel:theta=2.0]")]
        note = "single criteria vs combined (any / all)"
    elif name == "thresholds":
        variants = base + [_variant(s) for s in (
            "entropy-abs:theta=1.0", "adaedl-like", "bandit-ucb", "entropy-pos:alpha=-0.1,theta=1.5",
            "entropy-pos:alpha=0.1,theta=0.8")]
        note = ("static (entropy-abs) vs adaptive (adaedl-like, bandit-ucb over k) vs position-dependent "
                "(entropy-pos) thresholds")
    elif name == "stop-mode":
        variants = base + [_variant(spec, stop_mode=mode) for spec in ("entropy-abs:theta=0.5", "entropy-abs:theta=1.5",
                                                                      "entropy-abs:theta=3.0",
                                                                      "oracle-first-reject")
                           for mode in ("include", "exclude")]
        note = "the same rules in include and exclude stop mode (which mode is faster decides the env's default)"
    elif name == "length":
        variants = base + [_variant(s) for s in ("entropy-abs:theta=0.5", "entropy-abs:theta=1.5")]
        conditions = [Condition(t, n) for t in temps for n in (32, 64, 128)]
        note = "generated length 32 / 64 / 128 tokens"
    else:
        raise ValueError(f"unknown ablation {name!r}; valid: {', '.join(ABLATIONS)}")
    return variants, conditions, note
