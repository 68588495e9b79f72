"""The rules of a room, over a Store (app/rooms/store.py). No Streamlit: the pages, the tests and
scripts/load_room.py call these functions, and every check happens here, on the server.

A teacher opens a room on a lesson step and gets two links: the students' join link, carrying the
room's code, and the console's, carrying also the teacher's key. Only the console's key moves the
room, reveals an answer or reads the console; the store keeps only the key's SHA-256.

- The code: CODE_LENGTH symbols of Crockford's base-32 alphabet (no I, L, O, U), 50 bits, drawn
  by `secrets`; shown as two groups of five. Guessing is also rate-limited: LOOKUPS_PER_CLIENT
  failed look-ups a minute per client and LOOKUPS_PER_MINUTE for everyone together, so finding one
  of a thousand open rooms by trying codes takes 2^50 / 1000 / 600 minutes, about 3,600 years.
- The teacher's key: 32 bytes of `secrets.token_urlsafe` (256 bits).
- A nickname: 1 to 24 letters, digits, spaces and . ' - _, starting with a letter or digit, unique
  in the room ignoring case and repeated spaces. A student's text is only ever shown as text.
- An answer: a whole number in the question's range [low, high], sent before the reveal by a
  member of the room (their token, from the join); a second answer replaces the first.
- A room closes ROOM_HOURS after it opened, and holds CAPACITY students at most.
"""
from __future__ import annotations

import csv
import hashlib
import hmac
import io
import re
import secrets
import time
import unicodedata
from dataclasses import dataclass
from typing import Callable

from .store import FULL, JOINED, MISSING, TAKEN, Store

CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"     # Crockford's base 32
CODE_LENGTH = 10                                        # 50 bits
ROOM_HOURS = 3
GRACE_S = 24 * 3600            # a closed room's data stays this long, so that a late student is told "closed"
CAPACITY = 80
NICK_MAX = 24
NICK = re.compile(r"[^\W_][\w .'\-]*")
LOOKUPS_PER_CLIENT = 10        # failed look-ups of a code (wrong codes, wrong keys) a minute, per client
LOOKUPS_PER_MINUTE = 600       # and for everyone together
ROOMS_PER_CLIENT = 5           # rooms one client may open a minute
ROOMS_PER_MINUTE = 60
JOINS_PER_CLIENT = 10          # join attempts a minute, per client


class RoomError(ValueError):
    """What the student or teacher is told; nothing changed."""


@dataclass(frozen=True)
class Room:
    code: str
    lesson: str                    # the lesson's id (as in links)
    step: str                      # the step's id
    prompt: str
    created: float                 # epoch seconds
    expires: float
    capacity: int
    revealed: tuple[str, ...]      # question ids revealed so far
    rev: int                       # bumped by every move and reveal: what a follower compares

    def is_open(self, now: float) -> bool:
        return now < self.expires


@dataclass(frozen=True)
class Member:
    token: str
    nickname: str


def _room(record: dict) -> Room:
    return Room(record["code"], record["lesson"], record["step"], record["prompt"], record["created"],
                record["expires"], record["capacity"], tuple(record["revealed"]), record["rev"])


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def display_code(code: str) -> str:
    return f"{code[:5]}-{code[5:]}"


def normalize_code(text: str) -> str | None:
    """A code as typed ('k7qfm-2xp9d', with spaces, O for 0, I or L for 1) → its canonical form,
    None when it cannot be a code."""
    s = re.sub(r"[\s\-]", "", str(text)).upper().translate(str.maketrans("OIL", "011"))
    return s if len(s) == CODE_LENGTH and all(c in CODE_ALPHABET for c in s) else None


