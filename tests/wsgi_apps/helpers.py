"""Helpers shared by the WSGI tests: a server context manager, a raw-socket
HTTP client that reads framed responses, and a validator harness.

Every socket made here has a timeout, so a server bug shows up as a failed
assertion or a socket.timeout, never as a hung test run.
"""
import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import warnings
from wsgiref.validate import validator

import reactor
from reactor.wsgi import WSGIServer

from http_helpers import tls_cli_args, tls_server_kw, wrap  # REACTOR_TEST_TLS=1

TIMEOUT = 5.0
APPS_DIR = os.path.dirname(os.path.abspath(__file__))
# subprocesses import the same reactor package as this process (installed or in place)
REACTOR_HOME = os.path.dirname(os.path.dirname(os.path.abspath(reactor.__file__)))
CLI_ENV = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=os.pathsep.join(
    p for p in (REACTOR_HOME, os.environ.get("PYTHONPATH")) if p))


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def wsgi_server(app, **kw):
    """A WSGIServer on 127.0.0.1:<any port>, started for the ``with`` body and
    always stopped (threads joined, fds closed) afterwards."""
    kw.setdefault("threads", 1)
    kw.setdefault("port", 0)
    kw.setdefault("graceful_timeout", 2.0)
    for name, value in tls_server_kw().items():
        kw.setdefault(name, value)
    server = WSGIServer(app, **kw)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def wait_for(predicate, timeout=5.0, interval=0.01):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


class Response:
    def __init__(self, version, status, reason, headers, body):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers          # [(name, value)], arrival order
        self.body = body
        self.complete = True            # False: the peer closed inside the body

    def header(self, name, default=None):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    def __repr__(self):
        return "<Response %d %r %r>" % (self.status, self.headers, self.body[:80])


class Client:
    """A raw socket with a read buffer; parses responses one at a time."""

    def __init__(self, port, timeout=TIMEOUT):
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        sock.settimeout(timeout)
        self.sock = wrap(sock)
        self.buf = b""
        self.eof = False

    def send(self, data):
        self.sock.sendall(data)

    def request(self, method="GET", path="/", headers=(), body=b"", version="HTTP/1.1",
                host="localhost"):
        lines = ["%s %s %s" % (method, path, version)]
        if host is not None:
            lines.append("Host: " + host)
        for k, v in headers:
            lines.append("%s: %s" % (k, v))
        if body and not any(k.lower() in ("content-length", "transfer-encoding")
                            for k, _ in headers):
            lines.append("Content-Length: %d" % len(body))
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def _fill(self):
        if self.eof:
            return False
        try:
            data = self.sock.recv(1 << 16)
        except (ConnectionResetError, ssl.SSLEOFError):     # SSLEOFError: TLS without close_notify
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def _take(self, n):
        while len(self.buf) < n:
            if not self._fill():
                raise EOFError("closed inside a body: wanted %d, got %d" % (n, len(self.buf)))
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _line(self):
        while b"\r\n" not in self.buf:
            if not self._fill():
                raise EOFError("closed inside a chunked body")
        i = self.buf.index(b"\r\n")
        line, self.buf = self.buf[:i], self.buf[i + 2:]
        return line

    def read_head(self):
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                raise EOFError("closed before a full response head; got %r" % self.buf)
        i = self.buf.index(b"\r\n\r\n") + 4
        raw, self.buf = self.buf[:i], self.buf[i:]
        lines = raw[:-4].split(b"\r\n")
        version, status, reason = (lines[0].decode("latin-1").split(" ", 2) + [""])[:3]
        headers = []
        for line in lines[1:]:
            name, _, value = line.decode("latin-1").partition(":")
            headers.append((name, value.strip()))
        return Response(version, int(status), reason, headers, b"")

    def read_response(self, method="GET", allow_short=False):
        """One response (1xx skipped).  With ``allow_short`` a body cut short by
        the peer closing is returned with ``complete = False``."""
        while True:
            resp = self.read_head()
            if resp.status >= 200:
                break
        if method == "HEAD" or resp.status in (204, 304):
            return resp
        te = resp.header("Transfer-Encoding")
        cl = resp.header("Content-Length")
        try:
            if te is not None:
                assert te.lower() == "chunked", te
                assert cl is None, "both Transfer-Encoding and Content-Length"
                parts = []
                try:
                    while True:
                        size = int(self._line().split(b";")[0], 16)
                        if size == 0:
                            while self._line():
                                pass
                            break
                        parts.append(self._take(size))
                        assert self._take(2) == b"\r\n"
                finally:
                    resp.body = b"".join(parts)
            elif cl is not None:
                resp.body = self._take(int(cl))
            else:
                resp.body = self.read_until_close()
        except EOFError:
            if not allow_short:
                raise
            resp.complete = False
            if cl is not None:
                resp.body, self.buf = self.buf, b""
        return resp

    def read_until_close(self):
        while self._fill():
            pass
        out, self.buf = self.buf, b""
        return out

    def closed_within(self, timeout):
        """True if the server closes within ``timeout`` s (bytes are kept)."""
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


