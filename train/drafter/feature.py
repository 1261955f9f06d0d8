"""Training pieces of the feature drafter (`ebsd_env.decoding.drafters.FeatureDrafter`) for `ebsd distill`.

Data: every generated record (prompt + verifier continuation, `train.drafter.data`) is run through the verifier
once more, teacher-forced, to keep at *every* position j (prompt tokens included) the verifier's feature f_j
(float16) and its top-k next-token distribution for token j + 1. These *feature records* are
``{"prompt_id", "category", "mode", "start", "ids" [T], "features" [T, H], "next_ids" [T, k], "next_probs" [T, k]}``.

Loss (EAGLE, Li et al. 2024): smooth-L1 between the predicted and the verifier's features plus cross-entropy of
the draft head to the teacher's top-k, over `steps` unrolled passes, EAGLE-3's *training-time test* (Li et al.
2025, arXiv:2503.01840, section 3.2): pass 1 reads the verifier's features f_{p-1} (the first token of a draft);
pass s >= 2 reads pass s - 1's prediction at p - 1, as draft token s does. Pass s at p is draft token s of a draft
that began at p - s + 1, so it attends as that draft token does at inference: to pass 1's keys up to p - s + 1
(computed from the verifier's features) and to pass r's key at p - s + r for r = 2..s (the draft's own earlier
tokens). Later passes reuse the earlier passes' keys and values through the cache (`unrolled_features`); a
plain causal second pass would instead let draft token 2 see a context built from predicted features only,
which inference never shows it. Pass s's loss is weighted ``later_weight ** (s - 1)``.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm
from transformers import DynamicCache

from ebsd_env.decoding.drafters import FeatureDrafter

from .data import save_tensors


@torch.inference_mode()
def feature_records(verifier, records: list[dict], top_k: int, batch_size: int = 4) -> list[dict]:
    """Teacher-forced verifier features and top-k next-token distributions of every position of `records`."""
    decoder, head = verifier.get_decoder(), verifier.get_output_embeddings()
    device = verifier.get_input_embeddings().weight.device
    out = []
    for start in range(0, len(records), batch_size):
        chunk = records[start:start + batch_size]
        width = max(len(r["ids"]) for r in chunk)
        ids = torch.zeros(len(chunk), width, dtype=torch.long, device=device)
        mask = torch.zeros_like(ids)
        for b, r in enumerate(chunk):  # right padding: causal attention keeps the real positions exact
            ids[b, :len(r["ids"])] = r["ids"].long()
            mask[b, :len(r["ids"])] = 1
        hidden = decoder(input_ids=ids, attention_mask=mask).last_hidden_state
        probs, top = torch.softmax(head(hidden).float(), dim=-1).topk(top_k, dim=-1)
        for b, r in enumerate(chunk):
            n = len(r["ids"])
            out.append({"prompt_id": r["prompt_id"], "category": r["category"], "mode": r["mode"],
                        "start": r["start"], "ids": r["ids"], "features": hidden[b, :n].half().cpu(),
                        "next_ids": top[b, :n].to(torch.int32).cpu(), "next_probs": probs[b, :n].half().cpu()})
    return out


def build_feature_shards(verifier, shard_paths: list[Path], folder: Path, top_k: int, desc: str) -> list[Path]:
    """One feature shard per generation shard (same file name); existing ones are kept, so it resumes."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for path in tqdm(shard_paths, desc=desc, unit="shard", dynamic_ncols=True):
        target = folder / path.name
        if not target.is_file():
            save_tensors(feature_records(verifier, torch.load(path, weights_only=True), top_k), target)
        paths.append(target)
    return paths


def build_text_feature_shards(verifier, records: list[dict], folder: Path, top_k: int,
                              shard_size: int = 64) -> list[Path]:
    """Feature shards of text-only records (`train.drafter.data.text_records`), `shard_size` per shard;
    existing ones are kept, so it resumes."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    starts = range(0, len(records), shard_size)
    for index, start in enumerate(tqdm(starts, desc="text features", unit="shard", dynamic_ncols=True)):
        target = folder / f"shard_{index:05d}.pt"
        if not target.is_file():
            save_tensors(feature_records(verifier, records[start:start + shard_size], top_k), target)
        paths.append(target)
    return paths


def _batch(records: list[dict], to_head: torch.Tensor, max_len: int):
    """Right-padded tensors of a batch: ids, mask, previous features, target features, teacher rows, and
    which positions are generated (continuation) ones."""
    width = min(max_len, max(len(r["ids"]) for r in records))
    size = records[0]["features"].shape[-1]
    k = records[0]["next_ids"].shape[-1]
    batch = len(records)
    ids = torch.zeros(batch, width, dtype=torch.long)
    mask = torch.zeros(batch, width, dtype=torch.long)
    target = torch.zeros(batch, width, size)
    previous = torch.zeros(batch, width, size)  # f_{j-1}; zeros before the first token
    teacher_ids = torch.zeros(batch, width, k, dtype=torch.long)
    teacher_probs = torch.zeros(batch, width, k)
    generated = torch.zeros(batch, width, dtype=torch.bool)
    for b, r in enumerate(records):
        # Long records keep their end: the continuation is where drafting happens.
        cut = max(0, len(r["ids"]) - width)
        n = len(r["ids"]) - cut
        ids[b, :n] = r["ids"][cut:].long()
        mask[b, :n] = 1
        target[b, :n] = r["features"][cut:].float()
        previous[b, 1:n] = target[b, :n - 1]
        if cut:
            previous[b, 0] = r["features"][cut - 1].float()
        teacher_ids[b, :n] = r["next_ids"][cut:].long()
        teacher_probs[b, :n] = r["next_probs"][cut:].float()
        generated[b, max(0, r["start"] - 1 - cut):n - 1] = True  # positions whose next token was generated
    return ids, mask, previous, target, to_head[teacher_ids], teacher_probs, teacher_ids[..., 0], generated


def _pass_losses(model: FeatureDrafter, predicted: torch.Tensor, target: torch.Tensor, head_ids: torch.Tensor,
                 teacher_probs: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(feature loss, distillation loss, head argmax) over the valid positions of one pass."""
    predicted, target = predicted[valid], target[valid]
    log_q = torch.log_softmax(model.head_logits(predicted).float(), dim=-1)
    inside = head_ids[valid] >= 0
    picked = log_q.gather(1, head_ids[valid].clamp_min(0))
    distill = -(teacher_probs[valid] * picked * inside).sum(-1).mean()
    return F.smooth_l1_loss(predicted, target), distill, log_q.argmax(-1)


