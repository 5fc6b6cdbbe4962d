"""EventLoop: run/stop, the functor queue and its wakeup, the pending channel
list, timers (order, cancel, run_every, rearm) and use after close.  Every
test runs under both dispatchers (the ``dispatcher`` fixture)."""
import ctypes
import gc
import socket
import statistics
import struct
import threading
import time

import pytest

from conftest import call_in_loop, run_loop_for, run_loop_until, wait_for
from reactor import Channel, EventLoop, EventLoopThread, TimerHandle, make_dispatcher


def heap_size(loop):
    """Entries in the loop's timer heap (a cdef list, reached through the GC)."""
    for ref in gc.get_referents(loop):
        if isinstance(ref, list) and ref and type(ref[0]).__name__ == "_HeapEntry":
            return len(ref)
    return 0


class LoopInThread:
    """Run an existing loop's ``run()`` in a background thread."""

    def __init__(self, loop):
        self.loop = loop
        self.error = None
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.thread.start()
        assert wait_for(lambda: loop.running), "loop did not start"

    def _main(self):
        try:
            self.loop.run()
        except BaseException as exc:
            self.error = exc

    def stop(self):
        self.loop.stop()
        self.thread.join(5)
        assert not self.thread.is_alive(), "loop did not stop"
        assert self.error is None


@pytest.fixture
def bg(loop):
    runners = []

    def start():
        r = LoopInThread(loop)
        runners.append(r)
        return r

    yield start
    for r in runners:
        if r.thread.is_alive():
            r.stop()


# ---- construction, run, stop ---------------------------------------------------------

def test_construction(dispatcher):
    lp = EventLoop(dispatcher, name="x")
    try:
        assert lp.dispatcher_name == dispatcher
        assert lp.name == "x"
        assert not lp.running and not lp.closed
        assert lp.is_in_loop_thread()
        lp.assert_in_loop_thread()
        assert len(lp.channels) == 0         # the wakeup fd is not a channel
        assert "x" in repr(lp)
    finally:
        lp.close()
    assert lp.closed


def test_construction_with_dispatcher_instance(dispatcher):
    d = make_dispatcher(dispatcher)
    lp = EventLoop(d)
    try:
        assert lp.dispatcher_name == dispatcher
    finally:
        lp.close()


def test_construction_bad_dispatcher():
    with pytest.raises(ValueError):
        EventLoop("kqueue")
    with pytest.raises(TypeError):
        EventLoop(42)


def test_run_once_and_run_stop(loop):
    calls = []
    loop.queue_in_loop(lambda: calls.append("f"))
    loop.run_once()
    assert calls == ["f"]
    assert not loop.running
    loop.run_after(0.01, lambda: (calls.append("t"), loop.stop()))
    loop.run()
    assert calls == ["f", "t"]


def test_run_while_running_raises(loop):
    errors = []

    def nested():
        try:
            loop.run()
        except RuntimeError as exc:
            errors.append(exc)
        loop.stop()

    loop.queue_in_loop(nested)
    loop.run()
    assert len(errors) == 1


def test_stop_from_other_thread_wakes_blocked_loop(loop, bg):
    r = bg()                        # no timers: dispatch waits forever
    time.sleep(0.05)
    t0 = time.monotonic()
    r.stop()
    assert time.monotonic() - t0 < 2.0
    assert not loop.running


def test_loop_thread_identity(loop, bg):
    assert loop.is_in_loop_thread()
    r = bg()                        # run() makes the runner thread the owner
    assert not loop.is_in_loop_thread()
    with pytest.raises(RuntimeError):
        loop.assert_in_loop_thread()
    assert call_in_loop(loop, loop.is_in_loop_thread) is True
    assert call_in_loop(loop, threading.current_thread) is r.thread
    call_in_loop(loop, loop.assert_in_loop_thread)
    r.stop()


# ---- functors and wakeup --------------------------------------------------------------

def test_run_in_loop_runs_inline_in_loop_thread(loop):
    calls = []
    loop.run_in_loop(lambda: calls.append(1))
    assert calls == [1]             # not queued: we are the loop's thread


