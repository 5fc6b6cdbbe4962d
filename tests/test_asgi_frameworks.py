"""Real ASGI frameworks on reactor, black-box over httpx and raw sockets.

FastAPI, Starlette, Litestar and Django (``get_asgi_application()``, an
async and a sync view) each run as ``python -m reactor module:app`` in a
subprocess (``--interface auto --lifespan auto``), started once per module
per framework (and once more with ``--root-path /api``).  Every app
implements the URL contract of ``asgi_framework_apps.common``, so one test
body drives all four; a framework without a feature is skipped with the
reason.  A framework that is not installed is skipped (importorskip).

What is checked: lifespan state read in a request (and each request's
``state`` being a shallow copy: a key one request writes is not seen by
the next, a list in it is shared); JSON in and out; path and query
parameters (percent-encoded UTF-8, repeated keys, and an escape that is not
UTF-8, which must not break the app); streamed responses that reach the
client chunk by chunk, a 6 MiB one read slowly, and an endless one that must
end when the client goes; background tasks that run after the client has
the whole response; ``is_disconnected()`` (or the framework's own way)
turning True when the client closes, half-closes or resets mid-request;
``--root-path`` (uvicorn's semantics: a proxy strips the prefix, the app
sees ``root_path`` and a prefixed ``path``, and the URLs it builds, FastAPI's
docs among them, carry the prefix); a file response (and HEAD, and a Range);
outbound ``httpx.AsyncClient`` calls from a handler to a second local server,
which answers only when the three calls are in flight together; urlencoded
forms and multipart uploads (one above the server's 1 MiB spool threshold);
Django's sync view in a thread and its async view on the loop; graceful
SIGTERM (an in-flight request finishes, then lifespan shutdown runs).  After
each test, no server it used may have logged a traceback meanwhile; at the
end each must exit 0 on SIGTERM.

Controls: ``REACTOR_ASGI_CONTROL=uvicorn`` runs the same tests against
``python -m uvicorn`` instead (to tell a reactor bug from a test bug).
``REACTOR_ASGI_SERVER_ARGS`` adds arguments to each reactor command line
(``.ci/run`` runs the module again with ``--threads 1``).

FastAPI's and Starlette's forms need ``python-multipart`` (the ``multipart``
package is a different one); their form tests are skipped without it.
"""
import contextlib
import hashlib
import http.server
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid

import pytest

httpx = pytest.importorskip("httpx")

from http_helpers import ROOT  # noqa: E402

# many servers per module: they run with the slow tests (.ci/run), which keeps the
# README's test command under 4 minutes
pytestmark = [pytest.mark.plaintext_only("the framework servers are plain HTTP subprocesses"),
              pytest.mark.slow]

TESTS = os.path.join(ROOT, "tests")
CONTROL = os.environ.get("REACTOR_ASGI_CONTROL", "")      # "uvicorn": the control server
SERVER_ARGS = os.environ.get("REACTOR_ASGI_SERVER_ARGS", "").split()
T = 10.0
MiB = 1 << 20

# framework -> (module to importorskip, app spec under tests/)
FRAMEWORKS = {
    "fastapi": ("fastapi", "asgi_framework_apps.fastapi_app:app"),
    "starlette": ("starlette", "asgi_framework_apps.starlette_app:app"),
    "litestar": ("litestar", "asgi_framework_apps.litestar_app:app"),
    "django": ("django", "asgi_framework_apps.django_app:application"),
}
ALL = list(FRAMEWORKS)
# with asgion installed (3.12+), each app runs wrapped in its Inspector
# (asgi_framework_apps/inspected.py) and the module fails on any violation it saw;
# .ci/other_pythons.sh requires it there (REACTOR_REQUIRE_ASGION=1)
try:
    import asgion  # noqa: F401
    ASGION = not CONTROL
except ImportError:
    ASGION = False
    if os.environ.get("REACTOR_REQUIRE_ASGION", "") == "1":
        raise
