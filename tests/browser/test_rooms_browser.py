"""A room in real Chromium: a teacher and three students, each in a browser context of their own
(their own cookies and session). The teacher opens a room from the Lessons page and its console;
the students join by the link; the teacher moves to the next step and every student's page follows
within seconds; each student answers the step's prediction before its figure; the console counts
the answers; the reveal shows the computed answer and the class's chart on every student's page.
Screenshots of the console and a student's view go to streamlit_page.SHOTS (RWKV_SHOTS_DIR)."""
from __future__ import annotations

import time

import pytest
from streamlit_page import SHOTS, assert_no_exception, wait_idle

from scripts.st_client import LOOPBACK, free_port, start_server, stop_server

FOLLOW_LIMIT_MS = 10_000       # generous on a loaded 2-core machine; the load test measures the real delay
NAMES = ("Ana", "Bo", "Cy")
LAYERS_TITLE = "Layers and the residual stream"     # lesson 1, step 4: where the room opens


@pytest.fixture(scope="module")
def room_app(chromium_path, tmp_path_factory):
    """The app with a rooms store of its own (a SQLite file in a temporary folder)."""
    folder = tmp_path_factory.mktemp("rooms")
    port = free_port()
    server = start_server(port, folder / "server.log", env={"OMP_NUM_THREADS": "1",
                                                           "RWKV_ROOMS_DB": str(folder / "rooms.sqlite3")})
    try:
        yield f"http://{LOOPBACK}:{port}"
    finally:
        stop_server(server)


def new_page(browser, url: str):
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(url)
    wait_idle(page)
    return page


def heading(page, text: str, timeout_ms: int = 60_000) -> None:
    page.get_by_role("heading", name=text).first.wait_for(timeout=timeout_ms)


def test_a_teacher_and_three_students(browser, room_app):
    teacher = new_page(browser, f"{room_app}/lessons?lesson=how-a-text-model-works&step=layers")
    teacher.get_by_text("A class room: students follow your step").click()
    teacher.get_by_role("button", name="Open a room on this step").click()
    wait_idle(teacher)
    codes = [c.inner_text().strip() for c in teacher.locator('[data-testid="stCode"]').all()]
    join = next(c for c in codes if "/lessons?room=" in c)
    console = next(c for c in codes if "/console?room=" in c)
    assert join.startswith(room_app) and console.startswith(room_app)

    students = []
    for name in NAMES:
        page = new_page(browser, join)
        page.get_by_role("textbox", name="Your nickname").fill(name)
        page.get_by_role("button", name="Join").click()
        heading(page, LAYERS_TITLE)
        assert_no_exception(page)
        students.append(page)

    teacher.goto(console)
    wait_idle(teacher)
    teacher.get_by_text("students in the room").wait_for()
    teacher.locator('[data-testid="stMetricValue"]').filter(has_text="3").first.wait_for(timeout=10_000)
    for name in NAMES:                      # the table's cells (drawn on a canvas, kept in the page for readers)
        teacher.get_by_text(name, exact=True).first.wait_for(state="attached", timeout=10_000)

    teacher.get_by_role("button", name="Next →").click()
    moved = time.monotonic()
    for page in students:
        heading(page, "The output: probabilities", timeout_ms=FOLLOW_LIMIT_MS)
    assert time.monotonic() - moved < FOLLOW_LIMIT_MS / 1000
    for i, page in enumerate(students):
        wait_idle(page)
        page.get_by_text("Predict first").wait_for()
        assert page.get_by_text("appear when the teacher reveals").count() == 1
        page.locator('[data-testid="stMain"] [data-testid="stRadio"] [role="radiogroup"] label').nth(i % 4).click()
        wait_idle(page)
        page.get_by_role("button", name="Send my answer").click()
        wait_idle(page)
        page.get_by_text("Sent:").wait_for(timeout=20_000)

    teacher.get_by_text("3 of 3 students answered.").wait_for(timeout=15_000)
    teacher.screenshot(path=str(SHOTS / "room_console.png"), full_page=True)
    teacher.get_by_role("button", name="Reveal the answer on every screen").click()
    for page in students:
        page.get_by_text("The model's answer on this prompt:").wait_for(timeout=FOLLOW_LIMIT_MS)
        page.get_by_text("The class's answers (3)").first.wait_for(timeout=20_000)
        assert_no_exception(page)
    students[0].screenshot(path=str(SHOTS / "room_student.png"), full_page=True)
    assert_no_exception(teacher)
