"""Issue 10, WSGI conformance (black-box): reason phrases sent as the app
gave them, HEAD framing, wsgiref.validate on every path, truthful
wsgi.multithread / wsgi.multiprocess, blocking apps under the default flags,
iteration on the handler thread, slow clients throttling generators, and
close() exactly once.

Real sockets on 127.0.0.1, read raw (status lines byte for byte); the CLI
runs as ``python -m reactor`` in a subprocess.  "default" below means
``WSGIServer`` (or the CLI) without a ``handler_threads`` argument; every
server-side test runs with ``handler_threads=0`` and with the default.
"""
import ast
import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
import warnings
from wsgiref.validate import WSGIWarning, validator

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from reactor.config import Config  # noqa: E402
from wsgi_apps import issue10_apps  # noqa: E402
from wsgi_apps.issue10_bodies import read_input  # noqa: E402
from wsgi_apps.helpers import (  # noqa: E402
    CLI_ENV, CliServer, Client, CountingFile, WatchedBody, fetch, wait_for, wsgi_server)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# handler_threads=0 (the app on the loop) and the default (no argument at all)
MODES = [pytest.param(0, id="handler_threads=0"), pytest.param(None, id="default")]
CT = ("Content-Type", "text/plain")


def serve(app, mode, **kw):
    """``wsgi_server`` (threads=1 unless given) with ``handler_threads=mode``,
    or without the argument when ``mode`` is None."""
    if mode is not None:
        kw["handler_threads"] = mode
    return wsgi_server(app, **kw)


def status_line(c):
    """The raw status line of the next response on Client ``c`` (not consumed)."""
    while b"\r\n" not in c.buf:
        if not c._fill():
            raise AssertionError("the server closed before a status line; got %r" % c.buf)
    return c.buf.split(b"\r\n", 1)[0]


def assert_next_is_a_response(c, what):
    """After a HEAD answer's head, the next bytes must be the next status line."""
    while len(c.buf) < 9 and c._fill():
        pass
    assert c.buf[:9] == b"HTTP/1.1 ", "bytes after the head of the answer to %s: %r" % (
        what, c.buf[:120])


@pytest.fixture(scope="module")
def real_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("issue10") / "payload.bin"
    data = bytes(range(256)) * 64 + b"tail"         # 16388 bytes
    path.write_bytes(data)
    return str(path), data


# ---------------------------------------------------------------------------
# 1. reason phrases round-trip unchanged

REASONS = ["302 FOUND", "200 OK", "404 Not Here", "299 Custom Thing", "418 I'm a teapot"]
REASON_BODIES = {"list": b"a list of two", "one-item-list": b"one item",
                 "generator": b"from a generator", "empty-generator": b"",
                 "write": b"written, then returned", "exc_info": b"error page"}


def _reason_app(path, data):
    def app(environ, start_response):
        status = environ["HTTP_X_STATUS"]
        kind = environ["PATH_INFO"][1:]
        if kind == "list":
            start_response(status, [CT])
            return [b"a list ", b"of two"]
        if kind == "one-item-list":
            start_response(status, [CT])
            return [b"one item"]
        if kind == "generator":
            start_response(status, [CT])
            return (c for c in [b"from ", b"a ", b"generator"])
        if kind == "empty-generator":
            start_response(status, [CT])
            return (c for c in [])
        if kind == "write":
            write = start_response(status, [CT])
            write(b"written, ")
            return [b"then returned"]
        if kind == "exc_info":              # the error page replaces a first status
            start_response("200 OK", [CT])
            try:
                raise RuntimeError("before the body")
            except RuntimeError:
                start_response(status, [CT], sys.exc_info())
            return [b"error page"]
        if kind == "file_wrapper":
            start_response(status, [("Content-Type", "application/octet-stream"),
                                    ("Content-Length", str(len(data)))])
            return environ["wsgi.file_wrapper"](open(path, "rb"), 8192)
        raise AssertionError(kind)
    return app


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", list(REASON_BODIES) + ["file_wrapper"])
def test_reason_phrase_sent_as_given(kind, mode, real_file):
    """The status line is ``HTTP/1.1 `` + exactly the app's status string, for
    GET and HEAD, on every body path."""
    path, data = real_file
    body = data if kind == "file_wrapper" else REASON_BODIES[kind]
    seen = []
    with serve(_reason_app(path, data), mode) as server:
        with Client(server.port) as c:
            for status in REASONS:
                for method in ("GET", "HEAD"):
                    c.request(method, "/" + kind, [("X-Status", status)])
                    line = status_line(c)
                    r = c.read_response(method)
                    assert r.body == (b"" if method == "HEAD" else body), (method, status, r)
                    seen.append(("%s %s" % (method, status), line))
    wrong = ["%s -> %r" % (what, line) for what, line in seen
             if line != b"HTTP/1.1 " + what.split(" ", 1)[1].encode("latin-1")]
    assert not wrong, "status lines not as the app gave them: " + "; ".join(wrong)


