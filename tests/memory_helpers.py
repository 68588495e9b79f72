"""Tiny memory-lab models for the tests: each kind trained a few steps and published as the real ones are."""
from __future__ import annotations

from pathlib import Path

from lab import memory

TINY = dict(n_layer=2, ctx_len=12, batch_size=4, warmup_steps=1, eval_every=3, ckpt_every=100, mqar_vocab=32)


def tiny_models(root: Path, steps: int = 3, **recipe) -> Path:
    """Every memory-lab kind at width 16, N = 2, trained `steps` steps in root and published
    (float16) into root/published, which is returned; `recipe` overrides TINY."""
    for kind in memory.KINDS:
        memory.train_one(kind, 16, 2, steps, root, quiet=True, **{**TINY, **recipe})
        memory.publish(memory.model_name(kind, 16, 2), root, root / "published")
    return root / "published"
