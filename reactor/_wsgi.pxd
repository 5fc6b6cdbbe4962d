# The compiled half of the WSGI adapter: what the HTTP connection calls at C speed.
from reactor.includes.http_parser cimport rh_request
from reactor._http_request cimport HttpRequest

cdef enum:
    WF_DATE = 1         # the app set Date
    WF_SERVER = 2       # ... Server
    WF_CTYPE = 4        # ... Content-Type
    WF_CLOSE = 8        # ... Connection: close
    WSR_SMALL = 512     # header bytes kept inside the StartResponse itself

cdef class StartResponse:
    cdef public object status         # the status str as the app gave it, or None
    cdef public list headers          # the app's header list
    cdef public list written          # chunks passed to write(), or None
    cdef public bint sent             # headers committed: a later exc_info call re-raises
    cdef public object body           # the whole body (bytes) when it comes back from a thread
    cdef int code                     # the status code (0 until start_response ran)
    cdef int flags                    # WF_*
    cdef long long declared           # the app's Content-Length, -1 if none
    cdef bytes line                   # b"HTTP/1.1 " + status + b"\r\n"
    cdef char *block                  # "Name: value\r\n" for every header the app set,
    cdef Py_ssize_t block_len         #   less Content-Length, Transfer-Encoding, Connection
    cdef char *heap                   # block when it outgrew small
    cdef Py_ssize_t heap_cap
    cdef char small[WSR_SMALL]
    cdef int _put(self, const void *p, Py_ssize_t n) except -1
    cdef int _encode(self, object status, object headers) except -1

cdef class WSGICore:
    cdef public object app
    cdef public dict base
    cdef public str root_path
    cdef public bint trust_all
    cdef public object trusted
    cdef public object slow_path      # callable(result, sr) for results other than a list
    cdef public bint keep_environ     # responses carry the environ (for the access log)
    cdef str _last_host               # the Host of the last environ, and its SERVER_NAME
    cdef str _last_name
    cdef dict environ_c(self, const rh_request *r, HttpRequest req, tuple peer_env)
    cdef int set_body(self, dict env, HttpRequest req) except -1
    cdef dict _environ_of(self, HttpRequest req)
    cpdef object call(self, HttpRequest req)