# ---------------------------------------------------------------------------
# 2. HEAD framing

def _head_app(environ, start_response):
    p = environ["PATH_INFO"]
    if p == "/gen":                         # no declared length
        start_response("200 OK", [CT])
        return (b"part %d;" % i for i in range(3))
    if p == "/cl5-gen":
        start_response("200 OK", [CT, ("Content-Length", "5")])
        return (c for c in [b"he", b"llo"])
    if p == "/cl5-list":
        start_response("200 OK", [CT, ("Content-Length", "5")])
        return [b"hello"]
    if p == "/cl5-empty-on-head":           # what frameworks do: no body for HEAD
        start_response("200 OK", [CT, ("Content-Length", "5")])
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [b"hello"]
    if p == "/list":
        start_response("200 OK", [CT])
        return [b"abc", b"defg"]
    if p == "/one":
        start_response("200 OK", [CT])
        return [b"seven!!"]
    raise AssertionError(p)


@pytest.mark.parametrize("mode", MODES)
def test_head_of_unknown_length_has_no_length_and_no_body(mode):
    with serve(_head_app, mode) as server:
        with Client(server.port) as c:
            c.send(b"HEAD /gen HTTP/1.1\r\nHost: x\r\n\r\n"
                   b"GET /gen HTTP/1.1\r\nHost: x\r\n\r\n")
            h = c.read_response("HEAD")
            assert h.status == 200, h
            assert h.header("Content-Length") is None, \
                "HEAD of a body of unknown length got Content-Length: %s" % h.header(
                    "Content-Length")
            assert_next_is_a_response(c, "HEAD /gen")
            g = c.read_response()
            assert g.status == 200 and g.body == b"part 0;part 1;part 2;", g
            c.request("GET", "/list")           # the connection is still in step
            assert c.read_response().body == b"abcdefg"


def _empty_on_head_app(environ, start_response):
    """Streams on GET; on HEAD returns an empty iterable without a length, as
    werkzeug (Flask) does for a streamed response."""
    start_response("200 OK", [CT])
    if environ["REQUEST_METHOD"] == "HEAD":
        return {"/list": [], "/tuple": (), "/gen": iter(())}[environ["PATH_INFO"]]
    return (b"chunk %d;" % i for i in range(3))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("path", ["/list", "/tuple", "/gen"])
def test_head_with_an_empty_body_and_no_length_gets_no_content_length(path, mode):
    # the GET of the same resource is chunked: a HEAD answer saying
    # Content-Length: 0 would be a lie (RFC 9110 9.3.2)
    with serve(_empty_on_head_app, mode) as server:
        with Client(server.port) as c:
            c.send(b"HEAD %s HTTP/1.1\r\nHost: x\r\n\r\nGET %s HTTP/1.1\r\nHost: x\r\n\r\n"
                   % (path.encode(), path.encode()))
            h = c.read_response("HEAD")
            assert h.status == 200 and h.header("Content-Length") is None, h
            assert_next_is_a_response(c, "HEAD " + path)
            g = c.read_response()
            assert g.status == 200 and g.body == b"chunk 0;chunk 1;chunk 2;", g


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("path", ["/cl5-gen", "/cl5-list", "/cl5-empty-on-head"])
def test_head_keeps_declared_content_length(path, mode):
    with serve(_head_app, mode) as server:
        with Client(server.port) as c:
            c.send(b"HEAD %s HTTP/1.1\r\nHost: x\r\n\r\nGET %s HTTP/1.1\r\nHost: x\r\n\r\n"
                   % (path.encode(), path.encode()))
            h = c.read_response("HEAD")
            assert h.status == 200, h
            assert h.header("Content-Length") == "5", h
            assert h.header("Transfer-Encoding") is None, h
            assert_next_is_a_response(c, "HEAD " + path)
            g = c.read_response()
            assert g.status == 200 and g.header("Content-Length") == "5" and g.body == b"hello"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("path,body", [("/list", b"abcdefg"), ("/one", b"seven!!")])