def fetch(port, method="GET", path="/", headers=(), body=b"", version="HTTP/1.1", **kw):
    """One request on a new connection; the response."""
    with Client(port) as c:
        c.request(method, path, headers, body, version)
        return c.read_response(method, **kw)


# ---------------------------------------------------------------------------
# wsgiref.validate harness

class Validated:
    """``validator(app)`` plus bookkeeping: every WSGIWarning (recorded), every
    error raised by the validator or the app (at call, iteration or close
    time), and whether the iterable was closed.  The server sees an ordinary
    WSGI app."""

    def __init__(self, app):
        self.app = app
        self.lint = validator(app)
        self.warnings = []
        self.errors = []
        self.calls = 0
        self.closed = 0
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            self.calls += 1
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                it = self.lint(environ, start_response)
            self.warnings.extend(str(w.message) for w in caught)
        except BaseException as exc:
            self.errors.append(exc)
            raise
        return WatchedBody(self, it)

    def check(self, calls=None, timeout=2.0):
        """Assert no warnings, no errors, and every iterable closed."""
        if calls is not None:
            assert self.calls == calls
        wait_for(lambda: self.closed == self.calls, timeout)
        assert self.warnings == []
        assert self.errors == []
        assert self.closed == self.calls, "iterable close() not called"


class WatchedBody:
    """The iterable of a ``Validated``-like owner: errors raised by next() and
    close() go to ``owner.errors``; close() counts in ``owner.closed``."""

    def __init__(self, owner, it):
        self.owner = owner
        self.it = it
        self.iterator = iter(it)

    def __iter__(self):
        return self

    def __next__(self):
        try:
            return next(self.iterator)
        except StopIteration:
            raise
        except BaseException as exc:
            self.owner.errors.append(exc)
            raise

    def close(self):
        try:
            self.it.close()
        except BaseException as exc:
            self.owner.errors.append(exc)
            raise
        finally:
            with self.owner.lock:
                self.owner.closed += 1


class CliServer:
    """``python -m reactor SPEC --app-dir tests/wsgi_apps --bind 127.0.0.1:PORT ARGS``
    (no SPEC and no --app-dir when ``spec`` is None) on a free port; stdout and
    stderr go to files under tmp_path."""

    def __init__(self, tmp_path, spec, *args):
        self.port = free_port()
        self.out_path = tmp_path / "cli.stdout"
        self.err_path = tmp_path / "cli.stderr"
        app = [] if spec is None else [spec, "--app-dir", APPS_DIR]
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "reactor", *app,
                 "--bind", "127.0.0.1:%d" % self.port, *tls_cli_args(), *args],
                cwd=str(tmp_path), env=CLI_ENV, stdin=subprocess.DEVNULL, stdout=out,
                stderr=err)

    def stderr(self):
        return self.err_path.read_bytes().decode("utf-8", "replace")

    def stdout(self):
        return self.out_path.read_bytes().decode("utf-8", "replace")

    def wait_ready(self, path="/", timeout=20.0):
        """Poll GET ``path`` until it is answered 200."""
        deadline = time.monotonic() + timeout
        while True:
            rc = self.proc.poll()
            assert rc is None, "the CLI exited with %r:\n%s" % (rc, self.stderr())
            try:
                r = fetch(self.port, path=path)
                if r.status == 200:
                    return r
            except (OSError, EOFError):
                pass
            assert time.monotonic() < deadline, "the CLI did not answer:\n%s" % self.stderr()
            time.sleep(0.05)

    def stop(self, timeout=15.0):
        """SIGTERM, then wait for the exit; the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class CountingFile:
    """A file-like over a real file (so wsgi.file_wrapper may sendfile it)
    that counts read() and close() calls; ``closed`` is set on close()."""

    def __init__(self, path, offset=0):
        self.f = open(path, "rb")
        if offset:
            self.f.seek(offset)
        self.reads = 0
        self.close_calls = 0
        self.closed = threading.Event()

    def fileno(self):
        return self.f.fileno()

    def tell(self):
        return self.f.tell()

    def seek(self, *a):
        return self.f.seek(*a)

    def read(self, n=-1):
        self.reads += 1
        return self.f.read(n)

    def close(self):
        self.close_calls += 1
        self.f.close()
        self.closed.set()
