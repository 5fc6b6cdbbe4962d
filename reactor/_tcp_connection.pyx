"""TcpConnection: one accepted TCP socket, owned by one sub-reactor loop.

Owns its fd (closed when the connection closes) and two Buffers.  The seed's
four callbacks: ``connection_callback(conn)`` when established,
``message_callback(conn, buffer)`` when bytes arrive,
``write_complete_callback(conn)`` when the output buffer drains, and
``close_callback(conn)`` when the connection is gone.  Compiled subclasses
(the HTTP connection) override the ``_on_message`` hook instead.

``send``, ``shutdown``, ``force_close`` and ``start_reading``/``stop_reading``
are thread safe: from another thread they are queued into the loop.  Reads
and writes release the GIL; writes use MSG_NOSIGNAL (no SIGPIPE).
"""
import logging
import os
from functools import partial

from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE
from libc.string cimport memset
from reactor.includes.posix_extra cimport (
    send as c_send, MSG_NOSIGNAL, errno, EAGAIN, EINTR, close as c_close,
    accept4, shutdown as c_shutdown, SHUT_WR, setsockopt, IPPROTO_TCP, TCP_NODELAY,
    sockaddr, sockaddr_storage, sockaddr_in, sockaddr_in6, socklen_t, AF_INET, AF_INET6,
    SOCK_NONBLOCK, SOCK_CLOEXEC, inet_ntop, ntohs, INET6_ADDRSTRLEN, getsockname)
from reactor._buffer cimport Buffer
from reactor._channel cimport Channel, EV_READ, EV_WRITE, FAST_SLOW, FAST_DONE, FAST_PROCESS
from reactor._event_loop cimport EventLoop

from reactor.includes.config cimport REACTOR_DEBUG
from reactor.includes.tls cimport (
    rh_tls_new, rh_tls_free, rh_tls_read, rh_tls_write, rh_tls_sendfile, rh_tls_pending,
    rh_tls_wants_write, rh_tls_take_established, rh_tls_close_notify, rh_tls_error)

cdef extern from "<errno.h>":
    enum:
        ENOBUFS
        ENOMEM
        EINPROGRESS

# TLS plaintext lands in the input buffer this many bytes at a time (a record's worth)
cdef size_t TLS_READ_ROOM = 16 * 1024 + 64

log = logging.getLogger("reactor.tcp")

# The fd hand-off.  An accepted fd is owned by exactly one object at a time:
# the acceptor until a connection object exists, then that connection (which
# closes it when it closes or is freed).  The acceptor *offers* the fd in a
# per-thread slot before it calls the code that builds the connection; the
# first TcpConnection allocated for that fd in this thread *claims* it, in
# __cinit__, before any __init__ runs.  If building fails, the acceptor closes
# the fd only when nothing claimed it, so a fd is never closed twice (a second
# close could hit another thread's newly opened fd).
cdef extern from *:
    """
    static __thread int rh_offered_fd = -1;
    """
    int rh_offered_fd


def offer_fd(int fd):
    """Offer ``fd`` to the next TcpConnection built for it in this thread."""
    global rh_offered_fd
    rh_offered_fd = fd


def withdraw_fd(int fd):
    """End an offer: True if no connection claimed ``fd`` (the caller still
    owns it and must close it), False if a connection did."""
    global rh_offered_fd
    cdef bint unclaimed = rh_offered_fd == fd
    rh_offered_fd = -1
    return unclaimed

cdef size_t DEFAULT_HIGH_WATER_MARK = 64 * 1024 * 1024
cdef unsigned long long _next_id = 0


cdef object _sockaddr_to_tuple(sockaddr *sa):
    cdef char text[64]
    if sa.sa_family == AF_INET:
        inet_ntop(AF_INET, &(<sockaddr_in *>sa).sin_addr, text, sizeof(text))
        return (text.decode("ascii"), ntohs((<sockaddr_in *>sa).sin_port))
    if sa.sa_family == AF_INET6:
        inet_ntop(AF_INET6, &(<sockaddr_in6 *>sa).sin6_addr, text, sizeof(text))
        return (text.decode("ascii"), ntohs((<sockaddr_in6 *>sa).sin6_port))
    return ("", 0)


