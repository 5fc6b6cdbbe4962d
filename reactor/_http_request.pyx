"""HttpRequest and Headers: one parsed request, and Python access to the C parser.

``make_request`` copies a parsed head out of the connection's buffer (one
bytes object); ``HttpRequest.headers`` is built lazily by parsing that copy
again, so a handler that never looks at headers never pays for them.
``parse_request_head`` / ``decode_chunked`` expose csrc/http_parser.c to
Python (tests, tools).
"""
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_DecodeLatin1
from libc.string cimport memcmp
from reactor.includes.http_parser cimport *
from reactor._event_loop cimport monotonic


class Headers:
    """Request headers: case-insensitive, multi-valued, in arrival order.

    ``h["host"]`` / ``h.get(name)`` give the first value (``get_all`` every
    value); ``items()`` keeps the client's names; values are latin-1 str.
    """
    __slots__ = ("_items", "_index")

    def __init__(self, items=()):
        self._items = list(items)
        self._index = None

    def _idx(self):
        if self._index is None:
            idx = {}
            for k, v in self._items:
                idx.setdefault(k.lower(), []).append(v)
            self._index = idx
        return self._index

    def get(self, name, default=None):
        vals = self._idx().get(name.lower())
        return vals[0] if vals else default

    def get_all(self, name):
        return list(self._idx().get(name.lower(), ()))

    def __getitem__(self, name):
        vals = self._idx().get(name.lower())
        if not vals:
            raise KeyError(name)
        return vals[0]

    def __contains__(self, name):
        return isinstance(name, str) and name.lower() in self._idx()

    def __iter__(self):
        return (k for k, _ in self._items)

    def __len__(self):
        return len(self._items)

    def items(self):
        return list(self._items)

    def keys(self):
        return [k for k, _ in self._items]

    def values(self):
        return [v for _, v in self._items]

    def __repr__(self):
        return "Headers(%r)" % (self._items,)


cdef str _GET = "GET"
cdef str _POST = "POST"
cdef str _HEAD = "HEAD"
cdef str _V10 = "HTTP/1.0"
cdef str _V11 = "HTTP/1.1"
cdef bytes _EMPTY = b""


cdef inline str _latin1(const char *p, size_t n):
    return PyUnicode_DecodeLatin1(p, n, NULL)


cdef class HttpRequest:
    """One parsed request.  ``headers`` is built lazily from a copy of the
    head; ``body`` is bytes (empty when there is none)."""

    @property
    def headers(self):
        """The request headers (a ``Headers``: case-insensitive, multi-valued,
        in arrival order, latin-1 str values); parsed on first access."""
        cdef rh_request req
        cdef rh_header hdrs[MAX_HEADER_CAP]
        cdef size_t i
        if self._headers is None:
            req.headers = hdrs
            req.num_headers = MAX_HEADER_CAP
            if rh_parse_request(PyBytes_AS_STRING(self._head), PyBytes_GET_SIZE(self._head),
                                &req, NULL) <= 0:
                req.num_headers = 0     # not a parsed head (a request made by hand)
            self._headers = Headers([
                (_latin1(hdrs[i].name, hdrs[i].name_len), _latin1(hdrs[i].value, hdrs[i].value_len))
                for i in range(req.num_headers)])
        return self._headers

    @property
    def host(self):
        """The host the request is for: the authority of an absolute-form
        target (``GET http://example.com/ HTTP/1.1``), which wins over the
        Host header (RFC 9112 3.2.2), else the Host header; None if neither."""
        cdef rh_request req
        cdef rh_header hdrs[MAX_HEADER_CAP]
        req.headers = hdrs
        req.num_headers = MAX_HEADER_CAP
        if rh_parse_request(PyBytes_AS_STRING(self._head), PyBytes_GET_SIZE(self._head),
                            &req, NULL) <= 0 or req.host == NULL:
            return None
        return _latin1(req.host, req.host_len)

    @property
    def body(self):
        """The request body, received in full and de-chunked (bytes; ``b""``
        when there is none).  A spooled body (see ``body_file``) is read from
        its file on first use."""
        cdef object f
        if self._body is None:
            f = self.body_file
            if f is None:
                return b""
            pos = f.tell()
            f.seek(0)
            self._body = f.read()
            f.seek(pos)
        return self._body

    @body.setter
    def body(self, value):
        if not isinstance(value, bytes):
            raise TypeError("body must be bytes, not %s" % type(value).__name__)
        self._body = bytes(value)
        self.body_file = None

    @property
    def raw_head(self):
        """The request head exactly as received (bytes)."""
        return self._head

    @property
    def http_version(self):
        """Alias of ``version``: ``"HTTP/1.1"`` or ``"HTTP/1.0"``."""
        return self.version

    def __repr__(self):
        return "<HttpRequest %s %s %s>" % (self.method, self.target, self.version)