def test_head_of_list_body_has_the_length_get_has(path, body, mode):
    with serve(_head_app, mode) as server:
        with Client(server.port) as c:
            c.request("GET", path)
            g = c.read_response()
            c.send(b"HEAD %s HTTP/1.1\r\nHost: x\r\n\r\nGET %s HTTP/1.1\r\nHost: x\r\n\r\n"
                   % (path.encode(), path.encode()))
            h = c.read_response("HEAD")
            assert_next_is_a_response(c, "HEAD " + path)
            again = c.read_response()
    assert g.body == body and again.body == body
    assert g.header("Content-Length") == str(len(body))
    assert h.status == 200 and h.header("Content-Length") == g.header("Content-Length"), h


# ---------------------------------------------------------------------------
# 3. wsgiref.validate on every path

class Lint:
    """``validator(app)`` as seen by the server, plus bookkeeping (the app runs
    on server threads): every error raised by the validator or the app at
    call, next() or close() time, how many calls and how many close()s."""

    def __init__(self, app):
        self.lint = validator(app)
        self.errors = []
        self.calls = 0
        self.closed = 0
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            self.calls += 1
        try:
            return WatchedBody(self, self.lint(environ, start_response))
        except BaseException as exc:
            self.errors.append(exc)
            raise

    def check(self, caught, calls):
        assert self.calls == calls, "the app was called %d times, not %d" % (self.calls, calls)
        wait_for(lambda: self.closed >= self.calls, 2.0)
        assert self.errors == [], "the validator (or the app) raised: %r" % self.errors
        found = [str(w.message) for w in caught if issubclass(w.category, WSGIWarning)]
        assert found == [], "WSGIWarning(s): %r" % found
        assert self.closed == self.calls, "%d iterables, %d close() calls" % (
            self.calls, self.closed)


def _digest_line(n, h, past):
    return b"%d %s %r" % (n, h.hexdigest().encode(), past)


def _lint_target(path, data):
    """A plain PEP 3333 app (validator-clean) with one route per path."""
    def app(environ, start_response):
        p = environ["PATH_INFO"]
        if p == "/list":
            start_response("200 OK", [CT])
            return [b"a ", b"list"]
        if p == "/generator":
            start_response("200 OK", [CT])
            return (b"gen%d;" % i for i in range(5))
        if p == "/write":
            write = start_response("200 OK", [CT])
            write(b"written;")
            return [b"returned"]
        if p == "/file":
            start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                      ("Content-Length", str(len(data)))])
            return environ["wsgi.file_wrapper"](open(path, "rb"), 8192)
        if p.startswith("/q/"):
            body = json.dumps([environ["PATH_INFO"], environ["QUERY_STRING"]]).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        if p.startswith("/read/"):
            inp = environ["wsgi.input"]
            n, h = read_input(inp, p[6:], 8192, limit=1000)
            body = _digest_line(n, h, inp.read(10))
            start_response("200 OK", [CT])
            return [body]
        raise AssertionError(p)
    return app


def _expect_digest(data):
    return _digest_line(len(data), hashlib.sha256(data), b"")


def _lined_body(lines):
    return b"".join(b"line %d %s\n" % (i, b"x" * (i * 37 % 2500)) for i in range(lines))


@pytest.mark.parametrize("mode", MODES)
def test_validator_response_paths(mode, real_file):
    path, data = real_file
    lint = Lint(_lint_target(path, data))
    expected = {"/list": b"a list", "/generator": b"gen0;gen1;gen2;gen3;gen4;",
                "/write": b"written;returned", "/file": data}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with serve(lint, mode) as server:
            with Client(server.port) as c:
                for p, body in expected.items():
                    for method in ("GET", "HEAD"):
                        c.request(method, p)
                        r = c.read_response(method)
                        assert r.status == 200, (method, p, r)
                        assert r.body == (b"" if method == "HEAD" else body), (method, p, r)
                c.request("GET", "/q/caf%C3%A9/a%20b%2Fc?x=1&y=%20z&empty=")
                r = c.read_response()
                assert r.status == 200, r
                assert json.loads(r.body) == [b"/q/caf\xc3\xa9/a b/c".decode("latin-1"),
                                              "x=1&y=%20z&empty="]
    lint.check(caught, calls=2 * len(expected) + 1)


