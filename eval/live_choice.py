"""Choose a policy by live runs on the validation prompts, in every setting it must work in.

    ebsd eval --prompt-source split/validation.jsonl --threads 1 --policies BASELINE CANDIDATE ... --out val-1t
    ebsd eval --prompt-source split/validation.jsonl --threads 2 --policies BASELINE CANDIDATE ... --out val-2t
    python -m eval.live_choice --runs 1t=val-1t 2t=val-2t --baseline "multi-static:drafter=int4,k=16" --out OUT

Replay ranks candidates by the observations recorded in the traces. Where live decoding sees others, replay can
rank them wrongly: the int4 copy's chains depend on the float rounding of the verifier's cache, which differs
between recording and live blocks (docs/replay.md), and a policy trained on another machine's prices can lead
on replay yet trail live on this machine (docs/training.md). So a choice that ships a policy also looks at the
wall clock, on prompts that nothing trained on and the final test does not use: the validation split.

The rule. In each run (one setting, e.g. a thread count: an `ebsd eval` output folder, or several repeats of it,
pooled), a policy's rate is its tokens over its decode seconds (drafting, verification and its own decisions),
pooled over the prompts, and its ratio is that rate over the baseline's in the same run. `ebsd eval` alternates
the policies prompt by prompt, so the ratio compares arms measured side by side. The chosen candidate has the
highest worst ratio over the runs (maximin: a policy must not lose in any setting to win). Worst ratios within
``--tie`` of the highest (default 0.01: arms of one run differ by a few per cent by noise alone) are a tie, which
the higher geometric mean of the ratios breaks. Candidates default to every learned (``ppo:``) policy in the runs.

How sure is it? The prompts of each run are resampled with replacement (paired: every policy of a run keeps the
same resampled prompts; whole: a prompt's repeats go with it), and the rule is applied to each resample: how often
each candidate would be chosen, and a 90 % interval of each ratio. With ``--incumbent`` (the policy shipped now), a
challenger replaces it only when it is chosen in at least ``--confidence`` of the resamples (default 0.9);
otherwise the incumbent stays.

A one-line error, before anything is written: a run that is missing, has no episodes, decoded a prompt file named
``test*`` (the test split is used once, for the final numbers), lacks the baseline or a candidate, or decoded
other prompts than the first run.

Writes OUT/live_choice.json (every rate and ratio, the choice) and prints the table.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tyro

from ebsd_env.envs.objective import objective

LEARNED_PREFIX = "ppo:"
VERIFIER = "no-spec"


@dataclass
class LiveChoiceConfig:
    runs: list[str]
    """``LABEL=FOLDER`` per setting: an `ebsd eval` output folder of the validation prompts (e.g. ``1t=val-1t``);
    repeats of one setting comma-separated (``1t=val-1t,val-1t-again``), pooled."""
    baseline: str
    """The policy every candidate is measured against in each run (e.g. the static policy chosen on training)."""
    candidates: list[str] = field(default_factory=list)
    """The policies to choose from (default: every ``ppo:`` policy in the runs)."""
    tie: float = 0.01
    """Worst ratios within this of the highest are tied (then the higher geometric mean wins)."""
    resamples: int = 2000
    """Bootstrap resamples of the prompts (0: none): how often each candidate would be chosen, and ratio CIs."""
    seed: int = 0
    """Seed of the bootstrap."""
    incumbent: str | None = None
    """The policy shipped now, one of the candidates: it stays unless another is chosen in at least --confidence of
    the bootstrap resamples (a choice that noise could reverse does not replace it)."""
    confidence: float = 0.9
    """The share of resamples a challenger must be chosen in to replace the incumbent."""
    out: Path | None = None
    """Where live_choice.json goes (default: print only)."""


def run_units(folder: Path) -> tuple[dict[str, dict[tuple, tuple[float, float]]], str]:
    """(policy -> {episode unit: (tokens, decode seconds)}, the run's prompt source) of an `ebsd eval` folder; a unit
    is (prompt, seed, temperature, max_new_tokens)."""
    from eval.run.rows import read_rows

    folder = Path(folder)
    rows = read_rows(folder / "episodes.jsonl")
    if not rows:
        raise ValueError(f"{folder} has no episodes (episodes.jsonl missing or empty): give an `ebsd eval --out` "
                         "folder of a finished run")
    source = ""
    run_file = folder / "run.json"
    if run_file.is_file():
        source = str(json.loads(run_file.read_text()).get("prompts") or "")
    units: dict[str, dict[tuple, tuple[float, float]]] = {}
    for row in rows:
        stats = row["stats"]
        unit = (row["prompt_id"], row["seed"], row["temperature"], row["max_new_tokens"])
        units.setdefault(row["variant"], {})[unit] = (float(stats["new_tokens"]), float(stats["decode_s"]))
    return units, source


def _rate(units: Mapping[tuple, tuple[float, float]]) -> float:
    return objective((tokens for tokens, _ in units.values()), (seconds for _, seconds in units.values()))


def _pick(worst: Mapping[str, float], geomean: Mapping[str, float], tie: float) -> tuple[str, list[str]]:
    """(the chosen candidate, the candidates tied with it): the highest worst ratio, ties by geometric mean."""
    best_worst = max(worst.values())
    tied = [p for p in worst if worst[p] >= best_worst - tie]
    return max(tied, key=lambda p: (geomean[p], worst[p])), tied


def _bootstrap(runs, baseline: str, candidates: Sequence[str], tie: float, resamples: int, seed: int) -> dict:
    """Prompts resampled with replacement, each run on its own, paired across the policies of a run (they decoded
    the same prompts side by side) and whole (a prompt's seeds and repeats go together, as they are not independent):
    how often each candidate would be chosen, and a 90 % interval of each ratio."""
    rng = np.random.default_rng(seed)
    policies = [baseline, *candidates]
    draws: dict[str, np.ndarray] = {}  # run -> [resamples, policies] ratios to the baseline
    for label, units in runs.items():
        prompts = sorted({unit[0] for unit in units[baseline]}, key=repr)
        column = {prompt: i for i, prompt in enumerate(prompts)}
        tokens, seconds = np.zeros((len(policies), len(prompts))), np.zeros((len(policies), len(prompts)))
        for row, policy in enumerate(policies):  # each prompt's sums: the pooled rate of a resample adds them
            for unit, (unit_tokens, unit_seconds) in units[policy].items():
                tokens[row, column[unit[0]]] += unit_tokens
                seconds[row, column[unit[0]]] += unit_seconds
        index = rng.integers(0, len(prompts), size=(resamples, len(prompts)))
        rates = tokens[:, index].sum(-1) / seconds[:, index].sum(-1)  # [policies, resamples]
        draws[label] = (rates[1:] / rates[0]).T
    wins = dict.fromkeys(candidates, 0)
    for b in range(resamples):
        values = np.array([draws[label][b] for label in runs])  # [runs, candidates]
        worst = dict(zip(candidates, values.min(0), strict=True))
        geomean = dict(zip(candidates, np.exp(np.log(values).mean(0)), strict=True))
        wins[_pick(worst, geomean, tie)[0]] += 1
    return {"resamples": resamples, "seed": seed, "chosen_share": {p: wins[p] / resamples for p in candidates},
            "ratio_ci90": {label: {p: [float(np.quantile(draws[label][:, i], q)) for q in (0.05, 0.95)]
                                   for i, p in enumerate(candidates)} for label in runs}}


def choose_live(runs: Mapping[str, Mapping[str, Mapping[tuple, tuple[float, float]]]], baseline: str,
                candidates: Sequence[str] = (), tie: float = 0.01, resamples: int = 2000, seed: int = 0,
                incumbent: str | None = None, confidence: float = 0.9) -> dict:
    """The maximin choice (module docstring) from `runs`: setting label -> `run_units`' first item; with
    `resamples` > 0, how stable it is under a bootstrap of the prompts (`_bootstrap`). With an `incumbent`,
    ``decision`` is the challenger only when it is chosen in at least `confidence` of the resamples."""
    if not runs:
        raise ValueError("no runs given: pass --runs LABEL=FOLDER for at least one `ebsd eval` folder")
    labels = list(runs)
    first = runs[labels[0]]
    if not candidates:
        candidates = [p for p in first if p.startswith(LEARNED_PREFIX) and p != baseline]
        if not candidates:
            raise ValueError(f"run {labels[0]} has no ppo: policy to choose from: name them with --candidates")
    if incumbent is not None and (incumbent not in candidates or resamples <= 0):
        raise ValueError(f"the incumbent {incumbent} must be one of the candidates ({', '.join(candidates)}) and "
                         "--resamples > 0 (the bootstrap decides whether a challenger replaces it)")
    prompts = None
    for label, units in runs.items():
        missing = [p for p in [baseline, *candidates] if p not in units]
        if missing:
            raise ValueError(f"run {label} lacks {', '.join(missing)}: run `ebsd eval` with the baseline and "
                             "every candidate in --policies")
        these = set(units[baseline])
        if prompts is None:
            prompts = {unit[0] for unit in these}
        elif {unit[0] for unit in these} != prompts:
            raise ValueError(f"run {label} decoded other prompts than run {labels[0]}: decode the same "
                             "validation prompts in every setting")
        for policy in candidates:
            if set(units[policy]) != these:
                raise ValueError(f"run {label}: {policy} decoded other prompts than the baseline {baseline}; "
                                 "rerun `ebsd eval` into the same --out to finish the run")
    rates = {label: {p: _rate(units[p]) for p in [baseline, *candidates, VERIFIER] if p in units}
             for label, units in runs.items()}
    ratios = {label: {p: rates[label][p] / rates[label][baseline] for p in rates[label]} for label in labels}
    scores = {}
    for policy in candidates:
        values = [ratios[label][policy] for label in labels]
        scores[policy] = {"worst": min(values), "geomean": math.exp(sum(map(math.log, values)) / len(values))}
    chosen, tied = _pick({p: s["worst"] for p, s in scores.items()}, {p: s["geomean"] for p, s in scores.items()},
                         tie)
    result = {"runs": labels, "baseline": baseline, "candidates": list(candidates), "prompts": len(prompts),
              "rates": rates, "ratios": ratios, "scores": scores, "tied": tied, "chosen": chosen,
              "rule": f"highest worst ratio to the baseline over the runs; within {tie} of it, the highest "
                      "geometric mean"}
    if resamples > 0:
        result["bootstrap"] = _bootstrap(runs, baseline, candidates, tie, resamples, seed)
    if incumbent is not None:
        share = result["bootstrap"]["chosen_share"][chosen]
        replace = chosen != incumbent and share >= confidence
        result["incumbent"] = incumbent
        result["decision"] = chosen if replace else incumbent
        result["decision_reason"] = (
            f"{chosen} is the incumbent" if chosen == incumbent else
            f"{chosen} chosen in {share:.0%} of resamples (>= {confidence:.0%}): it replaces {incumbent}" if replace
            else f"{chosen} chosen in only {share:.0%} of resamples (< {confidence:.0%}): {incumbent} stays")
    return result


def markdown(result: Mapping) -> str:
    labels = result["runs"]
    boot = result.get("bootstrap")
    head = ("| policy | " + " | ".join(f"{label}: tok/s (× baseline{', 90 % CI' if boot else ''})" for label in labels)
            + " | worst | geomean |" + (" chosen in resamples |" if boot else ""))
    lines = [head, "|" + "---|" * (len(labels) + 3 + bool(boot))]
    policies = [result["baseline"], *result["candidates"]]
    if all(VERIFIER in result["rates"][label] for label in labels) and VERIFIER not in policies:
        policies.append(VERIFIER)
    for policy in policies:
        cells = []
        for label in labels:
            ci = boot["ratio_ci90"][label].get(policy) if boot else None
            interval = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
            cells.append(f"{result['rates'][label][policy]:.2f} ({result['ratios'][label][policy]:.3f}×{interval})")
        score = result["scores"].get(policy)
        tail = [f"{score['worst']:.3f}", f"{score['geomean']:.3f}"] if score else ["–", "–"]
        if boot:
            share = boot["chosen_share"].get(policy)
            tail.append(f"{share:.0%}" if share is not None else "–")
        mark = " **chosen**" if policy == result["chosen"] else ""
        lines.append(f"| `{policy}`{mark} | " + " | ".join(cells + tail) + " |")
    return "\n".join(lines)


def _parse_runs(items: Sequence[str]) -> dict[str, list[Path]]:
    runs = {}
    for item in items:
        label, sep, folders = item.partition("=")
        if not sep or not label or not folders or "" in folders.split(","):
            raise ValueError(f"--runs takes LABEL=FOLDER[,FOLDER...] (e.g. 1t=runs/val-1t), got {item!r}")
        if label in runs:
            raise ValueError(f"--runs names {label!r} twice: give each setting one label, its repeats "
                             "comma-separated")
        runs[label] = [Path(folder) for folder in folders.split(",")]
    return runs


def setting_units(label: str, folders: Sequence[Path]) -> dict[str, dict[tuple, tuple[float, float]]]:
    """The units of one setting's runs (repeats pooled: each unit gains its repeat's index), refusing a test split."""
    pooled: dict[str, dict[tuple, tuple[float, float]]] = {}
    for repeat, folder in enumerate(folders):
        units, source = run_units(folder)
        if Path(source).name.startswith("test"):
            raise ValueError(f"run {label} decoded {source}, a test split: choose on the validation prompts "
                             "(the test prompts are decoded once, for the final numbers)")
        for policy, policy_units in units.items():
            pooled.setdefault(policy, {}).update({(*unit, repeat): value for unit, value in policy_units.items()})
    return pooled


def main(argv: list[str] | None = None) -> int:
    from ebsd_env.io import write_json_atomic

    config = tyro.cli(LiveChoiceConfig, args=sys.argv[1:] if argv is None else argv, description=__doc__)
    try:
        if not 0 <= config.tie < 1 or config.resamples < 0 or not 0 < config.confidence <= 1:
            raise ValueError(f"--tie must be in [0, 1), --resamples >= 0 and --confidence in (0, 1], got "
                             f"{config.tie}, {config.resamples} and {config.confidence}")
        folders = _parse_runs(config.runs)
        runs = {label: setting_units(label, paths) for label, paths in folders.items()}
        result = choose_live(runs, config.baseline, config.candidates, config.tie, config.resamples, config.seed,
                             config.incumbent, config.confidence)
    except ValueError as error:
        print(f"eval.live_choice: {error}", file=sys.stderr)
        return 2
    result["folders"] = {label: [str(folder) for folder in paths] for label, paths in folders.items()}
    if config.out is not None:
        config.out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(config.out / "live_choice.json", result, sort_keys=True)
    print(markdown(result))
    boot = result.get("bootstrap")
    share = (f" (chosen in {boot['chosen_share'][result['chosen']]:.0%} of {boot['resamples']} prompt resamples)"
             if boot else "")
    print(f"chosen: {result['chosen']}{share}")
    if "decision" in result:
        print(f"decision: {result['decision']} ({result['decision_reason']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
