"""The ASGI apps of tests/test_asgi.py.

``app`` is one ASGI 3 app with a route per behaviour under test (it routes on
``scope["path"]`` less ``scope["root_path"]``, as Starlette does).  Its
lifespan puts ``started``/``shared``/``pid`` in the state and, when
``REACTOR_ASGI_MARKER`` names a file, appends ``startup``/``shutdown`` lines
with a ``time.monotonic()`` stamp (system wide on Linux, so comparable
across processes).  ``EVENTS`` records what in-process handlers saw, for
the test thread to poll.
"""
import asyncio
import ctypes
import hashlib
import json
import os
import threading
import time
from urllib.parse import parse_qs

EVENTS = {}          # token -> [(what, time.monotonic())]


def record(token, what):
    EVENTS.setdefault(token, []).append((what, time.monotonic()))


def marker(line):
    path = os.environ.get("REACTOR_ASGI_MARKER")
    if path:
        with open(path, "a") as f:
            f.write("%s %.6f %d\n" % (line, time.monotonic(), os.getpid()))


def jsonable(obj):
    if isinstance(obj, bytes):
        return obj.decode("latin-1")
    if isinstance(obj, (list, tuple)):
        return [jsonable(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return repr(obj)


async def start(send, status=200, headers=(), ctype=b"application/json"):
    hdrs = [(b"content-type", ctype)] if ctype else []
    await send({"type": "http.response.start", "status": status,
                "headers": hdrs + list(headers)})


async def respond(send, body, status=200, headers=(), ctype=b"application/json"):
    if not isinstance(body, bytes):
        body = json.dumps(body).encode()
    await start(send, status, headers, ctype)
    await send({"type": "http.response.body", "body": body})


async def read_body(receive):
    msgs = []
    while True:
        m = await receive()
        msgs.append(m)
        if m["type"] != "http.request" or not m.get("more_body", False):
            return msgs


async def lifespan(scope, receive, send):
    while True:
        m = await receive()
        if m["type"] == "lifespan.startup":
            scope["state"]["started"] = True
            scope["state"]["shared"] = []
            scope["state"]["pid"] = os.getpid()
            record("lifespan", "startup")
            marker("startup")
            await send({"type": "lifespan.startup.complete"})
        elif m["type"] == "lifespan.shutdown":
            record("lifespan", "shutdown")
            marker("shutdown")
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        return await lifespan(scope, receive, send)
    assert scope["type"] == "http", scope["type"]
    path = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):]
    q = {k: v[0] for k, v in parse_qs(scope["query_string"].decode("latin-1")).items()}
    handler = ROUTES.get("/" + path.split("/")[1]) if path.startswith("/") else None
    if handler is None:
        await receive()
        return await respond(send, b"no route " + path.encode(), 404, ctype=b"text/plain; charset=utf-8")
    return await handler(scope, receive, send, q)


ROUTES = {}


def route(path):
    def deco(fn):
        ROUTES[path] = fn
        return fn
    return deco


@route("/scope")
async def _scope(scope, receive, send, q):
    await receive()
    d = {k: v for k, v in scope.items() if k != "state"}
    d["state_keys"] = sorted(scope["state"])
    d["types"] = {"raw_path": type(scope["raw_path"]).__name__,
                  "query_string": type(scope["query_string"]).__name__,
                  "headers": [[type(n).__name__, type(v).__name__] for n, v in scope["headers"]],
                  "server": type(scope["server"]).__name__ if scope["server"] else None,
                  "client": type(scope["client"]).__name__ if scope["client"] else None}
    await respond(send, jsonable(d))


@route("/state")
async def _state(scope, receive, send, q):
    await receive()
    st = scope["state"]
    seen = jsonable(dict(st))
    st["mutated_by_request"] = True        # a copy: the next request must not see it
    if isinstance(st.get("shared"), list):
        st["shared"].append(1)               # shallow: the list itself is shared
    await respond(send, seen)


