"""What `ebsd tune` searches: the grid of entropy rules, the Bayesian search spaces, and the specs they make.

A point of either search is a policy spec (`policies.make_policy`) and an entropy measure; both are checked here
before any episode runs. `train.tune` runs the studies over them.
"""

from __future__ import annotations

import itertools


class TuneError(ValueError):
    """Bad tuning arguments; the message names the problem and the fix."""


GRID_STRATEGIES = ("absolute", "relative", "combined")
# Default Bayesian search spaces per rule: name -> (low, high) (int bounds give integer parameters).
DEFAULT_SPACES: dict[str, dict[str, tuple]] = {
    "entropy-abs": {"theta": (0.05, 6.0), "min": (1, 3), "max": (2, 16)},
    "entropy-rel": {"theta": (1.05, 4.0), "min": (1, 3), "max": (2, 16)},
    "entropy-window": {"w": (1, 5), "theta": (0.05, 6.0), "min": (1, 3), "max": (2, 16)},
    "entropy-pos": {"theta": (0.05, 6.0), "alpha": (-0.5, 0.5), "min": (1, 3), "max": (2, 16)},
    "fixed-k": {"k": (1, 16)},
    "random-k": {"max_k": (1, 16)},
    # The field's rules: their thresholds and caps (svip's gamma and theta only matter through theta^2 / gamma).
    "hf-confidence": {"threshold": (0.02, 0.98), "max": (1, 16)},
    "hf-confidence-roc": {"threshold": (0.02, 0.98), "fn_weight": (0.5, 6.0), "max": (1, 16)},
    "hf-heuristic": {"k": (1, 12)},
    "svip": {"theta": (0.02, 1.2), "max": (1, 16)},
    "adaedl-like": {"lam": (0.05, 0.98), "target": (0.3, 0.98), "max": (1, 16)},
    "draft-verify": {"threshold": (0.05, 0.98), "target": (0.3, 0.98), "max": (1, 16)},
    "kangaroo": {"threshold": (0.02, 0.98), "max": (1, 16)},
    "llamacpp": {"p_min": (0.02, 0.98), "max": (1, 16)},
    "bandit-ucb": {"c": (0.05, 4.0)},
    "bandit-exp3": {"gamma": (0.01, 0.5)},
}


def parse_space(items: tuple[str, ...]) -> dict[str, tuple]:
    """`name=low:high` -> (low, high); `name=a|b` -> ("choice", [a, b])."""
    space = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise TuneError(f"bad --space item {item!r}: write name=low:high or name=a|b|c")
        if "|" in value:
            space[name] = ("choice", [_number(v) for v in value.split("|")])
            continue
        low, sep, high = value.partition(":")
        if not sep:
            raise TuneError(f"bad --space item {item!r}: write name=low:high or name=a|b|c")
        low, high = _number(low), _number(high)
        if not isinstance(low, (int, float)) or not isinstance(high, (int, float)) or low > high:
            raise TuneError(f"bad --space range {item!r}: need numbers with low <= high")
        space[name] = (low, high)
    return space


def _number(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def spec_of(rule: str, params: dict) -> str:
    return rule + (":" + ",".join(f"{k}={_fmt(v)}" for k, v in params.items()) if params else "")


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def grid_spec(strategy: str, theta_abs: float, theta_rel: float, window: int, low: int, high: int) -> str:
    """Policy spec of one grid point. The absolute strategy with a window > 1 is the sliding-window mean rule;
    `combined` stops when either the absolute (or window) rule or the relative rule does."""
    bounds = {"min": low, "max": high}
    absolute = (spec_of("entropy-abs", {"theta": theta_abs, **bounds}) if window == 1
                else spec_of("entropy-window", {"w": window, "theta": theta_abs, **bounds}))
    relative = spec_of("entropy-rel", {"theta": theta_rel, **bounds})
    if strategy == "absolute":
        return absolute
    if strategy == "relative":
        return relative
    # Sub-rules carry the same min / max (a sub-rule at its own max votes stop).
    return spec_of("combined", {"mode": "any", "rules": f"[{absolute};{relative}]", **bounds})


# The grid axes each strategy uses (the others would only repeat the same rule).
STRATEGY_AXES = {"absolute": ("theta_abs", "window_size"), "relative": ("theta_rel",),
                 "combined": ("theta_abs", "theta_rel", "window_size")}


def grid_points(config) -> list[dict]:
    """The plan's grid without duplicates: each strategy only varies the axes it uses (`config`: a TuneConfig)."""
    for axis in ("theta_abs", "theta_rel", "window_size", "min_draft_len", "max_draft_len", "entropy_type",
                 "stopping_strategy"):
        if not getattr(config, axis):
            raise TuneError(f"the grid is empty: --{axis.replace('_', '-')} has no values; give at least one")
    unknown = set(config.stopping_strategy) - set(GRID_STRATEGIES)
    if unknown:
        raise TuneError(f"unknown stopping strategy {sorted(unknown)}; valid: {', '.join(GRID_STRATEGIES)}")
    if max(config.window_size) > config.history:
        raise TuneError(f"--window-size {max(config.window_size)} exceeds the observation --history "
                        f"{config.history}; raise --history or drop the window")
    points = set()
    for strategy in config.stopping_strategy:
        used = STRATEGY_AXES[strategy]
        axes = {a: getattr(config, a) if a in used else getattr(config, a)[:1]
                for a in ("theta_abs", "theta_rel", "window_size")}
        for entropy, t_abs, t_rel, window, low, high in itertools.product(
                config.entropy_type, axes["theta_abs"], axes["theta_rel"], axes["window_size"],
                config.min_draft_len, config.max_draft_len):
            if low <= high:
                points.add((strategy, entropy, grid_spec(strategy, t_abs, t_rel, window, low, high)))
    if not points:
        raise TuneError("the grid is empty: every min_draft_len exceeds every max_draft_len")
    return [{"strategy": s, "entropy": e, "spec": spec} for s, e, spec in sorted(points)]


def check_rule(rule: str, space: dict) -> None:
    """The rule exists and every searched parameter is one of its numeric parameters."""
    from policies import list_policies

    rules = {row["name"]: row for row in list_policies()}
    if rule not in rules:
        raise TuneError(f"unknown rule {rule!r}; valid rules: {', '.join(rules)} (see `ebsd policies`)")
    params = {p["name"] for p in rules[rule]["params"] if p["type"] in ("int", "float", "str")}
    unknown = sorted(set(space) - params)
    if unknown:
        raise TuneError(f"rule {rule!r} has no parameter {', '.join(unknown)} to tune; its parameters: "
                        f"{', '.join(sorted(params)) or 'none'}")


def check_spec(spec: str) -> None:
    """Parse a spec up front, so a bad grid fails before any episode runs."""
    from policies import make_policy

    try:
        make_policy(spec)
    except ValueError as error:
        raise TuneError(f"grid point {spec!r} is not a valid policy: {error}") from None



def suggest_params(trial, space: dict) -> dict:
    """One optuna trial's parameters over `space` (`parse_space`'s form), a rule's min kept <= its max."""
    params = {}
    for pname, bounds in space.items():
        if bounds[0] == "choice":
            params[pname] = trial.suggest_categorical(pname, bounds[1])
        elif isinstance(bounds[0], int) and isinstance(bounds[1], int):
            params[pname] = trial.suggest_int(pname, bounds[0], bounds[1])
        else:
            params[pname] = trial.suggest_float(pname, float(bounds[0]), float(bounds[1]))
    if "min" in params and "max" in params and params["min"] > params["max"]:
        params["min"] = params["max"]
    return params
