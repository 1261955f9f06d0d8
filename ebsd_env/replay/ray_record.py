"""`ebsd record --ray`: the shards of a recording as Ray tasks, one per shard, each on a worker with its own pair.

The driver does what a single-process `ebsd record` does around the recording itself: it loads the pair once
(its fingerprint is the shards' metadata, and the model clock is calibrated there, once), refuses a folder of
another recording, skips complete shards (`trace.shard_is_complete`) and writes the manifest. Each task loads
the pair through `load_pair` (a picklable callable: `cached_pair` of the CLI's models, or a config-built tiny
pair), records its shard with the same `record_trace` and returns the traces; the driver checks the worker's
pair fingerprint against its own and writes the shard (`write_shard`, atomic). So the shards are the bytes a
single-process run writes on the same machine (greedy decoding; `tests/test_ray.py`), the output folder need
not be shared between the nodes, and an interrupted run resumes from its complete shards like any other.

A task asks Ray for `num_gpus` GPUs (Ray then sets CUDA_VISIBLE_DEVICES, so `--device cuda` is the task's own
GPU) and `num_cpus` CPUs (its torch threads).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ..ray_support import init_ray


@dataclass
class RayRecordOptions:
    """Where and how the shard tasks run."""

    load_pair: Callable  # () -> ModelPair, called in each worker (picklable: a module-level function or partial)
    address: str | None = None
    num_gpus: float = 0.0
    num_cpus: float = 1.0
    threads: int | None = None


def _record_shard(load_pair: Callable, threads: int | None, rows: list[dict], first_index: int, max_draft_len: int,
                  max_new_tokens: int, entropy, recorder: Callable, decoder_prompt: Callable
                  ) -> tuple[dict, list, float, int]:
    """Runs in a Ray worker: (the worker's pair fingerprint, the shard's traces, recording seconds, tokens).
    `recorder` and `decoder_prompt` are `record`'s own (passed in: this module is imported by `record`)."""
    from ..decoding.decoder import SpeculativeDecoder
    from ..decoding.kernels import configure_threads
    from ..timing.cost_model import pair_fingerprint

    configure_threads(threads)
    pair = load_pair()
    decoder = SpeculativeDecoder(pair, temperature=0.0, entropy=entropy, max_new_tokens=max_new_tokens)
    traces, seconds, tokens = [], 0.0, 0
    for offset, row in enumerate(rows):  # the same ids and indices as `record.record`'s loop
        index = first_index + offset
        t0 = time.perf_counter()
        traces.append(recorder(decoder, decoder_prompt(pair, row), max_draft_len, max_new_tokens,
                               str(row.get("id", f"prompt-{index}")), str(row.get("category", "custom")), index))
        seconds += time.perf_counter() - t0
        tokens += len(traces[-1].output)
    return pair_fingerprint(pair), traces, seconds, tokens


def record_shards(options: RayRecordOptions, todo: list[int], shards: list[list[dict]], shard_size: int,
                  fingerprint: dict, max_draft_len: int, max_new_tokens: int, entropy, recorder: Callable,
                  decoder_prompt: Callable, progress: bool = True):
    """Yields (shard index, traces, seconds, tokens) as the shard tasks finish (in any order)."""
    from tqdm import tqdm

    from .trace import TraceError

    ray = init_ray(options.address)
    task = ray.remote(_record_shard).options(num_gpus=options.num_gpus, num_cpus=options.num_cpus)
    pending = {task.remote(options.load_pair, options.threads, shards[i], i * shard_size, max_draft_len,
                           max_new_tokens, entropy, recorder, decoder_prompt): i for i in todo}
    with tqdm(total=len(pending), desc="record (ray)", unit="shard", disable=not progress) as bar:
        while pending:
            (ready,), _ = ray.wait(list(pending), num_returns=1)
            i = pending.pop(ready)
            found, traces, seconds, tokens = ray.get(ready)
            for key, value in fingerprint.items():
                if found.get(key) != value:  # another model file or kernel choice on that node
                    for ref in pending:
                        ray.cancel(ref)
                    raise TraceError(f"shard {i}: the Ray worker's pair has {key}={found.get(key)!r}, the driver's "
                                     f"{value!r}; give every node the same models (and an explicit --kernels)")
            bar.update(1)
            yield i, traces, seconds, tokens


def ray_options(config) -> RayRecordOptions:
    """The options of `ebsd record --ray` (a `record.RecordConfig`), checked before any slow work: ray must be
    installed (one line naming the install command otherwise) and --gpus-per-task must be >= 0."""
    from functools import partial

    from ..decoding.models import cached_pair
    from ..ray_support import require_ray

    require_ray()
    gpus = config.gpus_per_task
    if gpus is None:
        gpus = 1.0 if config.device.startswith("cuda") else 0.0
    if gpus < 0:
        raise ValueError(f"--gpus-per-task must be >= 0, got {gpus}")
    return RayRecordOptions(load_pair=partial(cached_pair, config.drafter, config.verifier, config.device,
                                              kernels=config.kernels),
                            address=config.address, num_gpus=gpus, num_cpus=float(config.threads or 1),
                            threads=config.threads)
