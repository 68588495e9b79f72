"""Random RWKV-4 checkpoints in every format the engine reads, made by the tests themselves."""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from rwkv_core.config import Config

# The engine's tests run on the CPU; scripts/gpu_check.sh runs them again on CUDA (and in bf16)
TEST_DEVICE = os.environ.get("RWKV_TEST_DEVICE", "cpu")
TEST_DTYPE = getattr(torch, os.environ.get("RWKV_TEST_DTYPE", "float32"))

SMALL = Config(n_layer=3, n_embd=32, n_ffn=80, vocab_size=97)  # F is not 4*C on purpose


def random_state_dict(cfg: Config = SMALL, seed: int = 0, *, extreme: bool = True) -> dict[str, torch.Tensor]:
    """BlinkDL-named random weights; time_mix_* shaped (1, 1, C) as in the official .pth files.
    `extreme`: time_decay in -8 … 3 and time_first in -2 … 4, so the stable WKV is exercised."""
    g = torch.Generator().manual_seed(seed)
    C = cfg.n_embd
    sd = {}
    for key, shape in cfg.expected_shapes().items():
        if key.endswith("time_decay"):
            t = torch.empty(shape).uniform_(-8, 3, generator=g) if extreme else torch.empty(shape).uniform_(-3, 0, generator=g)
        elif key.endswith("time_first"):
            t = torch.empty(shape).uniform_(-2, 4, generator=g) if extreme else torch.empty(shape).uniform_(-1, 1, generator=g)
        elif ".time_mix" in key:
            t = torch.rand(shape, generator=g)
        elif key.endswith(("ln0.weight", "ln1.weight", "ln2.weight", "ln_out.weight")):
            t = 1 + 0.2 * torch.randn(shape, generator=g)
        elif key.endswith(".bias"):
            t = 0.1 * torch.randn(shape, generator=g)
        elif key == "emb.weight":
            t = torch.randn(shape, generator=g)
        elif key.endswith("att.key.weight"):
            t = torch.randn(shape, generator=g) * (4.0 / C ** 0.5)   # large keys: e^k needs the max trick
        else:
            t = torch.randn(shape, generator=g) / shape[-1] ** 0.5
        if ".time_mix" in key:
            t = t.reshape(1, 1, C)  # as in the official files; time_decay and time_first stay (C,)
        sd[key] = t.float()
    return sd


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
