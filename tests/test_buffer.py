"""Buffer: regions, append/retrieve, zero-copy views, find_crlf, make_room,
read_fd (with the 64 KiB stack spill) and write_fd on real sockets."""
import os
import socket
import threading

import pytest
from hypothesis import given, settings, strategies as st

from reactor import Buffer

CHEAP_PREPEND = 8
SPILL = 65536


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    a.settimeout(5)
    b.settimeout(5)
    yield a, b
    a.close()
    b.close()


def closed_fd():
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    return r


# ---- regions, append, retrieve ------------------------------------------------

def test_new_buffer_regions():
    b = Buffer()
    assert len(b) == 0
    assert b.readable_bytes == 0
    assert b.prependable_bytes == CHEAP_PREPEND
    assert b.writable_bytes == 4096
    assert b.capacity == CHEAP_PREPEND + 4096
    assert b.to_bytes() == b""
    assert "readable=0" in repr(b)


def test_initial_size():
    b = Buffer(100)
    assert b.writable_bytes == 100
    b0 = Buffer(0)
    b0.append(b"x" * 1000)
    assert b0.to_bytes() == b"x" * 1000
    with pytest.raises((OverflowError, ValueError)):
        Buffer(-1)
    with pytest.raises(TypeError):
        Buffer("big")


def test_append_and_retrieve():
    b = Buffer()
    b.append(b"hello ")
    b.append(bytearray(b"world"))
    b.append(memoryview(b"!!"))
    assert len(b) == 13
    assert b.to_bytes() == b"hello world!!"
    b.retrieve(6)
    assert b.to_bytes() == b"world!!"
    assert b.prependable_bytes == CHEAP_PREPEND + 6
    assert b.retrieve_as_bytes(5) == b"world"
    assert b.retrieve_as_bytes() == b"!!"
    # everything retrieved: indexes reset to the front
    assert len(b) == 0
    assert b.prependable_bytes == CHEAP_PREPEND


def test_retrieve_more_than_readable_takes_all():
    b = Buffer()
    b.append(b"abc")
    b.retrieve(100)
    assert len(b) == 0 and b.prependable_bytes == CHEAP_PREPEND
    b.append(b"abc")
    assert b.retrieve_as_bytes(100) == b"abc"
    b.append(b"xyz")
    b.retrieve_all()
    assert len(b) == 0
    assert b.retrieve_as_bytes() == b""


def test_retrieve_bad_input():
    b = Buffer()
    b.append(b"abc")
    with pytest.raises(ValueError):
        b.retrieve(-1)
    with pytest.raises(TypeError):
        b.retrieve("1")
    with pytest.raises(TypeError):
        b.retrieve(None)
    assert b.to_bytes() == b"abc"


@pytest.mark.parametrize("bad", ["text", None, 42, 1.5, [1, 2]])
def test_append_rejects_non_bytes(bad):
    b = Buffer()
    with pytest.raises(TypeError):
        b.append(bad)
    assert len(b) == 0


def test_append_empty_and_large():
    b = Buffer()
    b.append(b"")
    assert len(b) == 0
    data = os.urandom(3 * 1024 * 1024 + 17)
    b.append(data[:10])
    b.append(data[10:])
    assert b.to_bytes() == data
    assert b.capacity >= len(data) + CHEAP_PREPEND


def test_to_bytes_is_a_copy():
    b = Buffer()
    b.append(b"abc")
    copy = b.to_bytes()
    b.retrieve_all()
    b.append(b"zzz")
    assert copy == b"abc"


# ---- zero-copy view -------------------------------------------------------------

def test_peek_is_a_zero_copy_view():
    b = Buffer()
    b.append(b"0123456789")
    b.retrieve(2)
    mv = b.peek()
    try:
        assert mv.obj is b          # exports the Buffer itself, no bytes copy
        assert mv.readonly
        assert mv.nbytes == 8
        assert bytes(mv) == b"23456789"
        assert mv[0] == ord("2")
        with pytest.raises(TypeError):
            mv[0] = 0
    finally:
        mv.release()
    with memoryview(b) as mv2:
        assert bytes(mv2) == b"23456789"


