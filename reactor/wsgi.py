"""WSGI (PEP 3333) on reactor: ``python -m reactor module:app`` and ``WSGIServer``.

The adapter turns an ``HttpRequest`` into a PEP 3333 environ, calls the app,
and hands the status, headers and body iterable back to the connection,
which frames them (Content-Length when the app sets it — never more or fewer
bytes than declared — else chunked on HTTP/1.1, close-delimited on 1.0).
The app's iterable ``close()`` is always called, also when the client went
away mid-stream.  ``wsgi.file_wrapper`` bodies over a real file are sent
with ``sendfile(2)`` without the GIL.

By default (``handler_threads = DEFAULT_HANDLER_THREADS``) app calls run on
a pool of handler threads, as under gunicorn gthread or waitress, so an app
that blocks (a database call, a sleep) does not hold up other connections;
a generator body is iterated on its handler thread too, and its chunks
reach the connection's loop through a small bounded queue, so a slow
client throttles the generator.  With ``handler_threads == 0`` the app runs
on its connection's sub-reactor thread: the fastest mode, for apps that
never block.

The environ is built from the parser's view of the request head (one
parse); the status line and headers are checked and encoded once by
``start_response`` and sent as the app wrote them, reason phrase included.
Request bodies over ``spool_threshold`` are spooled to a temporary file as
they arrive, and ``wsgi.input`` reads that file.
"""
import collections
import importlib
import io
import ipaddress
import logging
import os
import queue
import sys
import threading
import time

from reactor._http import DEFER, PENDING
from reactor._wsgi import WSGICore, WSGIError, WSGIInput, make_response  # noqa: F401 (re-exported)
from reactor.http_response import HttpResponse
from reactor.http_server import HttpServer

log = logging.getLogger("reactor.wsgi")

# handler threads per worker process unless told otherwise: enough for an app
# that waits on a database or an API now and then; 0 runs the app on the
# sub-reactors (fastest, for apps that never block)
DEFAULT_HANDLER_THREADS = 8

# the largest request body a WSGI app gets (413 above); bodies over the
# spool threshold (1 MiB) wait in a temporary file, not in memory
MAX_BODY_SIZE = 1 << 30

# bytes a handler thread may queue ahead of a slow client before its
# generator waits
STREAM_QUEUE_BYTES = 256 * 1024


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

class _Body:
    """The response body handed to the connection: chunks already produced,
    then the rest of the app's iterable; ``close()`` closes the app's
    iterable exactly once.  It is its own iterator, so a connection that
    closes the iterator it is pumping (client gone) closes the app's too."""

    __slots__ = ("first", "it", "result", "closed", "sr")

    def __init__(self, first, it, result, sr=None):
        self.first = first
        self.it = it
        self.result = result
        self.closed = False
        self.sr = sr            # write() calls made while iterating go out in order
        if sr is not None:
            sr.written = None   # everything written so far is in ``first``

    def __iter__(self):
        return self

    def __next__(self):
        if self.first:
            return self.first.pop(0)
        if self.it is None:
            raise StopIteration
        try:
            c = next(self.it)
        except StopIteration:
            self.it = None
            c = b""
        if not isinstance(c, (bytes, bytearray)):
            raise TypeError("the WSGI app yielded %s, not bytes" % type(c).__name__)
        sr = self.sr
        if sr is not None and sr.written:
            late = sr.written
            sr.written = None
            if c:
                late.append(c)
            self.first = late
            return self.first.pop(0)
        if not c and self.it is None:
            raise StopIteration
        return c

    def close(self):
        if self.closed:
            return
        self.closed = True
        close = getattr(self.result, "close", None)
        if close is not None:
            close()


class _SendfileBody:
    __slots__ = ("wrapper", "info")

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


def _check_root_path(root_path):
    """``root_path`` (SCRIPT_NAME) is '' or starts with '/': else ValueError."""
    if not isinstance(root_path, str):
        raise TypeError("root_path must be a str, got %r" % (root_path,))
    if root_path and not root_path.startswith("/"):
        raise ValueError("root_path must start with '/' (e.g. '/app'), got %r" % (root_path,))


def _close_quietly(result):
    close = getattr(result, "close", None)
    if close is not None:
        try:
            close()
        except Exception:
            log.exception("close() of the WSGI iterable failed")