# what asgion reports that is not reactor's: (rule, framework or None for all, path prefix)
ASGION_KNOWN = [
    # the apps answer after the client went, on purpose (the server must survive it)
    ("HF-005", None, "/disconnect/"),
    # Litestar streams a file with Content-Length and sends its closing empty
    # more_body=False message after the last bytes: a client (or the drain) that closes
    # the connection once it has every byte makes http.disconnect (ASGI: "the connection
    # is closed") cross that message, as under uvicorn; seen with --threads 1 on 3.13
    ("HF-005", "litestar", "/file"),
    # Starlette's FileResponse sends the file with http.response.pathsend, which
    # asgion 0.6 does not count as body bytes against the Content-Length
    ("SEM-003", None, "/file"),
    # Django writes its response header names capitalized
    ("HE-009", "django", "/"),
]


def asgion_findings(path, framework):
    """The violations in an inspected server's file, less ASGION_KNOWN."""
    out = []
    with open(path) as f:
        for line in f:
            v = json.loads(line)
            if not any(v["rule"] == rule and fw in (None, framework) and
                       v["path"].startswith(prefix) for rule, fw, prefix in ASGION_KNOWN):
                out.append(line.strip())
    return out


NO_DJANGO = [f for f in ALL if f != "django"]


def has_python_multipart():
    try:
        import python_multipart  # noqa: F401
        return True
    except ImportError:
        return False


def token():
    return uuid.uuid4().hex[:12]


# ---- the servers --------------------------------------------------------------------------

