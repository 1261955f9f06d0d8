"""`ebsd distill`: distil a small drafter from the verifier: the feature drafter (`--architecture feature`,
`ebsd_env.decoding.drafters.FeatureDrafter`, the default) or a token-level one (`--architecture layers`,
`ebsd_env.decoding.drafters.DistilledDrafter`).

Stages, each resumable (re-run with the same ``--out`` after an interruption and it continues):
1. data: the verifier continues every prompt of the offline suite greedily and by sampling; each generated
   position keeps the verifier's top-k next-token probabilities (``data/train``, ``data/heldout`` shards);
   for the feature drafter the verifier then reads every record once more, teacher-forced, keeping its feature
   and top-k distribution at every position, prompt included (``data/features/``, `train.drafter.feature`);
2. head: the `head_size` tokens with the most teacher probability mass become the draft head (``head_index.pt``);
3. train: distillation (cross-entropy to the teacher's top-k, i.e. KL up to a constant) with AdamW; held-out
   greedy agreement per category every ``--eval-every`` steps; TensorBoard in ``tb/``; ``checkpoint.pt``
   (model, optimiser, step, wall time), an exported drafter folder ``export/`` and ``history.json`` (every
   held-out evaluation) at every checkpoint.

Example: ``ebsd distill --data-minutes 20 --train-minutes 30``
(``--tiny`` runs the whole pipeline in seconds on a config-built pair, for tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import tyro

from ebsd_env.cli.args import PromptArgs, ThreadArgs, parse


@dataclass
class DistillConfig(ThreadArgs, PromptArgs):
    """The shared --threads and prompt flags (`ebsd_env.cli.args`), and distillation's own.

    Not `ModelArgs` / `PairArgs`: distillation loads no pair, only the embedded verifier, on the CPU with plain
    kernels (it copies and trains on the verifier's weights); the drafter is what it makes. So --drafter,
    --verifier, --device, --kernels and --pair would have nothing to name; `--tiny` is its one other verifier.
    """

    exp_name: str = "distill"
    """Experiment name (part of the run name)."""
    seed: int = 0
    """Seed of sampling and batch order, and of prompt selection unless --prompt-seed is given."""
    # Redeclared from PromptArgs with another default: None follows --seed, which chose the prompts (and the
    # held-out split) before --prompt-seed existed, so earlier runs resume on the same prompts.
    prompt_seed: int | None = None
    """Seed of the prompt subset and the held-out split (None: --seed)."""
    tiny: bool = False
    """Distil on a config-built tiny pair with a handful of built-in prompts (tests, smoke runs)."""
    run_dir: Annotated[Path | None, tyro.conf.arg(name="out")] = None
    """Run folder; an existing one is resumed. None: runs/distill/{env}__{exp}__{seed}__{time}."""
    prompts_per_category: int = 60
    """Prompts taken from every category of the suite (held-out ones included)."""
    heldout_per_category: int | None = None
    ("Prompts per category kept out of training, for the held-out agreement (None: 5, or 1 with --tiny, whose suite "
     "has 5 prompts per category).")
    sampled_per_prompt: int = 1
    """Sampled continuations per training prompt, besides the greedy one."""
    sample_temperature: float = 0.8
    """Temperature of the sampled continuations."""
    sample_top_p: float = 0.95
    """Nucleus of the sampled continuations."""
    max_new_tokens: int = 96
    """Length of every continuation (fewer where the verifier ends it)."""
    max_prompt_tokens: int = 320
    """Prompts are cut to their last this-many tokens (chat template included)."""
    top_k: int = 16
    """Teacher probabilities kept per position."""
    gen_batch_size: int = 16
    """Prompts the verifier continues at once."""
    data_minutes: float | None = None
    """Stop generating training data after this long (None = all prompts); a resumed run continues it."""
    architecture: Literal["feature", "layers"] = "feature"
    """feature: EAGLE-style drafter reading the verifier's hidden state; layers: a small token-level LM."""
    num_layers: int = 1
    """Decoder layers of the drafter."""
    init_layers: tuple[int, ...] | None = None
    ("Verifier layers copied into the drafter's layers (None: the last num_layers for the feature drafter, the "
     "first num_layers for the token-level one; empty for random).")
    feature_weight: float = 1.0
    """Feature drafter: weight of the smooth-L1 feature loss next to the distillation loss."""
    draft_steps: int = 3
    ("Feature drafter: passes unrolled per training step (EAGLE-3's training-time test): pass s is trained as draft "
     "token s, reading the drafter's own earlier predictions; 1 trains the first draft token only.")
    later_step_weight: float = 0.5
    """Feature drafter: pass s's loss is weighted later_step_weight ** (s - 1)."""
    max_len: int = 384
    """Feature drafter: records are cut to their last this-many tokens per step."""
    text_prompts_per_category: int = 0
    ("Feature drafter: extra prompts per category used as text only (teacher-forced verifier features over the prompt, "
     "no generation): cheap extra data. Never any generated or held-out prompt.")
    init_from: Path | None = None
    ("Start training from a drafter exported by an earlier run (same architecture and depth; a feature drafter's head "
     "may differ, since its rows come from the verifier).")
    head_size: int = 8192
    """Tokens covered by the draft head (the rest get q = 0)."""
    steps: int = 2000
    """Optimiser steps in total (a resumed run continues up to this)."""
    train_minutes: float | None = None
    """Stop training after this much training time in this invocation (checkpointed; resume continues)."""
    batch_size: int = 8
    """Records (prompt + continuation) per step."""
    lr: Annotated[float, tyro.conf.arg(name="learning-rate")] = 5e-4
    """Peak AdamW learning rate (linear warm-up, cosine decay to 10 % over `steps`)."""
    warmup_steps: int = 30
    """Linear warm-up steps."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    eval_every: int = 50
    """Held-out evaluation (and TensorBoard point) every this many steps."""
    checkpoint_every: int = 25
    """Checkpoint and export every this many steps."""
    export_to: Path | None = None
    """Also copy the final drafter here (e.g. ebsd_env/decoding/drafters/smollm2-135m-distilled)."""


def parse_config(argv: list[str] | None) -> DistillConfig:
    """The command line as a `DistillConfig` (deprecated spellings rewritten; ``--help`` exits here)."""
    return parse(DistillConfig, argv, "distill", description=__doc__, prog="ebsd distill")
