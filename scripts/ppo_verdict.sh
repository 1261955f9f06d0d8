#!/usr/bin/env bash
# The learned-vs-hand-made experiment of docs/training.md ("The verdict"), end to end on the embedded pair.
# Every step resumes: rerun the script after an interrupt and finished work is kept.
#
#   bash scripts/ppo_verdict.sh            # OUT=runs/verdict, 3 seeds, 1M PPO steps per run
#   STEPS=200000 SEEDS="1" bash scripts/ppo_verdict.sh     # a smaller run
set -euo pipefail
cd "$(dirname "$0")/.."
EBSD=${EBSD:-.venv/bin/ebsd}
PY=${PY:-.venv/bin/python}
OUT=${OUT:-runs/verdict}
THREADS=${THREADS:-1}        # recording, tuning and training (replay is single-threaded numpy)
EVAL_THREADS=${EVAL_THREADS:-2}
TOKENS=${TOKENS:-64}
STEPS=${STEPS:-1000000}
SEEDS=${SEEDS:-"1 2 3"}
RULES=${RULES:-"entropy-abs entropy-rel entropy-window entropy-pos hf-confidence hf-heuristic svip adaedl-like draft-verify kangaroo llamacpp bandit-ucb bandit-exp3"}
# PPO variants: name and options (observation kinds and a longer entropy history).
DRAFTER=${DRAFTER:-distilled}          # the pair's drafter: v1 of the shipped feature drafter, not the project default
SECOND_DRAFTER=${SECOND_DRAFTER-ngram}   # another drafter of the zoo trained on (empty: none)
VARIANTS=${VARIANTS:-"mlp-h8: mlp-h16:--history=16 ltd:--observation=ltd ltd-entropy:--observation=ltd+entropy"}
STATIC_KS=${STATIC_KS:-"1 2 3 4 6"}   # the fixed k beside the verifier alone (the int4 copy wants longer: 1 2 4 8 12 16)
EXTEND=${EXTEND:-}                     # an earlier split whose train and validation prompts (and traces) to keep
RESULTS=${RESULTS:-docs/results/verdict}
RELEASE=${RELEASE:-1}                  # 0: keep policies/trained/ppo_embedded.zip as it is
# Batched recording needs a feature drafter or a Hugging Face LM; the int4 copy and prompt lookup record one by one.
case $DRAFTER in int4|ngram) BATCHED_DEFAULT="" ;; *) BATCHED_DEFAULT=--batched ;; esac
BATCHED=${BATCHED-$BATCHED_DEFAULT}

# 1. Prompts: train, validation (every choice is made on it) and test (the final numbers, once), disjoint; the
#    validation and test prompts are ones nothing learned from (docs/training.md says how).
[[ -f $OUT/split/split.json ]] || $EBSD split --out "$OUT/split" --threads "$THREADS" --drafter "$DRAFTER" \
  --validation-per-category "${VALIDATION:-5}" ${EXTEND:+--extend "$EXTEND"}
[[ -f $OUT/split/test.jsonl ]] || { echo "$OUT/split was made before validation prompts existed: use a new OUT" >&2; exit 2; }

# 2. Greedy traces of the three sets: training traces for tuning and PPO, validation traces for every choice of
#    the verdict (replay), test traces for the oracle-dp shares of the final numbers.
for set in train validation test; do
  $EBSD record --out "$OUT/traces-$set" --prompt-source "$OUT/split/$set.jsonl" --max-new-tokens "$TOKENS" \
    --max-draft-len 16 --threads "$THREADS" $BATCHED --drafter "$DRAFTER"
done

# The model clock every replay below runs on: calibrated at the live verdict's threads (the verifier alone is
# fastest there), on a quiet machine, and checked against the wall clock (printed).
$PY -m eval.verdict calibrate --out "$OUT" --threads "$EVAL_THREADS" --drafter "$DRAFTER"

# 3. Every entropy rule, field rule and bandit, tuned per category and overall on the training traces.
for rule in $RULES; do
  [[ -f $OUT/tune/$rule.json ]] || $EBSD tune bayes --rule "$rule" --traces "$OUT/traces-train" --budget 40 \
    --prompts-per-category 16 --max-new-tokens "$TOKENS" --env-max-draft-len 16 --storage "$OUT/tune/tune.db" \
    --out "$OUT/tune/$rule.json" --cost-model "$OUT/cost_model.json"
done