class Server:
    """``python -m reactor SPEC`` (or uvicorn, under the control) in a
    subprocess, stderr to a file; ``port`` from the start-up banner."""

    asgion_out = None       # the file asgi_framework_apps.inspected writes to, if wrapped

    def __init__(self, spec, tmpdir, *args, env=None):
        self.spec = spec
        self.errpath = os.path.join(tmpdir, "stderr-%s.log" % token())
        environ = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
        environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (os.environ.get("PYTHONPATH"), ROOT) if p)
        if CONTROL == "uvicorn":
            self.port = _free_port()
            cmd = [sys.executable, "-m", "uvicorn", spec, "--app-dir", TESTS,
                   "--port", str(self.port), *args]
            ready = re.compile(rb"Uvicorn running on")
        else:
            self.port = None
            cmd = [sys.executable, "-m", "reactor", spec, "--app-dir", TESTS, "--port", "0",
                   *SERVER_ARGS, *args]
            ready = re.compile(rb"reactor: serving .* on http://127\.0\.0\.1:(\d+)")
        with open(self.errpath, "wb") as err:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=environ, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + 30
        while True:
            m = ready.search(self.stderr_bytes())
            if m:
                if self.port is None:
                    self.port = int(m.group(1))
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise AssertionError("the server did not start (%r): %s"
                                     % (cmd, self.stderr()))
            time.sleep(0.02)

    def stderr_bytes(self):
        with open(self.errpath, "rb") as f:
            return f.read()

    def stderr(self):
        return self.stderr_bytes().decode(errors="replace")

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def terminate(self, timeout=15):
        """SIGTERM; the exit status (None if it had to be killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return None
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    """A file for the file responses: 1 MiB and an odd tail."""
    path = tmp_path_factory.mktemp("asgi-files") / "download.bin"
    data = os.urandom(MiB + 4321)
    path.write_bytes(data)
    return str(path), data


@pytest.fixture(scope="module")
def framework_servers(tmp_path_factory, data_file):
    """``get(framework, root_path="")``: that framework's server, started on
    first use and shared by the module; all stopped (SIGTERM) at the end,
    which must be graceful (exit status 0)."""
    tmpdir = str(tmp_path_factory.mktemp("asgi-servers"))
    running = {}

    def get(framework, root_path=""):
        module, spec = FRAMEWORKS[framework]
        pytest.importorskip(module)
        key = (framework, root_path)
        if key not in running:
            args = ["--root-path", root_path] if root_path else []
            env = {"REACTOR_TEST_ASGI_FILE": data_file[0]}
            if ASGION:
                env["REACTOR_ASGION_APP"] = spec
                env["REACTOR_ASGION_OUT"] = os.path.join(
                    tmpdir, "asgion-%s%s.jsonl" % (framework, root_path.replace("/", "-")))
                spec = "asgi_framework_apps.inspected:app"
            running[key] = Server(spec, tmpdir, *args, env=env)
            running[key].asgion_out = env.get("REACTOR_ASGION_OUT")
        srv = running[key]
        assert srv.proc.poll() is None, "the %s server died: %s" % (framework, srv.stderr())
        return srv

    yield get
    problems = []
    for (framework, root_path), srv in running.items():
        rc = srv.terminate()
        if rc != 0 and not (CONTROL == "uvicorn" and rc == -signal.SIGTERM):
            # (uvicorn re-raises the signal once it has shut down)
            problems.append("%s%s: exit status %r after SIGTERM: %s"
                            % (framework, root_path, rc, srv.stderr()[-3000:]))
        if srv.asgion_out and os.path.exists(srv.asgion_out):
            seen = asgion_findings(srv.asgion_out, framework)
            if seen:
                problems.append("%s%s: asgion violations:\n%s"
                                % (framework, root_path, "\n".join(seen)))
    assert not problems, "\n".join(problems)


@pytest.fixture
def servers(framework_servers):
    """``servers(framework, root_path="")`` for one test; after it, no server
    the test used may have logged a traceback meanwhile."""
    used = []

    def get(framework, root_path=""):
        srv = framework_servers(framework, root_path)
        if all(srv is not u for u, _ in used):
            used.append((srv, len(srv.stderr_bytes())))
        return srv

    yield get
    for srv, start in used:
        new = srv.stderr_bytes()[start:].decode(errors="replace")
        assert "Traceback" not in new, "%s logged a traceback during the test:\n%s" % (
            srv.spec, new[-3000:])


@pytest.fixture
def client():
    with httpx.Client(trust_env=False, timeout=T) as c:
        yield c


class _Upstream(http.server.BaseHTTPRequestHandler):
    """GET /up/<token>/<i>: answers only once three requests of one token are
    in flight together (a barrier), so serial calls fail with 503."""
    barriers = {}
    lock = threading.Lock()

    def do_GET(self):
        parts = self.path.split("/")
        if len(parts) != 4 or parts[1] != "up":
            self.send_error(404)
            return
        with self.lock:
            barrier = self.barriers.setdefault(parts[2], threading.Barrier(3, timeout=5))
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            body, status = b'"not concurrent"', 503
        else:
            body, status = json.dumps({"token": parts[2], "i": int(parts[3])}).encode(), 200
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def upstream():
    """A second local server (the standard library's, one thread per request,
    HTTP/1.0: each connection closes after its response)."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    srv.daemon_threads = True
    th = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                          name="upstream", daemon=True)
    th.start()
    yield "http://127.0.0.1:%d" % srv.server_address[1]
    srv.shutdown()
    srv.server_close()
    th.join(5)


def wait_status(client, srv, tok, want, timeout=T):
    """Poll /status/<tok> until ``want`` is among what the handlers recorded."""
    deadline = time.monotonic() + timeout
    while True:
        got = client.get(srv.url("/status/%s" % tok)).json()["status"]
        if want in got or time.monotonic() > deadline:
            return got
        time.sleep(0.02)


# ---- lifespan and state -------------------------------------------------------------------

@pytest.mark.parametrize("fw", NO_DJANGO)
def test_lifespan_state_read_in_requests(fw, servers, client):
    srv = servers(fw)
    r1 = client.get(srv.url("/state?set=1"))
    assert r1.status_code == 200, r1.text
    r2 = client.get(srv.url("/state"))
    assert r2.status_code == 200, r2.text
    a, b = r1.json(), r2.json()
    assert a["greeting"] == b["greeting"] == "hello from lifespan"
    # a key a request writes into its state stays in that request's copy ...
    assert a["scratch_before"] is None and b["scratch_before"] is None
    # ... while the objects in the lifespan state are shared (a shallow copy)
    assert b["hits"] == a["hits"] + 1


