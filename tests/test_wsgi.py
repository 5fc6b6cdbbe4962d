"""WSGI (PEP 3333) on reactor: validator-checked apps, the environ, wsgi.input,
response framing, iterable close(), wsgi.file_wrapper (sendfile and
iteration), trusted proxies and the ``python -m reactor module:app`` CLI.

Real sockets and real clients (requests, http.client, raw sockets, curl);
every socket has a timeout.  Servers run on 127.0.0.1:<any port> and are
stopped by a context manager, so the suite's fd/thread leak check holds.
"""
import hashlib
import io
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import reactor  # noqa: E402
from reactor.wsgi import FileWrapper, WSGIInput, load_app  # noqa: E402
from wsgi_apps import basic  # noqa: E402
from wsgi_apps.helpers import (  # noqa: E402
    Client, CountingFile, Validated, fetch, wait_for, wsgi_server)
from http_helpers import (  # noqa: E402
    SCHEME, base_url, curl_tls_args, http_connection, tls_cli_args, tls_server_kw)

APPS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wsgi_apps")
T = 5.0     # client timeout for requests/http.client


def url(server, path="/"):
    return base_url(server.port) + path


def router(routes):
    """A WSGI app dispatching on PATH_INFO to ``routes``."""
    def app(environ, start_response):
        target = routes.get(environ["PATH_INFO"])
        if target is None:
            start_response("404 Not Found", [("Content-Type", "text/plain"),
                                             ("Content-Length", "9")])
            return [b"not found"]
        return target(environ, start_response)
    return app


HANDLER_MODES = [0, 2]
HANDLER_IDS = ["inline", "handler-threads"]


# ---------------------------------------------------------------------------
# wsgiref.validate: no warnings, no errors, every iterable closed

@pytest.fixture(params=HANDLER_MODES, ids=HANDLER_IDS)
def handler_threads(request):
    return request.param


def _validated_server(handler_threads):
    v = Validated(router({
        "/hello": basic.hello, "/echo": basic.echo, "/stream": basic.stream,
        "/write": basic.write_app, "/exc": basic.exc_info_app,
        "/file": basic.file_wrapper_app,
    }))
    return v, wsgi_server(v, handler_threads=handler_threads)


def test_validator_get_and_head(handler_threads):
    v, srv = _validated_server(handler_threads)
    with srv as server:
        r = requests.get(url(server, "/hello"), timeout=T)
        assert r.status_code == 200 and r.content == b"Hello, World!"
        r = requests.head(url(server, "/hello"), timeout=T)
        assert r.status_code == 200 and r.content == b""
        assert r.headers["Content-Length"] == "13"
        conn = http_connection(server.port, timeout=T)
        try:
            for method in ("GET", "HEAD", "GET"):
                conn.request(method, "/hello")
                resp = conn.getresponse()
                assert resp.read() == (b"" if method == "HEAD" else b"Hello, World!")
        finally:
            conn.close()
    v.check(calls=5)


def test_validator_post_bodies(handler_threads):
    v, srv = _validated_server(handler_threads)
    payload = os.urandom(300_000)
    with srv as server:
        r = requests.post(url(server, "/echo"), data=payload, timeout=T,
                          headers={"Content-Type": "application/octet-stream"})
        got = r.json()
        assert got["length"] == len(payload)
        assert got["sha256"] == hashlib.sha256(payload).hexdigest()
        assert got["extra"] == "" and got["content_type"] == "application/octet-stream"
        r = requests.post(url(server, "/echo"), data={"a": "1", "b": "two"}, timeout=T)
        assert r.json()["length"] == len(b"a=1&b=two")
        r = requests.post(url(server, "/echo"), data=b"", timeout=T)
        assert r.json()["length"] == 0
    v.check(calls=3)


def test_validator_chunked_upload(handler_threads):
    v, srv = _validated_server(handler_threads)
    parts = [os.urandom(n) for n in (1, 1000, 70_000, 5, 200_000)]
    with srv as server:
        r = requests.post(url(server, "/echo"), data=iter(parts), timeout=T)
        got = r.json()
        assert got["te"] == "chunked"
        assert got["length"] == sum(map(len, parts))
        assert got["sha256"] == hashlib.sha256(b"".join(parts)).hexdigest()
        # raw: chunk extensions and a trailer, then a pipelined GET
        with Client(server.port) as c:
            c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
                   b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            got = json.loads(c.read_response().body)
            assert got["length"] == 11 and got["sha256"] == hashlib.sha256(b"hello world").hexdigest()
            assert c.read_response().body == b"Hello, World!"
    v.check(calls=3)


def test_validator_streaming(handler_threads):
    v, srv = _validated_server(handler_threads)
    with srv as server:
        r = requests.get(url(server, "/stream"), params="200", timeout=T, stream=True)
        try:
            assert r.headers["Transfer-Encoding"] == "chunked"
            lines = list(r.iter_lines())
        finally:
            r.close()
        assert lines == [b"chunk %d" % i for i in range(200)]
        r = requests.get(url(server, "/stream"), params="0", timeout=T)
        assert r.status_code == 200 and r.content == b""
        r = requests.head(url(server, "/stream"), timeout=T)
        assert r.status_code == 200 and r.content == b""
    v.check(calls=3)


