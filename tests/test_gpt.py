"""The transformer rival (rivals/gpt*.py), on tiny random models.

Its logits equal Hugging Face's GPT2LMHeadModel with the same weights; every schedule (rnn with
the cache, the cascade for every chunk, layer-parallel) gives the same logits; whole = split with
the cache carried, and the cache is never written in place; the cache grows by 2·L·C values a
token while RWKV's state does not; the attention weights sum to 1 and give the attention output;
a checkpoint is recognised by its tensor names and a bad one named; past the position table a
clear ValueError (or, for timing only, clamped positions); the sliding-window evaluation scores
every token once; the generation-cost measurement; one training step of the real loop."""
from __future__ import annotations

import inspect
import math

import pytest
import torch
from tolerances import OTHER_KERNEL, assert_close

import lab
from lab.gpt_eval import bits_per_char, nats, windows
from lab.kinds import KINDS
from lab.measure import generation_cost
from rivals import from_state_dict, gpt, infer_kind
from rivals.gpt_model import GPTModel, attention_weights
from rwkv_core.checkpoint import CheckpointError

CFG = gpt.Config(n_layer=3, n_embd=16, n_head=4, n_ffn=40, vocab_size=23, n_ctx=24)   # F is not 4C on purpose
T = 19


def tiny_sd(cfg: gpt.Config = CFG, seed: int = 0) -> dict[str, torch.Tensor]:
    """Weights large enough for peaked attention and saturating GELUs (GPT-2's 0.02 init makes
    every attention row nearly uniform, which would test little)."""
    g = torch.Generator().manual_seed(seed)
    sd = {"transformer.n_head": gpt.n_head_tensor(cfg.n_head)}
    for key, shape in cfg.expected_shapes().items():
        if key.endswith(".bias"):
            sd[key] = 0.1 * torch.randn(shape, generator=g)
        elif len(shape) == 1:
            sd[key] = 1 + 0.2 * torch.randn(shape, generator=g)
        elif key.endswith("wte.weight") or key.endswith("wpe.weight"):
            sd[key] = torch.randn(shape, generator=g)
        else:
            sd[key] = 2 * torch.randn(shape, generator=g) / shape[1] ** 0.5
    return sd


def tiny(cfg: gpt.Config = CFG, seed: int = 0) -> GPTModel:
    return from_state_dict(tiny_sd(cfg, seed))


def tokens(n: int = T, seed: int = 1, vocab: int = CFG.vocab_size) -> list[int]:
    return torch.randint(0, vocab, (n,), generator=torch.Generator().manual_seed(seed)).tolist()


# --- the face every kind shares --------------------------------------------------------------

def test_face():
    model = tiny()
    assert model.kind == "gpt" and model.deps == KINDS["gpt"].deps
    assert all(hasattr(model, a) for a in ("tokenizer", "source", "format", "device", "dtype", "check_tokens",
                                           "plan_for", "run_plan", "init_state"))
    assert model.schedules == ("rnn", "cascade", "parallel")       # no red line: every schedule
    c = model.config
    assert (c.n_layer, c.n_embd, c.n_head, c.vocab_size, c.n_ctx) == (3, 16, 4, 23, 24)
    assert c.n_params == sum(v.numel() for k, v in tiny_sd().items() if k != "transformer.n_head")
    assert model.init_state().nbytes() == 0 and model.init_state().n_tokens == 0
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model.forward([0, 23])
    result = model.run_plan(model.plan_for(T, "cascade", 4), tokens(), timed=True)
    assert result.logits.shape == (T, 23) and result.timings is not None
    assert len(result.timings.cell_spans) == result.plan.n_steps


def test_shipped_shape_is_within_ten_percent_of_rwkv():
    from lab.train import TrainConfig
    from lab.train_kinds import gpt_config
    config = gpt_config(TrainConfig(), 2048)
    assert (config.n_layer, config.n_embd, config.n_head, config.n_ctx, config.tied) == (6, 256, 4, 512, False)
    assert config.n_params == 5_918_720 and abs(config.n_params / 6_178_304 - 1) < 0.10


# --- against an outside implementation --------------------------------------------------------

