"""WSGI (PEP 3333) on reactor: ``python -m reactor module:app`` and ``WSGIServer``.

The adapter turns an ``HttpRequest`` into a PEP 3333 environ, calls the app,
and hands the status, headers and body iterable back to the connection,
which frames them (Content-Length when the app sets it — never more or fewer
bytes than declared — else chunked on HTTP/1.1, close-delimited on 1.0).
The app's iterable ``close()`` is always called, also when the client went
away mid-stream.  ``wsgi.file_wrapper`` bodies over a real file are sent
with ``sendfile(2)`` without the GIL.

With ``handler_threads == 0`` the app runs on its connection's sub-reactor
thread (fastest for fast apps).  With ``handler_threads = M`` app calls run
on M worker threads and responses return to the connection's loop through
``queue_in_loop``, so a slow app does not hold up other connections.
"""
import importlib
import io
import ipaddress
import logging
import os
import queue
import sys
import threading
import time
from urllib.parse import unquote_to_bytes

from reactor._http import DEFER
from reactor.http_response import HttpResponse
from reactor.http_server import HttpServer

log = logging.getLogger("reactor.wsgi")

_HOP_SKIP = frozenset(("CONTENT_TYPE", "CONTENT_LENGTH"))


class WSGIError(Exception):
    """The application broke the WSGI protocol."""


# ---------------------------------------------------------------------------
# wsgi.input

class WSGIInput:
    """``wsgi.input``: the request body, already received in full.

    read(n) / read() / readline(limit) / readlines(hint) / iteration; never
    reads past the body.
    """

    __slots__ = ("_buf",)

    def __init__(self, body):
        self._buf = io.BytesIO(body)

    def read(self, size=-1):
        if size is None:
            size = -1
        return self._buf.read(size)

    def readline(self, size=-1):
        if size is None:
            size = -1
        return self._buf.readline(size)

    def readlines(self, hint=-1):
        return self._buf.readlines(hint)

    def __iter__(self):
        return iter(self._buf.readline, b"")

    def close(self):
        pass


class FileWrapper:
    """``wsgi.file_wrapper``: iterate a file in blocks; real files are sent
    with sendfile(2) by the connection (no GIL, no copies)."""

    def __init__(self, filelike, blksize=65536):
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def sendfile_info(self):
        """``(fd, offset, count)`` when the file can go through sendfile, else None."""
        f = self.filelike
        try:
            fd = f.fileno()
            st = os.fstat(fd)
        except (AttributeError, OSError, io.UnsupportedOperation):
            return None
        import stat
        if not stat.S_ISREG(st.st_mode):
            return None
        try:
            offset = f.tell()
        except (AttributeError, OSError):
            offset = 0
        return fd, offset, max(0, st.st_size - offset)

    def __iter__(self):
        read = self.filelike.read
        while True:
            block = read(self.blksize)
            if not block:
                return
            yield block


# ---------------------------------------------------------------------------
# one request

class _StartResponse:
    __slots__ = ("status", "headers", "sent", "written")

    def __init__(self):
        self.status = None
        self.headers = None
        self.sent = False
        self.written = []

    def __call__(self, status, headers, exc_info=None):
        if exc_info is not None:
            try:
                if self.sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise WSGIError("start_response() called twice without exc_info")
        if not isinstance(status, str) or len(status) < 4 or not status[:3].isdigit() \
                or status[3] != " ":
            raise WSGIError("invalid status %r: must be like '200 OK'" % (status,))
        if not isinstance(headers, list):
            raise WSGIError("response headers must be a list, not %s" % type(headers).__name__)
        for item in headers:
            if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
                    and isinstance(item[1], str)):
                raise WSGIError("each response header must be a (str, str) tuple, got %r"
                                % (item,))
        self.status = status
        self.headers = headers
        return self.write

    def write(self, data):
        if self.status is None:
            raise WSGIError("write() called before start_response()")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("write() needs bytes, not %s" % type(data).__name__)
        self.written.append(bytes(data))


