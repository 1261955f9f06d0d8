"""`ebsd record`: record greedy decoding traces of a prompt source into sharded Parquet files.

Each prompt is decoded once by the verifier alone, through the live decoder's own step API: before each
verification the drafter drafts its whole chain (up to ``max_draft_len`` tokens, each with its signals), every
chain token is discarded, and the empty draft is verified, which commits the verifier's next greedy token (one
``run_block(max_draft_len, keep_draft=False)``: the draft/verify driver every fixed-k caller shares). So one
verifier pass per output token gives y, the verifier's features for the feature drafter, and the block start
of every position; the drafter work is the chain itself. The chains are exactly
what a live block starting at that position drafts (same code, same cache rollback), up to floating-point
rounding of differently sized forward passes (`tests/test_replay.py` measures the mismatch rate).

Shards of ``--shard-size`` prompts are written atomically (`ebsd_env.io`: a temporary file, then a rename); a
rerun with the same ``--out`` skips complete shards and records again any that are missing, truncated or
corrupt. The model clock's calibration of the pair is saved beside the shards as ``cost_model.json`` (replays use
it by default).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from ..cli.args import KernelName, parse
from ..io import remove_orphaned_temporaries, write_json_atomic

if TYPE_CHECKING:  # imported where used: `ebsd record --help` then imports no torch
    from ..decoding.decoder import SpeculativeDecoder
    from ..decoding.entropy import EntropyConfig
    from .trace import Trace


def settings_dict(entropy: EntropyConfig, max_draft_len: int, max_new_tokens: int) -> dict:
    return {"entropy": {"measure": entropy.measure, "param": entropy.param, "temperature": entropy.temperature},
            "max_draft_len": int(max_draft_len), "max_new_tokens": int(max_new_tokens), "temperature": 0.0}


def entropy_from_settings(settings: dict) -> EntropyConfig:
    from ..decoding.entropy import EntropyConfig

    e = settings["entropy"]
    return EntropyConfig(e["measure"], e["param"], e["temperature"])


def record_trace(decoder: SpeculativeDecoder, prompt, max_draft_len: int, max_new_tokens: int, row_id: str = "",
                 category: str = "custom", prompt_index: int = 0) -> Trace:
    """One prompt's trace through the live decoder (see the module docstring)."""
    from .trace import SIGNALS, Trace, step_signals

    if not decoder.greedy:
        raise ValueError("sampling cannot be replayed exactly (the output depends on the policy): record traces "
                         "with temperature=0")
    ids = decoder.start(prompt, max_new_tokens)
    offsets = [0]
    tokens: list[int] = []
    signals: dict[str, list[float]] = {name: [] for name in SIGNALS}

    def keep_step(step, _call_s) -> None:
        tokens.append(step.token)
        for name, value in step_signals(step).items():
            signals[name].append(value)

    while not decoder.finished:  # each block: the whole chain, all of it discarded, the empty draft verified
        decoder.run_block(max_draft_len, on_draft=keep_step, keep_draft=False)
        offsets.append(len(tokens))
    output = list(decoder.new_tokens)
    if len(offsets) - 1 != len(output):
        raise RuntimeError(f"recording committed {len(output)} tokens in {len(offsets) - 1} verifications; "
                           "a verification of an empty draft must commit exactly one")
    return Trace(id=row_id, category=category, prompt_index=prompt_index, prompt_ids=list(ids), output=output,
                 budget=decoder.budget, chain_offsets=np.asarray(offsets, dtype=np.int64),
                 chain_tokens=np.asarray(tokens, dtype=np.int64),
                 signals={name: np.asarray(v, dtype=np.float64) for name, v in signals.items()})


def decoder_prompt(pair, row: dict):
    """What the env sends the decoder for a prompt row (a user message with a chat template, else text)."""
    content = row.get("prompt") or row["turns"][0]
    if isinstance(content, dict):
        content = content["content"]
    if getattr(pair.tokenizer, "chat_template", None):
        return [{"role": "user", "content": content}]
    return content