class WSGIAdapter(WSGICore):
    """Calls a WSGI app for HttpRequests (environ building and the list fast
    path are compiled, in ``_wsgi.pyx``).  Thread safe."""

    def __init__(self, app, server_name="127.0.0.1", server_port=8080, root_path="",
                 forwarded_allow_ips="127.0.0.1", multithread=True, url_scheme="http",
                 track_active=False, multiprocess=False):
        if not callable(app):
            raise TypeError("the WSGI application must be callable, got %r" % (app,))
        _check_root_path(root_path)
        self.app = app
        self.root_path = root_path.rstrip("/")
        self.base = {
            "SCRIPT_NAME": self.root_path,
            "SERVER_NAME": server_name,
            "SERVER_PORT": str(server_port),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": url_scheme,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": bool(multithread),
            "wsgi.multiprocess": bool(multiprocess),
            "wsgi.run_once": False,
            "wsgi.input_terminated": True,
            "wsgi.file_wrapper": FileWrapper,
        }
        self.trust_all, self.trusted = self._parse_trusted(forwarded_allow_ips)
        self.slow_path = self._run_slow
        self.active = {}      # thread ident -> [request, start time, warned]
        self.track_active = track_active

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

    def __call__(self, req):
        """Run the app for ``req``; return an HttpResponse."""
        if not self.track_active:
            return self.call(req)
        ident = threading.get_ident()
        self.active[ident] = [req, time.monotonic(), False]
        try:
            return self.call(req)
        finally:
            self.active.pop(ident, None)

    def _whole(self, sr, body):
        """The answer for a whole bytes ``body``: ``sr`` carrying it (written
        straight from start_response's encoding) unless the access log wants
        the environ or the app declared another length."""
        if not self.keep_environ and sr.declared_length in (-1, len(body)):
            sr.body = body
            return sr
        return make_response(sr, body)

    def _run_slow(self, result, sr):
        # generators, file wrappers, write() users: everything but a plain list
        try:
            first = list(sr.written or ())
            if isinstance(result, FileWrapper) and sr.status is not None and not first:
                info = result.sendfile_info()
                if info is not None:
                    return make_response(sr, _SendfileBody(result, info))
            if isinstance(result, (list, tuple)):
                chunks = first + [bytes(c) for c in result]
                _close_quietly(result)
                result = None
                if sr.status is None:
                    raise WSGIError("the app returned without calling start_response()")
                return self._whole(sr, b"".join(chunks))
            it = iter(result)
            taken = len(first)      # of sr.written, the chunks already in ``first``

            def take_written():
                # write() calls made while the app ran go before what it yields next
                nonlocal taken
                written = sr.written
                if written and len(written) > taken:
                    first.extend(written[taken:])
                    taken = len(written)

            # start_response may be called as late as the first chunk
            while sr.status is None or not first:
                try:
                    c = next(it)
                except StopIteration:
                    it = None
                    take_written()
                    break
                if not isinstance(c, (bytes, bytearray)):
                    raise TypeError("the WSGI app yielded %s, not bytes" % type(c).__name__)
                take_written()
                if c:
                    first.append(bytes(c))
                    if sr.status is not None:
                        break
            if sr.status is None:
                raise WSGIError("the app returned without calling start_response()")
            if it is not None and 0 <= sr.declared_length <= sum(map(len, first)):
                # every declared byte is here (Flask's ClosingIterator over its body):
                # the iterable is done unless it misbehaves, so ask it once more
                # rather than stream; a generator without a length is not asked,
                # so its first chunk goes out before it makes the next
                try:
                    c = next(it)
                except StopIteration:
                    it = None
                    take_written()
                else:
                    if not isinstance(c, (bytes, bytearray)):
                        raise TypeError("the WSGI app yielded %s, not bytes" % type(c).__name__)
                    take_written()
                    if c:
                        first.append(bytes(c))
            if it is None:
                # a whole body after all (Flask's ClosingIterator over a list):
                # the same direct write as a list
                _close_quietly(result)
                result = None
                return self._whole(sr, b"".join(first))
            body = _Body(first, it, result, sr)
            result = None
            sr.sent = True      # headers committed: a later exc_info call re-raises
            return make_response(sr, body)
        except BaseException:
            if result is not None:
                _close_quietly(result)
            raise


# ---------------------------------------------------------------------------
# handler threads