class _Body:
    """The response body handed to the connection: chunks already produced,
    then the rest of the app's iterable; ``close()`` closes the app's
    iterable exactly once."""

    __slots__ = ("first", "it", "result", "closed")

    def __init__(self, first, it, result):
        self.first = first
        self.it = it
        self.result = result
        self.closed = False

    def __iter__(self):
        for c in self.first:
            yield c
        self.first = ()
        if self.it is not None:
            for c in self.it:
                if not isinstance(c, (bytes, bytearray)):
                    raise TypeError("the WSGI app yielded %s, not bytes" % type(c).__name__)
                yield c

    def close(self):
        if self.closed:
            return
        self.closed = True
        close = getattr(self.result, "close", None)
        if close is not None:
            close()


class _SendfileBody:
    __slots__ = ("wrapper", "info", "headers_first")

    def __init__(self, wrapper, info):
        self.wrapper = wrapper
        self.info = info

    def sendfile_info(self):
        return self.info

    def __iter__(self):
        return iter(self.wrapper)

    def close(self):
        close = getattr(self.wrapper, "close", None)
        if close is not None:
            close()


def _close_quietly(result):
    close = getattr(result, "close", None)
    if close is not None:
        try:
            close()
        except Exception:
            log.exception("close() of the WSGI iterable failed")


class WSGIAdapter:
    """Calls a WSGI app for HttpRequests.  Thread safe (no shared mutable state
    besides the active-handler table)."""

    def __init__(self, app, server_name="127.0.0.1", server_port=8080, root_path="",
                 forwarded_allow_ips="127.0.0.1", multithread=True, url_scheme="http"):
        if not callable(app):
            raise TypeError("the WSGI application must be callable, got %r" % (app,))
        self.app = app
        self.root_path = root_path.rstrip("/")
        self.base = {
            "SCRIPT_NAME": self.root_path,
            "SERVER_NAME": server_name,
            "SERVER_PORT": str(server_port),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": url_scheme,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": multithread,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "wsgi.input_terminated": True,
            "wsgi.file_wrapper": FileWrapper,
        }
        self._trust_all, self._trusted = self._parse_trusted(forwarded_allow_ips)
        self.active = {}      # thread ident -> (request, start time, warned)

    @staticmethod
    def _parse_trusted(spec):
        if spec is None:
            return False, frozenset()
        if isinstance(spec, str):
            spec = [s.strip() for s in spec.split(",") if s.strip()]
        if "*" in spec:
            return True, frozenset()
        for s in spec:
            ipaddress.ip_address(s)     # ValueError for a bad entry
        return False, frozenset(spec)

    def environ(self, req):
        env = self.base.copy()
        path = req.path
        if "%" in path:
            path = unquote_to_bytes(path).decode("latin-1")
        root = self.root_path
        if root and (path == root or path.startswith(root + "/")):
            path = path[len(root):]
        env["REQUEST_METHOD"] = req.method
        env["PATH_INFO"] = path
        env["QUERY_STRING"] = req.query
        env["SERVER_PROTOCOL"] = req.version
        peer = req.remote_addr
        if peer:
            env["REMOTE_ADDR"] = peer[0]
            env["REMOTE_PORT"] = str(peer[1])
        else:
            env["REMOTE_ADDR"] = ""
            env["REMOTE_PORT"] = ""
        body = req.body
        env["wsgi.input"] = WSGIInput(body)
        for name, value in req.headers.items():
            if "_" in name:
                continue        # X_Forwarded_For must not pose as X-Forwarded-For
            key = name.upper().replace("-", "_")
            if key not in _HOP_SKIP:
                key = "HTTP_" + key
            old = env.get(key)
            if old is not None:
                value = old + ("; " if key == "HTTP_COOKIE" else ", ") + value
            env[key] = value
        host = env.get("HTTP_HOST")
        if host:
            if host.startswith("["):
                env["SERVER_NAME"] = host[1:host.find("]")] if "]" in host else host
            else:
                env["SERVER_NAME"] = host.rsplit(":", 1)[0] if ":" in host else host
        if "CONTENT_LENGTH" not in env and body:
            env["CONTENT_LENGTH"] = str(len(body))
        if self._trust_all or env["REMOTE_ADDR"] in self._trusted:
            self._apply_forwarded(env)
        return env

    def _apply_forwarded(self, env):
        fwd = env.get("HTTP_X_FORWARDED_FOR")
        if fwd:
            hops = [h.strip() for h in fwd.split(",") if h.strip()]
            client = None
            for h in reversed(hops):
                client = h
                if not self._trust_all and h not in self._trusted:
                    break
            if client:
                env["REMOTE_ADDR"] = client
        proto = env.get("HTTP_X_FORWARDED_PROTO")
        if proto:
            proto = proto.split(",")[0].strip().lower()
            if proto in ("http", "https"):
                env["wsgi.url_scheme"] = proto

    def __call__(self, req):
        """Run the app for ``req``; return an HttpResponse."""
        env = self.environ(req)
        sr = _StartResponse()
        ident = threading.get_ident()
        self.active[ident] = [req, time.monotonic(), False]
        try:
            return self._run(env, sr)
        finally:
            self.active.pop(ident, None)

    def _run(self, env, sr):
        result = self.app(env, sr)
        try:
            first = list(sr.written)
            if isinstance(result, FileWrapper) and sr.status is not None and not first:
                info = result.sendfile_info()
                if info is not None:
                    return self._response(sr, _SendfileBody(result, info))
            if isinstance(result, (list, tuple)):
                chunks = first + [bytes(c) for c in result]
                _close_quietly(result)
                result = None
                if sr.status is None:
                    raise WSGIError("the app returned without calling start_response()")
                return self._response(sr, b"".join(chunks) if len(chunks) != 1 else chunks[0],
                                      whole=True)
            it = iter(result)
            # start_response may be called as late as the first chunk
            while sr.status is None or not first:
                try:
                    c = next(it)
                except StopIteration:
                    it = None
                    break
                if not isinstance(c, (bytes, bytearray)):
                    raise TypeError("the WSGI app yielded %s, not bytes" % type(c).__name__)
                if c:
                    first.append(bytes(c))
                    if sr.status is not None:
                        break
                first.extend(sr.written[len(first):])
            if sr.status is None:
                raise WSGIError("the app returned without calling start_response()")
            if it is None:
                _close_quietly(result)
                return self._response(sr, b"".join(first), whole=True)
            body = _Body(first, it, result)
            result = None
            return self._response(sr, body)
        except BaseException:
            if result is not None:
                _close_quietly(result)
            raise

    @staticmethod
    def _response(sr, body, whole=False):
        status = int(sr.status[:3])
        resp = HttpResponse(body, status, sr.headers)
        if whole and isinstance(body, bytes):
            # a whole body with a mismatching Content-Length: send what the app
            # declared, as a stream, so the connection truncates/closes and logs
            for name, value in resp.headers:
                if name.lower() == b"content-length" and value.strip() != str(len(body)).encode():
                    resp.body = [body]
                    break
        return resp