def test_django_serves_without_lifespan_and_refuses_lifespan_on(servers, client, tmp_path):
    """Django's ASGI handler raises on a lifespan scope: under --lifespan auto
    the server goes on without it; under --lifespan on it must not start."""
    srv = servers("django")
    r = client.get(srv.url("/async-info"))
    assert r.status_code == 200 and r.json()["loop_running"] is True
    with pytest.raises(AssertionError, match="did not start") as info:
        Server(FRAMEWORKS["django"][1], str(tmp_path), "--lifespan", "on")
    assert "lifespan" in str(info.value).lower(), str(info.value)


# ---- requests in, responses out -----------------------------------------------------------

@pytest.mark.parametrize("fw", ALL)
def test_json_in_and_out(fw, servers, client):
    srv = servers(fw)
    payload = {"name": "zoë", "values": [1, 2, 39], "nested": {"k": [None, True, 1.5]}}
    r = client.post(srv.url("/json"), json=payload)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    # (Django sets no Content-Length; the server frames it its own way)
    assert int(r.headers.get("content-length", len(r.content))) == len(r.content)
    out = r.json()
    assert out["name"] == "ZOË" and out["total"] == 42 and out["count"] == 3
    assert out["echo"]["nested"] == payload["nested"]


@pytest.mark.parametrize("fw", ALL)
def test_path_and_query_parameters(fw, servers, client):
    srv = servers(fw)
    r = client.get(srv.url("/items/42/zo%C3%AB%20x?q=caf%C3%A9+ol%C3%A9&tag=a&tag=b%26c"))
    assert r.status_code == 200, r.text
    assert r.json() == {"item_id": 42, "name": "zoë x", "q": "café olé", "tags": ["a", "b&c"],
                        "path": "/items/42/zoë x"}
    # a path parameter that is not an int does not reach the handler
    bad = client.get(srv.url("/items/forty-two/x"))
    assert 400 <= bad.status_code < 500, (bad.status_code, bad.text)


@pytest.mark.parametrize("fw", ALL)
def test_path_with_a_percent_escape_that_is_not_utf8(fw, servers, client):
    """``%E9`` is Latin-1, not UTF-8: uvicorn (and hypercorn, daphne) decode
    it to U+FFFD in the scope's path, which any app can encode again."""
    srv = servers(fw)
    r = client.get(srv.url("/items/5/caf%E9"))
    assert r.status_code == 200, r.text
    # (compared as ascii(): a lone surrogate in a failure message breaks xdist's report)
    assert ascii(r.json()["name"]) == ascii("caf\ufffd")
    assert client.get(srv.url("/items/1/a")).status_code == 200


@pytest.mark.parametrize("fw", ALL)
def test_streaming_response_arrives_chunk_by_chunk(fw, servers, client):
    """The app's generator yields "first", then waits until the test, having
    received "first", releases it: a server that buffered the stream would
    time out here."""
    srv = servers(fw)
    tok = token()
    with httpx.Client(trust_env=False, timeout=T) as other:
        with client.stream("GET", srv.url("/stream/%s" % tok)) as r:
            assert r.status_code == 200
            assert r.headers.get("transfer-encoding") == "chunked"
            assert "content-length" not in r.headers
            got = b""
            chunks = r.iter_raw()
            while b"first\n" not in got:
                got += next(chunks)
            assert got == b"first\n"
            assert other.post(srv.url("/release/%s" % tok)).status_code == 200
            for chunk in chunks:
                got += chunk
    assert got == b"first\nsecond\nchunk 0\nchunk 1\nchunk 2\n"
    # the connection is good for another request
    assert client.get(srv.url("/items/1/a")).status_code == 200


