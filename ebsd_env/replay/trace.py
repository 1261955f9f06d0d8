"""Greedy decoding traces: everything needed to replay any stopping policy on a prompt exactly.

Why this suffices: under greedy decoding the committed text is the verifier's own greedy output ``y`` whatever
the policy does, so every block starts at a prefix ``y[:j]``, and what the drafter proposes there is a fixed
chain (a feature drafter is rolled back to the verifier's true features at each block start). A trace holds,
per prompt:

- ``output``: y (ending in an end-of-sequence token, or cut by the token budget);
- for every position j of y: the drafter's greedy chain of up to ``max_draft_len`` tokens (shorter where the
  budget leaves less room, ending at a drafted EOS) with each token's signals (entropy under the recorded
  entropy config, top-1 probability, margin, token probability).

A replay then computes accepted = the longest common prefix of ``chain_j[:k]`` and ``y[j:j+k]`` and emitted =
accepted + 1 cut at the end of y; time comes from the clock.

Storage: sharded Parquet (pyarrow), one row per prompt, flat list columns with per-position offsets. Each
shard's schema metadata (key ``ebsd_trace``) holds the format version, the pair fingerprint
(`ebsd_env.timing.clock.pair_fingerprint`) and the settings, so a shard from another pair, drafter or settings is
refused with a one-line error, and a truncated or corrupt shard is named without losing the others.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..decoding.decoder import TOP_LOGPROBS, DraftStep
from ..drafter_ids import same_drafter
from ..io import read_json, save_atomic

TRACE_FORMAT = 2  # 2: adds the top log-probabilities (format 1 traces must be recorded again)
META_KEY = b"ebsd_trace"
LOGPROB_SIGNALS = tuple(f"logprob_{i + 1}" for i in range(TOP_LOGPROBS))
SIGNALS = ("entropy", "top1_prob", "margin", "token_prob", *LOGPROB_SIGNALS)
SHARD_GLOB = "shard-*.parquet"


def step_signals(step: DraftStep) -> dict[str, float]:
    """A draft step's SIGNALS by name."""
    values = step.signals()  # every one (computed now on a live step: recording reads them all)
    logprobs = values.pop("top_logprobs")
    values.update(zip(LOGPROB_SIGNALS, logprobs, strict=True))
    return values


def signals_step(signals: dict[str, np.ndarray], i: int, token: int, position: int) -> DraftStep:
    """The DraftStep of flat chain entry `i` (no time: replays take time from the clock)."""
    return DraftStep(token, position, float(signals["entropy"][i]), float(signals["top1_prob"][i]),
                     float(signals["margin"][i]), float(signals["token_prob"][i]), 0.0, 0.0,
                     tuple(float(signals[name][i]) for name in LOGPROB_SIGNALS))


class TraceError(ValueError):
    """A trace that cannot be used here: another pair or settings, a corrupt shard, a setting beyond it."""


@dataclass
class Trace:
    """One prompt's greedy output and, per output position, the drafter's chain and its signals."""

    id: str
    category: str
    prompt_index: int
    prompt_ids: list[int]
    output: list[int]  # y: the verifier's greedy output under `budget`
    budget: int  # the token budget y was generated under (max_new_tokens, capped by the context window)
    chain_offsets: np.ndarray  # int64 [len(output) + 1]: chain of position j = flat[offsets[j]:offsets[j+1]]
    chain_tokens: np.ndarray  # int64 [total]
    signals: dict[str, np.ndarray] = field(default_factory=dict)  # SIGNALS -> float64 [total]

    def chain(self, j: int) -> np.ndarray:
        return self.chain_tokens[self.chain_offsets[j]:self.chain_offsets[j + 1]]

    def chain_lengths(self) -> np.ndarray:
        return np.diff(self.chain_offsets)

    def match_lengths(self) -> np.ndarray:
        """Per position j: the longest common prefix of chain_j and y[j:] (what a draft of any length keeps)."""
        y = np.asarray(self.output, dtype=np.int64)
        out = np.zeros(len(y), dtype=np.int64)
        for j in range(len(y)):
            chain = self.chain(j)
            target = y[j:j + len(chain)]
            agree = chain[: len(target)] == target
            out[j] = len(agree) if agree.all() else int(np.argmin(agree))
        return out


