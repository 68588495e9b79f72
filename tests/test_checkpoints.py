"""Every format loads to the same model; every bad input gets a clear CheckpointError/ValueError."""
import json
import os

import pytest
import torch
from factory import SMALL, random_state_dict, write_hf_dir, write_pth, write_safetensors

import rwkv_core
from rwkv_core import CheckpointError


def test_formats_agree(tmp_path, small_sd, small_model):
    tokens = [1, 2, 3, 50, 96]
    ref, _ = small_model.forward(tokens)
    for path in (write_safetensors(small_sd, tmp_path / "m.safetensors"),
                 write_hf_dir(small_sd, SMALL, tmp_path / "hf_st"),
                 write_hf_dir(small_sd, SMALL, tmp_path / "hf_bin", safetensors=False)):
        m = rwkv_core.load_model(path)
        assert m.config == SMALL
        ours = m.weights.state_dict()
        assert all(torch.equal(t, ours[k]) for k, t in small_model.weights.state_dict().items()), path
        assert (m.forward(tokens)[0] - ref).abs().max() < 1e-6, path


def test_config_is_inferred_not_assumed(tmp_path):
    from rwkv_core.config import Config
    cfg = Config(n_layer=2, n_embd=24, n_ffn=40, vocab_size=301)
    m = rwkv_core.load_model(write_pth(random_state_dict(cfg), tmp_path / "odd.pth"))
    assert m.config == cfg
    assert m.forward([300])[0].shape == (1, 301)


def test_bf16_checkpoint_runs_in_float32(tmp_path, small_sd):
    sd = {k: v.to(torch.bfloat16) for k, v in small_sd.items()}
    m = rwkv_core.load_model(write_pth(sd, tmp_path / "bf16.pth"))
    assert m.dtype == torch.float32 and m.weights.emb.dtype == torch.float32


@pytest.mark.parametrize("version,keys", [
    (5, ["blocks.0.att.time_faaaa", "blocks.0.att.ln_x.weight"]),
    (6, ["blocks.0.att.time_maa_x", "blocks.0.att.time_decay_w1"]),
    (7, ["blocks.0.att.w0", "blocks.0.att.a0", "blocks.0.att.k_k"]),
])
def test_newer_rwkv_versions_are_named(tmp_path, small_sd, version, keys):
    sd = dict(small_sd) | {k: torch.zeros(4) for k in keys}
    with pytest.raises(CheckpointError, match=f"RWKV-{version}.*v4"):
        rwkv_core.load_model(write_pth(sd, tmp_path / "new.pth"))


def test_hf_folder_of_another_version(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "rwkv6"}))
    with pytest.raises(CheckpointError, match="RWKV-6"):
        rwkv_core.load_model(tmp_path)


def test_missing_tensor_is_named(tmp_path, small_sd):
    sd = {k: v for k, v in small_sd.items() if k != "blocks.1.att.value.weight"}
    with pytest.raises(CheckpointError, match=r"blocks\.1\.att\.value\.weight.*\(32, 32\)"):
        rwkv_core.load_model(write_pth(sd, tmp_path / "missing.pth"))


def test_wrong_shape_is_named(tmp_path, small_sd):
    sd = dict(small_sd) | {"blocks.2.ffn.value.weight": torch.zeros(32, 81)}
    with pytest.raises(CheckpointError, match=r"blocks\.2\.ffn\.value\.weight.*\(32, 81\).*\(32, 80\)"):
        rwkv_core.load_model(write_pth(sd, tmp_path / "shape.pth"))


def test_truncated_pth(tmp_path, small_pth):
    data = small_pth.read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        rwkv_core.load_model(tmp_path / "cut.pth")


def test_truncated_safetensors(tmp_path, small_sd):
    path = write_safetensors(small_sd, tmp_path / "m.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 1000])
    with pytest.raises(CheckpointError, match="safetensors"):
        rwkv_core.load_model(path)


@pytest.mark.parametrize("content", [b"hello, I am a text file\n" * 10, b"", b"\x00\x01\x02"])
def test_not_a_checkpoint(tmp_path, content):
    (tmp_path / "x.pth").write_bytes(content)
    with pytest.raises(CheckpointError):
        rwkv_core.load_model(tmp_path / "x.pth")


def test_a_dict_that_is_not_rwkv(tmp_path):
    torch.save({"fc.weight": torch.zeros(3, 3)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="emb.weight"):
        rwkv_core.load_model(tmp_path / "other.pth")


def test_missing_path():
    with pytest.raises(CheckpointError, match="no such file"):
        rwkv_core.load_model("/nonexistent/model.pth")


class Payload:
    """A pickle that runs code when loaded (os.system creating a file)."""
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_with_code_is_refused_and_never_runs(tmp_path, small_sd):
    marker = tmp_path / "pwned"
    sd = dict(small_sd) | {"evil": Payload(marker)}
    torch.save(sd, tmp_path / "evil.pth")
    with pytest.raises(CheckpointError, match="refused"):
        rwkv_core.load_model(tmp_path / "evil.pth")
    assert not marker.exists()


@pytest.mark.parametrize("tokens,match", [([0, 97], "97.*vocabulary size 97"), ([-1], "-1.*97"),
                                          ([], "empty"), ([1.5], "whole numbers")])
def test_bad_token_ids(small_model, tokens, match):
    with pytest.raises(ValueError, match=match):
        small_model.forward(tokens)


def test_default_model_loads_with_its_tokenizer():
    m = rwkv_core.load_model()
    assert m.tokenizer is not None
    text = "To be, or not to be"
    assert m.tokenizer.decode(m.tokenizer.encode(text)) == text