def record(pair, rows: list[dict], out: Path, max_draft_len: int = 16, max_new_tokens: int = 128,
           entropy: EntropyConfig | None = None, shard_size: int = 16, calibrate_clock: bool = True,
           progress: bool = True, batched: bool = False, ray=None, clock_tolerance: float | None = None,
           validation_rounds: int = 1) -> dict:
    """Record traces of `rows` into ``out/shard-NNNNN.parquet``; resumable. Returns a summary. `batched`
    computes the chains of many positions per drafter forward (`ebsd_env.replay.batched`); `ray`
    (`ray_record.RayRecordOptions`) records the shards as Ray tasks, one per shard.

    With `calibrate_clock` the model clock is calibrated over the context lengths of these prompts and saved as
    ``cost_model.json``; with `clock_tolerance` (the CLI's default: 5 %) it is first validated against the wall
    clock at every k in `VALIDATION_KS` on one prompt per category (`validation_rounds` interleaved rounds, timed
    between the calibration's rounds: `ebsd_env.timing.prompt_clock.calibrate_for`) and refused, unsaved, when any
    k is off by more than that."""
    from ..decoding.decoder import SpeculativeDecoder
    from ..decoding.entropy import EntropyConfig
    from ..timing.cost_model import pair_fingerprint
    from .trace import refuse_other_recordings, shard_is_complete

    if max_draft_len < 1 or max_new_tokens < 1 or shard_size < 1:
        raise ValueError(f"max_draft_len, max_new_tokens and shard_size must be >= 1, got {max_draft_len}, "
                         f"{max_new_tokens}, {shard_size}")
    entropy = entropy or EntropyConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"fingerprint": pair_fingerprint(pair), "settings": settings_dict(entropy, max_draft_len, max_new_tokens)}
    _warn_if_replay_approximates(pair)
    refuse_other_recordings(out, meta)  # before any work
    # A recording killed (SIGKILL, power loss) between a shard's temporary file and its rename leaves that file
    # behind (`ebsd_env.io.save_atomic`); the shard itself is recorded again below.
    remove_orphaned_temporaries(out, "shard-*", ".parquet")
    decoder = SpeculativeDecoder(pair, temperature=0.0, entropy=entropy, max_new_tokens=max_new_tokens)
    shards = [rows[i:i + shard_size] for i in range(0, len(rows), shard_size)]
    todo = [i for i, shard in enumerate(shards) if not shard_is_complete(out / f"shard-{i:05d}.parquet", meta,
                                                                         len(shard))]
    write_json_atomic(out / "manifest.json", {**meta, "prompts": len(rows), "shards": len(shards),
                                              "shard_size": shard_size, "batched": batched})
    job = _ShardJob(out, meta, shards, shard_size, max_draft_len, max_new_tokens, _recorder(batched))
    if ray is not None:  # the same shards, written here, recorded by Ray tasks
        recorded, seconds, tokens = _record_shards_with_ray(job, ray, todo, entropy, progress)
    else:
        recorded, seconds, tokens = _record_shards_here(job, pair, decoder, todo, progress)
    if calibrate_clock and not (out / "cost_model.json").is_file():
        from ..timing.prompt_clock import calibrate_for

        calibrate_for(pair, [decoder_prompt(pair, row) for row in rows],
                      [row.get("category", "custom") for row in rows], max_new_tokens, progress, clock_tolerance,
                      validation_rounds).save(out / "cost_model.json")
    return {"out": str(out), "shards": len(shards), "recorded_shards": len(todo), "recorded_prompts": recorded,
            "seconds": seconds, "tokens": tokens}


