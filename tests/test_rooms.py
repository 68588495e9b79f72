"""The rules of a room (app/rooms/rooms.py), on both stores: codes, the teacher's key enforced on
every teacher action, nicknames and answers validated, each answer counted once, the reveal, the
expiry (a stated time), the rate limits, and the CSV (nicknames and answers only)."""
from __future__ import annotations

import csv
import io
import re
import time

import pytest
from test_rooms_store import redis_url, store, store_spec  # noqa: F401  (fixtures: both stores)

from app.rooms import rooms as R


class Clock:
    def __init__(self):
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def rooms(store, clock):  # noqa: F811
    return R.Rooms(store, clock)


@pytest.fixture
def opened(rooms):
    room, key = rooms.open("how-a-text-model-works", "tokens", "ROMEO: hello", client="teacher")
    return room, key


def test_codes_are_long_random_and_read_back_as_typed(rooms):
    codes = {rooms.open("l", "s", "p", client=f"c{i // 5}")[0].code for i in range(40)}
    assert len(codes) == 40
    for code in codes:
        assert re.fullmatch(f"[{R.CODE_ALPHABET}]{{{R.CODE_LENGTH}}}", code)
    assert len(R.CODE_ALPHABET) ** R.CODE_LENGTH >= 2 ** 50
    code = next(iter(codes))
    typed = R.display_code(code).lower().replace("0", "o").replace("1", "l")
    assert R.normalize_code(" " + typed + " ") == code
    for bad in ("", "ABCDE", "ABCDE-12345X", "ABCDE-1234U", "<script>"):
        assert R.normalize_code(bad) is None


def test_the_key_is_stored_only_as_a_hash_and_checked_for_every_teacher_action(rooms, opened, store):  # noqa: F811
    room, key = opened
    assert len(key) >= 40 and key not in str(store.get(room.code))
    assert rooms.console(room.code, key).code == room.code
    for wrong in ("", "x", key[:-1], key + "x"):
        with pytest.raises(R.RoomError, match="key is not this room's"):
            rooms.console(room.code, wrong, client=f"w{len(wrong)}")
        with pytest.raises(R.RoomError):
            rooms.move(room.code, wrong, "scaling-an-rnn", "chunking")
        with pytest.raises(R.RoomError):
            rooms.reveal(room.code, wrong, "q")
        with pytest.raises(R.RoomError):
            rooms.members(room.code, wrong)
        with pytest.raises(R.RoomError):
            rooms.export_csv(room.code, wrong, [], lambda q, v: str(v))
    after = rooms.state(room.code)
    assert (after.lesson, after.step, after.revealed, after.rev) == (room.lesson, room.step, (), 0)


def test_the_teacher_moves_and_reveals_and_each_bumps_the_revision(rooms, opened):
    room, key = opened
    moved = rooms.move(room.code, key, "scaling-an-rnn", "chunking")
    assert (moved.lesson, moved.step, moved.rev) == ("scaling-an-rnn", "chunking", 1)
    shown = rooms.reveal(room.code, key, "scaling-an-rnn/chunking")
    assert (shown.revealed, shown.rev) == (("scaling-an-rnn/chunking",), 2)
    assert rooms.state(room.code) == shown


@pytest.mark.parametrize("name", ["", "   ", "x" * 25, "<script>", "=cmd()", "-1", "_x", "a\x00b", "a/b", "ab;c"])
def test_a_bad_nickname_is_refused_with_a_message(rooms, opened, name):
    room, _ = opened
    with pytest.raises(R.RoomError, match="nickname"):
        rooms.join(room.code, name, client="s")
    assert rooms.store.members(room.code) == []


def test_nicknames_are_unique_ignoring_case_and_spaces_and_the_room_fills(rooms):
    room, key = rooms.open("l", "s", "p", capacity=3)
    ana = rooms.join(room.code, "  Zoë   Ana ", client="a")
    assert ana.nickname == "Zoë Ana" and len(ana.token) >= 20
    with pytest.raises(R.RoomError, match="already called"):
        rooms.join(room.code, "zoë ana", client="b")
    rooms.join(room.code, "J.R. O'Neil-2", client="c")
    rooms.join(room.code, "Bo", client="d")
    with pytest.raises(R.RoomError, match=r"This room is full \(3 students\)"):
        rooms.join(room.code, "Cy", client="e")
    assert [m.nickname for m in rooms.members(room.code, key)] == ["Zoë Ana", "J.R. O'Neil-2", "Bo"]
    assert rooms.member(room.code, ana.token) == ana
    assert rooms.member(room.code, "not-a-token") is None