def test_live_view_blocks_mutation():
    b = Buffer()
    b.append(b"abc\r\n")
    mv = b.peek()
    # reading and searching are fine while a view is alive
    assert b.to_bytes() == b"abc\r\n"
    assert b.find_crlf() == 3
    assert len(b) == 5
    a, c = socket.socketpair()
    try:
        for op in (lambda: b.append(b"x"), lambda: b.retrieve(1), b.retrieve_all,
                   lambda: b.retrieve_as_bytes(1), lambda: b.make_room(1 << 20),
                   lambda: b.read_fd(a.fileno()), lambda: b.write_fd(a.fileno())):
            with pytest.raises(BufferError):
                op()
        assert bytes(mv) == b"abc\r\n"          # untouched
        mv2 = b.peek()                          # several views may coexist
        mv.release()
        with pytest.raises(BufferError):
            b.append(b"x")                      # mv2 still alive
        mv2.release()
        b.append(b"x")
        b.retrieve(5)
        assert b.to_bytes() == b"x"
    finally:
        a.close()
        c.close()


def test_view_keeps_working_after_views_released_and_regrowth():
    b = Buffer(16)
    with b.peek() as mv:
        assert bytes(mv) == b""
    b.append(b"y" * 10000)          # reallocates: allowed, no view alive
    with b.peek() as mv:
        assert bytes(mv) == b"y" * 10000


# ---- find_crlf -----------------------------------------------------------------------

@pytest.mark.parametrize("data, start, expected", [
    (b"", 0, -1),
    (b"\r", 0, -1),
    (b"\n", 0, -1),
    (b"\r\n", 0, 0),
    (b"\r\n", 1, -1),
    (b"abc\r\n", 0, 3),
    (b"abc\r", 0, -1),
    (b"\rabc", 0, -1),
    (b"\r\r\n", 0, 1),
    (b"\n\r\n", 0, 1),
    (b"\r\r\r", 0, -1),
    (b"a\r\nb\r\n", 0, 1),
    (b"a\r\nb\r\n", 1, 1),
    (b"a\r\nb\r\n", 2, 4),
    (b"a\r\nb\r\n", 4, 4),
    (b"a\r\nb\r\n", 5, -1),
    (b"a\r\nb\r\n", 6, -1),
    (b"a\r\nb\r\n", 1000, -1),
    (b"x" * 5000 + b"\r\n", 0, 5000),
    (b"x" * 5000 + b"\r", 0, -1),
])
def test_find_crlf_positions(data, start, expected):
    b = Buffer()
    b.append(data)
    assert b.find_crlf(start) == expected


def test_find_crlf_relative_to_reader_and_split_across_appends():
    b = Buffer()
    b.append(b"GET / HTTP/1.1\r\nHost: x\r")
    first = b.find_crlf()
    assert first == 14
    b.retrieve(first + 2)
    assert b.find_crlf() == -1      # a lone CR at the very end
    b.append(b"\n\r\n")
    assert b.find_crlf() == 7
    assert b.find_crlf(8) == 9


def test_find_crlf_bad_start():
    b = Buffer()
    b.append(b"\r\n")
    with pytest.raises(ValueError):
        b.find_crlf(-1)
    with pytest.raises(TypeError):
        b.find_crlf("0")


@settings(max_examples=300, deadline=None)
@given(prefix=st.binary(max_size=40), data=st.binary(max_size=200),
       start=st.integers(min_value=0, max_value=250))
def test_find_crlf_matches_bytes_find(prefix, data, start):
    b = Buffer(8)
    b.append(prefix + data)
    b.retrieve(len(prefix))
    assert b.find_crlf(start) == data.find(b"\r\n", start)


# ---- make_room --------------------------------------------------------------------