def _encode(trace: Trace) -> dict:
    row = {"id": trace.id, "category": trace.category, "prompt_index": int(trace.prompt_index),
           "prompt_ids": [int(i) for i in trace.prompt_ids], "output": [int(i) for i in trace.output],
           "budget": int(trace.budget), "chain_offsets": trace.chain_offsets.astype(np.int64).tolist(),
           "chain_tokens": trace.chain_tokens.astype(np.int64).tolist()}
    for name in SIGNALS:
        row[name] = np.asarray(trace.signals[name], dtype=np.float64).tolist()
    return row


def _decode(row: dict) -> Trace:
    return Trace(id=str(row["id"]), category=str(row["category"]), prompt_index=int(row["prompt_index"]),
                 prompt_ids=list(row["prompt_ids"]), output=list(row["output"]), budget=int(row["budget"]),
                 chain_offsets=np.asarray(row["chain_offsets"], dtype=np.int64),
                 chain_tokens=np.asarray(row["chain_tokens"], dtype=np.int64),
                 signals={name: np.asarray(row[name], dtype=np.float64) for name in SIGNALS})


def write_shard(path: str | Path, traces: Sequence[Trace], meta: dict) -> None:
    """Write traces as one Parquet shard atomically (`ebsd_env.io.save_atomic`: a temporary file beside it, then
    a rename): an interrupted recording never leaves a half-written shard under the final name."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist([_encode(t) for t in traces])
    table = table.replace_schema_metadata({META_KEY: json.dumps({"format": TRACE_FORMAT, **meta}).encode()})
    save_atomic(path, lambda tmp: pq.write_table(table, tmp))


def read_shard_meta(path: str | Path) -> dict:
    """The shard's metadata (format, fingerprint, settings); a one-line TraceError if it is unreadable."""
    import pyarrow.parquet as pq

    try:
        raw = pq.read_schema(path).metadata or {}
    except Exception as error:  # pyarrow raises several types for truncated or foreign files
        raise TraceError(f"trace shard {str(path)!r} is truncated or corrupt ({type(error).__name__}); delete it "
                         "and rerun `ebsd record` with the same --out to record that shard again") from None
    if META_KEY not in raw:
        raise TraceError(f"{str(path)!r} is not an EBSD trace shard (no {META_KEY.decode()} metadata); record "
                         "traces with `ebsd record`")
    meta = json.loads(raw[META_KEY])
    if meta.get("format") != TRACE_FORMAT:
        raise TraceError(f"trace shard {str(path)!r} has format {meta.get('format')}, this version reads "
                         f"{TRACE_FORMAT}: record it again with `ebsd record`")
    return meta


def read_shard(path: str | Path) -> tuple[dict, list[Trace]]:
    import pyarrow.parquet as pq

    meta = read_shard_meta(path)
    try:
        rows = pq.read_table(path).to_pylist()
    except Exception as error:
        raise TraceError(f"trace shard {str(path)!r} is truncated or corrupt ({type(error).__name__}); delete it "
                         "and rerun `ebsd record` with the same --out to record that shard again") from None
    return meta, [_decode(row) for row in rows]


def describe_mismatch(expected: dict, found: dict, what: str) -> str | None:
    """The first key where two fingerprints or settings differ, as text (None if they agree on expected's
    keys). Drafter ids are compared through their aliases (`ebsd_env.drafter_ids`): traces recorded as
    ``distilled`` are the ``feature-v1`` drafter's."""
    for key, value in expected.items():
        if key in found and not (same_drafter(found[key], value) if key == "drafter" else found[key] == value):
            return f"{what} {key}={found[key]!r}, expected {value!r}"
    return None


