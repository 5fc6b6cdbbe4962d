# The HTTP/1.1 connection: parsing, framing, keep-alive, pipelining, static routes.
from libc.stdint cimport uint64_t
from posix.types cimport off_t
from reactor.includes.http_parser cimport rh_limits, rh_chunked, rh_request
from reactor._buffer cimport Buffer
from reactor._tcp_connection cimport TcpConnection
from reactor._http_request cimport HttpRequest
from reactor._wsgi cimport StartResponse
from reactor._http_config cimport HttpConfig, StaticRoute, LOG_HDRS
from reactor._sync cimport Mutex, Cond
from cpython.ref cimport PyObject
from reactor.includes.static_files cimport rh_fcache, rh_fentry, rh_freply

cdef enum:
    LOG_PEER = 48       # the client address of a record, NUL-terminated
    LOG_TEXT = 320      # method, target and captured header values of a record
    LOG_TARGET = 224    # at most this much of the target is kept
    LOG_METHOD = 16

# One static-route access-log record: written without the GIL by the loop
# that answered the request, into that loop's ring; rendered later, with the
# GIL, by the same loop (``LoopState.flush_access``).  Fixed size, no pointers.
cdef struct AccessRecord:
    double wall                     # CLOCK_REALTIME seconds when answered
    double duration                 # seconds from the read to the answer
    unsigned long long sent         # body bytes
    int status
    int version_minor
    unsigned short method_len       # text[0:method_len]
    unsigned short target_len       # then the target
    unsigned short hdr_len[LOG_HDRS]    # then each captured header value; 0xffff: absent
    unsigned int truncated          # bit 0: target cut; bit 1 + i: header i cut
    char peer[LOG_PEER]
    char text[LOG_TEXT]

cdef class AccessFlusher:
    cdef Mutex mutex
    cdef Cond cond
    cdef bint stopping                  # under mutex
    cdef bint kicked                    # under mutex: a ring is half full
    cdef list states                    # the LoopStates it drains (owns them)
    cdef PyObject **arr                 # the same, borrowed, for the GIL-free look (under mutex)
    cdef int n
    cdef double interval
    cdef object thread
    cdef void kick_nogil(self) noexcept nogil
    cdef bint _pending_nogil(self) noexcept nogil

cdef class LoopState:
    cdef public object loop
    cdef public set connections
    cdef public unsigned long long requests
    cdef public unsigned long long accepted
    cdef public unsigned long long static_requests
    cdef public object sweeper
    cdef double earliest                # no connection's deadline comes before (the sweeper's gate)
    cdef public object current_request  # the request whose handler runs now, or None
    cdef public double current_since    # when that handler started (monotonic)
    # the access log ring (NULL unless access logging is on): single producer
    # (this loop, without the GIL), single consumer (whoever holds rlock)
    cdef AccessRecord *ring
    cdef unsigned int ring_cap
    cdef unsigned int ring_flush_at         # kick the flusher once this many are queued
    cdef unsigned long long ring_head       # records written (producer; atomic)
    cdef unsigned long long ring_tail       # records read (consumer; atomic)
    cdef unsigned long long ring_dropped    # records dropped, ring full (producer; atomic)
    cdef unsigned long long dropped_reported    # of those, already logged (consumer)
    cdef object rlock                   # threading.Lock: one consumer at a time
    cdef object access                  # the AccessLog that renders the records
    cdef readonly AccessFlusher flusher
    cdef rh_fcache *fcache              # this loop's open files (static files), made on first use
    cdef rh_fcache *file_cache(self, size_t entries) noexcept nogil
    cdef bint pending_nogil(self) noexcept nogil
    cdef int _drain(self) except -1
    # output held for one batch (ASGI on 3.11: one pipelined request a loop iteration)
    cdef public bint hold_output        # on: _process may hold instead of flushing
    cdef list held                      # connections holding output
    cdef unsigned long long gen         # flush_held() calls so far

