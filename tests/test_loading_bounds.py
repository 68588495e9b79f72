"""The loader reads only what it should (issue 18): every bad input, as a path, ends in a
CheckpointError within a second that names the file by its base name only; devices, pipes,
sockets and /proc files are refused before they are opened for reading; sizes are checked before
reading; and whatever goes wrong inside loading (IndexError, MemoryError, ...) is a CheckpointError
with the original as its cause."""
from __future__ import annotations

import io
import json
import os
import pickle
import socket
import time
import zipfile
from pathlib import Path

import pytest
import torch
from factory import SMALL, random_state_dict, write_hf_dir, write_pth, write_safetensors

import rwkv_core
from rwkv_core import CheckpointError
from rwkv_core.checkpoint import MAX_CHECKPOINT_BYTES, read_tensors, sniff

SECOND = 1.0
FEW_KB = 64 * 1024


def text_file(d: Path, name: str = "notes.pth") -> Path:
    (d / name).write_text("Dear students,\nthis is not a model.\n" * 20)
    return d / name


def symlink(d: Path, name: str, target: str) -> Path:
    (d / name).symlink_to(target)
    return d / name


def fifo(d: Path) -> Path:
    os.mkfifo(d / "pipe.pth")
    return d / "pipe.pth"


def unix_socket(d: Path) -> Path:
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(d / "sock.pth"))          # the file stays after the socket is closed
    s.close()
    return d / "sock.pth"


def pickled(obj, d: Path, name: str = "p.pth", **kw) -> Path:
    torch.save(obj, d / name, **kw)
    return d / name


def raw(data: bytes, d: Path, name: str = "x.pth") -> Path:
    (d / name).write_bytes(data)
    return d / name


def zip_of_text(d: Path) -> Path:
    with zipfile.ZipFile(d / "z.pth", "w") as z:
        z.writestr("readme.txt", "hello")
    return d / "z.pth"


def safetensors_header(d: Path, length: int, body: bytes) -> Path:
    return raw(length.to_bytes(8, "little") + body, d, "h.safetensors")


def truncated_safetensors(d: Path) -> Path:
    data = write_safetensors(random_state_dict(SMALL, seed=1), d / "t.safetensors").read_bytes()
    return raw(data[:-500], d, "t.safetensors")


def hf_folder(d: Path, config) -> Path:
    (d / "hf").mkdir()
    if isinstance(config, str) and config.startswith("/"):
        (d / "hf" / "config.json").symlink_to(config)
    else:
        (d / "hf" / "config.json").write_text(config if isinstance(config, str) else json.dumps(config))
    return d / "hf"


def hf_folder_with_fifo_weights(d: Path) -> Path:
    folder = hf_folder(d, {"model_type": "rwkv"})
    os.mkfifo(folder / "model.safetensors")
    return folder


def sparse(d: Path, name: str, size: int) -> Path:
    with open(d / name, "wb") as f:
        f.truncate(size)                 # no disk used: a hole
    return d / name


def checkpoint_with_bad_tokenizer(d: Path) -> Path:
    path = write_pth(random_state_dict(SMALL), d / "m.pth")
    (d / "tokenizer.json").write_text("{ not a tokenizer")
    return path


def loop(d: Path) -> Path:
    (d / "a.pth").symlink_to(d / "b.pth")
    (d / "b.pth").symlink_to(d / "a.pth")
    return d / "a.pth"


