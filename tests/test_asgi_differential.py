"""Differential tests: reactor's ASGI server against uvicorn, on one echo app.

The app (``asgi_framework_apps.echo``) answers with a body that reprs the
scope's method, path, raw_path, root_path, query_string, headers,
http_version and the body it received; a request header ``x-behave`` asks
it for app-side behaviours instead (a stream, a 204, a 304, raising before,
after the start or mid-stream, a declared Content-Length, right or wrong, no
length).  It is served by ``python -m reactor --interface asgi3`` and by
``python -m uvicorn --http h11`` (and ``--http httptools`` when httptools is
installed), each a subprocess on its own port, started once per module.

Each case goes over a raw socket to reactor and to each uvicorn.  For the
valid requests (``CORPUS``, and ``ROOTED`` with ``--root-path /api`` on
both sides) the whole exchange must be equal: status, HTTP version, headers
(names case-insensitively, as a multiset, Date and Server ignored), body,
the framing (length, chunked, close), a 100 Continue if any, and whether the
connection is still open afterwards (a probe request on it is answered) or
closed.  For the invalid ones (``INVALID``) the status and open/closed are
compared; the error bodies are each server's own.

Deliberate differences, asserted in their direction (``DIFFERENCES``; "="
is reactor's result, "(same)" a backend with no difference):

======================  ===============  ===============  ===============  =========================
case                    reactor          h11              httptools        reason
======================  ===============  ===============  ===============  =========================
invalid requests (status, then open/closed): reactor is stricter, per RFC 9112/9110
-------------------------------------------------------------------------------------------------------
bare-lf                 400 closed       200 open         (same)           9112 2.2: bare LF is not
                                                                           a line end we accept
no-host-11              400 closed       (same)           200 open         9112 3.2: MUST 400 a 1.1
                                                                           request without Host
two-hosts               400 closed       (same)           200 open         ... or with two
empty-host-11           400 closed       200 open         200 open         ... or an invalid one
bad-host                400 closed       200 open         200 open         (9110 4.2.1, 3986 3.2.2)
te-and-cl               400 closed       200 open         (same)           9112 6.3: both framings
                                                                           is a smuggling vector
te-http10               400 closed       200 closed       200 closed       9112 6.1: TE in 1.0 MAY
                                                                           be treated as faulty
te-gzip-chunked         501 closed       400 closed       200 open         9112 6.1 / 9110 15.6.2:
                                                                           unknown coding: 501
obs-fold                400 closed       200 open         (same)           9112 5.2: MAY reject
ctl-in-value            400 closed       200 open         (same)           9110 5.5: CTL not allowed
fragment                400 closed       200 open         200 open         9112 3.2: no "#" in
                                                                           origin-form
asterisk-get            400 closed       200 open         200 open         9112 3.2.4: "*" only with
                                                                           OPTIONS
double-space            400 closed       (same)           200 open         9112 3: one SP between
                                                                           request-line elements
http2-version           505 closed       200 open         200 closed       9110 15.6.6: 1.0 and 1.1
                                                                           only
http09                  400 closed       (same)           200 closed       no HTTP/0.9
connection-garbage      400 closed       200 closed       200 closed       9110 7.6.1: Connection is
                                                                           a token list
-------------------------------------------------------------------------------------------------------
valid requests: the part of the exchange that differs
-------------------------------------------------------------------------------------------------------
absolute-form           path /abs/p      path and         (same)           9112 3.2.2: the path of
                                         raw_path are                      an absolute-form target
                                         the whole URL                     (as httptools gives it)
lowercase-method        200              (same)           400              9110 9.1: a method is a
custom-method           200              (same)           400              token (llhttp knows a
                                                                           fixed list)
two-equal-cl            both fields in   one field in     400              9110 8.6: equal values
                        scope headers    scope headers                     MAY be accepted; the
                                                                           fields are passed as sent
header-ows              "padded"         (same)           "padded \\t"      9112 5: OWS around a
                                                          (uvicorn 0.55:   value is not part of it
                                                          the same)
chunked-trailer         no trailer in    (same)           trailer added    trailers are not header
                        headers                           to headers       fields of the request
http10-keepalive        keep-alive,      close            close            9112 9.3: 1.0 keep-alive
                        open                                               is honoured (a MAY)
expect-100-http10       no 100           (same)           100              9110 10.1.1: a 1.0
                                                                           request's 100-continue
                                                                           MUST be ignored
app-stream-http10       close-delimited  (same)           chunked          no chunked to a 1.0
                                                                           client (9112 7)
app-stream-head         no TE header     TE: chunked      (same)           9110 9.3.2: HEAD MAY
                                                                           omit framing fields
app-nolength-head       Content-Length   TE: chunked      neither          reactor knows the length
                                                                           of a whole body
app-nolength            Content-Length   chunked          chunked          a whole body (one
app-empty               Content-Length   chunked          chunked          http.response.body) is
                                                                           framed with its length
app-nolength-http10     Content-Length,  close-delimited  chunked, close   ... on 1.0 too
                        close
app-raise               500, open        500, close       500, close       the 500 reactor writes
app-raise-then-next     500, open        500, close       500, close       keeps the connection
                                                                           (its body, "Internal
                                                                           Server Error\\n", and
                                                                           headers differ too)
app-raise-after-start   500, open        200 cut, close   200 cut, close   the head was not written
                                                                           yet (reactor holds the
                                                                           start until the first
                                                                           body), so a 500 is
                                                                           still possible
app-cl-short            500, open        200 cut, close   200 cut, close   a whole body that does
app-cl-long             500, open        200 cut, close   200 cut, close   not match the app's
                                                                           Content-Length is caught
                                                                           before the head goes
======================  ===============  ===============  ===============  =========================

Also here, not a comparison: ``test_send_on_a_closed_connection_as_the_
advertised_spec_version`` holds reactor to the ASGI spec version its scopes
advertise (2.4: send() raises OSError once the client is gone).

Not a deliberate difference: ``path-non-utf8-escape`` (``/caf%E9/%FF``):
uvicorn decodes invalid UTF-8 escapes in ``path`` with U+FFFD, reactor with
surrogate escapes ("\\udce9"), which apps cannot encode back to UTF-8
(FastAPI answers 500 where it answers 200 on uvicorn).  The test asserts
uvicorn's result and fails on reactor: a suspected reactor bug.
"""
import ast
import os
import re
import signal
import socket
import subprocess
import sys
import time
import types
import uuid