def test_validator_write_callable(handler_threads):
    v, srv = _validated_server(handler_threads)
    with srv as server:
        r = requests.get(url(server, "/write"), timeout=T)
        assert r.content == b"written twice then returned"
        r = requests.head(url(server, "/write"), timeout=T)
        assert r.status_code == 200 and r.content == b""
    v.check(calls=2)


def test_validator_exc_info_before_body(handler_threads):
    v, srv = _validated_server(handler_threads)
    with srv as server:
        with Client(server.port) as c:
            c.request("GET", "/exc")
            r = c.read_response()
            assert r.status == 500
            assert r.header("X-Error") == "yes"
            assert r.body == b"error page"
            c.request("GET", "/hello")          # the connection is still good
            assert c.read_response().body == b"Hello, World!"
    v.check(calls=2)


def test_validator_file_wrapper(handler_threads):
    v, srv = _validated_server(handler_threads)
    with srv as server:
        r = requests.get(url(server, "/file"), timeout=T)
        assert r.content == b"0123456789" * 1000
        r = requests.head(url(server, "/file"), timeout=T)
        assert r.content == b"" and r.headers["Content-Length"] == "10000"
    v.check(calls=2)


# ---------------------------------------------------------------------------
# the environ

def _environ(c, path="/", method="GET", headers=(), body=b"", version="HTTP/1.1", **kw):
    c.request(method, path, headers, body, version, **kw)
    r = c.read_response(method)
    assert r.status == 200, r
    return json.loads(r.body)


def test_environ_complete():
    with wsgi_server(basic.environ_app) as server:
        with Client(server.port) as c:
            local_port = c.sock.getsockname()[1]
            env = _environ(c, "/caf%C3%A9/a%2Fb%20c?x=1&y=%20z", "POST",
                           [("Content-Type", "text/plain; charset=utf-8"),
                            ("X-Multi", "one"), ("X-Multi", "two"), ("x-multi", "three"),
                            ("Cookie", "a=1"), ("Cookie", "b=2"),
                            ("X-Custom-Header", "v")],
                           b"hello", host="example.com:1234")
        assert env["REQUEST_METHOD"] == "POST"
        assert env["SCRIPT_NAME"] == ""
        # percent-decoded bytes, as latin-1 str (PEP 3333)
        assert env["PATH_INFO"] == b"/caf\xc3\xa9/a/b c".decode("latin-1")
        assert env["QUERY_STRING"] == "x=1&y=%20z"
        assert env["CONTENT_TYPE"] == "text/plain; charset=utf-8"
        assert env["CONTENT_LENGTH"] == "5"
        assert "HTTP_CONTENT_TYPE" not in env and "HTTP_CONTENT_LENGTH" not in env
        assert env["SERVER_NAME"] == "example.com"
        assert env["SERVER_PORT"] == str(server.port)
        assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
        assert env["REMOTE_ADDR"] == "127.0.0.1"
        assert env["REMOTE_PORT"] == str(local_port)
        assert env["HTTP_HOST"] == "example.com:1234"
        assert env["HTTP_X_MULTI"] == "one, two, three"
        assert env["HTTP_COOKIE"] in ("a=1; b=2", "a=1, b=2")
        assert env["HTTP_X_CUSTOM_HEADER"] == "v"
        assert env["wsgi.version"] == [1, 0]
        assert env["wsgi.url_scheme"] == SCHEME
        assert env["wsgi.multithread"] is True
        assert env["wsgi.multiprocess"] is False
        assert env["wsgi.run_once"] is False
        assert env["wsgi.input_terminated"] is True
        assert env["has_file_wrapper"] and env["has_errors"]
        for key, value in env.items():
            if "." not in key and key not in ("has_file_wrapper", "has_errors"):
                assert isinstance(value, str), key


def test_environ_get_without_body_and_http10():
    with wsgi_server(basic.environ_app) as server:
        with Client(server.port) as c:
            env = _environ(c, "/plain")
            assert env["PATH_INFO"] == "/plain" and env["QUERY_STRING"] == ""
            assert "CONTENT_LENGTH" not in env or env["CONTENT_LENGTH"] in ("", "0")
            assert "CONTENT_TYPE" not in env or env["CONTENT_TYPE"] == ""
            assert env["SERVER_NAME"] == "localhost"
        with Client(server.port) as c:
            env = _environ(c, "/old", version="HTTP/1.0", host=None)
            assert env["SERVER_PROTOCOL"] == "HTTP/1.0"
            assert env["SERVER_NAME"] == "127.0.0.1"      # no Host: the bound address
        with Client(server.port) as c:
            env = _environ(c, "/v6", host="[::1]:8080")
            assert env["SERVER_NAME"] == "::1"


def test_environ_underscore_headers_dropped():
    """X_Forwarded_For must not pose as X-Forwarded-For (gunicorn/nginx rule)."""
    with wsgi_server(basic.environ_app) as server:
        with Client(server.port) as c:
            env = _environ(c, "/", headers=[("X_Forwarded_For", "6.6.6.6"),
                                            ("X_Forwarded_Proto", "https"),
                                            ("Content_Length", "99"),
                                            ("X-Real", "ok")])
    assert "HTTP_X_FORWARDED_FOR" not in env
    assert "HTTP_X_FORWARDED_PROTO" not in env
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["wsgi.url_scheme"] == SCHEME
    assert env.get("CONTENT_LENGTH") in (None, "", "0")
    assert env["HTTP_X_REAL"] == "ok"