def hf_gpt2(sd: dict, cfg: gpt.Config):
    """transformers' GPT2LMHeadModel with our weights (its Conv1D stores (in, out): transposed)."""
    transformers = pytest.importorskip("transformers")
    conf = transformers.GPT2Config(vocab_size=cfg.vocab_size, n_positions=cfg.n_ctx, n_embd=cfg.n_embd,
                                   n_layer=cfg.n_layer, n_head=cfg.n_head, n_inner=cfg.n_ffn,
                                   activation_function="gelu_new", resid_pdrop=0.0, embd_pdrop=0.0,
                                   attn_pdrop=0.0, layer_norm_epsilon=1e-5, tie_word_embeddings=cfg.tied,
                                   bos_token_id=0, eos_token_id=0)
    model = transformers.GPT2LMHeadModel(conf).eval()
    conv1d = ("c_attn.weight", "c_proj.weight", "c_fc.weight")
    ours = {k: (v.t() if k.endswith(conv1d) else v) for k, v in sd.items() if k != "transformer.n_head"}
    missing, unexpected = model.load_state_dict(ours, strict=False)
    assert not unexpected and all(".attn.bias" in k or ".attn.masked_bias" in k or
                                  (cfg.tied and k == "lm_head.weight") for k in missing), missing
    return model


@pytest.mark.parametrize("tied", [False, True])
def test_logits_equal_hugging_face_gpt2(tied):
    cfg = gpt.Config(**{**CFG.__dict__, "tied": tied})
    sd = tiny_sd(cfg)
    model, ids = from_state_dict(sd), tokens()
    assert model.config.tied == tied
    ref = hf_gpt2(sd, cfg)
    with torch.no_grad():
        expected = ref(torch.tensor([ids])).logits[0]                          # (T, V)
        # and HF's own cache, split in two calls
        name = "cache" if "cache" in inspect.signature(ref.forward).parameters else "past_key_values"  # 5.x: cache
        first = ref(torch.tensor([ids[:7]]), use_cache=True)
        rest = ref(torch.tensor([ids[7:]]), **{name: first[name]}).logits[0]
    for mode in model.schedules:
        logits, _ = model.forward(ids, mode=mode, chunk=3)
        assert_close(logits, expected, 1e-4, f"{mode} against GPT2LMHeadModel")
    _, cache = model.forward(ids[:7], mode="parallel")
    logits, _ = model.forward(ids[7:], cache, mode="rnn")
    assert_close(logits, rest, 1e-4, "the cache carried, against HF's past_key_values")


# --- schedules, the cache ---------------------------------------------------------------------

def test_every_schedule_gives_the_same_logits_and_cache():
    model, ids = tiny(), tokens()
    ref, ref_cache = model.forward(ids, mode="rnn")
    runs = [("parallel", None)] + [("cascade", c) for c in (1, 2, 3, 5, T)]
    for mode, chunk in runs:
        logits, cache = model.forward(ids, mode=mode, chunk=chunk)
        assert_close(logits, ref, OTHER_KERNEL, f"{mode} chunk {chunk} = rnn")
        for a, b in zip(cache.layers, ref_cache.layers):
            assert_close(a.k, b.k, OTHER_KERNEL, "keys")
            assert_close(a.v, b.v, OTHER_KERNEL, "values")
    last, _ = model.forward(ids, mode="cascade", chunk=4, all_logits=False)
    assert_close(last, ref[-1], OTHER_KERNEL, "the last logits only")


def test_training_forward_equals_the_model():
    """gpt.forward_batch (torch's fused attention, a batch) = the model's schedules, row by row."""
    model = tiny()
    batch = torch.tensor([tokens(seed=s) for s in (1, 2, 3)])                    # (3, T)
    with torch.no_grad():
        logits = gpt.forward_batch(model.weights, batch)                         # (3, T, V)
    for row, ids in zip(logits, batch):
        assert_close(row, model.forward(ids, mode="rnn")[0], OTHER_KERNEL, "fused attention = the model")


