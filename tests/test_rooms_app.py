"""Rooms in the real app (AppTest; one SQLite store in a temporary folder shared by every session
here, as replicas share it): the teacher opens a room from the Lessons page, a student joins by
the link (a bad nickname is refused), follows the teacher's step, steps away and catches up,
answers a prediction before its figure, and sees the reveal; the console needs the key and shows
who joined, the answers and the CSV; a wrong or closed room says so."""
from __future__ import annotations

import pytest
from app_helpers import chart_titles, no_exception, started_app

from app.rooms import follow
from app.rooms import rooms as R

PAGE = "app_pages/lessons.py"


@pytest.fixture(scope="module", autouse=True)
def store(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("RWKV_ROOMS_DB", str(tmp_path_factory.mktemp("rooms") / "rooms.sqlite3"))
    mp.delenv("RWKV_ROOMS_REDIS", raising=False)
    follow.rooms.clear()
    yield
    follow.rooms.clear()
    mp.undo()


def button(at, label: str):
    return next(b for b in at.button if b.label == label)


def opened_room(lesson="scaling-an-rnn", step="chunking") -> tuple[str, str]:
    at = started_app(PAGE, {"lesson": lesson, "step": step})
    button(at, "Open a room on this step").click().run()
    no_exception(at)
    code, key = at.session_state[follow.OPENED]
    assert any(f"/lessons?room={code}" in c.value for c in at.code)
    assert any(f"/console?room={code}&key={key}" in c.value for c in at.code)
    return code, key


def student(code: str, name: str):
    at = started_app(PAGE, {"room": code})
    assert at.header[0].value.startswith("Join room")
    at.text_input(key="room_nick").input(name)
    button(at, "Join").click().run()
    no_exception(at)
    return at


def test_a_student_joins_follows_steps_away_and_catches_up():
    code, key = opened_room("how-a-text-model-works", "tokens")
    at = started_app(PAGE, {"room": code})
    at.text_input(key="room_nick").input("<b>Ana</b>")
    button(at, "Join").click().run()
    assert "nickname may hold" in at.error[0].value and at.header[0].value.startswith("Join room")
    at = student(code, "Ana")
    assert at.header[0].value == "Tokens and the tokenizer"
    assert at.query_params["me"] and at.query_params["room"] == code
    R.Rooms(follow.rooms().store).move(code, key, "how-a-text-model-works", "embeddings")
    at.run()
    assert at.header[0].value.startswith("Embeddings") or "embedding" in at.header[0].value.lower()
    button(at, "Next →").click().run()                               # steps away on their own
    own = at.header[0].value
    R.Rooms(follow.rooms().store).move(code, key, "scaling-an-rnn", "chunking")
    at.run()
    assert at.header[0].value == own and "The teacher is on lesson 2, step 4" in at.info[0].value
    button(at, "Catch up").click().run()
    assert at.header[0].value == "Chunks: fewer, wider steps"


def test_predict_before_the_figure_then_the_reveal_on_every_screen():
    code, key = opened_room()
    ana, bo = student(code, "Ana"), student(code, "Bo")
    assert not any(t.startswith("Cascade") or "chunk" in t.lower() for t in chart_titles(ana))   # no figure yet
    assert "appear when the teacher reveals" in ana.info[-1].value
    ana.text_input(key="s_scaling-an-rnn_chunking_pred").input("7.5")
    button(ana, "Send my answer").click().run()
    assert "whole number from 1 to" in ana.error[0].value
    ana.text_input(key="s_scaling-an-rnn_chunking_pred").input("9")
    button(ana, "Send my answer").click().run()
    assert ana.success[0].value.startswith("Sent: 9")
    bo.text_input(key="s_scaling-an-rnn_chunking_pred").input("10")
    button(bo, "Send my answer").click().run()
    console = started_app("app_pages/console.py", {"room": code, "key": key})
    assert console.metric[0].value == "2"
    assert "2 of 2 students answered." in [t.value for t in console.text]
    assert console.get("download_button")
    button(console, "Reveal the answer on every screen").click().run()
    no_exception(console)
    for at in (ana, bo):
        at.run()
        assert at.success[0].value.startswith("The model's answer on this prompt: ")
        assert "The class's answers (2)" in chart_titles(at)
        assert any("chunk" in t.lower() or "cascade" in t.lower() for t in chart_titles(at))   # the figure now
    answer = int(ana.success[0].value.rsplit(" ", 1)[1])
    assert any(c.value.startswith("Your answer: 9") and ("right" if answer == 9 else "not quite") in c.value
               for c in ana.caption)


def test_the_console_needs_the_key_and_a_closed_or_unknown_room_says_so():
    code, key = opened_room()
    wrong = started_app("app_pages/console.py", {"room": code, "key": key[:-2]})
    assert "key is not this room's" in wrong.error[0].value and not wrong.button
    unknown = started_app(PAGE, {"room": "ZZZZZ-ZZZZZ"})
    assert "no room with this code" in unknown.error[0].value
    follow.rooms().store.update(code, lambda r: {**r, "expires": r["created"] - 1})
    closed = started_app(PAGE, {"room": code})
    assert "This room closed at" in closed.error[0].value


def test_a_full_room_says_so():
    room, _ = follow.rooms().open("scaling-an-rnn", "chunking", "ROMEO: hi", capacity=1)
    student(room.code, "Ana")
    at = started_app(PAGE, {"room": room.code})
    at.text_input(key="room_nick").input("Bo")
    button(at, "Join").click().run()
    assert "This room is full (1 student)" in at.error[0].value


def test_a_room_has_no_model_picker():
    """Everyone in a room reads the embedded model: the sidebar's picker is not offered there."""
    code, _ = opened_room()
    at = started_app()
    at.switch_page("app_pages/lessons.py").run()
    assert any(r.key == "picker_source" for r in at.sidebar.radio)      # outside a room, the picker
    at.query_params["room"] = code
    at.switch_page("app_pages/lessons.py").run()
    no_exception(at)
    assert at.header[0].value.startswith("Join room")
    assert not any(r.key == "picker_source" for r in at.sidebar.radio)