@pytest.mark.parametrize("path,script,info", [
    ("/app/x/y", "/app", "/x/y"),
    ("/app", "/app", ""),
    ("/app/", "/app", "/"),
    ("/app/%7Eu", "/app", "/~u"),
])
def test_environ_root_path(path, script, info):
    with wsgi_server(basic.environ_app, root_path="/app/") as server:
        with Client(server.port) as c:
            env = _environ(c, path + "?q=1")
    assert env["SCRIPT_NAME"] == script
    assert env["PATH_INFO"] == info
    assert env["QUERY_STRING"] == "q=1"


def _input_app(environ, start_response):
    """Exercise one wsgi.input access pattern (QUERY_STRING) and report."""
    inp = environ["wsgi.input"]
    mode = environ["QUERY_STRING"]
    if mode == "read_n":
        out = [inp.read(3), inp.read(4), inp.read(1000), inp.read(5), inp.read()]
    elif mode == "read_all":
        out = [inp.read(), inp.read(), inp.read(1)]
    elif mode == "read_none":
        out = [inp.read(None), inp.read(-1)]
    elif mode == "readline":
        out = [inp.readline(), inp.readline(3), inp.readline(), inp.readline(),
               inp.readline(), inp.readline()]
    elif mode == "readlines":
        out = inp.readlines() + [inp.read()]
    elif mode == "readlines_hint":
        out = inp.readlines(2) + [inp.read()]
    elif mode == "iter":
        out = list(inp) + [inp.read()]
    else:
        raise AssertionError(mode)
    body = json.dumps([x.decode("latin-1") for x in out]).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


@pytest.mark.parametrize("mode,expected", [
    ("read_n", ["one", "\ntwo", "\nthree\nlast", "", ""]),
    ("read_all", ["one\ntwo\nthree\nlast", "", ""]),
    ("read_none", ["one\ntwo\nthree\nlast", ""]),
    ("readline", ["one\n", "two", "\n", "three\n", "last", ""]),
    ("readlines", ["one\n", "two\n", "three\n", "last", ""]),
    ("readlines_hint", ["one\n", "two\nthree\nlast"]),
    ("iter", ["one\n", "two\n", "three\n", "last", ""]),
])
@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
def test_wsgi_input_never_reads_past_body(mode, expected, chunked):
    body = b"one\ntwo\nthree\nlast"
    with wsgi_server(_input_app) as server:
        with Client(server.port) as c:
            if chunked:
                framed = b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (
                    len(body), body)
            else:
                framed = b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
            # the next request follows at once: a read past the body would eat it
            c.send(b"POST /?" + mode.encode() + b" HTTP/1.1\r\nHost: x\r\n" + framed +
                   b"POST /?read_all HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nnext")
            r1 = c.read_response()
            r2 = c.read_response()
    got = json.loads(r1.body)
    if mode == "readlines_hint":
        # readlines(hint) stops after the line that reaches the hint
        assert got[0] == "one\n" and "".join(got) == body.decode()
    else:
        assert got == expected
    assert json.loads(r2.body) == ["next", "", ""]


def test_wsgi_input_unit():
    inp = WSGIInput(b"ab\ncd\n")
    assert inp.read(0) == b""
    assert inp.readline(1) == b"a"
    assert list(inp) == [b"b\n", b"cd\n"]
    assert inp.read(5) == b"" and inp.readline() == b"" and inp.readlines() == []


# ---------------------------------------------------------------------------
# response framing: Content-Length honoured, chunked, close-delimited

def _cl_app(declared, chunks, generator):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(declared))])
        if generator:
            return (c for c in chunks)
        return list(chunks)
    return app


@pytest.mark.parametrize("generator", [False, True], ids=["list", "generator"])
def test_content_length_longer_than_body_closes(generator, caplog):
    """The app declares 100 bytes and sends 10: the client gets the 10 and
    then EOF (no hang), never a padded or re-framed body; the server logs it."""
    caplog.set_level(logging.ERROR, logger="reactor")
    app = router({"/short": _cl_app(100, [b"01234", b"56789"], generator),
                  "/ok": basic.hello})
    with wsgi_server(app) as server:
        with Client(server.port) as c:
            t0 = time.monotonic()
            c.request("GET", "/short")
            r = c.read_response(allow_short=True)
            assert r.header("Content-Length") == "100"
            assert not r.complete and r.body == b"0123456789"
            assert c.eof and time.monotonic() - t0 < 3.0
        assert fetch(server.port, path="/ok").body == b"Hello, World!"
    assert any("Content-Length" in rec.getMessage() and "GET /short" in rec.getMessage()
               for rec in caplog.records), [rec.getMessage() for rec in caplog.records]


