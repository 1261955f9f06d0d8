"""Measure a distilled drafter against the verifier alone and the int8 drafter, end to end, in one run.

Per-token costs (median decode step with a warm cache) and speculative generation at fixed k on chat-suite
prompts, every configuration run on the same prompt back to back (interleaved), greedy; the greedy outputs are
checked against the verifier's own. Usage: ``python -m train.drafter.measure --drafter PATH --out result.json``.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import tyro
from tqdm.auto import tqdm
from transformers import DynamicCache

from ebsd_env.cli.args import ModelArgs, PromptArgs, check_model_args
from ebsd_env.decoding.decoder import SpeculativeDecoder
from ebsd_env.decoding.kernels import configure_threads, select_kernels
from ebsd_env.decoding.models import ModelPair, cached_pair, derive_drafter
from ebsd_env.drafter_ids import is_feature_drafter
from ebsd_env.io import write_json_atomic
from ebsd_env.prompts import heldout_prompts, load_prompts, render_prompt


@dataclass
class MeasureConfig(ModelArgs, PromptArgs):
    """The shared model and prompt flags (`ebsd_env.cli.args`), and the measurement's own.

    --drafter names the distilled drafter to measure: an `ebsd distill` export folder, distilled[:FOLDER] or
    feature[:FOLDER] (default: the shipped one). --device must be cpu: the int8 drafter and the per-token timings
    run on torch's CPU kernels. --kernels applies to the verifier and the distilled drafter, after the int8
    drafter is derived from the plain weights.
    """

    out: Path | None = None
    """Write the results as JSON here (atomically)."""
    ks: tuple[int, ...] = (2, 3, 4, 6)
    """Fixed draft lengths of the distilled drafter."""
    int8_ks: tuple[int, ...] = (1,)
    """Fixed draft lengths of the int8 drafter (empty to skip it)."""
    run_dir: Path | None = None
    """An `ebsd distill` run folder: measure on its held-out prompts (else on seed-shuffled suite prompts)."""
    prompts_per_category: int = 1
    """Prompts per suite category (first turns)."""
    max_prompts: int | None = None
    """Measure on at most this many of those prompts (spread over the categories)."""
    # Redeclared from PromptArgs with this script's earlier default (it was --seed 7), so the same command picks
    # the same prompts as before.
    prompt_seed: int = 7
    """Seed of the prompt subset when no --run-dir is given."""
    max_new_tokens: int = 64
    """Tokens generated per prompt."""
    cost_steps: int = 20
    """Decode steps timed for each model's per-token cost."""


def per_token_cost(model, ids: list[int], steps: int) -> float:
    """Median seconds of one single-token forward pass (to logits) with a warm cache after the context `ids`."""
    cache = DynamicCache()
    reads_features = getattr(model, "reads_verifier_features", False)

    def forward(tokens: list[int]) -> None:
        x = torch.tensor([tokens])
        if reads_features:  # the feature values do not change the cost
            hidden = model.features(x, torch.zeros(1, len(tokens), model.config.hidden_size), cache=cache,
                                    use_cache=True)
            model.logits(hidden[0, -1])
        else:
            model(input_ids=x, cache=cache, use_cache=True, logits_to_keep=1)

    times = []
    with torch.inference_mode():
        forward(ids)
        for i in range(steps):
            t0 = time.perf_counter()
            forward([ids[i % len(ids)]])
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def distilled_spec(drafter: str | None) -> str:
    """--drafter as a `load_pair` spec of a distilled drafter: an export folder means ``feature:FOLDER``."""
    spec = drafter or "feature"
    if Path(spec).expanduser().is_dir():
        return f"feature:{spec}"
    if is_feature_drafter(spec):  # any id of a shipped feature drafter, old names included, or feature:FOLDER
        return spec
    raise ValueError(f"--drafter {spec!r}: this measures a distilled drafter against the int8 one; give an "
                     "`ebsd distill` export folder, feature:FOLDER, feature-v2 or feature-v1")


def check_config(config: MeasureConfig) -> str:
    """Refuse what cannot work before any model loads; the drafter's `load_pair` spec."""
    check_model_args(config)
    if torch.device(config.device).type != "cpu":
        raise ValueError(f"--device {config.device}: this measures CPU decode steps (the int8 drafter runs on "
                         "torch's CPU kernels); use --device cpu")
    return distilled_spec(config.drafter)