import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("h11")

from http_helpers import ROOT  # noqa: E402

# many servers per module: they run with the slow tests (.ci/run), which keeps the
# README's test command under 4 minutes
pytestmark = [pytest.mark.plaintext_only("uvicorn is run over plain HTTP"), pytest.mark.slow]

TESTS = os.path.join(ROOT, "tests")
APP = "asgi_framework_apps.echo:app"
T = 3.0                 # socket timeout: a hung exchange is recorded, not waited out

try:
    import httptools  # noqa: F401
    BACKENDS = ["h11", "httptools"]
except ImportError:
    BACKENDS = ["h11"]


# ---- servers --------------------------------------------------------------------------------

def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, kind, tmpdir, root_path=""):
        self.kind = kind
        self.errpath = os.path.join(tmpdir, "%s%s.log" % (kind, root_path.replace("/", "-")))
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), ROOT) if p)
        extra = ["--root-path", root_path] if root_path else []
        if kind == "reactor":
            self.port = None
            cmd = [sys.executable, "-m", "reactor", APP, "--app-dir", TESTS, "--interface",
                   "asgi3", "--port", "0", *extra]
            ready = re.compile(rb"reactor: serving .* on http://127\.0\.0\.1:(\d+)")
        else:
            self.port = _free_port()
            cmd = [sys.executable, "-m", "uvicorn", APP, "--app-dir", TESTS, "--http", kind,
                   "--port", str(self.port), "--no-access-log", "--log-level", "warning",
                   *extra]
            ready = None
        with open(self.errpath, "wb") as err:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + 30
        while True:
            if ready is not None:
                m = ready.search(self.stderr_bytes())
                if m:
                    self.port = int(m.group(1))
                    break
            elif self._listening():
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise AssertionError("%s did not start: %s" % (cmd, self.stderr()))
            time.sleep(0.02)

    def _listening(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def stderr_bytes(self):
        with open(self.errpath, "rb") as f:
            return f.read()

    def stderr(self):
        return self.stderr_bytes().decode(errors="replace")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """``servers(kind, root_path="")``: started on first use, stopped at the
    end of the module (reactor by SIGTERM: it must exit 0)."""
    tmpdir = str(tmp_path_factory.mktemp("asgi-diff"))
    running = {}

    def get(kind, root_path=""):
        if kind == "httptools":
            pytest.importorskip("httptools")
        key = (kind, root_path)
        if key not in running:
            running[key] = Server(kind, tmpdir, root_path)
        srv = running[key]
        assert srv.proc.poll() is None, "%s died: %s" % (kind, srv.stderr())
        return srv

    yield get
    problems = []
    for (kind, root_path), srv in running.items():
        if kind == "reactor":
            srv.proc.send_signal(signal.SIGTERM)
            try:
                rc = srv.proc.wait(15)
            except subprocess.TimeoutExpired:
                rc = None
            if rc != 0:
                problems.append("reactor%s exited %r after SIGTERM: %s"
                                % (root_path, rc, srv.stderr()[-3000:]))
        srv.kill()
    assert not problems, "\n".join(problems)


# ---- the raw exchange -----------------------------------------------------------------------

class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=T)
        self.buf = b""
        self.eof = False

    def fill(self):
        if self.eof:
            return False
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def line(self):
        while b"\r\n" not in self.buf:
            if not self.fill():
                raise EOFError
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def take(self, n):
        while len(self.buf) < n:
            if not self.fill():
                raise EOFError
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def response(self, method):
        """(version, status, headers, body, framing, complete) or None at EOF."""
        while b"\r\n\r\n" not in self.buf:
            if not self.fill():
                if self.buf:
                    return ("garbage", self.buf)
                return None
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        version, status = lines[0].split(b" ", 2)[:2]
        headers = []
        for ln in lines[1:]:
            name, _, value = ln.partition(b":")
            headers.append((name.decode("latin-1"), value.strip().decode("latin-1")))
        status = int(status)
        get = {k.lower(): v for k, v in headers}
        body, framing, complete = b"", "none", True
        if method != "HEAD" and status not in (204, 304) and status >= 200:
            try:
                if get.get("transfer-encoding", "").lower() == "chunked":
                    framing = "chunked"
                    while True:
                        size = int(self.line().split(b";")[0], 16)
                        if size == 0:
                            while self.line():
                                pass
                            break
                        body += self.take(size)
                        self.take(2)
                elif "content-length" in get:
                    framing = "length"
                    body = self.take(int(get["content-length"]))
                else:
                    framing = "close"
                    while self.fill():
                        pass
                    body, self.buf = self.buf, b""
            except EOFError:
                body, self.buf, complete = body + self.buf, b"", False
            except socket.timeout:
                body, self.buf, complete = body + self.buf, b"", "timeout"
        return (version.decode(), status, headers, body, framing, complete)

    def close(self):
        self.sock.close()


