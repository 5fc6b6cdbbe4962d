"""EpollDispatcher and PollDispatcher: add / update / remove / dispatch / close,
the fired (fd, events) they report, their errors, and make_dispatcher."""
import os
import signal
import socket
import struct
import time

import pytest

from reactor import (EpollDispatcher, EventDispatcher, EventLoop, PollDispatcher, READ, WRITE,
                     make_dispatcher)

CLASSES = {"epoll": EpollDispatcher, "poll": PollDispatcher}


@pytest.fixture
def disp(dispatcher):
    d = make_dispatcher(dispatcher)
    yield d
    d.close()


@pytest.fixture
def pairs():
    made = []

    def make(n=1):
        out = []
        for _ in range(n):
            a, b = socket.socketpair()
            made.extend((a, b))
            out.append((a, b))
        return out

    yield make
    for s in made:
        s.close()


def closed_fd():
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    return r


def tcp_pair():
    with socket.socket() as lsock:
        lsock.bind(("127.0.0.1", 0))
        lsock.listen()
        c = socket.create_connection(lsock.getsockname(), timeout=5)
        s, _ = lsock.accept()
    return c, s


def test_flags():
    assert READ == 1 and WRITE == 2


def test_make_dispatcher_by_name(dispatcher):
    d = make_dispatcher(dispatcher)
    try:
        assert type(d) is CLASSES[dispatcher]
        assert isinstance(d, EventDispatcher)
        assert d.name == dispatcher
    finally:
        d.close()


def test_make_dispatcher_default_and_env_override(monkeypatch):
    monkeypatch.delenv("REACTOR_DISPATCHER", raising=False)
    with make_dispatcher() as d:
        assert d.name == "epoll"            # the Linux default
    monkeypatch.setenv("REACTOR_DISPATCHER", "poll")
    with make_dispatcher() as d:
        assert isinstance(d, PollDispatcher)
    with make_dispatcher(None) as d:
        assert d.name == "poll"
    with make_dispatcher("epoll") as d:     # an explicit name wins
        assert d.name == "epoll"
    loop = EventLoop()
    try:
        assert loop.dispatcher_name == "poll"
    finally:
        loop.close()
    monkeypatch.setenv("REACTOR_DISPATCHER", "kqueue")
    with pytest.raises(ValueError):
        make_dispatcher()


@pytest.mark.parametrize("name", ["kqueue", "EPOLL", "", "select"])
def test_make_dispatcher_unknown_name(name):
    with pytest.raises(ValueError):
        make_dispatcher(name)


@pytest.mark.parametrize("name", [3, b"epoll", ["poll"]])
def test_make_dispatcher_wrong_type(name):
    with pytest.raises(TypeError):
        make_dispatcher(name)


def test_base_interface_is_abstract():
    d = EventDispatcher()
    for call in (lambda: d.add(0, READ), lambda: d.update(0, READ),
                 lambda: d.remove(0), lambda: d.dispatch(0)):
        with pytest.raises(NotImplementedError):
            call()
    d.close()


# ---- readiness ----------------------------------------------------------------------

def test_read_readiness(disp, pairs):
    (a, b), = pairs()
    disp.add(a.fileno(), READ)
    assert disp.dispatch(0) == []
    b.sendall(b"x")
    assert disp.dispatch(1) == [(a.fileno(), READ)]
    assert disp.dispatch(0) == [(a.fileno(), READ)]     # level-triggered
    a.recv(10)
    assert disp.dispatch(0) == []


def test_write_readiness_and_both(disp, pairs):
    (a, b), = pairs()
    disp.add(a.fileno(), WRITE)
    assert disp.dispatch(1) == [(a.fileno(), WRITE)]
    b.sendall(b"x")
    assert disp.dispatch(0) == [(a.fileno(), WRITE)]    # READ not asked for
    disp.update(a.fileno(), READ | WRITE)
    assert disp.dispatch(0) == [(a.fileno(), READ | WRITE)]