# ---------------------------------------------------------------------------
# handler threads

class _HandlerPool:
    """M worker threads that run app calls and post the responses back to the
    connection's loop with queue_in_loop."""

    def __init__(self, adapter, n, name="reactor-wsgi"):
        self.adapter = adapter
        self.q = queue.SimpleQueue()
        self.threads = [threading.Thread(target=self._work, name="%s-%d" % (name, i + 1),
                                         daemon=True) for i in range(n)]
        for t in self.threads:
            t.start()

    def submit(self, req):
        self.q.put(req)
        return DEFER

    def _work(self):
        while True:
            req = self.q.get()
            if req is None:
                return
            conn = req.connection
            try:
                resp = self.adapter(req)
            except BaseException as exc:
                resp = exc
            try:
                conn.loop.queue_in_loop(lambda c=conn, r=req, x=resp: c.resume(r, x))
            except RuntimeError:
                if not isinstance(resp, BaseException):
                    _close_quietly(resp.body)

    def stop(self):
        for _ in self.threads:
            self.q.put(None)
        for t in self.threads:
            t.join(5.0)


# ---------------------------------------------------------------------------
# the server

class WSGIServer:
    """Serve a WSGI app: ``WSGIServer(app, host, port, threads=..., handler_threads=0,
    root_path="", forwarded_allow_ips="127.0.0.1", handler_warn_time=10.0, **http_options)``
    with ``start()`` / ``stop()`` / ``serve_forever()`` like HttpServer."""

    def __init__(self, app, host="127.0.0.1", port=8080, threads=None, handler_threads=0,
                 root_path="", forwarded_allow_ips="127.0.0.1", handler_warn_time=10.0,
                 **options):
        if not isinstance(handler_threads, int) or handler_threads < 0:
            raise ValueError("handler_threads must be an int >= 0")
        self.http = HttpServer(None, host, port, threads, **options)
        self.adapter = WSGIAdapter(app, host, self.http.port, root_path, forwarded_allow_ips,
                                   multithread=True)
        self.handler_threads = handler_threads
        self.handler_warn_time = handler_warn_time
        self._pool = None
        if handler_threads:
            self._pool = _HandlerPool(self.adapter, handler_threads)
            self.http.config.handler = self._pool.submit
        else:
            self.http.config.handler = self.adapter
        self._monitor = None
        self._monitor_stop = threading.Event()

    @property
    def port(self):
        return self.http.port

    def _start_monitor(self):
        if not self.handler_warn_time or self.handler_warn_time <= 0:
            return

        def watch():
            interval = min(1.0, self.handler_warn_time / 2)
            while not self._monitor_stop.wait(interval):
                now = time.monotonic()
                for ident, entry in list(self.adapter.active.items()):
                    req, started, warned = entry
                    if not warned and now - started > self.handler_warn_time:
                        entry[2] = True
                        log.warning("handler blocked for %.1fs on %s %s from %s (thread %d)",
                                    now - started, req.method, req.target,
                                    req.remote_addr[0] if req.remote_addr else "-", ident)

        self._monitor = threading.Thread(target=watch, name="reactor-wsgi-monitor", daemon=True)
        self._monitor.start()

    def start(self):
        self._start_monitor()
        self.http.start()
        return self

    def serve_forever(self):
        self._start_monitor()
        try:
            self.http.serve_forever()
        finally:
            self._cleanup()

    def stop(self, timeout=None):
        try:
            self.http.stop(timeout)
        finally:
            self._cleanup()

    def _cleanup(self):
        self._monitor_stop.set()
        if self._monitor is not None:
            self._monitor.join(5.0)
            self._monitor = None
        if self._pool is not None:
            self._pool.stop()
            self._pool = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def serve(app, **options):
    """Serve ``app`` in this thread until SIGINT/SIGTERM."""
    WSGIServer(app, **options).serve_forever()