def test_whole_equals_split_with_the_cache_carried_and_the_cache_is_not_written():
    model, ids = tiny(), tokens()
    whole, whole_cache = model.forward(ids, mode="parallel")
    for cut, modes in ((1, ("rnn", "parallel")), (8, ("cascade", "rnn")), (T - 1, ("parallel", "cascade"))):
        head, cache = model.forward(ids[:cut], mode=modes[0], chunk=3)
        kept = cache.clone()
        tail, after = model.forward(ids[cut:], cache, mode=modes[1], chunk=2)
        assert_close(torch.cat([head, tail]), whole, OTHER_KERNEL, f"split at {cut}")
        assert after.n_tokens == T and cache.n_tokens == cut
        for a, b in zip(cache.layers, kept.layers):
            assert torch.equal(a.k, b.k) and torch.equal(a.v, b.v)       # forward left it as it was
        for a, b in zip(after.layers, whole_cache.layers):
            assert_close(a.k, b.k, OTHER_KERNEL, "the cache after both calls")


def test_the_cache_grows_by_two_values_per_layer_channel_and_token_and_rwkv_state_does_not(small_model):
    model = tiny()
    L, C = CFG.n_layer, CFG.n_embd
    sizes, cache = [], None
    for n in range(1, 6):
        _, cache = model.forward(tokens(1, seed=n), cache)
        sizes.append(cache.nbytes())
    assert sizes == [2 * L * C * 4 * n for n in range(1, 6)] == [CFG.cache_bytes(n) for n in range(1, 6)]
    rwkv = [small_model.forward(tokens(n, vocab=small_model.config.vocab_size))[1].nbytes() for n in (1, 5, 40)]
    assert rwkv[0] == rwkv[1] == rwkv[2] > 0


def test_attention_weights_sum_to_one_and_give_the_attention_output():
    from rwkv_core.trace import Recorder
    model, ids = tiny(), tokens()
    _, cache = model.forward(ids[:5])
    weights = attention_weights(model, ids[5:], cache)                   # per layer (H, T-5, T)
    rec = Recorder(["blocks.*.attn.v", "blocks.*.attn.out"])
    model.forward(ids, mode="parallel", recorder=rec)
    H, n = CFG.n_head, T - 5
    for l, w in enumerate(weights):
        assert w.shape == (H, n, T)
        assert torch.allclose(w.sum(-1), torch.ones(H, n), atol=1e-6)
        future = torch.arange(T)[None, :] > torch.arange(5, T)[:, None]  # (n, T) keys after the query
        assert (w[:, future] == 0).all()
        y = w @ rec[f"blocks.{l}.attn.v"]                                # (H, n, hs) over all T values
        c_proj = model.weights.blocks[l].c_proj
        out = gpt.merge_heads(y) @ c_proj.weight.T + c_proj.bias         # (n, C)
        assert_close(out, rec[f"blocks.{l}.attn.out"][5:], OTHER_KERNEL, f"layer {l}: weights · V = attention")
    assert weights[0].max() > 0.9                                       # peaked somewhere: a real test


def test_past_the_position_table_a_clear_error_or_for_timing_clamped():
    model = tiny()
    with pytest.raises(ValueError, match="at most 24 tokens"):
        model.forward(tokens(25))
    _, cache = model.forward(tokens(20))
    with pytest.raises(ValueError, match="positions 20..24"):
        model.forward(tokens(5), cache)
    timing = model.with_past_context("clamp")
    logits, longer = timing.forward(tokens(10), cache)                   # runs: positions 20..23, 23, 23 …
    assert logits.shape == (10, 23) and longer.n_tokens == 30 and timing.weights is model.weights
    with pytest.raises(ValueError, match="past_context"):
        model.with_past_context("wrap")


# --- loading ----------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_load_model_infers_gpt_from_a_saved_checkpoint(tmp_path, suffix):
    sd = tiny_sd()
    path = tmp_path / f"tiny-gpt{suffix}"
    if suffix == ".pth":
        torch.save(sd, path)
    else:
        from safetensors.torch import save_file
        save_file(sd, str(path))
    assert infer_kind(sd) == "gpt"
    model = lab.load_model(path)
    assert isinstance(model, GPTModel) and model.kind == "gpt" and model.config == CFG
    ids = tokens()
    assert torch.equal(model.forward(ids)[0], tiny().forward(ids)[0])


