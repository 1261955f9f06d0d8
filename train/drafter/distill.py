"""The stages of `ebsd distill` (data, head, drafter, training); its flags, description and entry point are in
`train.drafter.config`, which parses them (and answers ``--help``) before torch loads."""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict
from pathlib import Path

import torch

from ebsd_env.cli.args import check_threads
from ebsd_env.decoding.drafters import DistilledDrafter, FeatureDrafter, load_distilled_drafter, save_drafter
from ebsd_env.decoding.drafters.feature import FEATURE_ARCHITECTURE
from ebsd_env.decoding.drafters.layers import LAYERS_ARCHITECTURE
from ebsd_env.decoding.kernels import configure_threads
from ebsd_env.io import read_json, write_json_atomic

from . import feature as distill_feature
from . import layers as distill_layers
from .config import DistillConfig, parse_config  # noqa: F401  (DistillConfig re-exported: defined here before)
from .data import (
    build_shards,
    choose_head,
    load_shards,
    load_training_prompts,
    save_tensors,
    split_prompts,
    text_records,
    text_rows,
)
from .training import TrainingData, start_training, train_drafter

TINY_PROMPTS = [{"id": f"tiny-{i}", "category": ("chat", "code")[i % 2], "prompt": text} for i, text in enumerate(
    ["hello there", "what is two plus two?", "write a short poem", "count to ten", "the cat sat on the mat",
     "print hello world", "tell me a story", "why is the sky blue?", "a b c d e f", "sort these numbers 3 1 2"])]


def _run_dir(config: DistillConfig) -> Path:
    if config.run_dir is not None:
        return config.run_dir
    env = "tiny" if config.tiny else "smollm2-135m"
    return Path("runs/distill") / f"{env}__{config.exp_name}__{config.seed}__{int(time.time())}"


def _prompt_seed(config: DistillConfig) -> int:
    return config.seed if config.prompt_seed is None else config.prompt_seed


def _heldout_per_category(config: DistillConfig) -> int:
    if config.heldout_per_category is not None:
        return config.heldout_per_category
    return 1 if config.tiny else 5


def _load_prompts(config: DistillConfig) -> list[dict]:
    if config.tiny:
        known = {row["category"] for row in TINY_PROMPTS}
        unknown = [c for c in config.categories or () if c not in known]
        if unknown:
            raise ValueError(f"--categories: {', '.join(unknown)} not in the --tiny suite; valid: "
                             f"{', '.join(sorted(known))}")
        return [row for row in TINY_PROMPTS if not config.categories or row["category"] in config.categories]
    return load_training_prompts(config.prompt_source, config.prompts_per_category, _prompt_seed(config),
                                 config.categories)


def _load_verifier(config: DistillConfig):
    if config.tiny:
        from ebsd_env.decoding.tiny import tiny_pair

        pair = tiny_pair("copy", seed=config.seed)
        return pair.verifier, pair.tokenizer, pair.eos_token_ids
    from ebsd_env.decoding.models import cached_pair

    pair = cached_pair("self", kernels="plain")  # only the verifier, with plain weights the drafter copies
    return pair.verifier, pair.tokenizer, pair.eos_token_ids


def validate(config: DistillConfig) -> None:
    """Every check that needs neither the verifier nor the prompts: refused before the run folder exists."""
    from ebsd_env.io import check_folder_path

    if config.init_from is not None:
        if not (config.init_from / "config.json").is_file():
            raise FileNotFoundError(f"--init-from {config.init_from} holds no exported drafter (config.json): point "
                                    "it to the export/ folder of an earlier `ebsd distill` run")
        exported = read_json(config.init_from / "config.json", "--init-from: the drafter config",
                             "point it to the export/ folder of an earlier `ebsd distill` run")
        wanted = {"feature": FEATURE_ARCHITECTURE, "layers": LAYERS_ARCHITECTURE}[config.architecture]
        if not isinstance(exported, dict) or exported.get("architecture") != wanted:
            found = exported.get("architecture") if isinstance(exported, dict) else None
            raise ValueError(f"--init-from {config.init_from} holds another architecture than --architecture "
                             f"{config.architecture} ({found!r}, not {wanted!r}): give --architecture to match it, or "
                             "another --init-from")
    check_threads(config)
    if config.draft_steps < 1:
        raise ValueError(f"--draft-steps {config.draft_steps}: need at least 1 (1 trains the first draft token only)")
    for flag, value in (("--batch-size", config.batch_size),
                        ("--gen-batch-size", config.gen_batch_size), ("--prompts-per-category",
                                                                      config.prompts_per_category),
                        ("--max-new-tokens", config.max_new_tokens), ("--max-prompt-tokens", config.max_prompt_tokens),
                        ("--top-k", config.top_k), ("--num-layers", config.num_layers), ("--max-len", config.max_len),
                        ("--head-size", config.head_size), ("--eval-every", config.eval_every),
                        ("--checkpoint-every", config.checkpoint_every)):
        if value < 1:
            raise ValueError(f"{flag} must be >= 1, got {value}")
    for flag, value in (("--steps", config.steps), ("--heldout-per-category", _heldout_per_category(config)),
                        ("--sampled-per-prompt", config.sampled_per_prompt), ("--warmup-steps", config.warmup_steps),
                        ("--text-prompts-per-category", config.text_prompts_per_category)):
        if value < 0:
            raise ValueError(f"{flag} must be >= 0, got {value}")
    for flag, value, low in (("--learning-rate", config.lr, 0.0),
                             ("--sample-temperature", config.sample_temperature, 0.0),
                             ("--data-minutes", config.data_minutes, 0.0),
                             ("--train-minutes", config.train_minutes, 0.0)):
        if value is not None and not (math.isfinite(value) and value > low):
            raise ValueError(f"{flag} must be a finite number > 0, got {value}")
    for flag, value in (("--weight-decay", config.weight_decay), ("--feature-weight", config.feature_weight),
                        ("--later-step-weight", config.later_step_weight)):
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{flag} must be a finite number >= 0, got {value}")
    if not 0 < config.sample_top_p <= 1:
        raise ValueError(f"--sample-top-p must be in (0, 1], got {config.sample_top_p}")
    if config.run_dir is not None:
        check_folder_path(config.run_dir, "--out")
    if config.export_to is not None:
        check_folder_path(config.export_to, "--export-to")


