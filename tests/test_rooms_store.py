"""The rooms' store (app/rooms/store.py): the same tests against SQLite (a file in WAL mode, written
by several processes) and a real Redis (Debian's redis-server, started here on a free loopback port
in a temporary folder). Without redis-server the Redis half is skipped, except in CI
(RWKV_REQUIRE_BROWSER=1 or CI=true), where it fails: .ci/run installs it."""
from __future__ import annotations

import multiprocessing
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from app_helpers import missing

from app.rooms.store import FULL, JOINED, MISSING, TAKEN, RedisStore, SQLiteStore
from scripts.st_client import LOOPBACK, free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"



@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """A real redis-server on 127.0.0.1 and a free port, its files in a temporary folder, nothing saved."""
    if not Path(REDIS_SERVER).exists():
        missing("Redis store", f"redis-server is not installed ({REDIS_SERVER}; apt-get install redis-server)")
    try:
        import redis
    except ImportError:
        missing("Redis store", "the redis package is not installed (pip install -r requirements.txt)")
    folder, port = tmp_path_factory.mktemp("redis"), free_port()
    proc = subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", LOOPBACK, "--dir", str(folder),
                             "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"redis://{LOOPBACK}:{port}/0"
    client, deadline = redis.Redis.from_url(url), time.monotonic() + 20
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"redis-server did not start (exit code {proc.poll()})")
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(params=["sqlite", "redis"])
def store_spec(request, tmp_path):
    """(kind, where): a fresh SQLite file, or the test Redis emptied."""
    if request.param == "sqlite":
        return "sqlite", str(tmp_path / "rooms.sqlite3")
    url = request.getfixturevalue("redis_url")
    RedisStore(url).redis.flushdb()
    return "redis", url


def make(spec):
    kind, where = spec
    return SQLiteStore(where) if kind == "sqlite" else RedisStore(where)


@pytest.fixture
def store(store_spec):
    return make(store_spec)


def later(s: float = 3600) -> float:
    return time.time() + s


def record(code: str = "ABCDE12345", **kw) -> dict:
    return {"code": code, "rev": 0, **kw}


def test_a_room_is_created_once_and_read_back(store):
    assert store.create("ABCDE12345", record(prompt="x"), later())
    assert not store.create("ABCDE12345", record(prompt="other"), later())      # the code is in use
    assert store.get("ABCDE12345") == record(prompt="x")
    assert store.get("ZZZZZ99999") is None


def test_update_replaces_the_record_and_misses_no_room(store):
    store.create("ABCDE12345", record(), later())
    assert store.update("ABCDE12345", lambda r: {**r, "rev": r["rev"] + 1})["rev"] == 1
    assert store.get("ABCDE12345")["rev"] == 1
    assert store.update("ZZZZZ99999", lambda r: r) is None


def _bump(spec, n: int) -> None:
    s = make(spec)
    for _ in range(n):
        s.update("ABCDE12345", lambda r: {**r, "rev": r["rev"] + 1})


def test_updates_from_several_processes_and_threads_are_never_lost(store, store_spec):
    """Two processes and two threads each bump the revision 40 times: 160, none lost to a race."""
    store.create("ABCDE12345", record(), later())
    main = getattr(sys.modules["__main__"], "__file__", "") or ""
    assert "app" not in Path(main).parts, f"a spawned child would re-run {main} (tests/conftest.py, restore_main)"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_bump, args=(store_spec, 40)) for _ in range(2)]
    threads = [threading.Thread(target=_bump, args=(store_spec, 40)) for _ in range(2)]
    for w in procs + threads:
        w.start()
    for w in procs + threads:
        w.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    assert store.get("ABCDE12345")["rev"] == 160


def test_join_names_are_unique_and_the_room_has_a_capacity(store):
    store.create("ABCDE12345", record(), later())
    assert store.join("ABCDE12345", "ana", {"token": "t1", "nickname": "Ana"}, 2) == JOINED
    assert store.join("ABCDE12345", "ana", {"token": "t2", "nickname": "ANA"}, 2) == TAKEN
    assert store.join("ABCDE12345", "bo", {"token": "t3", "nickname": "Bo"}, 2) == JOINED
    assert store.join("ABCDE12345", "cy", {"token": "t4", "nickname": "Cy"}, 2) == FULL
    assert store.join("ZZZZZ99999", "cy", {"token": "t5", "nickname": "Cy"}, 2) == MISSING
    assert [m["nickname"] for m in store.members("ABCDE12345")] == ["Ana", "Bo"]
    assert store.member("ABCDE12345", "t3") == {"token": "t3", "nickname": "Bo"}
    assert store.member("ABCDE12345", "t2") is None


def test_joins_at_the_same_moment_fill_the_room_exactly(store, store_spec):
    store.create("ABCDE12345", record(), later())
    outcomes = []

    def one(i):
        outcomes.append(make(store_spec).join("ABCDE12345", f"s{i}", {"token": f"t{i}", "nickname": f"S{i}"}, 20))
    threads = [threading.Thread(target=one, args=(i,)) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert (outcomes.count(JOINED), outcomes.count(FULL)) == (20, 10)
    assert len(store.members("ABCDE12345")) == 20


def test_an_answer_is_kept_once_per_member_and_question(store):
    store.create("ABCDE12345", record(), later())
    store.put_answer("ABCDE12345", "l1/s1", "t1", "2")
    store.put_answer("ABCDE12345", "l1/s1", "t1", "3")       # changed: replaces
    store.put_answer("ABCDE12345", "l1/s1", "t2", "0")
    store.put_answer("ABCDE12345", "l2/s4", "t1", "11")
    assert store.answers("ABCDE12345", "l1/s1") == {"t1": "3", "t2": "0"}
    assert store.all_answers("ABCDE12345") == {"l1/s1": {"t1": "3", "t2": "0"}, "l2/s4": {"t1": "11"}}
    assert store.answers("ABCDE12345", "nothing") == {}


def test_hit_counts_attempts_in_a_window(store):
    assert all(store.hit("look:x", 3, 60) for _ in range(3))
    assert not store.hit("look:x", 3, 60)
    assert store.hit("look:y", 3, 60)                         # another bucket counts apart


def test_a_room_is_gone_after_its_until(store):
    store.create("ABCDE12345", record(), time.time() + 1)
    store.join("ABCDE12345", "ana", {"token": "t1", "nickname": "Ana"}, 5)
    assert store.get("ABCDE12345") is not None
    time.sleep(2.2)
    assert store.get("ABCDE12345") is None
    assert store.update("ABCDE12345", lambda r: r) is None
    assert store.join("ABCDE12345", "bo", {"token": "t2", "nickname": "Bo"}, 5) == MISSING
    assert store.create("ABCDE12345", record(prompt="new"), later())     # the code may be used again
    assert store.members("ABCDE12345") == []                             # with nothing of the old room
