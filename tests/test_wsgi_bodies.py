"""Issue 10, WSGI request bodies (black-box): uploads cost bounded memory,
the default --max-body-size is 1 GiB, a 413 is in the access log, small
bodies arrive exactly whatever the framing and the way the app reads them,
and a half-sent upload leaves the server healthy with no temporary file
behind.

The memory tests run the server in a subprocess
(tests/wsgi_apps/issue10_bodies.py) so its VmRSS/VmHWM are its own; the
client sends from one reused 1 MiB pattern, never holding a whole body.
The 1 GiB variants are marked ``slow``.
"""
import functools
import hashlib
import os
import random
import re
import select
import socket
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from reactor.config import Config  # noqa: E402
from wsgi_apps import issue10_bodies  # noqa: E402
from wsgi_apps.issue10_bodies import read_input  # noqa: E402
from wsgi_apps.helpers import (  # noqa: E402
    APPS_DIR, CLI_ENV, CliServer, Client, fetch, wait_for, wsgi_server)
from http_helpers import tls_server_kw  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30
PATTERN = random.Random(10).randbytes(MiB)     # every upload repeats this
MODES = [pytest.param(0, id="handler_threads=0"), pytest.param(None, id="default")]


@functools.lru_cache(maxsize=None)
def pattern_digest(total):
    """sha256 hexdigest of the first ``total`` bytes of PATTERN repeated."""
    h = hashlib.sha256()
    full, rest = divmod(total, MiB)
    for _ in range(full):
        h.update(PATTERN)
    h.update(PATTERN[:rest])
    return h.hexdigest()


def answer(total):
    """What issue10_bodies.app answers for an upload of ``total`` pattern bytes."""
    return b"%d %s" % (total, pattern_digest(total).encode())


def send_pattern(c, total, chunked, head_path="/upload"):
    """Send a POST of ``total`` pattern bytes on Client ``c`` (head included),
    1 MiB at a time.  If the server stops taking the body, fail with what it
    answered."""
    head = "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n" % head_path
    head += ("Transfer-Encoding: chunked\r\n\r\n" if chunked
             else "Content-Length: %d\r\n\r\n" % total)
    view = memoryview(PATTERN)
    sent = 0
    try:
        c.send(head.encode())
        while sent < total:
            n = min(MiB, total - sent)
            if chunked:
                c.sock.sendall(b"%x\r\n" % n)
            c.sock.sendall(view[:n])
            if chunked:
                c.sock.sendall(b"\r\n")
            sent += n
        if chunked:
            c.sock.sendall(b"0\r\n\r\n")
    except OSError as exc:
        try:
            r = c.read_response(allow_short=True)
            said = "%d %r" % (r.status, r.body[:200])
        except Exception as exc2:          # noqa: BLE001 - only for the message
            said = "nothing readable (%r)" % (exc2,)
        raise AssertionError("the server stopped taking the body after %d of %d bytes (%r); "
                             "it answered %s" % (sent, total, exc, said)) from None


def upload(port, total, chunked, timeout=60.0):
    with Client(port, timeout=timeout) as c:
        send_pattern(c, total, chunked)
        return c.read_response()


class BodyServer:
    """``python tests/wsgi_apps/issue10_bodies.py [HANDLER_THREADS]``: a
    WSGIServer(app, port=0, threads=1) in its own process, TMPDIR=spool_dir."""

    def __init__(self, tmp_path, handler_threads=None, spool_dir=None):
        args = [sys.executable, os.path.join(APPS_DIR, "issue10_bodies.py")]
        if handler_threads is not None:
            args.append(str(handler_threads))
        env = dict(CLI_ENV)
        for name, value in tls_server_kw().items():     # REACTOR_TEST_TLS=1: HTTPS
            env["REACTOR_TEST_" + name.upper()] = value
        if spool_dir is not None:
            env["TMPDIR"] = str(spool_dir)
        self.err_path = tmp_path / "server.stderr"
        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(args, cwd=str(tmp_path), env=env, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=err)
        try:
            self.port = self._read_port()
        except BaseException:
            self.close()
            raise

    def stderr(self):
        return self.err_path.read_bytes().decode("utf-8", "replace")

    def _read_port(self):
        buf = b""
        deadline = time.monotonic() + 20
        while b"\n" not in buf and time.monotonic() < deadline:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 100)
                if not chunk:
                    break
                buf += chunk
            elif self.proc.poll() is not None:
                break
        assert buf.strip().isdigit(), "the server did not start: %r\n%s" % (buf, self.stderr())
        return int(buf)

    def memory(self):
        """(VmRSS, VmHWM) of the server process, in kB, asked over HTTP."""
        r = fetch(self.port, path="/rss")
        assert r.status == 200, r
        rss, hwm = map(int, r.body.split())
        return rss, hwm

    def open_files(self):
        """Paths of the regular files the server process has open (not 0-2)."""
        out = []
        fd_dir = "/proc/%d/fd" % self.proc.pid
        for name in os.listdir(fd_dir):
            if int(name) <= 2:
                continue
            try:
                target = os.readlink(os.path.join(fd_dir, name))
            except OSError:
                continue
            if target.startswith("/") and not target.startswith(("/dev/", "/proc/", "/sys/")):
                out.append(target)
        return out

    def spooled(self, spool):
        """The files the server has open in directory ``spool`` (spooled bodies:
        unlinked at once, so only /proc shows them, as "... (deleted)")."""
        return [p for p in self.open_files() if p.startswith(str(spool) + os.sep)]

    def stop(self):
        """Close the server's stdin (it stops and exits); its exit code."""
        self.proc.stdin.close()
        return self.proc.wait(20)

    def close(self):
        try:
            if not self.proc.stdin.closed:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------------------
