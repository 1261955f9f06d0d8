"""What a trained artifact was made for, and the check that refuses it elsewhere.

Every trained artifact (a PPO model, an acceptance model, tuned rule parameters) carries the fingerprint of the
env it was trained on (`env_fingerprint`):

- ``pair``: verifier and drafter ids, the drafter's weight hash, vocabulary size, EOS ids;
- ``observation``: the full observation layout (`ObservationLayout`: history, observation kind, extra signals,
  entropy scale, max_draft_len, max_new_tokens);
- ``action``: stop mode, min and max draft length, decoding temperature;
- ``objective``: the objective (`ebsd_env.envs.objective.OBJECTIVE`);
- ``clock``: the clock kind and a hash of its cost model (decision and signal costs included when nonzero);
- ``machine``: CPU model and torch threads;
- ``multi`` (EBSD-Multi envs only, absent elsewhere): the drafters in order, the per-drafter and prompt-lookup
  entries appended to the observation, the acceptance decay and prompt lookup's minimum match. The pair's
  ``drafter_hash`` is then the drafters' own hashes joined by ``+``, the same live and on aligned traces.

`check_artifact_fingerprint` compares an artifact's fingerprint with the env it is bound to. A difference in what
the policy's decisions mean (``BINDING``: the pair, the observation layout, the stop mode, the draft bounds) is
refused with a one-line error naming it; ``allow_mismatch`` turns the refusal into a warning. The clock, its
cost model, the machine and the temperature are reported, never refused: judging a policy trained on the
replayed model clock on the wall clock of another machine is what the evaluation is for.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import warnings

from .drafter_ids import canonical_drafter, canonical_drafters, comparable_drafter

FINGERPRINT_VERSION = 1
ZIP_MEMBER = "ebsd_fingerprint.json"  # inside a PPO .zip (stable-baselines3 ignores members it does not know)
# (section, key): what a policy's decisions depend on; a difference refuses the artifact.
BINDING = (("pair", "verifier"), ("pair", "drafter"), ("pair", "drafter_hash"), ("pair", "vocab_size"),
           ("observation", None), ("multi", None), ("action", "stop_mode"), ("action", "min_draft_len"),
           ("action", "max_draft_len"))
PAIR_KEYS = ("drafter", "verifier", "drafter_hash", "vocab_size", "eos_ids")


class FingerprintMismatch(ValueError):
    """An artifact bound to an env it was not made for; the message names the difference and the override."""


def cost_model_hash(costs) -> str | None:
    if costs is None:
        return None
    data = costs.to_dict() if hasattr(costs, "to_dict") else costs
    # Decision, signal and catch-up costs only when nonzero, so the hash of a cost model without them is the one it
    # always had.
    optional = ("decide_s", "signal_s", "catch_up_s")
    data = {k: data[k] for k in ("draft_s", "verify_points", "context_points", "verify_grid", "draft_grid",
                                 *optional) if k in data and (data[k] or k not in optional)}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def observation_fingerprint(layout) -> dict:
    """The observation section of a fingerprint: the layout's fields, without the token budget unless the extra
    signals are on (it only scales their `generated` entry)."""
    observation = dataclasses.asdict(layout)
    if not (layout.extra_signals or layout.cost_signals):
        observation.pop("max_new_tokens")
    if not layout.cost_signals:  # layouts from before the option fingerprint as they always did
        observation.pop("cost_signals")
    return observation


def _decision_cost(base) -> dict:
    """``{"decide_s": seconds}`` when the env's model clock charges a declared cost per decision, else nothing
    (fingerprints of envs without one stay as they were)."""
    seconds = float(getattr(base.decode_clock, "decide_s", 0.0) or 0.0)  # EBSDEnv's, the vector env's
    return {"decide_s": seconds} if seconds else {}


def multi_fingerprint(base) -> dict | None:
    """The ``multi`` section of an EBSD-Multi env (`MultiEnv`, its replay and vector envs), None for any other:
    what the entries after the `EBSD-v1` layout and the actions 2 + i mean."""
    names = getattr(base, "drafter_names", None)
    if names is None:
        return None
    from .envs.multi import LOOKUP, PER_DRAFTER

    return {"drafters": list(names), "per_drafter": list(PER_DRAFTER), "lookup": list(LOOKUP),
            "acceptance_decay": float(base.acceptance_decay), "lookup_min_ngram": int(base.lookup_min_ngram)}


def _multi_drafter_hashes(base) -> list[str]:
    """Each drafter's weight hash: from its trace set on replay, from its own pair live."""
    multi = getattr(base, "multi", None) or getattr(base, "traces", None)
    if multi is not None and hasattr(multi, "sets"):
        return [str(s.fingerprint.get("drafter_hash")) for s in multi.sets]
    from .decoding.multi import sub_pairs
    from .timing.cost_model import drafter_hash

    return [drafter_hash(single) for single in sub_pairs(base.pair)]