@pytest.mark.parametrize("value", ["", "abc", "3.5", "1e3", "11", "-1", None, True, 2.0, "9" * 20])
def test_an_answer_outside_the_questions_type_is_refused(rooms, opened, value):
    room, _ = opened
    me = rooms.join(room.code, "Ana")
    with pytest.raises(R.RoomError, match="whole number from 0 to 10"):
        rooms.answer(room.code, me.token, "q", value, 0, 10)
    assert rooms.tally(room.code, "q") == []


def test_each_member_counts_once_until_the_reveal(rooms, opened):
    room, key = opened
    ana, bo = rooms.join(room.code, "Ana"), rooms.join(room.code, "Bo")
    assert rooms.answer(room.code, ana.token, "q", "3", 0, 10) == 3
    rooms.answer(room.code, ana.token, "q", 4, 0, 10)                 # changed her mind: replaces
    rooms.answer(room.code, bo.token, "q", " 7 ", 0, 10)
    with pytest.raises(R.RoomError, match="not in this room"):
        rooms.answer(room.code, "forged-token", "q", 1, 0, 10)
    assert sorted(rooms.tally(room.code, "q")) == [4, 7]
    assert rooms.answers(room.code, key, "q") == {"Ana": 4, "Bo": 7}
    assert rooms.my_answer(room.code, "q", bo.token) == 7
    rooms.reveal(room.code, key, "q")
    with pytest.raises(R.RoomError, match="revealed"):
        rooms.answer(room.code, bo.token, "q", 1, 0, 10)
    assert sorted(rooms.tally(room.code, "q")) == [4, 7]


def test_a_room_closes_at_its_stated_time(rooms, opened, clock):
    room, key = opened
    me = rooms.join(room.code, "Ana")
    assert room.expires - room.created == R.ROOM_HOURS * 3600
    clock.now = room.expires + 1
    said = f"closed at {R.closes_at(room)}, {R.ROOM_HOURS} hours after it opened"
    with pytest.raises(R.RoomError, match=said):
        rooms.find(room.code)
    with pytest.raises(R.RoomError, match=said):
        rooms.join(room.code, "Bo")
    with pytest.raises(R.RoomError, match=said):
        rooms.move(room.code, key, "l", "s")
    with pytest.raises(R.RoomError, match="closed"):
        rooms.answer(room.code, me.token, "q", 1, 0, 10)


def test_wrong_codes_are_rate_limited_per_client_and_for_everyone(rooms, opened, monkeypatch):
    room, _ = opened
    for i in range(R.LOOKUPS_PER_CLIENT):
        with pytest.raises(R.RoomError, match="no room with this code"):
            rooms.find(f"ABCDE{i:05d}", client="guesser")
    with pytest.raises(R.RoomError, match="Too many wrong codes"):
        rooms.find("ZZZZZZZZZZ", client="guesser")
    assert rooms.find(room.code, client="student").code == room.code       # a good code needs no try
    monkeypatch.setattr(R, "LOOKUPS_PER_MINUTE", R.LOOKUPS_PER_CLIENT + 2)
    with pytest.raises(R.RoomError, match="no room"):
        rooms.find("ZZZZZZZZZZ", client="other")
    with pytest.raises(R.RoomError, match="Too many wrong codes"):
        rooms.find("ZZZZZZZZZZ", client="third")                           # everyone's limit reached


def test_opening_rooms_is_rate_limited(rooms):
    for _ in range(R.ROOMS_PER_CLIENT):
        rooms.open("l", "s", "p", client="t")
    with pytest.raises(R.RoomError, match="Too many rooms"):
        rooms.open("l", "s", "p", client="t")


def test_the_csv_holds_nicknames_and_answers_only(rooms, opened):
    room, key = opened
    ana, bo = rooms.join(room.code, "Ana"), rooms.join(room.code, "Bo")
    rooms.join(room.code, "Cy")
    rooms.answer(room.code, ana.token, "l1/a", 2, 0, 3)
    rooms.answer(room.code, bo.token, "l1/a", 0, 0, 3)
    rooms.answer(room.code, bo.token, "l2/b", 9, 0, 99)
    labels = {"l1/a": ["'=SUM(A1)'", "b", "c", "d"]}
    text = rooms.export_csv(room.code, key, [("l1/a", "Lesson 1"), ("l2/b", "Lesson 2")],
                            lambda q, v: labels[q][v] if q in labels else str(v))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [["nickname", "Lesson 1", "Lesson 2"], ["Ana", "c", ""], ["Bo", "'=SUM(A1)'", "9"], ["Cy", "", ""]]
    assert ana.token not in text and key not in text
    # a label that a spreadsheet would run as a formula is written as text
    formula = rooms.export_csv(room.code, key, [("l1/a", "x")], lambda q, v: "=cmd|' /C calc'!A0")
    assert "Ana,'=cmd" in formula and ",=" not in formula