@pytest.mark.parametrize("change, named", [
    (lambda sd: sd.pop("transformer.h.1.attn.c_proj.weight"), "transformer.h.1.attn.c_proj.weight"),
    (lambda sd: sd.__setitem__("transformer.h.2.mlp.c_fc.bias", torch.zeros(7)), "transformer.h.2.mlp.c_fc.bias"),
    (lambda sd: sd.__setitem__("transformer.wpe.weight", torch.zeros(24)), "transformer.wpe.weight"),
    (lambda sd: sd.pop("transformer.n_head"), "transformer.n_head"),
    (lambda sd: sd.__setitem__("transformer.n_head", torch.tensor([5])), "transformer.n_head"),
    (lambda sd: sd.__setitem__("transformer.h.0.ln_1.weight", torch.ones(16, dtype=torch.int32)), "transformer.h.0.ln_1.weight"),
    (lambda sd: sd.__setitem__("transformer.h.0.attn.extra", torch.ones(3)), "transformer.h.0.attn.extra"),
])
def test_a_missing_or_misshapen_tensor_is_named(change, named):
    sd = tiny_sd()
    change(sd)
    with pytest.raises(CheckpointError, match=named.replace(".", r"\.")):
        from_state_dict(sd)


# --- evaluation with a sliding window ---------------------------------------------------------

def test_windows_score_every_target_once():
    for n, window, stride in ((1300, 512, 256), (30, 24, 12), (24, 24, 5), (5, 24, 12), (100, 10, 10)):
        scored = [t for begin, end, first in windows(n, window, stride) for t in range(first, end + 1)]
        assert scored == list(range(1, n))
        assert all(end - begin <= window for begin, end, _ in windows(n, window, stride))


def test_sliding_window_reads_any_kind_from_an_empty_state_per_window(small_model):
    ids = tokens(50, seed=5, vocab=small_model.config.vocab_size)
    expected = 0.0
    for begin, end, first in windows(len(ids), 16, 8):
        lg, _ = small_model.forward(ids[begin:end], mode="rnn")
        expected += torch.nn.functional.cross_entropy(lg[first - 1 - begin:], torch.tensor(ids[first:end + 1]),
                                                      reduction="sum").item()
    assert math.isclose(nats(small_model, ids, 16, 8, batch=3), expected, rel_tol=1e-5)


def test_sliding_window_cross_entropy():
    model = tiny()
    ids = tokens(60, seed=4)
    # one window long enough: the plain cross-entropy of the model's logits
    short = ids[:20]
    logits, _ = model.forward(short[:-1], mode="parallel")
    plain = torch.nn.functional.cross_entropy(logits, torch.tensor(short[1:]), reduction="sum").item()
    assert math.isclose(nats(model, short, 24, 12), plain, rel_tol=1e-5)
    # past the table: each token from its own window, read the slow way
    expected = 0.0
    for begin, end, first in windows(len(ids), 24, 12):
        lg, _ = model.forward(ids[begin:end], mode="rnn")
        expected += torch.nn.functional.cross_entropy(lg[first - 1 - begin:], torch.tensor(ids[first:end + 1]),
                                                      reduction="sum").item()
    assert math.isclose(nats(model, ids, 24, 12, batch=2), expected, rel_tol=1e-5)


class _CharTokenizer:
    vocab_size = 23

    def encode(self, text):
        return [ord(ch) % 23 for ch in text]

    def decode(self, ids):
        return "x" * len(ids)


def test_bits_per_char_counts_like_the_engine():
    model = tiny()
    model.tokenizer = _CharTokenizer()
    text = "the quick brown fox jumps over the lazy dog, twice over"
    r = bits_per_char(model, [text])
    assert r["tokens"] == r["chars"] == len(text) - 1 and (r["window"], r["stride"]) == (24, 12)
    assert math.isclose(r["bits_per_char"], r["nats_per_token"] / math.log(2))


# --- the generation-cost measurement ----------------------------------------------------------

