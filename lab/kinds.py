"""The one registry of model kinds and shipped models. Every list of kinds in the project reads it:
the loader (`lab.load_model`), the Scheduling Lab's kind control, the Why page, the trainer, the
card writer, the benchmarks and the lessons.

A kind is what the engine and the pages need to know about one architecture: its model class
(through `build` and `recognise`), its cells' dependencies (rwkv_core.schedule.Dependencies,
which decide the schedules it can run), its name and colour on screen, how it is evaluated, and
its trainer hooks. A shipped model is a trained checkpoint in models/ of some kind.

Adding a model kind (tests/test_toy_kind.py does it with a toy kind, and checks each point):
  1. its model module: a subclass of rwkv_core.base.ModelBase writing only `init_state`,
     `_run_cell` (one cell: layer l over tokens s..e) and `_head`, over its weights (a frozen
     dataclass with state_dict() / from_state_dict()) and its state (`layers`, nbytes()); and the
     loading functions: validate(sd, name) -> config (CheckpointError naming what is wrong) and
     build(sd, *, device, dtype, tokenizer, source, fmt) -> model.
  2. one `Kind(...)` in KINDS below (a plug-in calls `register(Kind(...))`): its name, title,
     Dependencies (red line? wide cells?), why, colour (a visuals.theme.PALETTE key), recognise,
     validate, build.
  3. to train it here: its training forward and trainer hooks (lab.train_kinds, `trainer=`), then
     a `Shipped(...)` below for its checkpoint in models/ (`<stem>.safetensors` and its tokenizer).
Then lab.load_model loads it, the Scheduling Lab's kind control offers it, the Why page compares
it, and its figures draw it in its colour: no other file changes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from lab import train_kinds
from rivals.gpt_model import DEPS as GPT_DEPS
from rivals.lstm import DEPS as LSTM_DEPS
from rwkv_core.schedule import RWKV4, Dependencies  # noqa: F401  (Dependencies: for a new kind's entry)

ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = ROOT / "models"          # the shipped checkpoints, their tokenizers, logs, evaluations and cards


@dataclass(frozen=True)
class Kind:
    name: str                          # the key everywhere: "rwkv4", "lstm", "redline", "gpt"
    title: str                         # its name on screen: "RWKV-4", "stacked LSTM"
    deps: Dependencies                 # what its cells read: decides the schedules it can run
    why: str                           # one sentence: why it has these dependencies
    colour: str                        # a key of visuals.theme.PALETTE (or RED_LINE's "red")
    recognise: Callable[[dict], bool]  # its checkpoint's tensors -> True when they are this kind's
    validate: Callable[[dict, str], Any]   # (sd, file name) -> its config; CheckpointError naming what is wrong
    build: Callable[..., Any]          # (sd, *, device, dtype, tokenizer, source, fmt) -> a validated model
    evaluation: str = "stream"         # "stream": a play read whole, state carried; "windows": its context windows
    trainer: Any = None                # its trainer hooks (lab.train_kinds.Hooks), None if it is not trained here
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Shipped:
    stem: str                          # file stem in models/: <stem>.safetensors, .tokenizer.json, .log.json, ...
    kind: str                          # a key of KINDS
    title: str                         # its name on screen
    memory: str                        # what it remembers of the past, in a few words
    colour: str                        # a key of visuals.theme.PALETTE
    variant: str = ""                  # a training variant of its kind ("shift": RWKV-4 without WKV)

    @property
    def path(self) -> Path:
        """Its checkpoint in MODELS_DIR (read when called)."""
        return MODELS_DIR / f"{self.stem}.safetensors"


def _rwkv4_build(sd, **kw):
    import rwkv_core
    return rwkv_core.from_state_dict(sd, **kw)


def _rwkv4_validate(sd, name):
    from rwkv_core.checkpoint import validate
    return validate(sd, name)


def _rival_validate(sd, name):
    import rivals
    return rivals.validate(sd, name)


def _rwkv4_recognise(sd) -> bool:
    return any(k.startswith("blocks.") for k in sd) or "emb.weight" in sd


def _lstm_build(sd, **kw):
    from rivals import from_state_dict
    return from_state_dict(sd, **kw)


def _gpt_build(sd, **kw):
    from rivals import gpt_model
    return gpt_model.from_state_dict(sd, **kw)


def _recognise(name):
    def recognise(sd) -> bool:
        from rivals import infer_kind
        return infer_kind(sd) == name
    return recognise


# in the order the pages show them: RWKV, its transformer rival, the RNNs
KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("rwkv4", "RWKV-4", RWKV4, colour="blue", recognise=_rwkv4_recognise, validate=_rwkv4_validate,
         build=_rwkv4_build, trainer=train_kinds.RWKV4,
         why="R, K, V depend only on the layer's input (and the one-token shift) and WKV is linear in its state, "
             "with nothing from the layer's previous output inside a nonlinearity (RWKV-4's data-independent decay "
             "is enough for that, not required): a layer's matrix products run over all its tokens at once, and only "
             "a cheap per-channel scan over the tokens stays sequential"),
    Kind("gpt", "GPT", GPT_DEPS, colour="green", recognise=_recognise("gpt"), validate=_rival_validate,
         build=_gpt_build, trainer=train_kinds.GPT,
         evaluation="windows",
         why="a layer at token t reads the layer below at tokens ≤ t and its own cache: no red line, and all "
             "tokens' products at once"),
    Kind("lstm", "stacked LSTM", LSTM_DEPS["lstm"], colour="orange", recognise=_recognise("lstm"),
         validate=_rival_validate, build=_lstm_build, trainer=train_kinds.LSTM,
         why="no red line, so the cells can run as a wavefront; but the gates of token t need W_h·h[t−1] inside a "
             "nonlinearity, so a layer's tokens are sequential matrix products"),
    Kind("redline", "red-line RNN", LSTM_DEPS["redline"], colour="red",
         recognise=_recognise("redline"), validate=_rival_validate, build=_lstm_build,
         trainer=train_kinds.REDLINE,
         why="the top layer's output at token t is layer 0's input at token t+1: every cell waits for the one "
             "before it"),
)}

SHIPPED: dict[str, Shipped] = {s.stem: s for s in (
    Shipped("rwkv4-shakespeare", "rwkv4", "RWKV-4", "WKV: a decaying average per channel, plus token shift", "blue"),
    Shipped("rwkv4-shiftonly-shakespeare", "rwkv4", "RWKV-4 without WKV",
            "token shift only: its own and the previous token, per layer", "sky", variant="shift"),
    Shipped("lstm-shakespeare", "lstm", "stacked LSTM", "h and c per layer, through a nonlinear recurrence", "orange"),
    Shipped("redline-shakespeare", "redline", "red-line RNN", "the same, with the top layer fed back into layer 0",
            "red"),
    Shipped("gpt-shakespeare", "gpt", "GPT", "every token of its 512-token window (a KV cache)", "green"),
)}


def register(kind: Kind) -> None:
    """Add a kind (a plug-in, or a test's toy kind): every list above then has it."""
    KINDS[kind.name] = kind


def title(kind: str) -> str:
    """A kind's name on screen ("RWKV-4"); the key itself for a kind not registered here."""
    return KINDS[kind].title if kind in KINDS else kind


def kind_of(sd: dict) -> Kind | None:
    """The kind whose tensors these are (the rivals are tried first: RWKV-4's test is the loosest)."""
    for kind in [*(k for k in KINDS.values() if k.name != "rwkv4"), KINDS["rwkv4"]]:
        if kind.recognise(sd):
            return kind
    return None


def main_model(kind: str) -> Shipped | None:
    """A kind's main shipped model (its first, plain variant), None if none is shipped."""
    return next((s for s in SHIPPED.values() if s.kind == kind and not s.variant), None)


def main_models() -> list[Shipped]:
    """Every kind's main shipped model, in KINDS order."""
    return [s for s in map(main_model, KINDS) if s is not None]


def shipped_paths(models_dir: Path | None = None) -> dict[str, Path]:
    """kind -> its main shipped checkpoint, for the kinds whose file is in models_dir (default
    MODELS_DIR, read when called: a test may point it elsewhere), in KINDS order."""
    folder = Path(models_dir or MODELS_DIR)
    found = {s.kind: folder / f"{s.stem}.safetensors" for s in main_models()}
    return {k: p for k, p in found.items() if p.is_file()}