def check_split(config: DistillConfig, train_rows: list[dict], heldout_rows: list[dict]) -> None:
    """Refuse a held-out split that leaves a category nothing to train on (the data stage would then end in
    "no training data" after the verifier had loaded and the held-out data been generated)."""
    trained = {row.get("category", "other") for row in train_rows}
    starved = sorted({row.get("category", "other") for row in heldout_rows} - trained)
    if starved:
        per = _heldout_per_category(config)
        raise ValueError(f"--heldout-per-category {per} holds out every prompt of {', '.join(starved)}, leaving "
                         "none to train on: lower --heldout-per-category or raise --prompts-per-category")


def main(argv: list[str] | None = None) -> int:
    return run(parse_config(argv))


def run(config: DistillConfig) -> int:
    """The whole distillation of a parsed `config`: checks, data, head, training, export."""
    validate(config)
    configure_threads(config.threads)
    prompts = _load_prompts(config)
    train_rows, heldout_rows = split_prompts(prompts, _heldout_per_category(config), _prompt_seed(config))
    check_split(config, train_rows, heldout_rows)
    run_dir = _run_dir(config)
    run_dir.mkdir(parents=True, exist_ok=True)
    print(f"[distill] run folder {run_dir}", flush=True)
    verifier, tokenizer, eos_ids = _load_verifier(config)
    write_json_atomic(run_dir / "config.json", asdict(config))  # paths become strings

    data = _prepare_data(config, run_dir, verifier, tokenizer, eos_ids, train_rows, heldout_rows)  # 1. data, 2. head
    model, loss_and_hits, evaluate = _make_drafter(config, verifier, data)  # 3. train
    if config.init_from is not None:
        _init_from(config, verifier, model)
    run = start_training(config, model, run_dir / "checkpoint.pt")
    train_drafter(config, run, data, loss_and_hits, evaluate, run_dir)
    if config.export_to is not None:
        save_drafter(model, config.export_to, json.loads((run_dir / "export/config.json").read_text())["metadata"])
        print(f"[distill] drafter exported to {config.export_to}", flush=True)
    print(f"[distill] done: step {run.step}, {run.train_seconds:.0f} s of training; drafter in {run_dir / 'export'}")
    return 0


