"""The HTTP/1.1 connection: requests in, responses out, on one sub-reactor.

``HttpConnection`` is a ``TcpConnection`` whose ``_on_message`` hook runs the
request state machine::

    HEAD ──(head complete, no body)──────────────► handler ─► HEAD (keep-alive)
      │  ──(Content-Length / chunked body)─► BODY ─► handler ─┘
      │  ──(registered static route)───────► answered in C, GIL released
      └──(malformed / over a limit)──► error response, CLOSING (lingering close)

Requests are ``HttpRequest`` objects (``_http_request``); the handler,
limits and static routes come from the server's ``HttpConfig``
(``_http_config``).  Every complete request in the input buffer is handled
in order (pipelining); responses are appended to the output buffer and written with
one ``send`` per batch.  Above the output high-water mark reading pauses
until the peer drains it.  Header/body/keep-alive timeouts are deadlines
checked by one sweeper timer per loop (``LoopState``), so re-arming a
timeout per request is one float store (and a compare: the loop waits for
the first deadline, ``LoopState.earliest``, without the GIL).

Access log (``HttpConfig.access_log``): a request handled with the GIL is
logged at once (``reactor.access_log.AccessLog``).  A static route answered
in ``fast_event`` stays GIL-free: it writes a fixed-size ``AccessRecord``
into its loop's ring (C memory, single producer: the loop; single
consumer), which one ``AccessFlusher`` thread per server renders with the
GIL at most ``interval`` later, or at once when a ring is half full.  A
full ring drops records, counts them and the count is logged.  Before a
GIL-side line is logged the loop drains its own ring, so the lines of one
loop stay in order.
"""
import logging
import signal
import tempfile
import threading

from reactor.event_loop_thread import PROCESS_SIGNALS as _PROCESS_SIGNALS

from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.stdint cimport uint64_t
from libc.math cimport INFINITY

from libc.string cimport memcmp, memcpy, strlen
from libc.stdlib cimport malloc, free
from libc.stdio cimport snprintf
from posix.time cimport clock_gettime, timespec, CLOCK_REALTIME
from cpython.unicode cimport PyUnicode_DecodeLatin1
cdef extern from "<ctype.h>" nogil:
    int tolower(int c)
cdef extern from "<sys/ioctl.h>" nogil:
    int ioctl(int fd, unsigned long request, ...)
cdef extern from "<linux/sockios.h>" nogil:
    const unsigned long SIOCOUTQ
from reactor.includes.http_parser cimport *
from reactor.includes.posix_extra cimport (
    shutdown as c_shutdown, SHUT_WR, errno, EAGAIN, EINTR, recv as c_recv, MSG_PEEK,
    MSG_DONTWAIT, write as c_write)
from posix.types cimport off_t
from reactor._buffer cimport Buffer
from reactor._channel cimport FAST_SLOW, FAST_DONE, FAST_PROCESS
from reactor._event_loop cimport EventLoop, monotonic
from reactor._sync cimport Mutex, Cond
from cpython.ref cimport PyObject
from reactor._tcp_connection cimport (
    TcpConnection, S_CONNECTED, S_DISCONNECTING, S_DISCONNECTED)
from reactor._http_response cimport HttpResponse, validate_header, header_ok, check_reason
from reactor._wsgi cimport StartResponse, WSGICore, WF_DATE, WF_SERVER, WF_CLOSE
from reactor._http_response import REASONS
from reactor._http_request cimport HttpRequest, make_request, MAX_HEADER_CAP
from reactor._http_config cimport (
    HttpConfig, StaticRoute, append_static, append_answer, http_date_c, status_line, LOG_HDRS)
from reactor.includes.static_files cimport (
    rh_fcache, rh_fentry, rh_freply, rh_fcache_new, rh_fcache_free, rh_fentry_unref,
    rh_files_serve, rh_sendfile_all)

from reactor.includes.config cimport REACTOR_DEBUG
from reactor._tls cimport TlsContext, session_info, wsgi_environ
cdef extern from "<errno.h>":
    enum:
        EINPROGRESS

log = logging.getLogger("reactor.http")

cdef enum:
    H_HEAD = 0          # waiting for / parsing a request head
    H_BODY_LENGTH = 1   # collecting a Content-Length body
    H_BODY_CHUNKED = 2  # decoding a chunked body
    H_STREAM = 3        # pumping a streamed response body
    H_CLOSING = 4       # response sent with Connection: close; lingering until EOF
    H_WAIT = 5          # a handler runs elsewhere (handler threads)
    H_FILE = 6          # sending a static file (sendfile), resumed on writability

# each loop's cache of static files (HttpConfig.files_cache_entries of them):
# open fds and stat results (revalidated on every request), and the bytes of
# files up to FILE_SMALL_MAX within FILE_CACHE_BYTES (those keep no fd)
cdef enum:
    FILE_CACHE_BYTES = 8 << 20
    FILE_SMALL_MAX = 16 << 10

cdef double LINGER_TIME = 2.0
# output held for a batch of pipelined responses (LoopState.flush_held) stays under this
cdef size_t HOLD_MAX = 64 * 1024

cdef bytes CRLF = b"\r\n"
cdef bytes CONTINUE_100 = b"HTTP/1.1 100 Continue\r\n\r\n"
cdef bytes CONN_CLOSE = b"Connection: close\r\n"
# what goes out when a response cannot be framed for lack of memory
cdef bytes OOM_500 = (b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
                      b"Connection: close\r\n\r\n")

cdef object _TEXT_UTF8 = b"text/plain; charset=utf-8"

cdef enum:
    F_DATE = 1
    F_SERVER = 2
    F_CTYPE = 4
    F_CONN_CLOSE = 8


cdef inline bint _name_is(bytes name, const char *lower, Py_ssize_t n):
    cdef const char *p = PyBytes_AS_STRING(name)
    cdef Py_ssize_t i
    if PyBytes_GET_SIZE(name) != n:
        return False
    for i in range(n):
        if tolower(p[i]) != lower[i]:
            return False
    return True


cdef int _scan_headers(list headers, long long *declared) except -1:
    """Flags for the headers a handler set; its Content-Length in *declared.
    Raises ValueError for a name that is not a token or a value with CR, LF
    or another CTL (no response splitting, whatever the handler did)."""
    cdef int flags = 0
    cdef bytes name, value
    for item in headers:
        if type(item) is not tuple or len(<tuple>item) != 2 or \
                type((<tuple>item)[0]) is not bytes or type((<tuple>item)[1]) is not bytes:
            raise TypeError("response header %r must be a (bytes, bytes) pair; use "
                            "HttpResponse.add_header() to set headers" % (item,))
        name, value = <tuple>item
        if not header_ok(name, value):
            raise ValueError("invalid response header %r: %r" % (name, value))
        if _name_is(name, b"content-length", 14):
            try:
                declared[0] = int(value)
            except ValueError:
                declared[0] = -2
            if declared[0] < 0 or not value.strip().isdigit():
                raise ValueError("invalid Content-Length %r set by the handler" % value)
        elif _name_is(name, b"date", 4):
            flags |= F_DATE
        elif _name_is(name, b"server", 6):
            flags |= F_SERVER
        elif _name_is(name, b"content-type", 12):
            flags |= F_CTYPE
        elif _name_is(name, b"connection", 10):
            if b"close" in value.lower():
                flags |= F_CONN_CLOSE
    return flags

cdef inline void _append_length(Buffer out, long long n) noexcept nogil:
    """``Content-Length: n`` and its CRLF (n >= 0: at most 19 digits), without
    snprintf (once per response: its format parsing showed in profiles)."""
    cdef char line[48]
    cdef char digits[24]
    cdef int nd = 0, k = 16
    cdef unsigned long long v
    if n < 0:
        out.oom = True      # cannot happen; if it did, the response is rolled back
        return
    v = <unsigned long long>n
    memcpy(line, b"Content-Length: ", 16)
    while True:
        digits[nd] = <char>(48 + v % 10)
        nd += 1
        v //= 10
        if v == 0:
            break
    while nd > 0:
        nd -= 1
        line[k] = digits[nd]
        k += 1
    line[k] = 13
    line[k + 1] = 10
    out.append_nogil(line, k + 2)


cdef bytes _reason_line(int status, object reason):
    """The status line with the handler's own reason phrase."""
    check_reason(reason)
    return b"HTTP/1.1 %d %s\r\n" % (status, (<str>reason).encode("latin-1"))


cdef str _peer_host(object peer):
    """The client address for the access log: the host of (host, port, ...)."""
    if type(peer) is tuple and peer:
        return str((<tuple>peer)[0])
    return str(peer) if peer else "-"


cdef inline double _wall_now() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_REALTIME, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


cdef object _line_info(const rh_request *req):
    """(method, target, version) of a request whose line was parsed, else None.
    The caller set ``version_minor`` to -1 before parsing: the parser sets it
    only once method and target are read."""
    if req.version_minor < 0 or req.method == NULL or req.target == NULL:
        return None
    return (PyUnicode_DecodeLatin1(req.method, req.method_len, NULL),
            PyUnicode_DecodeLatin1(req.target, req.target_len, NULL),
            "HTTP/1.1" if req.version_minor == 1 else "HTTP/1.0")


# A handler returns DEFER when it will answer later through
# ``HttpConnection.resume(request, result)`` (called in the connection's loop).
DEFER = object()

# A response body iterator yields PENDING when its next chunk is not ready
# yet (a handler thread produces it); whoever produces it then calls the
# connection's ``pump()`` in its loop.
PENDING = object()


cdef extern from *:
    """
    #define RH_LOAD_ACQ(p) __atomic_load_n(&(p), __ATOMIC_ACQUIRE)
    #define RH_LOAD_RLX(p) __atomic_load_n(&(p), __ATOMIC_RELAXED)
    #define RH_STORE_REL(p, v) __atomic_store_n(&(p), (v), __ATOMIC_RELEASE)
    #define RH_STORE_RLX(p, v) __atomic_store_n(&(p), (v), __ATOMIC_RELAXED)
    """
    unsigned long long load_acq "RH_LOAD_ACQ"(unsigned long long p) nogil
    unsigned long long load_rlx "RH_LOAD_RLX"(unsigned long long p) nogil
    void store_rel "RH_STORE_REL"(unsigned long long p, unsigned long long v) nogil
    void store_rlx "RH_STORE_RLX"(unsigned long long p, unsigned long long v) nogil


