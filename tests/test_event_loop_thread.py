"""EventLoopThread: the Mutex/Cond start handshake, stop/join, and many
start/stop cycles without leaking fds or threads."""
import threading
import time

import pytest

from conftest import call_in_loop, wait_for
from reactor import EventLoop, EventLoopThread


def test_start_returns_running_usable_loop(dispatcher):
    et = EventLoopThread(name="elt-test", dispatcher=dispatcher)
    assert et.loop is None and not et.is_alive()
    loop = et.start()
    try:
        assert isinstance(loop, EventLoop)
        assert loop is et.loop
        assert loop.dispatcher_name == dispatcher
        assert et.is_alive()
        assert et.thread.name == "elt-test"
        assert not loop.is_in_loop_thread()
        assert call_in_loop(loop, threading.current_thread) is et.thread
        assert call_in_loop(loop, loop.is_in_loop_thread)
        assert wait_for(lambda: loop.running)
    finally:
        et.stop()
    assert not et.is_alive()
    assert loop.closed                      # closed in its own thread


def test_slow_child_initialisation(dispatcher):
    # the child sleeps before it signals: start() must still wait for it
    seen = []

    def init(loop):
        time.sleep(0.2)
        seen.append((loop, threading.current_thread()))

    et = EventLoopThread(dispatcher=dispatcher, init_callback=init)
    t0 = time.monotonic()
    loop = et.start()
    try:
        assert loop is not None
        assert time.monotonic() - t0 >= 0.19
        assert seen == [(loop, et.thread)]  # init ran in the child, before start() returned
        done = threading.Event()
        loop.queue_in_loop(done.set)
        assert done.wait(5)
    finally:
        et.stop()


def test_slow_parent_child_already_signalled(dispatcher):
    # the child finishes before the parent waits: the predicate is already
    # true and start() must not block
    et = EventLoopThread(dispatcher=dispatcher)
    loop = et.start()
    et.stop()
    et2 = EventLoopThread(dispatcher=dispatcher, init_callback=lambda lp: None)
    loop2 = et2.start()
    try:
        assert loop2 is not None and loop2 is not loop
    finally:
        et2.stop()


def test_init_callback_error_is_raised_by_start(dispatcher):
    def init(loop):
        raise KeyError("init failed")

    et = EventLoopThread(dispatcher=dispatcher, init_callback=init)
    with pytest.raises(RuntimeError) as info:
        et.start()
    assert isinstance(info.value.__cause__, KeyError)
    assert not et.is_alive()
    assert et.loop is None


def test_bad_dispatcher_name_is_raised_by_start():
    et = EventLoopThread(dispatcher="kqueue")
    with pytest.raises(RuntimeError) as info:
        et.start()
    assert isinstance(info.value.__cause__, ValueError)
    assert not et.is_alive()


def test_start_twice_raises(dispatcher):
    et = EventLoopThread(dispatcher=dispatcher)
    et.start()
    try:
        with pytest.raises(RuntimeError):
            et.start()
    finally:
        et.stop()
    with pytest.raises(RuntimeError):
        et.start()                          # not after stop either


def test_stop_is_idempotent_and_safe_before_start(dispatcher):
    et = EventLoopThread(dispatcher=dispatcher)
    et.stop()                               # never started: no-op
    loop = et.start()
    et.stop()
    et.stop()
    assert not et.is_alive()
    with pytest.raises(RuntimeError):
        loop.queue_in_loop(lambda: None)    # the loop is closed after stop
    with pytest.raises(RuntimeError):
        loop.run_in_loop(lambda: None)
    loop.stop()                             # harmless


def test_stop_from_inside_the_loop(dispatcher):
    et = EventLoopThread(dispatcher=dispatcher)
    loop = et.start()
    loop.queue_in_loop(et.stop)             # the thread does not join itself
    et.thread.join(5)
    assert not et.is_alive()
    assert loop.closed
    et.stop()


def test_stop_while_functors_are_queued(dispatcher):
    et = EventLoopThread(dispatcher=dispatcher)
    loop = et.start()
    for _ in range(1000):
        loop.queue_in_loop(lambda: None)
    et.stop()
    assert not et.is_alive()


def test_100_start_stop_cycles(dispatcher):
    for i in range(100):
        et = EventLoopThread(name="cycle-%d" % i, dispatcher=dispatcher)
        loop = et.start()
        assert loop is not None
        if i % 10 == 0:
            assert call_in_loop(loop, lambda: 42) == 42
        et.stop()
        assert not et.is_alive()
    # the autouse fixture checks that no fd or thread was left behind


def test_100_cycles_with_slow_init(dispatcher):
    def init(loop):
        time.sleep(0.001)

    for _ in range(100):
        et = EventLoopThread(dispatcher=dispatcher, init_callback=init)
        assert et.start() is not None
        et.stop()


def test_concurrent_starts_from_many_threads(dispatcher):
    ets = [EventLoopThread(dispatcher=dispatcher) for _ in range(8)]
    loops = [None] * len(ets)

    def starter(i):
        loops[i] = ets[i].start()

    ts = [threading.Thread(target=starter, args=(i,)) for i in range(len(ets))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(10)
    try:
        assert all(isinstance(lp, EventLoop) for lp in loops)
        assert len({id(lp) for lp in loops}) == len(loops)
    finally:
        for et in ets:
            et.stop()
