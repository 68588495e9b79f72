"""Tokenizers: Hugging Face `tokenizers` JSON files (the Pile models' 20B tokenizer, and the
byte-level BPE of our embedded model), with a readable display string per token."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet: each byte is written as a printable character in BPE tokens."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def visible(text: str) -> str:
    """Make spaces, newlines and tabs visible in a token's display."""
    return text.replace(" ", "␣").replace("\n", "↵").replace("\t", "⇥").replace("\r", "␍")


class Tokenizer:
    """encode(str) -> ids, decode(ids) -> str, display(id) -> a readable string for a chip."""

    def __init__(self, path: str | Path):
        from tokenizers import Tokenizer as HFTokenizer
        self.path = Path(path)
        try:
            self._tok = HFTokenizer.from_file(str(self.path))
        except Exception as e:  # the tokenizers library raises its own Exception types
            raise ValueError(f"{self.path.name}: not a tokenizers JSON file ({e})") from None
        self.vocab_size = self._tok.get_vocab_size()
        self._byte_level = "ByteLevel" in (self._tok.to_str()[:100000])

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text, add_special_tokens=False).ids

    def decode(self, ids) -> str:
        return self._tok.decode(list(ids), skip_special_tokens=False)

    def token_bytes(self, token_id: int) -> bytes:
        """The raw bytes a token stands for (a byte-level token may be part of a character)."""
        piece = self._tok.id_to_token(int(token_id))
        if piece is None:
            return b""
        dec = _byte_decoder()
        if self._byte_level and all(ch in dec for ch in piece):
            return bytes(dec[ch] for ch in piece)
        return piece.encode("utf-8")

    def display(self, token_id: int) -> str:
        raw = self.token_bytes(token_id)
        try:
            return visible(raw.decode("utf-8"))
        except UnicodeDecodeError:
            return "".join(f"<{b:02X}>" for b in raw)  # part of a multi-byte character

    def displays(self, ids) -> list[str]:
        return [self.display(i) for i in ids]


def find_tokenizer(checkpoint: Path) -> Path | None:
    """A tokenizer JSON beside the checkpoint: <stem>.tokenizer.json, tokenizer.json, 20B_tokenizer.json."""
    folder = checkpoint if checkpoint.is_dir() else checkpoint.parent
    names = [] if checkpoint.is_dir() else [checkpoint.stem + ".tokenizer.json"]
    for name in names + ["tokenizer.json", "20B_tokenizer.json"]:
        if (folder / name).is_file():
            return folder / name
    return None