def env_fingerprint(env) -> dict:
    """The fingerprint of an env: `EBSDEnv` (live or replayed) or the vector replay env, wrapped or not."""
    import torch

    from .decoding.kernels import cpu_model
    from .envs.objective import OBJECTIVE

    base = getattr(env, "unwrapped", env)
    traces = getattr(base, "traces", None)
    if traces is not None:
        pair = {k: traces.fingerprint.get(k) for k in PAIR_KEYS}
    else:
        from .timing.cost_model import pair_fingerprint

        pair = {k: v for k, v in pair_fingerprint(base.pair).items() if k in PAIR_KEYS}
    multi = multi_fingerprint(base)
    if multi is not None:  # one hash per drafter, so a model trained on traces binds to the live pair
        pair["drafter_hash"] = "+".join(_multi_drafter_hashes(base))
        multi["drafters"] = canonical_drafters(multi["drafters"])
    # Canonical drafter ids (`feature-v2`, never its "latest" alias `feature`; `feature-v1` for traces recorded as
    # `distilled`): the artifact then says which drafter it was made for whatever `feature` names later.
    pair["drafter"] = canonical_drafter(pair.get("drafter"), warn=False)
    layout = base.observation_layout
    clock, kind = base.decode_clock, base.clock_kind  # EBSDEnv's and the vector env's
    decoder = getattr(base, "decoder", None)
    temperature = float(getattr(decoder, "temperature", 0.0) or 0.0)
    return {"version": FINGERPRINT_VERSION, "pair": pair, "observation": observation_fingerprint(layout),
            "action": {"stop_mode": base.stop_mode, "min_draft_len": int(getattr(base, "min_draft_len", 0)),
                       "max_draft_len": int(base.max_draft_len), "temperature": temperature},
            "objective": OBJECTIVE,
            "clock": {"kind": kind, "cost_model": cost_model_hash(clock.costs),
                      **_decision_cost(base)},
            "machine": {"cpu": cpu_model(), "threads": torch.get_num_threads()},
            **({"multi": multi} if multi is not None else {})}


def _get(fp: dict, section: str, key: str | None):
    value = fp.get(section, {})
    return value if key is None else value.get(key)


def _describe(a, b) -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        keys = [k for k in dict.fromkeys([*a, *b]) if a.get(k) != b.get(k)]
        return ", ".join(f"{k} {a.get(k)!r} here vs {b.get(k)!r}" for k in keys[:3])
    return f"{a!r} here vs {b!r}"


def comparable(fp: dict) -> dict:
    """`fp` with its drafter ids as they are compared (``pair.drafter``, ``multi.drafters``: `comparable_drafter`):
    an artifact that names a drafter by an old name (``distilled``, ``feature``: `ebsd_env.drafter_ids`) binds where
    its new id is loaded."""
    fp = dict(fp)
    if isinstance(fp.get("pair"), dict):
        fp["pair"] = {**fp["pair"], "drafter": comparable_drafter(fp["pair"].get("drafter"))}
    if isinstance(fp.get("multi"), dict) and isinstance(fp["multi"].get("drafters"), list):
        fp["multi"] = {**fp["multi"], "drafters": comparable_drafter(fp["multi"]["drafters"])}
    return fp


def differences(trained: dict, env: dict) -> tuple[list[str], list[str]]:
    """(binding differences, informational differences) between an artifact's and an env's fingerprints (drafter
    ids compared through their aliases, `comparable`)."""
    trained, env = comparable(trained), comparable(env)
    binding = []
    for section, key in BINDING:
        a, b = _get(env, section, key), _get(trained, section, key)
        if section == "multi" and a != b and not (a and b):  # one drafter on one side: named first, the fix
            binding.insert(0, "multi: " + (f"this env drafts with one drafter, the artifact chooses among drafters "
                                        f"{'+'.join(b['drafters'])} (bind it to EBSD-Multi-v1 on that pair)" if b else
                                        f"this env chooses among drafters {'+'.join(a['drafters'])}, the artifact "
                                        "was trained with one drafter (bind it to EBSD-v1)"))
        elif a != b:
            binding.append(f"{section}{'.' + key if key else ''}: {_describe(a, b)} (trained)")
    info = []
    for section, key in (("clock", "kind"), ("clock", "cost_model"), ("machine", "cpu"), ("machine", "threads"),
                         ("action", "temperature")):
        a, b = _get(env, section, key), _get(trained, section, key)
        if a != b:
            info.append(f"{section}.{key} {a!r} here, {b!r} in training")
    return binding, info