@pytest.mark.parametrize("generator", [False, True], ids=["list", "generator"])
def test_content_length_shorter_than_body_truncates(generator, caplog):
    caplog.set_level(logging.ERROR, logger="reactor")
    app = router({"/long": _cl_app(5, [b"0123", b"456789", b"abc"], generator),
                  "/ok": basic.hello})
    with wsgi_server(app) as server:
        with Client(server.port) as c:
            c.request("GET", "/long")
            c.request("GET", "/ok")             # pipelined: must not be answered
            r = c.read_response()
            assert r.header("Content-Length") == "5" and r.body == b"01234"
            assert c.closed_within(3.0)
            assert c.buf == b"", "bytes past the declared Content-Length: %r" % c.buf
        assert fetch(server.port, path="/ok").body == b"Hello, World!"
    assert any("Content-Length" in rec.getMessage() and "GET /long" in rec.getMessage()
               for rec in caplog.records), [rec.getMessage() for rec in caplog.records]


def test_chunked_on_http11_and_keep_alive():
    with wsgi_server(basic.stream) as server:
        with Client(server.port) as c:
            for n in (3, 1, 0, 40):
                c.request("GET", "/?%d" % n)
                r = c.read_response()
                if n == 0:
                    # exhausted before the first chunk: the length is known
                    assert r.header("Transfer-Encoding") is None
                    assert r.header("Content-Length") == "0"
                else:
                    assert r.header("Transfer-Encoding") == "chunked"
                    assert r.header("Content-Length") is None
                assert r.body == b"".join(b"chunk %d\n" % i for i in range(n))
            assert not c.closed_within(0.1)


def test_close_delimited_on_http10():
    with wsgi_server(basic.stream) as server:
        with Client(server.port) as c:
            c.request("GET", "/?4", version="HTTP/1.0")
            r = c.read_head()
            assert r.header("Transfer-Encoding") is None
            assert r.header("Content-Length") is None
            assert "close" in r.header("Connection", "").lower()
            assert c.read_until_close() == b"".join(b"chunk %d\n" % i for i in range(4))
        # HTTP/1.0 with keep-alive requested: a stream without length still closes
        with Client(server.port) as c:
            c.request("GET", "/?2", [("Connection", "keep-alive")], version="HTTP/1.0")
            r = c.read_head()
            assert r.header("Content-Length") is None
            assert c.read_until_close() == b"chunk 0\nchunk 1\n"
        # a list body on 1.0 gets a Content-Length from the server
        r = fetch(server.port, version="HTTP/1.0")
        assert r.status == 200


# ---------------------------------------------------------------------------
# the iterable's close() is always called

class Tracked:
    """An iterable (not a generator) with close(); records what happened."""

    def __init__(self, chunks, delay=0.0, fail_at=None):
        self.chunks = iter(chunks)
        self.delay = delay
        self.fail_at = fail_at
        self.sent = 0
        self.closed = threading.Event()
        self.close_calls = 0

    def __iter__(self):
        return self

    def __next__(self):
        if self.fail_at is not None and self.sent >= self.fail_at:
            raise RuntimeError("iterable failed halfway")
        if self.delay:
            time.sleep(self.delay)
        c = next(self.chunks)
        self.sent += 1
        return c

    def close(self):
        self.close_calls += 1
        self.closed.set()


class TrackingApp:
    """Returns a fresh Tracked body per request; keeps them for the test."""

    def __init__(self, make, headers=()):
        self.make = make
        self.headers = list(headers)
        self.bodies = []

    def __call__(self, environ, start_response):
        if environ["PATH_INFO"] == "/ok":
            return basic.hello(environ, start_response)
        start_response("200 OK", [("Content-Type", "application/octet-stream")] + self.headers)
        body = self.make()
        self.bodies.append(body)
        return body


def test_close_called_normal_and_head():
    app = TrackingApp(lambda: Tracked([b"a", b"b", b"c"]))
    with wsgi_server(app) as server:
        with Client(server.port) as c:
            c.request("GET", "/x")
            assert c.read_response().body == b"abc"
            c.request("HEAD", "/x")
            r = c.read_response("HEAD")
            assert r.status == 200 and r.body == b""
            c.request("GET", "/ok")
            assert c.read_response().body == b"Hello, World!"
    assert len(app.bodies) == 2
    for b in app.bodies:
        assert b.closed.wait(2.0) and b.close_calls == 1


@pytest.mark.parametrize("kind", ["iterable", "generator"])
@pytest.mark.parametrize("handler_threads", HANDLER_MODES, ids=HANDLER_IDS)
def test_close_called_when_client_disconnects_mid_stream(kind, handler_threads):
    """A slow, large streamed body; the client reads a little and goes away:
    close() must still be called, promptly, and the server keeps serving."""
    chunk = b"x" * 65536
    finalized = threading.Event()

    def gen():
        try:
            for _ in range(20000):          # ~1.3 GB if nobody stopped it
                time.sleep(0.001)
                yield chunk
        finally:
            finalized.set()

    if kind == "iterable":
        app = TrackingApp(lambda: Tracked([chunk] * 20000, delay=0.001))
    else:
        app = TrackingApp(gen)
    with wsgi_server(app, handler_threads=handler_threads) as server:
        c = Client(server.port)
        try:
            c.request("GET", "/big")
            c.read_head()
            while len(c.buf) < 200_000:
                assert c._fill()
        finally:
            c.close()
        if kind == "iterable":
            assert wait_for(lambda: app.bodies and app.bodies[0].closed.is_set(), 5.0), \
                "close() not called after the client went away"
            assert app.bodies[0].sent < 20000
        else:
            assert finalized.wait(5.0), "generator not closed after the client went away"
        assert fetch(server.port, path="/ok").body == b"Hello, World!"


