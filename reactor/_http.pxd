# The HTTP/1.1 connection: parsing, framing, keep-alive, pipelining, static routes.
from libc.stdint cimport uint64_t
from reactor.includes.http_parser cimport rh_limits, rh_chunked
from reactor._buffer cimport Buffer
from reactor._tcp_connection cimport TcpConnection
from reactor._http_request cimport HttpRequest
from reactor._http_config cimport HttpConfig, StaticRoute

cdef class LoopState:
    cdef public object loop
    cdef public set connections
    cdef public unsigned long long requests
    cdef public unsigned long long accepted
    cdef public unsigned long long static_requests
    cdef public object sweeper
    cdef public object current_request  # the request whose handler runs now, or None
    cdef public double current_since    # when that handler started (monotonic)

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
    cdef int _frame_failed(self, size_t mark, bint answer_500, object body) except -1
    cdef int _send_continue(self) except -1
    cdef bint _read_before_timeout(self) except -1
    cdef double body_start            # when the request body began (monotonic)
    cdef double _body_progress_deadline(self, size_t received)
    cdef int _finish_request(self, bint keep_alive) except -1