def draft_step_mask(valid: torch.Tensor, step: int) -> torch.Tensor:
    """[B, 1, W, step * W] boolean attention mask (True = attend) of pass `step` >= 2 over the keys of passes
    1..step (cached in that order): query p sees pass 1's keys j <= p - step + 1 that are not padding, and pass
    r's key at p - step + r for r = 2..step (its own key at p included, so no row is empty)."""
    batch, width = valid.shape
    query, key = torch.arange(width)[:, None], torch.arange(width)[None, :]
    blocks = [(key <= query - step + 1)[None] & valid[:, None, :]]
    blocks += [(key == query - step + r)[None].expand(batch, width, width) for r in range(2, step + 1)]
    return torch.cat(blocks, dim=-1)[:, None]


def unrolled_features(model: FeatureDrafter, ids: torch.Tensor, previous: torch.Tensor, mask: torch.Tensor,
                      steps: int) -> list[torch.Tensor]:
    """Predicted features of passes 1..`steps` ([B, W, H] each): pass 1 reads `previous` (the verifier's
    features f_{p-1}), pass s reads pass s - 1's output shifted by one position, attending as draft token s
    does (`draft_step_mask`)."""
    cache = DynamicCache()
    outputs = [model.features(ids, previous, attention_mask=mask, cache=cache, use_cache=True)]
    positions = torch.arange(ids.shape[1]).expand_as(ids)
    for step in range(2, steps + 1):
        own = torch.cat([outputs[-1].new_zeros(ids.shape[0], 1, outputs[-1].shape[-1]), outputs[-1][:, :-1]], 1)
        outputs.append(model.features(ids, own, attention_mask=draft_step_mask(mask.bool(), step), cache=cache,
                                      use_cache=True, position_ids=positions))
    return outputs


def loss_and_hits(model: FeatureDrafter, records: list[dict], to_head: torch.Tensor, feature_weight: float,
                  steps: int = 3, later_weight: float = 0.5, max_len: int = 512):
    """Training loss over `steps` unrolled passes, and per pass the head's top-1 hits against the teacher's top-1
    on generated positions (pass s: draft token s)."""
    ids, mask, previous, target, head_ids, teacher_probs, teacher_top1, generated = _batch(records, to_head,
                                                                                          max_len)
    valid = mask.bool()
    loss, hits = 0.0, []
    for step, predicted in enumerate(unrolled_features(model, ids, previous, mask, steps), start=1):
        # Pass s at p continues a draft that began at p - s + 1: it needs that many positions before it.
        usable = valid.clone()
        usable[:, :step - 1] = False
        feature_loss, distill, argmax = _pass_losses(model, predicted, target, head_ids, teacher_probs, usable)
        loss = loss + later_weight ** (step - 1) * (feature_weight * feature_loss + distill)
        hits.append((model.head_index[argmax] == teacher_top1[usable])[generated[usable]])
    return loss, hits


@torch.no_grad()
def evaluate(model: FeatureDrafter, records: list[dict], to_head: torch.Tensor, batch_size: int,
             feature_weight: float, steps: int = 3) -> dict:
    """Held-out greedy agreement on the generated positions of greedy records: ``agreement`` from the verifier's
    features (the first token of a draft), ``agreement_own`` for the second draft token (it reads the drafter's
    own feature and attends as inference does), ``agreement_by_step`` for draft tokens 1..`steps`."""
    model.eval()
    hits: dict[str, list[list[torch.Tensor]]] = {}
    losses, covered = [], []
    by_category: dict[str, list[dict]] = {}
    for r in records:
        by_category.setdefault(r["category"], []).append(r)
    for category, group in sorted(by_category.items()):
        for start in range(0, len(group), batch_size):
            chunk = group[start:start + batch_size]
            loss, chunk_hits = loss_and_hits(model, chunk, to_head, feature_weight, max(2, steps), 1.0)
            losses.append(float(loss))
            hits.setdefault(category, []).append(chunk_hits)
            covered += [to_head[r["next_ids"][r["start"] - 1:-1, 0].long()] >= 0 for r in chunk]
    model.train()

    def rate(pass_index: int, groups) -> float:
        return float(torch.cat([h[pass_index] for h in groups]).float().mean())

    every = [h for groups in hits.values() for h in groups]
    return {"loss": sum(losses) / len(losses), "agreement": rate(0, every), "agreement_own": rate(1, every),
            "agreement_by_step": [rate(i, every) for i in range(len(every[0]))],
            "per_category": {c: rate(0, groups) for c, groups in hits.items()},
            "per_category_own": {c: rate(1, groups) for c, groups in hits.items()},
            "head_coverage": float(torch.cat(covered).float().mean()),
            "positions": int(sum(len(h[0]) for h in every))}
