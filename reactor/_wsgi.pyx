"""The compiled half of the WSGI adapter: environ building, ``wsgi.input``,
``start_response`` and the fast path for apps that return a list.

``reactor.wsgi`` (Python) holds the rest: generators, ``wsgi.file_wrapper``,
handler threads and the server class.  Header names are mapped to environ
keys once and cached; names containing ``_`` are dropped (as gunicorn and
nginx do) so ``X_Forwarded_For`` cannot pose as ``X-Forwarded-For``.
"""
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_Copy, PyDict_GetItem, PyDict_SetItem
from cpython.ref cimport PyObject, Py_INCREF
from cpython.unicode cimport PyUnicode_DecodeLatin1
from libc.stdlib cimport free, realloc
from libc.string cimport memchr, memcmp, memcpy
from reactor.includes.http_parser cimport rh_request, rh_header, rh_parse_request
from reactor._http_request cimport HttpRequest, MAX_HEADER_CAP
from reactor._http_response cimport HttpResponse, validate_header, token_ok, value_ok
from urllib.parse import unquote_to_bytes

cdef extern from "<ctype.h>" nogil:
    int tolower(int c)

cdef object _DROP = object()
cdef str _CT = "CONTENT_TYPE"
cdef str _CL = "CONTENT_LENGTH"
cdef str _COOKIE = "HTTP_COOKIE"
cdef str _HOST = "HTTP_HOST"
cdef str _INPUT = "wsgi.input"
cdef str _SERVER_NAME = "SERVER_NAME"
cdef str _REMOTE_ADDR = "REMOTE_ADDR"
cdef str _REMOTE_PORT = "REMOTE_PORT"


class WSGIError(Exception):
    """The application broke the WSGI protocol."""


# Header name -> environ key, cached by the lowercase name in an open-addressed
# table looked up without creating any object.  Only touched with the GIL
# held (environs are built with it), so no lock.  Keys live for the process.
cdef enum:
    KEY_SLOTS = 512     # a power of two
    KEY_FILL = 384      # cache at most this many names (the rest are computed each time)
    KEY_NAME = 48       # longest cached name + 1

cdef struct KeySlot:
    Py_ssize_t n            # 0: empty
    char name[KEY_NAME]     # lowercase
    PyObject *key           # a str, or _DROP (a strong reference, never released)

cdef KeySlot _slots[KEY_SLOTS]
cdef int _nkeys = 0


cdef str _XFF = "HTTP_X_FORWARDED_FOR"
cdef str _XFP = "HTTP_X_FORWARDED_PROTO"
cdef dict _CANON = {k: k for k in (_CT, _CL, _COOKIE, _HOST, _XFF, _XFP)}


cdef object _compute_key(const char *name, size_t n):
    cdef bytes b
    if memchr(name, b'_', n) != NULL:
        return _DROP
    b = PyBytes_FromStringAndSize(name, n)
    up = b.decode("latin-1").upper().replace("-", "_")
    if up != _CT and up != _CL:
        up = "HTTP_" + up
    return _CANON.get(up, up)      # the module's own objects: compared with ``is``


cdef object _environ_key(const char *name, size_t n):
    cdef char low[KEY_NAME]
    cdef unsigned int h = 2166136261u
    cdef size_t i, j
    cdef KeySlot *slot
    cdef object key
    global _nkeys
    if n >= KEY_NAME:
        return _compute_key(name, n)
    for i in range(n):
        low[i] = <char>tolower(<unsigned char>name[i])
        h = (h ^ <unsigned char>low[i]) * 16777619u
    j = h & (KEY_SLOTS - 1)
    while True:
        slot = &_slots[j]
        if slot.n == 0:
            break
        if <size_t>slot.n == n and memcmp(slot.name, low, n) == 0:
            return <object>slot.key
        j = (j + 1) & (KEY_SLOTS - 1)
    key = _compute_key(name, n)
    if _nkeys < KEY_FILL:
        memcpy(slot.name, low, n)
        Py_INCREF(key)
        slot.key = <PyObject *>key
        slot.n = n
        _nkeys += 1
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


