"""The compiled half of the WSGI adapter: environ building, ``wsgi.input``,
``start_response`` and the fast path for apps that return a list.

``reactor.wsgi`` (Python) holds the rest: generators, ``wsgi.file_wrapper``,
handler threads and the server class.  Header names are mapped to environ
keys once and cached; names containing ``_`` are dropped (as gunicorn and
nginx do) so ``X_Forwarded_For`` cannot pose as ``X-Forwarded-For``.
"""
import sys

from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_DecodeLatin1
from libc.string cimport memchr
from reactor.includes.http_parser cimport rh_request, rh_header, rh_parse_request
from reactor._http_request cimport HttpRequest
from reactor._http_response cimport HttpResponse, validate_header
from urllib.parse import unquote_to_bytes

cdef enum:
    MAX_HEADERS = 256

cdef dict _KEYS = {}
cdef object _DROP = object()
cdef str _CT = "CONTENT_TYPE"
cdef str _CL = "CONTENT_LENGTH"
cdef str _COOKIE = "HTTP_COOKIE"


class WSGIError(Exception):
    """The application broke the WSGI protocol."""


cdef object _environ_key(const char *name, size_t n):
    cdef bytes b = PyBytes_FromStringAndSize(name, n)
    key = _KEYS.get(b)
    if key is not None:
        return key
    if memchr(name, b'_', n) != NULL:
        key = _DROP
    else:
        up = b.decode("latin-1").upper().replace("-", "_")
        key = up if up == _CT or up == _CL else "HTTP_" + up
    if len(_KEYS) < 4096:
        _KEYS[b] = key
    return key


cdef class WSGIInput:
    """``wsgi.input``: the request body (already received in full).
    ``read(n)``, ``read()``, ``readline(limit)``, ``readlines(hint)``,
    iteration; never reads past the body."""
    cdef bytes data
    cdef Py_ssize_t pos

    def __cinit__(self, bytes data=b""):
        self.data = data
        self.pos = 0

    def read(self, size=-1):
        cdef Py_ssize_t n = PyBytes_GET_SIZE(self.data), start = self.pos, end
        if size is None or size < 0:
            end = n
        else:
            end = min(n, start + <Py_ssize_t>size)
        self.pos = end
        if start == 0 and end == n:
            return self.data
        return self.data[start:end]

    def readline(self, size=-1):
        cdef Py_ssize_t n = PyBytes_GET_SIZE(self.data), start = self.pos, end
        cdef const char *p = PyBytes_AS_STRING(self.data)
        cdef const char *nl
        if size is None or size < 0 or start + <Py_ssize_t>size > n:
            end = n
        else:
            end = start + <Py_ssize_t>size
        nl = <const char *>memchr(p + start, b'\n', end - start) if end > start else NULL
        if nl != NULL:
            end = nl - p + 1
        self.pos = end
        return self.data[start:end]

    def readlines(self, hint=-1):
        lines = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                break
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                break
        return lines

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def close(self):
        pass


cdef class StartResponse:
    """The ``start_response`` callable of one request."""
    cdef public object status
    cdef public list headers
    cdef public list written
    cdef public bint sent

    def __call__(self, status, headers, exc_info=None):
        if exc_info is not None:
            try:
                if self.sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise WSGIError("start_response() called twice without exc_info")
        if type(status) is not str or len(status) < 4 or not (<str>status)[:3].isdigit() \
                or (<str>status)[3] != " ":
            raise WSGIError("invalid status %r: must be like '200 OK'" % (status,))
        if type(headers) is not list:
            raise WSGIError("response headers must be a list, not %s" % type(headers).__name__)
        for item in <list>headers:
            if type(item) is not tuple or len(<tuple>item) != 2 or \
                    type((<tuple>item)[0]) is not str or type((<tuple>item)[1]) is not str:
                raise WSGIError("each response header must be a (str, str) tuple, got %r"
                                % (item,))
        self.status = status
        self.headers = headers
        return self.write

    def write(self, data):
        if self.status is None:
            raise WSGIError("write() called before start_response()")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("write() needs bytes, not %s" % type(data).__name__)
        if self.written is None:
            self.written = []
        self.written.append(bytes(data))


cdef class WSGIResponse(HttpResponse):
    """An HttpResponse that also carries the request's environ (set when the
    access log needs it: ``%(h)s`` honours a trusted X-Forwarded-For, and
    ``%({name}e)s`` reads the environ)."""
    cdef public object environ


cpdef HttpResponse make_response(StartResponse sr, object body):
    """An HttpResponse from start_response's status/headers and ``body``.
    A whole bytes body whose declared Content-Length differs is sent as a
    stream, so the connection sends exactly what was declared (truncating
    or closing) and logs it."""
    cdef HttpResponse r = WSGIResponse.__new__(WSGIResponse)
    cdef str status = sr.status
    cdef list hdrs = []
    cdef tuple h
    r.status = int(status[:3])
    if not 100 <= r.status <= 999:
        raise WSGIError("invalid status %r" % status)
    for item in sr.headers:
        h = validate_header((<tuple>item)[0], (<tuple>item)[1])
        hdrs.append(h)
        if type(body) is bytes and PyBytes_GET_SIZE(<bytes>h[0]) == 14 and \
                (<bytes>h[0]).lower() == b"content-length":
            if (<bytes>h[1]).strip() != str(PyBytes_GET_SIZE(<bytes>body)).encode():
                body = [body]
    r.headers = hdrs
    r.body = body
    r.content_type = None
    return r