@pytest.mark.parametrize("mode", MODES)
def test_validator_request_bodies(mode):
    lint = Lint(_lint_target(None, b""))
    small, big = _lined_body(200), _lined_body(2500)      # ~0.25 MB and ~3 MB
    assert len(big) > 2 * 1024 * 1024
    calls = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with serve(lint, mode) as server:
            with Client(server.port, timeout=10.0) as c:
                for how in ("blocks", "readline", "iter"):
                    for body in (small, big):
                        c.request("POST", "/read/" + how, [CT], body)
                        r = c.read_response()
                        calls += 1
                        assert (r.status, r.body) == (200, _expect_digest(body)), (how, r)
                # chunked, in odd-sized chunks with an extension and a trailer
                for body in (small, big):
                    parts = [body[i:i + 70001] for i in range(0, len(body), 70001)]
                    framed = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(x), x) for x in parts)
                    c.send(b"POST /read/blocks HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain"
                           b"\r\nTransfer-Encoding: chunked\r\n\r\n" + framed +
                           b"0\r\nX-Trailer: t\r\n\r\n")
                    r = c.read_response()
                    calls += 1
                    assert (r.status, r.body) == (200, _expect_digest(body)), ("chunked", r)
                # an empty body, declared
                c.request("POST", "/read/blocks", [CT, ("Content-Length", "0")])
                r = c.read_response()
                calls += 1
                assert (r.status, r.body) == (200, _expect_digest(b"")), ("empty", r)
                c.request("POST", "/read/iter", [CT, ("Content-Length", "0")])
                r = c.read_response()
                calls += 1
                assert (r.status, r.body) == (200, _expect_digest(b"")), ("empty", r)
    lint.check(caught, calls=calls)


# ---------------------------------------------------------------------------
# 4. wsgi.multithread and wsgi.multiprocess tell the truth

@pytest.mark.parametrize("kw,multithread", [
    (dict(threads=1, handler_threads=0), False),
    (dict(threads=0, handler_threads=0), False),
    (dict(threads=2, handler_threads=0), True),
    (dict(threads=1, handler_threads=1), False),
    (dict(threads=1), True),
], ids=["threads=1,handler_threads=0", "threads=0,handler_threads=0",
        "threads=2,handler_threads=0", "threads=1,handler_threads=1",
        "threads=1,default-handler-threads"])
def test_multithread_and_multiprocess_in_process(kw, multithread):
    with wsgi_server(issue10_apps.flags, **kw) as server:
        r = fetch(server.port)
    assert r.status == 200, r
    assert r.body.decode() == repr((multithread, False)), \
        "(wsgi.multithread, wsgi.multiprocess) with %r" % (kw,)


