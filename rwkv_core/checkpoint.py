"""Reading checkpoints: BlinkDL .pth, .safetensors, Hugging Face directories, into one naming
(BlinkDL's), validated with clear errors before anything is built.

Pickled files are read only through torch.load(..., weights_only=True): a file that carries code
is refused and its code never runs.
"""
from __future__ import annotations

import json
import pickle
import re
import zipfile
from pathlib import Path

import torch

from .config import Config

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
DEFAULT_MODEL = MODELS_DIR / "rwkv4-shakespeare.safetensors"


class CheckpointError(ValueError):
    """A checkpoint could not be used; the message says why."""


# --- reading files --------------------------------------------------------------------------

def _read_pickle(path: Path) -> dict:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except pickle.UnpicklingError as e:
        if "Weights only load failed" in str(e) or "Unsupported global" in str(e):
            raise CheckpointError(f"{path.name}: refused: the file contains Python objects or code, not only "
                                  "tensors, and is never unpickled here (weights_only=True). "
                                  "Convert it to .safetensors from a source you trust.") from None
        raise CheckpointError(f"{path.name}: not a PyTorch checkpoint ({e})") from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"{path.name}: the file is truncated or corrupt and cannot be read ({msg})") from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path.name}: not a checkpoint: expected a dictionary of tensors, "
                              f"found {type(obj).__name__}")
    return obj


def _read_safetensors(path: Path) -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path.name}: not a valid .safetensors file, truncated or corrupt ({e})") from None


def _read_file(path: Path) -> dict:
    with open(path, "rb") as f:
        head = f.read(16)
    if len(head) < 8:
        raise CheckpointError(f"{path.name}: the file is empty or truncated ({path.stat().st_size} bytes)")
    if path.suffix == ".safetensors" or (head[8:9] == b"{" and not zipfile.is_zipfile(path)):
        return _read_safetensors(path)
    return _read_pickle(path)


# --- names ----------------------------------------------------------------------------------

_HF_RENAMES = [  # Hugging Face transformers names → BlinkDL names
    (r"^rwkv\.", ""), (r"^embeddings\.weight$", "emb.weight"), (r"\.pre_ln\.", ".ln0."),
    (r"\.attention\.", ".att."), (r"\.feed_forward\.", ".ffn."), (r"time_mix_key$", "time_mix_k"),
    (r"time_mix_value$", "time_mix_v"), (r"time_mix_receptance$", "time_mix_r"),
]


def from_hf_names(sd: dict) -> dict:
    out = {}
    for k, v in sd.items():
        for pattern, repl in _HF_RENAMES:
            k = re.sub(pattern, repl, k)
        out[k] = v
    return out


def detect_version(keys) -> int:
    """RWKV generation from the tensor names: 4, 5, 6 or 7."""
    joined = "\n".join(keys)
    if re.search(r"\.(w0|a0|k_k|x_r|v0)\b", joined):
        return 7
    if re.search(r"time_maa_x|time_decay_w1|time_maa_w1", joined):
        return 6
    if re.search(r"time_faaaa|ln_x\.weight", joined):
        return 5
    return 4


# --- validation -----------------------------------------------------------------------------

def validate(sd: dict, name: str) -> Config:
    """Check that every RWKV-v4 tensor is there with the right shape; return the config."""
    version = detect_version(sd)
    if version != 4:
        raise CheckpointError(f"{name}: this is an RWKV-{version} checkpoint; this project runs RWKV-4 (v4) only")
    for key in ("emb.weight", "blocks.0.ffn.key.weight"):
        if key not in sd:
            raise CheckpointError(f"{name}: missing tensor {key!r}: not an RWKV-4 checkpoint "
                                  f"(found {len(sd)} tensors, e.g. {', '.join(list(sd)[:3]) or 'none'})")
    if sd["emb.weight"].ndim != 2 or sd["blocks.0.ffn.key.weight"].ndim != 2:
        raise CheckpointError(f"{name}: emb.weight and blocks.0.ffn.key.weight must be matrices")
    config = Config.from_state_dict(sd)
    for key, shape in config.expected_shapes().items():
        if key not in sd:
            raise CheckpointError(f"{name}: missing tensor {key!r} (expected shape {shape})")
        found = tuple(sd[key].shape)
        flat_ok = len(shape) == 1 and found in ((shape[0],), (1, shape[0]), (1, 1, shape[0]))
        if found != shape and not flat_ok:
            raise CheckpointError(f"{name}: tensor {key!r} has shape {found}, expected {shape}")
        if not sd[key].dtype.is_floating_point:
            raise CheckpointError(f"{name}: tensor {key!r} has dtype {sd[key].dtype}, expected floating point")
    return config