def test_queue_in_loop_runs_later_in_order(loop):
    calls = []
    for i in range(5):
        loop.queue_in_loop(lambda i=i: calls.append(i))
    assert calls == []
    assert loop.pending_functors() == 5
    loop.run_once()
    assert calls == [0, 1, 2, 3, 4]
    assert loop.pending_functors() == 0


def test_queue_in_loop_wakes_loop_sleeping_in_dispatch(loop, bg):
    # The loop sleeps in dispatch with a 10 s timeout (its only timer); a
    # functor queued from another thread must run within 50 ms.
    loop.run_after(10, lambda: None)
    r = bg()
    latencies = []
    for _ in range(5):
        time.sleep(0.05)            # let the loop go back to sleep in dispatch
        done = threading.Event()
        ran_at = []
        t0 = time.monotonic()
        loop.queue_in_loop(lambda: (ran_at.append(time.monotonic()), done.set()))
        assert done.wait(5), "functor did not run while the loop slept"
        latencies.append(ran_at[0] - t0)
    r.stop()
    assert max(latencies) < 1.0
    assert statistics.median(latencies) < 0.050, latencies


def test_functor_queued_by_functor_runs_promptly(loop, bg):
    loop.run_after(10, lambda: None)
    bg()
    done = threading.Event()
    loop.queue_in_loop(lambda: loop.queue_in_loop(done.set))
    assert done.wait(2.0)


def test_run_in_loop_from_other_thread_is_queued(loop, bg):
    r = bg()
    where = []
    done = threading.Event()
    loop.run_in_loop(lambda: (where.append(threading.current_thread()), done.set()))
    assert done.wait(5)
    assert where == [r.thread]