@route("/echo")
async def _echo(scope, receive, send, q):
    msgs = await read_body(receive)
    body = b"".join(m.get("body", b"") for m in msgs)
    out = {"types": [m["type"] for m in msgs],
           "sizes": [len(m.get("body", b"")) for m in msgs],
           "more": [m.get("more_body", False) for m in msgs],
           "body_types": [type(m.get("body", b"")).__name__ for m in msgs],
           "len": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    if len(body) <= 4096:
        out["body"] = body.decode("latin-1")
    await respond(send, out)


@route("/whole")
async def _whole(scope, receive, send, q):
    await receive()
    headers = [(b"content-length", b"11")] if q.get("cl") else []
    await respond(send, b"hello world", headers=headers, ctype=b"text/plain; charset=utf-8")


@route("/stream")
async def _stream(scope, receive, send, q):
    await receive()
    n = int(q.get("n", "5"))
    headers = []
    if q.get("cl"):
        headers.append((b"content-length", str(sum(len(b"chunk-%d\n" % i)
                                                   for i in range(n))).encode()))
    await start(send, 200, headers, b"text/plain; charset=utf-8")
    for i in range(n):
        await send({"type": "http.response.body", "body": b"chunk-%d\n" % i, "more_body": True})
        await asyncio.sleep(0.001)
    await send({"type": "http.response.body", "body": b"", "more_body": False})


@route("/big-stream")
async def _big_stream(scope, receive, send, q):
    # 4 MiB in 64 KiB pieces: more than send()'s high-water mark
    await receive()
    await start(send, 200, [], b"application/octet-stream")
    piece = bytes(range(256)) * 256
    for _ in range(64):
        await send({"type": "http.response.body", "body": piece, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


@route("/headers")
async def _headers(scope, receive, send, q):
    await receive()
    await respond(send, b"cookies", ctype=b"text/plain; charset=utf-8", headers=[
        (b"set-cookie", b"a=1; Path=/"),
        (b"set-cookie", b"b=2; HttpOnly"),
        (b"x-custom", b"custom value"),
        (b"X-Mixed-Case", b"Kept"),
        (b"set-cookie", b"c=3"),
    ])


@route("/header-forms")
async def _header_forms(scope, receive, send, q):
    # pairs as lists, and a value with whitespace at its edges (stripped: OWS)
    await receive()
    await respond(send, b"forms", ctype=b"text/plain; charset=utf-8", headers=[
        [b"x-list", b"from-a-list"], (b"x-pad", b" padded\t")])


@route("/status")
async def _status(scope, receive, send, q):
    await receive()
    code = int(q["code"])
    headers = [(b"etag", b'"v1"')] if code == 304 else []
    await start(send, code, headers, None)
    await send({"type": "http.response.body", "body": b""})


@route("/raise-before")
async def _raise_before(scope, receive, send, q):
    await receive()
    raise RuntimeError("boom before the response")


@route("/raise-after-start")
async def _raise_after_start(scope, receive, send, q):
    await receive()
    await start(send, 200, [], b"text/plain; charset=utf-8")
    raise RuntimeError("boom after http.response.start")


@route("/raise-mid-stream")
async def _raise_mid_stream(scope, receive, send, q):
    await receive()
    await start(send, 200, [], b"text/plain; charset=utf-8")
    await send({"type": "http.response.body", "body": b"partial-", "more_body": True})
    await asyncio.sleep(0.01)
    raise RuntimeError("boom mid-stream")


@route("/return-empty")
async def _return_empty(scope, receive, send, q):
    await receive()


@route("/return-after-start")
async def _return_after_start(scope, receive, send, q):
    await receive()
    await start(send, 200, [], b"text/plain; charset=utf-8")


@route("/return-mid-stream")
async def _return_mid_stream(scope, receive, send, q):
    await receive()
    await start(send, 200, [], b"text/plain; charset=utf-8")
    await send({"type": "http.response.body", "body": b"partial-", "more_body": True})


@route("/body-before-start")
async def _body_before_start(scope, receive, send, q):
    await receive()
    await send({"type": "http.response.body", "body": b"no start"})


@route("/bad-type")
async def _bad_type(scope, receive, send, q):
    await receive()
    await start(send, 200, [], b"text/plain; charset=utf-8")
    await send({"type": "http.response.nonsense", "body": b"x"})


@route("/str-body")
async def _str_body(scope, receive, send, q):
    await receive()
    await start(send, 200, [], b"text/plain; charset=utf-8")
    await send({"type": "http.response.body", "body": "a str, not bytes"})


@route("/double-start")
async def _double_start(scope, receive, send, q):
    await receive()
    await start(send, 200, [], b"text/plain; charset=utf-8")
    await start(send, 201, [], b"text/plain; charset=utf-8")
    await send({"type": "http.response.body", "body": b"twice"})


@route("/send-after-complete")
async def _send_after_complete(scope, receive, send, q):
    await receive()
    await respond(send, b"complete", ctype=b"text/plain; charset=utf-8")
    try:
        await send({"type": "http.response.body", "body": b"EXTRA"})
    except Exception as exc:
        record(q["token"], "raised " + type(exc).__name__)
        raise
    record(q["token"], "no error")


@route("/disconnect")
async def _disconnect(scope, receive, send, q):
    token = q["token"]
    m = await receive()
    record(token, "body:" + m["type"])
    m = await receive()                      # waits until the client goes
    record(token, m["type"])
    try:
        await respond(send, b"nobody listens", ctype=b"text/plain; charset=utf-8")
        record(token, "send ok")
    except Exception as exc:                 # allowed by the spec (OSError), recorded
        record(token, "send raised " + type(exc).__name__)


@route("/disconnect-after-response")
async def _disconnect_after_response(scope, receive, send, q):
    token = q["token"]
    await receive()
    await respond(send, b"done", ctype=b"text/plain; charset=utf-8")
    m = await receive()                      # the response is complete
    record(token, m["type"])


@route("/sleep")
async def _sleep(scope, receive, send, q):
    await receive()
    t0 = time.monotonic()
    if "token" in q:
        record(q["token"], "start")
    await asyncio.sleep(float(q.get("ms", "0")) / 1000.0)
    await respond(send, {"id": q.get("id"), "start": t0, "end": time.monotonic(),
                         "pid": os.getpid()})


@route("/spin")
async def _spin(scope, receive, send, q):
    # busy on the loop for ms, yielding at every step: the loop never waits
    await receive()
    end = time.monotonic() + float(q.get("ms", "0")) / 1000.0
    while time.monotonic() < end:
        await asyncio.sleep(0)
    await respond(send, {"id": q.get("id")})


@route("/pid")
async def _pid(scope, receive, send, q):
    await receive()
    await respond(send, {"pid": os.getpid()})


@route("/block")
async def _block(scope, receive, send, q):
    # blocks this worker's only thread (and its event loop)
    await receive()
    time.sleep(float(q.get("ms", "500")) / 1000.0)
    await respond(send, {"pid": os.getpid()})


@route("/slow")
async def _slow(scope, receive, send, q):
    await receive()
    marker("request-start")
    await asyncio.sleep(float(q.get("ms", "1000")) / 1000.0)
    marker("request-done")
    await respond(send, b"slow done", ctype=b"text/plain; charset=utf-8")


@route("/pathsend")
async def _pathsend(scope, receive, send, q):
    await receive()
    await start(send, 200, [], b"application/octet-stream")
    await send({"type": "http.response.pathsend", "path": q["path"]})


@route("/outbound")
async def _outbound(scope, receive, send, q):
    import httpx
    await receive()
    verify = True
    if q.get("ca"):
        import ssl
        verify = ssl.create_default_context(cafile=q["ca"])
    async with httpx.AsyncClient(verify=verify, timeout=5.0) as client:
        r = await client.get(q["url"])
        r2 = await client.get(q["url"])      # the pooled connection again
    await respond(send, {"status": r.status_code, "body": r.text, "status2": r2.status_code,
                         "body2": r2.text})


@route("/hog")
async def _hog(scope, receive, send, q):
    await receive()
    # PyDLL: the call keeps the GIL, like a CPU-bound C extension would
    ctypes.PyDLL(None).usleep(int(q.get("us", "1000000")))
    await respond(send, b"hogged", ctype=b"text/plain; charset=utf-8")


@route("/burn")
async def _burn(scope, receive, send, q):
    await receive()
    # CPU work in Python: the GIL is held but for the interpreter's switch interval
    end = time.monotonic() + int(q.get("us", "1000000")) / 1e6
    n = 0
    while time.monotonic() < end:
        n += 1
    await respond(send, b"hogged", ctype=b"text/plain; charset=utf-8")


@route("/tick")
async def _tick(scope, receive, send, q):
    await receive()
    t0 = time.perf_counter()
    await asyncio.sleep(0.01)
    await respond(send, {"elapsed": time.perf_counter() - t0})


@route("/firehose")
async def _firehose(scope, receive, send, q):
    """Streams 4 KiB chunks, each made by ``us`` µs of work in Python, awaiting
    nothing but send() (an export generated in process), until send() raises or
    10 s have passed."""
    token = q["token"]
    work = int(q.get("us", "0")) / 1e6
    await receive()
    await start(send, 200, [], b"application/octet-stream")
    chunk = b"x" * 4096
    end = time.monotonic() + 10.0
    try:
        while time.monotonic() < end:
            t = time.perf_counter() + work
            while time.perf_counter() < t:
                pass
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    except OSError:
        record(token, "send raised OSError")
        raise
    record(token, "ran to the end")
    await send({"type": "http.response.body", "body": b""})


@route("/sse")
async def _sse(scope, receive, send, q):
    """Streams a chunk every 20 ms until receive() says http.disconnect (the
    pattern of Starlette's StreamingResponse)."""
    token = q["token"]
    await receive()
    gone = asyncio.Event()

    async def listen():
        m = await receive()
        record(token, m["type"])
        gone.set()

    listener = asyncio.ensure_future(listen())
    await start(send, 200, [], b"text/event-stream")
    n = 0
    deadline = time.monotonic() + 5.0
    try:
        while not gone.is_set() and time.monotonic() < deadline:
            await send({"type": "http.response.body", "body": b"data: %d\n\n" % n,
                        "more_body": True})
            n += 1
            await asyncio.sleep(0.02)
        record(token, "loop-ended-gone" if gone.is_set() else "loop-timed-out")
    except OSError:                                # what ASGI 2.4 says send() may raise
        record(token, "send raised OSError")
    except Exception as exc:
        record(token, "send raised other: %r" % (exc,))
    finally:
        listener.cancel()


@route("/wait-disconnect")
async def _wait_disconnect(scope, receive, send, q):
    """Waits up to ms for http.disconnect, then answers what it got."""
    await receive()
    try:
        m = await asyncio.wait_for(receive(), float(q.get("ms", "200")) / 1000.0)
        what = m["type"]
    except asyncio.TimeoutError:
        what = "still connected"
    await respond(send, what.encode(), ctype=b"text/plain; charset=utf-8")


@route("/to-thread")
async def _to_thread(scope, receive, send, q):
    await receive()
    t0 = time.monotonic()

    def work():
        time.sleep(0.05)
        return threading.get_ident()

    tid = await asyncio.to_thread(work)
    ex = await asyncio.get_running_loop().run_in_executor(None, sum, [1, 2, 3])
    await respond(send, {"elapsed": time.monotonic() - t0, "thread": tid, "sum": ex,
                         "loop_thread": threading.get_ident(),
                         "loop": type(asyncio.get_running_loop()).__name__})


@route("/no-headers")
async def _no_headers(scope, receive, send, q):
    await receive()
    await send({"type": "http.response.start", "status": int(q.get("code", "200"))})
    await send({"type": "http.response.body", "body": b"bare"})


@route("/bad-header")
async def _bad_header(scope, receive, send, q):
    """Response headers no server may send: CR/LF in a value (response
    splitting) or a name that is not a token."""
    await receive()
    bad = {"crlf": (b"x-evil", b"a\r\nSet-Cookie: injected=1"),
           "name": (b"x bad:", b"v")}[q["kind"]]
    await start(send, 200, [bad], b"text/plain; charset=utf-8")
    if q.get("stream"):
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
    await send({"type": "http.response.body", "body": b"body"})


# ---- other apps ------------------------------------------------------------------------

async def no_lifespan(scope, receive, send):
    """An app that knows only HTTP: it raises on a lifespan scope."""
    if scope["type"] != "http":
        raise RuntimeError("unsupported scope type %r" % scope["type"])
    await receive()
    await respond(send, {"ok": True, "state": jsonable(scope.get("state"))})


async def startup_failed(scope, receive, send):
    """Refuses to start: lifespan.startup.failed with a message."""
    if scope["type"] == "lifespan":
        m = await receive()
        assert m["type"] == "lifespan.startup"
        await send({"type": "lifespan.startup.failed", "message": "database unreachable"})
        return
    await respond(send, b"should never be served", ctype=b"text/plain; charset=utf-8")


class ASGI2App:
    """An ASGI 2 (double callable) app: ``ASGI2App(scope)``, then
    ``await instance(receive, send)``."""

    def __init__(self, scope):
        self.scope = scope

    async def __call__(self, receive, send):
        if self.scope["type"] == "lifespan":
            while True:
                m = await receive()
                if m["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        msgs = await read_body(receive)
        body = b"".join(m.get("body", b"") for m in msgs)
        await respond(send, {"asgi2": True, "path": self.scope["path"],
                             "method": self.scope["method"], "body": body.decode("latin-1")})


def wsgi_app(environ, start_response):
    """A WSGI app: --interface auto must keep serving it as WSGI."""
    body = ("wsgi %s %s" % (environ["REQUEST_METHOD"], environ["wsgi.version"])).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
