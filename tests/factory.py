"""Random RWKV-4 checkpoints in every format the engine reads, made by the tests themselves: the
weights from lab/factory.py (the one checkpoint factory, shared with the benchmark), written
here as .pth, .safetensors and Hugging Face folders."""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from lab.factory import SMALL, random_state_dict  # noqa: F401  (the tests import them from here)
from rwkv_core.config import Config

# The engine's tests run on the CPU; scripts/gpu_check.sh runs them again on CUDA (and in bf16)
TEST_DEVICE = os.environ.get("RWKV_TEST_DEVICE", "cpu")
TEST_DTYPE = getattr(torch, os.environ.get("RWKV_TEST_DTYPE", "float32"))


HF_NAMES = [("emb.weight", "rwkv.embeddings.weight"), (".ln0.", ".pre_ln."), (".att.", ".attention."),
            (".ffn.", ".feed_forward."), ("time_mix_k", "time_mix_key"), ("time_mix_v", "time_mix_value"),
            ("time_mix_r", "time_mix_receptance")]


def to_hf_names(sd: dict) -> dict:
    out = {}
    for k, v in sd.items():
        for a, b in HF_NAMES:
            k = k.replace(a, b)
        if not k.startswith(("rwkv.", "head.")):
            k = "rwkv." + k
        out[k] = v
    return out


def hf_config(cfg: Config) -> dict:
    return {"model_type": "rwkv", "architectures": ["RwkvForCausalLM"], "vocab_size": cfg.vocab_size,
            "context_length": 1024, "hidden_size": cfg.n_embd, "num_hidden_layers": cfg.n_layer,
            "attention_hidden_size": cfg.n_embd, "intermediate_size": cfg.n_ffn, "layer_norm_epsilon": 1e-5,
            "rescale_every": 0, "tie_word_embeddings": False, "bos_token_id": 0, "eos_token_id": 0}


def write_pth(sd: dict, path: Path) -> Path:
    torch.save(sd, path)
    return path


def write_safetensors(sd: dict, path: Path) -> Path:
    from safetensors.torch import save_file
    save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    return path


def write_hf_dir(sd: dict, cfg: Config, path: Path, *, safetensors: bool = True) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(hf_config(cfg)))
    hf = to_hf_names(sd)
    if safetensors:
        write_safetensors(hf, path / "model.safetensors")
    else:
        torch.save(hf, path / "pytorch_model.bin")
    return path