# 1. bounded memory uploads

UPLOAD_SIZES = [pytest.param(256 * MiB, id="256MiB"),
                pytest.param(GiB, id="1GiB", marks=pytest.mark.slow)]


@pytest.mark.parametrize("total", UPLOAD_SIZES)
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("handler_threads", MODES)
def test_upload_memory_is_bounded(tmp_path, total, chunked, handler_threads):
    spool = tmp_path / "tmpdir"
    spool.mkdir()
    with BodyServer(tmp_path, handler_threads, spool) as srv:
        r = upload(srv.port, 1000, chunked)                 # warm-up
        assert (r.status, r.body) == (200, answer(1000)), r
        rss_before, _ = srv.memory()
        r = upload(srv.port, total, chunked, timeout=120.0)
        assert (r.status, r.body) == (200, answer(total)), r
        rss_after, hwm_after = srv.memory()
        # the body's temporary file is closed once the response is out
        assert wait_for(lambda: not srv.spooled(spool), 2.0), srv.spooled(spool)
        assert srv.stop() == 0, srv.stderr()
    grew = hwm_after - rss_before
    assert grew < 64 * KiB, (
        "a %d MiB upload raised the server's peak RSS by %d MiB (VmRSS before %d kB, "
        "VmHWM after %d kB)" % (total // MiB, grew // KiB, rss_before, hwm_after))
    assert sorted(p.name for p in spool.iterdir()) == []


# ---------------------------------------------------------------------------
# 2. the default max body size is 1 GiB

def test_config_default_max_body_size_is_1gib():
    assert Config().max_body_size == 2 ** 30


def test_help_mentions_the_1gib_default(tmp_path):
    out = subprocess.run([sys.executable, "-m", "reactor", "--help"], cwd=str(tmp_path), env=CLI_ENV,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    m = re.search(r"(?<!\[)--max-body-size BYTES (.*?)(?= --[a-z]| -[a-zA-Z] |$)", text)
    assert m, text
    para = m.group(1)
    assert "default" in para and re.search(r"\b1 ?GiB\b|\b1073741824\b", para), para


@pytest.fixture(params=["WSGIServer", "cli"])
def default_limits_port(request, tmp_path):
    """A server with the default limits: in-process WSGIServer, or the CLI."""
    if request.param == "WSGIServer":
        with wsgi_server(issue10_bodies.app) as server:
            yield server.port
    else:
        with CliServer(tmp_path, "issue10_bodies:app", "--threads", "1") as cli:
            cli.wait_ready("/rss")
            yield cli.port
            assert cli.stop() == 0, cli.stderr()


def test_default_body_limit_is_exactly_1gib(default_limits_port):
    port = default_limits_port
    # one byte over: 413 on the head alone, with or without Expect
    for expect in (b"", b"Expect: 100-continue\r\n"):
        with Client(port) as c:
            c.send(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741825\r\n" +
                   expect + b"\r\n")
            while b"\r\n" not in c.buf and c._fill():
                pass
            line = c.buf.split(b"\r\n", 1)[0]
            assert line.startswith(b"HTTP/1.1 413 "), (expect, c.buf[:200])
    # exactly 1 GiB: accepted, the client is told to go on
    with Client(port) as c:
        c.send(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n"
               b"Expect: 100-continue\r\n\r\n")
        while b"\r\n\r\n" not in c.buf and c._fill():
            pass
        assert c.buf.split(b"\r\n", 1)[0] == b"HTTP/1.1 100 Continue", c.buf[:200]
    # (closed without sending the body) the server still answers
    assert fetch(port, path="/rss").status == 200


# ---------------------------------------------------------------------------
# 3. a 413 is in the access log

def test_413_is_in_the_access_log(tmp_path):
    with CliServer(tmp_path, "issue10_bodies:app", "--threads", "1", "--max-body-size", "1000",
                   "--access-log", "-") as cli:
        cli.wait_ready("/rss")
        with Client(cli.port) as c:
            c.send(b"POST /over-length HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n" +
                   b"a" * 2000)
            r = c.read_response(allow_short=True)
            assert r.status == 413, r
        with Client(cli.port) as c:
            c.send(b"POST /over-chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                   + b"1f4\r\n" + b"b" * 500 + b"\r\n" + b"1f4\r\n" + b"b" * 500 + b"\r\n"
                   + b"1f4\r\n" + b"b" * 500 + b"\r\n" + b"1f4\r\n" + b"b" * 500 + b"\r\n"
                   + b"0\r\n\r\n")
            r = c.read_response(allow_short=True)
            assert r.status == 413, r
        with Client(cli.port) as c:      # within the limit: still served
            c.request("POST", "/fits", body=b"c" * 1000)
            r = c.read_response()
            assert (r.status, r.body) == (
                200, b"1000 " + hashlib.sha256(b"c" * 1000).hexdigest().encode()), r
        assert cli.stop() == 0, cli.stderr()
        log = cli.stdout()
    for path in ("/over-length", "/over-chunked"):
        needle = '"POST %s HTTP/1.1" 413 ' % path
        assert any(needle in line for line in log.splitlines()), \
            "no access line with %r in:\n%s" % (needle, log)


# ---------------------------------------------------------------------------
# 4. small bodies arrive exactly

SMALL_SIZES = [0, 1, MiB - 1, MiB, MiB + 1, 5 * MiB]


def _reading_app(environ, start_response):
    """Reads wsgi.input as PATH_INFO says; answers count, sha256 and what
    reading past the end gave."""
    inp = environ["wsgi.input"]
    n, h = read_input(inp, environ["PATH_INFO"][1:], 65536)
    past = (inp.read(1), inp.read(), inp.readline())
    body = b"%d %s %r" % (n, h.hexdigest().encode(), past)
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]


@pytest.fixture(scope="module")
def small_data():
    return random.Random(4).randbytes(5 * MiB)


def _framed(body, chunked):
    if not chunked:
        return b"Content-Length: %d\r\n\r\n" % len(body) + body
    step = 100_003
    parts = [body[i:i + step] for i in range(0, len(body), step)]
    return (b"Transfer-Encoding: chunked\r\n\r\n" +
            b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("how", ["read", "blocks", "readline", "iter"])
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_small_bodies_exact(small_data, chunked, how, mode):
    kw = {} if mode is None else {"handler_threads": mode}
    with wsgi_server(_reading_app, **kw) as server:
        with Client(server.port, timeout=10.0) as c:
            for size in SMALL_SIZES:
                body = small_data[:size]
                c.send(b"POST /%s HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream"
                       b"\r\n" % how.encode() + _framed(body, chunked))
                r = c.read_response()
                want = b"%d %s %r" % (size, hashlib.sha256(body).hexdigest().encode(),
                                      (b"", b"", b""))
                assert (r.status, r.body) == (200, want), (size, r)


# ---------------------------------------------------------------------------
# 5. half an upload, then the client goes away

@pytest.mark.parametrize("handler_threads", MODES)
def test_half_sent_upload_leaves_nothing_behind(tmp_path, handler_threads):
    spool = tmp_path / "tmpdir"
    spool.mkdir()
    total = 64 * MiB
    with BodyServer(tmp_path, handler_threads, spool) as srv:
        with Client(srv.port) as c:
            c.send(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % total)
            sent = 0
            try:
                while sent < total // 2:
                    c.sock.sendall(PATTERN)
                    sent += MiB
            except OSError as exc:
                raise AssertionError("the server stopped taking the body after %d bytes: %r"
                                     % (sent, exc)) from None
            time.sleep(0.2)
            elsewhere = [p for p in srv.open_files()
                         if not p.startswith(str(spool) + os.sep)]
            assert not elsewhere, "files open outside $TMPDIR mid-upload: %r" % elsewhere
            assert len(srv.spooled(spool)) == 1, srv.open_files()     # the body's spool
            c.sock.settimeout(0.3)
            try:
                early = c.sock.recv(200)
            except socket.timeout:
                early = None
            assert early is None, "the server answered a half-sent body: %r" % early
        # the client is gone: the server keeps serving, uploads too
        assert fetch(srv.port, path="/rss").status == 200
        r = upload(srv.port, 3 * MiB, False)
        assert (r.status, r.body) == (200, answer(3 * MiB)), r
        assert wait_for(lambda: not list(spool.iterdir()), 2.0), list(spool.iterdir())
        # the cut-off body's temporary file was closed with its connection
        assert wait_for(lambda: not srv.spooled(spool), 2.0), srv.spooled(spool)
        assert srv.stop() == 0, srv.stderr()
    assert sorted(p.name for p in spool.iterdir()) == []
