"""Training pieces of the token-level drafter (`ebsd_env.decoding.drafters.DistilledDrafter`) for `ebsd distill`.

Loss: cross-entropy of the draft head to the teacher's top-k probabilities at every generated position (KL up
to a constant), on right-padded batches of the generated records (`train.drafter.data`); the head covers part of
the vocabulary, so teacher tokens outside it add nothing. The held-out evaluation is greedy agreement, as the
feature drafter's (`train.drafter.feature`).
"""

from __future__ import annotations

import torch

from ebsd_env.decoding.drafters import DistilledDrafter


def _batch(records: list[dict], to_head: torch.Tensor):
    """Right-padded ids, mask, and the flat target rows: (batch index, position, head ids, probabilities)."""
    width = max(len(r["ids"]) for r in records)
    ids = torch.zeros(len(records), width, dtype=torch.long)
    mask = torch.zeros(len(records), width, dtype=torch.long)
    rows, positions, target_ids, target_probs = [], [], [], []
    for b, r in enumerate(records):
        n_ids = len(r["ids"])
        ids[b, :n_ids] = r["ids"].long()
        mask[b, :n_ids] = 1
        n = len(r["topk_ids"])
        rows.append(torch.full((n,), b))
        positions.append(torch.arange(r["start"] - 1, r["start"] - 1 + n))
        target_ids.append(r["topk_ids"].long())
        target_probs.append(r["topk_probs"].float())
    target_ids = torch.cat(target_ids)
    return ids, mask, torch.cat(rows), torch.cat(positions), to_head[target_ids], torch.cat(target_probs), target_ids


def loss_and_hits(model: DistilledDrafter, records: list[dict], to_head: torch.Tensor):
    ids, mask, rows, positions, head_ids, probs, teacher_ids = _batch(records, to_head)
    logits = model.head(model.hidden(ids, mask)[0][rows, positions])  # [N, H]: the head only where needed
    log_q = torch.log_softmax(logits.float(), dim=-1)
    inside = head_ids >= 0
    picked = log_q.gather(1, head_ids.clamp_min(0))
    loss = -(probs * picked * inside).sum(-1).mean()
    hits = model.head_index[logits.argmax(-1)] == teacher_ids[:, 0]
    return loss, hits


@torch.no_grad()
def evaluate(model: DistilledDrafter, records: list[dict], to_head: torch.Tensor, batch_size: int) -> dict:
    """Held-out greedy agreement (drafter argmax == verifier argmax along the verifier's greedy continuation),
    overall and per category, plus the loss and the head's coverage of the verifier's choices."""
    model.eval()
    hits: dict[str, list[torch.Tensor]] = {}
    losses, covered = [], []
    for start in range(0, len(records), batch_size):
        chunk = records[start:start + batch_size]
        loss, chunk_hits = loss_and_hits(model, chunk, to_head)
        losses.append(float(loss))
        offset = 0
        for r in chunk:
            n = len(r["topk_ids"])
            hits.setdefault(r["category"], []).append(chunk_hits[offset:offset + n])
            covered.append(to_head[r["topk_ids"][:, 0].long()] >= 0)
            offset += n
    model.train()
    per_category = {c: float(torch.cat(h).float().mean()) for c, h in sorted(hits.items())}
    every = torch.cat([h for group in hits.values() for h in group]).float()
    return {"loss": sum(losses) / len(losses), "agreement": float(every.mean()), "per_category": per_category,
            "head_coverage": float(torch.cat(covered).float().mean()), "positions": int(every.numel())}