cdef class AccessFlusher:
    """The one thread that renders the static-route access records of every
    loop of a server.  It sleeps without the GIL on a condition variable and
    wakes every ``interval`` seconds, or when a loop's ring is half full
    (``kick_nogil``), or on ``stop()``; it takes the GIL only when some ring
    holds records (or a dropped count) to format and emit.

    One thread rather than a timer on each loop: a loop timer needs the GIL,
    so a handler holding the GIL on another loop would stall a loop's
    GIL-free static answers each time its flush came due; here a loop never
    waits for the log (the ring is single-producer single-consumer).
    Thread safe."""

    def __cinit__(self):
        self.mutex = Mutex()
        self.cond = Cond()
        self.states = []
        self.arr = NULL
        self.n = 0

    def __init__(self, double interval=0.1):
        if not interval > 0:
            raise ValueError("interval must be > 0")
        self.interval = interval
        self.thread = None

    def __dealloc__(self):
        free(self.arr)

    def add(self, LoopState state not None):
        """Drain ``state``'s ring from now on.  Thread safe."""
        cdef PyObject **arr
        if state in self.states:
            return
        arr = <PyObject **>malloc((self.n + 1) * sizeof(PyObject *))
        if arr == NULL:
            raise MemoryError()
        with nogil:
            self.mutex.acquire_nogil()
        try:
            if self.n:
                memcpy(arr, self.arr, self.n * sizeof(PyObject *))
            arr[self.n] = <PyObject *>state      # borrowed: self.states owns it
            free(self.arr)
            self.arr = arr
            self.states.append(state)
            self.n += 1
        finally:
            self.mutex.release_nogil()

    def clear(self):
        """Forget every loop (after a stop, before a restart).  Thread safe."""
        with nogil:
            self.mutex.acquire_nogil()
        self.n = 0
        self.states = []
        self.mutex.release_nogil()

    def start(self):
        """Start the thread (once; again after ``stop()``)."""
        if self.thread is not None and self.thread.is_alive():
            return
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="reactor-access-log",
                                       daemon=True)
        self.thread.start()

    def stop(self, timeout=5.0):
        """Render what is left and end the thread; then drain once more from
        here (records a loop queued after the thread's last look)."""
        with nogil:
            self.mutex.acquire_nogil()
            self.stopping = True
            self.cond.signal_nogil()
            self.mutex.release_nogil()
        if self.thread is not None:
            self.thread.join(timeout)
            self.thread = None
        self.drain()

    def drain(self):
        """Render every queued record of every loop now.  Thread safe."""
        for st in list(self.states):
            (<LoopState>st)._drain()

    cdef void kick_nogil(self) noexcept nogil:
        self.mutex.acquire_nogil()
        self.kicked = True
        self.cond.signal_nogil()
        self.mutex.release_nogil()

    cdef bint _pending_nogil(self) noexcept nogil:
        # called with the mutex held; arr holds references owned by states
        cdef int i
        for i in range(self.n):
            if (<LoopState>self.arr[i]).pending_nogil():
                return True
        return False

    def _run(self):
        cdef bint stop
        cdef long long ns = <long long>(self.interval * 1e9)
        signal.pthread_sigmask(signal.SIG_BLOCK, _PROCESS_SIGNALS)   # as loop threads do
        while True:
            with nogil:
                self.mutex.acquire_nogil()
                while not self.stopping and not self.kicked and not self._pending_nogil():
                    self.cond.wait_nogil(self.mutex, ns)
                    if self.stopping or self.kicked:
                        break
                self.kicked = False
                stop = self.stopping
                self.mutex.release_nogil()
            try:
                self.drain()
            except Exception:
                log.exception("the access log flusher failed")
            if stop:
                return
            if not self.stopping:
                # let the interval pass before the next look, unless kicked:
                # records wait at most one interval, and a busy server costs
                # at most one GIL acquisition per interval (or per half ring)
                with nogil:
                    self.mutex.acquire_nogil()
                    if not self.stopping and not self.kicked:
                        self.cond.wait_nogil(self.mutex, ns)
                    self.mutex.release_nogil()


cdef int _send_held(HttpConnection c) except -1:
    """Send what ``c`` held back (``LoopState.flush_held``, ``flush_answered``)."""
    c.held = False
    try:
        c._flush()
        c._unpause_if_drained()
    except Exception:
        # as the loop does for an event: log, and the other connections go on
        # (raised out of the asyncio selector's select(), it would end the loop)
        log.exception("unhandled error sending the held output of %r", c)
    return 0


cdef class LoopState:
    """Per-loop bookkeeping: live connections, counters, the timeout sweeper,
    the access-log ring.  Loop thread only (the ring's reader excepted)."""

    def __init__(self, loop):
        self.loop = loop
        self.connections = set()
        self.requests = 0
        self.accepted = 0
        self.static_requests = 0
        self.sweeper = None
        self.earliest = INFINITY    # no connection yet: nothing to sweep
        self.flusher = None
        self.hold_output = False
        self.held = []

    def flush_held(self, bint everything=False):
        """Send the output ``HttpConnection`` held back (``hold_output``):
        every connection's that got no new response since the last call, or
        with ``everything``, all of it.  The asyncio selector of an ASGI
        server calls it before each poll, ``everything`` when the poll may
        wait: so a response waits at most one loop iteration, and pipelined
        responses made one iteration apart (the tasks of an app that awaited)
        go out in one send.  Loop thread only."""
        cdef list held = self.held
        cdef HttpConnection c
        cdef unsigned long long gen = self.gen
        self.gen = gen + 1
        if not held:
            return
        self.held = []      # what a flush below may hold again goes to a fresh list
        for c in held:
            if not everything and c.hold_gen == gen and c.hstate == H_WAIT and \
                    c._conn_state == S_CONNECTED:
                self.held.append(c)     # its next response is being made: one more iteration
                continue
            _send_held(c)

    def flush_answered(self):
        """Send the held output of every connection that waits for no
        response (``flush_held`` keeps the others, and this call leaves its
        count of iterations alone).  The asyncio selector of an ASGI server
        calls it when a poll's events are dispatched: the responses made
        there go out before asyncio runs its callbacks.  Loop thread only."""
        cdef list held = self.held
        cdef HttpConnection c
        if not held:
            return
        self.held = []
        for c in held:
            if c.hstate == H_WAIT and c._conn_state == S_CONNECTED:
                self.held.append(c)     # a task is making its next response
                continue
            _send_held(c)

    def __dealloc__(self):
        free(self.ring)
        self.ring = NULL
        rh_fcache_free(self.fcache)     # entries still being sent live on (refcounted)
        self.fcache = NULL

    def close_files(self):
        """Close this loop's cached static files (its loop has stopped);
        a file still being sent stays open until its connection lets go."""
        if self.loop is not None and self.loop.running:
            raise RuntimeError("close_files() while %s runs" % self.loop.name)
        rh_fcache_free(self.fcache)
        self.fcache = NULL

    cdef rh_fcache *file_cache(self, size_t entries) noexcept nogil:
        """This loop's static-file cache of at most ``entries`` files (NULL if
        out of memory); loop thread only."""
        if self.fcache == NULL:
            self.fcache = rh_fcache_new(entries, FILE_CACHE_BYTES, FILE_SMALL_MAX)
        return self.fcache

    def enable_access_log(self, access, unsigned int ring_size, AccessFlusher flusher=None):
        """Give this loop a ring of ``ring_size`` records for the static
        routes it answers without the GIL; ``access`` (an AccessLog) renders
        them; ``flusher`` drains it.  Before the loop serves."""
        cdef AccessRecord *ring
        if ring_size == 0:
            raise ValueError("the access log ring needs at least one record")
        if self.ring != NULL:
            raise RuntimeError("the access log ring is already set up")
        ring = <AccessRecord *>malloc(ring_size * sizeof(AccessRecord))
        if ring == NULL:
            raise MemoryError()
        self.rlock = threading.Lock()
        self.access = access
        self.flusher = flusher
        self.ring_cap = ring_size
        self.ring_flush_at = ring_size // 2 if ring_size > 1 else 1
        self.ring = ring

    cdef bint pending_nogil(self) noexcept nogil:
        """Records or a dropped count to render (any thread)."""
        return self.ring != NULL and (
            load_acq(self.ring_head) != load_rlx(self.ring_tail) or
            load_rlx(self.ring_dropped) != load_rlx(self.dropped_reported))

    def flush_access(self):
        """Render this loop's queued records now (any thread)."""
        self._drain()

    cdef int _drain(self) except -1:
        """The ring's consumer side: copy each record out, free its slot,
        then render it (the loop may refill the slot meanwhile).  One
        consumer at a time (``rlock``; waiting for it releases the GIL)."""
        cdef AccessRecord rec
        cdef unsigned long long head, tail, dropped
        cdef int i, pos
        cdef Py_ssize_t n
        cdef object access = self.access
        cdef list hv
        if self.ring == NULL:
            return 0
        # always under the lock, even to see an empty ring: the other consumer
        # may have taken records and be rendering them still, and the loop's
        # own next line must come after those
        self.rlock.acquire()
        try:
            if not self.pending_nogil():
                return 0
            tail = self.ring_tail
            head = load_acq(self.ring_head)
            n = len(access.captured)
            while tail != head:
                memcpy(&rec, &self.ring[tail % self.ring_cap], sizeof(AccessRecord))
                tail += 1
                store_rel(self.ring_tail, tail)
                pos = rec.method_len + rec.target_len
                hvals = None
                if n:
                    hv = []
                    for i in range(min(n, LOG_HDRS)):
                        if rec.hdr_len[i] == 0xffff:
                            hv.append(None)
                        else:
                            hv.append(PyUnicode_DecodeLatin1(rec.text + pos, rec.hdr_len[i], NULL))
                            pos += rec.hdr_len[i]
                    hvals = tuple(hv)
                try:
                    access.log_static(
                        PyUnicode_DecodeLatin1(rec.peer, strlen(rec.peer), NULL),
                        PyUnicode_DecodeLatin1(rec.text, rec.method_len, NULL),
                        PyUnicode_DecodeLatin1(rec.text + rec.method_len, rec.target_len, NULL),
                        rec.version_minor, rec.status, rec.sent, rec.duration, rec.wall, hvals,
                        rec.truncated)
                except Exception:
                    log.exception("the access log failed on a static-route record")
                if tail == head:
                    head = load_acq(self.ring_head)
            dropped = load_rlx(self.ring_dropped)
            if dropped != self.dropped_reported:
                n = dropped - self.dropped_reported
                store_rlx(self.dropped_reported, dropped)
                try:
                    access.log_dropped(n, self.ring_cap)
                except Exception:
                    log.exception("the access log failed")
        finally:
            self.rlock.release()
        return 0

    def start_sweeper(self, double interval):
        """Check the connections' deadlines every ``interval`` seconds, but
        only once one may be due: the loop waits for ``earliest`` without the
        GIL (so an app holding the GIL delays no static answer)."""
        if self.sweeper is None:
            self.sweeper = self.loop.run_every(interval, self.sweep)
            (<EventLoop>self.loop).gate_timer(self.sweeper, &self.earliest, self)

    def sweep(self):
        """Close connections whose deadline passed; ``earliest`` becomes
        the first deadline left (each one set later lowers it)."""
        cdef double now = monotonic()
        cdef HttpConnection c
        cdef bint done = False
        self.earliest = INFINITY
        try:
            for conn in list(self.connections):
                c = <HttpConnection>conn
                if c.deadline > 0 and now >= c.deadline:
                    c._on_timeout()
                if c.deadline > 0 and c.deadline < self.earliest:
                    self.earliest = c.deadline
            done = True
        finally:
            if not done:
                self.earliest = 0.0     # (an error) the next sweep looks at them all again

    def close_idle(self, bint fresh_too=True):
        """Graceful stop: close the connections with nothing in progress.

        Left open, to be answered with ``Connection: close``: a connection
        whose next request already waits unread in its socket (closing it
        would reset it), and, unless ``fresh_too``, one that has not sent its
        first request yet (its client connected a moment ago to be served).
        """
        cdef HttpConnection c
        cdef char probe
        cdef ssize_t n
        for conn in list(self.connections):
            c = <HttpConnection>conn
            if c.hstate != H_HEAD or c.input_buffer.readable() != 0 or \
                    c.output_buffer.readable() != 0 or c.fd < 0:
                continue
            if c.requests == 0 and not fresh_too:
                continue
            if c.tls_pending():
                continue        # part of a request is inside OpenSSL: the loop reads it next
            with nogil:
                n = c_recv(c.fd, &probe, 1, MSG_PEEK | MSG_DONTWAIT)
            if n > 0:
                continue        # a request is on its way in: the loop reads it next
            c.force_close()

    def close_all(self):
        for conn in list(self.connections):
            conn.force_close()
        self._drain()

    def stats(self):
        d = {"loop": self.loop.name, "connections": len(self.connections),
             "accepted": self.accepted, "requests": self.requests,
             "static_requests": self.static_requests}
        if self.ring != NULL:
            d["access_log_dropped"] = load_rlx(self.ring_dropped)
        if self.fcache != NULL:
            d["file_cache"] = {"entries": self.fcache.count, "bytes": self.fcache.data_bytes,
                               "hits": self.fcache.hits, "misses": self.fcache.misses}
        return d


