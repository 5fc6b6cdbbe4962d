# HttpResponse: what a handler returns; header validation at C speed.
cdef class HttpResponse:
    cdef public int status
    cdef public list headers          # [(bytes name, bytes value)], validated
    cdef public object body
    cdef public object content_type

cpdef tuple validate_header(name, value)
cdef bint header_ok(bytes n, bytes v)
cdef bytes header_bytes(object x, str what)
