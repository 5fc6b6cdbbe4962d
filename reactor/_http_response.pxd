# HttpResponse: what a handler returns; header validation at C speed.
cdef class HttpResponse:
    cdef public int status
    cdef public list headers          # [(bytes name, bytes value)], validated
    cdef public object body
    cdef public object content_type
    cdef public object reason         # str replacing the standard reason phrase, or None

cpdef tuple validate_header(name, value)
cdef bint header_ok(bytes n, bytes v)
cdef bint token_ok(const unsigned char *p, Py_ssize_t n) noexcept nogil
cdef bint value_ok(const unsigned char *p, Py_ssize_t n) noexcept nogil
cdef bytes header_bytes(object x, str what)
cpdef check_reason(reason)