@pytest.mark.parametrize("fw", ALL)
def test_big_streamed_response(fw, servers, client):
    """6 MiB in 64 KiB pieces: more than the server queues before it makes the
    app wait (send() blocks above a high-water mark), read slowly at first."""
    srv = servers(fw)
    chunks, size = 96, 64 * 1024
    want = hashlib.sha256()
    for i in range(chunks):
        want.update(bytes([i % 251]) * size)
    got = hashlib.sha256()
    n = 0
    with client.stream("GET", srv.url("/bigstream"), params={"chunks": chunks, "size": size}) as r:
        assert r.status_code == 200
        assert r.headers.get("transfer-encoding") == "chunked"
        for k, piece in enumerate(r.iter_raw()):
            got.update(piece)
            n += len(piece)
            if k < 20:
                time.sleep(0.005)       # a slow reader for a while: the queue fills
    assert n == chunks * size
    assert got.hexdigest() == want.hexdigest()
    assert client.get(srv.url("/items/1/a")).status_code == 200


@pytest.mark.parametrize("fw", ALL)
def test_endless_stream_stops_when_the_client_goes(fw, servers, client):
    """A stream that would run for 100 s: the client reads a little and
    closes.  The app must hear of it (ASGI 2.4: send() raises an OSError on
    a closed connection, which is what Starlette and FastAPI rely on;
    Litestar and Django listen for http.disconnect) and end the stream."""
    srv = servers(fw)
    tok = token()
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=T)
    try:
        s.sendall(b"GET /endless/%s HTTP/1.1\r\nHost: x\r\n\r\n" % tok.encode())
        got = b""
        while got.count(b"tick") < 3:
            data = s.recv(65536)
            assert data, "EOF before three ticks: %r" % got
            got += data
        assert got.startswith(b"HTTP/1.1 200 ")
    finally:
        s.close()
    assert wait_status(client, srv, tok, "stopped", timeout=3) == ["streaming", "stopped"]
    time.sleep(0.3)     # the app's task ends after its stream: what it logs is this test's


@pytest.mark.parametrize("fw", NO_DJANGO)
def test_background_task_runs_after_the_response(fw, servers, client):
    """The task waits for /release: the client has the whole response while
    it has not run; the release goes over the same keep-alive connection
    while the app's task is still running."""
    srv = servers(fw)
    tok = token()
    r = client.get(srv.url("/bg/%s" % tok))
    assert r.status_code == 200 and r.json() == {"scheduled": True}
    assert client.get(srv.url("/status/%s" % tok)).json() == {"status": []}
    assert client.post(srv.url("/release/%s" % tok)).status_code == 200
    assert wait_status(client, srv, tok, "bg-done") == ["bg-done"]


@pytest.mark.parametrize("how", ["close", "half-close", "reset"])
@pytest.mark.parametrize("fw", ALL)
def test_disconnect_is_seen_mid_request(fw, how, servers, client):
    """The handler polls ``await request.is_disconnected()`` (Litestar: the
    ASGI receive; Django: its view is cancelled); the client goes away while
    the handler waits."""
    srv = servers(fw)
    tok = token()
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=T)
    try:
        s.sendall(b"GET /disconnect/%s HTTP/1.1\r\nHost: x\r\n\r\n" % tok.encode())
        assert wait_status(client, srv, tok, "waiting") == ["waiting"]
        if how == "half-close":
            s.shutdown(socket.SHUT_WR)
        elif how == "reset":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        else:
            s.close()
        assert wait_status(client, srv, tok, "disconnected", timeout=5) == \
            ["waiting", "disconnected"]
    finally:
        s.close()
    assert client.get(srv.url("/items/1/a")).status_code == 200


# ---- root_path ------------------------------------------------------------------------------

