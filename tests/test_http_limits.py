"""Every limit and timeout of HttpServer, each with a short value.

Limit errors are answered with the right status and ``Connection: close``
and the connection is closed after them.  Timeouts are a fraction of a
second here; the per-loop sweeper runs at a quarter of the smallest one.
"""
import socket
import time

import pytest

from http_helpers import WOULD_BLOCK, Client, connect, get, live_connections, serve, wait_for
from reactor.http_response import HttpResponse
from reactor.http_server import HttpServer


def echo(req):
    return HttpResponse(b"%d:%s" % (len(req.body), req.body[:20]))


def expect_error(c, status):
    r = c.read_response()
    assert r.status == status, r
    assert r.header("Connection") == "close"
    assert c.read_until_close() == b""
    return r


# ---- size limits ------------------------------------------------------------------------------------

def test_request_line_414():
    with serve(echo, max_request_line=64) as srv:
        line = b"GET /" + b"a" * 50 + b" HTTP/1.1"          # 64 bytes: allowed
        assert len(line) == 64
        with Client(srv.port) as c:
            c.send(line + b"\r\nHost: h\r\n\r\n")
            assert c.read_response().status == 200
            c.send(b"GET /" + b"a" * 51 + b" HTTP/1.1\r\nHost: h\r\n\r\n")
            expect_error(c, 414)
        with Client(srv.port) as c:        # no CRLF yet: answered as soon as it is over
            c.send(b"GET /" + b"a" * 200)
            expect_error(c, 414)


def test_header_block_431():
    with serve(echo, max_header_size=256) as srv:
        with Client(srv.port) as c:
            c.send(get("/", extra=b"X: " + b"v" * 150 + b"\r\n"))
            assert c.read_response().status == 200
            c.send(get("/", extra=b"X: " + b"v" * 300 + b"\r\n"))
            expect_error(c, 431)
        with Client(srv.port) as c:        # an endless head
            c.send(b"GET / HTTP/1.1\r\nHost: h\r\n" + b"X-Long: yyyy\r\n" * 40)
            expect_error(c, 431)


def test_header_count_431():
    with serve(echo, max_headers=5) as srv:
        with Client(srv.port) as c:
            c.send(get("/", extra=b"A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n"))      # 5 with Host
            assert c.read_response().status == 200
            c.send(get("/", extra=b"A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n"))
            expect_error(c, 431)


