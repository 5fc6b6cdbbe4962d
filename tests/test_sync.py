"""Mutex and Cond: the pthread wrappers the start handshake is built on."""
import threading
import time

import pytest

from reactor import Cond, Mutex


def run_thread(fn, *args):
    t = threading.Thread(target=fn, args=args, daemon=True)
    t.start()
    return t


def join(t, timeout=5.0):
    t.join(timeout)
    assert not t.is_alive(), "thread did not finish within %.1fs" % timeout


# ---- Mutex ---------------------------------------------------------------------

def test_lock_unlock():
    m = Mutex()
    assert not m.locked()
    m.lock()
    assert m.locked()
    assert m.is_held_by_current_thread()
    m.unlock()
    assert not m.locked()
    assert not m.is_held_by_current_thread()
    m.lock()                    # can be taken again after release
    m.unlock()


def test_context_manager():
    m = Mutex()
    with m as held:
        assert held is m
        assert m.is_held_by_current_thread()
    assert not m.locked()


def test_context_manager_releases_on_exception():
    m = Mutex()
    with pytest.raises(KeyError):
        with m:
            raise KeyError("boom")
    assert not m.locked()


def test_not_reentrant():
    m = Mutex()
    with m:
        with pytest.raises(RuntimeError):
            m.lock()
        with pytest.raises(RuntimeError):
            with m:
                pass
        assert m.is_held_by_current_thread()   # the failed lock changed nothing
    assert not m.locked()


def test_unlock_when_not_held_raises():
    m = Mutex()
    with pytest.raises(RuntimeError):
        m.unlock()
    assert not m.locked()


def test_unlock_by_non_owner_raises():
    m = Mutex()
    m.lock()
    errors = []

    def other():
        try:
            m.unlock()
        except RuntimeError as exc:
            errors.append(exc)

    join(run_thread(other))
    assert len(errors) == 1
    assert m.is_held_by_current_thread()       # still ours
    m.unlock()


def test_try_lock():
    m = Mutex()
    assert m.try_lock()
    assert m.is_held_by_current_thread()
    results = []
    join(run_thread(lambda: results.append(m.try_lock())))
    assert results == [False]
    m.unlock()
    join(run_thread(lambda: results.append(m.try_lock() and (m.unlock() or True))))
    assert results == [False, True]


def test_contended_lock_releases_gil():
    # The waiter blocks in lock() while the holder needs the GIL to unlock:
    # this deadlocks unless lock() releases the GIL while it waits.
    m = Mutex()
    acquired = threading.Event()
    m.lock()

    def waiter():
        m.lock()
        acquired.set()
        m.unlock()

    t = run_thread(waiter)
    time.sleep(0.1)             # let the waiter block in lock()
    assert not acquired.is_set()
    total = sum(range(10000))   # Python work while the waiter is blocked
    m.unlock()
    join(t)
    assert acquired.is_set() and total


def test_mutual_exclusion():
    m = Mutex()
    state = {"n": 0, "inside": 0, "overlap": False}

    def worker():
        for _ in range(2000):
            with m:
                state["inside"] += 1
                if state["inside"] != 1:
                    state["overlap"] = True
                state["n"] += 1
                state["inside"] -= 1

    threads = [run_thread(worker) for _ in range(4)]
    for t in threads:
        join(t, 30)
    assert state["n"] == 8000
    assert not state["overlap"]


@pytest.mark.parametrize("bad", [None, "x", 1])
def test_cond_wait_wrong_types(bad):
    with pytest.raises(TypeError):
        Cond().wait(bad)


# ---- Cond --------------------------------------------------------------------------

def test_cond_wait_timeout_returns_false():
    m, c = Mutex(), Cond()
    with m:
        t0 = time.monotonic()
        assert c.wait(m, 0.05) is False
        elapsed = time.monotonic() - t0
        assert m.is_held_by_current_thread()   # held again on return
    assert elapsed >= 0.04


def test_cond_wait_zero_timeout():
    m, c = Mutex(), Cond()
    with m:
        assert c.wait(m, 0) is False
        assert m.is_held_by_current_thread()


def test_cond_wait_without_mutex_raises():
    m, c = Mutex(), Cond()
    with pytest.raises(RuntimeError):
        c.wait(m)
    with pytest.raises(RuntimeError):
        c.wait(m, 0.01)
    assert not m.locked()


def test_cond_wait_with_mutex_of_other_thread_raises():
    m, c = Mutex(), Cond()
    m.lock()
    errors = []

    def other():
        try:
            c.wait(m, 0.01)
        except RuntimeError as exc:
            errors.append(exc)

    join(run_thread(other))
    m.unlock()
    assert len(errors) == 1


def test_cond_bad_timeout():
    m, c = Mutex(), Cond()
    with m:
        with pytest.raises(ValueError):
            c.wait(m, -1)
        with pytest.raises(TypeError):
            c.wait(m, "1")
        assert m.is_held_by_current_thread()


def test_cond_wait_releases_mutex_while_asleep():
    m, c = Mutex(), Cond()
    flag = []
    ready = threading.Event()

    def waiter():
        with m:
            ready.set()
            while not flag:
                c.wait(m, 5)
            flag.append(m.is_held_by_current_thread())

    t = run_thread(waiter)
    assert ready.wait(5)
    with m:                     # only possible because the waiter released it
        flag.append("go")
        c.signal()
    join(t)
    assert flag == ["go", True]


def test_signal_wakes_one_waiter_broadcast_wakes_all():
    m, c = Mutex(), Cond()
    state = {"tokens": 0, "waiting": 0, "done": 0}

    def waiter():
        with m:
            state["waiting"] += 1
            while state["tokens"] == 0:
                c.wait(m)
            state["tokens"] -= 1
            state["done"] += 1

    threads = [run_thread(waiter) for _ in range(3)]

    def count(key):
        with m:
            return state[key]

    deadline = time.monotonic() + 5
    while count("waiting") < 3 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert count("waiting") == 3

    with m:
        state["tokens"] = 1
        c.signal()
    deadline = time.monotonic() + 5
    while count("done") < 1 and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.05)
    assert count("done") == 1   # exactly one token was available

    with m:
        state["tokens"] = 2
        c.broadcast()
    for t in threads:
        join(t)
    assert count("done") == 3


def test_notify_is_signal():
    m, c = Mutex(), Cond()
    box = []

    def waiter():
        with m:
            while not box:
                c.wait(m, 5)

    t = run_thread(waiter)
    time.sleep(0.05)
    with m:
        box.append(1)
        c.notify()
    join(t)


def test_signal_without_waiters_is_harmless():
    c = Cond()
    c.signal()
    c.broadcast()
    m = Mutex()
    with m:
        assert c.wait(m, 0.01) is False     # a signal is not remembered