class _ThreadedBody:
    """A response body produced on a handler thread and sent by the
    connection's loop: the handler thread ``put``s chunks (waiting while
    more than ``limit`` bytes are queued, so a slow client throttles the
    app), the loop takes them with ``next()``, which gives ``PENDING`` when
    none is ready; the producer then wakes the loop with ``conn.pump``.
    ``close()`` (the loop: sent, or the client went away) stops the
    producer at its next chunk."""

    __slots__ = ("conn", "lock", "chunks", "queued", "limit", "done", "error", "closed",
                 "waiting")

    def __init__(self, conn, limit=STREAM_QUEUE_BYTES):
        self.conn = conn
        self.lock = threading.Condition(threading.Lock())
        self.chunks = collections.deque()
        self.queued = 0
        self.limit = limit
        self.done = False
        self.error = None
        self.closed = False
        self.waiting = False

    # ---- the loop thread
    def __iter__(self):
        return self

    def __next__(self):
        with self.lock:
            if self.chunks:
                c = self.chunks.popleft()
                self.queued -= len(c)
                self.lock.notify()
                return c
            if self.error is not None:
                exc, self.error = self.error, None
                self.done = True
                raise exc
            if self.done:
                raise StopIteration
            self.waiting = True
            return PENDING

    def close(self):
        with self.lock:
            self.closed = True
            self.chunks.clear()
            self.queued = 0
            self.lock.notify_all()

    # ---- the handler thread
    def _wake(self):
        try:
            self.conn.loop.queue_in_loop(self.conn.pump)
        except Exception:           # the loop is closed (RuntimeError): nobody takes more
            self.close()

    def put(self, chunk):
        """Queue ``chunk``; False once the loop closed the body."""
        with self.lock:
            while self.queued >= self.limit and not self.closed:
                self.lock.wait()
            if self.closed:
                return False
            self.chunks.append(chunk)
            self.queued += len(chunk)
            wake, self.waiting = self.waiting, False
        if wake:
            self._wake()
        return True

    def end(self, error=None):
        with self.lock:
            if error is not None:
                self.error = error
            else:
                self.done = True
            wake, self.waiting = self.waiting, False
        if wake:
            self._wake()

    def produce(self, body):
        """Iterate the app's ``body`` here (a handler thread) until it ends or
        the loop closes this; ``body.close()`` runs here too.  Whatever the
        iteration raises ends the stream (the loop closes the connection)."""
        try:
            for chunk in body:
                if chunk and not self.put(chunk if type(chunk) is bytes else bytes(chunk)):
                    break
        except BaseException as exc:
            # even a BaseException (SystemExit, a cancellation): the loop must
            # not wait for ever, and this thread goes on serving
            if not isinstance(exc, Exception):
                exc = WSGIError("the response iterable raised %r" % (exc,))
            self.end(exc)
        else:
            self.end()
        finally:
            _close_quietly(body)


class _HandlerPool:
    """M worker threads that run app calls and post the responses back to the
    connection's loop with queue_in_loop.  A streamed body stays with its
    thread, which iterates it (``_ThreadedBody``)."""

    def __init__(self, adapter, n, name="reactor-wsgi"):
        self.adapter = adapter
        self.q = queue.SimpleQueue()
        self.streams = set()        # the _ThreadedBody each thread produces now
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._work, name="%s-%d" % (name, i + 1),
                                         daemon=True) for i in range(n)]
        for t in self.threads:
            t.start()

    def submit(self, req):
        self.q.put(req)
        return DEFER

    def _work(self):
        get = self.q.get
        adapter = self.adapter
        while True:
            req = get()
            if req is None:
                return
            conn = req.connection
            stream = None
            try:
                resp = adapter(req)
                # a body to stream is iterated here, not on the loop (unless
                # nothing of it will be sent: HEAD, 1xx, 204, 304)
                if isinstance(resp, HttpResponse) and isinstance(resp.body, _Body) and \
                        not req.is_head and resp.status >= 200 and resp.status not in (204, 304):
                    stream = resp.body
                    resp.body = _ThreadedBody(conn)
            except BaseException as exc:
                resp = exc
            try:
                conn.loop.queue_in_loop(lambda c=conn, r=req, x=resp: c.resume(r, x))
            except RuntimeError:
                if isinstance(resp, HttpResponse):
                    _close_quietly(resp.body)
                if stream is not None:
                    _close_quietly(stream)
                continue
            if stream is not None:
                body = resp.body
                with self.lock:
                    self.streams.add(body)
                try:
                    body.produce(stream)
                except BaseException:
                    log.exception("streaming a response body failed")
                finally:
                    with self.lock:
                        self.streams.discard(body)

    def stop(self):
        """Called once the loops have stopped: a producer still waiting for a
        loop that will never take its chunks is released (its app iterable is
        closed on its thread)."""
        for _ in self.threads:
            self.q.put(None)
        with self.lock:
            streams = list(self.streams)
        for body in streams:
            body.close()
        for t in self.threads:
            t.join(5.0)