def test_body_413():
    with serve(echo, max_body_size=100) as srv:
        with Client(srv.port) as c:
            c.send(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n" + b"b" * 100)
            assert c.read_response().body.startswith(b"100:")
            # rejected from the head alone, before any of the body is sent
            c.send(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n")
            expect_error(c, 413)
        with Client(srv.port) as c:
            c.send(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"32\r\n" + b"c" * 50 + b"\r\n32\r\n" + b"c" * 50 + b"\r\n0\r\n\r\n")
            assert c.read_response().body.startswith(b"100:")
            c.send(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"32\r\n" + b"c" * 50 + b"\r\n33\r\n")
            expect_error(c, 413)
        with Client(srv.port) as c:        # Expect: 100-continue over the limit: no 100
            c.send(b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
                   b"Content-Length: 1000\r\n\r\n")
            r = c.read_response(interim=True)
            assert r.status == 413 and r.close


def test_defaults():
    srv = HttpServer(echo, port=0, threads=0)
    try:
        cfg = srv.config
        assert (cfg.max_request_line, cfg.max_header_size, cfg.max_headers, cfg.max_body_size) == \
            (8192, 65536, 100, 16 * 1024 * 1024)
        assert (cfg.keep_alive_timeout, cfg.header_timeout) == (5.0, 10.0)
        assert srv.max_connections is None
    finally:
        srv.stop()


@pytest.mark.parametrize("kw,exc", [
    ({"max_request_line": 0}, ValueError), ({"max_header_size": -1}, ValueError),
    ({"max_headers": 0}, ValueError), ({"max_headers": 100000}, ValueError),
    ({"max_body_size": 1.5}, ValueError), ({"keep_alive_timeout": 0}, ValueError),
    ({"header_timeout": -1}, ValueError), ({"body_timeout": "x"}, ValueError),
    ({"max_connections": 0}, ValueError), ({"max_bogus": 1}, TypeError),
])
def test_bad_limit_values(kw, exc):
    with pytest.raises(exc):
        HttpServer(echo, port=0, threads=0, **kw)


# ---- timeouts ---------------------------------------------------------------------------------------

T = 0.5
FAST = dict(header_timeout=T, keep_alive_timeout=T, body_timeout=T)


def test_header_timeout_slowloris_partial_head():
    with serve(echo, **dict(FAST, keep_alive_timeout=5)) as srv:
        with Client(srv.port) as c:
            t0 = time.monotonic()
            c.send(b"GET / HTTP/1.1\r\nHost: h\r\nX-Slow: ")
            assert c.closed_within(T + 1.0)
            elapsed = time.monotonic() - t0
            assert T * 0.6 <= elapsed <= T + 1.0, elapsed
            assert c.buf.startswith(b"HTTP/1.1 408 ") and b"Connection: close\r\n" in c.buf


def test_header_timeout_trickle_is_not_extended():
    with serve(echo, **dict(FAST, keep_alive_timeout=5)) as srv:
        with Client(srv.port) as c:
            t0 = time.monotonic()
            data = b"GET / HTTP/1.1\r\nHost: h\r\n" + b"X: y\r\n" * 100
            closed = False
            for b in data:
                try:
                    c.sock.send(bytes([b]))
                except OSError:
                    closed = True
                    break
                if c.closed_within(0.05):
                    closed = True
                    break
                if time.monotonic() - t0 > T + 1.5:
                    break
            assert closed, "a head that trickles in must still be cut at header_timeout"
            assert time.monotonic() - t0 <= T + 1.5


def test_header_timeout_silent_connection():
    with serve(echo, **dict(FAST, keep_alive_timeout=5)) as srv:
        with Client(srv.port) as c:
            t0 = time.monotonic()
            assert c.closed_within(T + 1.0)
            assert time.monotonic() - t0 >= T * 0.6
            assert c.buf == b""          # nothing was asked, nothing is answered
        assert wait_for(lambda: live_connections(srv) == 0, 2)


def test_keep_alive_timeout_closes_idle_connection():
    with serve(echo, **dict(FAST, header_timeout=5)) as srv:
        with Client(srv.port) as c:
            # active use keeps it open past the timeout
            for i in range(4):
                if i:
                    time.sleep(T / 2)
                c.send(get("/"))
                assert c.read_response().status == 200
            t0 = time.monotonic()
            assert c.closed_within(T + 1.0)
            assert time.monotonic() - t0 >= T * 0.6
            assert c.buf == b""          # idle close: no 408


@pytest.mark.parametrize("dispatcher", ["epoll", "poll"])
def test_keep_alive_timeout_closes_a_connection_answered_from_c(dispatcher):
    # a static route answers without the GIL and sets the keep-alive deadline
    # there: the loop's sweeper, which waits for the first deadline without the
    # GIL, must still wake up for it (nothing else happens on the loop)
    with serve(None, routes={"/s": b"static"}, dispatcher=dispatcher,
               **dict(FAST, header_timeout=5)) as srv:
        with Client(srv.port) as c:
            for i in range(4):
                if i:
                    time.sleep(T / 2)
                c.send(get("/s"))
                r = c.read_response()
                assert r.status == 200 and r.body == b"static"
            t0 = time.monotonic()
            assert c.closed_within(T + 1.0)
            assert time.monotonic() - t0 >= T * 0.6
            assert c.buf == b""
        assert wait_for(lambda: live_connections(srv) == 0, 2)


def test_body_timeout():
    with serve(echo, **dict(FAST, header_timeout=5, keep_alive_timeout=5)) as srv:
        with Client(srv.port) as c:
            c.send(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc")
            t0 = time.monotonic()
            expect_error(c, 408)
            assert T * 0.6 <= time.monotonic() - t0 <= T + 1.0
        with Client(srv.port) as c:
            c.send(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab")
            expect_error(c, 408)


def test_body_timeout_rearmed_by_progress():
    # min_body_rate=0: only the time between reads counts (no average rate)
    with serve(echo, **dict(FAST, header_timeout=5, keep_alive_timeout=5,
                            min_body_rate=0)) as srv:
        with Client(srv.port) as c:
            c.send(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\n\r\n")
            for b in b"abcdef":                  # 6 x 0.25 s > body_timeout, but it moves
                time.sleep(T / 2)
                c.send(bytes([b]))
            assert c.read_response().body == b"6:abcdef"


def _read_slowly(keep_alive_timeout, chunk, pause):
    """GET an 8 MiB response and read it ``chunk`` bytes at a time with a
    ``pause`` after each, through a 64 KiB receive buffer; the seconds taken."""
    big = b"z" * (8 << 20)
    with serve(lambda req: big, keep_alive_timeout=keep_alive_timeout, header_timeout=5) as srv:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.settimeout(5)
        sock.connect(("127.0.0.1", srv.port))
        with Client(srv.port, sock=sock) as c:
            c.send(get("/"))
            t0 = time.monotonic()
            got = 0
            while got < len(big):
                d = c.sock.recv(chunk)
                assert d, "the server cut the response after %d bytes" % got
                got += len(d)
                time.sleep(pause)
            return time.monotonic() - t0


def test_slow_reader_of_a_large_response_is_not_cut():
    # about 1 s, over 3x keep_alive_timeout
    assert _read_slowly(0.3, 65536, 0.008) > 0.6


@pytest.mark.slow
def test_reader_slower_than_the_kernel_buffer_drains_is_not_cut():
    """The response is judged by what the client took, the kernel's send
    queue included: a reader that empties a large socket buffer slowly makes
    progress the output buffer alone does not show (writability comes only
    once a third of the send buffer is free), and is not cut."""
    _read_slowly(0.1, 16384, 0.004)         # about 2 s at 4 MB/s


def test_client_that_never_reads_is_closed():
    big = b"z" * (8 << 20)
    with serve(lambda req: big, keep_alive_timeout=0.3, header_timeout=5) as srv:
        with Client(srv.port) as c:
            c.send(get("/"))
            assert wait_for(lambda: live_connections(srv) == 1, 2)
            # no progress for a whole timeout once the response is stuck: closed
            assert wait_for(lambda: live_connections(srv) == 0, 3)


def test_streaming_client_that_never_reads_is_closed():
    # a streamed body must make progress within body_timeout (a send timeout)
    closed = []

    def endless():
        try:
            while True:
                yield b"s" * 65536
        finally:
            closed.append(True)

    with serve(lambda req: HttpResponse(endless()), body_timeout=0.4, header_timeout=5) as srv:
        with Client(srv.port) as c:
            c.send(get("/"))
            assert wait_for(lambda: live_connections(srv) == 1, 2)
            assert wait_for(lambda: live_connections(srv) == 0, 4)
            assert wait_for(lambda: closed == [True], 2)


# ---- max_connections --------------------------------------------------------------------------------

def test_max_connections():
    with serve(echo, threads=2, max_connections=3) as srv:
        held = [Client(srv.port) for _ in range(3)]
        try:
            for c in held:
                c.send(get("/"))
                assert c.read_response().status == 200
            try:
                extra = Client(srv.port)
            except OSError:                      # TLS: closed during the handshake
                extra = None
            if extra is not None:
                try:
                    extra.send(get("/"))
                except OSError:
                    pass
                assert extra.closed_within(2) and extra.buf == b"", "over the limit: closed at once"
                extra.close()
            for c in held:                       # the others are unaffected
                c.send(get("/"))
                assert c.read_response().status == 200
            held.pop().close()
            assert wait_for(lambda: live_connections(srv) == 2, 2)

            def fresh_ok():
                try:
                    with Client(srv.port) as c:
                        c.send(get("/"))
                        return c.read_response().status == 200
                except (OSError, EOFError):
                    return False
            assert wait_for(fresh_ok, 3), "a slot freed by a close is reused"
        finally:
            for c in held:
                c.close()


def test_connection_refused_after_stop():
    with serve(echo) as srv:
        port = srv.port
    with pytest.raises(OSError):
        connect(port, timeout=1).close()


def test_closing_response_to_a_client_that_never_reads_is_closed():
    # Connection: close + a body larger than the socket buffers + a client
    # that never reads: the server must not hold the connection forever
    big = b"z" * (8 << 20)
    with serve(lambda req: big, body_timeout=0.4, header_timeout=5) as srv:
        with Client(srv.port) as c:
            c.send(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
            assert wait_for(lambda: live_connections(srv) == 1, 2)
            assert wait_for(lambda: live_connections(srv) == 0, 4)


def test_input_is_capped_while_a_response_streams():
    # a client that floods requests while a streamed response is stuck must
    # not make the server buffer them without limit
    def endless():
        while True:
            yield b"s" * 65536

    with serve(lambda req: HttpResponse(endless()), body_timeout=5, header_timeout=5,
               max_header_size=1024) as srv:
        with Client(srv.port) as c:
            c.send(get("/"))
            assert wait_for(lambda: live_connections(srv) == 1, 2)
            c.sock.setblocking(False)
            sent = 0
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                try:
                    sent += c.sock.send(get("/") * 64)
                except WOULD_BLOCK:
                    time.sleep(0.01)
            # the kernel buffers fill up and the server stops reading
            assert sent < 64 << 20, sent
