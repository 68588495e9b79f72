"""Where rooms live: one small interface, two back ends, shared by every app process.

A room is a small JSON record (its lesson, step, prompt, reveals, expiry) plus its members and their
answers. Nothing of it stays in one process's memory: every replica behind the proxy reads the same
store, so a student on replica 2 follows a teacher on replica 1.

    SQLiteStore   the embedded default: one file, WAL mode (readers never wait for the one writer),
                  for several processes on one machine (scripts/serve_class.sh's replicas)
    RedisStore    when RWKV_ROOMS_REDIS=redis://host:6379/0 is set: replicas on several machines

Both keep a room's data until `until` (epoch seconds: the room's expiry plus a grace period, so that
a late student is told "expired" rather than "no such room"), and both do every change that must
not race as one atomic operation: a transaction (BEGIN IMMEDIATE) or a Redis script / WATCH.
tests/test_rooms_store.py runs the same tests against both, with a real redis-server.
"""
from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ENV_REDIS = "RWKV_ROOMS_REDIS"       # redis://host:port/db: use Redis
ENV_SQLITE = "RWKV_ROOMS_DB"         # a file for SQLite (default: rwkv-rooms.sqlite3 in the temp folder)
JOINED, TAKEN, FULL, MISSING = "joined", "taken", "full", "missing"


class Store:
    """The interface. Records are plain dicts (JSON); values of answers are short strings."""

    def create(self, code: str, record: dict, until: float) -> bool:
        """Store a new room; False (and nothing changed) when the code is in use."""
        raise NotImplementedError

    def get(self, code: str) -> dict | None:
        """The room's record, None when there is none (or its data has been dropped)."""
        raise NotImplementedError

    def update(self, code: str, change: Callable[[dict], dict]) -> dict | None:
        """Replace the record by change(record), atomically; the new record, None without a room."""
        raise NotImplementedError

    def join(self, code: str, name_key: str, member: dict, capacity: int) -> str:
        """Add a member (member["token"] is theirs) unless the name is taken or the room is full:
        JOINED, TAKEN, FULL or MISSING, checked and written as one step."""
        raise NotImplementedError

    def member(self, code: str, token: str) -> dict | None:
        raise NotImplementedError

    def members(self, code: str) -> list[dict]:
        """Every member, in the order they joined."""
        raise NotImplementedError

    def put_answer(self, code: str, qid: str, token: str, value: str) -> None:
        """A member's answer to a question (a second answer replaces the first)."""
        raise NotImplementedError

    def answers(self, code: str, qid: str) -> dict[str, str]:
        """token -> answer for one question."""
        raise NotImplementedError

    def all_answers(self, code: str) -> dict[str, dict[str, str]]:
        """question id -> token -> answer."""
        raise NotImplementedError

    def hit(self, bucket: str, limit: int, window_s: int) -> bool:
        """Count one attempt in `bucket`'s current window of `window_s` seconds; False past `limit`."""
        raise NotImplementedError


# --- SQLite ---------------------------------------------------------------------------------------

SCHEMA = """
CREATE TABLE IF NOT EXISTS rooms (code TEXT PRIMARY KEY, record TEXT NOT NULL, until REAL NOT NULL);
CREATE TABLE IF NOT EXISTS members (code TEXT, name_key TEXT, token TEXT, record TEXT, seq INTEGER,
                                    PRIMARY KEY (code, name_key), UNIQUE (code, token));
CREATE TABLE IF NOT EXISTS answers (code TEXT, qid TEXT, token TEXT, value TEXT, PRIMARY KEY (code, qid, token));
CREATE TABLE IF NOT EXISTS limits (bucket TEXT PRIMARY KEY, window INTEGER, count INTEGER);
"""


def default_sqlite_path() -> Path:
    return Path(os.environ.get(ENV_SQLITE) or Path(tempfile.gettempdir()) / "rwkv-rooms.sqlite3")


