"""Which local paths the sidebar's model picker may read: on a classroom server only the models
folder (RWKV_MODELS_DIR, default models/), unless RWKV_LOCAL_PATHS=any (your own machine).
README, "Model files on a shared server"."""
from __future__ import annotations

import os
from pathlib import Path

from lab.kinds import MODELS_DIR
from rwkv_core import CheckpointError

LOCAL_PATHS_ENV = "RWKV_LOCAL_PATHS"   # "any": typed paths anywhere (your own machine); else only the models folder
MODELS_DIR_ENV = "RWKV_MODELS_DIR"     # that folder (default: the repository's models/)
OUTSIDE_MODELS = ("this server loads only checkpoints in its models folder: type the name of a file "
                  "or folder there (on your own machine, start the app with RWKV_LOCAL_PATHS=any to "
                  "load from anywhere)")


def paths_restricted() -> bool:
    """Whether typed paths are limited to the models folder: yes unless RWKV_LOCAL_PATHS=any.
    Limited by default because the server cannot tell who reaches it: behind a proxy it listens
    on 127.0.0.1 and still serves a whole class, and it must not read its own files for them."""
    return os.environ.get(LOCAL_PATHS_ENV, "").strip().lower() != "any"


def models_folder() -> Path:
    """The folder typed paths are limited to: RWKV_MODELS_DIR, or the repository's models/."""
    return Path(os.environ.get(MODELS_DIR_ENV) or MODELS_DIR).expanduser().resolve()


def typed_path(text: str) -> Path:
    """The file or folder a typed path names. Limited: relative to the models folder, and only
    inside it after links and `..` are resolved; the refusal is the same whether or not a path
    outside exists, and names no folder of the server."""
    try:
        if not paths_restricted():
            return Path(text).expanduser().resolve()
        folder = models_folder()
        path = (folder / text).resolve()          # an absolute path replaces the folder
    except (OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"that path cannot be used ({type(e).__name__})") from e
    if not path.is_relative_to(folder):
        raise CheckpointError(OUTSIDE_MODELS)
    return path


def models_on_offer(limit: int = 8) -> list[str]:
    """Names in the models folder that look loadable (for the hint under the path box)."""
    try:
        found = sorted(p.name for p in models_folder().iterdir()
                       if p.suffix in (".pth", ".safetensors", ".bin") or (p / "config.json").is_file())
    except OSError:
        return []
    return found[:limit]
