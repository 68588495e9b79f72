"""Page runs take turns (app/turns.py): at most PAGE_RUNS at once, first come first served, a turn
given back however a run ends, and runs go on without a turn while long runs hold every turn."""
import threading
import time

import pytest

from app import turns


@pytest.mark.parametrize("n", [1, 2])
def test_runs_take_turns_n_at_a_time_first_come_first_served(n):
    t = turns.Turns(n=n, long_s=30)
    inside, most, order, lock = [0], [0], [], threading.Lock()
    gate = threading.Event()

    def run(i):
        with turns.page_turn(t) as got:
            assert got
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
                order.append(i)
            gate.wait(5)
            time.sleep(0.02)
            with lock:
                inside[0] -= 1

    threads = []
    for i in range(6):
        threads.append(threading.Thread(target=run, args=(i,)))
        threads[-1].start()
        time.sleep(0.05)                          # each asks after the one before
    gate.set()
    for th in threads:
        th.join(10)
    assert most[0] == n and sorted(order) == list(range(6)) and not t.held and not t.queue
    if n == 1:                                    # one at a time: they ran in the order they asked
        assert order == list(range(6))


def test_a_turn_is_given_back_when_the_run_raises():
    t = turns.Turns(n=1, long_s=30)
    for _ in range(3):
        with pytest.raises(RuntimeError), turns.page_turn(t):
            raise RuntimeError("a rerun or a stop raises through the page")
    assert not t.held
    with turns.page_turn(t) as got:
        assert got


def test_long_runs_do_not_hold_the_others_back_once_the_server_is_warm():
    t = turns.Turns(n=1, long_s=0.3)
    first = t.take()                              # a fresh server's first run (its imports): the others wait
    waiting = threading.Thread(target=t.take)
    waiting.start()
    time.sleep(0.8)
    assert len(t.queue) == 1 and not t.warm
    t.give_back(first)                            # handed to the waiting run, which keeps it (a long run)
    waiting.join(5)
    assert t.warm and len(t.held) == 1
    t0 = time.monotonic()
    with turns.page_turn(t) as got:
        waited = time.monotonic() - t0
    assert not got and 0.3 <= waited < 3 and not t.queue
    t.give_back(next(iter(t.held)))
    with turns.page_turn(t) as got:
        assert got


def test_a_run_that_takes_no_turn_never_waits():
    t = turns.Turns(n=1, long_s=30)
    held = t.take()
    t0 = time.monotonic()
    with turns.page_turn(t, take=False) as got:
        assert not got and time.monotonic() - t0 < 0.1 and not t.queue
    t.give_back(held)