# name -> (make the path in a folder, a part of the message)
CASES = {
    "/dev/zero": (lambda d: Path("/dev/zero"), "not a regular file (it is a device)"),
    "/dev/urandom": (lambda d: Path("/dev/urandom"), "device"),
    "link to /dev/zero": (lambda d: symlink(d, "model.pth", "/dev/zero"), "model.pth: not a regular file"),
    "a named pipe": (fifo, "pipe.pth: not a regular file (it is a pipe)"),
    "a socket": (unix_socket, "sock.pth: not a regular file (it is a socket)"),
    "/proc/self/environ": (lambda d: Path("/proc/self/environ"), "environ: a system file"),
    "/proc/self/status": (lambda d: Path("/proc/self/status"), "a system file"),
    "link to /proc/self/environ": (lambda d: symlink(d, "env.pth", "/proc/self/environ"), "env.pth: a system file"),
    "/proc (a folder)": (lambda d: Path("/proc"), "a system folder"),
    "/dev (a folder)": (lambda d: Path("/dev"), "a system folder"),
    "/etc/passwd": (lambda d: Path("/etc/passwd"), "passwd: not a checkpoint: the file is text"),
    "text renamed .pth": (text_file, "notes.pth: not a checkpoint: the file is text"),
    "text renamed .safetensors": (lambda d: text_file(d, "notes.safetensors"), "the file is text"),
    "empty": (lambda d: raw(b"", d), "x.pth: the file is empty"),
    "3 bytes": (lambda d: raw(b"\x00\x01\x02", d), "only 3 bytes long"),
    "random bytes": (lambda d: raw(os.urandom(4096), d), "x.pth: not a checkpoint"),
    "pickle header, then garbage": (lambda d: raw(b"\x80\x02" + b"garbage" * 50, d), "truncated or corrupt"),
    "a pickled list": (lambda d: raw(pickle.dumps([1, 2, 3], protocol=2), d), "truncated or corrupt"),
    "tensors under numbers": (lambda d: pickled({1: torch.zeros(2)}, d), "named tensors"),
    "old format, no tensors": (lambda d: pickled({"a": 1}, d, _use_new_zipfile_serialization=False), "named tensors"),
    "a zip that is not torch": (zip_of_text, "z.pth: a zip archive, but not a PyTorch checkpoint"),
    "safetensors header too long": (lambda d: safetensors_header(d, 10 ** 12, b"{}" * 10), "not a checkpoint"),
    "safetensors header not JSON": (lambda d: safetensors_header(d, 20, b"{" + b"x" * 19 + b"\0" * 8),
                                    "not a valid .safetensors"),
    "truncated safetensors": (truncated_safetensors, "not a valid .safetensors"),
    "5 GB (sparse)": (lambda d: sparse(d, "big.pth", 5 * 1024 ** 3), "big.pth: the file is 5,120 MB; the limit is"),
    "folder without config.json": (lambda d: d, "a folder must be a Hugging Face model folder"),
    "config.json -> /dev/zero": (lambda d: hf_folder(d, "/dev/zero"), "config.json: not a regular file"),
    "config.json a list": (lambda d: hf_folder(d, "[1, 2]"), "not a model configuration"),
    "config.json not JSON": (lambda d: hf_folder(d, "{model_type: rwkv"), "config.json: not valid JSON"),
    "config.json of 100 MB": (lambda d: (sparse(d, "c.json", 100 * 1024 ** 2),
                                         hf_folder(d, str(d / "c.json")))[1], "the limit is 64 MB"),
    "folder's weights a pipe": (hf_folder_with_fifo_weights, "model.safetensors: not a regular file (it is a pipe)"),
    "a tokenizer that is not one": (checkpoint_with_bad_tokenizer, "tokenizer.json: not a usable tokenizer"),
    "no such file": (lambda d: d / "nope.pth", "nope.pth: no such file or directory"),
    "a NUL byte": (lambda d: Path(str(d) + "/a\0b.pth"), "cannot be used as a path"),
    "a name too long": (lambda d: d / ("x" * 300 + ".pth"), "cannot be used as a path"),
    "a link loop": (loop, "cannot be used as a path"),
}


@pytest.fixture(autouse=True, scope="module")
def warm():
    """Imports and first calls done once, so that the timings below measure the checks only."""
    for path in ("/etc/hostname", "/nonexistent"):
        with pytest.raises(CheckpointError):
            rwkv_core.load_model(path)


@pytest.mark.parametrize("case", list(CASES))
def test_every_bad_input_is_a_quick_checkpoint_error(tmp_path, case):
    make, expected = CASES[case]
    path = make(tmp_path)
    if case.startswith("/") and not path.exists():
        pytest.skip(f"{path} is not on this machine")
    start = time.perf_counter()
    with pytest.raises(CheckpointError) as info:
        rwkv_core.load_model(path)
    seconds = time.perf_counter() - start
    message = str(info.value)
    assert expected in message, message
    assert seconds < SECOND, f"{case}: {seconds:.2f} s"
    assert str(tmp_path) not in message and "/pytest-" not in message, message    # base names only