def test_default_handler_threads_above_one(tmp_path):
    """The new default is > 1, and --help says so and what 0 does."""
    assert Config().handler_threads > 1
    out = subprocess.run([sys.executable, "-m", "reactor", "--help"], cwd=str(tmp_path),
                         env=CLI_ENV, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    m = re.search(r"(?<!\[)--handler-threads M (.*?)(?= --[a-z]| -[a-zA-Z] |$)", text)
    assert m, text
    para = m.group(1)
    default = re.search(r"default:? (\d+)", para)
    assert default and int(default.group(1)) == Config().handler_threads > 1, para
    assert re.search(r"\b0\b", para.replace(default.group(0), "")), \
        "--help does not say what --handler-threads 0 does: %r" % para


@pytest.mark.parametrize("workers,multiprocess", [(2, True), (1, False)])
def test_multiprocess_through_the_cli(tmp_path, workers, multiprocess):
    with CliServer(tmp_path, "issue10_apps:flags", "--workers", str(workers),
                   "--threads", "1") as cli:
        cli.wait_ready()
        seen = set()
        for _ in range(4):
            r = fetch(cli.port)
            assert r.status == 200, r
            seen.add(ast.literal_eval(r.body.decode())[1])
        assert cli.stop() == 0, cli.stderr()
    assert seen == {multiprocess}, "wsgi.multiprocess with --workers %d: %r" % (workers, seen)


# ---------------------------------------------------------------------------
# 5. a blocking app under the default flags

def _fast_while_sleeping(port):
    with Client(port, timeout=10.0) as slow:
        slow.request("GET", "/sleep")
        time.sleep(0.2)
        t0 = time.monotonic()
        r = fetch(port, path="/fast")
        latency = time.monotonic() - t0
        assert r.status == 200, r
        assert latency < 0.5, \
            "/fast took %.2fs while /sleep slept on another connection" % latency
        assert r.body == b"fast sleeping=1", r      # answered while /sleep still slept
        s = slow.read_response()
        assert s.status == 200 and s.body == b"slept", s


def test_blocking_app_does_not_block_others_by_default():
    with wsgi_server(issue10_apps.sleeper, threads=1) as server:     # no handler_threads
        _fast_while_sleeping(server.port)


def test_blocking_app_does_not_block_others_by_default_cli(tmp_path):
    with CliServer(tmp_path, "issue10_apps:sleeper", "--threads", "1") as cli:
        cli.wait_ready("/fast")
        _fast_while_sleeping(cli.port)
        assert cli.stop() == 0, cli.stderr()


def test_handler_threads_zero_is_the_documented_fast_mode():
    """handler_threads=0 runs the app on the loop: a blocking app holds up the
    other connections of that loop there, by design, so no timing is asserted;
    both answers must still be right, and the README must say what 0 means."""
    with wsgi_server(issue10_apps.sleeper, threads=1, handler_threads=0) as server:
        with Client(server.port, timeout=10.0) as slow:
            slow.request("GET", "/sleep?t=0.3")
            time.sleep(0.1)
            r = fetch(server.port, path="/fast")
            assert r.status == 200 and r.body.startswith(b"fast sleeping="), r
            s = slow.read_response()
            assert s.status == 200 and s.body == b"slept", s
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    assert "--handler-threads 0" in readme or "handler_threads=0" in readme


# ---------------------------------------------------------------------------
# 6. generators are iterated on the handler thread

def _loop_idents(server):
    """The thread ident of every event loop of ``server``."""
    loops = [server.http.tcp.loop] + list(server.http.tcp.thread_pool.loops)
    idents = set()
    for lp in loops:
        done = threading.Event()
        lp.run_in_loop(lambda: (idents.add(threading.get_ident()), done.set()))
        assert done.wait(2.0)
    return idents


@pytest.mark.parametrize("size", [(3, 10), (64, 65536)], ids=["3x10B", "64x64KiB"])
@pytest.mark.parametrize("kind", ["generator", "iterable"])
def test_body_iterated_on_the_handler_thread(kind, size):
    n, chunk_size = size
    chunk = b"c" * chunk_size
    events = []
    finished = threading.Event()

    def rec(what):
        events.append((what, threading.get_ident(), threading.current_thread().name))

    def gen():
        try:
            for _ in range(n):
                rec("next")
                yield chunk
            rec("next")
        finally:
            rec("close")
            finished.set()

    class Body:
        def __init__(self):
            self.left = n

        def __iter__(self):
            return self

        def __next__(self):
            rec("next")
            if not self.left:
                raise StopIteration
            self.left -= 1
            return chunk

        def close(self):
            rec("close")
            finished.set()

    def app(environ, start_response):
        rec("call")
        start_response("200 OK", [CT])
        return gen() if kind == "generator" else Body()

    with wsgi_server(app) as server:                # default handler_threads
        loop_idents = _loop_idents(server)
        with Client(server.port) as c:
            c.request("GET", "/")
            time.sleep(0.2)                         # let a big body meet back-pressure
            r = c.read_response()
            assert r.status == 200 and r.body == chunk * n
        assert finished.wait(2.0), "close() not called"
    events = list(events)
    assert events[0][0] == "call", events[:3]
    assert sum(1 for e in events if e[0] == "next") >= n + 1
    call_ident, call_name = events[0][1], events[0][2]
    elsewhere = sorted({(what, name) for what, ident, name in events if ident != call_ident})
    assert not elsewhere, "the app ran on %r, but these steps ran elsewhere: %r" % (
        call_name, elsewhere)
    assert call_ident not in loop_idents, "the app ran on an event loop thread (%s)" % call_name
    assert call_name.startswith("reactor-wsgi"), call_name


# ---------------------------------------------------------------------------
# 7. a slow client throttles a generator

CHUNK_256K = b"z" * (256 * 1024)
ENDLESS_CAP = 1024          # 256 MiB: a safety stop only, far above the bound


class Endless:
    """Yields 256 KiB chunks "forever" (up to ENDLESS_CAP); counts them and
    close() calls."""

    def __init__(self):
        self.produced = 0
        self.close_calls = 0
        self.closed = threading.Event()

    def __iter__(self):
        return self

    def __next__(self):
        if self.produced >= ENDLESS_CAP:
            raise StopIteration
        self.produced += 1
        return CHUNK_256K

    def close(self):
        self.close_calls += 1
        self.closed.set()


@pytest.mark.parametrize("mode", MODES)
def test_slow_client_throttles_a_generator(mode):
    bodies = []

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/ok":
            start_response("200 OK", [CT, ("Content-Length", "2")])
            return [b"ok"]
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        bodies.append(Endless())
        return bodies[-1]

    with serve(app, mode) as server:
        with Client(server.port) as c:
            c.request("GET", "/endless")
            head = b""
            while b"\r\n" not in head:              # the status line only
                got = c.sock.recv(64)
                assert got, "closed before the status line"
                head += got
            assert head.startswith(b"HTTP/1.1 200 "), head
            time.sleep(1.5)
            produced = bodies[0].produced
            # the queue (256 KiB), the output buffer (1 MiB) and the sockets' buffers:
            # a few MiB, far from the gigabytes of a runaway
            assert 0 < produced <= 64, \
                "%d chunks of 256 KiB produced for a client that reads nothing" % produced
        # the client closed
        assert bodies[0].closed.wait(2.0), \
            "close() not called within 2 s of the client going away (%d chunks made)" % (
                bodies[0].produced)
        assert fetch(server.port, path="/ok").body == b"ok"
    assert bodies[0].close_calls == 1


# ---------------------------------------------------------------------------
# 8. close() exactly once on every path

class Counted:
    """An iterable over ``chunks`` with close(); raises at ``fail_at``."""

    def __init__(self, chunks, fail_at=None):
        self.chunks = iter(chunks)
        self.fail_at = fail_at
        self.sent = 0
        self.close_calls = 0
        self.closed = threading.Event()

    def __iter__(self):
        return self

    def __next__(self):
        if self.fail_at is not None and self.sent >= self.fail_at:
            raise RuntimeError("the iterable failed halfway")
        c = next(self.chunks)
        self.sent += 1
        return c

    def close(self):
        self.close_calls += 1
        self.closed.set()


class ClosingList(list):
    def __init__(self, items):
        super().__init__(items)
        self.close_calls = 0
        self.closed = threading.Event()

    def close(self):
        self.close_calls += 1
        self.closed.set()


CLOSE_KINDS = ["list-with-close", "iterable", "empty-iterable", "write-then-iterable",
               "file_wrapper", "fails-halfway", "head", "no-start-response", "disconnect"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", CLOSE_KINDS)
def test_close_called_exactly_once(kind, mode, real_file):
    path, data = real_file
    made = []

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/ok":
            start_response("200 OK", [CT, ("Content-Length", "2")])
            return [b"ok"]
        if kind == "no-start-response":
            made.append(Counted([b"x"]))
            return made[-1]
        if kind == "file_wrapper":
            f = CountingFile(path)
            made.append(f)
            start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                      ("Content-Length", str(len(data)))])
            return environ["wsgi.file_wrapper"](f, 8192)
        write = start_response("200 OK", [("Content-Type", "application/octet-stream")])
        if kind == "list-with-close":
            made.append(ClosingList([b"a", b"b"]))
        elif kind == "empty-iterable":
            made.append(Counted([]))
        elif kind == "write-then-iterable":
            write(b"w")
            made.append(Counted([b"x", b"y"]))
        elif kind == "fails-halfway":
            made.append(Counted([b"y" * 1000] * 10, fail_at=3))
        elif kind == "disconnect":
            made.append(Counted(CHUNK_256K for _ in range(ENDLESS_CAP)))
        else:                                   # iterable, head
            made.append(Counted([b"a", b"b", b"c"]))
        return made[-1]

    expected = {"list-with-close": b"ab", "iterable": b"abc", "empty-iterable": b"",
                "write-then-iterable": b"wxy", "file_wrapper": data}
    try:
        with serve(app, mode) as server:
            with Client(server.port) as c:
                method = "HEAD" if kind == "head" else "GET"
                c.request(method, "/x")
                if kind == "disconnect":
                    c.read_head()
                    while len(c.buf) < 300_000:
                        assert c._fill(), "closed mid-stream"
                    c.close()
                else:
                    r = c.read_response(method, allow_short=True)
                    if kind == "fails-halfway":
                        assert r.status == 200 and not r.complete and r.body == b"y" * 3000, r
                    elif kind == "no-start-response":
                        assert r.status == 500, r
                    elif kind == "head":
                        assert r.status == 200 and r.body == b"", r
                    else:
                        assert r.status == 200 and r.body == expected[kind], r
            assert len(made) == 1
            assert made[0].closed.wait(2.0), "close() never called (%s)" % kind
            assert fetch(server.port, path="/ok").body == b"ok"
            time.sleep(0.1)                     # a second close() would come now
    finally:
        for m in made:
            if isinstance(m, CountingFile):
                m.f.close()
    assert made[0].close_calls == 1, "close() called %d times (%s)" % (
        made[0].close_calls, kind)