@pytest.mark.parametrize("declared", [False, True], ids=["chunked", "content-length"])
def test_iterable_raising_halfway_closes_connection(declared):
    headers = [("Content-Length", str(10 * 1000))] if declared else []
    app = TrackingApp(lambda: Tracked([b"y" * 1000] * 10, fail_at=4), headers)
    with wsgi_server(app) as server:
        with Client(server.port) as c:
            t0 = time.monotonic()
            c.request("GET", "/fails")
            r = c.read_response(allow_short=True)
            assert r.status == 200
            assert not r.complete, "a failed stream must not look complete"
            assert r.body == b"y" * 4000
            assert c.closed_within(3.0) and time.monotonic() - t0 < 3.5
        assert app.bodies[0].closed.wait(2.0)
        assert app.bodies[0].close_calls == 1
        assert fetch(server.port, path="/ok").body == b"Hello, World!"


def _raise_before(environ, start_response):
    raise ValueError("before start_response")


def _raise_after(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    raise ValueError("after start_response, before the body")


def _raise_in_first_chunk(environ, start_response):
    def gen():
        start_response("200 OK", [("Content-Type", "text/plain")])
        raise ValueError("in the first chunk")
        yield b"never"
    return gen()


class _NoStart:
    def __call__(self, environ, start_response):
        return [b"no start_response"]


@pytest.mark.parametrize("handler_threads", HANDLER_MODES, ids=HANDLER_IDS)
@pytest.mark.parametrize("bad", [_raise_before, _raise_after, _raise_in_first_chunk, _NoStart()],
                         ids=["before", "after", "first-chunk", "no-start-response"])
def test_app_errors_become_500(bad, handler_threads):
    app = router({"/bad": bad, "/ok": basic.hello})
    with wsgi_server(app, handler_threads=handler_threads) as server:
        with Client(server.port) as c:
            c.request("GET", "/bad")
            r = c.read_response()
            assert r.status == 500
            assert b"Traceback" not in r.body and b"ValueError" not in r.body
            c.request("GET", "/ok")             # same connection still serves
            assert c.read_response().body == b"Hello, World!"


def test_app_ignoring_its_body_keeps_connection_usable():
    def ignore(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "7")])
        return [b"ignored"]
    app = router({"/ignore": ignore, "/echo": basic.echo})
    big = os.urandom(500_000)
    with wsgi_server(app) as server:
        with Client(server.port) as c:
            c.request("POST", "/ignore", body=big)
            assert c.read_response().body == b"ignored"
            c.request("POST", "/echo", body=b"abc")
            assert json.loads(c.read_response().body)["length"] == 3
            # pipelined: the unread chunked body must not be taken for a request
            inner = b"GET /x HTTP/1.1\r\n\r\n"
            c.send(b"POST /ignore HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"%x\r\n%s\r\n0\r\n\r\n" % (len(inner), inner) +
                   b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
            assert c.read_response().body == b"ignored"
            assert json.loads(c.read_response().body)["length"] == 2
        with requests.Session() as s:
            for _ in range(3):
                r = s.post(url(server, "/ignore"), data=big, timeout=T)
                assert r.content == b"ignored"


# ---------------------------------------------------------------------------
# start_response exc_info after the headers went out; write() inside a generator

def test_exc_info_after_headers_committed_reraises():
    """PEP 3333: once headers are sent, start_response(..., exc_info) must
    re-raise; the stream is then cut (connection closed), never re-framed."""
    seen = {}

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])

        def gen():
            yield b"part one;"
            try:
                raise KeyError("late failure")
            except KeyError:
                try:
                    start_response("500 Internal Server Error",
                                   [("Content-Type", "text/plain")], sys.exc_info())
                except KeyError as exc:
                    seen["reraised"] = exc
                    raise
                seen["reraised"] = None
                yield b"error page"
        return gen()

    with wsgi_server(router({"/late": app, "/ok": basic.hello})) as server:
        with Client(server.port) as c:
            c.request("GET", "/late")
            r = c.read_response(allow_short=True)
            assert r.status == 200
            assert r.body == b"part one;" and not r.complete
        assert isinstance(seen.get("reraised"), KeyError)
        assert fetch(server.port, path="/ok").status == 200


def test_write_inside_generator_body_keeps_order():
    """write() data produced while the first chunk is computed precedes it."""
    def app(environ, start_response):
        def gen():
            write = start_response("200 OK", [("Content-Type", "text/plain")])
            write(b"A")
            yield b"B"
            yield b"C"
        return gen()

    with wsgi_server(app) as server:
        r = fetch(server.port)
        assert r.body == b"ABC"