@pytest.mark.parametrize("fw", ALL)
def test_root_path(fw, servers, client):
    """--root-path /api as uvicorn has it: the proxy in front strips /api, the
    app sees root_path "/api" and path "/api/whereami", and builds /api URLs."""
    srv = servers(fw, "/api")
    r = client.get(srv.url("/whereami"))
    assert r.status_code == 200, r.text
    w = r.json()
    assert w["root_path"] == "/api"
    assert w["raw_path"] == "/api/whereami"
    # Litestar's router rewrites scope["path"] to the path under root_path
    assert w["path"] == ("/whereami" if fw == "litestar" else "/api/whereami")
    assert w["url"] == srv.url("/api/whereami")
    assert w["item_url"] == srv.url("/api/items/7/x")
    if fw == "django":
        assert w["path_info"] == "/whereami"
    item = client.get(srv.url("/items/3/y?q=z"))
    assert item.status_code == 200, item.text
    assert item.json()["path"] == ("/items/3/y" if fw == "litestar" else "/api/items/3/y")
    # a request that still carries the prefix (no proxy stripped it) is
    # prefixed again, as uvicorn does it: /api/api/whereami is not a route
    assert client.get(srv.url("/api/whereami")).status_code == 404
    # without --root-path the same app has none
    plain = client.get(servers(fw).url("/whereami")).json()
    assert plain["root_path"] == "" and plain["path"] == plain["raw_path"] == "/whereami"
    assert plain["item_url"] == servers(fw).url("/items/7/x")


def test_fastapi_docs_and_openapi_respect_root_path(servers, client):
    srv = servers("fastapi", "/api")
    docs = client.get(srv.url("/docs"))
    assert docs.status_code == 200
    assert "url: '/api/openapi.json'" in docs.text, docs.text
    spec = client.get(srv.url("/openapi.json"))
    assert spec.status_code == 200
    assert spec.json()["servers"] == [{"url": "/api"}]
    assert "/items/{item_id}/{name}" in spec.json()["paths"]
    plain = servers("fastapi")
    assert "url: '/openapi.json'" in client.get(plain.url("/docs")).text
    assert "servers" not in client.get(plain.url("/openapi.json")).json()


def test_starlette_mount_under_root_path(servers, client):
    """A Mount adds its prefix to root_path, after the server's."""
    w = client.get(servers("starlette").url("/sub/whereami")).json()
    assert (w["root_path"], w["path"]) == ("/sub", "/sub/whereami")
    srv = servers("starlette", "/api")
    w = client.get(srv.url("/sub/whereami")).json()
    assert (w["root_path"], w["path"]) == ("/api/sub", "/api/sub/whereami")
    assert w["url"] == srv.url("/api/sub/whereami")
    assert w["item_url"] == srv.url("/api/items/7/x")


# ---- files --------------------------------------------------------------------------------

@pytest.mark.parametrize("fw", ALL)
def test_file_response(fw, servers, client, data_file):
    srv = servers(fw)
    _, data = data_file
    r = client.get(srv.url("/file"))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/octet-stream"
    assert int(r.headers["content-length"]) == len(data)
    assert r.content == data
    # HEAD: the same length, no body; the next response on the connection is whole
    h = client.head(srv.url("/file"))
    assert h.status_code == 200 and h.content == b""
    assert int(h.headers["content-length"]) == len(data)
    again = client.get(srv.url("/file"))
    assert again.status_code == 200 and again.content == data


@pytest.mark.parametrize("fw", ["fastapi", "starlette"])
def test_file_range(fw, servers, client, data_file):
    srv = servers(fw)
    _, data = data_file
    r = client.get(srv.url("/file"), headers={"Range": "bytes=1000-1999"})
    assert r.status_code == 206
    assert r.headers["content-range"] == "bytes 1000-1999/%d" % len(data)
    assert r.content == data[1000:2000]
    tail = client.get(srv.url("/file"), headers={"Range": "bytes=-100"})
    assert tail.status_code == 206 and tail.content == data[-100:]


# ---- outbound calls -------------------------------------------------------------------------

