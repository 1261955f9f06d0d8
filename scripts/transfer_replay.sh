#!/bin/bash
# The replay half of issue 23's transfer check (docs/training.md, "Carrying a policy ... on replay"): every policy
# replayed on the held-out test traces of runs/t23/split under four cost profiles, every choice made on the
# training or validation traces. Inputs as made in runs/t23 and runs/t23x (see docs/results/transfer-replay/README.md).
set -euo pipefail
PY=${PY:-.venv/bin/python}
T23=${T23:-runs/t23}; T23X=${T23X:-runs/t23x}; OUT=${OUT:-docs/results/transfer-replay}
RUN=$(ls -d "$T23X"/ppo/EBSD-Replay-v1__t23x-costaware-holdout__1__* | head -1)
H=ebsd_env/timing/profiles/h200
HELD=h200-qwen7b-qwen0.5b; SEEN=h200-llama8b-smollm135m
OMP_NUM_THREADS=1 $PY -m eval.transfer --train-traces "$T23/traces-train" --validation-traces "$T23/traces-validation" \
  --test-traces "$T23X/traces-test" --holdout-categories translation --max-new-tokens 64 \
  --profiles cpu=ebsd_env/timing/profiles/cpu/cpu-amd-epyc-2core-1t-distilled.json \
    xeon=docs/results/verdict/cost_model.json $HELD=$H/h200-qwen2.5-7b-qwen2.5-0.5b.json \
    $SEEN=$H/h200-llama3.1-8b-smollm2-135m.json \
  --held-out-profiles xeon $HELD \
  --learned costaware=ppo:policies/trained/ppo_costaware.zip "retrained-best=ppo:$RUN/best_model.zip" \
    "retrained-final=ppo:$RUN/model.zip" embedded=ppo:policies/trained/ppo_embedded.zip \
  --seen costaware=cpu,$HELD,$SEEN retrained-best=cpu,$SEEN retrained-final=cpu,$SEEN embedded=xeon \
  --tuned "hf-confidence=tuned:path=$T23X/tune/hf-confidence.json" \
    "entropy-window=tuned:path=$T23X/tune/entropy-window.json" "bandit-ucb=tuned:path=$T23X/tune/bandit-ucb.json" \
  --out "$OUT" "$@"