def test_update_changes_interest(disp, pairs):
    (a, b), = pairs()
    b.sendall(b"pending")
    disp.add(a.fileno(), 0)
    assert disp.dispatch(0) == []
    disp.update(a.fileno(), READ)
    assert disp.dispatch(0) == [(a.fileno(), READ)]
    disp.update(a.fileno(), 0)
    assert disp.dispatch(0) == []
    disp.update(a.fileno(), WRITE)
    assert disp.dispatch(0) == [(a.fileno(), WRITE)]


def test_remove_stops_reports(disp, pairs):
    (a, b), = pairs()
    b.sendall(b"x")
    disp.add(a.fileno(), READ)
    assert disp.dispatch(0)
    disp.remove(a.fileno())
    assert disp.dispatch(0) == []
    disp.add(a.fileno(), READ)              # can be added again after removal
    assert disp.dispatch(0) == [(a.fileno(), READ)]


def test_many_fds_only_ready_ones_reported(disp, pairs):
    ps = pairs(100)
    for a, _ in ps:
        disp.add(a.fileno(), READ)
    ready = {ps[i][0].fileno() for i in range(0, 100, 7)}
    for i in range(0, 100, 7):
        ps[i][1].sendall(b"x")
    fired = disp.dispatch(1)
    assert {fd for fd, _ in fired} == ready
    assert all(ev == READ for _, ev in fired)
    # removal from the middle keeps the rest intact (poll's dense array)
    for i in range(0, 100, 2):
        disp.remove(ps[i][0].fileno())
    fired = {fd for fd, _ in disp.dispatch(0)}
    assert fired == {ps[i][0].fileno() for i in range(0, 100, 7) if i % 2}


def test_more_fired_than_initial_capacity(disp, pairs):
    ps = pairs(300)
    for a, b in ps:
        disp.add(a.fileno(), READ)
        b.sendall(b"x")
    want = {a.fileno() for a, _ in ps}
    seen = set()
    for _ in range(10):                     # epoll may return them over several calls
        seen.update(fd for fd, _ in disp.dispatch(0))
        if seen == want:
            break
    assert seen == want
    if isinstance(disp, PollDispatcher):
        assert len(disp) == 300
        assert len(disp.dispatch(0)) == 300


def test_large_fd_number(disp, pairs):
    (a, b), = pairs()
    big = os.dup2(a.fileno(), 1500)
    try:
        disp.add(big, READ)
        b.sendall(b"x")
        assert disp.dispatch(1) == [(big, READ)]
        disp.remove(big)
    finally:
        os.close(big)


def test_dispatch_timeout(disp):
    t0 = time.monotonic()
    assert disp.dispatch(0.05) == []
    assert time.monotonic() - t0 >= 0.04
    assert disp.dispatch(0) == []


def test_dispatch_none_waits_until_ready(disp, pairs):
    (a, b), = pairs()
    disp.add(a.fileno(), READ)
    b.sendall(b"x")
    assert disp.dispatch(None) == [(a.fileno(), READ)]


def test_dispatch_bad_timeout(disp):
    with pytest.raises(ValueError):
        disp.dispatch(-1)
    with pytest.raises(TypeError):
        disp.dispatch("1")


# ---- error and hang-up are reported as READ ------------------------------------------

def test_hangup_reported_as_read(disp, pairs):
    (a, b), = pairs()
    disp.add(a.fileno(), 0)                 # not even asking for READ
    b.close()
    assert disp.dispatch(1) == [(a.fileno(), READ)]


def test_hangup_with_write_interest_includes_read(disp, pairs):
    (a, b), = pairs()
    disp.add(a.fileno(), WRITE)
    b.close()
    fired = disp.dispatch(1)
    assert len(fired) == 1
    assert fired[0][0] == a.fileno() and fired[0][1] & READ


def test_reset_reported_as_read(disp):
    c, s = tcp_pair()
    try:
        disp.add(s.fileno(), 0)
        assert disp.dispatch(0) == []
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()                           # RST: EPOLLERR|EPOLLHUP / POLLERR|POLLHUP
        assert disp.dispatch(1) == [(s.fileno(), READ)]
        with pytest.raises(ConnectionResetError):
            s.recv(1)
    finally:
        s.close()