def test_write_while_streaming_is_not_lost():
    """write() called between later chunks (and just before the iterable
    ends) is sent, in order."""
    def app(environ, start_response):
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"0")

        def gen():
            yield b"1"
            write(b"2")
            yield b"3"
            write(b"4")
            write(b"5")
            yield b""
            write(b"6")
        return gen()

    with wsgi_server(app) as server:
        r = fetch(server.port)
        assert r.header("Transfer-Encoding") == "chunked"
        assert r.body == b"0123456"


# ---------------------------------------------------------------------------
# wsgi.file_wrapper: sendfile(2) for real files, iteration otherwise

ProxyFile = CountingFile      # a real file that counts read() and close() calls


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("wsgi") / "blob.bin"
    data = os.urandom(6 * 1024 * 1024 + 12345)
    path.write_bytes(data)
    return str(path), data


def _file_app(path, files, offset=0):
    def app(environ, start_response):
        if environ["PATH_INFO"] == "/ok":
            return basic.hello(environ, start_response)
        f = ProxyFile(path, offset)
        files.append(f)
        size = os.path.getsize(path) - offset
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(size))])
        return environ["wsgi.file_wrapper"](f, 65536)
    return app


@pytest.mark.parametrize("handler_threads", HANDLER_MODES, ids=HANDLER_IDS)
def test_file_wrapper_sendfile_byte_exact(big_file, handler_threads):
    path, data = big_file
    files = []
    with wsgi_server(_file_app(path, files), handler_threads=handler_threads) as server:
        r = requests.get(url(server, "/f"), timeout=T)
        assert r.status_code == 200
        assert int(r.headers["Content-Length"]) == len(data)
        assert hashlib.sha256(r.content).digest() == hashlib.sha256(data).digest()
        # keep-alive after a sendfile response, and HEAD
        with Client(server.port) as c:
            c.request("GET", "/f")
            assert c.read_response().body == data
            c.request("HEAD", "/f")
            r2 = c.read_response("HEAD")
            assert r2.header("Content-Length") == str(len(data))
            c.request("GET", "/ok")
            assert c.read_response().body == b"Hello, World!"
    assert len(files) == 3
    assert files[0].reads == 0 and files[1].reads == 0, "a real file must go through sendfile"
    for f in files:
        assert f.closed.wait(2.0)


def test_file_wrapper_sendfile_from_offset(big_file):
    path, data = big_file
    files = []
    with wsgi_server(_file_app(path, files, offset=777_777)) as server:
        r = requests.get(url(server, "/f"), timeout=T)
        assert r.content == data[777_777:]
    assert files[0].reads == 0 and files[0].closed.wait(2.0)


def test_file_wrapper_iteration_path():
    data = os.urandom(3 * 1024 * 1024 + 7)
    closed = threading.Event()

    class NotAFile(io.BytesIO):
        def close(self):
            closed.set()
            super().close()

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](NotAFile(data), 100_000)

    with wsgi_server(app) as server:
        r = requests.get(url(server, "/"), timeout=T)
        assert r.headers.get("Transfer-Encoding") == "chunked"
        assert hashlib.sha256(r.content).digest() == hashlib.sha256(data).digest()
    assert closed.wait(2.0)


def test_file_wrapper_unit():
    fw = FileWrapper(io.BytesIO(b"abcdefg"), 3)
    assert list(fw) == [b"abc", b"def", b"g"]
    assert fw.sendfile_info() is None
    fw.close()


def test_file_wrapper_sendfile_client_disconnect_closes_file(tmp_path):
    """The client goes away in the middle of a sendfile download: the file
    must be closed promptly (no fd held until garbage collection)."""
    path = tmp_path / "sparse.bin"
    with open(path, "wb") as f:
        f.truncate(256 * 1024 * 1024)       # sparse: cheap to make, long to send
    files = []
    try:
        with wsgi_server(_file_app(str(path), files)) as server:
            c = Client(server.port)
            try:
                c.request("GET", "/f")
                c.read_head()
                while len(c.buf) < 100_000:
                    assert c._fill()
            finally:
                c.close()
            closed = wait_for(lambda: files and files[0].closed.is_set(), 3.0)
            assert fetch(server.port, path="/ok").body == b"Hello, World!"
        assert closed, "file not closed after the client went away mid-sendfile"
    finally:
        for f in files:
            f.f.close()     # the leak check must not blame later tests


# ---------------------------------------------------------------------------
# trusted proxies

def test_forwarded_headers_from_trusted_proxy():
    with wsgi_server(basic.environ_app) as server:       # default: 127.0.0.1
        with Client(server.port) as c:
            env = _environ(c, headers=[("X-Forwarded-For", "203.0.113.7"),
                                       ("X-Forwarded-Proto", "https")])
            assert env["REMOTE_ADDR"] == "203.0.113.7"
            assert env["wsgi.url_scheme"] == "https"
            # a chain: the rightmost untrusted hop is the client
            env = _environ(c, headers=[("X-Forwarded-For", "198.51.100.1, 203.0.113.9, 127.0.0.1")])
            assert env["REMOTE_ADDR"] == "203.0.113.9"
            assert env["wsgi.url_scheme"] == SCHEME
            env = _environ(c, headers=[("X-Forwarded-Proto", "gopher")])
            assert env["wsgi.url_scheme"] == SCHEME and env["REMOTE_ADDR"] == "127.0.0.1"