cdef class HttpConnection(TcpConnection):
    cdef HttpConfig cfg
    cdef LoopState lstate
    cdef int hstate
    cdef double deadline
    cdef bint close_after_write
    cdef bint paused
    cdef bint in_process
    cdef bint held                      # in lstate.held: output waits for flush_held()
    cdef unsigned long long hold_gen    # lstate.gen when output was last held
    cdef uint64_t body_remaining
    cdef object pending_request
    cdef Buffer body_buf
    cdef object spool                # the temporary file of a body being received, or None
    cdef int spool_fd                # its fd (owned by the file object)
    cdef uint64_t body_total         # body bytes received into the spool so far
    cdef object done_spool           # the spool of the request being answered, or None
    cdef tuple wsgi_peer             # WSGICore.peer_strings(peer_address), once needed
    cdef dict tls_info               # _tls.session_info of this connection, once needed
    cdef dict tls_env                # ... and its WSGI environ keys
    cdef dict _tls_session(self)
    cdef int _spool_open(self) except -1
    cdef int _spool_write(self, const char *p, size_t n) except -2
    cdef int _spool_done(self, HttpRequest req) except -1
    cdef int _drop_spools(self) except -1
    cdef int _write_wsgi(self, HttpRequest req, StartResponse sr) except -1
    cdef int _append_whole(self, HttpRequest req, int status, long long declared, bytes body,
                           Py_ssize_t blen, bint no_body, bint keep_alive, size_t mark,
                           object logged) except -1
    cdef rh_chunked chunked
    cdef object stream               # iterator being pumped
    cdef object stream_request
    cdef bint stream_chunked
    cdef long long stream_left       # declared Content-Length left, -1 if none
    cdef public unsigned long long requests
    cdef public object peer_gone_callback   # called once when the client leaves mid-response
    cdef bint _idle_flag             # the deadline in force is the keep-alive one
    cdef bint abort_after_write
    cdef bint lingering
    cdef bint peer_closed            # the client half-closed; finish, then close
    cdef size_t out_mark             # _unsent() at the last timeout check
    cdef size_t _unsent(self) noexcept
    cdef unsigned long long body_sent    # body bytes of the streamed response so far
    cdef char peer_ip[LOG_PEER]      # the client address for static-route records
    cdef void _record_static(self, const rh_request *req, int status, unsigned long long sent,
                             double start) noexcept nogil
    cdef int _log_stream_end(self) except -1
    cdef int _log_error(self, int status, long long sent, object info) except -1
    cdef object _partial_request(self)
    cdef int _peer_gone(self) except -1
    cdef int _abort_stream(self, object body) except -1
    cdef int _close_iterable(self, object body) except -1
    cdef int _log_access(self, HttpRequest req, int status, long long size,
                         object response) except -1
    cdef int _begin_linger(self) except -1
    cdef int sf_fd                   # file being sent with sendfile, -1 if none
    cdef long long sf_offset
    cdef long long sf_left
    cdef bint sf_short               # declared length longer than the file
    cdef int _pump_sendfile(self) except -1
    cdef rh_fentry *sf_entry         # the static file being sent (a reference), or NULL
    cdef bint sf_keep                # ... and whether the connection stays open after it
    cdef int _append_file(self, rh_freply *rep, bint head_only, bint keep_alive,
                          bint http10) noexcept nogil
    cdef int _answer_file(self, const rh_request *req, rh_freply *rep, bint keep_alive) except -1
    cdef int _sendfile(self, int in_fd, off_t *off, uint64_t *left, uint64_t *sent,
                       int *err) noexcept nogil
    cdef int _unpause_if_drained(self) except -1
    cdef int _send_file_step(self, int in_fd) except -3
    cdef int _pump_file(self) except -1
    cdef int _file_done(self) except -1
    cdef void _release_file(self) noexcept nogil
    cdef int _arm_send_timeout(self) except -1
    cdef int _write_response(self, HttpRequest req, object result) except -1
    cdef int _append_head(self, int status, object headers, int flags, object ctype,
                          bytes line=*) except -1
    cdef int _append_server_date(self, bint has_server, bint has_date) except -1
    cdef int _append_end(self, bint keep_alive, bint http10) except -1
    cdef int _process(self) except -1
    cdef int _flush(self) except -1
    cdef bint _hold(self) except -1
    cdef int _send_error(self, int status, str detail, object info=*) except -1
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
