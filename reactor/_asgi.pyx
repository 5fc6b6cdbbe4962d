"""The compiled half of the ASGI server: scopes and the request cycle.

``ASGICore`` is the ``HttpServer`` handler of an ``ASGIServer``
(``reactor.asgi``).  It runs on the thread of the asyncio loop whose selector
is the server's reactor ``EventLoop`` (``reactor._selector``), inside that
loop's ``select()``, so an app's task is created on its own loop with no
thread hop.  For each parsed request it builds the scope from the parser's
slices of the head, starts ``app(scope, receive, send)`` as an asyncio Task
(eagerly: ``eager_start`` on Python 3.12+, ``reactor._selector.new_task_first_step``
before, so an app that answers at once is done before the handler returns) and answers through the connection:

* a whole response (``http.response.body`` without ``more_body``) becomes
  one ``HttpResponse`` framed straight into the output buffer;
* a streamed one is an iterator the connection pumps (``PENDING`` while the
  app has nothing; ``send()`` waits while more than ``STREAM_HIGH`` bytes are
  queued, so a fast producer cannot outrun a slow client);
* ``http.response.pathsend`` goes out with ``sendfile``.

With I/O threads (``ASGIServer(threads=N)``, ``threaded``) the connections
live on the server's sub-reactor threads instead, which answer static routes
and files in C whatever the asyncio thread is doing: ``core(request)`` runs
there, builds the scope and posts the request to the asyncio thread (one
wakeup per batch); the cycle's answers go back to the connection's loop with
``queue_in_loop``, and the connection's callbacks (the stream's ``next``, a
peer gone) reach asyncio with ``call_soon_threadsafe``.

The body was received in full before the request is dispatched (or spooled
to a file), so the first ``receive()`` returns it at once.  Later
``receive()`` calls wait for ``http.disconnect``: the client closed or
half-closed, or the response is complete.  Requests on one connection are
served in order (the connection reads the next one when the response is
done).
"""
import asyncio
import logging
import os
import sys

from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.string cimport memcmp
from reactor.includes.http_parser cimport rh_request, rh_header, rh_parse_request
from reactor._http_request cimport HttpRequest, MAX_HEADER_CAP
from reactor._http_response cimport HttpResponse

from reactor._http import DEFER, PENDING
from reactor._selector import new_task_first_step as _new_task_first_step
from urllib.parse import unquote

log = logging.getLogger("reactor.asgi")

cdef extern from "<ctype.h>" nogil:
    int tolower(int c)

cdef bint EAGER = sys.version_info >= (3, 12)
cdef object _Task = asyncio.Task
# the name of every request's task: one string, not "Task-<n>" (formatting that
# name cost 0.3 us a request before Python 3.12, where it is made when made)
TASK_NAME = "reactor-asgi-request"
cdef str _TASK_NAME = TASK_NAME

# the ``asgi`` key of every scope (what uvicorn and granian send)
ASGI_VERSION = {"version": "3.0", "spec_version": "2.4"}
cdef dict _ASGI = ASGI_VERSION
cdef dict _EXTENSIONS = {"http.response.pathsend": {}}

# a streamed response: send() waits while more than this is queued unsent
STREAM_HIGH = 256 * 1024

cdef str _HTTP = "http"
cdef str _HTTPS = "https"
cdef str _V11 = "1.1"
cdef str _V10 = "1.0"
cdef str _T_START = "http.response.start"
cdef str _T_BODY = "http.response.body"
cdef str _T_PATHSEND = "http.response.pathsend"
cdef str _T_REQUEST = "http.request"
cdef str _T_DISCONNECT = "http.disconnect"
cdef bytes _EMPTY = b""

cdef enum:
    ST_NEW = 0          # nothing sent yet
    ST_STARTED = 1      # http.response.start received
    ST_STREAMING = 2    # the head is with the connection, body chunks follow
    ST_DONE = 3         # the response is complete (or abandoned)