def load_app(spec, app_dir=None):
    """Import ``module:attr`` (``module:factory()`` calls a factory)."""
    if app_dir:
        sys.path.insert(0, os.path.abspath(app_dir))
    elif "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    if ":" not in spec:
        raise ValueError("application must be given as module:attr, got %r" % spec)
    mod_name, _, attr = spec.partition(":")
    call = attr.endswith("()")
    if call:
        attr = attr[:-2]
    if not mod_name or not attr.isidentifier() and not all(p.isidentifier() for p in attr.split(".")):
        raise ValueError("invalid application spec %r" % spec)
    module = importlib.import_module(mod_name)
    obj = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError("module %r has no attribute %r" % (mod_name, attr)) from None
    if call:
        obj = obj()
    if not callable(obj):
        raise ValueError("%s is not callable" % spec)
    return obj


def main_from_args(args):
    """The CLI path for ``python -m reactor module:app``."""
    from reactor.__main__ import server_kwargs
    try:
        app = load_app(args.app, args.app_dir)
    except (ImportError, ValueError) as exc:
        print("reactor: cannot load %s: %s" % (args.app, exc), file=sys.stderr)
        return 2
    kwargs = server_kwargs(args)
    try:
        server = WSGIServer(app, handler_threads=args.handler_threads, root_path=args.root_path,
                            forwarded_allow_ips=args.forwarded_allow_ips,
                            handler_warn_time=args.handler_warn_time, **kwargs)
    except (ValueError, TypeError, OSError) as exc:
        print("reactor: %s" % exc, file=sys.stderr)
        return 2
    print("reactor: serving %s on http://%s:%d (%d sub-reactor threads, %d handler threads)"
          % (args.app, args.host, server.port, args.threads, args.handler_threads),
          file=sys.stderr, flush=True)
    server.serve_forever()
    return 0
