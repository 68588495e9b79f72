"""Reading checkpoints: BlinkDL .pth, .safetensors, Hugging Face directories, into one naming
(BlinkDL's), validated with clear errors before anything is built.

Two layers. `read_tensors(path)` is the file reader, for every model kind: it reads only what it
should (regular files, under a stated size, of a format it recognises from the first bytes) and
returns the raw tensors. `validate(sd, name)` then checks them as an RWKV-4 checkpoint;
`read_checkpoint` is the two together.

Every failure is a CheckpointError whose message names the file by its base name only (never the
server's folders), with the original exception as its cause. Pickled files are read only through
torch.load(..., weights_only=True): a file that carries code is refused and its code never runs.
"""
from __future__ import annotations

import contextlib
import json
import os
import pickle
import re
import stat
import zipfile
from pathlib import Path

import torch

from rwkv_core.config import Config

# the embedded model, read when no path is given (the other shipped models: lab.kinds, MODELS_DIR)
DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "models" / "rwkv4-shakespeare.safetensors"

MAX_CHECKPOINT_BYTES = 4 * 1024 ** 3   # a file, or a folder's shards together: RWKV-4-Pile-1B5 in float16 fits
MAX_JSON_BYTES = 64 * 1024 ** 2        # config.json, tokenizer JSON (the Pile's 20B tokenizer is 2.4 MB)
HEAD_BYTES = 64                        # what the format sniff reads
SYSTEM_FOLDERS = ("/proc", "/sys", "/dev")   # pseudo files: sizes that lie, reads that never end


class CheckpointError(ValueError):
    """A checkpoint could not be used; the message says why."""


# --- messages -------------------------------------------------------------------------------------

def file_name(path: str | Path) -> str:
    """How messages name a file: its base name only, never the folders above it (control
    characters shown as "?", at most 120 characters)."""
    name = "".join(c if c.isprintable() else "?" for c in Path(path).name)
    return (name[:117] + "..." if len(name) > 120 else name) or "that path"


_ABSOLUTE_PATH = re.compile(r"(?<![\w.])/(?:[^\s/'\"():,]+/)+")   # "/a/b/" of "/a/b/c.pth"


def brief(e: BaseException, name: str = "") -> str:
    """An exception in one line for a message: its type and first line, without directories, and
    without a leading "name: " that the caller's message already says."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    text = _ABSOLUTE_PATH.sub("", text)[:200]
    if name and text.startswith(f"{name}: "):
        text = text[len(name) + 2:]
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


@contextlib.contextmanager
def loading(name: str, what: str = "could not be read"):
    """Inside: any exception that is not a CheckpointError becomes one ("name: what (cause)"),
    with the original as its __cause__ (MemoryError, IndexError, KeyError, UnpicklingError, ...)."""
    try:
        yield
    except CheckpointError:
        raise
    except Exception as e:
        raise CheckpointError(f"{name}: {what} ({brief(e, name)})") from e


def _megabytes(n: int) -> str:
    return f"{n / 1024 ** 2:,.0f} MB" if n >= 1024 ** 2 else f"{n:,} bytes"


# --- what is read: regular files, of a stated size, of a known format --------------------------------

_KINDS = [(stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"), (stat.S_ISFIFO, "a pipe"),
          (stat.S_ISSOCK, "a socket")]


def _in_system_folder(path: Path) -> bool:
    real = os.path.realpath(path)
    return any(real == f or real.startswith(f + "/") for f in SYSTEM_FOLDERS)


def _is_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except (OSError, ValueError):   # missing, a name too long, a link loop: check_file says which
        return False


def check_file(path: Path, max_bytes: int = MAX_CHECKPOINT_BYTES) -> os.stat_result:
    """Refuse, before opening it, anything but a regular file of at most max_bytes: devices
    (/dev/zero never ends), pipes and sockets (a read waits forever), /proc and /sys files (their
    size says 0 and their text is not a checkpoint). Returns the file's stat."""
    name = file_name(path)
    try:
        st = os.stat(path)                    # follows links: a link to /dev/zero is /dev/zero
    except (FileNotFoundError, NotADirectoryError) as e:
        raise CheckpointError(f"{name}: no such file or directory") from e
    except PermissionError as e:
        raise CheckpointError(f"{name}: permission denied") from e
    except (OSError, ValueError) as e:        # a name too long, a link loop, a NUL byte
        raise CheckpointError(f"{name}: cannot be used as a path ({brief(e, name)})") from e
    if stat.S_ISDIR(st.st_mode):
        raise CheckpointError(f"{name}: a folder, not a file")
    kind = next((what for test, what in _KINDS if test(st.st_mode)), None)
    if kind or not stat.S_ISREG(st.st_mode):
        raise CheckpointError(f"{name}: not a regular file (it is {kind or 'a special file'}); "
                              "only checkpoint files and model folders are read")
    if _in_system_folder(path):
        raise CheckpointError(f"{name}: a system file (in /proc, /sys or /dev), not a checkpoint")
    if st.st_size == 0:
        raise CheckpointError(f"{name}: the file is empty")
    if st.st_size > max_bytes:
        raise CheckpointError(f"{name}: the file is {_megabytes(st.st_size)}; the limit is "
                              f"{_megabytes(max_bytes)}")
    return st


