"""`ebsd eval`: stopping policies x prompts (x seeds x temperatures) through the real environment and decoder.

Writes, under ``--out``:

- ``episodes.jsonl``: one row per (variant, prompt, seed, temperature, max_new_tokens) with every raw
  measurement (episode statistics, output ids, per-block draft/accept/timing/entropies, the verifier's NLL
  of sampled outputs). Rows are appended with flush + fsync, so an interrupted run loses at most the row in
  flight; rerunning with the same ``--out`` skips finished rows (a torn last line is dropped).
- ``summary.json`` (atomic): the metrics, comparisons, hypotheses and success criteria (`eval.analysis`).
- ``report.md`` with PNG plots under ``plots/``, and the same scalars as TensorBoard events under ``tb/``.

With no arguments: a short evaluation on the embedded pair and the built-in offline suite (7 categories x 2
prompts x 9 policies x 64 new tokens), well under 30 minutes on 2 CPU cores.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Annotated, Literal

import gymnasium as gym
import tyro
from tqdm.auto import tqdm

from ebsd_env.cli.args import ModelArgs, load_pair_from_args, parse
from ebsd_env.envs.block_rules import DEFAULT_STOP_MODE
from ebsd_env.envs.objective import OBJECTIVE
from ebsd_env.io import json_safe, write_atomic, write_json_atomic

DEFAULT_POLICIES = (
    "no-spec",
    "fixed-k:k=1",
    "fixed-k:k=2",
    "fixed-k:k=4",
    "fixed-k:k=8",
    "entropy-abs:theta=0.5",
    "entropy-abs:theta=1.5",
    "entropy-rel:theta=2.0",
    "combined",
    "svip",
    "oracle-first-reject",
)
BASELINES = ("no-spec", "fixed-k:k=1", "fixed-k:k=2", "fixed-k:k=4", "fixed-k:k=8")
ENV_KEYS = ("entropy", "entropy_param", "entropy_temperature", "max_draft_len", "min_draft_len", "history",
            "stop_mode")
# Entropy measures and threshold pairs (nats of that measure) for `--ablation entropy-type`; each measure has
# its own scale (Tsallis q=2 stays below 1, top-k below log k), so each gets thresholds inside its range.
ENTROPY_TYPE_GRID = (("shannon", None, (0.5, 1.5)), ("renyi", 2.0, (0.3, 1.0)), ("tsallis", 2.0, (0.2, 0.5)),
                     ("topk", 10.0, (0.3, 1.0)))
ABLATIONS = ("entropy-type", "topk", "entropy-temperature", "temperature", "criteria", "thresholds", "length",
             "stop-mode")


@dataclass
class EvalConfig(ModelArgs):
    """Evaluate stopping policies on a prompt suite with the real decoder and write a report."""

    prompts: Annotated[str, tyro.conf.arg(name="prompt-source")] = "builtin"
    ("prompt source: 'builtin' (offline suite), a .jsonl/.json/.csv/.parquet file with `category` and `prompt` or "
     "`turns`, or a benchmark name (gsm8k, cnn_dailymail, natural_questions, wmt14, openai_humaneval, mt_bench; "
     "NAME=PATH for a local copy)")
    categories: tuple[str, ...] | None = None
    """keep only these prompt categories (None: all of the source)"""
    policies: tuple[str, ...] = DEFAULT_POLICIES
    ("policy specs from the registry (`ebsd policies`), e.g. fixed-k:k=4 entropy-abs:theta=1.0 ppo:model.zip; no-spec "
     "(the verifier-alone reference) is added when missing")
    allow_mismatch: bool = False
    ("run trained artifacts (ppo:, tuned:) even where their fingerprint names another pair (a warning instead of the "
     "refusal); their env still has the observation layout, stop mode and draft bounds they were made for")
    limit_per_category: Annotated[int | None, tyro.conf.arg(name="prompts-per-category")] = 2
    """prompts per category (a seeded subset); 0 or less for all"""
    max_new_tokens: int = 64
    """tokens generated per prompt"""
    temperature: tuple[float, ...] = (0.0,)
    """sampling temperatures (0 = greedy); each is a separate condition"""
    seeds: tuple[int, ...] = (0,)
    """episode seeds (sampler and prompt subset); each prompt is decoded once per seed"""
    top_p: float = 1.0
    """nucleus sampling for temperature > 0"""
    out: str | None = None
    """output folder (reuse it to resume); default runs/{env}__{exp_name}__{seed}__{time}"""
    exp_name: str = "eval"
    """experiment name used in the default output folder"""
    drafters: tuple[str, ...] = ()
    ("several drafters side by side: one evaluation each under OUT/drafter=NAME on the same prompts (those every "
     "trained drafter among them held out), and a comparison in OUT/drafters.md and drafters.json")
    pair: Literal["embedded", "tiny-copy", "tiny-random", "tiny-noisy"] = "embedded"
    ("model pair: `embedded` (the models --drafter / --verifier name) or a config-built tiny pair (tests and smoke "
     "runs)")
    tiny: tyro.conf.Suppress[Literal["copy", "random", "noisy"] | None] = None
    """The tiny pair of --pair without its `tiny-` (the Python API's older spelling; kept in step with `pair`)."""
    clock: Literal["wall", "model"] = "wall"
    """wall: measured times; model: the env's calibrated cost model (deterministic)"""
    ablation: Literal["entropy-type", "topk", "entropy-temperature", "temperature", "criteria", "thresholds",
                      "length", "stop-mode"] | None = None
    ("an ablation (docs/eval.md lists each): replaces --policies (and --temperature / --max-new-tokens for temperature "
     "/ length)")
    entropy: str = "shannon"
    """entropy measure the env reports (shannon, renyi, tsallis, topk)"""
    entropy_param: float | None = None
    """Rényi alpha / Tsallis q / top-k k"""
    entropy_temperature: float = 1.0
    """temperature applied to the drafter's logits before the entropy"""
    max_draft_len: int = 40
    """the env's cap on a draft (40: the field rules' own caps, 20 for transformers and 40 for SVIP, bind)"""
    min_draft_len: int = 0
    """the env's floor on the draft length a stop verifies (0: a policy may verify without drafting)"""
    stop_mode: Literal["include", "exclude"] = DEFAULT_STOP_MODE
    ("stop mode of the policies that follow the env (entropy rules, PPO, the oracle); the field's rules and fixed-k "
     "run in their own mode (`ebsd policies` lists them)")
    history: int = 8
    """entropies per observation (a ppo: model must match what it was trained on)"""
    cost_model: str | None = None
    """JSON cost model for --clock model (None: calibrate the pair once)"""
    tensorboard: bool = True
    """also write the summary scalars as TensorBoard events under OUT/tb"""
    lossy_reference: bool = True
    ("also measure the verifier's int4 copy decoding alone on the same prompts (greedy; CPU, Llama-family "
     "verifiers): a LOSSY reference, reported apart from the policies with its agreement with the verifier")

    def __post_init__(self):
        # `pair` and `tiny` name the same thing (the flag is --pair; older callers give tiny=): keep them in step.
        named = self.pair.removeprefix("tiny-") if self.pair != "embedded" else None
        if self.tiny is not None and named is not None and self.tiny != named:
            raise ValueError(f"pair={self.pair!r} and tiny={self.tiny!r} disagree: give one of them")
        self.tiny = self.tiny or named
        self.pair = f"tiny-{self.tiny}" if self.tiny else "embedded"


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


# ------------------------------------------------------------------------------------------------- plan


def _variant(spec: str, **env) -> Variant:
    return Variant(spec, tuple(sorted((k, v) for k, v in env.items() if v is not None)))


def build_plan(config: EvalConfig) -> Plan:
    """Variants and conditions of a run: the policy list, or an ablation's expansion (listed in docs/eval.md)."""
    temps = [float(t) for t in config.temperature]
    conditions = [Condition(t, config.max_new_tokens) for t in temps]
    base = [_variant(spec) for spec in BASELINES]
    name = config.ablation
    if name is None:
        specs = list(dict.fromkeys(config.policies))
        if config.allow_mismatch:
            specs = [f"{s},allow_mismatch=1" if s.split(":", 1)[0] in ("ppo", "tuned") else s for s in specs]
        if "no-spec" not in specs:
            specs.insert(0, "no-spec")
        return Plan([_variant(s) for s in specs], conditions)
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
        conditions = [Condition(t, config.max_new_tokens) for t in (0.0, 0.7, 1.0)]
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
    return Plan(list(dict.fromkeys(variants)), conditions, [f"ablation {name}: {note}"])


# ------------------------------------------------------------------------------------------- jsonl store


def row_key(variant: str, prompt_id: str, seed: int, temperature: float, max_new_tokens: int) -> str:
    return json.dumps([variant, prompt_id, int(seed), float(temperature), int(max_new_tokens)])


def read_rows(path: Path) -> list[dict]:
    """Rows of an episodes file; a torn last line (an interrupted write) is cut off the file and ignored."""
    if not path.exists():
        return []
    data = path.read_bytes()
    rows, good_end = [], 0
    for line in data.splitlines(keepends=True):
        try:
            if not line.endswith(b"\n"):
                raise ValueError("unterminated line")
            rows.append(json.loads(line))
        except ValueError:
            if good_end + len(line) < len(data):
                raise ValueError(f"{path}: a corrupt line in the middle of the file (byte {good_end}); move the "
                                 "file away or fix that line to resume") from None
            with open(path, "r+b") as handle:  # drop the torn tail so new rows start on a fresh line
                handle.truncate(good_end)
            break
        good_end += len(line)
    return rows


def append_row(handle, row: dict) -> None:
    """One row as a line of strict JSON (a NaN, e.g. the acceptance of an episode that drafted nothing, is
    null: bare NaN breaks strict parsers), flushed and fsync'ed."""
    handle.write(json.dumps(json_safe(row), allow_nan=False) + "\n")
    handle.flush()
    os.fsync(handle.fileno())


# ------------------------------------------------------------------------------------------ measurements


class BlockRecorder(gym.Wrapper):
    """Records every verification's info (draft, accepted, emitted, times, entropies) as the env reports it."""

    def __init__(self, env):
        super().__init__(env)
        self.blocks: list[dict] = []

    def reset(self, **kwargs):
        self.blocks = []
        self._decide_s = 0.0  # the policy's decisions since the last verification
        return self.env.reset(**kwargs)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._decide_s += float(info.get("decide_s", 0.0))
        if info.get("verified"):
            self.blocks.append({"drafted": int(info["drafted"]), "accepted": int(info["accepted"]),
                                "emitted": int(info["emitted"]), "draft_s": float(info["draft_time_s"]),
                                "verify_s": float(info["verify_time_s"]), "decide_s": self._decide_s,
                                "entropies": [float(h) for h in info["block_entropies"]]})
            self._decide_s = 0.0
        return obs, reward, terminated, truncated, info


def charge_decisions(env, spec: str, index: int, seed: int, saved: Path) -> None:
    """Make the model clock of `env` charge policy `spec`'s decisions: the cost model's measured seconds per
    decision, measured first where it has none (`decision_cost`, a fresh instance on prompt `index`) and kept in
    `saved` so that a resumed run charges the same."""
    from ebsd_env.timing.clock import Clock
    from ebsd_env.timing.cost_model import CostModel
    from policies.registry import make_policy
    from policies.rollout import decision_cost

    costs = env.decode_clock.costs
    if spec not in costs.decide_s:
        on_disk = CostModel.load(saved).decide_s if saved.exists() else {}  # another env of the run may add some
        if spec in on_disk:  # measured before the run was interrupted (a given --cost-model lacks it): the same
            seconds = on_disk[spec]
        else:
            policy = make_policy(spec, env=env)
            # A privileged oracle decides by peeking at the live verifier, which a replay of its observations after
            # the episode cannot do; its peek runs outside every timer anyway, so its decisions are charged nothing.
            seconds = 0.0 if policy.privileged else decision_cost(env, policy, seed=seed,
                                                                  options={"prompt_index": index})
        costs = replace(costs, decide_s={**on_disk, **costs.decide_s, spec: seconds})
        costs.save(saved)
    env.decode_clock = Clock(env.decode_clock.kind, costs).for_policy(spec)


def verifier_nll(pair, ids: list[int], prompt_len: int) -> float:
    """Mean negative log-likelihood (nats) of the generated tokens under the verifier (temperature 1)."""
    import torch

    if len(ids) <= prompt_len:
        return float("nan")
    with torch.inference_mode():
        logits = pair.verifier(input_ids=torch.tensor([ids], device=pair.device)).logits[0, prompt_len - 1:-1]
        logp = torch.log_softmax(logits[:, : pair.vocab_size].float(), dim=-1)
        targets = torch.tensor(ids[prompt_len:], device=logp.device)
        return float(-logp.gather(1, targets[:, None]).mean())


# ----------------------------------------------------------------------------------------------- running


def validate(config: EvalConfig) -> None:
    """Every check that needs no model and no output folder. It runs before run.json is written: a typo must not
    leave a folder that then refuses the corrected rerun as "a run with different settings"."""
    from ebsd_env.cli.args import check_model_args
    from ebsd_env.decoding.entropy import EntropyConfig
    from ebsd_env.io import check_folder_path

    check_model_args(config)
    if config.max_new_tokens < 1:
        raise ValueError(f"--max-new-tokens must be >= 1, got {config.max_new_tokens}")
    if not config.seeds:
        raise ValueError("--seeds needs at least one seed")
    if min(config.seeds) < 0:
        raise ValueError(f"--seeds must be >= 0 (they seed NumPy and Gymnasium), got {min(config.seeds)}")
    if not config.temperature:
        raise ValueError("--temperature needs at least one temperature")
    for temperature in config.temperature:
        if not (math.isfinite(temperature) and temperature >= 0):
            raise ValueError(f"--temperature must be finite numbers >= 0 (0 = greedy), got {temperature}")
    if not 0 < config.top_p <= 1:
        raise ValueError(f"--top-p must be in (0, 1], got {config.top_p}")
    try:
        EntropyConfig(config.entropy, config.entropy_param, config.entropy_temperature)
    except ValueError as error:
        raise ValueError(f"--entropy / --entropy-param / --entropy-temperature: {error}") from None
    if config.history < 1:
        raise ValueError(f"--history must be >= 1, got {config.history}")
    if not 0 <= config.min_draft_len <= config.max_draft_len or config.max_draft_len < 1:
        raise ValueError(f"need 0 <= --min-draft-len <= --max-draft-len and --max-draft-len >= 1, got "
                         f"{config.min_draft_len} and {config.max_draft_len}")
    if config.prompts == "builtin" and config.categories:
        from ebsd_env.prompts import BUILTIN_CATEGORIES

        unknown = [c for c in config.categories if c not in BUILTIN_CATEGORIES]
        if unknown:
            raise ValueError(f"--categories: {', '.join(unknown)} not in the built-in suite; valid: "
                             f"{', '.join(BUILTIN_CATEGORIES)}")
    if config.cost_model is not None:
        from ebsd_env.timing.cost_model import CostModel

        CostModel.load(config.cost_model)  # a missing or corrupt file, named, before any model is loaded
    if config.out:
        check_folder_path(config.out, "--out")


def check_policies(plan: Plan) -> dict:
    """Fail before any model work on a spec the registry does not know (the error lists the valid ones).

    Returns one unbound instance per spec: what the run reads of each policy before it has an env (its stop
    mode, whether it needs extra signals). Made once per spec, since a `ppo:` spec loads its model file."""
    from policies.registry import make_policy

    probes = {}
    for variant in plan.variants:
        if variant.spec in probes:
            continue
        try:
            probes[variant.spec] = make_policy(variant.spec)
        except ValueError as error:
            raise ValueError(f"--policies: bad policy spec {variant.spec!r}: {error}") from error
        if getattr(probes[variant.spec], "replay_only", False):
            raise ValueError(f"--policies {variant.spec}: it plans on recorded traces (EBSD-Replay-v1) and `ebsd eval` "
                             "decodes live; drop it here and compare with it on traces (`ebsd bench env --backend "
                             "replay`, `ebsd tune --traces`)")
    return probes


def default_out(config: EvalConfig) -> Path:
    env_id = "EBSD-Deterministic-v1" if config.clock == "model" else "EBSD-v1"
    return Path("runs") / f"{env_id}__{config.exp_name}__{config.seeds[0]}__{int(time.time())}"


def _run_identity(config: EvalConfig, pair) -> dict:
    return {"drafter": pair.drafter_name, "verifier": pair.verifier_name, "clock": config.clock,
            "prompts": config.prompts, "top_p": config.top_p}


def evaluate(config: EvalConfig, pair=None, held_out: set[str] | None = None) -> Path:
    """Run (or resume) the evaluation described by `config`; return the output folder. `held_out`: evaluate
    the built-in suite's prompts of these ids (default: the drafter's own held-out prompts, if it has any)."""
    import torch

    from ebsd_env.cli.args import check_threads
    from ebsd_env.decoding.kernels import configure_threads

    check_threads(config)  # in the flag's own words, before torch is set
    previous = torch.get_num_threads()
    configure_threads(config.threads)
    try:
        return _evaluate(config, pair, held_out)
    finally:  # the caller's thread setting comes back (tests and notebooks run other work afterwards)
        torch.set_num_threads(previous)


def evaluate_drafters(config: EvalConfig) -> Path:
    """`--drafters`: the same evaluation for each drafter, on the prompts none of them was trained on, and a
    side-by-side comparison (`drafters.json`, `drafters.md`)."""
    from ebsd_env.prompts import common_heldout_ids

    names = list(dict.fromkeys(config.drafters))
    if config.tiny is not None:
        raise ValueError("--drafters needs real drafters by name; it cannot be combined with a tiny --pair")
    validate(config)
    check_policies(build_plan(config))
    out = Path(config.out) if config.out else default_out(config)
    pairs = {name: load_pair_from_args(replace(config, drafter=name, drafters=())) for name in names}
    held_out = common_heldout_ids(pairs.values())
    folders = {}
    for name, pair in pairs.items():
        sub = replace(config, drafters=(), drafter=name, out=str(out / f"drafter={name.replace('/', '_')}"))
        folders[name] = evaluate(sub, pair=pair, held_out=held_out)
    comparison = compare_drafters({name: json.loads((folder / "summary.json").read_text())
                                   for name, folder in folders.items()})
    write_json_atomic(out / "drafters.json", comparison)
    write_atomic(out / "drafters.md", drafters_markdown(comparison))
    return out


def compare_drafters(summaries: dict[str, dict]) -> dict:
    """Per drafter, from its summary: the verifier alone's tokens/s, the drafter's cost ratio
    (`policies.baselines.cost_ratio`: a drafting step over a one-token verification, from the run's cost model)
    and acceptance at k = 1 (from the fixed-k runs), the best static policy per category and the speedup of
    those together, the best single fixed k, and every policy's overall speedup over the verifier alone (the
    objective's ratio on the same prompts). The fastest drafter is the one whose fastest non-privileged policy
    is fastest (an oracle is an upper bound, not a policy)."""
    from policies.baselines import cost_ratio_of

    rows = {}
    for name, summary in summaries.items():
        label, cond = next(iter(summary["conditions"].items()))
        results = cond["results"]
        reference = cond["reference"]
        meta = summary.get("meta", {})
        cost = next(iter(meta.get("cost_models", {}).values()), None)
        fixed_one = next((v for v in cond["variants"] if v == "fixed-k:k=1"), None)
        speedups = {v: results[v]["all"]["speedup_vs_verifier"]["mean"] for v in cond["variants"]
                    if "speedup_vs_verifier" in results[v].get("all", {})}
        static = {c: cond["best_fixed_k"].get(c) for c in cond["categories"]}
        alone = cond.get("verifier_alone_tokens_per_s", {}).get("all")
        if alone is None and reference:  # a summary written before the analysis recorded it
            alone = results[reference]["all"]["tokens_per_s"]["mean"]
        rows[name] = {
            "condition": label,
            "verifier_tokens_per_s": alone,
            "cost_ratio": cost_ratio_of(cost) if cost else None,
            "acceptance_k1": results[fixed_one]["all"]["acceptance_rate"] if fixed_one else None,
            "best_static_per_category": static,
            "best_static_speedup": cond.get("best_static_speedup", {}).get("mean"),
            "best_fixed_k_speedup": max((s for v, s in speedups.items() if v.startswith("fixed-k")), default=None),
            "speedups": speedups,
        }
    return {"drafters": rows, "fastest": fastest_drafter(rows)}


def fastest_drafter(rows: dict[str, dict]) -> str | None:
    """The drafter whose fastest non-privileged policy (`policies.baselines.fastest`) has the highest speedup."""
    from policies.baselines import fastest

    best = {name: fastest(row["speedups"]) for name, row in rows.items()}
    scored = {name: rows[name]["speedups"][v] for name, v in best.items() if v is not None}
    return max(scored, key=scored.get) if scored else None


def drafters_markdown(comparison: dict) -> str:
    rows = comparison["drafters"]
    policies = list(dict.fromkeys(v for row in rows.values() for v in row["speedups"]))
    per_category = any(row.get("best_static_speedup") is not None for row in rows.values())
    lines = ["| drafter | verifier alone tok/s | cost ratio | acceptance (k=1) | best single fixed k | "
             + ("best static per category | " if per_category else "")
             + " | ".join(policies) + " |", "|---" * (5 + per_category + len(policies)) + "|"]
    for name, row in rows.items():
        def fmt(value, pattern="{:.2f}"):
            return "–" if value is None or value != value else pattern.format(value)

        lines.append(f"| {name} | {fmt(row['verifier_tokens_per_s'], '{:.1f}')} | {fmt(row['cost_ratio'], '{:.3f}')} | "
                     f"{fmt(row['acceptance_k1'])} | {fmt(row['best_fixed_k_speedup'], '{:.2f}×')} | "
                     + (f"{fmt(row.get('best_static_speedup'), '{:.2f}×')} | " if per_category else "")
                     + " | ".join(fmt(row["speedups"].get(p), "{:.2f}×") for p in policies) + " |")
    lines += ["", f"Fastest drafter (its fastest non-privileged policy's speedup; oracles are upper bounds, not "
              f"candidates): {fastest_drafter(rows)}. Speedups are the objective (total tokens / total decoding "
              "time) over the verifier alone's, on the same held-out prompts. Cost ratio: one drafting step over one "
              "verification of one token (whole decoder calls, the run's cost model). Best single fixed k: one k for "
              "all prompts; best static per category: the fastest of fixed-k ∪ k = 0 in each category, chosen on "
              "these prompts (in hindsight)."]
    return "\n".join(lines) + "\n"


def _evaluate(config: EvalConfig, pair, held_out: set[str] | None = None) -> Path:
    import ebsd_env  # noqa: F401  (registers EBSD-v1)
    from ebsd_env.prompts import drafter_heldout_ids, heldout_prompts, load_prompts

    validate(config)
    limit = config.limit_per_category if config.limit_per_category and config.limit_per_category > 0 else None
    plan = build_plan(config)
    probes = check_policies(plan)  # what each policy needs of its env
    file_prompts = None
    if config.prompts != "builtin":  # a file or a benchmark is read (or refused) before any model is loaded
        file_prompts = load_prompts(config.prompts, categories=config.categories, limit_per_category=limit,
                                    seed=config.seeds[0])
    if pair is None:
        pair = load_pair_from_args(config, pair=f"tiny-{config.tiny}" if config.tiny else None)
    if held_out is None:
        held_out = drafter_heldout_ids(pair)
    if file_prompts is not None:
        prompts = file_prompts
    elif held_out:
        # A drafter trained by `ebsd distill` is evaluated on the suite prompts it never saw: its held-out ones.
        prompts = heldout_prompts(held_out, categories=config.categories, limit_per_category=limit)
        plan.notes.append(f"prompts: {len(prompts)} of the drafter's held-out prompts (never its training prompts)")
    else:
        prompts = load_prompts(None, categories=config.categories, limit_per_category=limit, seed=config.seeds[0])
    out = Path(config.out) if config.out else default_out(config)
    created = not out.exists()
    existed = set() if created else set(out.iterdir())
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _run_in(out, config, pair, plan, probes, prompts)
    except BaseException:
        # A run refused before its first episode row (a calibration that fails, a policy that will not bind)
        # leaves nothing behind (a folder it made, or run.json and the rest in one that was there), so the
        # corrected rerun does not meet a stale run.json.
        episodes = out / "episodes.jsonl"
        if not (episodes.is_file() and episodes.stat().st_size):
            for path in [out] if created else sorted(set(out.iterdir()) - existed):
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
        raise


def _run_in(out: Path, config: EvalConfig, pair, plan: Plan, probes: dict, prompts: list[dict]) -> Path:
    from policies.registry import make_policy
    from policies.rollout import run_episode

    identity = _run_identity(config, pair)
    identity_path = out / "run.json"
    if identity_path.exists():
        previous = json.loads(identity_path.read_text())
        changed = {k: (previous.get(k), v) for k, v in identity.items() if previous.get(k) != v}
        if changed:
            raise ValueError(f"{out} holds a run with different settings {changed} (old, new): resuming would mix "
                             "them; pass a new --out")
    else:
        write_json_atomic(identity_path, identity)

    episodes_path = out / "episodes.jsonl"
    rows = read_rows(episodes_path)
    done = {row["key"] for row in rows}
    # Interleaved: all variants of one prompt run back to back, in an order rotated from prompt to prompt, so
    # drifting machine load (a shared CPU) hits every policy alike instead of whichever runs last.
    n = len(plan.variants)
    todo = [(cond, plan.variants[(j + index) % n], index, seed) for cond in plan.conditions for seed in config.seeds
            for index in range(len(prompts)) for j in range(n)]
    todo = [item for item in todo if row_key(item[1].label, prompts[item[2]]["id"], item[3], item[0].temperature,
                                             item[0].max_new_tokens) not in done]
    total = len(plan.conditions) * len(plan.variants) * len(prompts) * len(config.seeds)
    from ebsd_env.decoding.kernels import machine_state, warn_if_busy

    # Wall-clock speedups are only comparable on a quiet machine: say so when it is not, and keep the load.
    machine_before, busy = machine_state(), (warn_if_busy() if config.clock == "wall" else None)
    envs: dict[tuple, object] = {}
    policies: dict[tuple, object] = {}
    base_env = {"entropy": config.entropy, "entropy_param": config.entropy_param,
                "entropy_temperature": config.entropy_temperature, "max_draft_len": config.max_draft_len,
                "min_draft_len": config.min_draft_len, "history": config.history, "stop_mode": config.stop_mode}

    def env_and_policy(cond: Condition, variant: Variant) -> tuple[dict, object, object]:
        """(env settings, env, bound policy) of a variant under a condition, made once and kept."""
        probe = probes[variant.spec]
        # A rule whose source stops in a given mode runs in an env of that mode.
        # A trained model runs in an env of the layout and mode it was trained in (its fingerprint).
        settings = {**base_env, **dict(variant.env), **({"stop_mode": probe.stop_mode} if probe.stop_mode else {}),
                    "extra_signals": bool(probe.requires_extra_signals), **probe.env_requirements()}
        env_key = (cond, tuple(sorted(settings.items())))
        if env_key not in envs:
            # The env calibrates a cost model per pair and temperature (its reward baseline and the model
            # clock); it is kept in OUT so a resumed run charges exactly the same model clock.
            saved = out / f"cost_model_T{cond.temperature:g}.json"
            cost_model = config.cost_model or (str(saved) if saved.exists() else None)
            env = gym.make("EBSD-v1", pair=pair, prompts=prompts, temperature=cond.temperature, top_p=config.top_p,
                           max_new_tokens=cond.max_new_tokens, clock=config.clock, cost_model=cost_model,
                           **settings)
            if not saved.exists():
                env.unwrapped.decode_clock.costs.save(saved)
            envs[env_key] = BlockRecorder(env)
        env = envs[env_key]
        policy_key = (env_key, variant.spec)
        if policy_key not in policies:  # one instance per env: adaptive policies keep learning across prompts
            policies[policy_key] = make_policy(variant.spec, env=env)
        return settings, env, policies[policy_key]

    # Every policy is bound to its env before the first episode: a trained artifact made for another env is
    # refused (its fingerprint, `ebsd_env.fingerprint`) before any episode runs, not after the policies before it.
    for cond, variant in dict.fromkeys((cond, variant) for cond, variant, _, _ in todo):
        env_and_policy(cond, variant)
    with open(episodes_path, "a", encoding="utf-8") as handle, \
            tqdm(total=total, initial=total - len(todo), desc="ebsd eval", unit="episode") as bar:
        for cond, variant, index, seed in todo:
            settings, env, policy = env_and_policy(cond, variant)
            if config.clock == "model":  # each policy's own decision cost, measured once per run
                saved = out / f"cost_model_T{cond.temperature:g}.json"
                charge_decisions(env.unwrapped, policy.spec, index, seed, saved)
            bar.set_postfix_str(f"{variant.label[:40]} | {prompts[index]['id'][:30]}")
            t0 = time.perf_counter()
            result = run_episode(env, policy, seed=seed, options={"prompt_index": index})
            wall_s = time.perf_counter() - t0
            stats = {k: v for k, v in result.items() if k not in ("trace", "policy")}
            decoder = env.unwrapped.decoder
            row = {
                "key": row_key(variant.label, prompts[index]["id"], seed, cond.temperature, cond.max_new_tokens),
                "variant": variant.label, "policy": policy.spec, "family": _family(variant.label),
                "env": settings, "prompt_id": prompts[index]["id"], "category": prompts[index]["category"],
                "prompt_index": index, "seed": seed, "temperature": cond.temperature,
                "max_new_tokens": cond.max_new_tokens, "clock": config.clock, "prompt_tokens": decoder.prompt_len,
                "episode_wall_s": wall_s, "stats": stats, "blocks": env.blocks,
                "verifier_nll": (verifier_nll(pair, decoder.tokens, decoder.prompt_len)
                                 if cond.temperature > 0 else None),
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            append_row(handle, row)
            rows.append(json_safe(row))  # as a resumed run reads it back: NaN as None
            bar.update(1)

    wanted = {row_key(v.label, p["id"], s, c.temperature, c.max_new_tokens) for c in plan.conditions
              for v in plan.variants for p in prompts for s in config.seeds}
    current = [row for row in rows if row["key"] in wanted]
    meta = {**run_meta(config, plan, pair, prompts, envs, probes), "machine": machine_before,
            "machine_after": machine_state(), "busy_warning": busy}
    if config.lossy_reference:
        meta["lossy_reference"] = lossy_row(out, pair, prompts, config.max_new_tokens)
    finish(out, current, meta, tensorboard=config.tensorboard)
    return out


def _family(label: str) -> str:
    from .metrics import family

    return family(label)


def run_meta(config: EvalConfig, plan: Plan, pair, prompts: list[dict], envs: dict, probes: dict) -> dict:
    import torch

    from .metrics import forward_flops_per_token

    flops = {}
    for role, model in (("drafter", pair.drafter), ("verifier", pair.verifier)):
        try:
            # The project's drafters know their own cost (reduced head, fuse layer); HF models from their config.
            own = getattr(model, "flops_per_token", None)
            flops[role] = own() if callable(own) else forward_flops_per_token(model.config)
        except AttributeError as error:  # a config without the decoder-only fields the estimate needs
            flops[role] = None
            plan.notes.append(f"no FLOPs estimate for the {role}: its config lacks {error.name}")
    cost_models = {str(key[0]): env.unwrapped.decode_clock.costs.to_dict() for key, env in envs.items()}
    return {
        "config": asdict(config), "drafter": pair.drafter_name, "verifier": pair.verifier_name,
        "device": str(pair.device), "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "prompts": len(prompts), "categories": list(dict.fromkeys(p["category"] for p in prompts)),
        "variants": [v.label for v in plan.variants], "notes": plan.notes, "flops_per_token": flops,
        "cost_models": cost_models, "objective": OBJECTIVE, "stop_mode": config.stop_mode,
        "stop_modes": {v.label: probes[v.spec].stop_mode or probes[v.spec].env_requirements().get("stop_mode")
                       or dict(v.env).get("stop_mode") or config.stop_mode for v in plan.variants},
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def lossy_row(out: Path, pair, prompts: list[dict], max_new_tokens: int) -> dict:
    """The int4 copy alone on the run's prompts (`eval.bench.lossy`), kept in OUT/lossy_reference.json so a resumed
    run does not measure it again; ``{"skipped": reason}`` where the pair has no int4 copy."""
    from ebsd_env.replay.record import decoder_prompt

    from .bench.lossy import lossy_reference

    saved = out / "lossy_reference.json"
    if saved.is_file():
        return json.loads(saved.read_text())
    try:
        row = lossy_reference(pair, [decoder_prompt(pair, p) for p in prompts], max_new_tokens)
    except ValueError as error:  # no int4 copy of this verifier here (not on the CPU, not a plain Llama block)
        row = {"skipped": str(error)}
    write_json_atomic(saved, row)
    print("[ebsd eval] lossy reference: " + (row.get("skipped") or
          f"{row['label']}: {row['tokens_per_s']:.1f} tok/s ({row['speedup']:.2f}x the verifier alone), agreement "
          f"{row['agreement']:.3f}, identical outputs {row['identical_share']:.2f}"), flush=True)
    return row


def finish(out: Path, rows: list[dict], meta: dict, tensorboard: bool = True) -> dict:
    """summary.json (atomic), report.md with plots, and TensorBoard scalars from the episode rows."""
    from .analysis import summarize
    from .report import write_report, write_tensorboard

    summary = summarize(rows, meta)
    if meta.get("lossy_reference") is not None:  # beside the policies, never ranked with them
        summary["lossy_reference"] = meta["lossy_reference"]
    write_json_atomic(out / "summary.json", summary)
    write_report(summary, rows, out)
    if tensorboard:
        write_tensorboard(summary, out / "tb")
    return summary


def main(argv: list[str] | None = None) -> int:
    config = parse(EvalConfig, argv, "eval", prog="ebsd eval")
    if config.drafters:
        out = evaluate_drafters(config)
        print(f"[ebsd eval] wrote one evaluation per drafter under {out} and the comparison {out / 'drafters.md'}")
        return 0
    out = evaluate(config)
    print(f"[ebsd eval] wrote {out / 'episodes.jsonl'}, {out / 'summary.json'} and {out / 'report.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