def test_forwarded_headers_from_untrusted_peer_ignored():
    with wsgi_server(basic.environ_app, forwarded_allow_ips="10.9.9.9") as server:
        with Client(server.port) as c:
            env = _environ(c, headers=[("X-Forwarded-For", "203.0.113.7"),
                                       ("X-Forwarded-Proto", "https")])
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["wsgi.url_scheme"] == SCHEME
    assert env["HTTP_X_FORWARDED_FOR"] == "203.0.113.7"     # still visible as a header


def test_forwarded_allow_ips_star_trusts_any_peer():
    with wsgi_server(basic.environ_app, forwarded_allow_ips="*") as server:
        with Client(server.port) as c:
            env = _environ(c, headers=[("X-Forwarded-For", "198.51.100.1, 203.0.113.9"),
                                       ("X-Forwarded-Proto", "https")])
    assert env["REMOTE_ADDR"] == "198.51.100.1"
    assert env["wsgi.url_scheme"] == "https"


def test_forwarded_allow_ips_rejects_garbage():
    with pytest.raises(ValueError):
        from reactor.wsgi import WSGIAdapter
        WSGIAdapter(basic.hello, forwarded_allow_ips="not-an-ip")


# ---------------------------------------------------------------------------
# stop() leaves nothing behind

def test_stop_joins_sub_reactor_threads():
    from reactor.wsgi import WSGIServer
    before = set(threading.enumerate())
    server = WSGIServer(basic.hello, port=0, threads=2, handler_threads=2, **tls_server_kw())
    try:
        server.start()
        assert fetch(server.port).status == 200
        server.stop()
        left = wait_for(lambda: not [t for t in threading.enumerate()
                                     if t not in before and t.is_alive()], 1.0)
        assert left, "threads still running after stop(): %r" % [
            t.name for t in threading.enumerate() if t not in before]
    finally:
        server.stop()
        if server.http.tcp.thread_pool is not None:
            server.http.tcp.thread_pool.stop()


# ---------------------------------------------------------------------------
# curl as a client

@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_curl_chunked_upload_and_http10(tmp_path):
    payload = os.urandom(400_000)
    src = tmp_path / "up.bin"
    src.write_bytes(payload)
    with wsgi_server(router({"/echo": basic.echo, "/stream": basic.stream})) as server:
        out = subprocess.run(
            ["curl", *curl_tls_args(), "-sS", "--max-time", "10",
             "-H", "Transfer-Encoding: chunked",
             "-H", "Content-Type: application/octet-stream",
             "--data-binary", "@" + str(src), url(server, "/echo")],
            capture_output=True, timeout=20)
        assert out.returncode == 0, out.stderr
        got = json.loads(out.stdout)
        assert got["te"] == "chunked" and got["length"] == len(payload)
        assert got["sha256"] == hashlib.sha256(payload).hexdigest()
        out = subprocess.run(["curl", *curl_tls_args(), "-sS", "-0", "-i", "--max-time", "10",
                              url(server, "/stream?3")], capture_output=True, timeout=20)
        assert out.returncode == 0, out.stderr
        head, _, body = out.stdout.partition(b"\r\n\r\n")
        assert b"chunked" not in head.lower()
        assert body == b"chunk 0\nchunk 1\nchunk 2\n"


# ---------------------------------------------------------------------------
# load_app and the CLI

def test_load_app_forms():
    assert load_app("cli_app:app", APPS_DIR).__name__ == "app"
    made = load_app("cli_app:create_app()", APPS_DIR)
    assert callable(made) and made.__name__ == "made"
    for bad in ("cli_app", "cli_app:missing", "cli_app:not_callable", ":app", "cli_app:1x"):
        with pytest.raises(ValueError):
            load_app(bad, APPS_DIR)
    with pytest.raises(ImportError):
        load_app("no_such_module_for_reactor_tests:app", APPS_DIR)


_ENV_CACHE = {}


def _cli_env(cwd):
    """The environment for ``python -m reactor`` run from ``cwd`` (not the
    repo root): PYTHONPATH is added only if the package is not importable
    from there (a local in-place build rather than a pip install)."""
    if "env" not in _ENV_CACHE:
        env = dict(os.environ)
        probe = subprocess.run([sys.executable, "-c", "import reactor._http, reactor.wsgi"],
                               cwd=str(cwd), env=env, capture_output=True, timeout=60)
        if probe.returncode != 0:
            root = os.path.dirname(os.path.dirname(os.path.abspath(reactor.__file__)))
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (root, os.environ.get("PYTHONPATH")) if p)
        _ENV_CACHE["env"] = env
    return dict(_ENV_CACHE["env"])