def check_nickname(text: str) -> str:
    """The nickname as it will be shown, or RoomError saying what to change."""
    name = re.sub(r"\s+", " ", unicodedata.normalize("NFC", str(text))).strip()
    if not name:
        raise RoomError("Type a nickname (your first name is enough).")
    if len(name) > NICK_MAX:
        raise RoomError(f"A nickname is at most {NICK_MAX} characters; this one is {len(name)}.")
    if not NICK.fullmatch(name):
        raise RoomError("A nickname may hold letters, digits, spaces and . ' - _, and starts with a letter or "
                        "a digit.")
    return name


def name_key(name: str) -> str:
    return name.casefold()


def closes_at(room: Room) -> str:
    return time.strftime("%H:%M", time.localtime(room.expires))


class Rooms:
    """The rooms of one store. `clock` is time.time, replaced in the tests."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time):
        self.store, self.clock = store, clock

    # --- the teacher ------------------------------------------------------------------------------

    def open(self, lesson: str, step: str, prompt: str, *, client: str = "", capacity: int = CAPACITY,
             hours: float = ROOM_HOURS) -> tuple[Room, str]:
        """A new room on this step; (room, the teacher's key). The key is shown once, in the console link."""
        if not (self.store.hit(f"open:{client}", ROOMS_PER_CLIENT, 60)
                and self.store.hit("open:all", ROOMS_PER_MINUTE, 60)):
            raise RoomError("Too many rooms opened in the last minute; wait a minute and try again.")
        key, now = secrets.token_urlsafe(32), self.clock()
        for _ in range(5):                              # a clash of 50-bit codes: as good as never
            code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
            record = {"code": code, "lesson": lesson, "step": step, "prompt": prompt, "created": now,
                      "expires": now + hours * 3600, "capacity": capacity, "revealed": [], "rev": 0,
                      "key": _hash(key)}
            if self.store.create(code, record, record["expires"] + GRACE_S):
                return _room(record), key
        raise RoomError("Could not find a free room code; try again.")

    def console(self, code_text: str, key: str, client: str = "") -> Room:
        """The room, when `key` is its teacher's key (checked here, on the server); RoomError otherwise."""
        room, record = self._find(code_text, client)
        if not hmac.compare_digest(record["key"], _hash(str(key))):
            self._limit(client)
            raise RoomError("This console link's key is not this room's: only the link the room was opened "
                            "with opens its console.")
        return room

    def move(self, code: str, key: str, lesson: str, step: str) -> Room:
        self.console(code, key)
        return self._change(code, lambda r: {**r, "lesson": lesson, "step": step, "rev": r["rev"] + 1})

    def reveal(self, code: str, key: str, qid: str) -> Room:
        self.console(code, key)
        return self._change(code, lambda r: {**r, "revealed": sorted({*r["revealed"], qid}), "rev": r["rev"] + 1})

    def members(self, code: str, key: str) -> list[Member]:
        self.console(code, key)
        return [Member(m["token"], m["nickname"]) for m in self.store.members(code)]

    def answers(self, code: str, key: str, qid: str) -> dict[str, int]:
        """nickname -> answer, for the console (students see only the tally, at the reveal)."""
        names = {m.token: m.nickname for m in self.members(code, key)}
        return {names[t]: int(v) for t, v in self.store.answers(code, qid).items() if t in names}

    def export_csv(self, code: str, key: str, questions: list[tuple[str, str]],
                   label: Callable[[str, int], str]) -> str:
        """One row per student: the nickname, then each question's answer as shown on screen
        (label(qid, value)); `questions` are (qid, column title). Nicknames and answers only.
        A cell starting with = + - @ gets a leading ' so that a spreadsheet shows it as text."""
        members = self.members(code, key)
        every = self.store.all_answers(code)
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow(["nickname"] + [title for _, title in questions])
        for m in members:
            row = [m.nickname] + [label(q, int(every[q][m.token])) if m.token in every.get(q, {}) else ""
                                  for q, _ in questions]
            w.writerow(["'" + c if c[:1] and c[0] in "=+-@" else c for c in row])
        return out.getvalue()

    # --- a student ------------------------------------------------------------------------------------

    def find(self, code_text: str, client: str = "") -> Room:
        """The open room a typed or linked code names; RoomError (no such room, closed) otherwise."""
        return self._find(code_text, client)[0]

    def join(self, code: str, nickname: str, client: str = "") -> Member:
        if not self.store.hit(f"join:{client}", JOINS_PER_CLIENT, 60):
            raise RoomError("Too many tries in the last minute; wait a minute and try again.")
        room = self.find(code, client)
        name = check_nickname(nickname)
        member = {"token": secrets.token_urlsafe(16), "nickname": name}
        outcome = self.store.join(room.code, name_key(name), member, room.capacity)
        if outcome == TAKEN:
            raise RoomError(f"Someone in this room is already called {name}: add a letter or pick another name.")
        if outcome == FULL:
            raise RoomError(f"This room is full ({room.capacity} student{'s' if room.capacity != 1 else ''}): "
                            "ask your teacher.")
        if outcome == MISSING:
            raise RoomError("This room has just closed.")
        assert outcome == JOINED, outcome
        return Member(member["token"], name)

    def member(self, code: str, token: str) -> Member | None:
        m = self.store.member(code, str(token)) if token else None
        return Member(m["token"], m["nickname"]) if m else None

    def state(self, code: str) -> Room | None:
        """The room as it is now: one small read (what a follower polls)."""
        record = self.store.get(code)
        return _room(record) if record else None

    def answer(self, code: str, token: str, qid: str, value: object, low: int, high: int) -> int:
        """Store a member's answer (a whole number in [low, high]) to an unrevealed question."""
        room = self.state(code)
        if room is None or not room.is_open(self.clock()):
            raise RoomError("This room has closed: answers are no longer taken.")
        if self.member(code, token) is None:
            raise RoomError("You are not in this room: join it first.")
        if qid in room.revealed:
            raise RoomError("The answer has been revealed: this question takes no more answers.")
        n = whole_number(value)
        if n is None or not low <= n <= high:
            raise RoomError(f"An answer here is a whole number from {low} to {high}.")
        self.store.put_answer(code, qid, token, str(n))
        return n

    def my_answer(self, code: str, qid: str, token: str) -> int | None:
        value = self.store.answers(code, qid).get(token)
        return None if value is None else int(value)

    def tally(self, code: str, qid: str) -> list[int]:
        """Every answer to a question (for the reveal's chart: counts, no names)."""
        return [int(v) for v in self.store.answers(code, qid).values()]

    # --- inside -------------------------------------------------------------------------------------

    def _limit(self, client: str) -> None:
        mine = self.store.hit(f"look:{client}", LOOKUPS_PER_CLIENT, 60)
        everyone = self.store.hit("look:all", LOOKUPS_PER_MINUTE, 60)     # every failure counts for both
        if not (mine and everyone):
            raise RoomError("Too many wrong codes or keys in the last minute; wait a minute and try again.")

    def _find(self, code_text: str, client: str) -> tuple[Room, dict]:
        code = normalize_code(code_text)
        record = self.store.get(code) if code else None
        if record is None:
            self._limit(client)
            raise RoomError("There is no room with this code: check it with your teacher (codes look like "
                            "K7QFM-2XP9D).")
        room = _room(record)
        if not room.is_open(self.clock()):
            raise RoomError(f"This room closed at {closes_at(room)}, {ROOM_HOURS} hours after it opened: ask "
                            "your teacher for a new one.")
        return room, record

    def _change(self, code: str, change: Callable[[dict], dict]) -> Room:
        new = self.store.update(code, change)
        if new is None:
            raise RoomError("This room has closed.")
        return _room(new)


def whole_number(value: object) -> int | None:
    """An int from an int or a string of digits (with a sign); None for anything else (floats, text, bools)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    s = str(value).strip()
    return int(s) if re.fullmatch(r"[+-]?\d{1,9}", s) else None
