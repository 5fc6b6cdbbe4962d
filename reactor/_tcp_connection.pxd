# TcpConnection: one accepted TCP socket on one loop; owns its fd and buffers.
from reactor._buffer cimport Buffer
from reactor._channel cimport Channel
from reactor._event_loop cimport EventLoop
from reactor.includes.tls cimport rh_tls, rh_tls_ctx
from libc.stdint cimport uint64_t
from posix.types cimport off_t

cdef enum:
    S_CONNECTING = 0
    S_CONNECTED = 1
    S_DISCONNECTING = 2
    S_DISCONNECTED = 3

cdef class TcpConnection(Channel):
    cdef EventLoop _eloop
    cdef readonly Buffer input_buffer
    cdef readonly Buffer output_buffer
    cdef int _conn_state
    cdef bint _fd_open
    cdef bint _in_handler            # inside one of our own handlers
    cdef readonly object peer_address
    cdef readonly object id
    cdef public object connection_callback
    cdef public object message_callback
    cdef public object write_complete_callback
    cdef public object high_water_mark_callback
    cdef public object remove_callback    # the server's bookkeeping hook
    cdef public size_t high_water_mark
    cdef public object context
    cdef object __weakref__

    cdef int _handle_read(self) except -1
    cdef int _handle_write(self) except -1
    cdef int _handle_close(self) except -1
    cdef bint _close_after_drain     # peer half-closed: close once output drains
    cdef int _on_peer_closed(self) except -1      # hook: the peer sent FIN
    cdef int _on_message(self) except -1          # hook: subclasses parse here
    cdef int _on_write_drained(self) except -1    # hook: output buffer became empty
    cdef int _send_in_loop(self, const char *p, size_t n) except -1
    cdef int _shutdown_in_loop(self) except -1
    cdef int _set_reading(self, bint on) except -1
    # TLS (csrc/tls.c): the session, or NULL for plaintext.  Every read,
    # write and half-close of the socket goes through io_*, which speak TLS
    # when there is a session; io_read also drives the handshake.
    cdef rh_tls *tls
    cdef int start_tls(self, rh_tls_ctx *ctx) except -1
    cdef ssize_t io_read(self, int *err) noexcept nogil    # into input_buffer: >0, 0 EOF, -1
    cdef ssize_t io_write(self, int *err) noexcept nogil   # from output_buffer, once
    cdef int io_tls_sendfile(self, int in_fd, off_t *off, uint64_t *left, uint64_t *sent,
                             int *err) noexcept nogil
    cdef void io_shutdown(self) noexcept nogil             # close_notify, then SHUT_WR
    cdef void _tls_established(self) noexcept nogil        # hook: the handshake completed
    cdef int _tls_read_waits_to_write(self) except -1
    cdef bint tls_pending(self) noexcept nogil             # OpenSSL holds bytes not read yet
    cdef bint tls_read_waits(self) noexcept nogil          # a TLS read must write first
    cdef inline bint _writing(self):
        return self._events & 2 != 0