def test_make_room_compacts_when_front_space_suffices():
    b = Buffer(64)
    cap = b.capacity
    b.append(b"a" * 60)
    b.retrieve(50)                  # 10 readable, 50 free at the front, 4 at the back
    assert b.writable_bytes == 4
    b.make_room(40)
    assert b.capacity == cap        # compacted, not grown
    assert b.prependable_bytes == CHEAP_PREPEND
    assert b.writable_bytes == 64 - 10
    assert b.to_bytes() == b"a" * 10


def test_make_room_grows_when_compaction_is_not_enough():
    b = Buffer(64)
    cap = b.capacity
    b.append(b"0123456789" * 6)
    b.retrieve(50)
    b.make_room(100)
    assert b.capacity > cap
    assert b.writable_bytes >= 100
    assert b.to_bytes() == b"0123456789"


def test_make_room_noop_when_enough_space():
    b = Buffer(64)
    b.append(b"abc")
    b.retrieve(1)
    before = (b.capacity, b.prependable_bytes, b.writable_bytes)
    b.make_room(0)
    b.make_room(10)
    assert (b.capacity, b.prependable_bytes, b.writable_bytes) == before


def test_make_room_bad_input():
    b = Buffer()
    with pytest.raises((OverflowError, ValueError)):
        b.make_room(-1)
    with pytest.raises(TypeError):
        b.make_room("10")


def test_append_after_many_retrieves_reuses_space():
    b = Buffer(64)
    cap = b.capacity
    for i in range(1000):
        b.append(b"x" * 40)
        b.retrieve(39)
    # steady state: one byte left over per round would need growth only if
    # compaction did not happen
    assert len(b) == 1000
    assert b.capacity <= max(cap * 32, 4096)


# ---- read_fd ------------------------------------------------------------------------

def _fill_socket(sock, data):
    """Write as much of data as fits without blocking; return bytes written."""
    sock.setblocking(False)
    sent = 0
    try:
        while sent < len(data):
            sent += sock.send(data[sent:sent + 65536])
    except BlockingIOError:
        pass
    finally:
        sock.settimeout(5)
    return sent


def test_read_fd_spills_past_64k_into_the_stack(pair):
    a, b = pair
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    data = os.urandom(256 * 1024)
    sent = _fill_socket(a, data)
    assert sent > 4096 + SPILL, "socketpair took only %d bytes" % sent
    buf = Buffer()                  # 4 KiB free: the rest must go to the spill
    assert buf.writable_bytes == 4096
    n = buf.read_fd(b.fileno())
    assert n == 4096 + SPILL        # one readv filled both vectors
    assert buf.to_bytes() == data[:n]
    assert buf.capacity >= n + CHEAP_PREPEND
    got = n
    while got < sent:
        got += buf.read_fd(b.fileno())
    assert buf.to_bytes() == data[:sent]


def test_read_fd_into_large_free_space(pair):
    a, b = pair
    data = os.urandom(100000)
    sent = _fill_socket(a, data)
    buf = Buffer(1 << 20)
    cap = buf.capacity
    got = 0
    while got < sent:
        got += buf.read_fd(b.fileno())
    assert buf.capacity == cap      # no spill needed, no growth
    assert buf.to_bytes() == data[:sent]


def test_read_fd_appends_after_existing_bytes(pair):
    a, b = pair
    buf = Buffer()
    buf.append(b"head:")
    a.sendall(b"tail")
    assert buf.read_fd(b.fileno()) == 4
    assert buf.to_bytes() == b"head:tail"


def test_read_fd_eof_returns_zero(pair):
    a, b = pair
    a.sendall(b"last")
    a.close()
    buf = Buffer()
    assert buf.read_fd(b.fileno()) == 4
    assert buf.read_fd(b.fileno()) == 0
    assert buf.to_bytes() == b"last"


def test_read_fd_eagain_raises_blocking_io_error(pair):
    a, b = pair
    b.setblocking(False)
    buf = Buffer()
    with pytest.raises(BlockingIOError):
        buf.read_fd(b.fileno())
    assert len(buf) == 0