# ---------------------------------------------------------------------------
# the handler pool after review: a BaseException from a generator, HEAD, and
# the adapter used as a plain HttpServer handler

def logging_off(name):
    """Silence a logger for one test (the cut stream is logged with a traceback
    that would keep the connection alive past the test)."""
    logger = logging.getLogger(name)
    old = logger.disabled
    logger.disabled = True
    return lambda: setattr(logger, "disabled", old)


class Cancelled(BaseException):
    """Like asyncio.CancelledError or gevent's Timeout: not an Exception."""


def test_base_exception_in_a_generator_does_not_cost_a_handler_thread():
    def app(environ, start_response):
        start_response("200 OK", [CT])
        if environ["PATH_INFO"] == "/ok":
            return [b"ok"]

        def gen():
            yield b"first;"
            raise Cancelled()
        return gen()

    restore = logging_off("reactor")
    try:
        with serve(app, 1) as server:         # one handler thread: losing it hangs the next
            with Client(server.port) as c:
                c.request("GET", "/cancel")
                assert status_line(c) == b"HTTP/1.1 200 OK"
                assert c.closed_within(3.0), "the cut stream was not closed: %r" % c.buf[-80:]
            assert fetch(server.port, path="/ok").body == b"ok"       # 5 s socket timeout
    finally:
        restore()