# 4. PPO on replay of the training traces: every variant, every seed (a finished run is kept; an interrupted one
#    resumes from its last checkpoint).
for variant in $VARIANTS; do
  name=${variant%%:*}; options=${variant#*:}
  for seed in $SEEDS; do
    run=$(ls -d "$OUT"/ppo/*__"$name"__"$seed"__* 2>/dev/null | head -1 || true)
    if [[ -n $run && -f $run/record.json ]]; then continue; fi
    if [[ -n $run ]]; then $EBSD train ppo --resume "$run" --no-progress-bar; continue; fi
    # The live evaluation (wall clock) runs for the first variant's first seed: it shows what the wall clock sees.
    live=0; [[ $variant == "${VARIANTS%% *}" && $seed == "${SEEDS%% *}" ]] && live=$((STEPS / 4))
    $EBSD train ppo --traces "$OUT/traces-train" --clock model --num-envs 64 --max-new-tokens "$TOKENS" \
      --total-timesteps "$STEPS" --seed "$seed" --exp-name "$name" --runs-dir "$OUT/ppo" --threads "$THREADS" \
      --eval-prompts-per-category 2 --eval-freq 20480 --checkpoint-freq 100000 --live-eval-freq "$live" \
      --cost-model "$OUT/cost_model.json" --drafter "$DRAFTER" \
      --no-progress-bar ${options//=/ }
  done
done

# 4b. Another drafter of the zoo: prompt lookup (ngram), one seed of the default variant on its own traces
#     (its clock: the calibration `ebsd record` makes; the verdict below is the default pair's).
if [[ -n $SECOND_DRAFTER ]]; then
  $EBSD record --out "$OUT/traces-train-$SECOND_DRAFTER" --prompt-source "$OUT/split/train.jsonl" \
    --drafter "$SECOND_DRAFTER" --max-new-tokens "$TOKENS" --max-draft-len 16 --threads "$THREADS"
  run=$(ls -d "$OUT"/ppo-"$SECOND_DRAFTER"/*__mlp-h8__1__* 2>/dev/null | head -1 || true)
  if [[ -z $run || ! -f $run/record.json ]]; then
    [[ -n $run ]] && rm -r "$run"
    $EBSD train ppo --traces "$OUT/traces-train-$SECOND_DRAFTER" --clock model --num-envs 64 \
      --max-new-tokens "$TOKENS" --total-timesteps "$STEPS" --seed 1 --exp-name mlp-h8 --runs-dir "$OUT/ppo-$SECOND_DRAFTER" \
      --threads "$THREADS" --eval-prompts-per-category 2 --eval-freq 20480 --checkpoint-freq 100000 \
      --live-eval-freq 0 --drafter "$SECOND_DRAFTER" --no-progress-bar
  fi
fi

# 4c. The first run again, alone, with its periodic live evaluations at the verdict's threads: the live curve of
#     step 4 is taken while tuning and other runs share the CPU, which makes wall-clock ratios noise.
if [[ ! -f $(ls -d "$OUT"/ppo-live/*/record.json 2>/dev/null | head -1 || echo none) ]]; then
  rm -rf "$OUT/ppo-live"
  $EBSD train ppo --traces "$OUT/traces-train" --clock model --num-envs 64 --max-new-tokens "$TOKENS" \
    --total-timesteps "$STEPS" --seed "${SEEDS%% *}" --exp-name mlp-h8-live --runs-dir "$OUT/ppo-live" \
    --threads "$EVAL_THREADS" --eval-prompts-per-category 2 --eval-freq 20480 --checkpoint-freq 100000 \
    --live-eval-freq $((STEPS / 4)) --cost-model "$OUT/cost_model.json" --drafter "$DRAFTER" --no-progress-bar
fi

[[ -z ${STOP_AFTER_TRAINING:-} ]] || exit 0  # e.g. to run the live verdict later, on a quiet machine

# 5. Replay on the validation and test traces (model clock; every seed, every tuned rule, oracle-dp); every choice
#    from the validation replay (selection.json), then the live verdict on the test prompts, wall clock (the
#    chosen seed of each variant; resumes), then the report.
$PY -m eval.verdict replay --out "$OUT" --static-ks $STATIC_KS
$PY -m eval.verdict live --out "$OUT" --threads "$EVAL_THREADS" --drafter "$DRAFTER" --static-ks $STATIC_KS
$PY -m eval.verdict report --out "$OUT" --results "$RESULTS"
[[ $RELEASE == 0 ]] || $PY -m eval.verdict release --out "$OUT"  # the best learned -> policies/trained/ppo_embedded.zip
$PY -m eval.docs                                # the README's and docs' figures from docs/results/verdict