cdef extern from "Python.h":
    int PyUnicode_KIND(object o)
    void *PyUnicode_DATA(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    int PyUnicode_1BYTE_KIND


cdef dict _LINES = {}      # status str -> its status line, for the statuses apps use


cdef inline bint _lower_is(const unsigned char *p, Py_ssize_t n, const char *lower,
                           Py_ssize_t ln) noexcept nogil:
    cdef Py_ssize_t i
    if n != ln:
        return False
    for i in range(n):
        if tolower(p[i]) != lower[i]:
            return False
    return True


cdef inline const unsigned char *_latin1_data(object s, Py_ssize_t *n, str what) except NULL:
    """The latin-1 bytes of str ``s`` in place (no copy), or raise."""
    if not isinstance(s, str):
        raise WSGIError("%s must be a str, not %s: %r" % (what, type(s).__name__, s))
    if PyUnicode_KIND(s) != PyUnicode_1BYTE_KIND:
        raise WSGIError("%s %r is not latin-1 (PEP 3333 wants str of code points < 256)"
                        % (what, s))
    n[0] = PyUnicode_GET_LENGTH(s)
    return <const unsigned char *>PyUnicode_DATA(s)


cdef WSGIInput _NO_INPUT = WSGIInput.__new__(WSGIInput)


cdef class StartResponse:
    """The ``start_response`` callable of one request.  It checks the status
    and headers once and encodes them, as they will go out, into a block the
    connection copies into its output buffer: the reason phrase is sent as
    the app wrote it."""

    def __cinit__(self):
        self.block = self.small
        self.declared = -1

    def __dealloc__(self):
        if self.heap != NULL:
            free(self.heap)

    cdef int _put(self, const void *p, Py_ssize_t n) except -1:
        cdef Py_ssize_t cap = WSR_SMALL if self.heap == NULL else self.heap_cap
        cdef Py_ssize_t need = self.block_len + n
        cdef char *grown
        if need > cap:
            while cap < need:
                cap *= 2
            grown = <char *>realloc(self.heap, cap)
            if grown == NULL:
                raise MemoryError()
            if self.heap == NULL:
                memcpy(grown, self.small, self.block_len)
            self.heap = grown
            self.heap_cap = cap
            self.block = grown
        memcpy(self.block + self.block_len, p, n)
        self.block_len = need
        return 0

    cdef int _encode(self, object status, object headers) except -1:
        cdef const unsigned char *p
        cdef const unsigned char *v
        cdef Py_ssize_t n, nv, i
        cdef int flags = 0, code
        cdef long long declared = -1, cl
        cdef bint keep
        p = _latin1_data(status, &n, "the status")
        if n < 4 or not (b'0' <= p[0] <= b'9' and b'0' <= p[1] <= b'9' and b'0' <= p[2] <= b'9') \
                or p[3] != b' ' or p[0] == b'0' or not value_ok(p, n):
            raise WSGIError("invalid status %r: must be like '200 OK'" % (status,))
        code = (p[0] - 48) * 100 + (p[1] - 48) * 10 + (p[2] - 48)     # '0' is 48
        if type(headers) is not list:
            raise WSGIError("response headers must be a list, not %s" % type(headers).__name__)
        self.block_len = 0
        for item in <list>headers:
            if type(item) is not tuple or len(<tuple>item) != 2:
                raise WSGIError("each response header must be a (str, str) tuple, got %r"
                                % (item,))
            p = _latin1_data((<tuple>item)[0], &n, "a header name")
            v = _latin1_data((<tuple>item)[1], &nv, "a header value")
            if not token_ok(p, n):
                raise WSGIError("invalid response header name %r" % ((<tuple>item)[0],))
            if not value_ok(v, nv):
                raise WSGIError("invalid character (CR, LF, NUL or CTL) in response header "
                                "%r value %r" % (item[0], item[1]))
            while nv and (v[0] == b' ' or v[0] == b'\t'):
                v += 1
                nv -= 1
            while nv and (v[nv - 1] == b' ' or v[nv - 1] == b'\t'):
                nv -= 1
            keep = True
            if n == 14 and _lower_is(p, n, b"content-length", 14):
                keep = False
                cl = -1 if nv == 0 or nv > 18 else 0     # 18 digits cannot overflow
                for i in range(nv if cl == 0 else 0):
                    if not b'0' <= v[i] <= b'9':
                        cl = -1
                        break
                    cl = cl * 10 + (v[i] - 48)
                if cl < 0 or (declared >= 0 and cl != declared):
                    raise WSGIError("invalid Content-Length %r set by the app" % (item[1],))
                declared = cl
            elif n == 17 and _lower_is(p, n, b"transfer-encoding", 17):
                keep = False      # the server frames the body itself
            elif n == 10 and _lower_is(p, n, b"connection", 10):
                keep = False
                for i in range(nv - 4 if nv >= 5 else 0):
                    if _lower_is(v + i, 5, b"close", 5):
                        flags |= WF_CLOSE
                        break
            elif n == 4 and _lower_is(p, n, b"date", 4):
                flags |= WF_DATE
            elif n == 6 and _lower_is(p, n, b"server", 6):
                flags |= WF_SERVER
            elif n == 12 and _lower_is(p, n, b"content-type", 12):
                flags |= WF_CTYPE
            if keep:
                self._put(p, n)
                self._put(b": ", 2)
                self._put(v, nv)
                self._put(b"\r\n", 2)
        line = _LINES.get(status)
        if line is None:
            line = b"HTTP/1.1 " + (<str>status).encode("latin-1") + b"\r\n"
            if len(_LINES) < 256:
                _LINES[status] = line
        self.line = line
        self.code = code
        self.flags = flags
        self.declared = declared
        return 0

    def __call__(self, status, headers, exc_info=None):
        if exc_info is not None:
            try:
                if self.sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise WSGIError("start_response() called twice without exc_info")
        try:
            self._encode(status, headers)
        except BaseException:
            # nothing half-encoded may go out: as if start_response was never called
            self.status = None
            self.code = 0
            self.block_len = 0
            raise
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
        self.sent = True        # as if on the wire: a later exc_info call re-raises

    @property
    def status_code(self):
        """The status code (int), 0 before start_response()."""
        return self.code

    @property
    def declared_length(self):
        """The app's Content-Length (int), -1 if it set none."""
        return self.declared


cdef class WSGIResponse(HttpResponse):
    """An HttpResponse that also carries the request's environ (set when the
    access log needs it: ``%(h)s`` honours a trusted X-Forwarded-For, and
    ``%({name}e)s`` reads the environ)."""
    cdef public object environ


cpdef HttpResponse make_response(StartResponse sr, object body):
    """An HttpResponse from start_response's status/headers and ``body``, the
    app's reason phrase kept.  A whole bytes body whose declared
    Content-Length differs is sent as a stream, so the connection sends
    exactly what was declared (truncating or closing) and logs it."""
    cdef HttpResponse r = WSGIResponse.__new__(WSGIResponse)
    cdef str status = sr.status
    cdef list hdrs = []
    r.status = sr.code
    r.reason = status[4:]
    for item in sr.headers:
        hdrs.append(validate_header((<tuple>item)[0], (<tuple>item)[1]))
    if type(body) is bytes and sr.declared >= 0 and sr.declared != PyBytes_GET_SIZE(<bytes>body):
        body = [body]
    r.headers = hdrs
    r.body = body
    r.content_type = None
    return r


cdef class WSGICore:
    """Builds environs and calls the app; see reactor.wsgi.WSGIAdapter."""

    cdef dict environ_c(self, const rh_request *r, HttpRequest req, tuple peer_env):
        """The environ of ``req``, straight from the parser's view ``r`` of its
        head (still in the input buffer): one parse, a copy of the prebuilt
        base dict, interned keys.  ``wsgi.input`` is set by ``set_body``.
        ``peer_env`` is ``peer_strings(req.remote_addr)``, kept per connection."""
        cdef dict env = PyDict_Copy(self.base)
        cdef str path = req.path
        cdef str root = self.root_path
        cdef size_t i
        cdef const rh_header *h
        cdef object key, value
        cdef PyObject *old
        cdef Py_ssize_t k
        if "%" in path:
            path = unquote_to_bytes(path).decode("latin-1")
        if root and (path == root or path.startswith(root + "/")):
            path = path[len(root):]
        env["REQUEST_METHOD"] = req.method
        env["PATH_INFO"] = path
        env["QUERY_STRING"] = req.query
        env["SERVER_PROTOCOL"] = req.version
        cdef bint forwarded = False
        PyDict_SetItem(env, _REMOTE_ADDR, peer_env[0])
        PyDict_SetItem(env, _REMOTE_PORT, peer_env[1])
        for i in range(r.num_headers):
            h = &r.headers[i]
            key = _environ_key(h.name, h.name_len)
            if key is _DROP:
                continue
            value = PyUnicode_DecodeLatin1(h.value, h.value_len, NULL)
            old = PyDict_GetItem(env, key)
            if old != NULL:
                value = <object>old + ("; " if key == _COOKIE else ", ") + value
            PyDict_SetItem(env, key, value)
            if key is _XFF or key is _XFP:
                forwarded = True
        if r.target[0] != b'/' and r.host != NULL:
            # absolute-form: the target's authority wins over Host (RFC 9112 3.2.2)
            env[_HOST] = PyUnicode_DecodeLatin1(r.host, r.host_len, NULL)
        old = PyDict_GetItem(env, _HOST)
        if old != NULL and len(<str>old):
            host = <str>old
            if host == self._last_host:         # most requests name the same host
                name = self._last_name
            elif host[0] == "[":
                k = host.find("]")
                name = host[1:k] if k >= 0 else host
            else:
                k = host.rfind(":")
                name = host[:k] if k >= 0 else host
            self._last_host = host
            self._last_name = name
            PyDict_SetItem(env, _SERVER_NAME, name)
        # a unix-socket peer (no address) is on this machine: a proxy's, trusted
        # like gunicorn trusts it
        if forwarded and (self.trust_all or peer_env[2] or
                          (self.trusted and peer_env[0] in self.trusted)):
            self.apply_forwarded(env)
        return env

    @staticmethod
    def peer_strings(peer):
        """``(REMOTE_ADDR, REMOTE_PORT, is_local)`` of a peer address."""
        if peer:
            return (peer[0], str(peer[1]), not peer[0])
        return ("", "", False)

    cdef int set_body(self, dict env, HttpRequest req) except -1:
        """``wsgi.input`` (and CONTENT_LENGTH for a de-chunked body) once the
        body is in: the spooled file itself, else the bytes."""
        cdef object f = req.body_file
        cdef Py_ssize_t n
        cdef WSGIInput inp
        if f is not None:
            PyDict_SetItem(env, _INPUT, f)
            if PyDict_GetItem(env, _CL) == NULL:
                pos = f.tell()
                n = f.seek(0, 2)
                f.seek(pos)
                env[_CL] = str(n)
            return 0
        body = req._body
        if PyBytes_GET_SIZE(body) == 0:
            inp = _NO_INPUT         # reads b"" for ever: one object serves every request
        else:
            inp = WSGIInput.__new__(WSGIInput)
            inp.data = body
        PyDict_SetItem(env, _INPUT, inp)
        if PyBytes_GET_SIZE(body) and PyDict_GetItem(env, _CL) == NULL:
            env[_CL] = str(PyBytes_GET_SIZE(body))
        return 0

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

    cdef dict _environ_of(self, HttpRequest req):
        """``req.environ``: built when a WSGI server parsed it, else now from
        its head (a WSGIAdapter used as a plain HttpServer handler)."""
        cdef rh_request r
        cdef rh_header hdrs[MAX_HEADER_CAP]
        cdef bytes head
        if req.environ is None:
            head = req.raw_head
            r.headers = hdrs
            r.num_headers = MAX_HEADER_CAP
            if rh_parse_request(PyBytes_AS_STRING(head), PyBytes_GET_SIZE(head), &r, NULL) <= 0:
                raise ValueError("%r has no parsed head to build an environ from" % (req,))
            req.environ = self.environ_c(&r, req, WSGICore.peer_strings(req.remote_addr))
        return req.environ

    def environ(self, HttpRequest req not None):
        """The environ of ``req``, its body set."""
        cdef dict env = self._environ_of(req)
        self.set_body(env, req)
        return env

    cpdef object call(self, HttpRequest req):
        """Run the app for ``req``: a ``StartResponse`` holding the whole body
        (``sr.body``) for a list result, else an HttpResponse (the slow path:
        generators, file wrappers, write())."""
        cdef dict env = req.environ if req.environ is not None else self._environ_of(req)
        cdef StartResponse sr = StartResponse.__new__(StartResponse)
        cdef object result
        cdef object body
        cdef object resp
        self.set_body(env, req)
        result = self.app(env, sr)
        if type(result) is list and sr.status is not None and sr.written is None:
            if len(<list>result) == 1 and type((<list>result)[0]) is bytes:
                body = (<list>result)[0]
            else:
                try:
                    body = b"".join(result)
                except TypeError:
                    raise TypeError("the WSGI app returned a list with non-bytes items") from None
            if not self.keep_environ and (sr.declared < 0 or
                                          sr.declared == PyBytes_GET_SIZE(<bytes>body)):
                sr.body = body
                return sr
            resp = make_response(sr, body)
        elif result is None:
            raise WSGIError("the WSGI app returned None: PEP 3333 requires an iterable of "
                            "bytes (e.g. [body])")
        else:
            resp = self.slow_path(result, sr)
        if self.keep_environ and isinstance(resp, WSGIResponse):
            (<WSGIResponse>resp).environ = env
        return resp