def _warn_if_replay_approximates(pair) -> None:
    from ..decoding.drafting import strategy_for

    if strategy_for(pair.drafter).reads_verifier_cache and not pair.metadata.get("width_invariant"):
        # Its chains depend (in float rounding) on how the verifier computed the shared cache: one token at a
        # time here, whole blocks live, the same bits only with kernels that compute every row alike
        # (pair.metadata["width_invariant"]). Otherwise replay only approximates the live env (docs/replay.md).
        print(f"[ebsd record] warning: the {pair.drafter_name} drafter reads the verifier's KV cache and this "
              f"verifier's kernels round a token differently in blocks (kernels {pair.metadata.get('kernels')}, "
              f"attention {pair.metadata.get('verifier_attention')}), so replay of these traces only approximates "
              "live decoding; for exact replay record a feature drafter (--drafter feature-v2)",
              file=sys.stderr, flush=True)


def _recorder(batched: bool):
    """The function that records one prompt's trace: chains drafted position by position, or batched."""
    from .batched import record_trace_batched

    return record_trace_batched if batched else record_trace


@dataclass
class _ShardJob:
    """What every shard of one `record` call shares: where and with what metadata it is written, how it is cut
    from the rows, and how each prompt's trace is recorded."""

    out: Path
    meta: dict
    shards: list[list[dict]]
    shard_size: int
    max_draft_len: int
    max_new_tokens: int
    recorder: object

    def write(self, i: int, traces: list) -> None:
        from .trace import write_shard

        write_shard(self.out / f"shard-{i:05d}.parquet", traces, self.meta)


def _record_shards_with_ray(job: _ShardJob, ray, todo: list[int], entropy, progress: bool) -> tuple[int, float, int]:
    """Record the shards `todo` as Ray tasks and write each here: (prompts recorded, seconds, tokens)."""
    from .ray_record import record_shards

    recorded, seconds, tokens = 0, 0.0, 0
    for i, traces, spent, made in record_shards(ray, todo, job.shards, job.shard_size, job.meta["fingerprint"],
                                                job.max_draft_len, job.max_new_tokens, entropy, job.recorder,
                                                decoder_prompt, progress):
        job.write(i, traces)
        recorded, seconds, tokens = recorded + len(traces), seconds + spent, tokens + made
    return recorded, seconds, tokens


def _record_shards_here(job: _ShardJob, pair, decoder, todo: list[int], progress: bool) -> tuple[int, float, int]:
    """Record the shards `todo` in this process: (prompts recorded, seconds, tokens)."""
    recorded, seconds, tokens = 0, 0.0, 0
    bar = tqdm(total=sum(len(job.shards[i]) for i in todo), desc="record", unit="prompt", disable=not progress)
    for i in todo:
        traces = []
        for offset, row in enumerate(job.shards[i]):
            t0 = time.perf_counter()
            index = i * job.shard_size + offset
            traces.append(job.recorder(decoder, decoder_prompt(pair, row), job.max_draft_len, job.max_new_tokens,
                                       str(row.get("id", f"prompt-{index}")), str(row.get("category", "custom")),
                                       index))
            seconds += time.perf_counter() - t0
            tokens += len(traces[-1].output)
            recorded += 1
            bar.update(1)
        job.write(i, traces)
    bar.close()
    return recorded, seconds, tokens


def record_multi(pair, rows: list[dict], out: Path, max_draft_len: int = 16, max_new_tokens: int = 128,
                 entropy: EntropyConfig | None = None, shard_size: int = 16, calibrate_clock: bool = True,
                 progress: bool = True, clock_tolerance: float | None = None, validation_rounds: int = 1) -> dict:
    """`record` each drafter of a multi-drafter `pair` into its own folder under `out`, then check that they are
    aligned (the same greedy outputs) and write ``multi.json`` (`ebsd_env.replay.multi` has the layout).
    Resumable as `record` is."""
    from ..decoding.multi import sub_pairs
    from .multi import MANIFEST, MultiTraceSet, drafter_folder
    from .trace import TraceSet

    out = Path(out)
    singles = sub_pairs(pair)
    entries = [{"name": single.drafter_name, "folder": drafter_folder(i, single.drafter_name)}
               for i, single in enumerate(singles)]
    summaries = {}
    for single, entry in zip(singles, entries, strict=True):
        if progress:
            print(f"[ebsd record] drafter {entry['name']} -> {out / entry['folder']}", flush=True)
        summaries[entry["name"]] = record(single, rows, out / entry["folder"], max_draft_len, max_new_tokens, entropy,
                                          shard_size, calibrate_clock, progress, clock_tolerance=clock_tolerance,
                                          validation_rounds=validation_rounds)
    MultiTraceSet([e["name"] for e in entries], [TraceSet.load(out / e["folder"]) for e in entries])  # aligned?
    write_json_atomic(out / MANIFEST, {"drafters": entries})
    return {"out": str(out), "drafters": summaries}