# --- the entry point ------------------------------------------------------------------------

def read_checkpoint(path: str | Path | None) -> tuple[dict, Config, str, Path]:
    """Read and validate. Returns (BlinkDL-named tensors, config, format name, resolved path)."""
    if path is None:
        if not DEFAULT_MODEL.exists():
            raise CheckpointError(f"the embedded default model {DEFAULT_MODEL.name} is not in {MODELS_DIR}: "
                                  "train it with `python -m rwkv_core.train`, or give a checkpoint path")
        path = DEFAULT_MODEL
    path = Path(path).expanduser()
    if not path.exists():
        raise CheckpointError(f"no such file or directory: {path}")
    if path.is_dir():
        sd, fmt = _read_hf_dir(path)
    else:
        sd = _read_file(path)
        fmt = "safetensors" if path.suffix == ".safetensors" else "BlinkDL .pth"
        if any(k.startswith(("rwkv.", "embeddings.")) for k in sd):
            sd, fmt = from_hf_names(sd), f"Hugging Face names ({path.suffix})"
    config = validate(sd, path.name)
    return sd, config, fmt, path


def _read_hf_dir(path: Path) -> tuple[dict, str]:
    cfg_file = path / "config.json"
    if not cfg_file.exists():
        raise CheckpointError(f"{path}: a directory must be a Hugging Face model folder with config.json")
    try:
        hf = json.loads(cfg_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{cfg_file}: not valid JSON ({e})") from None
    model_type = str(hf.get("model_type", ""))
    if model_type != "rwkv":
        m = re.match(r"rwkv(\d)", model_type)
        if m:
            raise CheckpointError(f"{path.name}: this is an RWKV-{m.group(1)} model (model_type "
                                  f"{model_type!r}); this project runs RWKV-4 (v4) only")
        raise CheckpointError(f"{path.name}: model_type is {model_type!r}, not an RWKV-4 ('rwkv') model")
    for fname in ("model.safetensors", "pytorch_model.bin"):
        if (path / fname).exists():
            return from_hf_names(_read_file(path / fname)), f"Hugging Face ({fname})"
    shards = sorted(path.glob("model-*.safetensors")) or sorted(path.glob("pytorch_model-*.bin"))
    if shards:
        sd = {}
        for s in shards:
            sd.update(_read_file(s))
        return from_hf_names(sd), f"Hugging Face ({len(shards)} shards)"
    raise CheckpointError(f"{path.name}: no model.safetensors or pytorch_model.bin in the folder")


def to_weights_dict(sd: dict, config: Config, *, device, dtype) -> dict:
    """Cast to the model's dtype and device; time_* vectors flattened to (C,).

    Linear weights keep their checkpoint shape (out, in) but are laid out in memory column by
    column, as the contiguous transpose (in, out): F.linear then multiplies x @ W.T without a
    transposed read, which made one token's pass through the 169M shape about 1.3x faster on a
    CPU (a matrix-vector product reads the matrix once, in order)."""
    out = {}
    for key in config.expected_shapes():
        t = sd[key].to(device=device, dtype=dtype)
        if ".time_" in key:
            t = t.reshape(-1).contiguous()
        elif t.ndim == 2 and key != "emb.weight":           # emb is read by rows (one per token)
            t = t.t().contiguous().t()
        else:
            t = t.contiguous()
        out[key] = t
    return out