# spooled request bodies are given to the app in pieces of this size
SPOOL_CHUNK = 64 * 1024


class ASGIProtocolError(RuntimeError):
    """The application broke the ASGI protocol (a wrong message, a message
    out of order)."""


class ClientDisconnected(OSError):
    """``send()`` after the client closed the connection (ASGI HTTP spec
    2.4: the server raises an OSError subclass)."""


cdef inline bytes _lower(const char *p, size_t n):
    cdef bytes b = PyBytes_FromStringAndSize(NULL, n)
    cdef char *q = PyBytes_AS_STRING(b)
    cdef size_t i
    for i in range(n):
        q[i] = <char>tolower(<unsigned char>p[i])
    return b


cdef inline object _trusted_peer(ASGICore core, object peer):
    if core.trust_all:
        return True
    if core.trusted is None or not peer:
        return False
    return peer[0] in core.trusted


cdef class _Ready:
    """What ``send()`` returns when the message was handled at once (almost
    always): awaiting it gives ``None`` at once, with no coroutine, no Future
    and no allocation (one shared instance).  granian's ``send`` is not a
    coroutine either; ASGI asks for an awaitable."""

    def __await__(self):
        return self

    def __iter__(self):
        return self

    def __next__(self):
        raise StopIteration

    def send(self, value):
        raise StopIteration

    def throw(self, typ, val=None, tb=None):
        if val is None:
            raise typ
        raise val

    def close(self):
        pass


cdef _Ready _READY = _Ready()


def _resolve(fut):
    if not fut.done():
        fut.set_result(None)


cdef int _in_io(object conn, object fn) except -1:
    """Run ``fn()`` on ``conn``'s loop (threaded mode); False if it is closed."""
    try:
        conn.loop.queue_in_loop(fn)
    except RuntimeError:
        return 0        # the loop is closed: the connection went with it
    return 1


cdef int _resume_in_io(object conn, HttpRequest req, HttpResponse resp) except -1:
    if not _in_io(conn, lambda: conn.resume(req, resp)):
        body = resp.body
        if hasattr(body, "close"):
            body.close()
    return 0


cdef class _Stream:
    """The body of a streamed response: the connection iterates it (``next``
    gives a queued chunk, ``PENDING`` while the app has none) and closes it
    when the response ends or the connection goes."""
    cdef list chunks
    cdef Py_ssize_t queued      # bytes in chunks
    cdef bint ended
    cdef bint closed
    cdef object failed          # an exception: the app failed mid-stream
    cdef object room            # a Future send() waits on while queued > STREAM_HIGH
    cdef object loop            # threaded: the asyncio loop (room is woken from the I/O thread)

    def __cinit__(self):
        self.chunks = []

    def __iter__(self):
        return self

    def __next__(self):
        cdef bytes chunk
        if self.chunks:
            chunk = self.chunks.pop(0)
            self.queued -= PyBytes_GET_SIZE(chunk)
            if self.room is not None and self.queued <= STREAM_HIGH:
                self._wake()
            return chunk
        if self.failed is not None:
            raise self.failed
        if self.ended:
            raise StopIteration
        self._wake()
        return PENDING

    cdef void _wake(self):
        room = self.room
        if room is not None:
            self.room = None
            if self.loop is not None:
                try:
                    self.loop.call_soon_threadsafe(_resolve, room)
                except RuntimeError:
                    pass        # the loop is closed: nobody waits
            elif not room.done():
                room.set_result(None)

    def close(self):
        self.closed = True
        self.chunks = []
        self.queued = 0
        self._wake()


cdef class _PathBody:
    """``http.response.pathsend``: an open file sent with sendfile."""
    cdef object f
    cdef long long size

    def __init__(self, f, long long size):
        self.f = f
        self.size = size

    def sendfile_info(self):
        return (self.f.fileno(), 0, self.size)

    def __iter__(self):
        return iter(())

    def close(self):
        self.f.close()