@pytest.mark.parametrize("fw", ALL)
def test_outbound_httpx_calls_from_a_handler(fw, servers, client, upstream):
    """Three concurrent httpx.AsyncClient GETs on the server's loop: the
    upstream answers only when all three are in flight together."""
    srv = servers(fw)
    tok = token()
    r = client.get(srv.url("/outbound"), params={"base": upstream, "token": tok})
    assert r.status_code == 200, r.text
    assert r.json() == {"statuses": [200, 200, 200],
                        "bodies": [{"token": tok, "i": i} for i in range(3)]}


# ---- forms ----------------------------------------------------------------------------------

def _need_forms(fw):
    if fw in ("fastapi", "starlette") and not has_python_multipart():
        pytest.skip("%s form parsing needs python-multipart, which is not installed" % fw)


@pytest.mark.parametrize("fw", ALL)
def test_urlencoded_form(fw, servers, client):
    _need_forms(fw)
    srv = servers(fw)
    r = client.post(srv.url("/form"), data={"name": "Zoë & co", "tags": ["a", "b c"]})
    assert r.status_code == 200, r.text
    assert r.json() == {"name": "Zoë & co", "tags": ["a", "b c"]}


@pytest.mark.parametrize("size", [10_000, 3 * MiB + 17], ids=["small", "spooled"])
@pytest.mark.parametrize("fw", ALL)
def test_multipart_upload(fw, size, servers, client):
    _need_forms(fw)
    srv = servers(fw)
    blob = os.urandom(size)
    r = client.post(srv.url("/upload"), data={"note": "naïve"},
                    files={"file": ("report.bin", blob, "application/octet-stream")})
    assert r.status_code == 200, r.text[:500]
    assert r.json() == {"note": "naïve", "filename": "report.bin", "size": size,
                        "sha256": hashlib.sha256(blob).hexdigest()}
    assert client.get(srv.url("/items/1/a")).status_code == 200


# ---- Django: sync and async views -----------------------------------------------------------

def test_django_sync_view_in_a_thread_async_view_on_the_loop(servers, client):
    srv = servers("django")
    a = client.get(srv.url("/async-info")).json()
    s = client.get(srv.url("/sync-info")).json()
    assert a["loop_running"] is True
    assert s["loop_running"] is False
    assert a["thread"] != s["thread"]
    # a sync view that reads the body, with a JSON answer
    r = client.post(srv.url("/json"), json={"name": "sync", "values": [2]})
    assert r.status_code == 200 and r.json()["name"] == "SYNC"


# ---- graceful stop ------------------------------------------------------------------------

def test_sigterm_drains_in_flight_request_then_lifespan_shutdown(tmp_path, data_file):
    pytest.importorskip("fastapi")
    marker = tmp_path / "shutdown.txt"
    srv = Server(FRAMEWORKS["fastapi"][1], str(tmp_path),
                 env={"REACTOR_TEST_ASGI_FILE": data_file[0],
                      "REACTOR_TEST_ASGI_SHUTDOWN_FILE": str(marker)})
    try:
        tok = token()
        with contextlib.closing(socket.create_connection(("127.0.0.1", srv.port),
                                                         timeout=T)) as s, \
                httpx.Client(trust_env=False, timeout=T) as c:
            s.sendall(b"GET /sleep/%s?ms=700 HTTP/1.1\r\nHost: x\r\n\r\n" % tok.encode())
            assert wait_status(c, srv, tok, "sleeping") == ["sleeping"]
            srv.proc.send_signal(signal.SIGTERM)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
                if data.endswith(b'{"slept":700}'):
                    break
        assert data.startswith(b"HTTP/1.1 200 "), data
        assert data.endswith(b'{"slept":700}'), data
        assert srv.proc.wait(15) in ((0, -signal.SIGTERM) if CONTROL else (0,)), srv.stderr()
        assert marker.read_text() == "lifespan shutdown ran"
    finally:
        srv.kill()