def measurement_prompts(config: MeasureConfig) -> list[dict]:
    if config.run_dir is None:
        return load_prompts(config.prompt_source, config.categories, limit_per_category=config.prompts_per_category,
                            seed=config.prompt_seed)
    shards = sorted((config.run_dir / "data/heldout").glob("shard_*.pt"))
    if not shards:
        raise FileNotFoundError(f"{config.run_dir} has no data/heldout shards: is it an `ebsd distill` run folder?")
    heldout = {r["prompt_id"] for path in shards for r in torch.load(path, weights_only=True)}
    return heldout_prompts(heldout, config.categories, limit_per_category=config.prompts_per_category)


def main(argv: list[str] | None = None) -> int:
    config = tyro.cli(MeasureConfig, args=argv, description=__doc__, prog="python -m train.drafter.measure")
    spec = check_config(config)
    configure_threads(config.threads)
    base = cached_pair(spec, config.verifier, kernels="plain")
    verifier, tokenizer, distilled = base.verifier, base.tokenizer, base.drafter
    drafters = {"distilled": distilled}
    if config.int8_ks:
        drafters["int8"] = derive_drafter(verifier, "int8-dynamic")
    kernels = {"verifier": select_kernels(verifier, config.kernels).variant,  # after deriving int8 from the
               "distilled": select_kernels(distilled, config.kernels).variant}  # plain weights
    rows = measurement_prompts(config)[: config.max_prompts]
    context = tokenizer.apply_chat_template(render_prompt(rows[0], tokenizer), add_generation_prompt=True,
                                            tokenize=True, return_dict=False)[:200]
    costs = {"verifier": per_token_cost(verifier, context, config.cost_steps)}
    costs |= {name: per_token_cost(model, context, config.cost_steps) for name, model in drafters.items()}
    print("per-token cost (ms): " + ", ".join(f"{k} {1000 * v:.1f}" for k, v in costs.items()), flush=True)

    runs = [("verifier", None, 0)] + [("distilled", "distilled", k) for k in config.ks]
    runs += [("int8", "int8", k) for k in config.int8_ks]
    decoders = {name: SpeculativeDecoder(ModelPair(model, verifier, tokenizer, name, "embedded"),
                                         max_new_tokens=config.max_new_tokens) for name, model in drafters.items()}
    decoders["verifier"] = decoders["distilled"]
    warm = render_prompt(rows[0], tokenizer)
    for decoder in decoders.values():
        decoder.generate(warm, 2, max_new_tokens=8)
    results: dict[str, list[dict]] = {f"{name} k={k}" if k else name: [] for name, _, k in runs}
    exact = True
    for row in tqdm(rows, desc="prompts", unit="prompt"):
        prompt = render_prompt(row, tokenizer)
        reference = None
        for name, drafter, k in runs:
            generation = decoders[drafter or "verifier"].generate(prompt, k)
            if reference is None:
                reference = generation.token_ids
            exact &= generation.token_ids == reference
            stats = generation.stats
            results[f"{name} k={k}" if k else name].append({
                "category": row["category"], "new_tokens": stats["new_tokens"], "total_s": stats["total_s"],
                "decode_s": stats["decode_s"], "accepted": stats["accepted"], "drafted": stats["drafted"]})
    summary = {}
    base_tps = sum(r["new_tokens"] for r in results["verifier"]) / sum(r["total_s"] for r in results["verifier"])
    print(f"\n{'configuration':<18}{'tokens/s':>10}{'speedup':>9}{'acceptance':>12}", flush=True)
    for name, items in results.items():
        tps = sum(r["new_tokens"] for r in items) / sum(r["total_s"] for r in items)
        drafted = sum(r["drafted"] for r in items)
        accept = sum(r["accepted"] for r in items) / drafted if drafted else float("nan")
        summary[name] = {"tokens_per_s": tps, "speedup": tps / base_tps, "acceptance_rate": accept}
        print(f"{name:<18}{tps:>10.2f}{tps / base_tps:>8.2f}x{accept:>12.3f}")
    print(f"greedy outputs identical to the verifier's in every run: {exact}")
    # Forward passes alone (`per_token_cost`), so the forward cost ratio, as `ebsd bench decoder` names it: THE cost
    # ratio (`policies.baselines.cost_ratio`) divides whole decoder calls.
    report = {"costs_s": costs, "forward_cost_ratio": costs["distilled"] / costs["verifier"], "summary": summary,
              "greedy_exact": exact, "prompts": [row["id"] for row in rows], "runs": results,
              "config": {k: str(v) for k, v in vars(config).items()}, "threads": torch.get_num_threads(),
              "kernels": kernels}
    if config.out is not None:
        write_json_atomic(config.out, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