cdef class Cycle:
    """receive() and send() of one request.  Loop thread only."""
    cdef ASGICore core
    cdef HttpRequest req
    cdef object conn
    cdef int state
    cdef int status
    cdef object headers
    cdef object resp            # the response made before the handler returned
    cdef bint deferred          # the handler returned DEFER: answer through resume()
    cdef bint body_given
    cdef bint gone              # the client left
    cdef object waiter          # a Future receive() waits on for the disconnect
    cdef _Stream stream
    cdef object spool_left      # bytes of a spooled body still to give, or None
    cdef object task            # the app's Task while it is in core.tasks

    @property
    def state(self):
        return ("new", "started", "streaming", "done")[self.state]

    async def receive(self):
        cdef object f
        cdef bytes data
        if not self.body_given:
            f = self.req.body_file
            if f is None:
                self.body_given = True
                return {"type": _T_REQUEST, "body": self.req.body, "more_body": False}
            # a spooled body: in pieces, so memory stays bounded
            if self.spool_left is None:
                self.spool_left = os.fstat(f.fileno()).st_size - f.tell()
            data = f.read(min(SPOOL_CHUNK, self.spool_left))
            self.spool_left -= len(data)
            if not data or self.spool_left <= 0:
                self.body_given = True
            return {"type": _T_REQUEST, "body": data, "more_body": not self.body_given}
        if not self.gone and self.state != ST_DONE:
            self.waiter = self.core.loop.create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        return {"type": _T_DISCONNECT}

    def send(self, message):
        """ASGI ``send``: the message is handled when called; the awaitable
        returned is ready at once, unless a streamed body must wait for room."""
        cdef object t = message["type"]
        cdef object body
        cdef bint more
        if self.state == ST_NEW:
            if t != _T_START:
                raise ASGIProtocolError(
                    "expected an ASGI 'http.response.start' message, got %r" % (t,))
            self.status = message["status"]
            self.headers = message.get("headers")
            self.state = ST_STARTED
            return _READY
        if self.state == ST_DONE:
            if self.gone:
                raise ClientDisconnected("the client closed the connection")
            raise ASGIProtocolError("ASGI message %r sent after the response completed" % (t,))
        if t == _T_BODY:
            body = message.get("body", _EMPTY)
            more = message.get("more_body", False)
            if type(body) is not bytes:
                if not isinstance(body, (bytes, bytearray, memoryview)):
                    raise TypeError("the body of 'http.response.body' must be bytes, not %s"
                                    % type(body).__name__)
                body = bytes(body)
            if self.state == ST_STARTED:
                if not more:
                    resp = HttpResponse(body, self.status, self.headers)    # may raise
                    self.state = ST_DONE
                    self._answer(resp)
                    return _READY
                stream = _Stream()
                if self.core.threaded:
                    stream.loop = self.core.loop
                resp = HttpResponse(stream, self.status, self.headers)      # may raise
                self.stream = stream
                self.state = ST_STREAMING
                self._answer(resp)
            elif self.gone:
                raise ClientDisconnected("the client closed the connection")
            return self._stream_put(body, more)
        if t == _T_PATHSEND and self.state == ST_STARTED:
            f = open(message["path"], "rb")
            try:
                size = os.fstat(f.fileno()).st_size
            except BaseException:
                f.close()
                raise
            try:
                resp = HttpResponse(_PathBody(f, size), self.status, self.headers)
            except BaseException:
                f.close()
                raise
            self.state = ST_DONE
            self._answer(resp)
            return _READY
        raise ASGIProtocolError("unexpected ASGI message %r while the response is %s"
                                % (t, self.state))

    cdef object _stream_put(self, bytes body, bint more):
        """Queue a chunk; the awaitable is a Future while too much is queued."""
        cdef _Stream s = self.stream
        if s.closed:
            if self.gone:
                raise ClientDisconnected("the client closed the connection")
            self.state = ST_DONE if not more else self.state
            return _READY   # the connection ended the response (a HEAD request)
        if PyBytes_GET_SIZE(body):
            s.chunks.append(body)
            s.queued += PyBytes_GET_SIZE(body)
        if not more:
            s.ended = True
            self.state = ST_DONE
            self._release()
        self._pump()
        if more and s.queued > STREAM_HIGH and not s.closed:
            room = self.core.loop.create_future()
            s.room = room
            # threaded: the I/O thread may have taken the chunks meanwhile
            # (create_future runs Python code), with no room to wake yet
            if s.queued <= STREAM_HIGH or s.closed:
                s.room = None
                return _READY
            return room
        return _READY

    cdef int _pump(self) except -1:
        if self.core.threaded:
            _in_io(self.conn, self.conn.pump)
        else:
            self.conn.pump()
        return 0

    cdef int _answer(self, HttpResponse resp) except -1:
        if self.state == ST_DONE:
            self._release()
        if self.deferred:
            if self.core.threaded:
                _resume_in_io(self.conn, self.req, resp)
            else:
                self.conn.resume(self.req, resp)
        else:
            self.resp = resp
        return 0

    cdef void _disconnect_waiter(self):
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)

    cdef void _release(self):
        # the response is complete: receive() says http.disconnect, and the
        # connection's next request (pipelined) may set its own callback
        self._disconnect_waiter()
        cb = self.conn.peer_gone_callback
        if cb is not None and getattr(cb, "__self__", None) is self:
            self.conn.peer_gone_callback = None

    def _gone(self):
        """The connection's peer_gone_callback: the client closed or
        half-closed.  A streamed response stays open: the app decides (it
        hears http.disconnect); the connection ends it if it is gone."""
        self.gone = True
        self._disconnect_waiter()

    def _gone_io(self):
        """peer_gone_callback in threaded mode (the I/O thread): ``gone`` at
        once, for send() (a producer that awaits nothing but send() may never
        let the loop run a callback), and ``_gone`` on the asyncio thread, which
        wakes ``waiter`` (set there only, so the wakeup comes after it)."""
        self.gone = True
        try:
            self.core.loop.call_soon_threadsafe(self._gone)
        except RuntimeError:
            pass        # the asyncio loop is closed: its tasks are gone

    cdef int _fail(self, str why, object exc) except -1:
        """The app raised or returned early: a 500 if nothing was sent, else
        the response is cut (the connection closes)."""
        if self.gone:
            log.debug("%s after the client left (%s %s): %r", why, self.req.method,
                      self.req.target, exc)
        else:
            log.error("%s (%s %s)", why, self.req.method, self.req.target,
                      exc_info=exc if exc is not None and not isinstance(
                          exc, asyncio.CancelledError) else None)
        if self.state == ST_STREAMING:
            self.state = ST_DONE
            if self.gone:
                # nobody reads it: close without the connection's error log
                self.stream.close()
                self.conn.force_close()
            else:
                self.stream.failed = ASGIProtocolError(why)
                self._pump()
        elif self.state != ST_DONE:
            self.state = ST_DONE
            self._answer(HttpResponse(b"Internal Server Error\n", 500,
                                      content_type="text/plain; charset=utf-8"))
        return 0

    async def run(self, app, scope):
        try:
            await app(scope, self.receive, self.send)
        except BaseException as exc:
            self._fail("Exception in ASGI application", exc)
            if not isinstance(exc, Exception):
                raise
        else:
            if self.state != ST_DONE:
                self._fail("ASGI callable returned without completing the response", None)
        finally:
            self._disconnect_waiter()
            self.core._finished(self)


