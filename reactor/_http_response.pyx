"""HttpResponse and header validation (compiled; see reactor.http_response).

Header names must be tokens (RFC 9110 5.6.2) and values must not contain
CR, LF, NUL or other control characters except HTAB: anything else raises
``ValueError`` when the header is set, so a handler can never split a
response.
"""
from http import HTTPStatus

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE

REASONS = {s.value: s.phrase for s in HTTPStatus}
REASONS.setdefault(425, "Too Early")

cdef unsigned char TCHAR[256]


cdef void _init_tables():
    cdef int c
    for c in range(256):
        TCHAR[c] = 0
    for c in b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz":
        TCHAR[c] = 1

_init_tables()


cdef bytes header_bytes(object x, str what):
    if type(x) is bytes:
        return <bytes>x
    if isinstance(x, str):
        try:
            return (<str>x).encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError("%s %r is not latin-1 encodable" % (what, x)) from None
    if isinstance(x, bytes):
        return bytes(x)
    if isinstance(x, int) and not isinstance(x, bool):
        return str(x).encode("ascii")
    raise TypeError("%s must be str or bytes, not %s" % (what, type(x).__name__))


cdef bint token_ok(const unsigned char *p, Py_ssize_t n) noexcept nogil:
    """True if ``p[:n]`` is a non-empty token (RFC 9110 5.6.2)."""
    cdef Py_ssize_t i
    if n <= 0:
        return False
    for i in range(n):
        if not TCHAR[p[i]]:
            return False
    return True


cdef bint value_ok(const unsigned char *p, Py_ssize_t n) noexcept nogil:
    """True if ``p[:n]`` holds no CR, LF, NUL or other CTL (HTAB allowed)."""
    cdef Py_ssize_t i
    cdef unsigned char c
    for i in range(n):
        c = p[i]
        if (c < 0x20 and c != 0x09) or c == 0x7f:
            return False
    return True


cdef bint header_ok(bytes n, bytes v):
    """True if ``n`` is a token and ``v`` holds no CR, LF, NUL or other CTL
    (HTAB allowed)."""
    return token_ok(<const unsigned char *>PyBytes_AS_STRING(n), PyBytes_GET_SIZE(n)) and \
        value_ok(<const unsigned char *>PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v))


cpdef check_reason(reason):
    """Raise unless ``reason`` (str) can follow the status code on a status
    line: latin-1, no CR, LF, NUL or other CTL (HTAB allowed)."""
    cdef bytes b
    if type(reason) is not str:
        raise TypeError("reason must be a str, not %s" % type(reason).__name__)
    try:
        b = (<str>reason).encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError("reason %r is not latin-1 encodable" % (reason,)) from None
    if not value_ok(<const unsigned char *>PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b)):
        raise ValueError("invalid character (CR, LF, NUL or CTL) in reason %r" % (reason,))


cdef inline bint _edge_ows(bytes v):
    """True if ``v`` starts or ends with a space or HTAB (stripped: OWS)."""
    cdef Py_ssize_t n = PyBytes_GET_SIZE(v)
    cdef const unsigned char *p = <const unsigned char *>PyBytes_AS_STRING(v)
    return n != 0 and (p[0] == 0x20 or p[0] == 0x09 or p[n - 1] == 0x20 or p[n - 1] == 0x09)


cdef tuple _pair(object item):
    """A header item as a valid ``(bytes, bytes)`` pair: the item itself when
    it already is one (what ASGI frameworks send), else ``validate_header``'s."""
    cdef object k, v
    if type(item) is tuple and len(<tuple>item) == 2:
        k = (<tuple>item)[0]
        v = (<tuple>item)[1]
        if type(k) is bytes and type(v) is bytes and header_ok(<bytes>k, <bytes>v) and \
                not _edge_ows(<bytes>v):
            return <tuple>item
    k, v = item
    return validate_header(k, v)


cpdef tuple validate_header(name, value):
    """Return ``(name, value)`` as bytes (value OWS-stripped), or raise
    ValueError/TypeError."""
    cdef bytes n = header_bytes(name, "header name")
    cdef bytes v = header_bytes(value, "header value")
    if not header_ok(n, v):
        if PyBytes_GET_SIZE(n) == 0:
            raise ValueError("empty header name")
        if not header_ok(n, b""):
            raise ValueError("invalid header name %r" % (name,))
        raise ValueError("invalid character (CR, LF, NUL or CTL) in header %r value %r"
                         % (name, value))
    if _edge_ows(v):
        v = v.strip(b" \t")
    return (n, v)


cdef class HttpResponse:
    """A status, headers and a body (bytes, str or an iterable of chunks).

    ``HttpResponse(body=b"", status=200, headers=None, content_type=None, reason=None)``;
    ``reason`` replaces the standard reason phrase of the status line.
    ``headers`` is a dict or a list of ``(name, value)`` pairs.  A str body is
    sent as UTF-8 (default Content-Type ``text/plain; charset=utf-8``); an
    iterable is streamed (chunked on HTTP/1.1 unless a Content-Length header
    is set, close-delimited on HTTP/1.0).
    """

    def __init__(self, body=b"", int status=200, headers=None, content_type=None, reason=None):
        if not 100 <= status <= 999:
            raise ValueError("status must be an int in 100..999, got %r" % (status,))
        self.status = status
        if reason is not None:
            check_reason(reason)
        self.reason = reason
        self.body = body
        self.content_type = content_type
        if type(headers) is list:
            self.headers = [_pair(item) for item in <list>headers]
        elif headers:
            items = headers.items() if hasattr(headers, "items") else headers
            self.headers = [validate_header(k, v) for k, v in items]
        else:
            self.headers = []

    def add_header(self, name, value):
        """Append a header (validated)."""
        self.headers.append(validate_header(name, value))

    def __repr__(self):
        return "<HttpResponse %d>" % self.status