@dataclass
class RecordConfig:
    """Record greedy decoding traces for replay (`EBSD-Replay-v1`, the vector env, `oracle-dp`)."""

    out: Path
    """Folder of the shards (rerun with the same --out to resume)."""
    prompt_source: str | None = None
    """Prompt source (None: the built-in suite; a .jsonl/.csv/.parquet file or an HF benchmark name)."""
    categories: list[str] | None = None
    """Keep only these categories."""
    prompts_per_category: int | None = None
    """At most this many prompts per category."""
    prompt_seed: int = 0
    """Seed of the prompt subset (and the numbers of generated math problems)."""
    max_new_tokens: int = 128
    """Token budget per prompt (replays may use this or less)."""
    max_draft_len: int = 16
    """Chain length recorded per position (replays may use this or less)."""
    entropy: str = "shannon"
    """Entropy measure of the recorded signals (as the env's `entropy`)."""
    entropy_param: float | None = None
    """Rényi alpha / Tsallis q / top-k k of the entropy measure (None: the measure's default)."""
    entropy_temperature: float = 1.0
    """Temperature applied to the drafter's logits before the entropy."""
    temperature: float = 0.0
    """Must be 0: sampling cannot be replayed exactly."""
    shard_size: int = 16
    """Prompts per shard."""
    clock_tolerance: float = 0.05
    ("Refuse the model clock when its prediction of a fixed-k generation's wall time is off by more than this at any k "
     "in 0, 1, 2, 3, 4, 8, 16 (checked on one prompt per category; widening it is recorded in the clock's "
     "fingerprint).")
    validation_rounds: int = 1
    """Interleaved rounds of the clock's validation (each decodes every checked prompt at every k)."""
    batched: bool = False
    ("Compute the chains of many positions per drafter forward (feature drafters and Hugging Face causal LMs): faster "
     "for expensive drafters; chains equal the live ones up to float32 rounding near ties.")
    drafter: str | None = None
    ("As everywhere; several joined by '+' (int4+feature+ngram) record one trace set per drafter in OUT, aligned by "
     "position (`ebsd_env.replay.multi`, for EBSD-Multi-Replay-v1 and the multi-drafter oracle-dp).")
    verifier: str | None = None
    """Verifier: Hugging Face id, folder or .gguf file (None: the embedded SmolLM2-135M-Instruct)."""
    device: str = "cpu"
    """Device of both models: cpu, cuda, cuda:1, mps, ..."""
    threads: int | None = None
    """torch CPU threads (None: $EBSD_THREADS, else torch's own choice)."""
    kernels: KernelName = "auto"
    """Linear-layer kernels (auto: the fastest measured on this machine, cached; see `ebsd_env.decoding.kernels`)."""
    ray: bool = False
    ("Record the shards as Ray tasks, one per shard, each loading its own pair (`pip install 'ebsd-gym[ray]'`; "
     "docs/ray.md).")
    address: str | None = None
    """With --ray: the cluster to use (`ray start --head` prints it; None: start a local one)."""
    gpus_per_task: float | None = None
    """With --ray: GPUs per shard task (None: 1 with a CUDA --device, else 0)."""


