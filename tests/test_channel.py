"""Channel (fd + interest mask + handlers) and ChannelMap (fd-indexed table)."""
import gc
import socket
import sys

import pytest

from conftest import run_loop_until
from reactor import Channel, ChannelMap, EventLoop, READ, WRITE


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


# ---- ChannelMap ---------------------------------------------------------------------

def test_map_basic_ops():
    m = ChannelMap()
    assert len(m) == 0
    ch = Channel(None, 5)
    m[5] = ch
    assert len(m) == 1
    assert 5 in m and 4 not in m
    assert m[5] is ch
    assert m.get(5) is ch
    assert m.get(6) is None
    assert m.get(6, "dflt") == "dflt"
    assert m.channels() == [ch]
    del m[5]
    assert len(m) == 0 and 5 not in m
    with pytest.raises(KeyError):
        m[5]
    with pytest.raises(KeyError):
        del m[5]


def test_map_grows_for_large_fds():
    m = ChannelMap()
    cap = m.capacity
    chans = {fd: Channel(None, fd) for fd in (0, 63, 64, 1000, 5000, 70000)}
    for fd, ch in chans.items():
        m[fd] = ch
    assert m.capacity > 70000 >= cap
    assert len(m) == len(chans)
    for fd, ch in chans.items():
        assert m[fd] is ch
    assert 69999 not in m and 70001 not in m and 10 ** 7 not in m
    assert m.get(10 ** 7) is None
    assert set(m.channels()) == set(chans.values())


def test_map_small_initial_size():
    m = ChannelMap(0)               # clamped to 1, still grows
    m[3] = Channel(None, 3)
    assert 3 in m and m.capacity >= 4


def test_map_replace_keeps_count_and_refcounts():
    m = ChannelMap()
    a, b = Channel(None, 7), Channel(None, 7)
    ra, rb = sys.getrefcount(a), sys.getrefcount(b)
    m[7] = a
    assert sys.getrefcount(a) == ra + 1     # the map owns a reference
    m[7] = a                                # same object again: no change
    assert sys.getrefcount(a) == ra + 1
    m[7] = b
    assert len(m) == 1 and m[7] is b
    assert sys.getrefcount(a) == ra         # the replaced one was released
    assert sys.getrefcount(b) == rb + 1
    del m[7]
    assert sys.getrefcount(b) == rb


def test_map_releases_channels_when_freed():
    class Probe(Channel):
        pass
    m = ChannelMap()
    ch = Probe(None, 9)
    before = sys.getrefcount(ch)
    m[9] = ch
    del m
    gc.collect()
    assert sys.getrefcount(ch) == before


def test_map_bad_input():
    m = ChannelMap()
    with pytest.raises(ValueError):
        m[-1] = Channel(None, 1)
    with pytest.raises(TypeError):
        m[1] = "not a channel"
    with pytest.raises(TypeError):
        m[1] = None
    with pytest.raises(TypeError):
        m["1"]
    with pytest.raises(KeyError):
        m[-1]
    assert -1 not in m
    with pytest.raises(KeyError):
        del m[-5]
    assert len(m) == 0


# ---- Channel -------------------------------------------------------------------------

def test_channel_construction():
    ch = Channel(None, 3)
    assert ch.fd == 3
    assert ch.events == 0
    assert not ch.registered
    assert ch.is_none_event() and not ch.is_reading() and not ch.is_writing()
    assert "fd=3" in repr(ch)
    with pytest.raises(ValueError):
        Channel(None, -1)
    with pytest.raises(TypeError):
        Channel(None, "3")
    with pytest.raises(TypeError):
        Channel(None, None)
    with pytest.raises(AttributeError):
        ch.fd = 4                   # read-only


def test_handle_event_dispatches_to_callbacks():
    calls = []
    ch = Channel(None, 3, read_callback=lambda: calls.append("r"),
                 write_callback=lambda: calls.append("w"))
    ch.handle_event(READ)
    ch.handle_event(WRITE)
    ch.handle_event(READ | WRITE)
    ch.handle_event(0)
    assert calls == ["r", "w", "r", "w"]
    ch.read_callback = None
    ch.handle_event(READ)           # no handler: nothing happens
    assert calls == ["r", "w", "r", "w"]


def test_interest_mask_registered_with_loop(loop, pair):
    a, b = pair
    ch = Channel(loop, a.fileno())
    ch.enable_reading()
    assert ch.registered and loop.has_channel(ch)
    assert loop.channels[a.fileno()] is ch
    assert ch.events == READ and ch.is_reading()
    ch.enable_writing()
    assert ch.events == READ | WRITE and ch.is_writing()
    ch.disable_reading()
    assert ch.events == WRITE
    ch.disable_writing()
    assert ch.events == 0 and ch.is_none_event()
    assert ch.registered                    # still in the dispatcher, asking for nothing
    ch.set_events(READ | WRITE)
    assert ch.events == READ | WRITE
    ch.disable_all()
    assert ch.events == 0
    ch.remove()
    assert not ch.registered and not loop.has_channel(ch)
    assert a.fileno() not in loop.channels
    ch.enable_reading()                     # re-registering after removal works
    assert ch.registered
    ch.remove()