def test_read_fd_from_pipe():
    r, w = os.pipe()
    try:
        os.write(w, b"through a pipe")
        buf = Buffer()
        assert buf.read_fd(r) == 14
        assert buf.to_bytes() == b"through a pipe"
    finally:
        os.close(r)
        os.close(w)


def test_read_fd_invalid_fds():
    buf = Buffer()
    with pytest.raises(ValueError):
        buf.read_fd(-1)
    with pytest.raises(OSError):
        buf.read_fd(closed_fd())
    with pytest.raises(OSError):
        buf.read_fd(1 << 30)
    with pytest.raises(TypeError):
        buf.read_fd("3")
    with pytest.raises(TypeError):
        buf.read_fd(None)
    assert len(buf) == 0


def test_read_fd_connection_reset():
    import struct
    with socket.socket() as lsock:
        lsock.bind(("127.0.0.1", 0))
        lsock.listen()
        c = socket.create_connection(lsock.getsockname(), timeout=5)
        s, _ = lsock.accept()
        with s:
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()
            buf = Buffer()
            s.settimeout(5)
            with pytest.raises(ConnectionResetError):
                buf.read_fd(s.fileno())


# ---- write_fd ---------------------------------------------------------------------------

def test_write_fd_empty_returns_zero(pair):
    a, _ = pair
    assert Buffer().write_fd(a.fileno()) == 0


def test_write_fd_partial_writes_and_eagain(pair):
    a, b = pair
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    a.setblocking(False)
    data = os.urandom(1 << 20)
    buf = Buffer()
    buf.append(data)
    n = buf.write_fd(a.fileno())
    assert 0 < n < len(data)            # the socket could not take it all
    assert len(buf) == len(data) - n    # what was written is consumed
    with pytest.raises(BlockingIOError):
        while True:
            buf.write_fd(a.fileno())
    written = len(data) - len(buf)

    received = bytearray()

    def reader():
        while len(received) < len(data):
            chunk = b.recv(1 << 16)
            if not chunk:
                break
            received.extend(chunk)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    import select
    while len(buf):
        select.select([], [a], [], 5)
        try:
            buf.write_fd(a.fileno())
        except BlockingIOError:
            pass
    t.join(10)
    assert not t.is_alive()
    assert written < len(data)
    assert bytes(received) == data


def test_write_fd_to_pipe():
    r, w = os.pipe()
    try:
        buf = Buffer()
        buf.append(b"pipe data")
        assert buf.write_fd(w) == 9     # not a socket: falls back to write()
        assert os.read(r, 100) == b"pipe data"
        assert len(buf) == 0
    finally:
        os.close(r)
        os.close(w)


def test_write_fd_to_closed_peer_raises_without_sigpipe(pair):
    a, b = pair
    b.close()
    buf = Buffer()
    buf.append(b"nobody listens")
    with pytest.raises(BrokenPipeError):
        buf.write_fd(a.fileno())
    assert buf.to_bytes() == b"nobody listens"   # nothing consumed on error


def test_write_fd_invalid_fds():
    buf = Buffer()
    buf.append(b"data")
    with pytest.raises(ValueError):
        buf.write_fd(-1)
    with pytest.raises(OSError):
        buf.write_fd(closed_fd())
    with pytest.raises(TypeError):
        buf.write_fd("1")
    assert buf.to_bytes() == b"data"


def test_roundtrip_through_socket_many_sizes(pair):
    a, b = pair
    a.setblocking(True)             # blocking fds: write_fd/read_fd wait
    b.setblocking(True)
    out, inp = Buffer(), Buffer(16)

    def drain():
        while len(out):
            out.write_fd(a.fileno())

    for size in (1, 2, 100, 4095, 4096, 4097, 65535, 65536, 65537, 200000):
        data = os.urandom(size)
        out.append(data)
        t = threading.Thread(target=drain, daemon=True)
        t.start()
        while len(inp) < size:
            assert inp.read_fd(b.fileno()) > 0
        t.join(5)
        assert not t.is_alive()
        assert inp.retrieve_as_bytes(size) == data