@pytest.mark.parametrize("mode", MODES)
def test_head_does_not_iterate_a_generator(mode):
    calls = {"next": 0, "close": 0}

    class Body:
        def __iter__(self):
            return self

        def __next__(self):
            calls["next"] += 1
            if calls["next"] > 3:
                raise StopIteration
            return b"chunk"

        def close(self):
            calls["close"] += 1

    def app(environ, start_response):
        start_response("200 OK", [CT, ("Content-Length", "15")])
        return Body()

    with serve(app, mode) as server:
        with Client(server.port) as c:
            c.request("HEAD", "/")
            h = c.read_response("HEAD")
            assert h.status == 200 and h.header("Content-Length") == "15" and h.body == b""
        assert wait_for(lambda: calls["close"] == 1, 2.0), calls
    # the server may look at the first chunk to learn the status (start_response may come
    # that late), never at the rest of a body it will not send
    assert calls["next"] <= 1, calls


def test_adapter_as_a_plain_http_server_handler():
    from reactor.http_server import HttpServer
    from reactor.wsgi import WSGIAdapter

    def app(environ, start_response):
        start_response("201 Made It", [CT])
        return [environ["PATH_INFO"].encode(), b" ", environ["wsgi.input"].read()]

    server = HttpServer(WSGIAdapter(app), port=0, threads=1)
    server.start()
    try:
        with Client(server.port) as c:
            c.request("POST", "/p", body=b"data")
            assert status_line(c) == b"HTTP/1.1 201 Made It"
            assert c.read_response().body == b"/p data"
    finally:
        server.stop()