def test_generation_cost_grows_for_the_gpt_and_not_for_rwkv(small_model):
    rows = generation_cost(tiny(), contexts=(4, 16, 40), new_tokens=3)
    assert [r.context for r in rows] == [4, 16, 40]
    assert [r.state_bytes for r in rows] == [CFG.cache_bytes(n) for n in (4, 16, 40)]
    assert [r.past_training_context for r in rows] == [False, False, True]     # 40 + 3 > 24 positions
    assert all(len(r.seconds) == 3 and r.seconds_per_token > 0 for r in rows)
    flat = generation_cost(small_model, contexts=(4, 40), new_tokens=2)
    assert flat[0].state_bytes == flat[1].state_bytes and not any(r.past_training_context for r in flat)


# --- training ---------------------------------------------------------------------------------

def test_two_training_steps_of_the_real_loop(tmp_path):
    from lab.train import TrainConfig, train
    tc = TrainConfig(n_layer=1, n_embd=16, ctx_len=16, batch_size=2, total_steps=2, warmup_steps=1,
                     eval_every=2, ckpt_every=1, threads=1)
    text = "To be, or not to be, that is the question. " * 8
    log = train("gpt", tc, tmp_path / "run", export=False, quiet=True, texts=({"a": text}, {"b": text[:200]}))
    fin = log["final"]
    assert fin["step"] == 2 and fin["train_tokens"] == 2 * 2 * 16 and fin["heldout_tokens"] > 0
    assert log["val"][-1]["train_tokens"] == 64 and math.isfinite(fin["bits_per_char"])
    assert (tmp_path / "run" / "ckpt.pt").exists()


def test_export_loads_and_the_card_command_writes_the_card(tmp_path, monkeypatch):
    """The one trainer's export → load_model (kind inferred, tokenizer found) → the one card writer
    (its held-out evaluation, samples and comparison with RWKV's log)."""
    import json
    import shutil

    import lab.data
    from lab import card, train_log
    from lab.train import MODELS_DIR, TrainConfig, train
    tc = TrainConfig(n_layer=1, n_embd=16, ctx_len=200, batch_size=1, total_steps=3, warmup_steps=1,
                     eval_every=2, ckpt_every=10, threads=1, max_minutes=5.0)
    text = "Full fathom five thy father lies; of his bones are coral made. " * 40
    texts = ({"a": text}, {"tempest_gut": text[:900], "timon_of_athens_gut": text[:500]})
    models = tmp_path / "models"
    train("gpt", tc, tmp_path / "run", texts=texts, models_dir=models, quiet=True)       # exports when it ends
    path = models / "gpt-shakespeare.safetensors"
    model = lab.load_model(path)
    assert model.kind == "gpt" and model.tokenizer is not None and model.config.n_ctx == 200
    assert json.loads((models / "gpt-shakespeare.log.json").read_text())["final"]["step"] == 3
    for name in ("log.json", "safetensors", "tokenizer.json", "eval.json"):   # RWKV's log, and RWKV read the GPT's way
        shutil.copy(MODELS_DIR / f"rwkv4-shakespeare.{name}", models)
    monkeypatch.setattr(card, "load_seconds", lambda path: 0.5)    # a fresh interpreter: seconds
    monkeypatch.setattr(lab.data, "load_texts", lambda: texts)
    card.main(["--model", "gpt-shakespeare", "--models", str(models), "--evaluate", "--threads", "1"])
    text = (models / "gpt-shakespeare.md").read_text()
    ev = json.loads((models / "gpt-shakespeare.eval.json").read_text())
    assert f"**{model.config.n_params:,} parameters**" in text and "**600 training tokens**" in text
    assert "windows of 200 tokens moved by 100" in text and "| The Tempest |" in text and "| Timon of Athens |" in text
    assert f"**{ev['total']['bits_per_char']:.3f}**" in text and len(ev["samples"]) == 3
    assert f"RWKV-4 gives **{ev['rwkv_same_windows']['bits_per_char']:.3f}** bits/char" in text
    log = json.loads((models / "gpt-shakespeare.log.json").read_text())
    assert f"Machine: {train_log.conditions(log)}." in text                 # every machine fact from the log
