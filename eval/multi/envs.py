"""The env `ebsd eval` runs a policy in: `EBSD-v1`, or `EBSD-Multi-v1` on a multi-drafter pair (``int4+ngram``).

On a ``+``-joined pair every policy runs in `EBSD-Multi-v1`: the drafter-choosing ones (`policies.multi`, a PPO
model trained on multi traces) choose, the single-drafter rules draft with drafter 0 (action 0 at a block start,
`policies.base`), and no-spec is the verifier alone as everywhere, so the report ranks them together and checks
every greedy output against the verifier's. What differs from `EBSD-v1`, and is handled here:

- the cost model is one calibration per drafter (`MultiClock`), kept in OUT as ``cost_model_T{t}.multi.json``
  beside the single file ``cost_model_T{t}.json`` that `eval.run.charge_decisions` keeps the policies' decision
  costs in (the multi env charges decisions through its verifier clock, whose costs that file holds); the run's
  metadata records every drafter's (``drafter_cost_models``, `drafter_cost_models`);
- the env has no ``min_draft_len`` (the drafter is chosen before any token is drafted): a floor above 0 is
  refused in one line;
- a policy made for EBSD-Multi (its requirements carry ``acceptance_decay``) on a one-drafter pair is refused in
  one line, before any episode.
"""

from __future__ import annotations

from pathlib import Path

SEPARATOR = "+"  # as `ebsd_env.decoding.drafting.SEPARATOR` (not imported: this check runs before torch)
MULTI_ONLY = ("acceptance_decay",)  # env settings only EBSD-Multi-v1 takes


def is_multi_spelling(drafter: str | None) -> bool:
    return drafter is not None and SEPARATOR in drafter


def check_env_config(config) -> None:
    """The env settings of an `EvalConfig` that need no model: a given cost model read (one `CostModel`, or one
    per drafter for a ``+``-joined --drafter), a draft floor EBSD-Multi-v1 cannot take refused."""
    if not is_multi_spelling(getattr(config, "drafter", None)) or getattr(config, "tiny", None):
        if config.cost_model is not None and not holds_multi_costs(config.cost_model):
            from ebsd_env.timing.cost_model import CostModel

            CostModel.load(config.cost_model)  # a missing or corrupt file, named, before any model is loaded
        return
    names = [name.strip() for name in config.drafter.split(SEPARATOR)]
    if config.min_draft_len:
        raise ValueError(f"--min-draft-len {config.min_draft_len}: EBSD-Multi-v1 (--drafter {config.drafter}) has no "
                         "draft floor, the drafter is chosen before any token; drop the flag")
    if config.cost_model is not None:
        from ebsd_env.timing.multi_clock import load_multi_costs

        try:
            load_multi_costs(config.cost_model, names)
        except (ValueError, FileNotFoundError) as error:
            raise ValueError(f"--cost-model {config.cost_model}: {error} (a multi-drafter pair needs the file "
                             "MultiClock.save writes, e.g. OUT/cost_model_T0.multi.json of an earlier run)") from None


def chooses_drafter(policy, settings: dict) -> bool:
    """Whether a bound policy picks the drafter of each block (a `policies.multi` rule, or a PPO model trained on
    EBSD-Multi: its env settings carry the multi-only keys), as opposed to a single-drafter policy, which drafts
    with the pair's first drafter; the report ranks both kinds and says which is which."""
    from policies.multi import MultiPolicy

    return isinstance(policy, MultiPolicy) or bool(set(settings) & set(MULTI_ONLY))


def holds_multi_costs(path: str) -> bool:
    """Whether `path` is a multi-drafter cost file (`MultiClock.save`): a pair given to `evaluate` as an object
    may be a multi-drafter one that --drafter does not spell; its env then checks the file against its drafters."""
    import json

    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return False  # CostModel.load names the problem
    return isinstance(data, dict) and isinstance(data.get("drafters"), dict)


def multi_costs_path(saved: Path) -> Path:
    """Where a run keeps the multi-drafter calibration beside the single cost model file `saved`."""
    return saved.with_name(saved.stem + ".multi.json")


def drafter_cost_models(env) -> dict | None:
    """Each drafter's cost model by name (`MultiClock.to_dict`) of an EBSD-Multi-v1 env; None for EBSD-v1. The
    run's ``cost_models`` holds one per temperature, the verifier clock's (drafter 0's calibration), which
    alone would hide what the other drafters were charged."""
    clock = getattr(env.unwrapped, "multi_clock", None)
    return None if clock is None else clock.to_dict()["drafters"]


def make_eval_env(pair, saved: Path, cost_model: str | None, spec: str, **kwargs):
    """The env of policy `spec` on `pair` (`gym.make` keyword arguments in `kwargs`), its calibration kept in OUT:
    `saved` (a single pair's cost model) or `multi_costs_path(saved)` (a multi-drafter pair's), reused when there
    so a resumed run charges the same model clock. `cost_model`: the file given on the command line, if any."""
    import gymnasium as gym

    from ebsd_env.decoding.multi import is_multi

    if not is_multi(pair):
        multi_only = sorted(set(kwargs) & set(MULTI_ONLY))
        if multi_only:
            raise ValueError(f"--policies {spec}: it was made for EBSD-Multi-v1 (it chooses the drafter of each "
                             f"block), this pair has the one drafter {pair.drafter_name!r}; evaluate it with the "
                             "'+'-joined --drafter it was trained on (e.g. --drafter int4+feature+ngram)")
        env = gym.make("EBSD-v1", pair=pair, cost_model=cost_model or (str(saved) if saved.exists() else None),
                       **kwargs)
        if not saved.exists():
            env.unwrapped.decode_clock.costs.save(saved)
        return env
    floor = kwargs.pop("min_draft_len", 0)
    if floor:
        raise ValueError(f"--policies {spec}: min_draft_len={floor}, but EBSD-Multi-v1 ({pair.drafter_name}) has no "
                         "draft floor (the drafter is chosen before any token); drop --min-draft-len")
    multi_saved = multi_costs_path(saved)
    env = gym.make("EBSD-Multi-v1", pair=pair,
                   cost_model=cost_model or (str(multi_saved) if multi_saved.exists() else None), **kwargs)
    if not multi_saved.exists():
        env.unwrapped.multi_clock.save(multi_saved)
    return env
