"""ThreadPool: N sub-reactor threads, round-robin get_loop(), n == 0 mode."""
import threading

import pytest

from conftest import call_in_loop
from reactor import ThreadPool


@pytest.mark.parametrize("bad", [-1, "2", 1.5, True, None])
def test_bad_thread_count(loop, bad):
    with pytest.raises(ValueError):
        ThreadPool(loop, bad)


def test_zero_threads_uses_base_loop(loop):
    inits = []
    pool = ThreadPool(loop, 0, init_callback=inits.append)
    pool.start()
    try:
        assert pool.started
        assert inits == [loop]
        assert pool.get_loop() is loop
        assert pool.get_loop() is loop
        assert pool.loops == [loop]
    finally:
        pool.stop()


@pytest.mark.parametrize("n", [1, 4])
def test_round_robin(loop, dispatcher, n):
    pool = ThreadPool(loop, n, dispatcher=dispatcher, name="rr")
    pool.start()
    try:
        loops = pool.loops
        assert len(loops) == n and loop not in loops
        got = [pool.get_loop() for _ in range(3 * n)]
        assert got == loops * 3
        threads = {call_in_loop(lp, threading.current_thread) for lp in loops}
        assert len(threads) == n
        assert threading.current_thread() not in threads
        assert all(lp.dispatcher_name == dispatcher for lp in loops)
        assert sorted(t.name for t in threads) == ["rr-io-%d" % (i + 1) for i in range(n)]
    finally:
        pool.stop()
    assert all(lp.closed for lp in loops)
    assert pool.get_loop() is loop          # after stop: back to the base loop


def test_init_callback_runs_in_each_thread(loop, dispatcher):
    seen = []
    lock = threading.Lock()

    def init(lp):
        with lock:
            seen.append((lp, threading.current_thread()))

    pool = ThreadPool(loop, 3, dispatcher=dispatcher, init_callback=init)
    pool.start()
    try:
        assert [lp for lp, _ in seen] == pool.loops
        assert len({t for _, t in seen}) == 3
    finally:
        pool.stop()


def test_failing_init_stops_started_threads(loop, dispatcher):
    count = []

    def init(lp):
        count.append(lp)
        if len(count) == 2:
            raise OSError("second thread cannot start")

    pool = ThreadPool(loop, 3, dispatcher=dispatcher, init_callback=init)
    with pytest.raises(RuntimeError):
        pool.start()
    assert pool.loops == [loop]
    # the autouse fixture checks the first thread was joined


def test_start_twice_raises(loop, dispatcher):
    pool = ThreadPool(loop, 1, dispatcher=dispatcher)
    pool.start()
    try:
        with pytest.raises(RuntimeError):
            pool.start()
    finally:
        pool.stop()


def test_stop_without_start_and_twice(loop):
    pool = ThreadPool(loop, 2)
    pool.stop()
    pool.start()
    pool.stop()
    pool.stop()


def test_100_start_stop_cycles(loop, dispatcher):
    for _ in range(100):
        pool = ThreadPool(loop, 3, dispatcher=dispatcher)
        pool.start()
        assert len(pool.loops) == 3
        pool.stop()
    # no fd or thread left: checked by the autouse fixture