def check_artifact_fingerprint(trained: dict | None, env: dict, what: str, allow_mismatch: bool = False,
                               quiet_info: bool = True) -> None:
    """Refuse `what` (an artifact) whose fingerprint `trained` differs from the env's in a binding way, in one
    line naming the first difference; with `allow_mismatch`, warn instead. No fingerprint at all is refused
    the same way (it cannot be checked)."""
    if trained is None:
        message = (f"{what} carries no fingerprint of the env it was trained on, so it cannot be checked against "
                   "this one; retrain it with `ebsd train ppo` (or save it with "
                   "`ebsd_env.fingerprint.attach`), or pass --allow-mismatch")
        if not allow_mismatch:
            raise FingerprintMismatch(message)
        warnings.warn(message.replace(", or pass --allow-mismatch", " (allowed by --allow-mismatch)"), stacklevel=2)
        return
    binding, info = differences(trained, env)
    if binding:
        message = (f"{what} was trained for another env: {binding[0]}"
                   + (f" (and {len(binding) - 1} more)" if len(binding) > 1 else "")
                   + "; use it with the env it was made for, or pass --allow-mismatch")
        if not allow_mismatch:
            raise FingerprintMismatch(message)
        warnings.warn(message.replace("; use it with the env it was made for, or pass --allow-mismatch",
                                      " (allowed by --allow-mismatch)"), stacklevel=2)
    if info and not quiet_info:
        print(f"[ebsd] note: {what}: " + "; ".join(info), file=sys.stderr)


def __getattr__(name: str):
    # `check_fingerprint` was this check's name, shared with the cost model's pair check (now
    # `ebsd_env.timing.clock.check_calibration_pair`); the old public name still works, with a warning.
    if name == "check_fingerprint":
        warnings.warn("ebsd_env.fingerprint.check_fingerprint is deprecated: use check_artifact_fingerprint",
                      DeprecationWarning, stacklevel=2)
        return check_artifact_fingerprint
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def env_requirements(fingerprint: dict | None) -> dict:
    """The `EBSDEnv` keyword arguments that rebuild the fingerprint's binding settings (what `ebsd eval` makes a
    trained artifact's env with)."""
    if fingerprint is None:
        return {}
    obs, action = fingerprint["observation"], fingerprint["action"]
    # An EBSD-Multi env has no min_draft_len (the drafter is chosen before any token) and an acceptance decay.
    multi = fingerprint.get("multi")
    return {"history": obs["history"], "observation": obs["observation"], "extra_signals": obs["extra_signals"],
            **({"cost_signals": True} if obs.get("cost_signals") else {}),
            "max_draft_len": action["max_draft_len"], "stop_mode": action["stop_mode"],
            **({"acceptance_decay": multi["acceptance_decay"]} if multi else
               {"min_draft_len": action["min_draft_len"]})}


# ---------------------------------------------------------------------------------------------- PPO zips
def attach(zip_path, fingerprint: dict) -> None:
    """Add the fingerprint to a saved stable-baselines3 model .zip (a member SB3's loader ignores)."""
    import zipfile

    with zipfile.ZipFile(zip_path, "a") as archive:
        if ZIP_MEMBER in archive.namelist():
            raise ValueError(f"{zip_path} already carries a fingerprint")
        archive.writestr(ZIP_MEMBER, json.dumps(fingerprint, sort_keys=True, indent=1))


def read_zip(zip_path) -> dict | None:
    """The fingerprint inside a model .zip, or None."""
    import zipfile

    with zipfile.ZipFile(zip_path) as archive:
        if ZIP_MEMBER not in archive.namelist():
            return None
        return json.loads(archive.read(ZIP_MEMBER))


def save_model(model, path, fingerprint: dict) -> None:
    """`model.save` to `path` atomically, with the fingerprint inside."""
    from .io import save_atomic

    def write(tmp):  # the temporary name has a suffix, so stable-baselines3 writes exactly there
        model.save(tmp)
        attach(tmp, fingerprint)

    save_atomic(path, write)
