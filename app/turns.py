"""Page runs take turns: a class opening the app at the same moment.

Every session's script runs in a thread of its own, and all of them at once share the interpreter
lock, so each page took as long as all of them together (60 students: every first page at ~6 s, the
last student's and the first's alike). Here page runs take turns instead, PAGE_RUNS at a time (one
per core), in the order they asked: the first students get their page at once, the last when their
turn comes, and the server spends less time handing the lock round.

A long run must not hold the others back: when every turn has been held for longer than LONG_RUN_S
(a lesson's training step, ~18 s), a waiting run goes on without one, as all runs did before. Except
on a fresh server, until its first run has finished: that run imports torch and the app (seconds on a
loaded machine), which every other run needs too and would only slow down by doing at the same time.
The router (app/streamlit_app.py) runs a session's first page (the class opening at once) in its turn;
later runs take none: queued two at a time, 60 students reading their prompts within seconds of each
other waited up to 6 s (scripts/load_test.py), and fragment reruns (the Explorer's Step) never pass there.

An ordinary module without Streamlit (tests/test_turns.py).
"""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

PAGE_RUNS = 2            # page runs at a time: one per core of a 2-core class server
LONG_RUN_S = 5.0         # a turn held longer than this is a long run's: waiting runs then go on
CHECK_S = 0.25           # how often a waiting run looks at how long the turns have been held


class Turns:
    """PAGE_RUNS turns, handed to waiting runs first come, first served."""

    def __init__(self, n: int = PAGE_RUNS, long_s: float = LONG_RUN_S):
        self.n, self.long_s = n, long_s
        self.lock = threading.Lock()
        self.held: dict[threading.Event, float] = {}       # turn → when it was taken (monotonic s)
        self.queue: deque[threading.Event] = deque()        # the waiting runs, first come first
        self.warm = False                                    # a run has finished: the imports are done

    def take(self) -> threading.Event | None:
        """A turn, once one is free and every run that asked before has had one; None when every
        turn has been held longer than long_s (the run then goes on without one)."""
        ticket = threading.Event()
        with self.lock:
            if len(self.held) < self.n and not self.queue:
                self.held[ticket] = time.monotonic()
                return ticket
            self.queue.append(ticket)
        while not ticket.wait(CHECK_S):
            with self.lock:
                if ticket.is_set():                          # handed over just now
                    break
                now = time.monotonic()
                if self.warm and all(now - since > self.long_s for since in self.held.values()):
                    self.queue.remove(ticket)
                    return None
        return ticket

    def give_back(self, ticket: threading.Event) -> None:
        """The turn goes to the run that has waited longest."""
        with self.lock:
            del self.held[ticket]
            self.warm = True
            if self.queue:
                nxt = self.queue.popleft()
                self.held[nxt] = time.monotonic()
                nxt.set()


TURNS = Turns()


@contextmanager
def page_turn(turns: Turns = TURNS, *, take: bool = True) -> Iterator[bool]:
    """Run the block in its turn; yields whether it got one (False: the turns were held by long runs
    and it runs without, or `take` was False). The turn is given back however the block ends (a
    rerun or a stop raises through it)."""
    ticket = turns.take() if take else None
    try:
        yield ticket is not None
    finally:
        if ticket is not None:
            turns.give_back(ticket)