def test_many_threads_queue_concurrently(loop, bg):
    bg()
    counts = []
    lock = threading.Lock()

    def add():
        with lock:
            counts.append(1)

    def producer():
        for _ in range(500):
            loop.queue_in_loop(add)

    ts = [threading.Thread(target=producer) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(10)
    assert wait_for(lambda: len(counts) == 2000, 10)


def test_functor_exception_is_logged_and_loop_continues(loop, caplog):
    calls = []
    loop.queue_in_loop(lambda: 1 / 0)
    loop.queue_in_loop(lambda: calls.append("after"))
    loop.run_once()
    assert calls == ["after"]
    assert "ZeroDivisionError" in caplog.text


@pytest.mark.parametrize("bad", [None, 42, "text"])
def test_queue_non_callable_raises(loop, bg, bad):
    with pytest.raises(TypeError):
        loop.queue_in_loop(bad)
    with pytest.raises(TypeError):
        loop.run_in_loop(bad)       # inline path
    bg()
    with pytest.raises(TypeError):
        loop.run_in_loop(bad)       # queued path


def test_wakeup_is_harmless(loop):
    for _ in range(10):
        loop.wakeup()
    loop.run_once()
    loop.run_once()


# ---- pending channel list ---------------------------------------------------------------

def test_channel_events_from_other_thread(loop, bg):
    a, b = socket.socketpair()
    try:
        got = []
        ch = Channel(loop, a.fileno(), read_callback=lambda: got.append(a.recv(100)))
        bg()
        # give the channel a READ mask in the loop thread, then unregister it
        call_in_loop(loop, ch.enable_reading)
        call_in_loop(loop, ch.remove)
        assert not call_in_loop(loop, lambda: loop.has_channel(ch))
        loop.add_channel_event(ch)          # from a foreign thread: via the pending list
        assert wait_for(lambda: call_in_loop(loop, lambda: loop.has_channel(ch)))
        b.sendall(b"hi")
        assert wait_for(lambda: got == [b"hi"])
        loop.update_channel_event(ch)       # same mask again: harmless
        loop.remove_channel_event(ch)
        assert wait_for(lambda: not call_in_loop(loop, lambda: loop.has_channel(ch)))
        b.sendall(b"ignored")
        time.sleep(0.05)
        assert got == [b"hi"]
    finally:
        a.close()
        b.close()


def test_channel_events_in_loop_thread_apply_at_once(loop):
    a, b = socket.socketpair()
    try:
        ch = Channel(loop, a.fileno())
        loop.add_channel_event(ch)
        assert loop.has_channel(ch)
        loop.remove_channel_event(ch)
        assert not loop.has_channel(ch)
    finally:
        a.close()
        b.close()


def test_close_drops_channels_but_not_their_fds(dispatcher):
    lp = EventLoop(dispatcher)
    a, b = socket.socketpair()
    try:
        ch = Channel(lp, a.fileno())
        ch.enable_reading()
        assert len(lp.channels) == 1
        lp.close()
        assert not ch.registered
        a.sendall(b"x")                 # fd still open
        assert b.recv(1) == b"x"
    finally:
        a.close()
        b.close()


# ---- timers ----------------------------------------------------------------------------------

def test_timers_fire_in_deadline_order(loop):
    order = []
    for delay, tag in [(0.03, "c"), (0.01, "a"), (0.02, "b"), (0.0, "0"), (-1, "neg")]:
        loop.run_after(delay, lambda tag=tag: order.append(tag))
    run_loop_until(loop, lambda: len(order) == 5)
    assert order[2:] == ["a", "b", "c"]
    assert set(order[:2]) == {"0", "neg"}


def test_equal_deadlines_fire_in_insertion_order(loop):
    order = []
    when = loop.time() + 0.01
    for i in range(20):
        loop.run_at(when, lambda i=i: order.append(i))
    run_loop_until(loop, lambda: len(order) == 20)
    assert order == list(range(20))


def test_cancel(loop):
    fired = []
    t1 = loop.run_after(0.01, lambda: fired.append(1))
    t2 = loop.run_after(0.02, lambda: fired.append(2))
    assert t1.active and t2.active
    t1.cancel()
    assert t1.cancelled and not t1.active
    loop.cancel(t2)
    loop.run_after(0.05, lambda: fired.append("end"))
    run_loop_until(loop, lambda: "end" in fired)
    assert fired == ["end"]
    t1.cancel()                         # idempotent
    with pytest.raises(TypeError):
        loop.cancel(None)
    with pytest.raises(TypeError):
        loop.cancel("timer")


def test_cancel_after_fire_is_noop(loop):
    fired = []
    t = loop.run_after(0, lambda: fired.append(1))
    run_loop_until(loop, lambda: fired)
    assert not t.active
    t.cancel()
    assert fired == [1]


def test_cancel_other_timer_from_callback(loop):
    fired = []
    later = loop.run_after(0.02, lambda: fired.append("later"))
    loop.run_after(0.01, later.cancel)
    loop.run_after(0.05, lambda: fired.append("end"))
    run_loop_until(loop, lambda: "end" in fired)
    assert fired == ["end"]


def test_run_every_repeats_until_cancelled(loop):
    ticks = []

    def tick():
        ticks.append(loop.time())
        if len(ticks) == 5:
            timer.cancel()

    timer = loop.run_every(0.01, tick)
    assert timer.interval == pytest.approx(0.01)
    run_loop_until(loop, lambda: len(ticks) == 5)
    run_loop_for(loop, 0.05)
    assert len(ticks) == 5
    assert ticks == sorted(ticks)
    assert ticks[-1] - ticks[0] >= 0.03    # four intervals of 10 ms, give or take


def test_run_every_survives_callback_errors(loop, caplog):
    ticks = []

    def tick():
        ticks.append(1)
        raise ValueError("tick failed")

    t = loop.run_every(0.005, tick)
    run_loop_until(loop, lambda: len(ticks) >= 3)
    t.cancel()
    assert "tick failed" in caplog.text


def test_timer_bad_input(loop):
    with pytest.raises(TypeError):
        loop.run_after(0.1, None)
    with pytest.raises(TypeError):
        loop.run_after(0.1, "not callable")
    with pytest.raises(TypeError):
        loop.run_after("soon", lambda: None)
    with pytest.raises(ValueError):
        loop.run_every(0, lambda: None)
    with pytest.raises(ValueError):
        loop.run_every(-1, lambda: None)
    with pytest.raises(TypeError):
        loop.run_every(1, 5)
    with pytest.raises(ValueError):
        loop.run_every(float("nan"), lambda: None)
    with pytest.raises(ValueError):
        loop.run_at(float("nan"), lambda: None)
    assert heap_size(loop) == 0


def test_rearm_later(loop):
    fired = []
    t = loop.run_after(0.03, lambda: fired.append(loop.time()))
    start = loop.time()
    t.rearm(0.5)
    run_loop_for(loop, 0.08)
    assert fired == []                  # the old deadline passed without firing
    assert t.active
    run_loop_until(loop, lambda: fired)
    assert fired[0] - start >= 0.49
    run_loop_for(loop, 0.05)
    assert len(fired) == 1


def test_rearm_earlier(loop):
    fired = []
    t = loop.run_after(0.6, lambda: fired.append(loop.time()))
    start = loop.time()
    t.rearm(0.01)
    run_loop_until(loop, lambda: fired)
    assert fired[0] - start < 0.5
    run_loop_for(loop, 0.65)            # past the original deadline
    assert len(fired) == 1              # the stale heap entry does not fire again
    assert heap_size(loop) == 0


def test_rearm_fired_timer_reactivates(loop):
    fired = []
    t = loop.run_after(0, lambda: fired.append(1))
    run_loop_until(loop, lambda: fired == [1])
    assert not t.active
    t.rearm(0.01)
    assert t.active
    run_loop_until(loop, lambda: fired == [1, 1])


def test_rearm_cancelled_timer_raises(loop):
    t = loop.run_after(1, lambda: None)
    t.cancel()
    with pytest.raises(RuntimeError):
        t.rearm(1)
    with pytest.raises(RuntimeError):
        TimerHandle().rearm(1)          # never armed: no loop, no callback
    with pytest.raises(TypeError):
        loop.run_after(1, lambda: None).rearm("1")


def test_rearm_run_every(loop):
    ticks = []
    t = loop.run_every(0.5, lambda: ticks.append(1))
    t.rearm(0.01)                       # first tick early, then every 0.5 s
    run_loop_until(loop, lambda: ticks)
    t.cancel()


def test_rearm_100k_times_later_is_cheap(loop):
    fired = []
    t = loop.run_after(5, lambda: fired.append(1))
    for i in range(100000):
        t.rearm(5 + i * 1e-6)
    assert heap_size(loop) == 1         # a later deadline is only a float store
    t.rearm(0.01)
    run_loop_until(loop, lambda: fired)
    run_loop_for(loop, 0.05)
    assert fired == [1]


def test_rearm_100k_times_alternating_does_not_grow_heap(loop):
    fired = []
    t = loop.run_after(5, lambda: fired.append(1))
    for i in range(100000):
        t.rearm(4 - i * 1e-5 if i % 2 else 6)   # earlier and later, over and over
    assert heap_size(loop) < 1000, heap_size(loop)
    t.rearm(0.01)
    run_loop_until(loop, lambda: fired)
    run_loop_for(loop, 0.05)
    assert fired == [1]


def test_many_timers_cancelled_do_not_accumulate(loop):
    # per-request pattern: cancel the old timeout, arm a new one
    fired = []
    t = loop.run_after(30, lambda: fired.append("old"))
    for _ in range(20000):
        t.cancel()
        t = loop.run_after(30, lambda: fired.append("new"))
    assert heap_size(loop) < 1000, heap_size(loop)
    t.rearm(0.005)
    run_loop_until(loop, lambda: fired)
    run_loop_for(loop, 0.02)
    assert fired == ["new"]


def test_timer_properties(loop):
    now = loop.time()
    t = loop.run_after(1.0, lambda: None)
    assert now + 0.9 < t.when < now + 2.0
    assert t.interval == 0
    assert "TimerHandle" in repr(t)
    with pytest.raises(AttributeError):
        t.when = 0
    t.cancel()


# ---- after close --------------------------------------------------------------------------------

def test_use_after_close_raises(dispatcher):
    lp = EventLoop(dispatcher)
    t = lp.run_after(1, lambda: None)
    a, b = socket.socketpair()
    try:
        ch = Channel(lp, a.fileno())
        lp.close()
        lp.close()                      # idempotent
        for call in (lp.run, lp.run_once, lp.wakeup,
                     lambda: lp.queue_in_loop(lambda: None),
                     lambda: lp.run_after(0, lambda: None),
                     lambda: lp.run_every(1, lambda: None),
                     lambda: lp.update_channel(ch),
                     lambda: lp.add_channel_event(ch),
                     lambda: t.rearm(1)):
            with pytest.raises(RuntimeError):
                call()
        lp.stop()                       # stop after close is a harmless no-op
    finally:
        a.close()
        b.close()


def test_queue_from_other_thread_after_close_raises(dispatcher):
    lp = EventLoop(dispatcher)
    lp.close()
    errors = []

    def other():
        for call in (lambda: lp.run_in_loop(lambda: None), lambda: lp.queue_in_loop(lambda: None)):
            try:
                call()
            except RuntimeError as exc:
                errors.append(exc)

    t = threading.Thread(target=other)
    t.start()
    t.join(5)
    assert len(errors) == 2


def test_close_while_running_raises(loop):
    errors = []

    def try_close():
        try:
            loop.close()
        except RuntimeError as exc:
            errors.append(exc)
        loop.stop()

    loop.queue_in_loop(try_close)
    loop.run()
    assert len(errors) == 1 and not loop.closed


def test_stop_racing_with_close_from_loop_thread(dispatcher):
    # stop() from another thread while the loop thread closes the loop must
    # never write to a closed (possibly reused) wakeup fd or raise.
    for _ in range(200):
        et = EventLoopThread(dispatcher=dispatcher)
        lp = et.start()
        errors = []

        def stopper():
            try:
                for _ in range(50):
                    lp.stop()
            except Exception as exc:     # pragma: no cover - reported below
                errors.append(exc)

        t = threading.Thread(target=stopper)
        t.start()
        et.stop()
        t.join(5)
        assert errors == []


def test_unclosed_loop_releases_fds_when_collected(dispatcher):
    for _ in range(20):
        lp = EventLoop(dispatcher)
        del lp
    gc.collect()                        # the autouse check counts the fds


# ---- poll(timeout): one iteration under the caller's deadline ---------------------

def test_poll_zero_does_not_wait_and_runs_functors(loop):
    calls = []
    loop.queue_in_loop(lambda: calls.append("f"))
    t0 = time.monotonic()
    assert loop.poll(0) == 0
    assert calls == ["f"]
    loop.run_after(10, lambda: calls.append("late"))
    assert loop.poll(0) == 0
    assert time.monotonic() - t0 < 0.5
    assert calls == ["f"] and not loop.running


@pytest.mark.parametrize("timeout", [0.02, 0.15])
def test_poll_waits_for_its_timeout_not_longer(loop, timeout):
    loop.run_after(30, lambda: None)            # the loop's own deadline is later
    t0 = time.monotonic()
    loop.poll(timeout)
    took = time.monotonic() - t0
    assert timeout <= took < timeout + 0.1


def test_poll_returns_at_the_first_timer_before_its_timeout(loop):
    fired = []
    loop.run_after(0.03, lambda: fired.append(time.monotonic()))
    t0 = time.monotonic()
    loop.poll(5)
    assert fired and time.monotonic() - t0 < 1.0


def test_poll_none_returns_when_another_thread_queues(loop):
    calls = []
    t = threading.Timer(0.05, lambda: loop.queue_in_loop(lambda: calls.append("x")))
    t.start()
    t0 = time.monotonic()
    while not calls and time.monotonic() - t0 < 5:
        loop.poll(None)
    t.join()
    assert calls == ["x"]


def test_poll_reports_events_and_is_not_reentrant(loop):
    a, b = socket.socketpair()
    errors = []

    def on_read():
        a.recv(100)
        try:
            loop.poll(0)
        except RuntimeError as exc:
            errors.append(exc)

    ch = Channel(loop, a.fileno(), read_callback=on_read)
    ch.enable_reading()
    try:
        b.send(b"x")
        assert loop.poll(1) == 1
        assert len(errors) == 1 and "already running" in str(errors[0])
        with pytest.raises(ValueError):
            loop.poll(float("nan"))
    finally:
        ch.remove()
        a.close()
        b.close()


def test_poll_deadline_holds_under_a_flood_of_static_requests():
    """A static route answered in C never returns to Python by itself: poll()
    must still come back at the caller's deadline while a client floods it
    (asyncio's timers depend on this)."""
    import subprocess
    import sys
    import textwrap
    from reactor import HttpServer
    server = HttpServer(port=0, threads=0)
    server.route_static("/s", b"static")
    server._prepare_run()
    server.tcp.start()          # threads=0: this thread's loop accepts and serves
    loop = server.tcp.loop
    client = textwrap.dedent('''
        import socket, sys, time
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
        req = b"GET /s HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n" * 64
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            s.sendall(req)
            got = 0
            while got < 64:
                got += s.recv(1 << 16).count(b"static")
    ''')
    proc = subprocess.Popen([sys.executable, "-c", client, str(server.port)])
    try:
        served = lambda: sum(s.stats()["requests"] for s in server.loop_states.values())
        t0 = time.monotonic()
        while served() < 1000 and time.monotonic() - t0 < 5:
            loop.poll(0.01)
        assert served() >= 1000, "the flood did not start"
        worst = 0.0
        for _ in range(30):
            t = time.monotonic()
            loop.poll(0.01)
            worst = max(worst, time.monotonic() - t)
        assert worst < 0.1, "poll(0.01) took %.3f s under the flood" % worst
    finally:
        proc.kill()
        proc.wait()
        server.tcp.stop()


def test_heartbeat_stamps_a_waiting_loop_while_another_thread_holds_the_gil(loop, bg):
    mem = bytearray(24)
    loop.set_heartbeat(mem, 8, 0.05)
    bg()

    def stamp():
        return struct.unpack_from("d", mem, 8)[0]
    assert wait_for(lambda: stamp() > 0)
    # one C call holding the GIL for 0.5 s: a Python timer could not beat meanwhile;
    # the loop, waiting without the GIL, stamps its slot with monotonic() on time
    t0 = time.monotonic()
    ctypes.PyDLL(None).usleep(500000)
    s = stamp()
    t1 = time.monotonic()
    assert t0 + 0.3 < s <= t1, (t0, s, t1)
    assert mem[:8] == bytes(8) and mem[16:] == bytes(8)     # its slot only
    loop.run_in_loop(lambda: loop.set_heartbeat(None, 0, 1.0))
    time.sleep(0.1)
    last = stamp()
    time.sleep(0.2)
    assert stamp() == last          # stopped
    mem.extend(b"x")                # ... and the buffer is no longer held


def test_heartbeat_bad_input_and_release_at_close(dispatcher):
    loop = EventLoop(make_dispatcher(dispatcher))
    for offset in (-1, 1, 8):
        with pytest.raises(ValueError, match="out of the buffer"):
            loop.set_heartbeat(bytearray(8), offset, 1.0)
    with pytest.raises(ValueError, match="interval"):
        loop.set_heartbeat(bytearray(8), 0, 0)
    with pytest.raises(BufferError, match="not writable"):
        loop.set_heartbeat(b"12345678", 0, 1.0)
    mem = bytearray(8)
    loop.set_heartbeat(mem, 0, 1.0)
    with pytest.raises(BufferError):
        mem.extend(b"x")            # held while the loop may stamp it
    loop.close()
    mem.extend(b"x")