def accept_connection(int listen_fd, bint nodelay=True):
    """accept4(NONBLOCK|CLOEXEC) one connection: ``(fd, (host, port))``.

    Raises BlockingIOError when none is pending and OSError otherwise
    (EMFILE included: the caller decides what to do).
    """
    cdef sockaddr_storage ss
    cdef socklen_t slen = sizeof(ss)
    cdef int fd, one = 1, err = 0
    if listen_fd < 0:
        raise ValueError("invalid file descriptor: %d" % listen_fd)
    memset(&ss, 0, sizeof(ss))
    with nogil:
        # accept on the listening socket owned by the acceptor's loop thread
        while True:
            fd = accept4(listen_fd, <sockaddr *>&ss, &slen, SOCK_NONBLOCK | SOCK_CLOEXEC)
            if fd >= 0 or errno != EINTR:
                break
        if fd < 0:
            err = errno
    if fd < 0:
        raise OSError(err, "accept4: " + os.strerror(err))
    if nodelay:
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one))
    return fd, _sockaddr_to_tuple(<sockaddr *>&ss)


cdef class TcpConnection(Channel):
    """A connected TCP socket on one loop (see the module docstring)."""

    def __cinit__(self, *args, **kwargs):
        # claim the fd offered by the acceptor (see offer_fd): from here on
        # this object alone closes it, even if __init__ fails below
        global rh_offered_fd
        fd = args[1] if len(args) > 1 else kwargs.get("fd")
        if type(fd) is int and fd >= 0 and <int>fd == rh_offered_fd:
            rh_offered_fd = -1
            self.fd = fd
            self._fd_open = True

    def __init__(self, EventLoop loop not None, int fd, peer_address=None):
        global _next_id
        if self._fd_open and fd != self.fd:
            raise ValueError("TcpConnection claimed fd %d but was initialised with fd %d"
                             % (self.fd, fd))
        Channel.__init__(self, loop, fd)
        self._fd_open = True        # owned from here on (or from __cinit__)
        self._eloop = loop
        # buffers start empty (no heap block): an idle connection costs little;
        # reads land in the 64 KiB stack spill and the buffer grows to fit
        self.input_buffer = Buffer(0)
        self.output_buffer = Buffer(0)
        self._conn_state = S_CONNECTING
        self._in_handler = False
        self.peer_address = peer_address
        _next_id += 1
        self.id = _next_id
        self.high_water_mark = DEFAULT_HIGH_WATER_MARK
        # the loop may read for us without the GIL unless a Python subclass
        # overrides handle_event (then every event goes through it)
        self.fast_ok = getattr(type(self), "handle_event") is _TCP_HANDLE_EVENT

    def __dealloc__(self):
        if self._fd_open:
            c_close(self.fd)
            self._fd_open = False
        rh_tls_free(self.tls)
        self.tls = NULL

    # ---- socket I/O, plaintext or TLS ------------------------------------------------

    cdef int start_tls(self, rh_tls_ctx *ctx) except -1:
        """Serve this connection over TLS (server side), from its first byte."""
        if self.tls != NULL:
            raise RuntimeError("TLS already started on %r" % self)
        self.tls = rh_tls_new(ctx, self.fd)
        if self.tls == NULL:
            raise MemoryError("no memory for a TLS session")
        return 0

    cdef ssize_t io_read(self, int *err) noexcept nogil:
        """Read what the socket has into the input buffer: bytes read, 0 at
        EOF, -1 with *err (EAGAIN: nothing yet; EINPROGRESS: TLS must write
        before it can read on, so wait for writability).  Over TLS this
        drains every record OpenSSL already holds: the socket may be quiet
        while plaintext waits there, and epoll would never say so."""
        cdef ssize_t n, total = 0
        if self.tls == NULL:
            return self.input_buffer.read_fd_nogil(self.fd, err)
        while True:
            if self.input_buffer._exports == 0:
                if self.input_buffer.ensure_writable(TLS_READ_ROOM) != 0:
                    err[0] = ENOMEM
                    return total if total else -1
            elif self.input_buffer.writable() == 0:
                err[0] = ENOBUFS
                return total if total else -1
            n = rh_tls_read(self.tls, self.input_buffer.begin_write(), self.input_buffer.writable(), err)
            if rh_tls_take_established(self.tls):
                self._tls_established()
            if n <= 0:
                if n < 0 and err[0] == EAGAIN and rh_tls_wants_write(self.tls):
                    err[0] = EINPROGRESS
                if total:
                    return total        # the EOF or the error again on the next read
                return n
            self.input_buffer.has_written(<size_t>n)
            total += n
            if not rh_tls_pending(self.tls):
                return total

    cdef ssize_t io_write(self, int *err) noexcept nogil:
        """Write readable bytes of the output buffer (as TLS records over
        TLS) and retrieve what went out: bytes written or -1 with *err."""
        cdef ssize_t n
        if self.tls == NULL:
            return self.output_buffer.write_fd_nogil(self.fd, err)
        if self.output_buffer.readable() == 0:
            return 0
        n = rh_tls_write(self.tls, self.output_buffer.peek_ptr(), self.output_buffer.readable(), err)
        if n > 0:
            self.output_buffer.retrieve_nogil(<size_t>n)
        return n

    cdef int io_tls_sendfile(self, int in_fd, off_t *off, uint64_t *left, uint64_t *sent,
                             int *err) noexcept nogil:
        """rh_sendfile_all over TLS: read the file, write records."""
        return rh_tls_sendfile(self.tls, in_fd, off, left, sent, err)

    cdef void io_shutdown(self) noexcept nogil:
        if not self._fd_open:
            return
        if self.tls != NULL:
            rh_tls_close_notify(self.tls)
        c_shutdown(self.fd, SHUT_WR)

    cdef void _tls_established(self) noexcept nogil:
        pass

    cdef bint tls_pending(self) noexcept nogil:
        return self.tls != NULL and rh_tls_pending(self.tls)

    cdef bint tls_read_waits(self) noexcept nogil:
        return self.tls != NULL and rh_tls_wants_write(self.tls)

    # ---- state -------------------------------------------------------------

    @property
    def connected(self):
        return self._conn_state == S_CONNECTED

    @property
    def disconnected(self):
        return self._conn_state == S_DISCONNECTED

    @property
    def state(self):
        return ("connecting", "connected", "disconnecting", "disconnected")[self._conn_state]

    @property
    def loop(self):
        return self._eloop

    @property
    def local_address(self):
        cdef sockaddr_storage ss
        cdef socklen_t slen = sizeof(ss)
        if not self._fd_open or getsockname(self.fd, <sockaddr *>&ss, &slen) < 0:
            return None
        return _sockaddr_to_tuple(<sockaddr *>&ss)

    def fileno(self):
        return self.fd if self._fd_open else -1

    def connect_established(self):
        """Start reading and run the connection callback.  Loop thread only."""
        if self._conn_state != S_CONNECTING:
            raise RuntimeError("connect_established() on a %s connection" % self.state)
        self._conn_state = S_CONNECTED
        self._events |= EV_READ
        self._eloop.update_channel_c(self)
        if self.connection_callback is not None:
            try:
                self.connection_callback(self)
            except Exception:
                # the connection is registered and owns its fd: report the
                # error (as a queued functor would) and keep serving it
                log.exception("connection callback failed for %r", self)

    # ---- events ------------------------------------------------------------

    cpdef handle_event(self, int revents):
        self._in_handler = True
        try:
            if revents & EV_READ:
                self._handle_read()
            if revents & EV_WRITE and self._conn_state != S_DISCONNECTED:
                self._handle_write()
        finally:
            self._in_handler = False

    cdef int fast_event(self, int revents) noexcept nogil:
        # runs in the loop thread without the GIL: only C fields and buffers
        cdef int err = 0
        cdef ssize_t n
        if revents != EV_READ or self._conn_state != S_CONNECTED:
            return FAST_SLOW
        n = self.io_read(&err)
        if n > 0:
            return FAST_PROCESS
        if n < 0 and err == EAGAIN:
            return FAST_DONE
        return FAST_SLOW        # EOF or an error: handle_event reads it again and closes

    cdef int after_fast(self) except -1:
        self._in_handler = True
        try:
            self._on_message()
            self._tls_read_waits_to_write()
        finally:
            self._in_handler = False
        return 0

    cdef int _tls_read_waits_to_write(self) except -1:
        """TLS has to write (a handshake message, a key update) before a read
        can go on: wait for writability, where _handle_write reads again."""
        if self.tls != NULL and rh_tls_wants_write(self.tls) and not self._writing() and \
                self._conn_state != S_DISCONNECTED and self._events & EV_READ:
            self._events |= EV_WRITE
            self._eloop.update_channel_c(self)
        return 0

    cdef int _handle_read(self) except -1:
        cdef int err = 0
        cdef ssize_t n
        if self._conn_state == S_DISCONNECTED:
            return 0
        with nogil:
            # reads into this connection's input buffer; the loop thread owns both
            n = self.io_read(&err)
        if n > 0:
            self._on_message()
            self._tls_read_waits_to_write()
        elif n == 0:
            self._on_peer_closed()
        elif err == EINPROGRESS:
            self._tls_read_waits_to_write()
        elif err != EAGAIN:
            if log.isEnabledFor(logging.DEBUG):
                log.debug("read error on %r: %s", self,
                          rh_tls_error(self.tls).decode("utf-8", "replace")
                          if self.tls != NULL and rh_tls_error(self.tls)[0] else os.strerror(err))
            self._handle_close()
        return 0

    cdef int _on_peer_closed(self) except -1:
        """The peer sent FIN.  Output still queued is delivered (the peer may
        only have half-closed) and the connection closes once it drains; a
        second EOF/HUP, or nothing queued, closes at once."""
        if (self._conn_state == S_CONNECTED or self._conn_state == S_DISCONNECTING) and \
                self.output_buffer.readable() and not self._close_after_drain:
            self._conn_state = S_DISCONNECTING
            self._close_after_drain = True
            self._events &= ~EV_READ
            self._eloop.update_channel_c(self)
        else:
            self._handle_close()
        return 0

    cdef int _on_message(self) except -1:
        if self.message_callback is not None:
            self.message_callback(self, self.input_buffer)
        else:
            self.input_buffer.retrieve_nogil(self.input_buffer.readable())
        return 0

    cdef int _handle_write(self) except -1:
        cdef int err = 0
        cdef ssize_t n
        if not self._writing():
            return 0
        if self.tls != NULL and rh_tls_wants_write(self.tls) and self._events & EV_READ:
            self._handle_read()         # a TLS read waited to write before going on
            if self._conn_state == S_DISCONNECTED:
                return 0
        with nogil:
            # writes from this connection's output buffer; the loop thread owns both
            n = self.io_write(&err)
        if n < 0:
            if err != EAGAIN:
                self._handle_close()
            return 0
        if self.output_buffer.readable() == 0:
            if self.tls == NULL or not rh_tls_wants_write(self.tls) or \
                    not self._events & EV_READ:
                self._events &= ~EV_WRITE
                self._eloop.update_channel_c(self)
            if self._close_after_drain:
                self._handle_close()
                return 0
            self._on_write_drained()
        return 0

    cdef int _on_write_drained(self) except -1:
        if self.write_complete_callback is not None:
            self.write_complete_callback(self)
        if self._conn_state == S_DISCONNECTING:
            self._shutdown_in_loop()
        return 0

    cdef int _handle_close(self) except -1:
        if self._conn_state == S_DISCONNECTED:
            return 0
        self._conn_state = S_DISCONNECTED
        self._events = 0
        self._eloop.remove_channel_c(self)
        try:
            if self.close_callback is not None:
                self.close_callback(self)
        finally:
            if self._fd_open:
                self._fd_open = False
                if self.tls != NULL:
                    rh_tls_close_notify(self.tls)   # once, if it can go out now
                c_close(self.fd)
            rh_tls_free(self.tls)
            self.tls = NULL
            cb = self.remove_callback
            self.remove_callback = None
            if cb is not None:
                cb(self)
        return 0

    # ---- sending -------------------------------------------------------------

    cdef int _send_in_loop(self, const char *p, size_t n) except -1:
        cdef ssize_t nw = 0
        cdef size_t remaining = n, old
        cdef int err = 0
        if self._conn_state == S_DISCONNECTED:
            return 0
        if not self._writing() and self.output_buffer.readable() == 0:
            with nogil:
                # writes the caller's bytes straight to this connection's socket
                if self.tls != NULL:
                    # the rest is queued: a record OpenSSL began is retried from it
                    nw = rh_tls_write(self.tls, p, n, &err)
                else:
                    while True:
                        nw = c_send(self.fd, p, n, MSG_NOSIGNAL)
                        if nw >= 0 or errno != EINTR:
                            break
                    if nw < 0:
                        err = errno
            if nw >= 0:
                remaining = n - nw
                if remaining == 0:
                    if self.write_complete_callback is not None:
                        self._eloop.queue_in_loop(partial(self.write_complete_callback, self))
                    return 0
            else:
                nw = 0
                if err != EAGAIN:
                    # EPIPE / ECONNRESET: the peer is gone; close on the next turn
                    if not self._in_handler:
                        self._handle_close()
                    else:
                        self._eloop.queue_in_loop(self.force_close)
                    return 0
        old = self.output_buffer.readable()
        if (old + remaining >= self.high_water_mark and old < self.high_water_mark
                and self.high_water_mark_callback is not None):
            self.high_water_mark_callback(self, old + remaining)
            if self._conn_state == S_DISCONNECTED:
                return 0    # the callback closed us: nothing to queue, nothing to register
        if self.output_buffer.append_nogil(p + nw, remaining) != 0:
            self.output_buffer.oom = False
            raise MemoryError("cannot queue %d bytes on %r" % (remaining, self))
        if not self._writing():
            self._events |= EV_WRITE
            self._eloop.update_channel_c(self)
        return 0

    def send(self, data):
        """Send bytes-like data; from another thread it is copied and queued.

        Returns False (and sends nothing) once the connection is closing.
        Thread safe.
        """
        cdef Py_buffer view
        if self._conn_state != S_CONNECTED:
            return False
        if isinstance(data, str):
            data = (<str>data).encode("utf-8")
        elif not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("send() needs bytes-like data or str, not %s" % type(data).__name__)
        if self._eloop.in_loop_thread():
            PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
            try:
                self._send_in_loop(<const char *>view.buf, view.len)
            finally:
                PyBuffer_Release(&view)
        else:
            self._eloop.queue_in_loop(_Send(self, bytes(data)))
        return True

    def send_buffer(self, Buffer buf not None):
        """Send and consume every readable byte of ``buf``.  Loop thread only."""
        if REACTOR_DEBUG:
            self._eloop._check_thread("send_buffer")
        if self._conn_state != S_CONNECTED:
            return False
        self._send_in_loop(buf.peek_ptr(), buf.readable())
        buf.retrieve_nogil(buf.readable())
        return True

    cdef int _shutdown_in_loop(self) except -1:
        if not self._writing() and self._fd_open:
            self.io_shutdown()
        return 0

    def shutdown(self):
        """Half-close (SHUT_WR) once pending output drains.  Thread safe."""
        if self._conn_state == S_CONNECTED:
            self._conn_state = S_DISCONNECTING
            self._eloop.run_in_loop(self._shutdown_py)

    def _shutdown_py(self):
        self._shutdown_in_loop()

    def force_close(self):
        """Close now, dropping unsent output.  Thread safe; idempotent."""
        if self._conn_state == S_CONNECTED or self._conn_state == S_DISCONNECTING or \
                self._conn_state == S_CONNECTING:
            if self._eloop.in_loop_thread() and not self._in_handler:
                self._handle_close()
            else:
                try:
                    self._eloop.queue_in_loop(self._force_close_py)
                except RuntimeError:
                    pass    # the loop is closed: __dealloc__ closes the fd

    close = force_close

    def _force_close_py(self):
        self._handle_close()

    cdef int _set_reading(self, bint on) except -1:
        if self._conn_state == S_DISCONNECTED:
            return 0
        if on:
            self._events |= EV_READ
        else:
            self._events &= ~EV_READ
        self._eloop.update_channel_c(self)
        return 0

    def start_reading(self):
        """Resume reading (backpressure off).  Thread safe."""
        self._eloop.run_in_loop(lambda: self._set_reading(True))

    def stop_reading(self):
        """Pause reading (backpressure on).  Thread safe."""
        self._eloop.run_in_loop(lambda: self._set_reading(False))

    def __repr__(self):
        return "<%s id=%s fd=%d peer=%r %s>" % (
            type(self).__name__, self.id, self.fd, self.peer_address, self.state)


_TCP_HANDLE_EVENT = getattr(TcpConnection, "handle_event")


cdef class _Send:
    """A queued cross-thread send: the bytes and the connection."""
    cdef TcpConnection conn
    cdef bytes data

    def __cinit__(self, TcpConnection conn, bytes data):
        self.conn = conn
        self.data = data

    def __call__(self):
        if self.conn._conn_state == S_CONNECTED or self.conn._conn_state == S_DISCONNECTING:
            self.conn._send_in_loop(<const char *>self.data, len(self.data))