def _with_runner_attention(found: dict, expected: dict) -> dict:
    """`found` (a shard's pair fingerprint) with the int4 / int8 copy's attention filled in where the shard predates
    that key: those copies then attended by torch's SDPA (``quantized/runner.py``), so such traces replay the live
    copy only if it does too."""
    if "drafter_attention" in expected and "drafter_attention" not in found:
        return {**found, "drafter_attention": {name: "sdpa" for name in expected["drafter_attention"]}}
    return found


def recording_mismatch(expected: dict, found: dict) -> str | None:
    """The first pair-fingerprint key (names, drafter hash, vocabulary, EOS ids, kernels) or setting where the
    shard metadata `found` differs from `expected` (a folder's first shard, or the recording about to resume in
    it), as text: what one folder of shards must agree on (`TraceSet.load`, `ebsd record`)."""
    return (describe_mismatch(expected["fingerprint"], found["fingerprint"], "pair")
            or describe_mismatch(expected["settings"], found["settings"], "setting"))


def shard_is_complete(path: Path, meta: dict, rows: int) -> bool:
    """A shard that reads back, carries `meta` and holds `rows` traces; a foreign one is an error."""
    if not path.is_file():
        return False
    try:
        found, traces = read_shard(path)
    except TraceError:
        return False  # truncated or corrupt: record it again
    refuse_other_recording(path, meta, found)
    return len(traces) == rows


def refuse_other_recording(path: Path, meta: dict, found: dict) -> None:
    """A TraceError when the shard at `path` (metadata `found`) differs from this recording's `meta` in any key
    `TraceSet.load` compares within a folder (`trace.recording_mismatch`): resuming would mix shards that
    training refuses only later, e.g. ones whose verifier ran other linear-layer kernels after --threads
    changed."""
    problem = recording_mismatch(meta, found)
    if problem:
        raise TraceError(f"{str(path.parent)!r} holds traces of another recording: {path.name} was recorded with "
                         f"{problem} (this run's); record into a new --out, or rerun with the same pair, settings "
                         "and --threads/--kernels as that recording")


def refuse_other_recordings(out: Path, meta: dict) -> None:
    """A TraceError when a shard in the folder `out` is of another recording than `meta` (`refuse_other_recording`);
    shards that do not read back are left to be recorded again."""
    for path in sorted(out.glob("shard-*.parquet")):
        try:
            found = read_shard_meta(path)
        except TraceError:
            continue
        refuse_other_recording(path, meta, found)


def shard_paths(source: str | Path | Sequence[str | Path]) -> list[Path]:
    if isinstance(source, (str, Path)):
        source = Path(source)
        if source.is_dir():
            paths = sorted(source.glob(SHARD_GLOB))
            if not paths:
                raise TraceError(f"no trace shards ({SHARD_GLOB}) in {str(source)!r}: record some with `ebsd record "
                                 f"--out {source}`")
            return paths
        if not source.is_file():
            raise FileNotFoundError(f"trace path {str(source)!r} does not exist; record traces with `ebsd record`")
        return [source]
    return [Path(p) for p in source]