IGNORED = {"date", "server"}


def norm(resp):
    if resp is None or resp[0] == "garbage":
        return resp
    version, status, headers, body, framing, complete = resp
    hs = sorted((k.lower(), v) for k, v in headers if k.lower() not in IGNORED)
    return {"version": version, "status": status, "headers": hs, "body": body,
            "framing": framing, "complete": complete}


PROBE = b"GET /probe HTTP/1.1\r\nHost: x\r\n\r\n"


def exchange(port, case):
    """Run one case: send its bytes (and, for 100-continue, wait for the
    interim answer before the body), read one response per method, then
    probe: {"responses", "interim", "after"} where after is "open" (the
    probe was answered) or "closed"."""
    c = Conn(port)
    out = {"responses": [], "interim": []}
    try:
        c.sock.sendall(case["send"])
        if "then" in case:
            # the 100 Continue, if any, before the body goes (a client waits a while)
            c.sock.settimeout(case.get("wait", T))
            try:
                r = c.response("GET")
            except socket.timeout:
                r = "none"
            c.sock.settimeout(T)
            out["interim"].append(r if r in (None, "none") else r[1])
            c.sock.sendall(case["then"])
        for method in case["methods"]:
            try:
                r = c.response(method)
            except socket.timeout:
                out["responses"].append("timeout")
                break
            while r is not None and r[0] != "garbage" and r[1] < 200:
                out["interim"].append(r[1])
                r = c.response(method)
            out["responses"].append(norm(r))
            if r is None or r[0] == "garbage" or r[5] is not True:
                break
        after = "closed"
        if not c.eof:
            try:
                c.sock.sendall(PROBE)
                r = c.response("GET")
                if r is not None and r[0] != "garbage" and r[1] == 200:
                    after = "open"
            except (OSError, socket.timeout):
                pass
        out["after"] = after
    finally:
        c.close()
    return out


# ---- the corpus -----------------------------------------------------------------------------

def req(method="GET", target="/", version="HTTP/1.1", headers=(("Host", "x"),), body=b"",
        sep=b"\r\n"):
    head = ("%s %s %s" % (method, target, version)).encode("latin-1") + sep
    for name, value in headers:
        head += ("%s: %s" % (name, value)).encode("latin-1") + sep
    return head + sep + body


def case(id, send, methods=("GET",), then=None, wait=None):
    c = {"id": id, "send": send, "methods": list(methods)}
    if then is not None:
        c["then"] = then
    if wait is not None:
        c["wait"] = wait
    return c