cdef HttpRequest make_request(const char *base, int head_len, rh_request *req, object peer):
    cdef HttpRequest r = HttpRequest.__new__(HttpRequest)
    cdef const char *m = req.method
    if req.method_len == 3 and memcmp(m, b"GET", 3) == 0:
        r.method = _GET
    elif req.method_len == 4 and memcmp(m, b"POST", 4) == 0:
        r.method = _POST
    elif req.method_len == 4 and memcmp(m, b"HEAD", 4) == 0:
        r.method = _HEAD
    else:
        r.method = _latin1(m, req.method_len)
    r.target = _latin1(req.target, req.target_len)
    if req.path == req.target and req.path_len == req.target_len:
        r.path = r.target
    else:
        r.path = _latin1(req.path, req.path_len)
    r.query = _latin1(req.query, req.query_len) if req.query != NULL else ""
    r.version = _V11 if req.version_minor == 1 else _V10
    r.http10 = req.version_minor == 0
    r.is_head = r.method is _HEAD
    r.keep_alive = req.keep_alive != 0
    r.expect_continue = req.expect_continue != 0
    r.remote_addr = peer
    r._body = _EMPTY
    r._head = PyBytes_FromStringAndSize(base, head_len)
    r.start_time = monotonic()
    return r


# ---------------------------------------------------------------------------
# Python access to the C parser (tests, tools)

class HttpParseError(ValueError):
    """A request the parser rejects; ``status`` is the HTTP status to answer."""

    def __init__(self, status, message):
        ValueError.__init__(self, "%d %s" % (status, message))
        self.status = status
        self.message = message


def parse_request_head(data, max_request_line=8192, max_header_size=65536, max_headers=100,
                       max_body_size=16 * 1024 * 1024):
    """Parse one request head from ``data`` with the server's C parser.

    Returns None if the head is incomplete, else ``(consumed, info)`` where
    info has method, target, path, query, version, headers
    (list of (bytes, bytes)), body_kind ("none"/"length"/"chunked"),
    content_length, keep_alive, expect_continue.  Raises HttpParseError.
    """
    cdef bytes b = bytes(data)
    cdef rh_request req
    cdef rh_header hdrs[MAX_HEADER_CAP]
    cdef rh_limits lim
    cdef int rc
    cdef size_t i
    if max_headers > MAX_HEADER_CAP:
        raise ValueError("max_headers must be <= %d" % MAX_HEADER_CAP)
    lim.max_request_line = max_request_line
    lim.max_header_size = max_header_size
    lim.max_headers = max_headers
    lim.max_body_size = max_body_size
    req.headers = hdrs
    req.num_headers = MAX_HEADER_CAP
    rc = rh_parse_request(PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b), &req, &lim)
    if rc == RH_INCOMPLETE:
        return None
    if rc < 0:
        raise HttpParseError(rh_error_status(rc),
                             req.error.decode("latin-1") if req.error != NULL else "")
    info = {
        "method": req.method[:req.method_len],
        "target": req.target[:req.target_len],
        "path": req.path[:req.path_len],
        "query": req.query[:req.query_len] if req.query != NULL else None,
        "version": "HTTP/1.%d" % req.version_minor,
        "headers": [(hdrs[i].name[:hdrs[i].name_len], hdrs[i].value[:hdrs[i].value_len])
                    for i in range(req.num_headers)],
        "body_kind": ("none", "length", "chunked")[req.body_kind],
        "content_length": req.content_length if req.body_kind == RH_BODY_LENGTH else None,
        "keep_alive": bool(req.keep_alive),
        "expect_continue": bool(req.expect_continue),
    }
    return rc, info


def decode_chunked(data, max_body_size=16 * 1024 * 1024, max_trailer_size=16384):
    """Decode a complete chunked body from ``data``: ``(body, consumed)``, or
    None if more bytes are needed.  Raises HttpParseError."""
    cdef bytearray buf = bytearray(data)
    cdef rh_chunked d
    cdef size_t dlen = 0
    cdef ssize_t used
    rh_chunked_init(&d, max_body_size, max_trailer_size)
    used = rh_chunked_decode(&d, buf, len(buf), buf, &dlen)
    if used < 0:
        raise HttpParseError(rh_error_status(<int>used), "invalid chunked body")
    if not d.done:
        return None
    return bytes(buf[:dlen]), used
