"""A room under load: N students in one room through the classroom proxy, following the teacher.

    python scripts/load_room.py --students 60 --replicas 2 --json docs/rooms/load.json

starts the classroom deployment (scripts/serve_class.sh: nginx and REPLICAS app processes, sharing
one rooms store, a SQLite file in a temporary folder), opens a room on lesson 1, step 4, and drives
N light clients (scripts/st_client.py: the server's own websocket protocol, each with its own sticky
cookie from nginx, so they spread over the replicas) as browsers do:

    join      open the join link, type a nickname, press Join (all at once)
    follow    re-run the follow fragment every FOLLOW_S seconds, as the browser's timer does
    move      the teacher's step moves to step 5 (written to the store, as the console's Next does):
              each student's delay is from that write to the end of the run that draws step 5's
              prediction on their page
    answer    each student picks an option and presses Send (a random one, seeded)
    reveal    the teacher reveals: the delay until each page shows the model's answer

and checks that every answer is in the store exactly once. It prints and writes (with --json) the
delays' median, 95th percentile and maximum, the answers counted, the errors (exceptions, failed
runs, timeouts, a run missing what it should draw), the command, the CPU and the load average.
Nothing but 127.0.0.1 is contacted; the deployment is stopped at the end.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from scripts.st_client import Run, Tab, conditions, load_average, sticky_cookie

MAX_STUDENTS = 60
START = ("how-a-text-model-works", "layers")           # lesson 1, step 4
NEXT = ("how-a-text-model-works", "probabilities")     # step 5: a prediction (a choice of 4)
PRED = "s_how-a-text-model-works_probabilities_pred"   # its answer widget's key (app/rooms/follow.py)
EARLY = ForwardMsg.FINISHED_EARLY_FOR_RERUN


class Student(Tab):
    """A Tab that sends the address's query string (and follows the page's changes to it), and
    re-runs its follow fragment on the timer the server asks for (ForwardMsg auto_rerun)."""

    def __init__(self, port: int, cookie: str, query: str):
        super().__init__(port, cookie=cookie)
        self.query = query
        self.auto: tuple[str, float] | None = None       # (fragment id, interval s)
        self.options: dict[str, list[str]] = {}           # a radio's widget id -> its options as shown

    def seen(self, msg: ForwardMsg) -> None:
        kind = msg.WhichOneof("type")
        if kind == "page_info_changed":
            self.query = msg.page_info_changed.query_string
        elif kind == "auto_rerun":
            self.auto = (msg.auto_rerun.fragment_id, msg.auto_rerun.interval)
        elif kind == "delta" and msg.delta.new_element.WhichOneof("type") == "radio":
            radio = msg.delta.new_element.radio
            self.options[radio.id] = list(radio.options)

    def finished(self, run: Run) -> bool:
        return run.status != EARLY           # the fragment asked for the page: read that run too


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q / 100 * len(xs) + 0.5) - 1))] if xs else float("nan")


def summary(xs: list[float]) -> dict:
    return {"n": len(xs), "median_s": round(statistics.median(xs), 3) if xs else None,
            "p95_s": round(percentile(xs, 95), 3) if xs else None, "max_s": round(max(xs), 3) if xs else None}


async def student(i: int, port: int, code: str, shared: dict, errors: list[str]) -> None:
    def fail(what: str) -> None:
        errors.append(f"student {i}: {what}")

    try:
        async with Student(port, sticky_cookie(port), f"room={code}") as tab:
            await tab.open("lessons")
            tab.set("room_nick", string_value=f"Student {i:02d}")
            run = await tab.click("room_join")
            if not run.ok or "me=" not in tab.query:
                return fail(f"join: status {run.status}, {run.exceptions or run.alerts}")
            shared["joined"] += 1
            reached = revealed = None
            while revealed is None:
                if shared["stop"].is_set():
                    return fail("stopped before the reveal reached this page")
                await asyncio.sleep(tab.auto[1] if tab.auto else 1.0)
                run = await tab.rerun(fragment=tab.auto[0], auto=True) if tab.auto else await tab.rerun()
                if not run.ok and run.status is not None:
                    return fail(f"follow: status {run.status}, {run.exceptions}")
                if reached is None and PRED in run.widgets and shared["moved_at"]:
                    reached = time.time() - shared["moved_at"]
                    shared["reach"].append(reached)
                    options = tab.options[tab.widgets[PRED]]            # a radio sends its option's text
                    tab.set(PRED, string_value=options[shared["choices"][i]])
                    sent = await tab.rerun(trigger=f"{PRED}_send")      # a page run, as the browser sends it
                    if not any(k == "success" and b.startswith("Sent:") for k, b in sent.alerts):
                        return fail(f"answer not taken: {sent.alerts}")
                    shared["sent"] += 1
                if any(k == "success" and b.startswith("The model's answer") for k, b in run.alerts):
                    revealed = time.time() - shared["revealed_at"]
                    shared["reveal"].append(revealed)
    except Exception as e:  # a dropped connection or a timeout counts as an error of this student
        fail(f"{type(e).__name__}: {e}")


async def drive(n: int, port: int, rooms, code: str, key: str, errors: list[str]) -> dict:
    rng = random.Random(30)
    shared = {"joined": 0, "sent": 0, "moved_at": 0.0, "revealed_at": float("inf"), "reach": [], "reveal": [],
              "choices": [rng.randrange(4) for _ in range(n)], "stop": asyncio.Event()}
    tasks = [asyncio.create_task(student(i, port, code, shared, errors)) for i in range(n)]
    deadline = time.monotonic() + 240
    while shared["joined"] + len(errors) < n and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    await asyncio.sleep(3)                                       # every student's timer running
    shared["moved_at"] = time.time()
    rooms.move(code, key, *NEXT)                                 # the console's Next, as a store write
    while shared["sent"] + len(errors) < n and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    shared["revealed_at"] = time.time()
    rooms.reveal(code, key, "/".join(NEXT))
    while len(shared["reveal"]) + len(errors) < n and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    shared["stop"].set()
    await asyncio.gather(*tasks)
    return shared


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--students", type=int, default=60)
    ap.add_argument("--replicas", type=int, default=2)
    ap.add_argument("--json", type=Path, help="write the record here")
    args = ap.parse_args(argv)
    if not 1 <= args.students <= MAX_STUDENTS:
        ap.error(f"--students must be 1 to {MAX_STUDENTS}")
    record = conditions("load_room.py", argv)
    folder = Path(tempfile.mkdtemp(prefix="rwkv-load-room-"))
    os.environ["RWKV_ROOMS_DB"] = str(folder / "rooms.sqlite3")   # the replicas inherit it
    os.environ.pop("RWKV_ROOMS_REDIS", None)
    from app.rooms.rooms import Rooms
    from app.rooms.store import SQLiteStore
    from scripts.first_visit_bytes import start_class, stop_class
    rooms = Rooms(SQLiteStore(os.environ["RWKV_ROOMS_DB"]))
    room, key = rooms.open(*START, "ROMEO:\nBut soft, what light through yonder window", capacity=args.students)
    proc, port, _ = start_class(folder, replicas=args.replicas)
    errors: list[str] = []
    try:
        shared = asyncio.run(drive(args.students, port, rooms, room.code, key, errors))
    finally:
        stop_class(proc)
    answers = rooms.store.answers(room.code, "/".join(NEXT))
    members = rooms.store.members(room.code)
    expected = {m["token"]: str(shared["choices"][int(m["nickname"].split()[1])]) for m in members}
    record.update({
        "students": args.students, "replicas": args.replicas, "store": "sqlite (WAL)",
        "follow_poll_s": 1.0, "load_after": load_average(),
        "step_reach": summary(shared["reach"]), "reveal_reach": summary(shared["reveal"]),
        "joined": len(members), "answers_counted": len(answers),
        "answers_exactly_as_sent": answers == expected, "errors": len(errors), "error_list": errors[:20],
        "note": "delays from the store write of the teacher's move (or reveal) to the end of the run that drew "
                "it on each student's page; each student polls on the fragment timer the server asked for",
    })
    print(json.dumps(record, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=2) + "\n")
    return record


if __name__ == "__main__":
    sys.exit(0 if main()["errors"] == 0 else 1)