def test_fd_closed_while_registered_does_not_crash(disp, pairs):
    (a, b), = pairs()
    fd = os.dup(a.fileno())
    disp.add(fd, READ)
    os.close(fd)
    fired = disp.dispatch(0)
    # epoll forgets a closed fd; poll reports POLLNVAL, which maps to READ
    assert fired in ([], [(fd, READ)])
    if isinstance(disp, PollDispatcher):
        assert fired == [(fd, READ)]
        disp.remove(fd)
    else:
        with pytest.raises(OSError):
            disp.remove(fd)


# ---- bad input -------------------------------------------------------------------------

def test_invalid_fds(disp):
    with pytest.raises(ValueError):
        disp.add(-1, READ)
    with pytest.raises(OSError):
        disp.add(closed_fd(), READ)
    with pytest.raises(OSError):
        disp.add(1 << 30, READ)
    with pytest.raises((OSError, ValueError)):
        disp.update(-1, READ)
    with pytest.raises((OSError, ValueError)):
        disp.remove(-1)


def test_double_add_and_unknown_fd(disp, pairs):
    (a, b), = pairs()
    disp.add(a.fileno(), READ)
    with pytest.raises(OSError):
        disp.add(a.fileno(), READ)
    with pytest.raises(OSError):
        disp.update(b.fileno(), READ)
    with pytest.raises(OSError):
        disp.remove(b.fileno())
    disp.remove(a.fileno())
    with pytest.raises(OSError):
        disp.remove(a.fileno())
    with pytest.raises(OSError):
        disp.update(a.fileno(), READ)


@pytest.mark.parametrize("args", [("3", READ), (None, READ), (0, "1"), (0, None)])
def test_wrong_types(disp, args):
    with pytest.raises(TypeError):
        disp.add(*args)
    with pytest.raises(TypeError):
        disp.update(*args)


def test_wrong_types_remove(disp):
    with pytest.raises(TypeError):
        disp.remove("0")
    with pytest.raises(TypeError):
        disp.remove(None)


@pytest.mark.parametrize("events", [4, 8, -1, READ | WRITE | 4, 1 << 20])
def test_bad_events(disp, pairs, events):
    (a, _), = pairs()
    with pytest.raises(ValueError):
        disp.add(a.fileno(), events)
    disp.add(a.fileno(), READ)
    with pytest.raises(ValueError):
        disp.update(a.fileno(), events)
    assert disp.dispatch(0) == []


def test_use_after_close(dispatcher, pairs):
    (a, b), = pairs()
    d = make_dispatcher(dispatcher)
    d.add(a.fileno(), READ)
    d.close()
    d.close()                               # idempotent
    for call in (lambda: d.add(b.fileno(), READ), lambda: d.update(a.fileno(), WRITE),
                 lambda: d.remove(a.fileno()), lambda: d.dispatch(0),
                 lambda: d.dispatch(None)):
        with pytest.raises(RuntimeError):
            call()


def test_context_manager_closes(dispatcher):
    with make_dispatcher(dispatcher) as d:
        assert d.dispatch(0) == []
    with pytest.raises(RuntimeError):
        d.dispatch(0)


def test_epoll_fileno_closed_with_dispatcher():
    d = EpollDispatcher()
    fd = d.fileno()
    assert fd >= 0
    os.fstat(fd)
    d.close()
    assert d.fileno() == -1
    with pytest.raises(OSError):
        os.fstat(fd)


def test_garbage_collected_dispatcher_releases_fd(dispatcher):
    # the autouse leak check verifies no epoll fd is left behind
    for _ in range(50):
        make_dispatcher(dispatcher)


# ---- signals ----------------------------------------------------------------------------

def test_signal_interrupts_dispatch_and_runs_handler(disp):
    # EINTR returns early and Python signal handlers run at once, so a
    # SIGTERM handler can stop a loop that is asleep in dispatch.
    hits = []
    old = signal.signal(signal.SIGALRM, lambda *a: hits.append(1))
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        t0 = time.monotonic()
        assert disp.dispatch(5) == []
        assert time.monotonic() - t0 < 4
        assert hits == [1]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_signal_handler_exception_propagates(disp):
    class Stop(Exception):
        pass

    def handler(*a):
        raise Stop()

    old = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        with pytest.raises(Stop):
            disp.dispatch(5)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert disp.dispatch(0) == []           # still usable
