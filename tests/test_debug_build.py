"""Thread-ownership asserts.

``assert_in_loop_thread()`` raises from a foreign thread in every build.  In
the debug flavour (``REACTOR_DEBUG=1`` at build time, ``reactor._event_loop.DEBUG``)
loop-thread-only methods called from another thread raise RuntimeError too.
Those tests skip on a release build unless ``REACTOR_EXPECT_DEBUG=1`` says the
debug flavour was meant to be built, in which case they fail.
"""
import os
import socket
import threading

import pytest

import reactor._event_loop
from conftest import call_in_loop
from reactor import Channel, EventLoopThread

DEBUG = reactor._event_loop.DEBUG
EXPECT_DEBUG = os.environ.get("REACTOR_EXPECT_DEBUG", "") not in ("", "0")


@pytest.fixture
def debug_build():
    if not DEBUG:
        if EXPECT_DEBUG:
            pytest.fail("REACTOR_EXPECT_DEBUG=1 but reactor was built without REACTOR_DEBUG")
        pytest.skip("release build: thread asserts are compiled out (build with REACTOR_DEBUG=1)")


@pytest.fixture
def loop_thread(dispatcher):
    et = EventLoopThread(name="owner", dispatcher=dispatcher)
    loop = et.start()
    yield loop
    et.stop()


def test_debug_flag_is_a_bool():
    assert DEBUG in (True, False)


def test_expected_flavour():
    if EXPECT_DEBUG:
        assert DEBUG, "REACTOR_EXPECT_DEBUG=1 but this is a release build"


# ---- every flavour ------------------------------------------------------------------------

def test_assert_in_loop_thread_raises_from_other_threads(loop_thread):
    loop = loop_thread
    with pytest.raises(RuntimeError, match="owner"):
        loop.assert_in_loop_thread()
    assert not loop.is_in_loop_thread()
    call_in_loop(loop, loop.assert_in_loop_thread)      # fine in its own thread
    errors = []

    def third():
        try:
            loop.assert_in_loop_thread()
        except RuntimeError as exc:
            errors.append(exc)

    t = threading.Thread(target=third)
    t.start()
    t.join(5)
    assert len(errors) == 1


def test_thread_safe_methods_work_from_other_threads(loop_thread):
    loop = loop_thread
    done = threading.Event()
    loop.queue_in_loop(lambda: None)
    loop.run_in_loop(done.set)
    loop.wakeup()
    assert done.wait(5)
    assert loop.pending_functors() >= 0
    a, b = socket.socketpair()
    try:
        ch = Channel(loop, a.fileno())
        loop.add_channel_event(ch)
        loop.remove_channel_event(ch)
        call_in_loop(loop, lambda: None)                # both applied by now
        assert not call_in_loop(loop, lambda: loop.has_channel(ch))
    finally:
        a.close()
        b.close()


# ---- debug flavour only --------------------------------------------------------------------------

def test_loop_only_methods_raise_from_other_thread(debug_build, loop_thread):
    loop = loop_thread
    a, b = socket.socketpair()
    try:
        ch = Channel(loop, a.fileno())
        for call in (lambda: loop.update_channel(ch),
                     lambda: loop.remove_channel(ch),
                     ch.enable_reading,
                     lambda: loop.run_after(1, lambda: None),
                     lambda: loop.run_every(1, lambda: None),
                     lambda: loop.run_at(loop.time() + 1, lambda: None)):
            with pytest.raises(RuntimeError, match="owner"):
                call()
        assert not call_in_loop(loop, lambda: loop.has_channel(ch))
        # the same calls are fine in the loop's own thread
        call_in_loop(loop, ch.enable_reading)
        timer = call_in_loop(loop, lambda: loop.run_after(60, lambda: None))
        with pytest.raises(RuntimeError, match="owner"):
            timer.rearm(30)
        call_in_loop(loop, lambda: timer.rearm(30))
        call_in_loop(loop, timer.cancel)
        call_in_loop(loop, ch.remove)
    finally:
        a.close()
        b.close()


def test_review_loop_only_methods_raise_from_other_thread(debug_build, loop_thread):
    # send_buffer, TimerHandle.cancel and HttpConnection.resume are loop-only
    from reactor import Buffer, TcpConnection
    from reactor._http import HttpConnection, LoopState
    from reactor._http_config import HttpConfig
    loop = loop_thread
    timer = call_in_loop(loop, lambda: loop.run_after(60, lambda: None))
    with pytest.raises(RuntimeError, match="owner"):
        timer.cancel()
    assert timer.active
    call_in_loop(loop, timer.cancel)
    a, b = socket.socketpair()
    c, d = socket.socketpair()
    try:
        conn = call_in_loop(loop, lambda: TcpConnection(loop, a.detach()))
        buf = Buffer()
        buf.append(b"data")
        with pytest.raises(RuntimeError, match="owner"):
            conn.send_buffer(buf)
        assert len(buf) == 4
        http = call_in_loop(loop, lambda: HttpConnection(loop, c.detach(), None, HttpConfig(),
                                                         LoopState(loop)))
        with pytest.raises(RuntimeError, match="owner"):
            http.resume(None, b"late")
        call_in_loop(loop, conn.force_close)
        call_in_loop(loop, http.force_close)
    finally:
        b.close()
        d.close()


def test_asgi_worker_with_io_threads_retires_after_max_requests(tmp_path):
    # every flavour: an ASGI worker with an I/O thread (--threads 1) sets its timers
    # (the parent check, --max-requests) on its acceptor loop's own thread; in the debug
    # flavour setting them from the asyncio thread raised, and the worker never served
    import json
    import re
    import subprocess
    import sys
    import time
    import http.client
    tests = os.path.dirname(os.path.abspath(__file__))
    home = os.path.dirname(os.path.dirname(os.path.abspath(reactor.__file__)))
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=os.pathsep.join(
        p for p in (home, os.path.dirname(tests), os.environ.get("PYTHONPATH")) if p))
    err = tmp_path / "stderr.txt"
    with open(err, "wb") as f:
        proc = subprocess.Popen(
            [sys.executable, "-m", "reactor", "apps:app", "--app-dir",
             os.path.join(tests, "asgi_apps"), "--port", "0", "--threads", "1",
             "--max-requests", "5"], env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=f)
    try:
        deadline = time.monotonic() + 20
        m = None
        while m is None and time.monotonic() < deadline and proc.poll() is None:
            m = re.search(r"serving .* on http://127\.0\.0\.1:(\d+)", err.read_text())
            time.sleep(0.05)
        assert m, err.read_text()
        port = int(m.group(1))

        def pid():
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                c.request("GET", "/pid")
                r = c.getresponse()
                assert r.status == 200, (r.status, err.read_text())
                return json.loads(r.read())["pid"]
            finally:
                c.close()
        pids = set()
        while len(pids) < 2 and time.monotonic() < deadline:
            try:
                pids.add(pid())
            except (OSError, http.client.HTTPException):
                time.sleep(0.05)
        assert len(pids) >= 2, "no worker retired after 5 requests: " + err.read_text()
        assert "Traceback" not in err.read_text(), err.read_text()
    finally:
        proc.terminate()
        proc.wait(15)