def behave(what, method="GET", version="HTTP/1.1"):
    headers = (("X-Behave", what),) if version == "HTTP/1.0" else H + (("X-Behave", what),)
    return case("app-%s%s" % (what, "-http10" if version == "HTTP/1.0" else "")
                + ("-head" if method == "HEAD" else ""),
                req(method, version=version, headers=headers), [method])


H = (("Host", "x"),)
CHUNKED = H + (("Transfer-Encoding", "chunked"),)

# valid requests: the whole exchange is compared
CORPUS = [
    # methods
    case("get", req()),
    case("post-cl", req("POST", "/submit", headers=H + (("Content-Length", "5"),), body=b"hello"),
         ["POST"]),
    case("put", req("PUT", "/r/1", headers=H + (("Content-Length", "3"),), body=b"abc"),
         ["PUT"]),
    case("delete", req("DELETE", "/r/1"), ["DELETE"]),
    case("patch", req("PATCH", "/r/1", headers=H + (("Content-Length", "2"),), body=b"{}"),
         ["PATCH"]),
    case("options", req("OPTIONS", "/r"), ["OPTIONS"]),
    case("options-star", req("OPTIONS", "*"), ["OPTIONS"]),
    case("purge", req("PURGE", "/cache/x"), ["PURGE"]),
    case("custom-method", req("FOO", "/x"), ["FOO"]),
    case("lowercase-method", req("get", "/x"), ["get"]),
    case("head", req("HEAD", "/h"), ["HEAD"]),
    case("head-then-get", req("HEAD", "/h") + req("GET", "/g"), ["HEAD", "GET"]),
    # paths and queries
    case("path-space", req(target="/a%20b")),
    case("path-utf8", req(target="/caf%C3%A9/%E2%82%AC")),
    case("path-utf8-lower-hex", req(target="/caf%c3%a9")),
    case("path-encoded-slash", req(target="/a%2Fb/c%2f")),
    case("path-percent", req(target="/100%25/x")),
    case("path-tilde-plus", req(target="/%7Euser/a+b")),
    case("path-dots", req(target="/a/./b/../c")),
    case("path-double-slash", req(target="//a//b/")),
    case("path-semicolon", req(target="/a;p=1/b")),
    case("path-sub-delims", req(target="/a!$&'()*,=:@b")),
    case("path-non-utf8-escape", req(target="/caf%E9/%FF")),
    case("path-long", req(target="/" + "seg/" * 500)),
    case("query", req(target="/s?q=a%20b+c&x=1&x=2")),
    case("query-empty", req(target="/s?")),
    case("query-question", req(target="/s?a=b?c&d=%3F")),
    case("query-utf8", req(target="/s?name=%E2%82%AC&%C3%A9=1")),
    case("query-root", req(target="/?")),
    case("absolute-form", req(target="http://x/abs/p?q=1")),
    # headers
    case("repeated-headers", req(headers=H + (("X-Dup", "1"), ("X-Dup", "2"),
                                              ("Cookie", "a=1"), ("Cookie", "b=2")))),
    case("header-case", req(headers=(("hOsT", "x"), ("X-MiXeD-CaSe", "VaLuE"),
                                     ("ACCEPT", "*/*")))),
    case("header-ows", req(headers=H + (("X-Ws", " \t padded \t"),))),
    case("header-empty-value", req(headers=H + (("X-Empty", ""),))),
    case("header-long", req(headers=H + (("X-Long", "v" * 4000),))),
    case("header-many", req(headers=H + tuple(("X-H%d" % i, str(i)) for i in range(60)))),
    case("header-obs-text", req(headers=H + (("X-Latin", "caf\xe9"),))),
    case("header-host-port", req(headers=(("Host", "example.com:8080"),))),
    case("header-colon-value", req(headers=H + (("X-Url", "http://a:b@c:1/d?e=f"),))),
    # versions and connection management
    case("http10", req(version="HTTP/1.0", headers=())),
    case("http10-host", req(version="HTTP/1.0")),
    case("http10-keepalive", req(version="HTTP/1.0", headers=H + (("Connection", "keep-alive"),))),
    case("http11-close", req(headers=H + (("Connection", "close"),))),
    case("http11-keepalive-token", req(headers=H + (("Connection", "Keep-Alive"),))),
    case("pipelined", req(target="/1") + req("POST", "/2", headers=H + (
        ("Content-Length", "3"),), body=b"two") + req(target="/3"), ["GET", "POST", "GET"]),
    case("pipelined-20", b"".join(req(target="/%d" % i) for i in range(20)), ["GET"] * 20),
    case("pipelined-close", req(target="/1") + req(target="/2", headers=H + (
        ("Connection", "close"),)), ["GET", "GET"]),
    # bodies
    case("empty-cl", req("POST", headers=H + (("Content-Length", "0"),)), ["POST"]),
    case("post-no-body", req("POST"), ["POST"]),
    case("two-equal-cl", req("POST", headers=H + (("Content-Length", "2"),
                                                  ("Content-Length", "2")), body=b"hi"),
         ["POST"]),
    case("chunked", req("POST", headers=CHUNKED, body=b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
         ["POST"]),
    case("chunked-ext", req("POST", headers=CHUNKED,
                            body=b"5;name=value\r\nhello\r\n0;last\r\n\r\n"), ["POST"]),
    case("chunked-trailer", req("POST", headers=CHUNKED,
                                body=b"3\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n"), ["POST"]),
    case("chunked-upper-hex", req("POST", headers=CHUNKED,
                                  body=b"A\r\n0123456789\r\n0\r\n\r\n"), ["POST"]),
    case("chunked-many", req("POST", headers=CHUNKED, body=b"".join(
        b"1\r\n%c\r\n" % (97 + i % 26) for i in range(200)) + b"0\r\n\r\n"), ["POST"]),
    case("chunked-empty", req("POST", headers=CHUNKED, body=b"0\r\n\r\n"), ["POST"]),
    case("body-100k", req("POST", headers=H + (("Content-Length", "100000"),),
                          body=bytes(range(256)) * 390 + b"x" * 160), ["POST"]),
    # over reactor's 1 MiB spool threshold: the body comes from a file, in pieces
    case("body-spooled", req("POST", headers=H + (("Content-Length", str(3 << 19)),),
                             body=bytes(range(256)) * (3 << 11)), ["POST"]),
    case("chunked-spooled", req("POST", headers=CHUNKED, body=b"".join(
        b"10000\r\n" + bytes([i]) * 65536 + b"\r\n" for i in range(24)) + b"0\r\n\r\n"),
        ["POST"]),
    case("binary-body", req("POST", headers=H + (("Content-Length", "4"),),
                            body=b"\x00\r\n\xff"), ["POST"]),
    case("expect-100", req("POST", "/up", headers=H + (("Content-Length", "5"),
                                                        ("Expect", "100-continue"))),
         ["POST"], then=b"hello"),
    case("expect-100-chunked", req("POST", "/up", headers=CHUNKED + (
        ("Expect", "100-continue"),)), ["POST"], then=b"5\r\nhello\r\n0\r\n\r\n"),
    case("expect-100-http10", req("POST", version="HTTP/1.0", headers=(
        ("Content-Length", "2"), ("Expect", "100-continue"))), ["POST"], then=b"hi", wait=0.3),
    case("expect-other", req("POST", headers=H + (("Content-Length", "2"),
                                                  ("Expect", "something")), body=b"hi"),
         ["POST"]),
    case("http10-body", req("POST", version="HTTP/1.0", headers=(("Content-Length", "2"),),
                            body=b"hi"), ["POST"]),
    # app-side behaviours (see asgi_framework_apps/echo.py)
    behave("stream"),
    behave("stream", version="HTTP/1.0"),
    behave("stream", method="HEAD"),
    behave("204"),
    behave("304"),
    behave("raise"),
    behave("raise-after-start"),
    behave("raise-mid-stream"),
    behave("cl"),
    behave("cl", version="HTTP/1.0"),
    behave("cl", method="HEAD"),
    behave("cl-short"),
    behave("cl-long"),
    behave("cl-stream-short"),
    behave("cl-stream-long"),
    behave("nolength"),
    behave("nolength", version="HTTP/1.0"),
    behave("nolength", method="HEAD"),
    behave("empty"),
    behave("headers"),
    case("app-cl-stream-long-then-next", req(headers=H + (("X-Behave", "cl-stream-long"),))
         + req(target="/next"), ["GET", "GET"]),
    case("app-raise-then-next", req(headers=H + (("X-Behave", "raise"),)) + req(target="/next"),
         ["GET", "GET"]),
]

# invalid requests: the status and whether the connection stays open are compared
# (error bodies are each server's own)
INVALID = [
    case("bare-lf", req(sep=b"\n")),
    case("bare-cr", b"GET / HTTP/1.1\r\nHost: x\rX-A: 1\r\n\r\n"),
    case("no-host-11", req(headers=())),
    case("two-hosts", req(headers=(("Host", "x"), ("Host", "y")))),
    case("empty-host-11", req(headers=(("Host", ""),))),
    case("bad-host", req(headers=(("Host", "a b"),))),
    case("te-and-cl", req("POST", headers=CHUNKED + (("Content-Length", "5"),),
                          body=b"5\r\nhello\r\n0\r\n\r\n"), ["POST"]),
    case("te-http10", req("POST", version="HTTP/1.0", headers=(("Transfer-Encoding", "chunked"),),
                          body=b"5\r\nhello\r\n0\r\n\r\n"), ["POST"]),
    case("te-gzip-chunked", req("POST", headers=H + (("Transfer-Encoding", "gzip, chunked"),),
                                body=b"0\r\n\r\n"), ["POST"]),
    case("bad-cl", req("POST", headers=H + (("Content-Length", "abc"),)), ["POST"]),
    case("two-different-cl", req("POST", headers=H + (("Content-Length", "2"),
                                                      ("Content-Length", "3")), body=b"hi!"),
         ["POST"]),
    case("space-before-colon", b"GET / HTTP/1.1\r\nHost: x\r\nX-A : 1\r\n\r\n"),
    case("obs-fold", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n 2\r\n\r\n"),
    case("ctl-in-value", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n"),
    case("nul-in-target", b"GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n"),
    case("raw-utf8-target", b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n"),
    case("fragment", req(target="/a#b")),
    case("asterisk-get", req(target="*")),
    case("double-space", b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n"),
    case("http2-version", req(version="HTTP/2.0")),
    case("http09", b"GET /\r\n\r\n"),
    case("connection-garbage", req(headers=H + (("Connection", "close, @@"),))),
]

# --root-path /api on both sides: the path the (stripping) proxy sent, and an unstripped one
ROOTED = [
    case("root-x", req(target="/x?q=1")),
    case("root-api-x", req(target="/api/x")),
    case("root-slash", req(target="/")),
    case("root-api", req(target="/api")),
    case("root-encoded", req(target="/a%2Fb/caf%C3%A9")),
]


# ---- deliberate differences -----------------------------------------------------------------

def _first(result):
    rs = result["responses"]
    return rs[0] if rs and isinstance(rs[0], dict) else None


def scope_of(result):
    """The scope the echo app saw (its first response's body)."""
    return ast.literal_eval(_first(result)["body"].decode("utf-8", "surrogatepass"))


def v_scope(*keys):
    """The scope's ``keys``; "<status>" for a response that is not the echo."""
    def view(result):
        r = _first(result)
        if r is None or r["status"] != 200:
            return "%s" % (r and r["status"])
        sc = scope_of(result)
        return tuple(sc[k] for k in keys)
    return view


def v_header(name):
    def view(result):
        return dict(_first(result)["headers"]).get(name)
    return view


def v_outcome(result):
    """(status, complete, Connection header, after) of the first response."""
    r = _first(result)
    return (r["status"], r["complete"], dict(r["headers"]).get("connection"), result["after"])


def v_framing(result):
    r = _first(result)
    return (r["framing"], dict(r["headers"]).get("connection"), result["after"])


def v_length(result):
    """(a Content-Length is sent, the Transfer-Encoding sent) of a HEAD response."""
    hs = dict(_first(result)["headers"])
    return ("content-length" in hs, hs.get("transfer-encoding"))


def v_interim(result):
    return result["interim"]


# case -> (what is compared, {server: what it gives}); a backend that is not
# named gives what reactor gives (the whole exchange is compared)
DIFFERENCES = {
    # valid requests
    "absolute-form": (v_scope("path", "raw_path"), {
        "reactor": ("/abs/p", b"/abs/p"), "h11": ("http://x/abs/p", b"http://x/abs/p")}),
    "lowercase-method": (v_outcome, {
        "reactor": (200, True, None, "open"), "httptools": (400, True, "close", "closed")}),
    "custom-method": (v_outcome, {
        "reactor": (200, True, None, "open"), "httptools": (400, True, "close", "closed")}),
    "two-equal-cl": (v_scope("headers"), {
        "reactor": ([(b"host", b"x"), (b"content-length", b"2"), (b"content-length", b"2")],),
        "h11": ([(b"host", b"x"), (b"content-length", b"2")],),
        "httptools": "400"}),
    "header-ows": (v_scope("headers"), {
        "reactor": ([(b"host", b"x"), (b"x-ws", b"padded")],),
        "httptools": ([(b"host", b"x"), (b"x-ws", b"padded \t")],)}),
    "chunked-trailer": (v_scope("headers"), {
        "reactor": ([(b"host", b"x"), (b"transfer-encoding", b"chunked")],),
        "httptools": ([(b"host", b"x"), (b"transfer-encoding", b"chunked"),
                       (b"x-trailer", b"t")],)}),
    "http10-keepalive": (v_outcome, {
        "reactor": (200, True, "keep-alive", "open"), "h11": (200, True, "close", "closed"),
        "httptools": (200, True, "close", "closed")}),
    "expect-100-http10": (v_interim, {"reactor": ["none"], "httptools": [100]}),
    "app-stream-http10": (v_framing, {
        "reactor": ("close", "close", "closed"), "httptools": ("chunked", "close", "closed")}),
    "app-stream-head": (v_header("transfer-encoding"), {"reactor": None, "h11": "chunked"}),
    "app-raise": (v_outcome, {
        "reactor": (500, True, None, "open"), "h11": (500, True, "close", "closed"),
        "httptools": (500, True, "close", "closed")}),
    "app-raise-then-next": (v_outcome, {
        "reactor": (500, True, None, "open"), "h11": (500, True, "close", "closed"),
        "httptools": (500, True, "close", "closed")}),
    "app-raise-after-start": (v_outcome, {
        "reactor": (500, True, None, "open"), "h11": (200, False, None, "closed"),
        "httptools": (200, False, None, "closed")}),
    "app-cl-short": (v_outcome, {
        "reactor": (500, True, None, "open"), "h11": (200, False, None, "closed"),
        "httptools": (200, False, None, "closed")}),
    "app-cl-long": (v_outcome, {
        "reactor": (500, True, None, "open"), "h11": (200, False, None, "closed"),
        "httptools": (200, False, None, "closed")}),
    "app-nolength": (v_framing, {
        "reactor": ("length", None, "open"), "h11": ("chunked", None, "open"),
        "httptools": ("chunked", None, "open")}),
    "app-empty": (v_framing, {
        "reactor": ("length", None, "open"), "h11": ("chunked", None, "open"),
        "httptools": ("chunked", None, "open")}),
    "app-nolength-http10": (v_framing, {
        "reactor": ("length", "close", "closed"), "h11": ("close", "close", "closed"),
        "httptools": ("chunked", "close", "closed")}),
    "app-nolength-head": (v_length, {
        "reactor": (True, None), "h11": (False, "chunked"), "httptools": (False, None)}),
    # invalid requests: (status, after)
    "bare-lf": (None, {"reactor": (400, "closed"), "h11": (200, "open")}),
    "no-host-11": (None, {"reactor": (400, "closed"), "httptools": (200, "open")}),
    "two-hosts": (None, {"reactor": (400, "closed"), "httptools": (200, "open")}),
    "empty-host-11": (None, {"reactor": (400, "closed"), "h11": (200, "open"),
                             "httptools": (200, "open")}),
    "bad-host": (None, {"reactor": (400, "closed"), "h11": (200, "open"),
                        "httptools": (200, "open")}),
    "te-and-cl": (None, {"reactor": (400, "closed"), "h11": (200, "open")}),
    "te-http10": (None, {"reactor": (400, "closed"), "h11": (200, "closed"),
                         "httptools": (200, "closed")}),
    "te-gzip-chunked": (None, {"reactor": (501, "closed"), "h11": (400, "closed"),
                               "httptools": (200, "open")}),
    "obs-fold": (None, {"reactor": (400, "closed"), "h11": (200, "open")}),
    "ctl-in-value": (None, {"reactor": (400, "closed"), "h11": (200, "open")}),
    "fragment": (None, {"reactor": (400, "closed"), "h11": (200, "open"),
                        "httptools": (200, "open")}),
    "asterisk-get": (None, {"reactor": (400, "closed"), "h11": (200, "open"),
                            "httptools": (200, "open")}),
    "double-space": (None, {"reactor": (400, "closed"), "httptools": (200, "open")}),
    "http2-version": (None, {"reactor": (505, "closed"), "h11": (200, "open"),
                             "httptools": (200, "closed")}),
    "http09": (None, {"reactor": (400, "closed"), "httptools": (200, "closed")}),
    "connection-garbage": (None, {"reactor": (400, "closed"), "h11": (200, "closed"),
                                  "httptools": (200, "closed")}),
}



def _uvicorn_httptools_keeps_trailing_ows():
    """Whether uvicorn's httptools protocol passes a header value on with its
    trailing whitespace (llhttp keeps it; uvicorn 0.55 strips it, as RFC 9112
    §5 says), asked of its own on_header."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
        probe = types.SimpleNamespace(headers=[], expect_100_continue=False)
        HttpToolsProtocol.on_header(probe, b"X-Ws", b"padded \t")
        return probe.headers[-1][1] != b"padded"
    except Exception:
        return True     # (an older or newer uvicorn: the documented difference)


if not _uvicorn_httptools_keeps_trailing_ows():
    # no difference left: uvicorn gives what reactor gives
    DIFFERENCES["header-ows"][1]["httptools"] = DIFFERENCES["header-ows"][1]["reactor"]


def status_after(result):
    r = _first(result)
    return (r["status"] if r else None, result["after"])


def check(c, ours, theirs, other, whole):
    """Equal exchanges, or the documented difference in its direction."""
    view, expected = DIFFERENCES.get(c["id"], (None, {}))
    if view is None:
        view = status_after
    if other in expected:
        assert (view(ours), view(theirs)) == (expected["reactor"], expected[other]), (
            "the documented difference changed:\nreactor: %r\n%s: %r" % (ours, other, theirs))
    elif whole:
        assert ours == theirs
    else:
        assert view(ours) == view(theirs), "reactor: %r\n%s: %r" % (ours, other, theirs)


# ---- the tests ------------------------------------------------------------------------------

@pytest.mark.parametrize("other", BACKENDS)
@pytest.mark.parametrize("c", CORPUS, ids=[c["id"] for c in CORPUS])
def test_valid_request(c, other, servers):
    check(c, exchange(servers("reactor").port, c), exchange(servers(other).port, c), other,
          whole=True)


@pytest.mark.parametrize("other", BACKENDS)
@pytest.mark.parametrize("c", INVALID, ids=[c["id"] for c in INVALID])
def test_invalid_request(c, other, servers):
    check(c, exchange(servers("reactor").port, c), exchange(servers(other).port, c), other,
          whole=False)


@pytest.mark.parametrize("other", BACKENDS)
@pytest.mark.parametrize("c", ROOTED, ids=[c["id"] for c in ROOTED])
def test_root_path(c, other, servers):
    """--root-path /api: the path is prefixed, whatever it is (uvicorn's rule)."""
    ours = exchange(servers("reactor", "/api").port, c)
    assert scope_of(ours)["root_path"] == "/api"
    assert scope_of(ours)["path"].startswith("/api/")
    check(c, ours, exchange(servers(other, "/api").port, c), other, whole=True)


def _until_gone(port):
    """Stream ``until-gone`` to a client that reads three ticks and closes;
    what the app filed about how its stream ended (b"None": not yet)."""
    key = uuid.uuid4().hex[:12]
    with socket.create_connection(("127.0.0.1", port), timeout=T) as s:
        s.sendall(b"GET /?%s HTTP/1.1\r\nHost: x\r\nX-Behave: until-gone\r\n\r\n"
                  % key.encode())
        got = b""
        while got.count(b"tick") < 3:
            data = s.recv(65536)
            assert data, got
            got += data
    report = case("report", req(target="/?" + key, headers=H + (("X-Behave", "report"),)))
    deadline = time.monotonic() + 3
    while True:
        ending = _first(exchange(port, report))["body"]
        if ending != b"None" or time.monotonic() > deadline:
            return ending
        time.sleep(0.02)


def test_send_on_a_closed_connection_as_the_advertised_spec_version(servers):
    """Not a comparison: reactor against the ASGI spec version it advertises
    in scope["asgi"].  From HTTP spec 2.4 on, send() on a closed connection
    raises an OSError, and apps rely on it: Starlette (FastAPI) stops a
    StreamingResponse that way instead of listening for http.disconnect.
    (uvicorn advertises 2.3, and its send() returns quietly.)"""
    kind = "reactor"
    srv = servers(kind)
    asgi = ast.literal_eval(_first(exchange(srv.port, case("asgi", req(headers=H + (
        ("X-Behave", "asgi"),)))))["body"].decode())
    spec = tuple(int(x) for x in asgi.get("spec_version", "2.0").split("."))
    if spec < (2, 4):
        pytest.skip("%s advertises ASGI HTTP spec %s: send() need not raise" % (kind, asgi))
    assert _until_gone(srv.port) == b"'OSError'", (
        "%s advertises %r, but send() did not raise OSError once the client had gone"
        % (kind, asgi))


def test_differences_table_is_current():
    """Every documented difference names a case of the corpus and reactor's side."""
    ids = {c["id"] for c in CORPUS + INVALID + ROOTED}
    for name, (view, expected) in DIFFERENCES.items():
        assert name in ids, name
        assert "reactor" in expected and len(expected) > 1, name
        assert name in __doc__, "%s is not in the table of the module docstring" % name
