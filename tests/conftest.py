"""Shared fixtures for the reactor test suite.

Every test runs under ``no_leaks`` (autouse): in teardown the process's open
fd count must be back where it was before the test and no thread the test
started may still be alive (a short retry window lets threads finish
exiting).  Measuring around each test keeps pytest's own fds out of it.
"""
import faulthandler
import gc
import os
import socket
import sys
import threading
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The package under test is the installed one (``pip install -e '.[test]'``,
# or PYTHONPATH for the debug flavour), so the checkout goes *last* on the
# path: it provides ``bench`` and, with nothing installed, an in-place build.
if ROOT not in sys.path:
    sys.path.append(ROOT)

DISPATCHERS = ["epoll", "poll"]
THREADS = [0, 1, 4]

# Per-test watchdog: a hung test dumps every thread's stack and ends the run
# instead of blocking CI forever (used only when pytest-timeout is absent).
HANG_TIMEOUT = float(os.environ.get("REACTOR_TEST_HANG_TIMEOUT", "150"))

SETTLE_TIMEOUT = 2.0   # seconds teardown waits for fds and threads to settle

# REACTOR_TEST_TLS=1: the end-to-end HTTP tests run over TLS (see http_helpers)
TEST_TLS = os.environ.get("REACTOR_TEST_TLS", "") not in ("", "0")


def pytest_collection_modifyitems(config, items):
    """In TLS mode, skip the tests marked ``plaintext_only(reason)``."""
    if not TEST_TLS:
        return
    for item in items:
        mark = item.get_closest_marker("plaintext_only")
        if mark is not None:
            reason = mark.args[0] if mark.args else mark.kwargs.get("reason", "plaintext only")
            item.add_marker(pytest.mark.skip(reason="plaintext only: " + reason))


def pytest_collection_finish(session):
    """Freeze what collection built: the per-test ``gc.collect()`` of ``no_leaks``
    then walks only what tests create.  Importing every test module (CPython's
    asyncio test package among them) leaves a heap that took ~80 ms a collection,
    two collections a test: over half the suite's time went to it."""
    gc.collect()
    gc.freeze()


def _fd_count():
    return len(os.listdir("/proc/self/fd"))


def _fd_table():
    out = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            out[int(name)] = os.readlink("/proc/self/fd/" + name)
        except OSError:
            pass
    return out


@pytest.fixture(autouse=True)
def no_leaks(request):
    """Fail the test if it leaves an fd open or a thread running."""
    try:
        fh_timeout = request.config.getini("faulthandler_timeout")
    except ValueError:          # pytest's faulthandler plugin disabled
        fh_timeout = 0
    use_watchdog = not request.config.pluginmanager.hasplugin("timeout") and not fh_timeout
    if use_watchdog:
        faulthandler.dump_traceback_later(HANG_TIMEOUT, exit=True)
    gc.collect()
    modules_before = len(sys.modules)
    threads_before = set(threading.enumerate())
    fds_before = _fd_table()
    count_before = _fd_count()
    try:
        yield
    finally:
        if use_watchdog:
            faulthandler.cancel_dump_traceback_later()
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        gc.collect()
        extra = [t for t in threading.enumerate()
                 if t not in threads_before and t.is_alive()]
        count = _fd_count()
        if (not extra and count <= count_before) or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    if len(sys.modules) != modules_before:
        # the test imported modules (matplotlib, httpx, a framework): freeze them
        # too, as pytest_collection_finish froze what collection imported, or
        # every later test's two collections walk them (+40-80 ms a test)
        gc.freeze()
    problems = []
    now = _fd_table()
    lost = {fd: target for fd, target in fds_before.items() if now.get(fd) != target}
    if lost:
        problems.append("fds open before the test were closed or replaced "
                        "(a double close?): %r" % (lost,))
    if extra:
        problems.append("threads left running: %r" % (extra,))
    if count > count_before:
        now = _fd_table()
        new = {fd: target for fd, target in now.items()
               if fds_before.get(fd) != target}
        problems.append("fd count %d -> %d; new or changed fds: %r"
                        % (count_before, count, new))
    if problems:
        pytest.fail("leak check after %s: %s" % (request.node.nodeid, "; ".join(problems)),
                    pytrace=False)


@pytest.fixture(params=DISPATCHERS)
def dispatcher(request):
    """The dispatcher name: every loop test runs under epoll and poll."""
    return request.param


@pytest.fixture
def loop(dispatcher):
    """An EventLoop owned by the test's thread, closed after the test."""
    from reactor import EventLoop
    lp = EventLoop(dispatcher, name="test-loop")
    yield lp
    if lp.running:
        lp.stop()
    lp.close()


def run_loop_until(loop, predicate, timeout=5.0, poll_interval=0.005):
    """Run ``loop`` in this thread until ``predicate()`` is true.

    Fails the test if the predicate is still false after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout

    def check():
        if predicate() or time.monotonic() > deadline:
            loop.stop()

    timer = loop.run_every(poll_interval, check)
    try:
        loop.run()
    finally:
        timer.cancel()
    assert predicate(), "condition not reached within %.1fs" % timeout


def run_loop_for(loop, seconds):
    """Run ``loop`` in this thread for about ``seconds``."""
    loop.run_after(seconds, loop.stop)
    loop.run()


def call_in_loop(loop, fn, timeout=5.0):
    """Run ``fn()`` in ``loop``'s thread and return its result (or raise its error)."""
    done = threading.Event()
    box = {}

    def call():
        try:
            box["result"] = fn()
        except BaseException as exc:   # re-raised in the caller
            box["error"] = exc
        finally:
            done.set()

    loop.run_in_loop(call)
    assert done.wait(timeout), "loop did not run the call within %.1fs" % timeout
    if "error" in box:
        raise box["error"]
    return box.get("result")


def wait_for(predicate, timeout=5.0, interval=0.005):
    """Poll ``predicate()`` from the test thread until true; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def recv_exact(sock, n):
    """Receive exactly n bytes (or fewer if the peer closes)."""
    chunks = []
    while n > 0:
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def recv_until_eof(sock):
    chunks = []
    while True:
        chunk = sock.recv(1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