cdef class WSGICore:
    """Builds environs and calls the app; see reactor.wsgi.WSGIAdapter."""
    cdef public object app
    cdef public dict base
    cdef public str root_path
    cdef public bint trust_all
    cdef public object trusted
    cdef public object slow_path      # callable(result, sr) for non-list results
    cdef public bint keep_environ     # responses carry the environ (for the access log)

    cpdef dict environ(self, HttpRequest req):
        cdef dict env = self.base.copy()
        cdef str path = req.path
        cdef str root = self.root_path
        cdef rh_request r
        cdef rh_header hdrs[MAX_HEADERS]
        cdef size_t i
        cdef object key, old, value
        cdef bytes head = req._head
        cdef bytes body = req.body
        if "%" in path:
            path = unquote_to_bytes(path).decode("latin-1")
        if root and (path == root or path.startswith(root + "/")):
            path = path[len(root):]
        env["REQUEST_METHOD"] = req.method
        env["PATH_INFO"] = path
        env["QUERY_STRING"] = req.query
        env["SERVER_PROTOCOL"] = req.version
        peer = req.remote_addr
        local = False
        if peer:
            env["REMOTE_ADDR"] = peer[0]
            env["REMOTE_PORT"] = str(peer[1])
            # a unix-socket peer (no address) is on this machine: a proxy's, trusted
            # like gunicorn trusts it
            local = not peer[0]
        else:
            env["REMOTE_ADDR"] = ""
            env["REMOTE_PORT"] = ""
        env["wsgi.input"] = WSGIInput(body)
        r.headers = hdrs
        r.num_headers = MAX_HEADERS
        if rh_parse_request(PyBytes_AS_STRING(head), PyBytes_GET_SIZE(head), &r, NULL) > 0:
            for i in range(r.num_headers):
                key = _environ_key(hdrs[i].name, hdrs[i].name_len)
                if key is _DROP:
                    continue
                value = PyUnicode_DecodeLatin1(hdrs[i].value, hdrs[i].value_len, NULL)
                old = env.get(key)
                if old is not None:
                    value = old + ("; " if key == _COOKIE else ", ") + value
                env[key] = value
            if r.target[0] != b'/' and r.host != NULL:
                # absolute-form: the target's authority wins over Host (RFC 9112 3.2.2)
                env["HTTP_HOST"] = PyUnicode_DecodeLatin1(r.host, r.host_len, NULL)
        host = env.get("HTTP_HOST")
        if host:
            if host.startswith("["):
                env["SERVER_NAME"] = host[1:host.find("]")] if "]" in host else host
            else:
                env["SERVER_NAME"] = host.rsplit(":", 1)[0] if ":" in host else host
        if body and _CL not in env:
            env[_CL] = str(len(body))
        if self.trust_all or local or (self.trusted and env["REMOTE_ADDR"] in self.trusted):
            self.apply_forwarded(env)
        return env

    def apply_forwarded(self, dict env):
        fwd = env.get("HTTP_X_FORWARDED_FOR")
        if fwd:
            hops = [h.strip() for h in fwd.split(",") if h.strip()]
            client = None
            for h in reversed(hops):
                client = h
                if not self.trust_all and h not in self.trusted:
                    break
            if client:
                env["REMOTE_ADDR"] = client
        proto = env.get("HTTP_X_FORWARDED_PROTO")
        if proto:
            proto = proto.split(",")[0].strip().lower()
            if proto in ("http", "https"):
                env["wsgi.url_scheme"] = proto

    def call(self, HttpRequest req):
        """Run the app for ``req``; return an HttpResponse."""
        cdef dict env = self.environ(req)
        cdef StartResponse sr = StartResponse.__new__(StartResponse)
        cdef object result = self.app(env, sr)
        cdef object body
        cdef object resp
        if type(result) is list and sr.status is not None and sr.written is None:
            if len(<list>result) == 1 and type((<list>result)[0]) is bytes:
                body = (<list>result)[0]
            else:
                try:
                    body = b"".join(result)
                except TypeError:
                    raise TypeError("the WSGI app returned a list with non-bytes items") from None
            resp = make_response(sr, body)
        elif result is None:
            raise WSGIError("the WSGI app returned None: PEP 3333 requires an iterable of "
                            "bytes (e.g. [body])")
        else:
            resp = self.slow_path(result, sr)
        if self.keep_environ and isinstance(resp, WSGIResponse):
            (<WSGIResponse>resp).environ = env
        return resp
