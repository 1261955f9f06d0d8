"""An `EBSD-v1` episode's bookkeeping: its prompt (which row, what the decoder is fed), its text and statistics."""

from __future__ import annotations

import time

import numpy as np


class EpisodeRecord:
    """`EBSDEnv`'s prompt choice, `render` and `episode_stats`. The env holds `prompts`, `pair`, `decoder`,
    `render_mode`, the episode's clock totals (`_draft_s`, `_verify_s`, `_decide_s`, `_decisions`, `_wall_t0`) and
    `decode_clock`."""

    def render(self):
        if self.render_mode != "ansi":
            return None
        if not (self._running or self._episode_over):
            return "(no episode yet: call reset())"
        if self.pair is None:  # a replay without a tokenizer: token ids
            return f"[{self._row['id']}] {self.decoder.new_tokens}[[{self.decoder.draft_tokens}]]"
        tokenizer = self.pair.tokenizer
        text = tokenizer.decode(self.decoder.new_tokens, skip_special_tokens=False)
        draft = tokenizer.decode(self.decoder.draft_tokens, skip_special_tokens=False)
        return f"[{self._row['id']}] {text}[[{draft}]]"


    def episode_stats(self) -> dict:
        """Totals of the current episode; times are on the env's clock unless prefixed ``wall_``. ``decode_s`` =
        ``draft_s + verify_s + decide_s`` (the policy's decisions included) gives ``tokens_per_s``, the
        decode-only rate; ``wall_end_to_end_tokens_per_s`` adds the prompt's prefill, measured on every clock
        (``wall_prefill_s``; no cost model prices it; 0 on a replay, where nothing runs)."""
        stats = self.decoder.stats.as_dict()
        decode_s = self._draft_s + self._verify_s + self._decide_s
        new_tokens = stats["new_tokens"]
        end_to_end_s = decode_s + stats["prefill_s"]
        return {
            "tokens_per_s": new_tokens / decode_s if decode_s else float("nan"),
            "wall_end_to_end_tokens_per_s": new_tokens / end_to_end_s if end_to_end_s else float("nan"),
            "wall_tokens_per_s": new_tokens / (time.perf_counter() - self._wall_t0),
            "baseline_tokens_per_s": self.decode_clock.baseline_rate,
            "acceptance_rate": stats["acceptance_rate"],
            "mean_accepted_tokens": stats["mean_accepted_tokens"],
            "mean_draft_len": stats["mean_draft_len"],
            "new_tokens": new_tokens,
            "blocks": stats["blocks"],
            "drafted": stats["drafted"],
            "accepted": stats["accepted"],
            "discarded": stats["discarded"],
            "draft_s": self._draft_s,
            "verify_s": self._verify_s,
            "decide_s": self._decide_s,
            "decisions": self._decisions,
            "decode_s": decode_s,
            "wall_draft_s": stats["draft_s"],
            "wall_verify_s": stats["verify_s"],
            "wall_prefill_s": stats["prefill_s"],
            "draft_lengths": stats["draft_lengths"],
            "accepted_lengths": stats["accepted_lengths"],
            "output_ids": list(self.decoder.new_tokens),
            "prompt_id": self._row["id"],
            "category": self._row["category"],
            "clock": self.clock_kind,
            "stop_mode": self.stop_mode,
        }


    def _prompt_index(self, options: dict | None) -> int:
        options = options or {}
        unknown = set(options) - {"prompt_index"}
        if unknown:
            raise ValueError(f"unknown reset option(s) {sorted(unknown)}; valid: 'prompt_index'")
        if "prompt_index" not in options:
            return int(self.np_random.integers(len(self.prompts)))
        index = options["prompt_index"]
        if not isinstance(index, (int, np.integer)) or not 0 <= index < len(self.prompts):
            raise ValueError(f"prompt_index must be an int in [0, {len(self.prompts)}), got {index!r}")
        return int(index)

    @property
    def prompt_row(self) -> dict | None:
        """The prompt row of the current (or last) episode: ``id``, ``category``, ... (None before a reset)."""
        return getattr(self, "_row", None)

    def _decoder_prompt(self, row: dict):
        if "prompt_ids" in row:  # the exact tokens a trace was recorded from (`TraceSet.rows(with_ids=True)`)
            return list(row["prompt_ids"])
        content = row.get("prompt") or row["turns"][0]
        if isinstance(content, dict):
            content = content["content"]
        if self.pair is not None and getattr(self.pair.tokenizer, "chat_template", None):
            return [{"role": "user", "content": content}]
        return content