def bytes_read() -> int:
    """What this process has read through read() so far (/proc/self/io rchar)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


@pytest.mark.parametrize("case", ["/dev/zero", "link to /dev/zero", "/dev/urandom", "/proc/self/environ",
                                  "config.json -> /dev/zero"])
def test_devices_are_not_read(tmp_path, case):
    path = CASES[case][0](tmp_path)
    before = bytes_read()
    with pytest.raises(CheckpointError):
        rwkv_core.load_model(path)
    assert bytes_read() - before < FEW_KB


def test_a_pipe_is_never_opened_for_reading(tmp_path):
    """Refused without opening it: a writer then finds no reader at all (ENXIO)."""
    path = fifo(tmp_path)
    with pytest.raises(CheckpointError, match="pipe"):
        rwkv_core.load_model(path)
    with pytest.raises(OSError) as info:
        os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    assert info.value.errno == 6         # ENXIO: no process has the pipe open for reading


def test_a_zip_that_unpacks_past_the_limit_is_refused_before_unpacking(tmp_path):
    path = tmp_path / "bomb.pth"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data.pkl", b"\0" * (32 * 1024 ** 2))
    assert path.stat().st_size < 100_000
    with pytest.raises(CheckpointError, match="unpacks to 32 MB; the limit is 16 MB"):
        read_tensors(path, max_bytes=16 * 1024 ** 2)


def test_a_folder_of_shards_counts_together(tmp_path, small_sd):
    folder = hf_folder(tmp_path, {"model_type": "rwkv"})
    keys = list(small_sd)
    write_safetensors({k: small_sd[k] for k in keys[:30]}, folder / "model-00001-of-00002.safetensors")
    write_safetensors({k: small_sd[k] for k in keys[30:]}, folder / "model-00002-of-00002.safetensors")
    largest = max(f.stat().st_size for f in folder.glob("model-*"))
    with pytest.raises(CheckpointError, match="the shards are .* together"):
        read_tensors(folder, max_bytes=largest + 100)          # each fits, both do not


def test_the_stated_limit():
    assert MAX_CHECKPOINT_BYTES == 4 * 1024 ** 3


@pytest.mark.parametrize("head, size, kind", [
    (b"PK\x03\x04rest", 100, "zip"), (b"\x80\x02\x8a\x0a", 100, "pickle"), (b"\x80\x05", 100, "pickle"),
    ((20).to_bytes(8, "little") + b'{"a"', 100, "safetensors"),
    ((200).to_bytes(8, "little") + b'{"a"', 100, None),              # a header past the end of the file
    (b"root:x:0:0:root", 100, None), (b"\x80\x09", 100, None), (b"", 0, None)])
def test_sniff(head, size, kind):
    assert sniff(head, size) == kind


@pytest.mark.parametrize("error", [IndexError("pop from empty list"), KeyError("data.pkl"), MemoryError(),
                                   pickle.UnpicklingError("bad"), RecursionError("deep"), EOFError()])
def test_any_failure_inside_torch_load_is_a_checkpoint_error_with_its_cause(small_pth, monkeypatch, error):
    def fail(*args, **kwargs):
        raise error
    monkeypatch.setattr(torch, "load", fail)
    with pytest.raises(CheckpointError, match="small.pth") as info:
        rwkv_core.load_model(small_pth)
    assert info.value.__cause__ is error


@pytest.mark.parametrize("error", [MemoryError(), RuntimeError("DefaultCPUAllocator: not enough memory")])
def test_a_failure_while_building_is_a_checkpoint_error(small_pth, monkeypatch, error):
    def fail(*args, **kwargs):
        raise error
    monkeypatch.setattr(rwkv_core, "to_weights_dict", fail)
    with pytest.raises(CheckpointError, match="small.pth: the model could not be built") as info:
        rwkv_core.load_model(small_pth)
    assert info.value.__cause__ is error


@pytest.mark.parametrize("sd", [{1: torch.zeros(2)}, {"emb.weight": torch.zeros(2, 2, 2), "blocks.0.ffn.key.weight": 3},
                                {"emb.weight": torch.zeros(4, 4), "blocks.0.ffn.key.weight": torch.zeros(8, 4)}])
def test_validation_raises_only_checkpoint_errors(sd):
    with pytest.raises(CheckpointError):
        rwkv_core.from_state_dict(sd)


def test_read_tensors_returns_any_model_kind(tmp_path, small_sd):
    """The file layer knows no RWKV: a rival's tensors come back as they are (HF names mapped)."""
    lstm = {"lstm.weight_ih_l0": torch.zeros(8, 4), "head.weight": torch.zeros(5, 2)}
    sd, fmt, path = read_tensors(pickled(lstm, tmp_path, "lstm.pth"))
    assert set(sd) == set(lstm) and fmt == "BlinkDL .pth" and path == tmp_path / "lstm.pth"
    sd, fmt, _ = read_tensors(write_hf_dir(small_sd, SMALL, tmp_path / "hf"))
    assert "emb.weight" in sd and fmt.startswith("Hugging Face")


def test_a_legacy_pickle_still_loads(tmp_path, small_sd):
    """The sniff lets an older (non-zip) PyTorch file through to weights_only unpickling."""
    path = pickled(small_sd, tmp_path, "old.pth", _use_new_zipfile_serialization=False)
    assert rwkv_core.load_model(path).config == SMALL


def test_the_code_carrying_pickle_still_never_runs(tmp_path):
    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))
    buf = io.BytesIO()
    torch.save({"emb.weight": torch.zeros(2, 2), "x": Payload()}, buf)
    with pytest.raises(CheckpointError, match="refused.*code"):
        rwkv_core.load_model(raw(buf.getvalue(), tmp_path, "evil.pth"))
    assert not (tmp_path / "pwned").exists()
