"""Tiny memory-lab models for the tests: each kind trained a few steps at two N and published as the real ones are."""
from __future__ import annotations

from pathlib import Path

from lab import memory

TINY = dict(n_layer=2, batch_size=4, warmup_steps=1, eval_every=3, ckpt_every=100, mqar_vocab=32)
PAIRS = (2, 4)          # the tiny queue's N (the real one: lab.memory.PAIRS_TRAINED), each at length 3N


def tiny_models(root: Path, steps: int = 3, pairs: tuple[int, ...] = PAIRS, **recipe) -> Path:
    """Every memory-lab kind at width 16 and each N of `pairs`, on the lab's recipe per N (length 3N,
    gap 0, init "torch"), trained `steps` steps in root and published (float16) into root/published,
    which is returned; `recipe` overrides TINY."""
    for n in pairs:
        for kind in memory.KINDS:
            memory.train_one(kind, 16, n, steps, root, quiet=True, **{**TINY, **recipe})
            memory.publish(memory.model_name(kind, 16, n), root, root / "published")
    return root / "published"