# ---------------------------------------------------------------------------
# the server

class WSGIServer:
    """Serve a WSGI app: ``WSGIServer(app, host, port, threads=...,
    handler_threads=DEFAULT_HANDLER_THREADS, root_path="",
    forwarded_allow_ips="127.0.0.1", handler_warn_time=10.0, multiprocess=False,
    **http_options)`` with ``start()`` / ``stop()`` / ``serve_forever()`` like
    HttpServer; ``max_body_size`` defaults to ``MAX_BODY_SIZE`` (1 GiB).
    ``handler_threads=0`` runs the app on the sub-reactors
    (fastest, for apps that never block); ``multiprocess`` is what the
    environ's ``wsgi.multiprocess`` says (the CLI sets it with --workers > 1)."""

    def __init__(self, app, host="127.0.0.1", port=8080, threads=None,
                 handler_threads=DEFAULT_HANDLER_THREADS, root_path="",
                 forwarded_allow_ips="127.0.0.1", handler_warn_time=10.0, multiprocess=False,
                 **options):
        # wsgi.input reads a spooled file, so a large body costs disk, not memory
        options.setdefault("max_body_size", MAX_BODY_SIZE)
        if not isinstance(handler_threads, int) or isinstance(handler_threads, bool) or \
                handler_threads < 0:
            raise ValueError("handler_threads must be an int >= 0, got %r" % (handler_threads,))
        if not callable(app):
            raise TypeError("the WSGI application must be callable, got %r" % (app,))
        _check_root_path(root_path)      # bad arguments fail before the socket is bound
        WSGIAdapter._parse_trusted(forwarded_allow_ips)
        self.http = HttpServer(None, host, port, threads, **options)
        server_name, server_port = host, self.http.port
        if options.get("sockets") is not None:
            server_name, server_port = self.http.tcp.address
            if not server_port:         # a unix socket: there is no TCP name
                server_name, server_port = "localhost", 80
        loops = self.http.tcp.threads or 1      # 0: the single reactor
        # wsgi.multithread: may the app run on two threads at once?
        multithread = handler_threads > 1 or (handler_threads == 0 and loops > 1)
        self.adapter = WSGIAdapter(app, server_name, server_port, root_path, forwarded_allow_ips,
                                   multithread=multithread, track_active=handler_threads > 0,
                                   multiprocess=multiprocess,
                                   url_scheme="https" if self.http.tls is not None else "http")
        # the access log reads REMOTE_ADDR (a trusted proxy's client) and {name}e
        self.adapter.keep_environ = self.http.config.access_log
        self.handler_threads = handler_threads
        self.handler_warn_time = handler_warn_time
        self._pool = None
        config = self.http.config
        config.wsgi = self.adapter          # environs are built as requests are parsed
        if handler_threads:
            self._pool = _HandlerPool(self.adapter, handler_threads)
            config.handler = self._pool.submit
        else:
            config.wsgi_inline = True       # the app on the loop thread, compiled path
        self._monitor = None
        self._monitor_stop = threading.Event()

    @property
    def port(self):
        return self.http.port

    def _start_monitor(self):
        if not self.handler_warn_time or self.handler_warn_time <= 0:
            return
        warned = set()

        def running():
            # handlers on sub-reactor threads (the loops record them) ...
            for state in self.http.loop_states.values():
                req = state.current_request
                if req is not None:
                    yield req, state.current_since, state.loop.name
            # ... and on handler threads
            for ident, entry in list(self.adapter.active.items()):
                yield entry[0], entry[1], "handler thread %d" % ident

        def watch():
            interval = min(1.0, self.handler_warn_time / 2)
            while not self._monitor_stop.wait(interval):
                now = time.monotonic()
                seen = set()
                for req, started, where in list(running()):
                    seen.add(id(req))
                    if id(req) not in warned and now - started > self.handler_warn_time:
                        warned.add(id(req))
                        log.warning("handler blocked for %.1fs on %s %s from %s (%s)",
                                    now - started, req.method, req.target,
                                    req.remote_addr[0] if req.remote_addr else "-", where)
                warned.intersection_update(seen)

        self._monitor = threading.Thread(target=watch, name="reactor-wsgi-monitor", daemon=True)
        self._monitor.start()

    def start(self):
        self._start_monitor()
        self.http.start()
        return self

    def serve_forever(self, on_ready=None):
        self._start_monitor()
        try:
            self.http.serve_forever(on_ready=on_ready)
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