class SQLiteStore(Store):
    """One file shared by the processes of one machine. A connection per thread (Streamlit runs
    each session's script in a thread of its own); autocommit, with BEGIN IMMEDIATE around each
    read-modify-write so that two writers take turns (busy_timeout waits for the other)."""

    def __init__(self, path: Path | str):
        self.path = str(path)
        self._local = threading.local()
        with self._db() as db:
            db.executescript(SCHEMA)

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")      # WAL: durable at checkpoints, never corrupt
            self._local.db = db
        return db

    def _write(self, work: Callable[[sqlite3.Connection], object]):
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            out = work(db)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return out

    def _live(self, db: sqlite3.Connection, code: str) -> dict | None:
        row = db.execute("SELECT record FROM rooms WHERE code = ? AND until > ?", (code, time.time())).fetchone()
        return json.loads(row[0]) if row else None

    def create(self, code: str, record: dict, until: float) -> bool:
        def work(db):
            gone = [r[0] for r in db.execute("SELECT code FROM rooms WHERE until <= ?", (time.time(),))]
            for table in ("rooms", "members", "answers"):      # expired rooms leave nothing behind
                db.executemany(f"DELETE FROM {table} WHERE code = ?", [(c,) for c in gone])
            if db.execute("SELECT 1 FROM rooms WHERE code = ?", (code,)).fetchone():
                return False
            db.execute("INSERT INTO rooms VALUES (?, ?, ?)", (code, json.dumps(record), until))
            return True
        return self._write(work)

    def get(self, code: str) -> dict | None:
        return self._live(self._db(), code)

    def update(self, code: str, change: Callable[[dict], dict]) -> dict | None:
        def work(db):
            record = self._live(db, code)
            if record is None:
                return None
            new = change(record)
            db.execute("UPDATE rooms SET record = ? WHERE code = ?", (json.dumps(new), code))
            return new
        return self._write(work)

    def join(self, code: str, name_key: str, member: dict, capacity: int) -> str:
        def work(db):
            if self._live(db, code) is None:
                return MISSING
            if db.execute("SELECT 1 FROM members WHERE code = ? AND name_key = ?", (code, name_key)).fetchone():
                return TAKEN
            (n,) = db.execute("SELECT COUNT(*) FROM members WHERE code = ?", (code,)).fetchone()
            if n >= capacity:
                return FULL
            db.execute("INSERT INTO members VALUES (?, ?, ?, ?, ?)",
                       (code, name_key, member["token"], json.dumps(member), n))
            return JOINED
        return self._write(work)

    def member(self, code: str, token: str) -> dict | None:
        row = self._db().execute("SELECT record FROM members WHERE code = ? AND token = ?", (code, token)).fetchone()
        return json.loads(row[0]) if row else None

    def members(self, code: str) -> list[dict]:
        rows = self._db().execute("SELECT record FROM members WHERE code = ? ORDER BY seq", (code,))
        return [json.loads(r[0]) for r in rows]

    def put_answer(self, code: str, qid: str, token: str, value: str) -> None:
        self._write(lambda db: db.execute("INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?)",
                                          (code, qid, token, value)))

    def answers(self, code: str, qid: str) -> dict[str, str]:
        rows = self._db().execute("SELECT token, value FROM answers WHERE code = ? AND qid = ?", (code, qid))
        return dict(rows.fetchall())

    def all_answers(self, code: str) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for qid, token, value in self._db().execute("SELECT qid, token, value FROM answers WHERE code = ?", (code,)):
            out.setdefault(qid, {})[token] = value
        return out

    def hit(self, bucket: str, limit: int, window_s: int) -> bool:
        window = int(time.time() // window_s)

        def work(db):
            row = db.execute("SELECT window, count FROM limits WHERE bucket = ?", (bucket,)).fetchone()
            count = row[1] + 1 if row and row[0] == window else 1
            db.execute("INSERT OR REPLACE INTO limits VALUES (?, ?, ?)", (bucket, window, count))
            return count <= limit
        return self._write(work)


# --- Redis ----------------------------------------------------------------------------------------

# join as one step on the server: the room exists, the name is free, the room is not full
JOIN_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 'taken' end
if redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[4]) then return 'full' end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[1])
redis.call('RPUSH', KEYS[4], ARGV[1])
local at = redis.call('GET', KEYS[5])
for i = 2, 4 do redis.call('EXPIREAT', KEYS[i], at) end
return 'joined'
"""


class RedisStore(Store):
    """Keys under room:{code}: the record (a string), :members (hash name_key -> member),
    :tokens (hash token -> name_key), :order (list), :ans:{qid} (hash token -> answer), :qids (set),
    :until; each expires at the room's `until`."""

    def __init__(self, url: str):
        import redis  # only where Redis is configured
        self.redis = redis.Redis.from_url(url, decode_responses=True, socket_timeout=5)
        self._join = self.redis.register_script(JOIN_LUA)
        self._watch_error = redis.WatchError

    @staticmethod
    def _k(code: str, part: str = "") -> str:
        return f"room:{code}" + (f":{part}" if part else "")

    def _until(self, code: str) -> int:
        return int(float(self.redis.get(self._k(code, "until")) or time.time()))

    def create(self, code: str, record: dict, until: float) -> bool:
        at = int(until)
        if not self.redis.set(self._k(code), json.dumps(record), nx=True, exat=at):
            return False
        self.redis.set(self._k(code, "until"), at, exat=at)
        return True

    def get(self, code: str) -> dict | None:
        raw = self.redis.get(self._k(code))
        return json.loads(raw) if raw else None

    def update(self, code: str, change: Callable[[dict], dict]) -> dict | None:
        key = self._k(code)
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    if raw is None:
                        return None
                    new = change(json.loads(raw))
                    pipe.multi()
                    pipe.set(key, json.dumps(new), keepttl=True)
                    pipe.execute()
                    return new
                except self._watch_error:        # another process changed it between: read it again
                    continue

    def join(self, code: str, name_key: str, member: dict, capacity: int) -> str:
        keys = [self._k(code), self._k(code, "members"), self._k(code, "tokens"), self._k(code, "order"),
                self._k(code, "until")]
        return self._join(keys=keys, args=[name_key, member["token"], json.dumps(member), capacity])

    def member(self, code: str, token: str) -> dict | None:
        name_key = self.redis.hget(self._k(code, "tokens"), token)
        raw = self.redis.hget(self._k(code, "members"), name_key) if name_key else None
        return json.loads(raw) if raw else None

    def members(self, code: str) -> list[dict]:
        order = self.redis.lrange(self._k(code, "order"), 0, -1)
        if not order:
            return []
        raws = self.redis.hmget(self._k(code, "members"), order)
        return [json.loads(r) for r in raws if r]

    def put_answer(self, code: str, qid: str, token: str, value: str) -> None:
        at = self._until(code)
        pipe = self.redis.pipeline()            # MULTI/EXEC: the answer and its question's index together
        pipe.hset(self._k(code, f"ans:{qid}"), token, value)
        pipe.sadd(self._k(code, "qids"), qid)
        pipe.expireat(self._k(code, f"ans:{qid}"), at)
        pipe.expireat(self._k(code, "qids"), at)
        pipe.execute()

    def answers(self, code: str, qid: str) -> dict[str, str]:
        return self.redis.hgetall(self._k(code, f"ans:{qid}"))

    def all_answers(self, code: str) -> dict[str, dict[str, str]]:
        return {q: self.answers(code, q) for q in sorted(self.redis.smembers(self._k(code, "qids")))}

    def hit(self, bucket: str, limit: int, window_s: int) -> bool:
        key = f"limit:{bucket}:{int(time.time() // window_s)}"
        pipe = self.redis.pipeline()
        pipe.incr(key)
        pipe.expire(key, window_s * 2)
        count, _ = pipe.execute()
        return count <= limit


def open_store() -> Store:
    """Redis when RWKV_ROOMS_REDIS names one, otherwise the SQLite file (RWKV_ROOMS_DB or the default)."""
    url = os.environ.get(ENV_REDIS, "").strip()
    return RedisStore(url) if url else SQLiteStore(default_sqlite_path())