# Drafters `--batched` cannot record (`batched.record_trace_batched` needs a feature drafter or a Hugging Face
# causal LM): refused by name before the pair is loaded.
NOT_BATCHED = ("int4", "int8", "ngram")


def validate(config: RecordConfig) -> EntropyConfig:
    """Everything that can be refused before prompts or models are loaded or --out is made (bad input then
    costs nothing and leaves nothing behind); returns the entropy settings."""
    from ..cli.args import check_device, check_threads
    from ..decoding.entropy import EntropyConfig
    from ..decoding.models import default_drafter
    from ..io import check_folder_path

    if not 0 < config.clock_tolerance < 1 or config.validation_rounds < 1:
        raise ValueError(f"--clock-tolerance must lie in (0, 1) and --validation-rounds be >= 1, got "
                         f"{config.clock_tolerance} and {config.validation_rounds}")
    if config.temperature != 0:
        raise ValueError(f"sampling (temperature={config.temperature}) cannot be replayed exactly: the output "
                         "depends on the policy's draws; record with --temperature 0")
    for flag, value in (("--max-new-tokens", config.max_new_tokens), ("--max-draft-len", config.max_draft_len),
                        ("--shard-size", config.shard_size)):
        if value < 1:
            raise ValueError(f"{flag} must be >= 1, got {value}")
    if config.prompts_per_category is not None and config.prompts_per_category < 1:
        raise ValueError(f"--prompts-per-category must be >= 1 (or left out for all prompts), got "
                         f"{config.prompts_per_category}")
    check_device(config.device)
    check_threads(config)
    try:
        entropy = EntropyConfig(config.entropy, config.entropy_param, config.entropy_temperature)
    except ValueError as error:
        raise ValueError(f"--entropy / --entropy-param / --entropy-temperature: {error}") from None
    drafter = config.drafter or default_drafter(config.device)
    if "+" in drafter and (config.batched or config.ray):  # several drafters: one aligned trace set each
        raise ValueError(f"--drafter {drafter} records one trace set per drafter with the default recorder: "
                         "drop --batched / --ray, or record each drafter alone with them")
    if config.batched and drafter in NOT_BATCHED:
        raise ValueError(f"--batched records feature drafters and Hugging Face causal LMs, not the {drafter} drafter: "
                         "record without --batched, or pick another --drafter (e.g. feature-v2)")
    check_folder_path(config.out, "--out")
    return entropy


def main(argv: list[str] | None = None) -> int:
    config = parse(RecordConfig, argv, "record", description=__doc__, prog="ebsd record")
    entropy = validate(config)
    several = "+" in (config.drafter or "")  # several drafters: one aligned trace set each (`replay.multi`)
    ray = None
    if config.ray:
        from .ray_record import ray_options

        ray = ray_options(config)  # checks that ray is installed, before any model is loaded
    from ..decoding.kernels import configure_threads
    from ..decoding.models import cached_pair
    from ..prompts import load_prompts

    configure_threads(config.threads)
    rows = load_prompts(config.prompt_source, categories=config.categories,
                        limit_per_category=config.prompts_per_category, seed=config.prompt_seed)
    if not rows:
        raise ValueError(f"no prompts from {config.prompt_source or 'the built-in suite'!r}; check --categories")
    pair = cached_pair(config.drafter, config.verifier, config.device, kernels=config.kernels)
    if several:
        summary = record_multi(pair, rows, config.out, config.max_draft_len, config.max_new_tokens, entropy,
                               config.shard_size, clock_tolerance=config.clock_tolerance,
                               validation_rounds=config.validation_rounds)
        print(json.dumps(summary))
        return 0
    summary = record(pair, rows, config.out, config.max_draft_len, config.max_new_tokens, entropy, config.shard_size,
                     batched=config.batched, ray=ray, clock_tolerance=config.clock_tolerance,
                     validation_rounds=config.validation_rounds)
    print(json.dumps(summary))
    return 0
