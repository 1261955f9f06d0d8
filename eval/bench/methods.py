"""The methods `ebsd bench decoder` times: our decoder at a fixed k and transformers' `generate`, by label.

Each method is a function of a prompt's token ids. Our decoder runs its blocks through the draft/verify driver
(`run_block`, as `generate` does), whose hooks record each call (`OurRuns`); transformers' `generate` runs alone
and assisted (constant k, or one of its adaptive modes); the warm-up drops the transformers methods that cannot
run here."""

from __future__ import annotations

import time


def suffix(name: str, names: list[str]) -> str:
    """The drafter's name in a method's label, where several drafters run side by side."""
    return f" [{name}]" if len(names) > 1 else ""


def label(name: str, k: int, names: list[str], who: str = "ours") -> str:
    """The label of drafter `name` at a fixed k in our decoder (`who` "ours") or transformers' ("transformers")."""
    kind = "speculative" if who == "ours" else "assisted"
    return f"{kind} k={k}{suffix(name, names)} ({who})"


def timed_generate(model, ids: list[int], max_new_tokens: int, **kwargs) -> tuple[list[int], float]:
    """transformers' greedy `generate` on `ids`, timed end to end (device synchronised): (new tokens, seconds)."""
    import torch

    from ebsd_env.decoding.decoder import _sync

    inputs = torch.tensor([ids], device=model.device)
    _sync(model.device)
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(inputs, attention_mask=torch.ones_like(inputs), max_new_tokens=max_new_tokens,
                             do_sample=False, **kwargs)
    _sync(model.device)
    return out[0, len(ids):].tolist(), time.perf_counter() - t0


def hf_generate(model, ids: list[int], max_new_tokens: int, assistant=None, k: int = 0) -> tuple[list[int], float]:
    """transformers' generation: the verifier alone, or assisted by `assistant` drafting a constant k (confidence
    threshold off)."""
    if assistant is None:
        return timed_generate(model, ids, max_new_tokens)
    config = assistant.generation_config
    config.num_assistant_tokens = k
    config.num_assistant_tokens_schedule = "constant"
    config.assistant_confidence_threshold = 0.0
    return timed_generate(model, ids, max_new_tokens, assistant_model=assistant)


def hf_generate_mode(model, ids: list[int], max_new_tokens: int, assistant, mode: str) -> tuple[list[int], float]:
    """transformers' assisted generation in one of its adaptive modes, from its documented start settings."""
    config = assistant.generation_config
    if mode == "heuristic":
        config.num_assistant_tokens, config.num_assistant_tokens_schedule = 5, "heuristic"
        config.assistant_confidence_threshold = 0.0
    else:  # "confidence": the default since v4.45
        config.num_assistant_tokens, config.num_assistant_tokens_schedule = 20, "constant"
        config.assistant_confidence_threshold = 0.4
    return timed_generate(model, ids, max_new_tokens, assistant_model=assistant)


class OurRuns:
    """Our decoder at a fixed k (k = 0: the verifier alone), block by block through `run_block`, whose hooks
    record, beside each run's rate: per drafter, the forward and whole-call seconds of single-token draft steps and
    the forward seconds of verifications by the draft tokens verified (k + 1 rows); the verifier-alone steps'
    forward and whole-call seconds (the whole calls, what the clock charges, are the cost ratio's terms); the
    acceptance per method; and the draft and accepted lengths of every block at the largest k."""

    def __init__(self, decoders: dict, names: list[str], kmax: int):
        self.decoders, self.names, self.kmax = decoders, names, kmax
        self.clear()

    def clear(self) -> None:
        self.drafter_steps: dict[str, list[float]] = {name: [] for name in self.names}
        self.drafter_calls: dict[str, list[float]] = {name: [] for name in self.names}
        self.verifier_steps: list[float] = []
        self.verifier_calls: list[float] = []
        self.verify_steps: dict[str, dict[int, list[float]]] = {name: {} for name in self.names}
        self.acceptance: dict[str, list[tuple[int, int]]] = {}
        self.positions: dict[str, tuple[list[int], list[int]]] = {name: ([], []) for name in self.names}

    def __call__(self, name: str, ids: list[int], k: int) -> tuple[list[int], float, float]:
        """(new tokens, seconds, share of the time outside forward passes) of `decoder.generate` with fixed k."""
        decoder = self.decoders[name]

        def on_draft(step, call_s: float) -> None:
            if step.position >= 2:  # a block's first step also reads the tokens just committed
                self.drafter_steps[name].append(step.forward_s)
                self.drafter_calls[name].append(call_s)

        def on_verify(result, call_s: float) -> None:
            if not k:
                self.verifier_steps.append(result.forward_s)
                self.verifier_calls.append(call_s)
            elif result.drafted:
                self.verify_steps[name].setdefault(result.drafted, []).append(result.forward_s)

        t0 = time.perf_counter()
        decoder.start(ids)
        while not decoder.finished:  # each block: the draft/verify driver's, as `generate`'s
            decoder.run_block(k, on_draft, on_verify)
        seconds = time.perf_counter() - t0
        stats = decoder.stats.as_dict()
        if k:
            self.acceptance.setdefault(label(name, k, self.names), []).append((stats["accepted"], stats["drafted"]))
        if k == self.kmax:
            self.positions[name][0].extend(stats["draft_lengths"])
            self.positions[name][1].extend(stats["accepted_lengths"])
        return decoder.new_tokens, seconds, stats["outside_forward_share"]


def bench_methods(config, pairs: dict, names: list[str], ours: OurRuns) -> dict:
    """Every method by its label: the verifier alone (ours, model.generate), and per drafter our decoder at each
    k, and where transformers can run the drafter, its assisted generation at each k and in its adaptive modes.
    Each takes the prompt's token ids and returns (new tokens, seconds, outside-forward share or nan)."""
    from transformers import PreTrainedModel

    verifier = pairs[names[0]].verifier
    methods = {"verifier alone (ours)": lambda ids: ours(names[0], ids, 0),
               "verifier alone (model.generate)": lambda ids: hf_generate(verifier, ids, config.max_new_tokens)
               + (float("nan"),)}
    hf_drafters = [name for name, pair in pairs.items() if isinstance(pair.drafter, PreTrainedModel)]
    for name in names:
        for k in config.ks:
            methods[label(name, k, names)] = lambda ids, name=name, k=k: ours(name, ids, k)
        if name not in hf_drafters:
            continue
        drafter = pairs[name].drafter
        for k in config.ks:
            methods[label(name, k, names, "transformers")] = lambda ids, k=k, d=drafter: hf_generate(
                verifier, ids, config.max_new_tokens, d, k) + (float("nan"),)
        if config.transformers_modes:
            for mode in ("heuristic", "confidence"):
                methods[f"assisted {mode}{suffix(name, names)} (transformers)"] = \
                    lambda ids, mode=mode, d=drafter: hf_generate_mode(verifier, ids, config.max_new_tokens, d,
                                                                         mode) + (float("nan"),)
    return methods


def warm_up(methods: dict, ids: list[int]) -> dict[str, str]:
    """Run every method once on `ids` (first calls allocate and pick kernels); a transformers method that fails
    is dropped from `methods` and returned with its error (ours failing is a bug: raised)."""
    failed: dict[str, str] = {}
    for method, fn in list(methods.items()):
        try:
            fn(ids)
        except Exception as error:  # noqa: BLE001 - reported in the output, the method is dropped
            if "(transformers)" not in method:
                raise
            failed[method] = f"{type(error).__name__}: {str(error).splitlines()[0][:160]}"
            del methods[method]
    return failed
