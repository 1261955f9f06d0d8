"""`ReplayDecoder`: the decoder protocol (`ebsd_env.decoding.protocol.Decoder`) served from recorded greedy traces.

No model runs. ``start(i)`` begins trace i; ``draft()`` returns the next token of the chain recorded at the
block's start position j with its recorded signals; ``verify()`` accepts the longest common prefix of the draft
and y[j:], emits it plus the verifier's next token (y[j + accepted]), cut at the end of y, exactly as the
live greedy decoder does. Measured times are 0: the env prices the work on its clock (model or profile).
"""

from __future__ import annotations

from ..decoding.decoder import DecoderError, DraftState, DraftStep, SequenceStats, VerifyResult
from ..decoding.entropy import EntropyConfig
from ..envs.block_rules import kept
from .trace import Trace, TraceError, TraceSet, signals_step


class ReplayDecoder(DraftState):
    """Replays `traces` (a `TraceSet`) under `max_new_tokens` (at most the recorded budget)."""

    greedy = True
    temperature = 0.0

    def __init__(self, traces: TraceSet, max_new_tokens: int | None = None, eos_ids: set[int] | None = None):
        self.traces = traces
        self.entropy = _entropy(traces.settings)
        self.max_new_tokens = int(max_new_tokens or traces.max_new_tokens)
        if self.max_new_tokens > traces.max_new_tokens:
            raise TraceError(f"max_new_tokens={self.max_new_tokens} exceeds the recorded budget "
                             f"{traces.max_new_tokens}: replay with max_new_tokens <= {traces.max_new_tokens} or "
                             "record again with a larger --max-new-tokens")
        self.max_chain = traces.max_draft_len
        self.vocab_size = int(traces.fingerprint.get("vocab_size") or 0)
        self.eos_ids = set(eos_ids if eos_ids is not None else traces.fingerprint.get("eos_ids") or [])
        if not self.eos_ids:  # the EOS ids are those that end a trace before its budget
            self.eos_ids = {t.output[-1] for t in traces.traces if len(t.output) < t.budget and t.output}
        self._matches: dict[int, list[int]] = {}
        self.pair = None
        self._started = False
        self.finished = False

    # ------------------------------------------------------------------ set-up
    def reseed(self, seed: int) -> None:
        """Greedy replays draw nothing: the seed is ignored."""

    def start(self, prompt, max_new_tokens: int | None = None) -> list[int]:
        """Begin trace `prompt` (its index in the trace set, or a `Trace` of it)."""
        index = prompt if isinstance(prompt, int) else getattr(prompt, "prompt_index", None)
        if isinstance(prompt, Trace):
            trace = prompt
            index = self.traces.traces.index(prompt)
        elif isinstance(prompt, int) and 0 <= prompt < len(self.traces):
            trace = self.traces[prompt]
        else:
            raise TraceError(f"a replay starts from a trace index in [0, {len(self.traces)}), got {prompt!r}")
        budget = self.max_new_tokens if max_new_tokens is None else int(max_new_tokens)
        if budget > self.traces.max_new_tokens:
            raise TraceError(f"max_new_tokens={budget} exceeds the recorded budget {self.traces.max_new_tokens}")
        self.trace = trace
        self.trace_index = index
        self.budget = min(budget, trace.budget)
        self.output = trace.output[: self.budget]
        if index not in self._matches:
            self._matches[index] = trace.match_lengths().tolist()
        self.match = self._matches[index]
        self._offsets = trace.chain_offsets
        self._chain = trace.chain_tokens
        self._signals = trace.signals
        self.tokens: list[int] = list(trace.prompt_ids)
        self.prompt_len = len(trace.prompt_ids)
        self.j = 0
        self.draft_steps: list[DraftStep] = []
        self._discarded_steps: list[DraftStep] = []
        self.finished = len(self.output) == 0
        self.stats = SequenceStats(prompt_tokens=self.prompt_len)
        self._started = True
        return list(trace.prompt_ids)

    # ------------------------------------------------------------------ state (`DraftState`, as live)
    @property
    def remaining(self) -> int:
        return self.budget - self.j  # j = output tokens committed: cheaper than len(new_tokens) on this hot path

    # ------------------------------------------------------------------ step API
    def draft(self) -> DraftStep:
        self._check_can_draft()
        n = len(self.draft_steps)
        start, stop = self._offsets[self.j], self._offsets[self.j + 1]
        if n >= stop - start:
            raise TraceError(f"the trace holds a chain of {stop - start} tokens at position {self.j}, a draft of "
                             f"{n + 1} was asked: replay with max_draft_len <= {self.max_chain}")
        i = start + n
        step = signals_step(self._signals, i, int(self._chain[i]), n + 1)
        self.draft_steps.append(step)
        return step

    def discard_draft(self) -> DraftStep:
        self._check_running("discard_draft")
        if not self.draft_steps:
            raise DecoderError("there is no draft token to discard; draft() first")
        step = self.draft_steps.pop()
        self._discarded_steps.append(step)
        return step

    def peek_accepts(self) -> int:
        """PRIVILEGED: how many of the current draft tokens the verifier would accept (from the trace)."""
        self._check_running("peek_accepts")
        return min(len(self.draft_steps), self.match[self.j])

    def verify(self) -> VerifyResult:
        self._check_running("verify")
        k = len(self.draft_steps)
        accepted, count = kept(k, self.match[self.j], len(self.output) - self.j)
        end = self.j + count
        emitted = self.output[self.j:end]
        self.tokens.extend(emitted)
        self.j = end
        self.finished = self.j >= len(self.output)
        stats = self.stats
        stats.blocks += 1
        stats.drafted += k
        stats.accepted += accepted
        stats.discarded += len(self._discarded_steps)
        stats.new_tokens = self.j
        stats.draft_lengths.append(k)
        stats.accepted_lengths.append(accepted)
        discarded = len(self._discarded_steps)
        self.draft_steps = []
        self._discarded_steps = []
        return VerifyResult(drafted=k, accepted=accepted, discarded=discarded, emitted=tuple(emitted),
                            draft_time_s=0.0, verify_time_s=0.0, forward_s=0.0, finished=self.finished)


def _entropy(settings: dict) -> EntropyConfig:
    e = settings["entropy"]
    return EntropyConfig(e["measure"], e["param"], e["temperature"])