# ---------------------------------------------------------------------------
# write(): every byte, in order, whatever the app interleaves

def _write_app(environ, start_response):
    p = environ["PATH_INFO"]
    if p.startswith("/late"):
        # start_response (and write) only once the iterable is iterated
        def late():
            w = start_response("200 OK", [CT])
            w(b"w1;")
            if p == "/late-yield":
                yield b"y1;"
                w(b"w2;")
            elif p == "/late-empty-yield":
                yield b""
                w(b"w2;")
        return late()
    write = start_response("200 OK", [CT])
    write(b"w1;")
    if p == "/last-next-writes":
        def gen():
            write(b"w2;")
            if False:
                yield b""
        return gen()
    if p == "/interleaved":
        def gen():
            yield b"y1;"
            write(b"w2;")
            yield b"y2;"
            write(b"w3;")
            write(b"w4;")
        return gen()
    if p == "/yield-then-write":
        def gen():
            write(b"w2;")
            yield b"y1;"
            write(b"w3;")
            yield b""
            write(b"w4;")
        return gen()
    raise AssertionError(p)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("path,body", [
    ("/last-next-writes", b"w1;w2;"),
    ("/interleaved", b"w1;y1;w2;y2;w3;w4;"),
    ("/yield-then-write", b"w1;w2;y1;w3;w4;"),
    ("/late-no-yield", b"w1;"),
    ("/late-yield", b"w1;y1;w2;"),
    ("/late-empty-yield", b"w1;w2;"),
])
def test_write_calls_all_arrive_in_order(path, body, mode):
    with serve(_write_app, mode) as server:
        r = fetch(server.port, path=path)
    assert (r.status, r.body) == (200, body), r


@pytest.mark.parametrize("mode", MODES)
def test_start_response_with_exc_info_after_write_reraises(mode):
    # PEP 3333: once write() was called the headers count as sent, so a later
    # start_response(..., exc_info) must re-raise; the server then answers 500
    # rather than a 200's first bytes under another status
    seen = []

    def app(environ, start_response):
        write = start_response("200 OK", [CT])
        write(b"partial;")
        try:
            raise KeyError("boom")
        except KeyError:
            try:
                start_response("500 Oops", [CT], sys.exc_info())
            except KeyError:
                seen.append("re-raised")
                raise
            seen.append("replaced")
            return [b"error page"]

    restore = logging_off("reactor")
    try:
        with serve(app, mode) as server:
            r = fetch(server.port)
    finally:
        restore()
    assert seen == ["re-raised"], seen
    assert r.status == 500 and b"partial" not in r.body, r


class _Chunks:
    """An iterable with close() that is not a list (like werkzeug's ClosingIterator)."""

    def __init__(self, chunks, closed):
        self.it = iter(chunks)
        self.closed = closed

    def __iter__(self):
        return self

    def __next__(self):
        return next(self.it)

    def close(self):
        self.closed.append(1)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("chunks,keeps_alive", [
    ([b"hello"], True),
    ([b"hel", b"lo"], True),
    ([b"hello", b""], True),
    ([b"hello", b"EXTRA"], False),      # longer than declared: cut and closed
])
def test_iterable_with_its_declared_length_in_hand(chunks, keeps_alive, mode):
    closed = []

    def app(environ, start_response):
        start_response("200 OK", [CT, ("Content-Length", "5")])
        return _Chunks(chunks, closed)

    restore = logging_off("reactor")
    try:
        with serve(app, mode) as server:
            with Client(server.port) as c:
                c.request("GET", "/")
                r = c.read_response()
                assert (r.status, r.body, r.header("Content-Length")) == (200, b"hello", "5")
                if keeps_alive:
                    c.request("GET", "/")
                    assert c.read_response().body == b"hello"
                else:
                    assert c.closed_within(3.0)
            assert wait_for(lambda: len(closed) == (2 if keeps_alive else 1), 2.0), closed
    finally:
        restore()