def read_head(path: Path, st: os.stat_result, n: int = HEAD_BYTES) -> bytes:
    """The first n bytes. Opened without blocking and checked again to be the same regular file
    that check_file saw (a file swapped for a pipe in between is refused, not waited on)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    try:
        now = os.fstat(fd)
        if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            raise CheckpointError(f"{file_name(path)}: the file changed while it was being opened")
        return os.read(fd, n)
    finally:
        os.close(fd)


def sniff(head: bytes, size: int) -> str | None:
    """The format from the first bytes: "zip" (a PyTorch .pth since 1.6), "pickle" (an older
    .pth), "safetensors" (an 8-byte header length, then the JSON header), or None."""
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:     # pickle's PROTO opcode
        return "pickle"
    if len(head) >= 9 and head[8:9] == b"{" and 2 <= int.from_bytes(head[:8], "little") <= size - 8:
        return "safetensors"
    return None


def _what_it_is(head: bytes) -> str:
    if len(head) < 9:
        return f"only {len(head)} bytes long"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "binary data of another kind"
    return "text" if all(c.isprintable() or c in "\n\r\t" for c in text) else "binary data of another kind"


# --- the formats ---------------------------------------------------------------------------------

def _check_zip(path: Path, max_bytes: int) -> None:
    """A zip's central directory states what its members unpack to: refuse more than max_bytes
    before torch unpacks anything (a small compressed file must not become gigabytes)."""
    name = file_name(path)
    try:
        with zipfile.ZipFile(path) as z:
            members = z.infolist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise CheckpointError(f"{name}: the file is truncated or corrupt and cannot be read "
                              f"(not a complete zip archive: {brief(e)})") from e
    if not any(m.filename.endswith("/data.pkl") for m in members):
        raise CheckpointError(f"{name}: a zip archive, but not a PyTorch checkpoint (no data.pkl in it)")
    total = sum(m.file_size for m in members)
    if total > max_bytes:
        raise CheckpointError(f"{name}: the archive unpacks to {_megabytes(total)}; the limit is "
                              f"{_megabytes(max_bytes)}")


def _read_pickle(path: Path, mmap: bool) -> dict:
    name = file_name(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as e:
        if "GLOBAL" in str(e) or "Unsupported global" in str(e):
            raise CheckpointError(f"{name}: refused: the file contains Python objects or code, not only "
                                  "tensors, and is never unpickled here (weights_only=True). "
                                  "Convert it to .safetensors from a source you trust.") from e
        raise CheckpointError(f"{name}: the file is truncated or corrupt: not a PyTorch checkpoint "
                              "that holds only tensors") from e
    except Exception as e:                    # RuntimeError, EOFError, IndexError, MemoryError, ...
        raise CheckpointError(f"{name}: the file is truncated or corrupt and cannot be read "
                              f"({brief(e, name)})") from e
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                            for k, v in obj.items()):
        raise CheckpointError(f"{name}: not a checkpoint: expected a dictionary of named tensors, "
                              f"found {type(obj).__name__}")
    return obj


def _read_safetensors(path: Path) -> dict:
    from safetensors.torch import load_file
    try:
        return load_file(str(path))
    except Exception as e:                    # SafetensorError, OSError, MemoryError, ...
        raise CheckpointError(f"{file_name(path)}: not a valid .safetensors file, truncated or corrupt "
                              f"({brief(e)})") from e


def _read_file(path: Path, max_bytes: int) -> tuple[dict, str]:
    """One file: checked, sniffed, read. Returns (tensors, format)."""
    st = check_file(path, max_bytes)
    head = read_head(path, st)
    kind = sniff(head, st.st_size)
    if kind is None:
        raise CheckpointError(f"{file_name(path)}: not a checkpoint: the file is {_what_it_is(head)}, "
                              "not a PyTorch .pth (zip or pickle) or a .safetensors file")
    if kind == "safetensors":
        return _read_safetensors(path), "safetensors"
    if kind == "zip":
        _check_zip(path, max_bytes)
    return _read_pickle(path, mmap=kind == "zip"), "BlinkDL .pth"


def _read_json(path: Path) -> object:
    check_file(path, MAX_JSON_BYTES)
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{file_name(path)}: not valid JSON ({brief(e)})") from e


def _read_hf_dir(path: Path, max_bytes: int) -> tuple[dict, str]:
    name = file_name(path)
    cfg_file = path / "config.json"
    if not cfg_file.exists():
        raise CheckpointError(f"{name}: a folder must be a Hugging Face model folder with config.json")
    hf = _read_json(cfg_file)
    if not isinstance(hf, dict):
        raise CheckpointError(f"{name}: config.json is not a model configuration (a JSON object)")
    model_type = str(hf.get("model_type", ""))
    if model_type != "rwkv":
        m = re.match(r"rwkv(\d)", model_type)
        if m:
            raise CheckpointError(f"{name}: this is an RWKV-{m.group(1)} model (model_type "
                                  f"{model_type!r}); this project runs RWKV-4 (v4) only")
        raise CheckpointError(f"{name}: model_type is {model_type[:40]!r}, not an RWKV-4 ('rwkv') model")
    for fname in ("model.safetensors", "pytorch_model.bin"):
        if (path / fname).exists():
            return from_hf_names(_read_file(path / fname, max_bytes)[0]), f"Hugging Face ({fname})"
    shards = sorted(path.glob("model-*.safetensors")) or sorted(path.glob("pytorch_model-*.bin"))
    if not shards:
        raise CheckpointError(f"{name}: no model.safetensors or pytorch_model.bin in the folder")
    total = sum(check_file(s, max_bytes).st_size for s in shards)
    if total > max_bytes:
        raise CheckpointError(f"{name}: the shards are {_megabytes(total)} together; the limit is "
                              f"{_megabytes(max_bytes)}")
    sd = {}
    for s in shards:
        sd.update(_read_file(s, max_bytes)[0])
    return from_hf_names(sd), f"Hugging Face ({len(shards)} shards)"


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


# --- the file reader (any model kind) --------------------------------------------------------------

def read_tensors(path: str | Path | None, *, max_bytes: int = MAX_CHECKPOINT_BYTES) -> tuple[dict, str, Path]:
    """Read a checkpoint file or Hugging Face folder, safely, whatever model it holds.
    Returns (tensors with Hugging Face names mapped to BlinkDL's, format name, resolved path).
    Raises CheckpointError only; nothing is read from a device, pipe, socket or system file, nor
    from a file (or a folder's shards together) over max_bytes."""
    if path is None:
        if not DEFAULT_MODEL.exists():
            raise CheckpointError(f"the embedded default model {DEFAULT_MODEL.name} is not in the models folder: "
                                  "train it with `python -m lab.train`, or give a checkpoint path")
        path = DEFAULT_MODEL
    name = file_name(path)
    with loading(name):
        path = Path(path).expanduser()
        if _is_dir(path):
            if _in_system_folder(path):
                raise CheckpointError(f"{name}: a system folder (in /proc, /sys or /dev), not a model folder")
            sd, fmt = _read_hf_dir(path, max_bytes)
        else:
            sd, fmt = _read_file(path, max_bytes)
            if any(k.startswith(("rwkv.", "embeddings.")) for k in sd):
                sd, fmt = from_hf_names(sd), f"Hugging Face names ({path.suffix})"
    return sd, fmt, path


# --- validation (RWKV-4) -----------------------------------------------------------------------

def validate(sd: dict, name: str) -> Config:
    """Check that every RWKV-v4 tensor is there with the right shape; return the config."""
    with loading(name, "not a usable RWKV-4 checkpoint"):
        return _validate(sd, name)


def _validate(sd: dict, name: str) -> Config:
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


def expect_exactly(sd: dict, expected: dict, name: str, what: str, ignore=frozenset()) -> None:
    """Every expected tensor there with exactly its shape and a floating-point dtype, and nothing
    else (but `ignore`): a CheckpointError naming the first tensor that is not. `what` names the
    model in the message ("6-layer lstm")."""
    for key, shape in expected.items():
        if key not in sd:
            raise CheckpointError(f"{name}: missing tensor {key!r} (expected shape {shape})")
        if tuple(sd[key].shape) != shape:
            raise CheckpointError(f"{name}: tensor {key!r} has shape {tuple(sd[key].shape)}, expected {shape}")
        if not sd[key].dtype.is_floating_point:
            raise CheckpointError(f"{name}: tensor {key!r} has dtype {sd[key].dtype}, expected floating point")
    extra = sorted(set(sd) - set(expected) - set(ignore))
    if extra:
        raise CheckpointError(f"{name}: unexpected tensor {extra[0]!r} for a {what} ({len(extra)} unexpected in all)")


# --- the entry point ------------------------------------------------------------------------

def read_checkpoint(path: str | Path | None) -> tuple[dict, Config, str, Path]:
    """Read and validate. Returns (BlinkDL-named tensors, config, format name, resolved path)."""
    sd, fmt, path = read_tensors(path)
    config = validate(sd, path.name)
    return sd, config, fmt, path


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