def _prepare_data(config: DistillConfig, run_dir: Path, verifier, tokenizer, eos_ids, train_rows: list[dict],
                  heldout_rows: list[dict]) -> TrainingData:
    """1. data (shards already on disk are reused) and 2. the draft head, chosen once on the generated positions;
    for the feature drafter, the feature records over them (and over the text-only prompts)."""
    generation = {"max_new_tokens": config.max_new_tokens, "top_k": config.top_k,
                  "temperature": config.sample_temperature, "top_p": config.sample_top_p,
                  "max_prompt_tokens": config.max_prompt_tokens}
    data_start = time.time()
    deadline = data_start + 60 * config.data_minutes if config.data_minutes else None
    heldout_paths = build_shards(verifier, tokenizer, heldout_rows, run_dir / "data/heldout", ["greedy"],
                                 config.gen_batch_size, "held-out data", **generation)
    modes = ["greedy"] + ["sampled"] * config.sampled_per_prompt
    random.Random(config.seed).shuffle(train_rows)  # a time-cut data stage still covers every category
    head_file = run_dir / "head_index.pt"
    if head_file.is_file():  # the head is fixed once training has begun: train on the shards it was chosen on
        train_paths = [run_dir / "data/train" / name for name in torch.load(head_file)["shards"]]
        missing = [path.name for path in train_paths if not path.is_file()]
        if missing:
            raise FileNotFoundError(f"{head_file} lists training shards that are gone ({', '.join(missing[:3])}"
                                    "...): restore them, or start a new --out")
    else:
        train_paths = build_shards(verifier, tokenizer, train_rows, run_dir / "data/train", modes,
                                   config.gen_batch_size, "training data", deadline=deadline, **generation)
    train_records, heldout_records = load_shards(train_paths), load_shards(heldout_paths)
    if not train_records:
        raise ValueError("no training data was generated: raise --data-minutes or --prompts-per-category")
    vocab = verifier.config.get_text_config().vocab_size
    if not head_file.is_file():  # 2. head: chosen on the generated positions
        head_index = choose_head(train_records, config.head_size, vocab, set(eos_ids))
        save_tensors({"head_index": head_index, "shards": [p.name for p in train_paths]}, head_file)
    head_index = torch.load(head_file)["head_index"]
    to_head = torch.full((vocab,), -1, dtype=torch.long)
    to_head[head_index] = torch.arange(len(head_index))
    if config.architecture == "feature":
        train_records, heldout_records = _feature_records(config, run_dir, verifier, tokenizer, train_paths,
                                                          heldout_paths, heldout_rows)
        positions = sum(len(r["ids"]) for r in train_records)
    else:
        positions = sum(len(r["topk_ids"]) for r in train_records)
    print(f"[distill] {len(train_records)} training records ({positions} positions), "
          f"{len(heldout_records)} held-out records; data stage {time.time() - data_start:.0f} s", flush=True)
    return TrainingData(train_records, heldout_records, head_index, to_head, positions)


def _feature_records(config: DistillConfig, run_dir: Path, verifier, tokenizer, train_paths: list[Path],
                     heldout_paths: list[Path], heldout_rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """(training, held-out) feature records: the verifier's features over the generated records, and over the
    text-only prompts (--text-prompts-per-category), which are never a generated or held-out prompt."""
    features = run_dir / "data/features"
    heldout_records = load_shards(distill_feature.build_feature_shards(
        verifier, heldout_paths, features / "heldout", config.top_k, "held-out features"))
    train_records = load_shards(distill_feature.build_feature_shards(
        verifier, train_paths, features / "train", config.top_k, "training features"))
    if config.text_prompts_per_category:
        used = {r["prompt_id"] for r in train_records} | {r["prompt_id"] for r in heldout_records}
        rows = text_rows(config.prompt_source, config.text_prompts_per_category, _prompt_seed(config),
                         used | {str(row.get("id")) for row in heldout_rows}, config.categories)
        train_records += load_shards(distill_feature.build_text_feature_shards(
            verifier, text_records(tokenizer, rows, config.max_prompt_tokens), features / "text",
            config.top_k))
    return train_records, heldout_records


def _make_drafter(config: DistillConfig, verifier, data: TrainingData):
    """(the drafter to train, its loss_and_hits(batch), its held-out evaluate())."""
    to_head = data.to_head
    if config.architecture == "feature":
        model = FeatureDrafter(verifier, config.num_layers, data.head_index, config.init_layers).train()

        def loss_and_hits(batch):
            return distill_feature.loss_and_hits(model, batch, to_head, config.feature_weight,
                                                 config.draft_steps, config.later_step_weight, config.max_len)

        def evaluate():
            return distill_feature.evaluate(model, data.heldout_records, to_head, config.batch_size,
                                            config.feature_weight, config.draft_steps)
        return model, loss_and_hits, evaluate
    model = DistilledDrafter(verifier, config.num_layers, data.head_index, config.init_layers).train()

    def loss_and_hits(batch):
        loss, hits = distill_layers.loss_and_hits(model, batch, to_head)
        return loss, [hits]

    def evaluate():
        return distill_layers.evaluate(model, data.heldout_records, to_head, config.batch_size)
    return model, loss_and_hits, evaluate


def _init_from(config: DistillConfig, verifier, model) -> None:
    """Load --init-from's weights into `model`: everything but the head's token list, which may differ for a
    feature drafter (its rows come from the verifier) and must not for a token-level one."""
    start = load_distilled_drafter(verifier, config.init_from)
    if type(start) is not type(model):
        raise ValueError(f"--init-from {config.init_from} holds another architecture than --architecture "
                         f"{config.architecture}")
    weights = {k: v for k, v in start.state_dict().items() if k != "head_index"}
    if config.architecture == "layers" and not torch.equal(start.head_index, model.head_index):
        raise ValueError("--init-from: a token-level drafter's head must cover the same tokens")
    result = model.load_state_dict(weights, strict=False)  # everything but the head's token list
    if set(result.missing_keys) != {"head_index"} or result.unexpected_keys:
        raise ValueError(f"--init-from {config.init_from} does not fit this drafter: missing "
                         f"{result.missing_keys}, unexpected {result.unexpected_keys}")


if __name__ == "__main__":
    raise SystemExit(main())