class CliServer:
    def __init__(self, tmp_path, *args):
        self.err_path = tmp_path / "stderr.txt"
        self.err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "reactor", *args, *tls_cli_args()], cwd=str(tmp_path),
            env=_cli_env(tmp_path), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=self.err)
        self.port = None

    def stderr(self):
        return self.err_path.read_bytes().decode("utf-8", "replace")

    def wait_listening(self, timeout=20.0):
        def find():
            m = re.search(r"reactor: serving .* on https?://([\d.]+):(\d+)", self.stderr())
            return m or self.proc.poll() is not None
        wait_for(find, timeout, 0.02)
        m = re.search(r"reactor: serving .* on https?://([\d.]+):(\d+)", self.stderr())
        assert m, "no 'serving' line; rc=%r stderr=%s" % (self.proc.poll(), self.stderr())
        self.port = int(m.group(2))
        assert self.port > 0
        # the line is printed once the socket is bound; listen() follows at once
        # in serve_forever, so allow a moment before the first connect succeeds
        def accepting():
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1.0).close()
                return True
            except OSError:
                return self.proc.poll() is not None
        assert wait_for(accepting, 10.0, 0.02) and self.proc.poll() is None, self.stderr()
        return self.port

    def close(self):
        try:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(10)
        finally:
            self.err.close()


@pytest.mark.parametrize("spec,expected", [
    ("cli_app:app", b"cli app: GET /hello"),
    ("cli_app:create_app()", b"from factory; script_name=/mnt"),
])
def test_cli_serves_module_app_and_stops_on_sigterm(tmp_path, spec, expected):
    srv = CliServer(tmp_path, spec, "--app-dir", APPS_DIR, "--port", "0", "--threads", "1",
                    "--root-path", "/mnt", "--handler-threads", "1")
    try:
        port = srv.wait_listening()
        r = requests.get(base_url(port) + "/mnt/hello", timeout=T)
        assert r.status_code == 200 and r.content == expected
        srv.proc.send_signal(signal.SIGTERM)
        assert srv.proc.wait(15) == 0, srv.stderr()
    finally:
        srv.close()


@pytest.mark.parametrize("spec,needle", [
    ("no_such_module_for_reactor_tests:app", "cannot load"),
    ("cli_app", "module:attr"),
    ("cli_app:missing", "no attribute"),
    ("cli_app:not_callable", "not callable"),
])
def test_cli_bad_app_spec_fails_clearly(tmp_path, spec, needle):
    out = subprocess.run([sys.executable, "-m", "reactor", spec, "--app-dir", APPS_DIR,
                          "--port", "0", "--threads", "1"],
                         cwd=str(tmp_path), env=_cli_env(tmp_path), stdin=subprocess.DEVNULL,
                         capture_output=True, timeout=30)
    assert out.returncode != 0
    err = out.stderr.decode("utf-8", "replace")
    assert "reactor:" in err and needle in err, err
    assert "Traceback" not in err


# ---------------------------------------------------------------------------
# embedding: root_path must be a path; an app returning None is a 500

@pytest.mark.parametrize("bad", ["app", "app/", " /app", "http://x/app"])
def test_root_path_must_start_with_slash(bad):
    from reactor.wsgi import WSGIAdapter, WSGIServer
    with pytest.raises(ValueError, match="root_path must start with '/'"):
        WSGIAdapter(basic.hello, root_path=bad)
    with pytest.raises(ValueError, match="root_path must start with '/'"):
        WSGIServer(basic.hello, port=0, threads=0, root_path=bad)
    with pytest.raises(TypeError, match="root_path must be a str"):
        WSGIServer(basic.hello, port=0, threads=0, root_path=b"/app")


@pytest.mark.parametrize("good,script", [("", ""), ("/", ""), ("/app", "/app"),
                                         ("/app/", "/app")])
def test_root_path_accepted_forms(good, script):
    from reactor.wsgi import WSGIAdapter
    assert WSGIAdapter(basic.hello, root_path=good).base["SCRIPT_NAME"] == script


def test_cli_root_path_without_slash_is_a_clear_error(tmp_path):
    out = subprocess.run([sys.executable, "-m", "reactor", "cli_app:app", "--app-dir", APPS_DIR,
                          "--port", "0", "--threads", "1", "--root-path", "mnt"],
                         cwd=str(tmp_path), env=_cli_env(tmp_path), stdin=subprocess.DEVNULL,
                         capture_output=True, timeout=30)
    assert out.returncode == 2
    err = out.stderr.decode("utf-8", "replace")
    assert "reactor: --root-path must start with '/'" in err and "Traceback" not in err, err


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.mark.parametrize("handler_threads", HANDLER_MODES, ids=HANDLER_IDS)
def test_app_returning_none_is_a_logged_500(handler_threads):
    def returns_none(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return None

    app = router({"/none": returns_none, "/ok": basic.hello})
    rec = _Records()
    lg = logging.getLogger("reactor.http")
    lg.addHandler(rec)
    try:
        with wsgi_server(app, handler_threads=handler_threads) as server:
            with Client(server.port) as c:
                c.request("GET", "/none")
                r = c.read_response()
                assert r.status == 500 and b"None" not in r.body
                c.request("GET", "/ok")         # the connection still serves
                assert c.read_response().body == b"Hello, World!"
    finally:
        lg.removeHandler(rec)
    errors = [r for r in rec.records if "/none" in r.getMessage()]
    assert len(errors) == 1, [r.getMessage() for r in rec.records]
    exc = errors[0].exc_info[1]
    assert "returned None" in str(exc) and "PEP 3333" in str(exc)
