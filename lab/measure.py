"""What a new token costs after a context of n tokens: time and state, for every model kind.

    python -m lab.measure                       # the shipped models in models/, this CPU
    python -m lab.measure --contexts 16,256,4096 --new-tokens 16 --threads 2
    python -m lab.measure --json docs/compare/generation_cpu.json   # also the rows as JSON

For each context length n: read n tokens (the prefill, in pieces with the state carried, not
timed), then generate `new_tokens` tokens one at a time with the state (rnn mode, greedy), each
forward timed on its own; the row keeps the median. The state's size is its real tensors'
`nbytes()` after the prefill.

RWKV and the LSTMs carry a fixed-size state: the time per token and the bytes stay flat. The GPT
carries its KV cache: 2·L·C values more per token read, and each new token attends over all of
them, so both grow with n. Past the GPT's training context (its position table, n_ctx rows) the
model's logits are not defined; for timing only, those rows run with the positions clamped to the
last row (GPTModel.with_past_context("clamp")) and are flagged `past_training_context`: the cost
is the real cost of attending over n cached tokens, the text it would write is not the model's.
"""
from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch

import lab

CONTEXTS = (16, 64, 256, 512, 1024, 2048, 4096)


@dataclass(frozen=True)
class GenerationRow:
    kind: str
    context: int                   # tokens read before the timed tokens
    seconds_per_token: float       # median over the new tokens
    state_bytes: int               # state.nbytes() after reading the context
    past_training_context: bool    # the GPT beyond its position table: timing only
    seconds: tuple[float, ...]     # every new token's time

    @property
    def tokens_per_second(self) -> float:
        return 1.0 / self.seconds_per_token


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def n_ctx(model) -> int | None:
    """The most tokens a model can read (a GPT's position table), None for the recurrent kinds."""
    return getattr(model.config, "n_ctx", None)


def for_context(model, n_tokens: int):
    """The model to time at n_tokens: itself, or for a GPT past its table the same weights with
    the positions clamped (timing only)."""
    limit = n_ctx(model)
    if limit is not None and n_tokens > limit and hasattr(model, "with_past_context"):
        return model.with_past_context("clamp")
    return model


def prefill(model, ids: torch.Tensor, piece: int = 512):
    """Read ids (n,) with the state carried, in pieces, in the kind's fastest schedule. Returns
    (the last logits (V,), the state)."""
    mode = model.schedules[-1]
    state, logits = None, None
    for s in range(0, len(ids), piece):
        logits, state = model.forward(ids[s:s + piece], state, mode=mode, all_logits=False)
    return logits, state


def generation_cost(model, contexts=CONTEXTS, new_tokens: int = 8, *, seed: int = 0,
                    piece: int = 512) -> list[GenerationRow]:
    """Seconds per new token and state bytes after each context length (see the module's doc)."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for n in contexts:
        m = for_context(model, n + new_tokens)
        ids = torch.randint(0, model.config.vocab_size, (n,), generator=g)         # (n,) content does not change the cost
        logits, state = prefill(m, ids, piece)
        state_bytes = state.nbytes()
        seconds = []
        for _ in range(new_tokens):
            token = [int(logits.argmax())]
            _sync(m.device)
            t0 = time.perf_counter()
            logits, state = m.forward(token, state, mode="rnn", all_logits=False)
            _sync(m.device)
            seconds.append(time.perf_counter() - t0)
        limit = n_ctx(model)
        rows.append(GenerationRow(model.kind, n, statistics.median(seconds), state_bytes,
                                  limit is not None and n + new_tokens > limit, tuple(seconds)))
    return rows


def untrained_gpt(device="cpu"):
    """A GPT of the shipped shape (lab.train_kinds.gpt_config) with its initial random weights."""
    from lab.train import TrainConfig
    from lab.train_kinds import gpt_config
    from rivals import gpt
    from rivals.gpt_model import from_state_dict
    config = gpt_config(TrainConfig(), 2048)
    return from_state_dict(gpt.init_weights(config, torch.Generator().manual_seed(0)), device=device)


def table(results: dict[str, list[GenerationRow]], device: str, new_tokens: int) -> str:
    lines = [f"Generation after a context of n tokens ({new_tokens} new tokens each, median), {device}:",
             f"{'model':22s} {'context':>7s} {'ms/token':>9s} {'tokens/s':>9s} {'state bytes':>12s}"]
    for name, rows in results.items():
        for r in rows:
            flag = "  past training context: timing only" if r.past_training_context else ""
            lines.append(f"{name:22s} {r.context:7d} {1e3 * r.seconds_per_token:9.2f} {r.tokens_per_second:9.1f} "
                         f"{r.state_bytes:12,d}{flag}")
    return "\n".join(lines)


def main(argv=None):
    from lab.kinds import MODELS_DIR, main_models
    from rwkv_core.timing import device_name
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(s.stem for s in main_models()),
                   help="names in models/ (without .safetensors; default: each kind's main shipped model)")
    p.add_argument("--contexts", default=",".join(map(str, CONTEXTS)))
    p.add_argument("--new-tokens", type=int, default=8)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--untrained-gpt", action="store_true",
                   help="also time a GPT of the shipped shape with random weights (time does not depend on the values)")
    p.add_argument("--json", default=None, help="also write the rows as JSON (read by the app's Why RWKV page)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    contexts = tuple(int(c) for c in args.contexts.split(","))
    results = {}
    for name in args.models.split(","):
        path = Path(MODELS_DIR) / f"{name}.safetensors"
        if not path.exists():
            print(f"({name}: not in models/, skipped)")
            continue
        model = lab.load_model(path, device=args.device)
        results[name] = generation_cost(model, contexts, args.new_tokens)
    if args.untrained_gpt:
        results["gpt (random weights)"] = generation_cost(untrained_gpt(args.device), contexts, args.new_tokens)
    print(table(results, device_name(args.device), args.new_tokens))
    if args.json:
        import json
        from dataclasses import asdict
        record = {"what": "time per new token after a context of n tokens (median), and the state's bytes",
                  "device": device_name(args.device), "new_tokens": args.new_tokens, "threads": torch.get_num_threads(),
                  "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  "models": {name: [asdict(r) for r in rows] for name, rows in results.items()}}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(record, indent=1))
    return results


if __name__ == "__main__":
    main()
