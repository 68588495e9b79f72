"""Command line: `python -m rwkv_core generate ...` streams text; `python -m rwkv_core info PATH`."""
from __future__ import annotations

import argparse
import sys

LOADER = None   # the loader: rwkv_core.load_model (RWKV-4); `python -m lab` passes lab.load_model (any kind)


def _load(path, device):
    import rwkv_core
    try:
        return (LOADER or rwkv_core.load_model)(path, device=device)
    except rwkv_core.CheckpointError as e:
        sys.exit(f"error: {e}")


def cmd_info(args) -> None:
    m = _load(args.path, args.device)
    c = m.config
    print(f"source      {m.source}")
    print(f"format      {m.format}")
    print(f"kind        {m.kind}")
    print(f"layers      {c.n_layer}")
    print(f"width       {c.n_embd}")
    if hasattr(c, "n_ffn"):
        print(f"ffn width   {c.n_ffn}")
    print(f"vocabulary  {c.vocab_size}")
    print(f"parameters  {c.n_params:,}")
    if m.kind == "rwkv4":
        print(f"state       {c.state_bytes():,} bytes (fp32), the same at any sequence length")
    else:
        print(f"state       {m.init_state().nbytes():,} bytes before any token (fp32)")
    print(f"tokenizer   {m.tokenizer.path if m.tokenizer else 'none found beside the checkpoint'}")


def cmd_generate(args) -> None:
    from rwkv_core.sampling import SamplingSettings, make_generator, sample
    m = _load(args.model, args.device)
    if m.tokenizer is None:
        sys.exit("error: this checkpoint has no tokenizer beside it; pass --tokenizer PATH")
    try:
        settings = SamplingSettings(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p)
    except ValueError as e:
        sys.exit(f"error: {e}")
    ids = m.tokenizer.encode(args.prompt)
    if not ids:
        sys.exit("error: the prompt is empty: give at least one character")
    g = make_generator(args.seed)
    logits, state = m.forward(ids, mode="parallel", all_logits=False)
    print(args.prompt, end="", flush=True)
    pending: list[int] = []  # tokens not yet printed (a byte-level token can be half a character)
    for _ in range(args.max_tokens):
        token = sample(logits, settings, g).token
        pending.append(token)
        text = m.tokenizer.decode(pending)
        if "\ufffd" not in text:
            print(text, end="", flush=True)
            pending = []
        logits, state = m.forward([token], state, all_logits=False)
    print(m.tokenizer.decode(pending) if pending else "")


def main(argv=None, prog: str = "python -m rwkv_core", description: str = "RWKV-v4 engine") -> None:
    p = argparse.ArgumentParser(prog=prog, description=description)
    sub = p.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="print a checkpoint's config, parameter count and format")
    info.add_argument("path", nargs="?", default=None, help="checkpoint (.pth, .safetensors, HF folder); "
                      "default: the embedded model")
    info.add_argument("--device", default="cpu")
    gen = sub.add_parser("generate", help="stream text from a prompt")
    gen.add_argument("--model", default=None, help="checkpoint; default: the embedded model")
    gen.add_argument("--tokenizer", default=None)
    gen.add_argument("--prompt", required=True)
    gen.add_argument("--max-tokens", type=int, default=100)
    gen.add_argument("--temperature", type=float, default=1.0)
    gen.add_argument("--top-p", type=float, default=0.9)
    gen.add_argument("--top-k", type=int, default=0)
    gen.add_argument("--seed", type=int, default=None)
    gen.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    {"info": cmd_info, "generate": cmd_generate}[args.command](args)


if __name__ == "__main__":
    main()
