"""The analysis concepts every room shares, one function each: the verifier alone, the best static policy, the
cost ratio and the fastest deployable policy.

Here (floor 1) rather than in `eval/` so that `train/` (best-model selection, its logged baselines) and `eval/`
(tables, the verdict, the docs) use the same definitions; both floors above import this one.

- **The verifier alone** is the policy that stops at every empty draft (`no-spec`, or `fixed-k:k=0`): every
  token comes from one verification of one token. `verifier_alone_rate` is its objective on the units given.
- **A static policy** drafts the same number of tokens in every block: `fixed-k:k=N` for N >= 0, `no-spec`
  being k = 0. `best_static` picks, per category, the static policy with the highest objective on the data it
  is given; `static_baseline` picks on one set of units (training or validation) and reports the pick's rate on
  another (the one it is judged on), with the best static in hindsight (picked on the judged units) beside it.
- **The cost ratio** is the seconds of one drafting step over the seconds of one verification of one token,
  both whole decoder calls as the clock charges them (`CostModel.draft_s / CostModel.verify_cost(1)`). The
  forward passes alone give another number (`ebsd bench decoder` reports it as ``forward_cost_ratio``).
- **The fastest policy** is the one with the highest objective among the non-privileged ones: an oracle sees
  what the verifier will do, so it is an upper bound, never a candidate.

Rates are the project's objective (`ebsd_env.envs.objective`): total tokens over total seconds of the units.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from ebsd_env.envs.objective import objective
from policies.base import SPECS, parse_spec, split_top

VERIFIER_ALONE_SPECS = ("no-spec", "fixed-k:k=0")  # the verifier alone, by its two spellings
STATIC_NAMES = ("no-spec", "fixed-k")
ALL = "all"  # the key of a rate over every prompt


def label_spec(label: str) -> str:
    """The policy spec of a row label: `eval.run` appends `` @ key=value,...`` to tell apart the env variants
    (ablations) of one spec; that suffix is not part of the spec grammar."""
    return label.split(" @ ", 1)[0]


def is_verifier_alone(label: str) -> bool:
    """Whether a label is the verifier alone (`no-spec`, `fixed-k:k=0`, with or without env settings)."""
    return label_spec(label).replace(" ", "") in VERIFIER_ALONE_SPECS


def verifier_alone(labels: Iterable[str]) -> str | None:
    """The verifier-alone label among `labels`: `no-spec` itself first, then `fixed-k:k=0`, then either with
    env settings (an ablation's); None without one."""
    labels = list(labels)
    exact = [spec for spec in VERIFIER_ALONE_SPECS if spec in labels]
    return exact[0] if exact else next((label for label in labels if is_verifier_alone(label)), None)


def is_static(label: str) -> bool:
    """Whether a label is a static policy: the same draft length in every block (fixed-k, k = 0 included)."""
    return parse_spec(label_spec(label))[0] in STATIC_NAMES


def privileged(label: str) -> bool:
    """Whether the policy of a row label sees what the verifier will do: an oracle, or a policy with an oracle
    among its sub-policies (given in its spec or by default). Read from the classes' `privileged` flags without
    building the policy (a PPO or tuned policy would load its file)."""
    from policies.registry import POLICIES  # importing the registry fills the class table

    name, items = parse_spec(label_spec(label))
    if name == "oracle":  # oracle-first-reject's former name, in rows written before the rename
        return True
    cls = POLICIES.get(name)
    if cls is None:
        return False
    if cls.privileged:
        return True
    given = {(key if key is not None else cls.params[0].name): text for key, text in items if cls.params}
    for param in cls.params:
        text = str(given.get(param.name, param.default)).strip() if param.kind == SPECS else ""
        if text.startswith("[") and text.endswith("]") and any(
                privileged(part.strip()) for part in split_top(text[1:-1], ";") if part.strip()):
            return True
    return False


def units_rate(units: Mapping, ids: Iterable | None = None) -> float:
    """The objective of ``{unit: (tokens, seconds)}`` over the units in `ids` (all units if None); nan without
    time."""
    keys = list(units) if ids is None else [i for i in ids if i in units]
    return objective((units[i][0] for i in keys), (units[i][1] for i in keys))


def verifier_alone_rate(work: Mapping[str, Mapping], ids: Iterable | None = None) -> float:
    """The verifier alone's objective: `work` maps policy labels to ``{unit: (tokens, seconds)}``; the rate of
    its verifier-alone label over `ids` (all its units if None). A one-line error when `work` has none."""
    label = verifier_alone(work)
    if label is None:
        raise ValueError(f"no verifier-alone policy among {sorted(work)}: add no-spec (k = 0) to the policies")
    return units_rate(work[label], ids)


def best_static(rates: Mapping[str, Mapping[str, float]]) -> dict[str, str | None]:
    """Per category, the static policy (fixed-k ∪ k = 0) with the highest rate in ``rates[label][category]``
    (labels that are not static are ignored; ties go to the shorter draft, the first in label order). None for
    a category where no static policy has a finite rate."""
    static = sorted((label for label in rates if is_static(label)), key=_draft_length)
    categories = list(dict.fromkeys(c for label in static for c in rates[label]))
    out: dict[str, str | None] = {}
    for category in categories:
        scored = [(rates[label][category], label) for label in static
                  if category in rates[label] and math.isfinite(rates[label][category])]
        out[category] = max(scored, key=lambda pair: pair[0])[1] if scored else None
    return out


def _draft_length(label: str) -> tuple[int, str]:
    items = dict(parse_spec(label_spec(label))[1])
    value = items.get("k", items.get(None, "0"))
    try:
        return int(value), label
    except ValueError:
        return 0, label


def static_baseline(choose_on: Mapping[str, Mapping[str, float]],
                    judge_on: Mapping[str, Mapping[str, float]]) -> dict[str, dict]:
    """The best static policy per category CHOSEN on `choose_on` (training or validation rates) and judged on
    `judge_on` (the rates it is reported with), beside the best static IN HINDSIGHT (chosen on `judge_on`
    itself, which only flatters the baseline). Both map ``label -> category -> rate``; a category `choose_on`
    lacks (one held out of validation) takes its pick over all its prompts, key ``"all"``. Per category:
    ``{"chosen", "chosen_rate", "hindsight", "hindsight_rate"}`` (rates on `judge_on`)."""
    chosen, hindsight = best_static(choose_on), best_static(judge_on)
    out = {}
    for category in hindsight:
        pick = chosen.get(category) or chosen.get(ALL)  # a category `choose_on` lacks: its pick over all
        out[category] = {"chosen": pick,
                         "chosen_rate": judge_on.get(pick, {}).get(category, float("nan")) if pick else float("nan"),
                         "hindsight": hindsight[category],
                         "hindsight_rate": judge_on[hindsight[category]][category] if hindsight[category]
                         else float("nan")}
    return out


def cost_ratio(draft_step_s: float, verify_one_s: float) -> float:
    """THE cost ratio: seconds of one drafting step over seconds of one verification of one token (nan when
    either is missing or not positive)."""
    if not (draft_step_s and verify_one_s) or draft_step_s <= 0 or verify_one_s <= 0:
        return float("nan")
    return float(draft_step_s) / float(verify_one_s)


def cost_ratio_of(costs) -> float:
    """The cost ratio of a calibrated clock: a `CostModel` or its dict (``draft_s``, ``verify_points`` from fed
    = 1)."""
    if isinstance(costs, Mapping):
        one = dict((int(fed), seconds) for fed, seconds in costs["verify_points"]).get(1)
        return cost_ratio(costs["draft_s"], one)
    return cost_ratio(costs.draft_s, costs.verify_cost(1))


def fastest(rates: Mapping[str, float], is_privileged=privileged) -> str | None:
    """The label with the highest finite rate among the non-privileged ones (oracles excluded: upper bounds,
    not policies one can deploy); None if none has a finite rate. `is_privileged` may be a summary's own
    record of which labels are privileged."""
    scored = [(rate, label) for label, rate in rates.items()
              if rate is not None and math.isfinite(rate) and not is_privileged(label)]
    return max(scored, key=lambda pair: pair[0])[1] if scored else None