cdef class ASGICore:
    """The handler of an ASGIServer: ``core(request)`` starts the app's task.

    ``ASGICore(app, loop, server=(host, port), root_path="", scheme="http",
    forwarded_allow_ips=None, state=None, limit=0, threaded=False)``;
    ``limit`` > 0 caps the app tasks in flight (more requests wait, in order,
    their connections paused by the connection's own per-request ordering).
    ``threaded``: ``core(request)`` is called on sub-reactor threads, not on
    the loop's own thread (see the module's docstring)."""
    cdef public object app
    cdef public object loop
    cdef public tuple server
    cdef public str root_path
    cdef bytes root_raw
    cdef public str scheme
    cdef public bint trust_all
    cdef public object trusted
    cdef public dict state
    cdef public int limit
    cdef public int in_flight
    cdef public object waiting     # collections.deque of (cycle, scope) over the limit
    cdef public set tasks          # the running app tasks (cancelled at shutdown)
    cdef public bint threaded
    cdef object inbox              # threaded: (cycle, scope) posted by the I/O threads
    cdef bint inbox_posted         # a _take_inbox call is queued on the loop
    cdef public bint closing       # the server cancelled its tasks: start no more

    def __init__(self, app, loop, server=None, root_path="", scheme="http",
                 forwarded_allow_ips=None, state=None, int limit=0, bint threaded=False):
        import collections
        self.app = app
        self.loop = loop
        self.server = tuple(server) if server is not None else None
        self.root_path = root_path or ""
        self.root_raw = self.root_path.encode("utf-8")
        self.scheme = scheme
        self.trust_all = False
        self.trusted = None
        if forwarded_allow_ips:
            ips = {ip.strip() for ip in str(forwarded_allow_ips).split(",") if ip.strip()}
            if "*" in ips:
                self.trust_all = True
            else:
                self.trusted = frozenset(ips)
        self.state = state
        self.limit = limit
        self.in_flight = 0
        self.waiting = collections.deque()
        self.tasks = set()
        self.threaded = threaded
        self.inbox = collections.deque()
        self.inbox_posted = False

    cpdef dict scope(self, HttpRequest req):
        """The ASGI HTTP scope of ``req``."""
        cdef rh_request r
        cdef rh_header hdrs[MAX_HEADER_CAP]
        cdef const rh_header *h
        cdef size_t i
        cdef list headers = []
        cdef bytes head = req._head
        cdef object client = req.remote_addr
        cdef object scheme = self.scheme
        cdef bytes name, value
        cdef str path
        cdef bytes raw
        cdef bint trusted
        r.headers = hdrs
        r.num_headers = MAX_HEADER_CAP
        if rh_parse_request(PyBytes_AS_STRING(head), PyBytes_GET_SIZE(head), &r, NULL) <= 0:
            r.num_headers = 0
            r.path = NULL
        trusted = _trusted_peer(self, client)
        for i in range(r.num_headers):
            h = &hdrs[i]
            name = _lower(h.name, h.name_len)
            value = PyBytes_FromStringAndSize(h.value, h.value_len)
            headers.append((name, value))
            if trusted:
                if h.name_len == 15 and name == b"x-forwarded-for":
                    # the client as the trusted proxy saw it: the last hop
                    ip = value.decode("latin-1").rpartition(",")[2].strip()
                    if ip:
                        client = (ip, 0)
                elif h.name_len == 17 and name == b"x-forwarded-proto":
                    proto = value.decode("latin-1").rpartition(",")[2].strip().lower()
                    if proto in ("http", "https"):
                        scheme = proto
        if r.path != NULL:
            raw = PyBytes_FromStringAndSize(r.path, r.path_len)
        else:
            raw = req.path.encode("latin-1")
        path = raw.decode("latin-1")
        if "%" in path:
            path = unquote(path)       # UTF-8; an invalid escape gives U+FFFD, as uvicorn
        if self.root_raw:
            path = self.root_path + path
            raw = self.root_raw + raw
        return {
            "type": _HTTP,
            "asgi": _ASGI,
            "http_version": _V10 if req.http10 else _V11,
            "server": self.server,
            "client": client,
            "scheme": scheme,
            "method": req.method,
            "root_path": self.root_path,
            "path": path,
            "raw_path": raw,
            "query_string": (PyBytes_FromStringAndSize(r.query, r.query_len)
                             if r.path != NULL and r.query != NULL
                             else req.query.encode("latin-1")),
            "headers": headers,
            "state": self.state.copy() if self.state is not None else {},
            "extensions": _EXTENSIONS,
        }

    def __call__(self, HttpRequest req):
        cdef Cycle c = Cycle.__new__(Cycle)
        c.core = self
        c.req = req
        c.conn = req.connection
        scope = self.scope(req)
        if self.threaded:
            # an I/O thread: the asyncio thread starts it (one wakeup per batch)
            c.deferred = True
            c.conn.peer_gone_callback = c._gone_io
            self.inbox.append((c, scope))
            if not self.inbox_posted:
                self.inbox_posted = True
                try:
                    self.loop.call_soon_threadsafe(self._take_inbox)
                except BaseException:
                    self.inbox_posted = False
                    self.inbox.remove((c, scope))   # (another I/O thread may have added)
                    c.conn.peer_gone_callback = None
                    raise       # a 500: the asyncio loop is closed
            return DEFER
        if self.limit > 0 and self.in_flight >= self.limit:
            c.deferred = True
            c.conn.peer_gone_callback = c._gone
            self.waiting.append((c, scope))
            return DEFER
        self._start(c, scope)
        if c.resp is not None:
            resp = c.resp
            c.resp = None
            if c.state != ST_DONE:
                # streaming: later sends pump the connection; a disconnect ends it
                c.deferred = True
                c.conn.peer_gone_callback = c._gone
            return resp
        c.deferred = True
        if c.state != ST_DONE:
            c.conn.peer_gone_callback = c._gone
        return DEFER

    def _take_inbox(self):
        """The asyncio thread: start (or queue) what the I/O threads posted."""
        cdef Cycle c
        inbox = self.inbox
        self.inbox_posted = False
        while inbox:
            c, scope = inbox.popleft()
            if c.conn.disconnected:
                continue            # closed meanwhile: nobody to answer
            if self.closing:
                # the server's tasks were cancelled: a request that arrived as the
                # drain ended is refused, not started behind the lifespan shutdown
                _resume_in_io(c.conn, c.req, HttpResponse(
                    b"Service Unavailable\n", 503,
                    content_type="text/plain; charset=utf-8"))
                continue
            if self.limit > 0 and self.in_flight >= self.limit:
                self.waiting.append((c, scope))
                continue
            try:
                self._start(c, scope)
            except Exception as exc:
                # (a MemoryError making the task): the connection's 500, and the
                # rest of the inbox still starts
                _in_io(c.conn, lambda conn=c.conn, req=c.req, err=exc: conn.resume(req, err))

    cdef int _start(self, Cycle c, object scope) except -1:
        cdef object step = None
        cdef object context = None
        coro = c.run(self.app, scope)
        self.in_flight += 1         # first: an eager task may finish inside _Task()
        try:
            if EAGER:
                task = _Task(coro, loop=self.loop, eager_start=True, name=_TASK_NAME)
            else:
                # the same before 3.12: the first step runs now, not an iteration later
                task, step, context = _new_task_first_step(self.loop, coro, _TASK_NAME)
        except BaseException:
            self.in_flight -= 1
            coro.close()
            raise
        if step is not None:
            context.run(step)
        if not task.done():
            # run() takes it out in _finished (no done callback: that would
            # be one more loop iteration's handle per request)
            c.task = task
            self.tasks.add(task)
        return 0

    cdef int _finished(self, Cycle c) except -1:
        cdef Cycle nxt
        self.in_flight -= 1
        if c.task is not None:
            self.tasks.discard(c.task)
            c.task = None
        while self.waiting and (self.limit <= 0 or self.in_flight < self.limit):
            nxt, scope = self.waiting.popleft()
            if nxt.conn.disconnected:
                continue        # closed while it waited: nobody to answer
            self._start(nxt, scope)
        return 0