cdef inline void _arm_deadline(HttpConnection c, double when) noexcept nogil:
    """Set ``c``'s deadline; its loop's sweeper wakes up for it (``earliest``)."""
    c.deadline = when
    if when < c.lstate.earliest:
        c.lstate.earliest = when


# ---------------------------------------------------------------------------
# the connection

cdef class HttpConnection(TcpConnection):
    """An HTTP/1.1 connection (see the module docstring).  Loop thread only,
    except the thread-safe methods inherited from TcpConnection."""

    def __init__(self, EventLoop loop not None, int fd, peer_address, HttpConfig config not None,
                 LoopState state not None):
        TcpConnection.__init__(self, loop, fd, peer_address)
        self.cfg = config
        self.lstate = state
        self.hstate = H_HEAD
        self.sf_fd = -1
        self.spool_fd = -1
        # (the acceptor's thread, maybe: the loop's sweeper learns of it in
        # connect_established)
        self.deadline = monotonic() + config.header_timeout
        if config.tls is not None:
            # the client has handshake_timeout for its handshake, then
            # header_timeout for its first head (see _tls_established)
            self.start_tls((<TlsContext>config.tls).ctx)
            self.deadline = monotonic() + (<TlsContext>config.tls).handshake_timeout
        self.high_water_mark = config.output_high_water * 64
        if config.log_on:
            peer = _peer_host(peer_address).encode("utf-8", "replace")[:LOG_PEER - 1]
            memcpy(self.peer_ip, <char *>peer, len(peer))
            self.peer_ip[len(peer)] = 0
        state.connections.add(self)
        state.accepted += 1

    def __dealloc__(self):
        self._release_file()        # normally done at close; never leave an fd behind

    def connect_established(self):
        """Start serving (loop thread only): the first deadline counts from here."""
        if self.deadline > 0:
            _arm_deadline(self, self.deadline)
        TcpConnection.connect_established(self)

    cdef void _tls_established(self) noexcept nogil:
        if self.hstate == H_HEAD and self.requests == 0:
            _arm_deadline(self, monotonic() + self.cfg.header_timeout)

    cdef int _sendfile(self, int in_fd, off_t *off, uint64_t *left, uint64_t *sent,
                       int *err) noexcept nogil:
        """rh_sendfile_all to this connection: the kernel copies file pages
        to a plaintext socket; over TLS the file is read and sent as records."""
        if self.tls != NULL:
            return self.io_tls_sendfile(in_fd, off, left, sent, err)
        return rh_sendfile_all(self.fd, in_fd, off, left, sent, err)

    cdef dict _tls_session(self):
        """``request.tls`` of this connection (made once), or None for plaintext."""
        if self.tls != NULL and self.tls_info is None:
            self.tls_info = session_info(self.tls)
        return self.tls_info

    @property
    def tls(self):
        """The TLS session (``request.tls``), or None for plaintext."""
        return self._tls_session()

    @property
    def http_state(self):
        return ("head", "body", "chunked-body", "streaming", "closing", "handler",
                "file")[self.hstate]

    # ---- hooks from TcpConnection ----------------------------------------------

    cdef int _on_message(self) except -1:
        if self.hstate == H_CLOSING:
            # lingering close: discard whatever the client still sends
            self.input_buffer.retrieve_nogil(self.input_buffer.readable())
            return 0
        if self.in_process:
            return 0
        if self.hstate == H_FILE and not self._writing():
            self._pump_file()       # the fast path began it: carry on with the GIL
        if self.hstate == H_WAIT or self.hstate == H_STREAM or self.hstate == H_FILE:
            # no request is read meanwhile: cap what a client can pile up
            if self.input_buffer.readable() > self.cfg.limits.max_header_size and not self.paused:
                self.paused = True
                self._set_reading(False)
            return 0
        self._process()
        return 0

    cdef int _on_write_drained(self) except -1:
        if self.hstate == H_STREAM:
            self._pump_stream()
            return 0
        if self.hstate == H_FILE:
            self._pump_file()
            return 0
        if self.close_after_write:
            self._begin_linger()
            return 0
        if self.write_complete_callback is not None:
            self.write_complete_callback(self)
        if self._idle_flag and self.hstate == H_HEAD:
            # the response is out: the keep-alive clock starts now
            _arm_deadline(self, monotonic() + self.cfg.keep_alive_timeout)
        if self.paused:
            self.paused = False
            self._set_reading(True)
            if self.input_buffer.readable():
                self._process()
        return 0

    cdef int _on_peer_closed(self) except -1:
        # FIN from the client: a response still being produced or sent is
        # finished first (the client may only have half-closed); otherwise close
        if self._conn_state == S_CONNECTED and not self.lingering and (
                self.hstate == H_WAIT or self.hstate == H_STREAM or self.hstate == H_FILE or
                self.output_buffer.readable() or
                (self.hstate == H_HEAD and self.input_buffer.readable() and self.paused)):
            self.peer_closed = True
            self._set_reading(False)
            self._peer_gone()
            return 0
        self._handle_close()
        return 0

    cdef int _peer_gone(self) except -1:
        # the client closed (or half-closed) while its response was being
        # produced or sent: tell whoever produces it (ASGI's http.disconnect)
        cdef object cb = self.peer_gone_callback
        if cb is not None:
            self.peer_gone_callback = None
            try:
                cb()
            except Exception:
                log.exception("peer_gone_callback %r failed", cb)
        return 0

    cdef int _handle_close(self) except -1:
        cdef object it
        if self._conn_state == S_DISCONNECTED:
            return 0
        self.lstate.connections.discard(self)
        self._release_file()
        self._drop_spools()
        self._peer_gone()
        it = self.stream
        self.stream = None
        if it is not None:
            self._close_iterable(it)
        if self.stream_request is not None:
            if self.cfg.log_on:
                self._log_stream_end()          # cut short: the bytes queued so far
            body = self.stream_request[3]       # a sendfile body or the iterable
            self.stream_request = None
            self._close_iterable(body)
        TcpConnection._handle_close(self)
        return 0

    # ---- the GIL-free fast path ---------------------------------------------------

    cdef int fast_event(self, int revents) noexcept nogil:
        """Without the GIL: read, answer every registered static route and
        static file at the front of the input, write (and sendfile).
        Anything else (a Python request, an error, a partial write, a
        close) is left for ``after_fast`` / ``handle_event`` with the GIL.
        Touches only this connection's C fields and buffers, its HttpConfig's
        route and mount tables and its LoopState's counters, file cache and
        access-log ring, all owned by (or read-only to) this loop thread."""
        cdef rh_request req
        cdef rh_header hdrs[MAX_HEADER_CAP]
        cdef const StaticRoute *route
        cdef rh_freply rep
        cdef rh_fcache *cache
        cdef int rc, err = 0
        cdef ssize_t n
        cdef size_t mark
        cdef unsigned long long served = 0
        cdef double start = 0
        cdef bint is_head
        cdef off_t off
        cdef uint64_t left, sent = 0
        if self.hstate == H_FILE:
            # the socket drained while a static file is being sent: more of
            # it, still without the GIL; the end (or an error) goes the slow way
            if revents != 2 or self._conn_state != S_CONNECTED or self.sf_entry == NULL or \
                    not (self._events & 2) or self.output_buffer.readable():
                return FAST_SLOW
            off = self.sf_offset
            left = <uint64_t>self.sf_left
            rc = self._sendfile(self.sf_entry.fd, &off, &left, &sent, &err)
            self.sf_offset = off
            self.sf_left = <long long>left
            return FAST_DONE if rc == 0 else FAST_SLOW
        if revents != 1 or self._conn_state != S_CONNECTED or self.hstate != H_HEAD \
                or self.paused or self.in_process or (self._events & 2) or self.output_buffer.readable():
            return FAST_SLOW
        n = self.io_read(&err)
        if n == 0 or (n < 0 and err != EAGAIN):
            return FAST_SLOW
        if n < 0:
            return FAST_DONE
        if not (self.cfg.has_routes() or self.cfg.files != NULL) or self.cfg.stopping:
            return FAST_PROCESS
        if self.cfg.log_on:
            start = monotonic()
        while self.input_buffer.readable() and self.output_buffer.readable() <= self.cfg.output_high_water:
            req.headers = hdrs
            req.num_headers = MAX_HEADER_CAP
            rc = rh_parse_request(self.input_buffer.peek_ptr(), self.input_buffer.readable(), &req, &self.cfg.limits)
            if rc <= 0 or req.body_kind != RH_BODY_NONE or not req.keep_alive:
                break
            is_head = req.method_len == 4 and memcmp(req.method, b"HEAD", 4) == 0
            route = NULL
            if is_head or (req.method_len == 3 and memcmp(req.method, b"GET", 3) == 0):
                route = self.cfg.find_route(req.path, req.path_len)
            if route != NULL:
                mark = self.output_buffer.readable()
                self.output_buffer.oom = False
                append_static(self.output_buffer, route, is_head, True, req.version_minor == 0)
                if self.output_buffer.oom:
                    # no memory for the whole answer: none of it goes out here;
                    # the slow path answers 500 and closes
                    self.output_buffer.truncate_nogil(mark)
                    self.output_buffer.oom = False
                    break
                if self.cfg.log_on:
                    self._record_static(&req, route.status, 0 if is_head else route.body_len, start)
            else:
                if self.cfg.files == NULL:
                    break
                cache = self.lstate.file_cache(self.cfg.files_cache_entries)
                if cache == NULL or rh_files_serve(self.cfg.files, cache, &req, 0, &rep) <= 0:
                    break       # the application's (or no memory: the slow path answers)
                if self._append_file(&rep, is_head, True, req.version_minor == 0) < 0:
                    break       # no memory: rolled back; the slow path answers
                if self.cfg.log_on:
                    self._record_static(&req, rep.status, 0 if is_head else
                                        rep.body_len + rep.file_len, start)
            self.input_buffer.retrieve_nogil(rc)
            served += 1
            if self.sf_entry != NULL:
                break           # a file to send: what is queued goes first
        if served:
            self.requests += served
            self.lstate.requests += served
            self.lstate.static_requests += served
            self._idle_flag = True
            _arm_deadline(self, monotonic() + self.cfg.keep_alive_timeout)
            self.io_write(&err)
            if self.sf_entry != NULL:
                if self.output_buffer.readable() == 0:
                    off = self.sf_offset
                    left = <uint64_t>self.sf_left
                    rc = self._sendfile(self.sf_entry.fd, &off, &left, &sent, &err)
                    self.sf_offset = off
                    self.sf_left = <long long>left
                    if rc == 1:
                        self._release_file()
                if self.sf_entry != NULL:
                    # the rest when the socket drains (or the error), with the GIL
                    self.hstate = H_FILE
                    self._idle_flag = False
                    self.deadline = 0
                    return FAST_PROCESS
            if self.output_buffer.readable():
                return FAST_PROCESS     # partial write or error: _flush decides
            if self.lstate.ring != NULL and self.lstate.ring_head - \
                    load_rlx(self.lstate.ring_tail) >= self.lstate.ring_flush_at and \
                    self.lstate.flusher is not None:
                self.lstate.flusher.kick_nogil()    # the access log ring is half full
        if self.input_buffer.readable():
            return FAST_PROCESS
        if self.tls != NULL and self.tls_read_waits():
            return FAST_PROCESS     # after_fast arms writability for the TLS read
        return FAST_DONE

    cdef int _append_file(self, rh_freply *rep, bint head_only, bint keep_alive,
                          bint http10) noexcept nogil:
        """Queue a static-file answer made by ``rh_files_serve``: its head and
        in-memory body; a file span becomes this connection's ``sf_entry``
        (sent by the caller).  -1, with nothing queued and the reference
        dropped, if memory ran out."""
        cdef size_t mark = self.output_buffer.readable()
        self.output_buffer.oom = False
        append_answer(self.output_buffer, rep.head, rep.head_len, rep.body, rep.body_len,
                      head_only, keep_alive, http10)
        rh_fentry_unref(rep.hold)       # the body's bytes are copied (or not needed)
        rep.hold = NULL
        if self.output_buffer.oom:
            self.output_buffer.truncate_nogil(mark)
            self.output_buffer.oom = False
            rh_fentry_unref(rep.entry)
            rep.entry = NULL
            return -1
        if rep.entry != NULL:
            self.sf_entry = rep.entry
            rep.entry = NULL
            self.sf_offset = rep.file_off
            self.sf_left = <long long>rep.file_len
            self.sf_keep = keep_alive
        return 0

    cdef void _release_file(self) noexcept nogil:
        if self.sf_entry != NULL:
            rh_fentry_unref(self.sf_entry)
            self.sf_entry = NULL
            self.sf_left = 0

    cdef void _record_static(self, const rh_request *req, int status, unsigned long long sent,
                             double start) noexcept nogil:
        """Queue the access-log record of a static-route answer in this loop's
        ring, without the GIL; a full ring drops it (counted, reported at the
        next flush): the fast path never waits for the log."""
        cdef AccessRecord *rec
        cdef size_t n, pos, room, j, k
        cdef unsigned long long head
        cdef int i
        cdef const char *name
        if self.lstate.ring == NULL:
            return
        # single producer (this loop), single consumer (the flusher): the
        # slot is ours once the consumer's tail says it was read
        head = self.lstate.ring_head
        if head - load_acq(self.lstate.ring_tail) >= self.lstate.ring_cap:
            store_rlx(self.lstate.ring_dropped, self.lstate.ring_dropped + 1)
            return
        rec = &self.lstate.ring[head % self.lstate.ring_cap]
        rec.wall = _wall_now()
        rec.duration = monotonic() - start if start > 0 else 0.0
        rec.sent = sent
        rec.status = status
        rec.version_minor = req.version_minor
        rec.truncated = 0
        memcpy(rec.peer, self.peer_ip, LOG_PEER)
        n = req.method_len if req.method_len < LOG_METHOD else LOG_METHOD
        memcpy(rec.text, req.method, n)
        rec.method_len = <unsigned short>n
        pos = n
        n = req.target_len
        if n > LOG_TARGET:
            n = LOG_TARGET
            rec.truncated |= 1
        memcpy(rec.text + pos, req.target, n)
        rec.target_len = <unsigned short>n
        pos += n
        for i in range(self.cfg.log_nhdr):
            rec.hdr_len[i] = 0xffff
        if self.cfg.log_nhdr == 0:
            store_rel(self.lstate.ring_head, head + 1)     # publish the record
            return
        # the request headers the format needs, in the order of self.cfg.log_hdr
        # (values appended in that order; the first occurrence of a name wins)
        for i in range(self.cfg.log_nhdr):
            for j in range(req.num_headers):
                if req.headers[j].name_len != self.cfg.log_hdr_len[i]:
                    continue
                name = req.headers[j].name
                for k in range(req.headers[j].name_len):
                    if tolower(name[k]) != self.cfg.log_hdr[i][k]:
                        break
                else:
                    room = LOG_TEXT - pos
                    n = req.headers[j].value_len
                    if n > room:
                        n = room
                        rec.truncated |= (<unsigned int>2) << i
                    memcpy(rec.text + pos, req.headers[j].value, n)
                    rec.hdr_len[i] = <unsigned short>n
                    pos += n
                    break
        store_rel(self.lstate.ring_head, head + 1)     # publish the record

    # ---- the state machine -------------------------------------------------------

    cdef int _process(self) except -1:
        cdef rh_request req
        cdef rh_header hdrs[MAX_HEADER_CAP]
        cdef int rc
        cdef Buffer inp = self.input_buffer
        cdef const StaticRoute *route
        cdef HttpConfig cfg = self.cfg
        cdef size_t n, dlen
        cdef ssize_t used
        cdef bint head_only
        cdef object request
        cdef rh_fcache *cache
        cdef rh_freply frep
        cdef int fr
        self.in_process = True
        try:
            while self._conn_state == S_CONNECTED or self._conn_state == S_DISCONNECTING:
                if self.paused and self.hstate == H_HEAD and self._conn_state == S_CONNECTED:
                    self._flush()
                    self._unpause_if_drained()
                if self.paused or self.hstate == H_CLOSING or self.hstate == H_STREAM \
                        or self.hstate == H_WAIT or self.hstate == H_FILE:
                    break
                n = inp.readable()
                if self.hstate == H_HEAD:
                    if n == 0:
                        break
                    req.headers = hdrs
                    req.num_headers = MAX_HEADER_CAP
                    req.method = NULL       # what an error leaves of the request line
                    req.target = NULL
                    req.version_minor = -1
                    rc = rh_parse_request(inp.peek_ptr(), n, &req, &cfg.limits)
                    if rc == RH_INCOMPLETE:
                        if self._idle_flag:
                            # a new head started on a kept-alive connection
                            self._idle_flag = False
                            _arm_deadline(self, self._eloop.cached_now + cfg.header_timeout)
                        break
                    if rc < 0:
                        self._send_error(rh_error_status(rc),
                                         req.error.decode("latin-1") if req.error != NULL else "",
                                         _line_info(&req) if cfg.log_on else None)
                        break
                    if req.method_len == 7 and memcmp(req.method, b"CONNECT", 7) == 0:
                        # no tunnels here: what follows a CONNECT is not HTTP,
                        # so answer and close without reading any further
                        self._send_error(501, "CONNECT is not supported",
                                         _line_info(&req) if cfg.log_on else None)
                        break
                    if req.body_kind == RH_BODY_NONE and cfg.has_routes():
                        route = cfg.find_route(req.path, req.path_len)
                        if route != NULL and (
                                (req.method_len == 3 and memcmp(req.method, b"GET", 3) == 0) or
                                (req.method_len == 4 and memcmp(req.method, b"HEAD", 4) == 0)):
                            head_only = req.method_len == 4
                            if cfg.log_on:
                                self._record_static(&req, route.status,
                                                    0 if head_only else route.body_len,
                                                    self._eloop.cached_now)
                            inp.retrieve_nogil(rc)
                            self._serve_static(route, head_only, req.keep_alive and not cfg.stopping,
                                               req.version_minor == 0)
                            continue
                    if cfg.files != NULL:
                        # a static file? (a body is not read: the answer closes)
                        cache = self.lstate.file_cache(self.cfg.files_cache_entries)
                        fr = -1
                        with nogil:
                            # C over this loop's file cache and the request's spans in inp
                            if cache != NULL:
                                fr = rh_files_serve(cfg.files, cache, &req,
                                                    req.body_kind != RH_BODY_NONE, &frep)
                        if fr != 0:
                            inp.retrieve_nogil(rc)
                            if fr < 0:
                                self._send_error(500, "out of memory for a static file",
                                                 _line_info(&req) if cfg.log_on else None)
                                break
                            self._answer_file(&req, &frep, req.keep_alive and not cfg.stopping
                                              and not frep.close)
                            continue
                    request = make_request(inp.peek_ptr(), rc, &req, self.peer_address)
                    if self.tls != NULL:
                        (<HttpRequest>request).tls = self._tls_session()
                    if cfg.wsgi is not None:
                        # the environ straight from this parse (the head is still in inp)
                        if self.wsgi_peer is None:
                            self.wsgi_peer = WSGICore.peer_strings(self.peer_address)
                        (<HttpRequest>request).environ = (<WSGICore>cfg.wsgi).environ_c(
                            &req, <HttpRequest>request, self.wsgi_peer)
                        if self.tls != NULL:
                            if self.tls_env is None:
                                self.tls_env = wsgi_environ(self.tls_info)
                            (<dict>(<HttpRequest>request).environ).update(self.tls_env)
                    inp.retrieve_nogil(rc)
                    if req.body_kind == RH_BODY_NONE:
                        self._dispatch(request)
                    else:
                        self._start_body(request, req.body_kind, req.content_length,
                                         req.expect_continue)
                elif self.hstate == H_BODY_LENGTH:
                    if self.spool is not None:
                        # to the temporary file as it arrives: memory stays bounded
                        dlen = n if n < self.body_remaining else <size_t>self.body_remaining
                        if dlen:
                            if self._spool_write(inp.peek_ptr(), dlen) < 0:
                                break
                            inp.retrieve_nogil(dlen)
                            self.body_remaining -= dlen
                            self.body_total += dlen
                        if self.body_remaining:
                            _arm_deadline(self, self._body_progress_deadline(self.body_total))
                            break
                        request = self.pending_request
                        self.pending_request = None
                        self._spool_done(<HttpRequest>request)
                        self.hstate = H_HEAD
                        self._dispatch(request)
                        continue
                    if n < self.body_remaining:
                        _arm_deadline(self, self._body_progress_deadline(n))
                        break
                    request = self.pending_request
                    self.pending_request = None
                    (<HttpRequest>request)._body = PyBytes_FromStringAndSize(
                        inp.peek_ptr(), self.body_remaining)
                    inp.retrieve_nogil(self.body_remaining)
                    self.hstate = H_HEAD
                    self._dispatch(request)
                else:   # H_BODY_CHUNKED
                    if n == 0:
                        break
                    dlen = 0
                    # decode in place, then move the payload into the body buffer
                    used = rh_chunked_decode(&self.chunked, inp.peek_ptr(), n, inp.peek_ptr(), &dlen)
                    if used < 0:
                        self._send_error(rh_error_status(<int>used), "invalid chunked body",
                                         self.pending_request)
                        break
                    if dlen:
                        if self.spool is not None:
                            if self._spool_write(inp.peek_ptr(), dlen) < 0:
                                break
                        else:
                            if self.body_buf.append_nogil(inp.peek_ptr(), dlen) != 0:
                                raise MemoryError()
                            if cfg.spool_threshold and \
                                    self.body_buf.readable() > cfg.spool_threshold:
                                # too big for memory: what came so far goes first
                                if self._spool_open() < 0 or self._spool_write(
                                        self.body_buf.peek_ptr(), self.body_buf.readable()) < 0:
                                    break
                                self.body_buf = Buffer(0)
                    inp.retrieve_nogil(used)
                    if not self.chunked.done:
                        _arm_deadline(self, self._body_progress_deadline(<size_t>self.chunked.total))
                        break
                    request = self.pending_request
                    self.pending_request = None
                    if self.spool is not None:
                        self._spool_done(<HttpRequest>request)
                    else:
                        (<HttpRequest>request)._body = self.body_buf.retrieve_as_bytes()
                    self.body_buf = None
                    self.hstate = H_HEAD
                    self._dispatch(request)
        finally:
            self.in_process = False
        if self.lstate.hold_output and self._hold():
            return 0
        self._flush()
        return 0

    cdef bint _hold(self) except -1:
        """Hold the output queued now until ``lstate.flush_held()`` (the next
        select of the asyncio loop) rather than send it at once: responses
        made while the poll's events are dispatched (an app that answered at
        once) go out together after the last read of the batch, and when the
        next request's task is started, its response will follow this output
        in the same send."""
        cdef size_t n = self.output_buffer.readable()
        if n == 0 or n > HOLD_MAX or self._writing() or self._conn_state != S_CONNECTED:
            return False
        self.hold_gen = self.lstate.gen
        if not self.held:
            self.held = True
            self.lstate.held.append(self)
        return True

    cdef int _start_body(self, object request, int body_kind, uint64_t length, bint expect) except -1:
        cdef Buffer inp = self.input_buffer
        self.pending_request = request
        if body_kind == RH_BODY_LENGTH:
            self.body_remaining = length
            self.body_total = 0
            self.hstate = H_BODY_LENGTH
            if self.cfg.spool_threshold and length > self.cfg.spool_threshold:
                if self._spool_open() < 0:
                    return 0
            if expect and inp.readable() < length:
                self._send_continue()
        else:
            rh_chunked_init(&self.chunked, self.cfg.limits.max_body_size, 16384)
            self.body_buf = Buffer(0)
            self.hstate = H_BODY_CHUNKED
            if expect and inp.readable() == 0:
                self._send_continue()
        self.body_start = self._eloop.cached_now
        _arm_deadline(self, self.body_start + self.cfg.body_timeout)
        return 0

    cdef int _spool_open(self) except -1:
        """A temporary file for the body of the pending request (unlinked at
        once: nothing is left behind whatever happens); -1 after answering 500
        if none can be made."""
        try:
            self.spool = tempfile.TemporaryFile(dir=self.cfg.spool_dir)
        except OSError as exc:
            log.error("cannot make a temporary file for a request body from %s: %s",
                      self.peer_address, exc)
            self._send_error(500, "cannot store the request body", self.pending_request)
            return -1
        self.spool_fd = self.spool.fileno()
        return 0

    cdef int _spool_write(self, const char *p, size_t n) except -2:
        """Append ``p[:n]`` to the spool file (a regular file: a write blocks
        at most for the disk); -1 after answering 500 if it fails (ENOSPC...)."""
        cdef ssize_t w
        cdef int err = 0
        while n:
            with nogil:
                # this connection's spool fd, owned by its file object; the loop thread owns both
                w = c_write(self.spool_fd, p, n)
                if w < 0:
                    err = errno
            if w < 0:
                if err == EINTR:
                    continue
                log.error("cannot write a request body from %s to its temporary file: %s",
                          self.peer_address, OSError(err, "write failed"))
                self._send_error(500, "cannot store the request body", self.pending_request)
                return -1
            p += w
            n -= <size_t>w
        return 0

    cdef int _spool_done(self, HttpRequest req) except -1:
        """The whole body is in the spool: hand the file to ``req``, at its start."""
        cdef object f = self.spool
        self.spool = None
        self.spool_fd = -1
        f.seek(0)
        req.body_file = f
        req._body = None            # read from the file if a handler asks for bytes
        self.done_spool = f         # closed when the response is finished
        return 0

    cdef int _drop_spools(self) except -1:
        cdef object f = self.spool
        self.spool = None
        self.spool_fd = -1
        if f is not None:
            f.close()
        f = self.done_spool
        self.done_spool = None
        if f is not None:
            f.close()
        return 0

    cdef double _body_progress_deadline(self, size_t received):
        """The body made progress: ``body_timeout`` more seconds, but no more
        than ``body_timeout`` plus ``received / min_body_rate`` after the body
        began, so a client trickling a few bytes at a time cannot hold the
        connection for ever (Apache's MinRate)."""
        cdef double now = self._eloop.cached_now
        cdef double d = now + self.cfg.body_timeout
        cdef double cap
        if self.cfg.min_body_rate > 0:
            cap = self.body_start + self.cfg.body_timeout + received / self.cfg.min_body_rate
            if cap < d:
                d = cap
        return d

    cdef int _send_continue(self) except -1:
        cdef Buffer out = self.output_buffer
        cdef size_t mark = out.readable()
        out.oom = False
        out.append_nogil(<char *>CONTINUE_100, len(CONTINUE_100))
        if out.oom:
            self.pending_request = None
            self._frame_failed(mark, True, None)
            return 0
        self._flush()
        return 0

    cdef int _serve_static(self, const StaticRoute *r, bint head_only, bint keep_alive,
                           bint http10) except -1:
        cdef Buffer out = self.output_buffer
        cdef size_t mark = out.readable()
        out.oom = False
        with nogil:
            # appends the route's prebuilt bytes to this connection's output buffer
            append_static(out, r, head_only, keep_alive, http10)
        if out.oom:
            self._frame_failed(mark, True, None)
            return 0
        self.lstate.static_requests += 1
        self._finish_request(keep_alive)
        return 0

    cdef int _answer_file(self, const rh_request *req, rh_freply *rep, bint keep_alive) except -1:
        """With the GIL: queue a static-file answer and start sending its file."""
        cdef bint head_only = req.method_len == 4 and memcmp(req.method, b"HEAD", 4) == 0
        cdef size_t mark = self.output_buffer.readable()
        cdef unsigned long long sent = 0 if head_only else rep.body_len + rep.file_len
        if self._append_file(rep, head_only, keep_alive, req.version_minor == 0) < 0:
            self._frame_failed(mark, True, None)
            return 0
        if self.cfg.log_on:
            self._record_static(req, rep.status, sent, self._eloop.cached_now)
        self.lstate.static_requests += 1
        if self.sf_entry == NULL:
            self._finish_request(keep_alive)
            return 0
        self.requests += 1
        self.lstate.requests += 1
        self.hstate = H_FILE
        self._idle_flag = False
        self.deadline = 0
        self._pump_file()
        return 0

    cdef int _send_file_step(self, int in_fd) except -3:
        """The send path of static files and ``wsgi.file_wrapper``: flush
        what is queued (the head), then sendfile from ``sf_offset`` up to
        ``sf_left`` bytes of ``in_fd``.  1: all sent; 0: the socket is full
        (write interest and the send timeout are armed) or the connection
        closed; -2: the file shrank; -1: a socket error (the caller closes)."""
        cdef Buffer out = self.output_buffer
        cdef int r, err = 0
        cdef off_t off
        cdef uint64_t left, sent = 0
        if out.readable():
            self._flush()
            if self._conn_state == S_DISCONNECTED or out.readable():
                return 0
        off = self.sf_offset
        left = <uint64_t>self.sf_left
        with nogil:
            # the kernel copies file pages to this connection's socket
            r = self._sendfile(in_fd, &off, &left, &sent, &err)
        self.sf_offset = off
        self.sf_left = <long long>left
        self.body_sent += sent
        if r == 0:
            self._events |= 2       # EV_WRITE: more when the socket drains
            self._eloop.update_channel_c(self)
            self._arm_send_timeout()
        return r

    cdef int _pump_file(self) except -1:
        """Send the rest of the static file (queued head first): when the
        socket is full, again on writability.  A file that shrank under us
        closes the connection: a response is never padded."""
        cdef int r
        if self.sf_entry == NULL or self._conn_state == S_DISCONNECTED:
            return 0
        r = self._send_file_step(self.sf_entry.fd)
        if r == 1:
            self._file_done()
        elif r < 0:
            if r == -2:
                log.error("a static file shrank while it was sent to %s; closing the connection",
                          self.peer_address)
            self._release_file()
            self._handle_close()
        return 0

    cdef int _file_done(self) except -1:
        cdef bint keep_alive = self.sf_keep and not self.cfg.stopping
        self._release_file()
        if self.peer_closed and self.input_buffer.readable() == 0:
            keep_alive = False      # the client sent FIN: nothing more will come
        if not keep_alive:
            self.close_after_write = True
            self.hstate = H_CLOSING
            self.deadline = 0
            self._begin_linger()
            return 0
        self.hstate = H_HEAD
        self._idle_flag = True
        _arm_deadline(self, self._eloop.cached_now + self.cfg.keep_alive_timeout)
        if self.paused:
            self.paused = False
            if not self.peer_closed:
                self._set_reading(True)
        if self.input_buffer.readable() and not self.in_process:
            self._process()
        return 0

    cdef int _finish_request(self, bint keep_alive) except -1:
        if self.done_spool is not None:
            self.done_spool.close()
            self.done_spool = None
        if self.peer_closed and self.input_buffer.readable() == 0:
            keep_alive = False      # the client sent FIN: nothing more will come
        self.requests += 1
        self.lstate.requests += 1
        if not keep_alive:
            self.close_after_write = True
            self.hstate = H_CLOSING
            self.deadline = 0
        else:
            self.hstate = H_HEAD
            self._idle_flag = True
            _arm_deadline(self, self._eloop.cached_now + self.cfg.keep_alive_timeout)
        if self.output_buffer.readable() > self.cfg.output_high_water and not self.paused:
            self.paused = True
            self._set_reading(False)
        return 0

    cdef int _dispatch(self, object request) except -1:
        cdef object result
        cdef HttpRequest req = <HttpRequest>request
        self._idle_flag = False
        self.deadline = 0
        req.connection = self
        self.lstate.current_request = req
        self.lstate.current_since = self._eloop.cached_now
        if self.cfg.wsgi_inline:
            # the WSGI app on this loop thread: a list comes back as the
            # StartResponse holding the body, written without an HttpResponse
            try:
                result = (<WSGICore>self.cfg.wsgi).call(req)
            except Exception as exc:
                self.lstate.current_request = None
                self._handler_failed(req, exc)
                return 0
            self.lstate.current_request = None
            try:
                self._write_response(req, result)
            except Exception as exc:
                self._handler_failed(req, exc)
            return 0
        try:
            result = self.cfg.handler(req)
        except Exception as exc:
            self.lstate.current_request = None
            self._handler_failed(req, exc)
            return 0
        self.lstate.current_request = None
        if result is DEFER:
            self.hstate = H_WAIT
            self.pending_request = req
            return 0
        if result is None:
            self._returned_none(req)
            return 0
        try:
            self._write_response(req, result)
        except Exception as exc:
            self._handler_failed(req, exc)
        return 0

    def resume(self, HttpRequest req, result):
        """Answer a DEFERred request (``result`` may be an exception, which
        becomes a 500).  Loop thread only."""
        if REACTOR_DEBUG:
            self._eloop._check_thread("HttpConnection.resume")
        if self._conn_state == S_DISCONNECTED or self.hstate != H_WAIT:
            if not isinstance(result, BaseException):
                self._close_iterable(result.body if isinstance(result, HttpResponse) else result)
            return
        self.hstate = H_HEAD
        self.pending_request = None
        if isinstance(result, BaseException):
            self._handler_failed(req, result)
        elif result is None:
            self._returned_none(req)
        else:
            try:
                self.write_response(req, result)
            except Exception as exc:
                self._handler_failed(req, exc)
        if self.paused and self.output_buffer.readable() <= self.cfg.output_high_water:
            self.paused = False
            self._set_reading(True)
        if self.input_buffer.readable() and not self.in_process:
            self._process()
        else:
            self._flush()
            self._unpause_if_drained()

    cdef int _unpause_if_drained(self) except -1:
        """Reading paused above the output high-water mark, and the socket
        took the whole output at once: no write event will come to resume
        reading, so resume it now."""
        if self.paused and self.hstate == H_HEAD and self._conn_state == S_CONNECTED and \
                self.output_buffer.readable() == 0 and not self._writing():
            self.paused = False
            if not self.peer_closed:
                self._set_reading(True)
        return 0

    def pump(self):
        """Carry on sending a streamed response whose iterator yielded
        ``PENDING``: its producer has more.  Loop thread only."""
        if REACTOR_DEBUG:
            self._eloop._check_thread("HttpConnection.pump")
        if self._conn_state == S_DISCONNECTED or self.hstate != H_STREAM or \
                self.output_buffer.readable() > self.cfg.output_high_water:
            return      # gone, finished, or the next write event carries on
        self._pump_stream()

    def _returned_none(self, HttpRequest req):
        # almost always a missing ``return``: say so, and answer 500 rather
        # than an empty 200 that hides the bug
        log.error("handler returned None for %s %s from %s: return an HttpResponse, bytes "
                  "or str (answering 500)", req.method, req.target, self.peer_address)
        self.write_response(req, HttpResponse(b"Internal Server Error\n", 500,
                                              content_type="text/plain; charset=utf-8"))

    def _handler_failed(self, HttpRequest req, exc):
        log.error("handler raised on %s %s from %s", req.method, req.target, self.peer_address,
                  exc_info=exc)
        if self.hstate == H_STREAM or self.hstate == H_CLOSING:
            return      # part of a response is out already: _abort_stream closes
        self.write_response(req, HttpResponse(b"Internal Server Error\n", 500,
                                              content_type="text/plain; charset=utf-8"))

    # ---- responses ---------------------------------------------------------------

    def write_response(self, HttpRequest req, result):
        """Frame and queue ``result`` (HttpResponse, bytes or str) as the
        answer to ``req``.  Loop thread only."""
        self._write_response(req, result)

    cdef int _write_response(self, HttpRequest req, object result) except -1:
        cdef int status = 200
        cdef object headers = None
        cdef object body = result
        cdef object ctype = None
        cdef bint keep_alive, head_only, no_body
        cdef int flags = 0
        cdef long long declared = -1
        cdef Buffer out = self.output_buffer
        cdef HttpResponse resp
        cdef Py_ssize_t blen
        cdef size_t mark
        cdef bytes line = None
        if type(result) is StartResponse:
            return self._write_wsgi(req, <StartResponse>result)
        if result is None:
            raise TypeError("a response must be an HttpResponse, bytes or str, not None")
        if self._conn_state == S_DISCONNECTED:
            self._close_iterable(body.body if isinstance(body, HttpResponse) else body)
            return 0
        # every append below may fail (ENOMEM): the flag says so at the end,
        # and the response is then rolled back to here as a whole
        mark = out.readable()
        out.oom = False
        if isinstance(result, HttpResponse):
            resp = <HttpResponse>result
            status = resp.status
            headers = resp.headers
            body = resp.body
            ctype = resp.content_type
            if resp.reason is not None:
                line = _reason_line(status, resp.reason)
        if body is None:
            body = b""
        elif isinstance(body, str):
            body = (<str>body).encode("utf-8")
            if ctype is None:
                ctype = _TEXT_UTF8
        elif type(body) is not bytes and isinstance(body, (bytes, bytearray, memoryview)):
            body = bytes(body)      # bytes subclasses too: never iterate bytes as ints
        if headers:
            try:
                flags = _scan_headers(<list>headers, &declared)
            except Exception:
                self._close_iterable(body)
                raise
        keep_alive = req.keep_alive and not self.cfg.stopping and not (flags & F_CONN_CLOSE)
        head_only = req.is_head
        no_body = status < 200 or status == 204 or status == 304
        if ctype is not None and not (flags & F_CTYPE) and not no_body:
            ctype = validate_header("Content-Type", ctype)[1]
        else:
            ctype = None
        if type(body) is bytes:
            blen = PyBytes_GET_SIZE(body)
            if no_body:
                blen = 0
            elif declared >= 0 and declared != blen and not (head_only and blen == 0):
                raise ValueError("handler declared Content-Length %d but the body has %d bytes"
                                 % (declared, blen))
            self._append_head(status, headers, flags, ctype, line)
            return self._append_whole(req, status, declared, body, blen, no_body, keep_alive,
                                      mark, result)
        sf = getattr(body, "sendfile_info", None) if not (head_only or no_body) else None
        info = sf() if sf is not None else None
        if info is not None:
            fd, offset, count = info
            if declared >= 0 and declared < count:
                count = declared
            self._append_head(status, headers, flags, ctype, line)
            _append_length(out, declared if declared >= 0 else <long long>count)
            self._append_end(keep_alive, req.http10)
            if out.oom:
                self._frame_failed(mark, True, body)
                return 0
            self.sf_fd = fd
            self.sf_offset = offset
            self.sf_left = count
            self.sf_short = declared > count
            self.stream = iter(())
            self.stream_left = -1
            self.stream_chunked = False
            self.body_sent = 0
            self.stream_request = (req, keep_alive, status, body, result)
            self.hstate = H_STREAM
            self._pump_stream()
            return 0
        if head_only or no_body:
            # an iterable body that must not be sent: never iterate it
            self._close_iterable(body)
            self._append_head(status, headers, flags, ctype, line)
            if declared >= 0 and not no_body:
                _append_length(out, declared)
            self._append_end(keep_alive, False)
            if out.oom:
                self._frame_failed(mark, True, None)
                return 0
            if self.cfg.log_on:
                self._log_access(req, status, 0, result)
            self._finish_request(keep_alive)
            return 0
        try:
            it = iter(body)
        except TypeError:
            raise TypeError("response body must be bytes, str or an iterable of them, not %s"
                            % type(body).__name__) from None
        self.stream_left = declared
        self.stream_chunked = False
        self._append_head(status, headers, flags, ctype, line)
        if declared >= 0:
            _append_length(out, declared)
        elif not req.http10:
            self.stream_chunked = True
            out.append_nogil(b"Transfer-Encoding: chunked\r\n", 28)
        else:
            keep_alive = False      # HTTP/1.0 without a length: close-delimited
        self._append_end(keep_alive, False)
        if out.oom:
            self._frame_failed(mark, True, body)
            return 0
        self.stream = it
        self.body_sent = 0
        self.stream_request = (req, keep_alive, status, body, result)
        self.hstate = H_STREAM
        self._pump_stream()
        return 0

    cdef int _write_wsgi(self, HttpRequest req, StartResponse sr) except -1:
        """A WSGI app's whole answer: its status line and headers as encoded
        by start_response (one check, one copy), Server and Date unless it set
        them, the length, the body.  ``sr.body`` is bytes whose length matches
        any Content-Length the app declared (``WSGICore.call`` sees to it)."""
        cdef Buffer out = self.output_buffer
        cdef bytes body = sr.body
        cdef int status = sr.code
        cdef bint no_body = status < 200 or status == 204 or status == 304
        cdef Py_ssize_t blen = 0 if no_body else PyBytes_GET_SIZE(body)
        cdef bint keep_alive = req.keep_alive and not self.cfg.stopping and not (sr.flags & WF_CLOSE)
        cdef size_t mark
        sr.body = None
        if self._conn_state == S_DISCONNECTED:
            return 0
        mark = out.readable()
        out.oom = False
        out.append_nogil(PyBytes_AS_STRING(sr.line), PyBytes_GET_SIZE(sr.line))
        out.append_nogil(sr.block, sr.block_len)
        self._append_server_date(sr.flags & WF_SERVER, sr.flags & WF_DATE)
        return self._append_whole(req, status, sr.declared, body, blen, no_body, keep_alive,
                                  mark, None)

    cdef int _append_whole(self, HttpRequest req, int status, long long declared, bytes body,
                           Py_ssize_t blen, bint no_body, bint keep_alive, size_t mark,
                           object logged) except -1:
        """The end of a response whose body is whole bytes (its head is in the
        output buffer from ``mark`` on): the length, the blank line, the body
        (not for HEAD); rolled back on ENOMEM; then the access line and the
        end of the request.  A HEAD whose body is empty and whose length was
        not declared gets no Content-Length: the GET's length is unknown
        (RFC 9110 9.3.2)."""
        cdef Buffer out = self.output_buffer
        cdef bint head_only = req.is_head
        if not no_body and (declared >= 0 or blen or not head_only):
            _append_length(out, declared if declared >= 0 else <long long>blen)
        self._append_end(keep_alive, req.http10)
        if not head_only and blen:
            out.append_nogil(PyBytes_AS_STRING(body), blen)
        if out.oom:
            self._frame_failed(mark, True, None)
            return 0
        if self.cfg.log_on:
            self._log_access(req, status, 0 if head_only else blen, logged)
        self._finish_request(keep_alive)
        return 0

    cdef int _pump_stream(self) except -1:
        cdef Buffer out = self.output_buffer
        cdef object chunk
        cdef size_t n, mark
        cdef char num[24]
        cdef int k
        req, keep_alive, status, body, resp = self.stream_request
        if self.sf_fd >= 0:
            if self._pump_sendfile() == 0:
                return 0        # waiting for the socket (or closed)
            if self.sf_short:
                log.error("file shorter than the declared Content-Length on %s %s; closing",
                          req.method, req.target)
                self.sf_fd = -1
                self._abort_stream(body)
                return 0
            self.sf_fd = -1
        while self.stream is not None:
            try:
                chunk = next(self.stream)
            except StopIteration:
                break
            except Exception as exc:
                log.error("response iterable raised mid-stream on %s %s; closing the connection",
                          req.method, req.target, exc_info=exc)
                self._abort_stream(body)
                return 0
            if chunk is PENDING:
                # the producer has nothing yet and calls pump() when it has: no
                # timeout while it works, but what is queued must still be taken
                self._flush()
                if self._conn_state == S_DISCONNECTED:
                    return 0
                if self.output_buffer.readable() == 0:
                    self.deadline = 0
                elif self.deadline == 0:
                    self._arm_send_timeout()
                return 0
            if isinstance(chunk, str):
                chunk = (<str>chunk).encode("utf-8")
            elif isinstance(chunk, (bytes, bytearray, memoryview)):
                if type(chunk) is not bytes:
                    chunk = bytes(chunk)
            else:
                log.error("response iterable yielded %s, not bytes or str, on %s %s; "
                          "closing the connection", type(chunk).__name__, req.method, req.target)
                self._abort_stream(body)
                return 0
            n = len(chunk)
            if n == 0:
                continue
            mark = out.readable()
            out.oom = False
            if self.stream_left >= 0:
                if <long long>n > self.stream_left:
                    log.error("response body longer than its Content-Length on %s %s; "
                              "truncating and closing", req.method, req.target)
                    out.append_nogil(<char *>chunk, self.stream_left)
                    self.body_sent += self.stream_left
                    self.stream_left = 0
                    self._abort_stream(body)
                    return 0
                self.stream_left -= n
                out.append_nogil(<char *>chunk, n)
            elif self.stream_chunked:
                k = snprintf(num, sizeof(num), "%zx\r\n", n)
                out.append_nogil(num, k)
                out.append_nogil(<char *>chunk, n)
                out.append_nogil(b"\r\n", 2)
            else:
                out.append_nogil(<char *>chunk, n)
            if not out.oom:
                self.body_sent += n
            else:
                # the head is out: all we can do is cut the response short
                out.truncate_nogil(mark)
                out.oom = False
                log.error("out of memory for a %d-byte chunk of the response to %s %s; "
                          "closing", n, req.method, req.target)
                self._abort_stream(body)
                return 0
            if out.readable() > self.cfg.output_high_water:
                self._flush()
                if self._conn_state == S_DISCONNECTED:
                    return 0
                if out.readable() > self.cfg.output_high_water:
                    self._arm_send_timeout()
                    return 0        # resumed by _on_write_drained
        # finished
        self.stream = None
        self._close_iterable(body)
        if self.stream_left > 0:
            log.error("response body shorter than its Content-Length on %s %s; closing",
                      req.method, req.target)
            self._abort_stream(None)
            return 0
        if self.stream_chunked:
            mark = out.readable()
            out.oom = False
            out.append_nogil(b"0\r\n\r\n", 5)
            if out.oom:
                out.truncate_nogil(mark)
                out.oom = False
                self._abort_stream(None)
                return 0
        self.stream_request = None
        if self.cfg.log_on:
            self._log_access(req, status, self.body_sent, resp)
        self._finish_request(keep_alive)
        self._flush()
        if self.hstate == H_HEAD and self.input_buffer.readable() and not self.in_process:
            self._process()
        return 0

    cdef int _frame_failed(self, size_t mark, bint answer_500, object body) except -1:
        """An append failed (ENOMEM) while framing a response: drop every
        byte of it (back to ``mark``), answer a bare 500 if that fits, and
        close once what was queued before it is out.  Never leaves a
        half-framed response in the buffer."""
        cdef Buffer out = self.output_buffer
        out.truncate_nogil(mark)
        out.oom = False
        if body is not None:
            self._close_iterable(body)
        self.stream = None
        self.stream_request = None
        self.sf_fd = -1
        self._release_file()
        log.error("out of memory while framing a response for %s; closing the connection",
                  self.peer_address)
        if answer_500:
            out.append_nogil(PyBytes_AS_STRING(OOM_500), PyBytes_GET_SIZE(OOM_500))
            if out.oom:
                out.truncate_nogil(mark)
                out.oom = False
        self.requests += 1
        self.close_after_write = True
        self.hstate = H_CLOSING
        _arm_deadline(self, self._eloop.cached_now + LINGER_TIME)
        if not self.in_process:
            self._flush()
        return 0

    cdef int _append_head(self, int status, object headers, int flags, object ctype,
                          bytes line=None) except -1:
        """Status line (``line``, else the standard one of ``status``), the
        handler's headers (framing ones dropped), Server, Date and
        Content-Type, straight into the output buffer."""
        cdef Buffer out = self.output_buffer
        cdef bytes name, value
        if line is None:
            line = status_line(status)
        out.append_nogil(PyBytes_AS_STRING(line), PyBytes_GET_SIZE(line))
        if headers:
            for name, value in <list>headers:
                if _name_is(name, b"content-length", 14) or \
                        _name_is(name, b"transfer-encoding", 17) or \
                        _name_is(name, b"connection", 10):
                    continue
                out.append_nogil(PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name))
                out.append_nogil(b": ", 2)
                out.append_nogil(PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value))
                out.append_nogil(b"\r\n", 2)
        self._append_server_date(flags & F_SERVER, flags & F_DATE)
        if ctype is not None:
            out.append_nogil(b"Content-Type: ", 14)
            out.append_nogil(PyBytes_AS_STRING(ctype), PyBytes_GET_SIZE(ctype))
            out.append_nogil(b"\r\n", 2)
        return 0

    cdef int _append_server_date(self, bint has_server, bint has_date) except -1:
        """The Server and Date lines, unless the handler set its own."""
        cdef Buffer out = self.output_buffer
        cdef bytes server
        if not has_server:
            server = self.cfg.server_header
            if server:
                out.append_nogil(b"Server: ", 8)
                out.append_nogil(PyBytes_AS_STRING(server), PyBytes_GET_SIZE(server))
                out.append_nogil(b"\r\n", 2)
        if not has_date:
            out.append_nogil(b"Date: ", 6)
            out.append_nogil(http_date_c(), 29)
            out.append_nogil(b"\r\n", 2)
        return 0

    cdef int _append_end(self, bint keep_alive, bint http10) except -1:
        cdef Buffer out = self.output_buffer
        if not keep_alive:
            out.append_nogil(b"Connection: close\r\n\r\n", 21)
        elif http10:
            out.append_nogil(b"Connection: keep-alive\r\n\r\n", 26)
        else:
            out.append_nogil(b"\r\n", 2)
        return 0

    cdef int _pump_sendfile(self) except -1:
        """sendfile() the rest of a ``wsgi.file_wrapper`` file: 1 when done
        (``sf_short`` if the file shrank), 0 when waiting or closed."""
        cdef int r = self._send_file_step(self.sf_fd)
        if r == 1:
            return 1
        if r == -2:
            self.sf_short = True      # the file shrank under us
            return 1
        if r == -1:
            self.sf_fd = -1
            self._handle_close()
        return 0

    cdef int _abort_stream(self, object body) except -1:
        if self.cfg.log_on:
            self._log_stream_end()      # logged with the body bytes queued before the cut
        it = self.stream
        self.stream = None
        self.stream_request = None
        if body is not None:
            self._close_iterable(body)
        self.requests += 1
        self.close_after_write = True
        self.hstate = H_CLOSING
        self._flush()
        if self._conn_state != S_DISCONNECTED and self.output_buffer.readable() == 0:
            self._handle_close()
        else:
            self.abort_after_write = True
        return 0

    cdef int _close_iterable(self, object body) except -1:
        if body is not None and not isinstance(body, (bytes, str)):
            close = getattr(body, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    log.exception("close() of the response iterable failed")
        return 0

    cdef int _log_access(self, HttpRequest req, int status, long long size,
                         object response) except -1:
        """One access line for ``req`` (callers check ``cfg.log_on``).  Static
        records still queued in this loop's ring go first, so the lines of
        one loop keep their order."""
        cdef object access = self.cfg.access_logger
        if access is None:
            return 0
        if self.lstate.ring != NULL:
            self.lstate._drain()    # this loop's earlier static lines first
        try:
            access.log_request(req, status, size, response, monotonic() - req.start_time,
                               _peer_host(self.peer_address))
        except Exception:
            log.exception("the access log failed for %s %s", req.method, req.target)
        return 0

    cdef int _log_stream_end(self) except -1:
        cdef tuple sr = self.stream_request
        if sr is not None:
            self._log_access(sr[0], sr[2], self.body_sent, sr[4])
        return 0

    cdef int _log_error(self, int status, long long sent, object info) except -1:
        """The access line of a request answered with an error status: ``info``
        is its HttpRequest, (method, target, version) or None."""
        cdef object access = self.cfg.access_logger
        if access is None:
            return 0
        if isinstance(info, HttpRequest):
            self._log_access(<HttpRequest>info, status, sent, None)
            return 0
        if self.lstate.ring != NULL:
            self.lstate._drain()
        try:
            if info is None:
                access.log_rejected(_peer_host(self.peer_address), None, None, None, status,
                                    sent, 0.0)
            else:
                access.log_rejected(_peer_host(self.peer_address), info[0], info[1], info[2],
                                    status, sent, 0.0)
        except Exception:
            log.exception("the access log failed for a %d answer", status)
        return 0

    cdef int _send_error(self, int status, str detail, object info=None) except -1:
        cdef bytes body = (("%d %s\n" % (status, REASONS.get(status, "Error")))
                           + (detail + "\n" if detail else "")).encode("latin-1", "replace")
        cdef bytes head = b"".join([
            status_line(status),
            b"Server: " + (self.cfg.server_header or b"reactor") + b"\r\n",
            b"Date: " + http_date_c()[:29] + b"\r\n",
            b"Content-Type: text/plain; charset=utf-8\r\n",
            b"Content-Length: %d\r\n" % len(body),
            CONN_CLOSE, CRLF]) + body
        cdef size_t mark = self.output_buffer.readable()
        self.output_buffer.oom = False
        self.output_buffer.append_nogil(PyBytes_AS_STRING(head), PyBytes_GET_SIZE(head))
        if self.output_buffer.oom:
            self.output_buffer.truncate_nogil(mark)
            self.output_buffer.oom = False
        self._drop_spools()
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s: %d %s", self.peer_address, status, detail)
        if self.cfg.log_on:
            self._log_error(status, len(body), info)
        self.input_buffer.retrieve_nogil(self.input_buffer.readable())
        self.close_after_write = True
        self.hstate = H_CLOSING
        _arm_deadline(self, self._eloop.cached_now + LINGER_TIME)
        self._flush()
        return 0

    cdef int _flush(self) except -1:
        cdef int err = 0
        cdef ssize_t n
        cdef Buffer out = self.output_buffer
        if self._conn_state == S_DISCONNECTED:
            return 0
        if out.readable() and not self._writing():
            with nogil:
                # writes this connection's output buffer; the loop thread owns both
                n = self.io_write(&err)
            if n < 0 and err != 11:     # EAGAIN
                self._handle_close()
                return 0
            if out.readable():
                self._events |= 2       # EV_WRITE: finish when the socket drains
                self._eloop.update_channel_c(self)
                if self.deadline == 0:
                    self._arm_send_timeout()    # never wait forever for a reader
                return 0
        if out.readable() == 0 and not self._writing():
            if self.abort_after_write:
                self._handle_close()
            elif self.close_after_write and self.hstate == H_CLOSING:
                self._begin_linger()
        return 0

    cdef int _begin_linger(self) except -1:
        # response fully sent on a closing connection: half-close and wait for EOF
        if self._conn_state == S_DISCONNECTED or self.lingering:
            return 0
        self.lingering = True
        self.io_shutdown()
        self.input_buffer.retrieve_nogil(self.input_buffer.readable())
        _arm_deadline(self, monotonic() + LINGER_TIME)
        if not self._events & 1:
            self._set_reading(True)
        return 0

    cdef int _arm_send_timeout(self) except -1:
        # a streamed response waits for the client to read: it must make
        # progress within body_timeout (nginx's send_timeout), else it is cut
        self.out_mark = self._unsent()
        _arm_deadline(self, monotonic() + self.cfg.body_timeout)
        return 0

    cdef size_t _unsent(self) noexcept:
        """Bytes of the response the client has not taken yet: queued here,
        left of a file, and still in the kernel's send queue.  The last part
        is what shows a slow reader's progress while a large send buffer
        drains (writability, and so our own count, moves only once a third
        of it is free)."""
        cdef int queued = 0
        if self._fd_open and ioctl(self.fd, SIOCOUTQ, &queued) != 0:
            queued = 0
        return self.output_buffer.readable() + <size_t>self.sf_left + <size_t>queued

    cdef bint _read_before_timeout(self) except -1:
        """Before closing for idleness or answering 408, read what the kernel
        holds: after the process was paused (SIGSTOP, a long GC, a busy
        handler) the sweeper may run before the loop sees the socket
        readable, and closing with unread data would reset the connection and
        lose a request the client did send in time.  True if bytes arrived
        (they were handled) or the connection closed."""
        cdef int err = 0
        cdef ssize_t n
        if self.lingering or self.paused or not (self._events & 1) or \
                not (self.hstate == H_HEAD or self.hstate == H_BODY_LENGTH or
                     self.hstate == H_BODY_CHUNKED):
            return False
        with nogil:
            # reads into this connection's input buffer; the loop thread owns both
            n = self.io_read(&err)
        if n > 0:
            self._on_message()
            return True
        if n < 0 and (err == EAGAIN or err == EINPROGRESS):
            return False
        self._handle_close()        # EOF or an error
        return True

    cdef object _partial_request(self):
        """For the access line of a 408: the request whose body was late, or
        the request line of a head that did not complete, or None."""
        cdef rh_request req
        cdef rh_header hdrs[MAX_HEADER_CAP]
        if self.hstate != H_HEAD:
            return self.pending_request
        req.headers = hdrs
        req.num_headers = MAX_HEADER_CAP
        req.method = NULL
        req.target = NULL
        req.version_minor = -1
        rh_parse_request(self.input_buffer.peek_ptr(), self.input_buffer.readable(), &req,
                         &self.cfg.limits)
        return _line_info(&req)

    def _on_timeout(self):
        """The deadline passed: 408 for a half-received request, else close."""
        cdef size_t pending = self.output_buffer.readable(), unsent
        cdef double before = self.deadline
        if self._conn_state == S_DISCONNECTED:
            return
        if self._read_before_timeout():
            if self._conn_state == S_DISCONNECTED or self.deadline != before:
                return          # served, or the new bytes moved the deadline
            if self.hstate == H_HEAD and self.input_buffer.readable() == 0:
                return          # a whole request was answered

        if self.hstate == H_STREAM or self.hstate == H_FILE or (
                self.hstate == H_CLOSING and not self.lingering
                                       and pending + <size_t>self.sf_left):
            if self._unsent() != self.out_mark:
                self._arm_send_timeout()        # the client took bytes: keep going
            else:
                log.info("closing %s: the client read nothing of the response for %.1fs",
                         self.peer_address, self.cfg.body_timeout)
                self._handle_close()
            return
        if pending and self.hstate == H_HEAD and not self.lingering:
            # a response is still going out, so the connection is not idle: wait
            # while the client reads, close if it read nothing for a whole timeout
            unsent = self._unsent()
            if unsent != self.out_mark:
                self.out_mark = unsent
                _arm_deadline(self, monotonic() + self.cfg.keep_alive_timeout)
            else:
                self._handle_close()
            return
        if self.hstate == H_HEAD and self.input_buffer.readable() == 0:
            self._handle_close()            # idle keep-alive connection
        elif (self.hstate == H_HEAD or self.hstate == H_BODY_LENGTH or
              self.hstate == H_BODY_CHUNKED) and not self.lingering:
            self._send_error(408, "timed out waiting for the request",
                             self._partial_request() if self.cfg.log_on else None)
        else:
            self._handle_close()