def test_set_events_bad_input(loop, pair):
    a, _ = pair
    ch = Channel(loop, a.fileno())
    with pytest.raises(ValueError):
        ch.set_events(4)
    with pytest.raises(ValueError):
        ch.set_events(-1)
    with pytest.raises(TypeError):
        ch.set_events("1")
    assert not ch.registered


def test_read_and_write_callbacks_fire(loop, pair):
    a, b = pair
    calls = []

    def on_read():
        calls.append(("r", a.recv(100)))

    def on_write():
        calls.append(("w", None))
        ch.disable_writing()

    ch = Channel(loop, a.fileno(), read_callback=on_read, write_callback=on_write)
    ch.enable_reading()
    b.sendall(b"ping")
    run_loop_until(loop, lambda: ("r", b"ping") in calls)
    ch.enable_writing()
    run_loop_until(loop, lambda: ("w", None) in calls)
    assert ch.events == READ
    ch.remove()


def test_interest_respected_by_loop(loop, pair):
    a, b = pair
    calls = []
    ch = Channel(loop, a.fileno(), read_callback=lambda: calls.append("r"))
    ch.enable_reading()
    ch.disable_reading()
    b.sendall(b"x")
    loop.run_after(0.05, loop.stop)
    loop.run()
    assert calls == []
    ch.remove()


def test_hangup_flows_through_read_callback(loop, pair):
    a, b = pair
    seen = []

    def on_read():
        data = a.recv(100)
        seen.append(data)
        if not data:
            ch.remove()

    ch = Channel(loop, a.fileno(), read_callback=on_read)
    ch.enable_reading()
    b.close()
    run_loop_until(loop, lambda: seen == [b""])


def test_subclass_handle_event_is_called_by_loop(loop, pair):
    a, b = pair

    class Mine(Channel):
        def __init__(self, lp, fd):
            super().__init__(lp, fd)
            self.got = []

        def handle_event(self, revents):
            self.got.append(revents)
            a.recv(100)

    ch = Mine(loop, a.fileno())
    ch.enable_reading()
    b.sendall(b"x")
    run_loop_until(loop, lambda: ch.got)
    assert ch.got[0] == READ
    ch.remove()


def test_callback_exception_does_not_kill_loop(loop, pair, caplog):
    a, b = pair
    hits = []

    def bad():
        a.recv(100)
        hits.append(1)
        raise ZeroDivisionError("handler bug")

    ch = Channel(loop, a.fileno(), read_callback=bad)
    ch.enable_reading()
    b.sendall(b"1")
    run_loop_until(loop, lambda: len(hits) == 1)
    b.sendall(b"2")
    run_loop_until(loop, lambda: len(hits) == 2)
    assert "handler bug" in caplog.text
    ch.remove()


def test_channel_of_another_loop_rejected(dispatcher, loop, pair):
    a, _ = pair
    other = EventLoop(dispatcher)
    try:
        ch = Channel(other, a.fileno())
        with pytest.raises(ValueError):
            loop.update_channel(ch)
        assert not loop.has_channel(ch)
    finally:
        other.close()


def test_loop_methods_reject_non_channels(loop):
    for call in (loop.update_channel, loop.remove_channel, loop.has_channel,
                 loop.add_channel_event, loop.update_channel_event, loop.remove_channel_event):
        with pytest.raises(TypeError):
            call(None)
        with pytest.raises(TypeError):
            call("fd")


def test_channel_with_closed_fd(loop):
    r, w = __import__("os").pipe()
    __import__("os").close(r)
    __import__("os").close(w)
    ch = Channel(loop, r)
    with pytest.raises(OSError):
        ch.enable_reading()
    assert not ch.registered and not loop.has_channel(ch)


def test_channel_on_closed_loop(dispatcher, pair):
    a, _ = pair
    lp = EventLoop(dispatcher)
    ch = Channel(lp, a.fileno())
    ch.enable_reading()
    lp.close()
    assert not ch.registered                # close() drops every channel
    a.getsockname()                         # ... without closing its fd
    with pytest.raises(RuntimeError):
        ch.enable_reading()
    ch.remove()                             # removing is harmless


def test_channel_without_loop_raises_cleanly():
    ch = Channel(None, 3)
    with pytest.raises(AttributeError):
        ch.enable_reading()
