"""Access logging, the gunicorn way: every atom of ``access_log_format``
rendered for a real request over a socket, on the Python path and on the
GIL-free static-route path (records through the per-loop C ring), error
answers (400/408/413/414/431/501/505), WSGI byte counts, ring overflow.

Lines are read from a handler on the ``reactor.access`` logger (real
logging, no mocks); static-route lines arrive when the loop's ring is
flushed (a timer, a half-full ring, a Python-side line, or the stop).
"""
import base64
import contextlib
import ctypes
import datetime
import json
import logging
import os
import re
import subprocess
import sys
import textwrap
import time

import pytest

from http_helpers import CLIENT_PRELUDE, Client, get, wait_for
from reactor.access_log import DEFAULT_FORMAT, AccessLog, parse_format
from reactor.http_response import HttpResponse
from reactor.http_server import HttpServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wsgi_apps.helpers import wsgi_server  # noqa: E402
from reactor.wsgi import FileWrapper  # noqa: E402


class Collect(logging.Handler):
    """Keeps every record it gets (loop threads append; the GIL orders them)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)

    def lines(self):
        return [r.getMessage() for r in self.records if r.levelno == logging.INFO]

    def warnings(self):
        return [r.getMessage() for r in self.records if r.levelno == logging.WARNING]


@contextlib.contextmanager
def capture(name="reactor.access", level=logging.INFO):
    lg = logging.getLogger(name)
    h = Collect()
    old = lg.level
    lg.addHandler(h)
    lg.setLevel(level)
    try:
        yield h
    finally:
        lg.removeHandler(h)
        lg.setLevel(old)


BODY = b"hello"


def handler(req):
    p = req.path
    if p == "/dyn":
        return HttpResponse(BODY, headers={"X-Out": "v1"}, content_type="text/plain")
    if p == "/dyn404":
        return HttpResponse(BODY, 404, headers={"X-Out": "v1"}, content_type="text/plain")
    if p == "/sleep":
        time.sleep(float(req.query or "0.1"))
        return b"slept"
    if p == "/none":
        return None
    if p == "/boom":
        raise RuntimeError("boom")
    if p == "/stream":
        return HttpResponse(iter([b"ab", b"cde", b"f"]))
    if p == "/up":
        return b"got %d" % len(req.body)
    return HttpResponse(b"nope", 404)


@contextlib.contextmanager
def server(fmt=None, threads=1, **kw):
    """An HttpServer with access logging; /st and /st404 are static routes
    answering exactly what /dyn and /dyn404 answer from Python."""
    srv = HttpServer(handler, port=0, threads=threads, access_log=True, access_log_format=fmt,
                     **kw)
    try:
        srv.route_static("/st", BODY, "text/plain", headers={"X-Out": "v1"})
        srv.route_static("/st404", BODY, "text/plain", status=404, headers={"X-Out": "v1"})
        srv.start()
        yield srv
    finally:
        srv.stop()


def one_line(fmt, request, path="/dyn", method="GET", **kw):
    """Serve ``request`` (``{p}`` = path) once; return its single access line."""
    with capture() as h, server(fmt, **kw) as srv:
        with Client(srv.port) as c:
            c.send(request.replace(b"{p}", path.encode()))
            r = c.read_response(method)
        assert wait_for(h.lines, 3.0), "no access line for %r" % request
        time.sleep(0.05)
        lines = h.lines()
        static = sum(s["static_requests"] for s in srv.stats())
    assert len(lines) == 1, lines
    # the static path really is the static route (not a Python fallback)
    assert static == (1 if path in ("/st", "/st404") else 0)
    return lines[0], r


AUTH = b"Authorization: Basic " + base64.b64encode(b"alice:secret") + b"\r\n"

# (format, request, expected line); each runs against /dyn (a Python handler)
# and /st (a static route answered in C, logged through the ring)
ATOM_CASES = [
    ("%(h)s", get("{p}"), "127.0.0.1"),
    ("%(l)s", get("{p}"), "-"),
    ("%(u)s", get("{p}", extra=AUTH), "alice"),
    ("%(u)s", get("{p}"), "-"),
    ("%(u)s", get("{p}", extra=b"Authorization: Basic !!notbase64\r\n"), "-"),
    ("%(r)s", get("{p}?a=1&b=2"), "GET {p}?a=1&b=2 HTTP/1.1"),
    ("%(m)s", get("{p}"), "GET"),
    ("%(m)s", get("{p}", method=b"HEAD"), "HEAD"),
    ("%(U)s", get("{p}?a=1"), "{p}"),
    ("%(q)s", get("{p}?a=1&b=%20"), "a=1&b=%20"),
    ("[%(q)s]", get("{p}"), "[]"),
    ("%(H)s", get("{p}"), "HTTP/1.1"),
    ("%(H)s", get("{p}", version=b"HTTP/1.0", extra=b"Connection: keep-alive\r\n"), "HTTP/1.0"),
    ("%(s)s", get("{p}"), "200"),
    ("%(s)d", get("{p}"), "200"),
    ("%(B)s", get("{p}"), "5"),
    ("%(B)s", get("{p}", method=b"HEAD"), "0"),
    ("%(b)s", get("{p}"), "5"),
    ("%(b)s", get("{p}", method=b"HEAD"), "-"),
    ("%(f)s", get("{p}", extra=b"Referer: http://ref.example/a\r\n"), "http://ref.example/a"),
    ("%(f)s", get("{p}"), "-"),
    ("%(a)s", get("{p}", extra=b"User-Agent: probe/1.0\r\n"), "probe/1.0"),
    ("%(a)s", get("{p}", extra=b'User-Agent: say "hi"\r\n'), 'say \\"hi\\"'),
    ("%(a)s", get("{p}", extra=b"User-Agent: a\tb\r\n"), "a\\x09b"),
    ("%(p)s", get("{p}"), "<%d>" % os.getpid()),
    ("%({x-custom}i)s", get("{p}", extra=b"X-Custom: abc\r\n"), "abc"),
    ("%({X-Custom}i)s", get("{p}", extra=b"x-custom: abc\r\n"), "abc"),
    ("%({x-custom}i)s", get("{p}"), "-"),
    ("%({x-out}o)s", get("{p}"), "v1"),
    ("%({Content-Type}o)s", get("{p}"), "text/plain"),
    ("%({x-missing}o)s", get("{p}"), "-"),
    ("%({REACTOR_ACCESS_TEST_VAR}e)s", get("{p}"), "from-the-env"),
    ("%({reactor_no_such_var}e)s", get("{p}"), "-"),
    ("%(zz)s %(h)s", get("{p}"), "- 127.0.0.1"),
    ("100%% %(s)s", get("{p}"), "100% 200"),
    ("no atoms", get("{p}"), "no atoms"),
]


@pytest.mark.parametrize("path", ["/dyn", "/st"], ids=["python", "static"])
@pytest.mark.parametrize("fmt,request_bytes,expected", ATOM_CASES,
                         ids=["%d:%s" % (i, c[0]) for i, c in enumerate(ATOM_CASES)])
def test_atom(fmt, request_bytes, expected, path, monkeypatch):
    monkeypatch.setenv("REACTOR_ACCESS_TEST_VAR", "from-the-env")
    method = "HEAD" if request_bytes.startswith(b"HEAD") else "GET"
    line, r = one_line(fmt, request_bytes, path, method)
    assert r.status == 200
    assert line == expected.replace("{p}", path)


@pytest.mark.parametrize("path", ["/dyn404", "/st404"], ids=["python", "static"])
def test_status_atom_404(path):
    line, r = one_line("%(s)s %(b)s", get("{p}"), path)
    assert r.status == 404 and line == "404 5"


@pytest.mark.parametrize("path", ["/dyn", "/st"], ids=["python", "static"])
def test_default_format(path):
    line, _ = one_line(None, get("{p}?x=1", extra=b"User-Agent: ua/2\r\nReferer: /from\r\n"
                                 + AUTH), path)
    m = re.fullmatch(r'127\.0\.0\.1 - alice (\[[^\]]+\]) "GET %s\?x=1 HTTP/1\.1" 200 5 '
                     r'"/from" "ua/2"' % path, line)
    assert m, line
    when = datetime.datetime.strptime(m.group(1), "[%d/%b/%Y:%H:%M:%S %z]")
    assert abs(when.timestamp() - time.time()) < 5
    assert DEFAULT_FORMAT == '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'


@pytest.mark.parametrize("path", ["/dyn", "/st"], ids=["python", "static"])
def test_t_atom_is_clf_local_time(path):
    line, _ = one_line("%(t)s", get("{p}"), path)
    assert re.fullmatch(r"\[\d\d/(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/\d{4}:"
                        r"\d\d:\d\d:\d\d [+-]\d{4}\]", line), line
    when = datetime.datetime.strptime(line, "[%d/%b/%Y:%H:%M:%S %z]")
    assert abs(when.timestamp() - time.time()) < 5
    # gunicorn's: local time with its offset
    assert when.utcoffset().total_seconds() == time.localtime(when.timestamp()).tm_gmtoff


def test_time_atoms_python():
    # a handler that takes 1.2 s: T, M, D and L agree with each other and with it
    line, r = one_line("%(T)s %(M)s %(D)s %(L)s", get("/sleep?1.2"), "/sleep")
    assert r.body == b"slept"
    t, m, d, l_ = line.split()
    assert t == "1"
    assert 1200 <= int(m) < 3000 and 1200000 <= int(d) < 3000000
    assert int(m) == int(d) // 1000
    assert l_ == "%d.%06d" % divmod(int(d), 1000000)


def test_time_atoms_static():
    # a static answer takes microseconds: 0 s, and D/M/L consistent
    line, _ = one_line("%(T)s %(M)s %(D)s %(L)s", get("/st"), "/st")
    t, m, d, l_ = line.split()
    assert t == "0" and 0 <= int(d) < 1000000 and int(m) == int(d) // 1000
    assert l_ == "%d.%06d" % divmod(int(d), 1000000)


def test_record_args_are_the_atoms():
    with capture() as h, server('%(h)s "%(r)s" %(s)s') as srv:
        with Client(srv.port) as c:
            c.send(get("/dyn"))
            c.read_response()
        assert wait_for(h.lines)
    rec = h.records[0]
    assert rec.name == "reactor.access" and rec.levelno == logging.INFO
    assert rec.args == {"h": "127.0.0.1", "r": "GET /dyn HTTP/1.1", "s": 200}


@pytest.mark.parametrize("fmt,message", [
    ("%(h)", "invalid access log format"),
    ("%s", "invalid access log format"),
    ("%(h)d", "is text"),
    ("%(h)s %(x", "invalid access log format"),
    ("%(a)z", "invalid access log format"),
])
def test_bad_format_is_a_clear_error(fmt, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_format(fmt)
    with pytest.raises(ValueError, match=re.escape(message)):
        HttpServer(handler, port=0, threads=0, access_log=True, access_log_format=fmt)
    with pytest.raises(TypeError):
        AccessLog(b"%(h)s")


def test_access_log_off_logs_nothing():
    with capture() as h:
        srv = HttpServer(handler, port=0, threads=1)
        srv.route_static("/st", BODY)
        with srv:
            with Client(srv.port) as c:
                for p in ("/dyn", "/st", "/stream"):
                    c.send(get(p))
                    c.read_response()
            c2 = Client(srv.port)
            c2.send(b"BAD\r\n\r\n")
            assert c2.read_response().status == 400
            c2.close()
            time.sleep(0.3)
    assert h.records == []


# ---------------------------------------------------------------------------
# rejected requests and errors are logged

def send_and_read(port, data, wait=0.0):
    with Client(port) as c:
        c.send(data)
        if wait:
            time.sleep(wait)
        return c.read_response()


@pytest.mark.parametrize("data,status,line", [
    (b"GARBAGE\r\n\r\n", 400, '"-" 400'),
    (b"GET /x HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n", 400, '"GET /x HTTP/1.1" 400'),
    (b"GET /x HTTP/1.1\r\n\r\n", 400, '"GET /x HTTP/1.1" 400'),          # no Host
    (b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n", 413,
     '"POST /up HTTP/1.1" 413'),
    (b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"40\r\n" + b"x" * 64 + b"\r\n0\r\n\r\n", 413, '"POST /up HTTP/1.1" 413'),
    (b"GET /" + b"a" * 300 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414, '"-" 414'),
    (b"GET /x HTTP/1.1\r\nHost: a\r\n" + b"X-H: 1\r\n" * 30 + b"\r\n", 431,
     '"GET /x HTTP/1.1" 431'),
    (b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 501,
     '"CONNECT example.com:443 HTTP/1.1" 501'),
    (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, '"-" 505'),
], ids=["400-line", "400-header", "400-no-host", "413-length", "413-chunked", "414", "431",
        "501-connect", "505"])
def test_rejected_requests_are_logged(data, status, line):
    with capture() as h, server('%(h)s "%(r)s" %(s)s %(B)s', max_body_size=32,
                                max_request_line=256, max_headers=20) as srv:
        r = send_and_read(srv.port, data)
        assert r.status == status
        assert wait_for(h.lines)
    (got,) = h.lines()
    assert got == '127.0.0.1 %s %d' % (line, len(r.body)), got


def test_408_on_a_slow_head_and_a_slow_body_are_logged():
    with capture() as h, server('"%(r)s" %(s)s', header_timeout=0.3, body_timeout=0.3) as srv:
        r = send_and_read(srv.port, b"GET /slow?q=1 HTTP/1.1\r\nHost: a\r\n")
        assert r.status == 408
        r = send_and_read(srv.port, b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n"
                                    b"\r\nabc")
        assert r.status == 408
        r = send_and_read(srv.port, b"GE")
        assert r.status == 408
        assert wait_for(lambda: len(h.lines()) == 3)
    assert h.lines() == ['"GET /slow?q=1 HTTP/1.1" 408', '"POST /up HTTP/1.1" 408', '"-" 408']


def test_handler_errors_and_none_are_logged_as_500():
    with capture() as h, capture("reactor.http", logging.ERROR) as errors, \
            server('"%(r)s" %(s)s %(b)s') as srv:
        with Client(srv.port) as c:
            c.send(get("/boom") + get("/none") + get("/dyn"))
            assert [c.read_response().status for _ in range(3)] == [500, 500, 200]
        assert wait_for(lambda: len(h.lines()) == 3)
    assert h.lines()[:2] == ['"GET /boom HTTP/1.1" 500 22', '"GET /none HTTP/1.1" 500 22']
    msgs = [r.getMessage() for r in errors.records]
    assert any("returned None" in m and "/none" in m for m in msgs), msgs


def test_python_streamed_body_logs_its_bytes():
    line, r = one_line("%(s)s %(B)s %(b)s", get("/stream"), "/stream")
    assert r.body == b"abcdef" and r.header("Transfer-Encoding") == "chunked"
    assert line == "200 6 6"


# ---------------------------------------------------------------------------
# the ring: order, threads, flushing, overflow

@pytest.mark.parametrize("threads", [0, 1, 4])
def test_static_and_python_lines_keep_their_order(threads):
    with capture() as h, server("%(U)s?%(q)s %(s)s", threads=threads) as srv:
        with Client(srv.port) as c:
            reqs = [get("/st?1"), get("/dyn?2"), get("/st?3"), get("/st?4"), get("/dyn?5"),
                    get("/st?6")]
            c.send(b"".join(reqs))
            for _ in reqs:
                assert c.read_response().status == 200
        assert wait_for(lambda: len(h.lines()) == 6)
    assert h.lines() == ["/st?1 200", "/dyn?2 200", "/st?3 200", "/st?4 200", "/dyn?5 200",
                         "/st?6 200"]


def test_static_lines_are_flushed_by_the_loop_timer():
    # nothing else happens on the server: the per-loop timer renders the record
    with capture() as h, server("%(r)s") as srv:
        with Client(srv.port) as c:
            c.send(get("/st"))
            c.read_response()
            t0 = time.monotonic()
            assert wait_for(h.lines, 2.0)
            assert time.monotonic() - t0 < 1.0
            assert h.lines() == ["GET /st HTTP/1.1"]


def test_ring_overflow_drops_counts_and_reports():
    n = 200
    with capture() as h, server("%(q)s", access_ring_size=4) as srv:
        with Client(srv.port) as c:
            c.send(b"".join(get("/st?%d" % i) for i in range(n)))   # one pipelined burst
            for _ in range(n):
                assert c.read_response().body == BODY
        # the fast path never waits: what does not fit is dropped and counted
        dropped_total = wait_for(lambda: sum(s["access_log_dropped"] for s in srv.stats()))
        assert dropped_total > 0
        reported = lambda: sum(int(re.match(r"(\d+) access log record", w).group(1))
                               for w in h.warnings())
        assert wait_for(lambda: reported() == dropped_total and
                        len(h.lines()) + reported() == n), (len(h.lines()), h.warnings())
        assert sum(s["static_requests"] for s in srv.stats()) == n
    logged = [int(x) for x in h.lines()]
    assert logged == sorted(logged) and len(logged) < n
    assert all("ring of 4 records was full" in w for w in h.warnings())


def test_ring_overflow_with_python_lines_in_between():
    # a Python-side line drains the ring first, so the order holds and the
    # dropped count comes out before it
    with capture() as h, server("%(U)s %(q)s", access_ring_size=2) as srv:
        with Client(srv.port) as c:
            reqs = [get("/st?%d" % i) for i in range(6)] + [get("/dyn?x")]
            c.send(b"".join(reqs))
            for _ in reqs:
                c.read_response()
        assert wait_for(lambda: any(l.startswith("/dyn") for l in h.lines()))
    msgs = [r.getMessage() for r in h.records]
    assert msgs[-1] == "/dyn x"
    assert any("dropped" in m for m in msgs[:-1]), msgs


def test_bad_ring_size():
    for bad in (0, -1, 1.5, True, 1 << 21):
        with pytest.raises(ValueError, match="access_ring_size"):
            HttpServer(handler, port=0, threads=0, access_log=True, access_ring_size=bad)


GIL_CLIENT = CLIENT_PRELUDE + textwrap.dedent(r'''
    hog, other = conn(), conn()        # round robin: loop 1, then loop 2
    hog.sendall(b"GET /dyn HTTP/1.1\r\nHost: t\r\n\r\n"); response(hog)
    other.sendall(b"GET /st?warm HTTP/1.1\r\nHost: t\r\n\r\n"); response(other)
    hog.sendall(b"GET /hog HTTP/1.1\r\nHost: t\r\n\r\n")
    time.sleep(0.2)                    # the hog now holds the GIL
    t0 = time.monotonic()
    for i in range(20):
        other.sendall(b"GET /st?%d HTTP/1.1\r\nHost: t\r\n\r\n" % i)
        assert response(other) == b"hello"
    window = time.monotonic() - t0
    response(hog)
    print(json.dumps({"window": window}))
''')


def test_static_routes_stay_gil_free_with_access_logging_on():
    libc = ctypes.PyDLL(None)          # PyDLL: the call keeps the GIL

    def hog_handler(req):
        if req.path == "/hog":
            libc.usleep(1500000)
            return b"done"
        return handler(req)

    with capture() as h:
        srv = HttpServer(hog_handler, port=0, threads=2, access_log=True,
                         access_log_format="%(U)s %(q)s")
        srv.route_static("/st", BODY)
        with srv:
            out = subprocess.run([sys.executable, "-c", GIL_CLIENT, str(srv.port)],
                                 capture_output=True, text=True, timeout=30)
            assert out.returncode == 0, out.stderr
            # all 20 logged static answers came back while the GIL was held
            assert json.loads(out.stdout)["window"] < 0.5, out.stdout
            assert wait_for(lambda: len(h.lines()) == 23)
    lines = h.lines()
    assert [l for l in lines if l.startswith("/st ") and l != "/st warm"] == \
        ["/st %d" % i for i in range(20)]


# ---------------------------------------------------------------------------
# WSGI: the real byte count of every kind of body

def wsgi_app(environ, start_response):
    p = environ["PATH_INFO"]
    if p == "/list":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"abc", b"defg"]
    if p == "/gen":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (c for c in [b"12", b"345", b"", b"6789"])
    if p == "/gen-cl":
        start_response("200 OK", [("Content-Length", "9")])
        return (c for c in [b"12", b"345", b"6789"])
    if p == "/too-long":
        start_response("200 OK", [("Content-Length", "4")])
        return (c for c in [b"12", b"345", b"6789"])
    if p == "/write":
        w = start_response("200 OK", [])
        w(b"written;")
        return [b"returned"]
    if p == "/file":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](open(environ["QUERY_STRING"], "rb"))
    if p == "/raise-mid":
        def gen():
            yield b"first"
            yield b"second"
            raise RuntimeError("mid-stream")
        start_response("200 OK", [])
        return gen()
    if p == "/none":
        start_response("200 OK", [])
        return None
    if p == "/env":
        environ["REMOTE_USER"] = "bob"
        start_response("204 No Content", [])
        return []
    start_response("404 Not Found", [])
    return [b"nf"]


@pytest.mark.parametrize("handler_threads", [0, 2], ids=["inline", "handler-threads"])
def test_wsgi_byte_counts(tmp_path, handler_threads):
    f = tmp_path / "blob.bin"
    f.write_bytes(os.urandom(300000))
    cases = [
        (get("/list"), "GET", 200, 7),
        (get("/gen"), "GET", 200, 9),
        (get("/gen-cl"), "GET", 200, 9),
        (get("/write"), "GET", 200, 16),
        (get("/file?%s" % f), "GET", 200, 300000),
        (get("/list", method=b"HEAD"), "HEAD", 200, 0),
        (get("/gen", method=b"HEAD"), "HEAD", 200, 0),
        (get("/nothing"), "GET", 404, 2),
    ]
    with capture() as h, wsgi_server(wsgi_app, access_log=True,
                                     access_log_format="%(m)s %(U)s %(s)s %(B)s %(b)s",
                                     handler_threads=handler_threads) as srv:
        with Client(srv.port) as c:
            for data, method, status, n in cases:
                c.send(data)
                r = c.read_response(method)
                assert r.status == status
                if method == "GET":
                    assert len(r.body) == n
        assert wait_for(lambda: len(h.lines()) == len(cases))
    expected = ["%s %s %d %d %s" % (m, d.split()[1].decode().split("?")[0], s, n,
                                    n if n else "-") for d, m, s, n in cases]
    assert h.lines() == expected


def test_wsgi_cut_responses_log_what_was_sent():
    with capture() as h, wsgi_server(wsgi_app, access_log=True,
                                     access_log_format="%(U)s %(s)s %(B)s") as srv:
        with Client(srv.port) as c:
            c.send(get("/too-long"))
            r = c.read_response()
            assert r.body == b"1234"        # never more than declared
            assert c.closed_within(2)
        with Client(srv.port) as c:
            c.send(get("/raise-mid"))
            assert c.read_until_close().count(b"first") == 1
        assert wait_for(lambda: len(h.lines()) == 2)
    assert sorted(h.lines()) == ["/raise-mid 200 11", "/too-long 200 4"]


def test_wsgi_app_returning_none_is_a_logged_500():
    with capture() as h, capture("reactor.http", logging.ERROR) as errors, \
            wsgi_server(wsgi_app, access_log=True, access_log_format="%(U)s %(s)s") as srv:
        with Client(srv.port) as c:
            c.send(get("/none"))
            assert c.read_response().status == 500
        assert wait_for(h.lines)
    assert h.lines() == ["/none 500"]
    msgs = " ".join(r.getMessage() + str(r.exc_info and r.exc_info[1]) for r in errors.records)
    assert "returned None" in msgs and "PEP 3333" in msgs, msgs


def test_wsgi_environ_atoms_and_forwarded_client():
    fmt = "%(h)s %({remote_user}e)s %({REQUEST_METHOD}e)s %({wsgi.url_scheme}e)s"
    with capture() as h, wsgi_server(wsgi_app, access_log=True, access_log_format=fmt,
                                     forwarded_allow_ips="127.0.0.1") as srv:
        with Client(srv.port) as c:
            c.send(get("/env", extra=b"X-Forwarded-For: 203.0.113.9\r\n"))
            assert c.read_response().status == 204
        assert wait_for(h.lines)
    assert h.lines() == ["203.0.113.9 bob GET http"]
