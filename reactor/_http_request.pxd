# HttpRequest: one parsed request (the head copied out of the buffer).
from reactor.includes.http_parser cimport rh_request

cdef enum:
    MAX_HEADER_CAP = 256    # header slots the parser is given (max_headers <= this)

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
    cdef readonly bint http10        # HTTP/1.0 (else 1.1)
    cdef readonly bint is_head       # method is HEAD

cdef HttpRequest make_request(const char *base, int head_len, rh_request *req, object peer)
