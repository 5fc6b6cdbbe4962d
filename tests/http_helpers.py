"""Shared helpers for the HTTP test files: a server context manager, a raw
socket client that reads framed responses, and small utilities.

Every socket made here has a timeout, so a server bug shows up as a failed
assertion or a ``socket.timeout``, never as a hung test run.

TLS mode: with ``REACTOR_TEST_TLS=1`` in the environment, ``serve()`` (and
``tls_server_kw()`` for servers built elsewhere) serve HTTPS with the test
certificate in tests/data, and ``connect()``, ``Client`` and
``http_connection()`` speak TLS, so the end-to-end tests run unchanged over
TLS.  Clients that build URLs use ``base_url()``; requests verifies with
REQUESTS_CA_BUNDLE (set below), curl with ``curl_tls_args()``.  Tests whose
point is plaintext-only carry ``@pytest.mark.plaintext_only(reason)``.
"""
import contextlib
import http.client
import os
import socket
import ssl
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The package under test is the installed one (``pip install -e '.[test]'``,
# or PYTHONPATH for the debug flavour), so the checkout goes *last* on the
# path: it provides ``bench`` and, with nothing installed, an in-place build.
if ROOT not in sys.path:
    sys.path.append(ROOT)

from reactor.http_server import HttpServer  # noqa: E402

TIMEOUT = 5.0

# ---- TLS mode -----------------------------------------------------------------------------------

TLS = os.environ.get("REACTOR_TEST_TLS", "") not in ("", "0")
SCHEME = "https" if TLS else "http"
# A self-signed ECDSA P-256 certificate, SAN IP:127.0.0.1 + DNS:localhost, valid
# for 100 years (made with ``openssl req -x509 -newkey ec -pkeyopt
# ec_paramgen_curve:P-256 -nodes -days 36500 -subj /CN=localhost
# -addext subjectAltName=IP:127.0.0.1,DNS:localhost``); test-only key.
TLS_CERT = os.path.join(ROOT, "tests", "data", "tls-test-cert.pem")
TLS_KEY = os.path.join(ROOT, "tests", "data", "tls-test-key.pem")
if TLS:
    # requests (and anything else honouring it) trusts the test certificate
    os.environ["REQUESTS_CA_BUNDLE"] = TLS_CERT

_client_context = None

# what a non-blocking send/recv raises when it would block (TLS adds its own)
WOULD_BLOCK = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


def tls_server_kw():
    """Keywords that make an HttpServer/WSGIServer serve HTTPS in TLS mode ({} otherwise)."""
    return dict(certfile=TLS_CERT, keyfile=TLS_KEY) if TLS else {}


def tls_cli_args():
    """``python -m reactor`` arguments for TLS mode ([] otherwise)."""
    return ["--certfile", TLS_CERT, "--keyfile", TLS_KEY] if TLS else []


def curl_tls_args():
    """curl arguments trusting the test certificate (harmless for http:// URLs)."""
    return ["--cacert", TLS_CERT] if TLS else []


def client_context():
    """The client SSLContext: verifies the server with the test certificate."""
    global _client_context
    if _client_context is None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(TLS_CERT)
        _client_context = ctx
    return _client_context


def wrap(sock):
    """In TLS mode, ``sock`` (connected, blocking with a timeout) after a TLS
    handshake; otherwise ``sock`` itself."""
    if not TLS or isinstance(sock, ssl.SSLSocket):
        return sock
    try:
        return client_context().wrap_socket(sock, server_hostname="127.0.0.1",
                                            suppress_ragged_eofs=False)
    except BaseException:
        sock.close()
        raise


def half_close(sock):
    """shutdown(SHUT_WR) of the client side.  On a TLS socket this is a TCP FIN
    without close_notify (``SSLSocket.shutdown()`` would drop the TLS layer)."""
    socket.socket.shutdown(sock, socket.SHUT_WR)


def base_url(port):
    return "%s://127.0.0.1:%d" % (SCHEME, port)


def http_connection(port, timeout=TIMEOUT, host="127.0.0.1"):
    """An http.client connection (HTTPS in TLS mode)."""
    if TLS:
        return http.client.HTTPSConnection(host, port, timeout=timeout, context=client_context())
    return http.client.HTTPConnection(host, port, timeout=timeout)

COMBOS = [(t, d) for t in (0, 1, 4) for d in ("epoll", "poll")]
COMBO_IDS = ["t%d-%s" % c for c in COMBOS]


@contextlib.contextmanager
def serve(handler=None, *, routes=None, threads=1, dispatcher="epoll", config=None, **kw):
    """Run an HttpServer on 127.0.0.1:<free port> for the ``with`` body.

    ``routes``: {path: body} registered with ``route_static``;
    ``config``: {attribute: value} set on ``server.config`` before start.
    """
    for name, value in tls_server_kw().items():
        kw.setdefault(name, value)
    server = HttpServer(handler, port=0, threads=threads, dispatcher=dispatcher, **kw)
    try:
        for path, body in (routes or {}).items():
            server.route_static(path, body)
        for name, value in (config or {}).items():
            setattr(server.config, name, value)
        server.start()
        yield server
    finally:
        server.stop()


def connect(port, timeout=TIMEOUT):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.settimeout(timeout)
    return wrap(s)


def get(path="/", host="x", extra=b"", version=b"HTTP/1.1", method=b"GET"):
    """Bytes of a simple request."""
    if isinstance(path, str):
        path = path.encode()
    head = method + b" " + path + b" " + version + b"\r\n"
    if host is not None:
        head += b"Host: " + host.encode() + b"\r\n"
    return head + extra + b"\r\n"


class Response:
    def __init__(self, version, status, reason, headers, body, raw_head):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers          # [(name, value)] as str, arrival order
        self.body = body
        self.raw_head = raw_head

    def header(self, name, default=None):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def close(self):
        return "close" in (self.header("Connection") or "").lower()

    def __repr__(self):
        return "<Response %d %r %r>" % (self.status, self.headers, self.body[:80])


class Client:
    """A raw socket with a read buffer that can parse responses one by one."""

    def __init__(self, port, timeout=TIMEOUT, sock=None):
        # a passed ``sock`` is wrapped in TLS mode: use ``self.sock`` afterwards
        self.sock = wrap(sock) if sock is not None else connect(port, timeout)
        self.buf = b""
        self.eof = False
        self.ragged_eof = False         # TLS: the peer closed without close_notify

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        if self.eof:
            return False
        try:
            data = self.sock.recv(1 << 16)
        except ConnectionResetError:
            data = b""
        except ssl.SSLEOFError:
            data = b""
            self.ragged_eof = True
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def _take_line_block(self):
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                raise EOFError("connection closed before a full response head; got %r" % self.buf)
        i = self.buf.index(b"\r\n\r\n") + 4
        head, self.buf = self.buf[:i], self.buf[i:]
        return head

    def _take(self, n):
        while len(self.buf) < n:
            if not self._fill():
                raise EOFError("connection closed inside a body: wanted %d, got %d"
                               % (n, len(self.buf)))
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _take_line(self):
        while b"\r\n" not in self.buf:
            if not self._fill():
                raise EOFError("connection closed inside a chunked body")
        i = self.buf.index(b"\r\n")
        line, self.buf = self.buf[:i], self.buf[i + 2:]
        return line

    def read_response(self, method="GET", interim=False):
        """One response.  1xx responses are skipped unless ``interim``."""
        while True:
            raw = self._take_line_block()
            lines = raw[:-4].split(b"\r\n")
            version, status, reason = lines[0].decode("latin-1").split(" ", 2)
            status = int(status)
            headers = []
            for line in lines[1:]:
                name, _, value = line.decode("latin-1").partition(":")
                assert name == name.strip(), "whitespace around a response header name"
                headers.append((name, value.strip()))
            resp = Response(version, status, reason, headers, b"", raw)
            if status < 200:
                if interim:
                    return resp
                continue
            if method == "HEAD" or status in (204, 304):
                return resp
            te = resp.header("Transfer-Encoding")
            cl = resp.header("Content-Length")
            if te is not None:
                assert te.lower() == "chunked", te
                assert cl is None, "both Transfer-Encoding and Content-Length in a response"
                parts = []
                while True:
                    size = int(self._take_line().split(b";")[0], 16)
                    if size == 0:
                        while self._take_line():
                            pass
                        break
                    parts.append(self._take(size))
                    assert self._take(2) == b"\r\n"
                resp.body = b"".join(parts)
            elif cl is not None:
                resp.body = self._take(int(cl))
            else:
                resp.body = self.read_until_close()
                assert not self.ragged_eof, (
                    "TLS: a close-delimited body ended without close_notify (truncation?)")
            return resp

    def read_until_close(self):
        while self._fill():
            pass
        out, self.buf = self.buf, b""
        return out

    def closed_within(self, timeout):
        """True if the server closes (EOF or RST) within ``timeout`` seconds;
        any bytes received meanwhile are kept in the buffer."""
        old = self.sock.gettimeout()
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if not self._fill():
                    return True
        except socket.timeout:
            return False
        finally:
            self.sock.settimeout(old)
        return False

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def exchange(port, data, method="GET", timeout=TIMEOUT):
    """Send ``data`` on a new connection; return (response, closed_after)."""
    with Client(port, timeout) as c:
        c.send(data)
        resp = c.read_response(method)
        closed = c.closed_within(1.0 if resp.close else 0.05)
        return resp, closed


def run_in_loop(loop, fn, timeout=5.0):
    """Call ``fn()`` in ``loop``'s thread and return its result."""
    done = threading.Event()
    box = {}

    def call():
        try:
            box["result"] = fn()
        except BaseException as exc:
            box["error"] = exc
        finally:
            done.set()

    loop.run_in_loop(call)
    assert done.wait(timeout), "loop did not run the call"
    if "error" in box:
        raise box["error"]
    return box.get("result")


def wait_for(predicate, timeout=5.0, interval=0.01):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def live_connections(server):
    return sum(s["connections"] for s in server.stats())


# The start of a raw-socket client script run in a child process (tests that
# hold the GIL in the server must not share an interpreter with the client):
# ``conn()`` opens a connection to sys.argv[1] (TLS in TLS mode), ``response(s)``
# reads one Content-Length framed response and returns its body.
CLIENT_PRELUDE = "TLS_CERT = %r\n" % (TLS_CERT if TLS else None) + r'''
import json, socket, ssl, sys, time
port = int(sys.argv[1])

def conn():
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    if TLS_CERT:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(TLS_CERT)
        s = ctx.wrap_socket(s, server_hostname="127.0.0.1")
    return s

def response(s):
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    n = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0]
            .split(b":")[1])
    while len(body) < n:
        body += s.recv(65536)
    return body
'''
