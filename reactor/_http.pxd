# The HTTP/1.1 connection: parsing, framing, keep-alive, pipelining, static routes.
from libc.stdint cimport uint64_t
from reactor.includes.http_parser cimport rh_limits, rh_chunked
from reactor._buffer cimport Buffer
from reactor._tcp_connection cimport TcpConnection

cdef struct StaticRoute:
    char *path
    size_t path_len
    char *head          # status line + fixed headers, without Date / Connection / final CRLF
    size_t head_len
    char *body
    size_t body_len

cdef struct RouteTable:
    int n
    StaticRoute *routes     # right after this struct, in the same block

cdef class HttpConfig:
    cdef rh_limits limits
    cdef public object handler
    cdef public double keep_alive_timeout
    cdef public double header_timeout
    cdef public double body_timeout
    cdef public size_t output_high_water
    cdef public bint access_log
    cdef public bint stopping           # graceful stop: answer with Connection: close
    cdef public object server_header    # bytes
    cdef public object on_error         # callable(exc, request) -> None, for logging
    cdef RouteTable *table           # published with a release store (copy-on-write)
    cdef list _retired               # old tables and replaced strings, freed with the config
    cdef bint has_routes(self) noexcept nogil
    cdef const StaticRoute *find_route(self, const char *path, size_t n) noexcept nogil

cdef class LoopState:
    cdef public object loop
    cdef public set connections
    cdef public unsigned long long requests
    cdef public unsigned long long accepted
    cdef public unsigned long long static_requests
    cdef public object sweeper
    cdef public object current_request  # the request whose handler runs now, or None
    cdef public double current_since    # when that handler started (monotonic)

cdef class HttpRequest:
    cdef readonly str method
    cdef readonly str target
    cdef readonly str path
    cdef readonly str query
    cdef readonly str version
    cdef readonly bint keep_alive
    cdef readonly bint expect_continue
    cdef readonly object remote_addr
    cdef public bytes body
    cdef public object context
    cdef readonly double start_time
    cdef bytes _head
    cdef object _headers
    cdef public object connection

cdef class HttpConnection(TcpConnection):
    cdef HttpConfig cfg
    cdef LoopState lstate
    cdef int hstate
    cdef double deadline
    cdef bint close_after_write
    cdef bint paused
    cdef bint in_process
    cdef uint64_t body_remaining
    cdef object pending_request
    cdef Buffer body_buf
    cdef rh_chunked chunked
    cdef object stream               # iterator being pumped
    cdef object stream_request
    cdef bint stream_chunked
    cdef long long stream_left       # declared Content-Length left, -1 if none
    cdef public unsigned long long requests
    cdef bint _idle_flag             # the deadline in force is the keep-alive one
    cdef bint abort_after_write
    cdef bint lingering
    cdef bint peer_closed            # the client half-closed; finish, then close
    cdef size_t out_mark             # output bytes pending at the last timeout check
    cdef int _abort_stream(self, object body) except -1
    cdef int _close_iterable(self, object body) except -1
    cdef int _log_access(self, HttpRequest req, int status, long long size) except -1
    cdef int _begin_linger(self) except -1
    cdef int sf_fd                   # file being sent with sendfile, -1 if none
    cdef long long sf_offset
    cdef long long sf_left
    cdef bint sf_short               # declared length longer than the file
    cdef int _pump_sendfile(self) except -1
    cdef int _arm_send_timeout(self) except -1
    cdef int _write_response(self, HttpRequest req, object result) except -1
    cdef int _append_head(self, int status, object headers, int flags, object ctype) except -1
    cdef int _append_end(self, bint keep_alive, bint http10) except -1
    cdef int _process(self) except -1
    cdef int _flush(self) except -1
    cdef int _send_error(self, int status, str detail) except -1
    cdef int _serve_static(self, const StaticRoute *r, bint head_only, bint keep_alive,
                           bint http10) except -1
    cdef int _start_body(self, object request, int body_kind, uint64_t length, bint expect) except -1
    cdef int _dispatch(self, object request) except -1
    cdef int _pump_stream(self) except -1
    cdef int _finish_request(self, bint keep_alive) except -1
