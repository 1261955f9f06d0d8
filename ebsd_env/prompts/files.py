"""Prompt sources other than the built-in suite: a local file, or a Hugging Face benchmark (from the hub or a
local copy of it), each mapped onto the schema ``{id, category, prompt | turns}``."""

from __future__ import annotations

import csv
import gzip
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .schema import PromptSourceError, truncate

LOCAL_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet", ".jsonl.gz")


def read_local(path: Path) -> list[dict]:
    """The records of a local prompt file, one dict per row, before normalisation."""
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


def read_local_or_explain(path: Path) -> list[dict]:
    """`read_local`, with a file that is not what its suffix says (binary, truncated, another format) refused
    in one line naming the file, instead of a bare decode error that names none."""
    try:
        return read_local(path)
    except PromptSourceError:
        raise
    except UnicodeDecodeError as error:
        raise PromptSourceError(f"{path}: not UTF-8 text (byte {error.start}): a .jsonl / .json / .csv prompt file "
                                "is UTF-8 text; convert it or give another file") from None
    except (ValueError, OSError, EOFError, csv.Error) as error:  # JSON, gzip, CSV and Parquet readers' errors
        cause = " ".join(str(error).split())[:200] or type(error).__name__
        raise PromptSourceError(f"{path}: cannot be read as a {path.suffix} prompt file ({cause}); fix the file or "
                                "give another") from None


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


def load_hf(name: str, local: str | None) -> list[dict]:
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