class TraceSet:
    """Traces from one recording (every shard must share the pair fingerprint and settings), plus flat numpy
    arrays of all of them for the vector env and the DP oracle.

    ``fingerprint``: the pair the traces came from; ``settings``: ``entropy`` (type, param, temperature),
    ``max_draft_len`` (chain length recorded), ``max_new_tokens``, ``temperature`` (always 0).
    """

    def __init__(self, traces: Sequence[Trace], fingerprint: dict, settings: dict, cost_model: dict | None = None,
                 source: str = ""):
        if not traces:
            raise TraceError("no traces: record some with `ebsd record`")
        self.traces = list(traces)
        self.fingerprint = dict(fingerprint)
        self.settings = dict(settings)
        self.cost_model = cost_model
        self.source = source
        self._flat: dict | None = None

    def __len__(self) -> int:
        return len(self.traces)

    def __deepcopy__(self, memo):
        return self  # read-only: the copies gym.make makes of an env spec share the traces

    def __getitem__(self, index: int) -> Trace:
        return self.traces[index]

    @property
    def max_draft_len(self) -> int:
        return int(self.settings["max_draft_len"])

    @property
    def max_new_tokens(self) -> int:
        return int(self.settings["max_new_tokens"])

    def rows(self, with_ids: bool = False) -> list[dict]:
        """Prompt rows for the env (``id``, ``category``, ``trace_index``); `with_ids` adds ``prompt_ids``, the
        tokens each trace was recorded from, with which the live env decodes exactly the recorded prompts."""
        return [{"id": t.id, "category": t.category, "prompt": f"<trace {i}>", "trace_index": i,
                 **({"prompt_ids": list(t.prompt_ids)} if with_ids else {})}
                for i, t in enumerate(self.traces)]

    @classmethod
    def load(cls, source: str | Path | Sequence[str | Path], pair=None, fingerprint: dict | None = None,
             settings: dict | None = None) -> TraceSet:
        """Read shards (a directory or files). Every shard must match the first one's fingerprint and settings,
        and `pair` / `fingerprint` / `settings` where given; a mismatch or a corrupt shard is a TraceError
        naming the shard. ``cost_model.json`` beside the shards (written by `ebsd record`) is loaded too."""
        from ..timing.cost_model import pair_fingerprint

        paths = shard_paths(source)
        expected_fp = dict(fingerprint or {})
        if pair is not None:
            expected_fp.update({k: v for k, v in pair_fingerprint(pair).items() if k != "kernels"})
        traces: list[Trace] = []
        first: dict | None = None
        for path in paths:
            meta, shard = read_shard(path)
            if first is None:
                first = meta
            problem = (describe_mismatch(expected_fp, _with_runner_attention(meta["fingerprint"], expected_fp), "pair")
                       or describe_mismatch(settings or {}, meta["settings"], "setting")
                       or recording_mismatch(first, meta))
            if problem:
                raise TraceError(f"trace shard {str(path)!r} was recorded with {problem}: record traces for "
                                 "this pair and these settings with `ebsd record` (a new --out)")
            traces.extend(shard)
        cost_model = None
        folder = paths[0].parent
        if (folder / "cost_model.json").is_file():
            cost_model = read_json(folder / "cost_model.json", "the traces' model-clock calibration",
                                   "record the traces again with `ebsd record`, or delete that file and pass a "
                                   "cost model (--cost-model)")
        return cls(traces, first["fingerprint"], first["settings"], cost_model, source=str(source))

    def flat(self) -> dict:
        """All traces as padded numpy arrays (built once): per trace ``base`` (first position's row),
        ``length`` (len(output)), ``budget``, ``eos_end``; per position row ``chain_len``, ``match`` and
        ``[rows, max_draft_len]`` arrays ``tokens`` and each of SIGNALS (0 past a chain's end)."""
        if self._flat is None:
            width = self.max_draft_len
            lengths = np.asarray([len(t.output) for t in self.traces], dtype=np.int64)
            base = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
            rows = int(lengths.sum())
            tokens = np.full((rows + 1, width), -1, dtype=np.int64)  # one spare row: a safe index past the end
            signals = {name: np.zeros((rows + 1, width), dtype=np.float64) for name in SIGNALS}
            chain_len = np.zeros(rows + 1, dtype=np.int64)
            match = np.zeros(rows + 1, dtype=np.int64)
            for t, trace in enumerate(self.traces):
                start = base[t]
                lens = trace.chain_lengths()
                chain_len[start:start + len(lens)] = lens
                match[start:start + len(lens)] = trace.match_lengths()
                for j in range(len(lens)):
                    a, b = trace.chain_offsets[j], trace.chain_offsets[j + 1]
                    tokens[start + j, : b - a] = trace.chain_tokens[a:b]
                    for name in SIGNALS:
                        signals[name][start + j, : b - a] = trace.signals[name][a:b]
            self._flat = {"base": base, "length": lengths,
                          "budget": np.asarray([t.budget for t in self.traces], dtype=np.int64),
                          "tokens": tokens, "chain_len": chain_len, "match": match, **signals}
        return self._flat
