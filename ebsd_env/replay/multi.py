"""Aligned multi-drafter traces and `EBSD-Multi-Replay-v1`: every drafter's chain at every position of one output.

Layout: ``ebsd record --drafter int4+feature+ngram --out DIR`` writes one ordinary trace set per drafter,
``DIR/drafter-<i>-<name>/`` (shards and ``cost_model.json``, exactly as ``ebsd record --drafter <name>`` would),
and ``DIR/multi.json`` naming the drafters in order and their folders. Why one set per drafter rather than a
drafter column: each folder stays a single-drafter trace set that every single-drafter tool reads as before
(`EBSD-Replay-v1`, `oracle-dp`, the vector env), and resuming, validation and calibration are `record`'s own.

Alignment: under greedy decoding every drafter's recording commits the verifier's own output y, so the sets
hold the same prompts in the same order with the same y; `MultiTraceSet` checks it (prompt ids, outputs and
budgets, trace by trace) and refuses sets that disagree. Position j of trace t is then one block start for every
drafter, with drafter d's chain there in set d.

`MultiReplayDecoder` serves `MultiEnv` (the env code is `EBSD-Multi-v1`'s): ``select(i)`` switches the chains
read at the next block start. Nothing runs, so a switch costs nothing here: the recorded chains are what each
drafter proposes at that position, and its catch-up work, live, is a cache copy (int4) or the tokens it feeds
anyway (ngram reads the context, feature and LM drafters feed the tokens committed since their last block),
priced by the clock as one drafting step like any other.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from ..decoding.decoder import DecoderError
from ..drafter_ids import canonical_drafters
from ..envs.ebsd import DEFAULT_STOP_MODE
from ..envs.multi import MultiEnv
from ..timing.multi_clock import MultiClock
from .decoder import ReplayDecoder
from .env import replay_clock
from .trace import TraceError, TraceSet

MANIFEST = "multi.json"


def drafter_folder(index: int, name: str) -> str:
    """The sub-folder of drafter `index` (its name made safe for a path: ``feature:/x/y`` has slashes)."""
    return f"drafter-{index}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', name).strip('_')[:40]}"


class MultiTraceSet:
    """One `TraceSet` per drafter, aligned trace by trace and position by position (see the module docstring)."""

    def __init__(self, names: Sequence[str], sets: Sequence[TraceSet], source: str = ""):
        if len(names) != len(sets) or len(sets) < 2:
            raise TraceError(f"multi-drafter traces need >= 2 drafters with one trace set each, got {len(sets)} sets "
                             f"for {list(names)}")
        self.names = list(names)
        self.sets = list(sets)
        self.source = source
        first = sets[0]
        for name, other in zip(self.names[1:], self.sets[1:], strict=True):
            if other.settings != first.settings:
                raise TraceError(f"the traces of drafter {name!r} were recorded with settings {other.settings}, those "
                                 f"of {self.names[0]!r} with {first.settings}: record every drafter with the same ones")
            if len(other) != len(first):
                raise TraceError(f"drafter {name!r} has {len(other)} traces, {self.names[0]!r} {len(first)}: record "
                                 "every drafter on the same prompts (one `ebsd record --drafter a+b`)")
            for a, b in zip(first.traces, other.traces, strict=True):
                if (a.id, a.prompt_ids, a.output, a.budget) != (b.id, b.prompt_ids, b.output, b.budget):
                    raise TraceError(f"prompt {a.id!r}: the traces of {name!r} and {self.names[0]!r} differ in "
                                     "prompt, greedy output or budget, so their positions are not aligned; record "
                                     "them again together")

    def __len__(self) -> int:
        return len(self.sets[0])

    def __deepcopy__(self, memo):
        return self  # read-only, as TraceSet

    @property
    def settings(self) -> dict:
        return self.sets[0].settings

    @property
    def fingerprint(self) -> dict:
        """The pair's fingerprint (`TraceSet.fingerprint`), its drafter the ``+``-joined names (what a model trained
        on these traces was made for)."""
        return {**self.sets[0].fingerprint, "drafter": "+".join(self.names)}

    def rows(self, with_ids: bool = False) -> list[dict]:
        """As `TraceSet.rows` (the drafters' traces share their prompts: aligned)."""
        return self.sets[0].rows(with_ids)

    @classmethod
    def load(cls, folder: str | Path) -> MultiTraceSet:
        """The trace sets named by ``folder/multi.json``, in its drafters' order."""
        import json

        folder = Path(folder)
        manifest = folder / MANIFEST
        if not manifest.is_file():
            raise TraceError(f"{str(folder)!r} holds no {MANIFEST}: record multi-drafter traces with `ebsd record "
                             "--drafter a+b+c --out FOLDER` (one folder per drafter, aligned)")
        data = json.loads(manifest.read_text())
        sets = [TraceSet.load(folder / entry["folder"]) for entry in data["drafters"]]
        # Canonical ids (`ebsd_env.drafter_ids`): traces recorded as `feature` replay as the live `feature-v2`.
        return cls(canonical_drafters([entry["name"] for entry in data["drafters"]]), sets, source=str(folder))

    def clock(self, kind: str | MultiClock = "model", cost_model=None) -> MultiClock:
        """The replay clock: each drafter's own calibration (its folder's ``cost_model.json``), or `cost_model`
        (one `CostModel`, dict or JSON path per drafter, or a `MultiClock`)."""
        if isinstance(kind, MultiClock):
            if kind.kind == "wall":
                raise ValueError("the wall clock cannot be replayed (no model runs): use clock='model' or 'profile'")
            return kind
        if isinstance(cost_model, MultiClock):
            cost_model = cost_model.costs
        given = list(cost_model) if cost_model is not None else [None] * len(self.sets)
        if len(given) != len(self.sets):
            raise ValueError(f"{len(given)} cost models for {len(self.sets)} drafters ({', '.join(self.names)}): give "
                             "one each, in order")
        clocks = [replay_clock(traces, kind, costs) for traces, costs in zip(self.sets, given, strict=True)]
        return MultiClock(clocks[0].kind, tuple(self.names), tuple(c.costs for c in clocks))


class MultiReplayDecoder(ReplayDecoder):
    """`ReplayDecoder` over aligned multi-drafter traces: ``select(i)`` at a block start reads drafter i's chains."""

    def __init__(self, traces: MultiTraceSet, max_new_tokens: int | None = None):
        super().__init__(traces.sets[0], max_new_tokens)
        self.multi = traces
        self.drafter_names = list(traces.names)
        self.current = 0
        self._multi_matches: dict[tuple[int, int], list[int]] = {}

    @property
    def n_drafters(self) -> int:
        return len(self.drafter_names)

    def start(self, prompt, max_new_tokens: int | None = None) -> list[int]:
        ids = super().start(prompt, max_new_tokens)
        self.current = 0
        self._use(0)
        return ids

    def select(self, index: int) -> None:
        if not isinstance(index, int) or not 0 <= index < self.n_drafters:
            raise ValueError(f"drafter index must be an int in [0, {self.n_drafters}) "
                             f"({', '.join(self.drafter_names)}), got {index!r}")
        if self.draft_steps or self._discarded_steps:
            raise DecoderError("select() a drafter at a block start: verify() the current draft first")
        self.current = index
        if self._started:
            self._use(index)

    def proposal(self, drafter: int, start: int, k: int) -> list[int]:
        """The first `k` tokens drafter `drafter` proposes at output position `start` (its recorded chain): what
        a full-information selector scores after a block (`policies.multi`). Reading it costs nothing here; live,
        only prompt lookup's is free (`MultiDraftDecoder.proposal`)."""
        return self.multi.sets[drafter][self.trace_index].chain(start)[:k].tolist()

    def _use(self, index: int) -> None:
        """Read drafter `index`'s chain, signals and agreement at the current trace from now on."""
        trace = self.multi.sets[index][self.trace_index]
        key = (index, self.trace_index)
        if key not in self._multi_matches:
            self._multi_matches[key] = trace.match_lengths().tolist()
        self.match = self._multi_matches[key]
        self._offsets, self._chain, self._signals = trace.chain_offsets, trace.chain_tokens, trace.signals


class MultiReplayEnv(MultiEnv):
    """`EBSD-Multi-v1` over a `MultiReplayDecoder`. Arguments as `MultiEnv`'s (the model-loading ones excepted),
    plus `traces`: a `MultiTraceSet` or the folder `ebsd record --drafter a+b` wrote. Entropy settings default to
    the recorded ones; `max_draft_len` above the recorded chains, a larger `max_new_tokens`, sampling or the wall
    clock are refused, as in `EBSD-Replay-v1`."""

    def __init__(self, traces: MultiTraceSet | str | Path, history: int = 8, max_draft_len: int | None = None,
                 max_new_tokens: int | None = None, temperature: float = 0.0, clock: str | MultiClock = "model",
                 extra_signals: bool = False, seed: int | None = None, reward_scale: float | None = None,
                 cost_model=None, render_mode: str | None = None, stop_mode: str = DEFAULT_STOP_MODE,
                 observation: str = "entropy", acceptance_decay: float = 0.5, cost_signals: bool = False,
                 decide_s: float | str | None = None):
        if temperature != 0:
            raise ValueError(f"sampling (temperature={temperature}) cannot be replayed: use the live EBSD-Multi-v1 "
                             "env, or temperature=0")
        traces = traces if isinstance(traces, MultiTraceSet) else MultiTraceSet.load(traces)
        recorded = traces.settings
        max_draft_len = int(recorded["max_draft_len"]) if max_draft_len is None else int(max_draft_len)
        max_new_tokens = int(recorded["max_new_tokens"]) if max_new_tokens is None else int(max_new_tokens)
        if max_draft_len > int(recorded["max_draft_len"]):
            raise TraceError(f"max_draft_len={max_draft_len} exceeds the recorded chain length "
                             f"{recorded['max_draft_len']}: use max_draft_len <= {recorded['max_draft_len']}")
        self.traces = traces
        entropy = recorded["entropy"]
        super().__init__(prompts=traces.rows(), history=history, entropy=entropy["measure"],
                         entropy_param=entropy["param"], entropy_temperature=entropy["temperature"],
                         max_draft_len=max_draft_len, max_new_tokens=max_new_tokens, temperature=0.0,
                         clock=traces.clock(clock, cost_model), extra_signals=extra_signals, seed=seed,
                         reward_scale=reward_scale, render_mode=render_mode, stop_mode=stop_mode,
                         decoder=MultiReplayDecoder(traces, max_new_tokens), observation=observation,
                         acceptance_decay=acceptance_decay, cost_signals=cost_signals, decide_s=decide_s)

    def _decoder_prompt(self, row: dict):
        return int(row["trace_index"])
