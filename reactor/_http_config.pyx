"""HttpConfig: what every connection of one server shares (read-only to the
loops once serving): the handler, limits, timeouts, and the table of static
routes that loops answer in C without the GIL.

The route table is copy-on-write: ``add_static_route`` builds a new table and
publishes it with one release store, so loop threads read it without a lock.
An old table (and the strings of a replaced route) is freed once no loop can
still hold a pointer into it: loops read the table only between two waits,
and each loop counts its waits (``EventLoop.quiescent_count``, odd while it
sleeps), so once every reader loop was asleep at the publish or has entered
a wait since, the old table is garbage (quiescent-state reclamation, as in
RCU).  Also here: the per-thread cached ``Date`` value and the status lines.
"""
import os

from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memcmp, memset
from reactor._buffer cimport Buffer
from reactor._event_loop cimport EventLoop
from reactor._http_request cimport MAX_HEADER_CAP
from reactor._http_response cimport validate_header
from reactor._http_response import REASONS
from reactor.includes.static_files cimport (
    rh_files_new, rh_files_add_mount, rh_files_set_mime, rh_files_set_server, rh_files_free)

cdef object _STATUS_LINES = {}

cdef extern from *:
    """
    #define RH_RT_LOAD(p) __atomic_load_n(&(p), __ATOMIC_ACQUIRE)
    #define RH_RT_STORE(p, v) __atomic_store_n(&(p), (v), __ATOMIC_SEQ_CST)
    """
    RouteTable *rt_load "RH_RT_LOAD"(RouteTable *p) nogil
    void rt_store "RH_RT_STORE"(RouteTable *p, RouteTable *v) nogil

cdef extern from *:
    """
    #include <time.h>
    /* RFC 9110 IMF-fixdate, formatted at most once per second per thread
       (each loop has its own thread, so this is per loop). */
    static __thread time_t rh_date_sec = 0;
    static __thread char rh_date_buf[32];
    static const char *rh_http_date(void) {
        static const char days[7][4] = {"Sun","Mon","Tue","Wed","Thu","Fri","Sat"};
        static const char mons[12][4] = {"Jan","Feb","Mar","Apr","May","Jun",
                                         "Jul","Aug","Sep","Oct","Nov","Dec"};
        time_t now = time(NULL);
        if (now != rh_date_sec) {
            struct tm tm;
            gmtime_r(&now, &tm);
            snprintf(rh_date_buf, sizeof rh_date_buf, "%s, %02d %s %04d %02d:%02d:%02d GMT",
                     days[tm.tm_wday], tm.tm_mday, mons[tm.tm_mon], tm.tm_year + 1900,
                     tm.tm_hour, tm.tm_min, tm.tm_sec);
            rh_date_sec = now;
        }
        return rh_date_buf;
    }
    """
    const char *rh_http_date() nogil

cdef bytes status_line(int status):
    cdef object line = _STATUS_LINES.get(status)
    if line is None:
        reason = REASONS.get(status, "Unknown")
        line = ("HTTP/1.1 %d %s\r\n" % (status, reason)).encode("latin-1")
        _STATUS_LINES[status] = line
    return line


# Content types by extension: Python's built-in table (not the machine's
# /etc/mime.types, so every machine answers alike) with today's web types
_MIME_EXTRA = {
    ".js": "text/javascript", ".mjs": "text/javascript", ".json": "application/json",
    ".map": "application/json", ".wasm": "application/wasm", ".webp": "image/webp",
    ".avif": "image/avif", ".woff": "font/woff", ".woff2": "font/woff2", ".ttf": "font/ttf",
    ".otf": "font/otf", ".svg": "image/svg+xml", ".md": "text/markdown",
    ".webmanifest": "application/manifest+json", ".ico": "image/vnd.microsoft.icon",
    ".txt": "text/plain", ".csv": "text/csv", ".xml": "text/xml",
}


def mime_table():
    """{extension without the dot, lowercase: Content-Type} of static files;
    text types say ``charset=utf-8``."""
    import mimetypes
    types = dict(mimetypes.MimeTypes().types_map[True])
    types.update(_MIME_EXTRA)
    out = {}
    for ext, ctype in types.items():
        e = ext[1:].lower()
        if not e or len(e) > 15 or not e.isascii():
            continue
        if ctype.startswith("text/"):
            ctype += "; charset=utf-8"
        out[e] = ctype
    return out


cdef int _set_mime(HttpConfig cfg) except -1:
    cdef list items = sorted((e.encode("ascii"), t.encode("ascii")) for e, t in mime_table().items())
    cdef Py_ssize_t i, n = len(items)
    cdef const char **exts = <const char **>malloc((n + 1) * sizeof(char *))
    cdef const char **types = <const char **>malloc((n + 1) * sizeof(char *))
    try:
        if exts == NULL or types == NULL:
            raise MemoryError()
        for i in range(n):
            exts[i] = <char *>(<bytes>items[i][0])
            types[i] = <char *>(<bytes>items[i][1])
        if rh_files_set_mime(cfg.files, n, exts, types) != 0:
            raise MemoryError()
    finally:
        free(exts)
        free(types)
    return 0


cdef const char *http_date_c() noexcept nogil:
    return rh_http_date()


def http_date():
    """The current IMF-fixdate (cached per second per thread)."""
    return rh_http_date().decode("ascii")


cdef class HttpConfig:
    """Limits, timeouts, the handler and the static route table of a server.
    Set up before the server starts; read by every loop thread."""

    def __cinit__(self):
        self.table = NULL
        self._retired = []
        self._readers = []
        self.route_headers = {}
        self.log_nhdr = 0
        self.files = NULL
        self.files_frozen = False
        self.files_cache_entries = 256
        self.mounts = []

    def __init__(self, handler=None, max_request_line=8192, max_header_size=65536,
                 max_headers=100, max_body_size=16 * 1024 * 1024, keep_alive_timeout=5.0,
                 header_timeout=10.0, body_timeout=30.0, min_body_rate=500.0,
                 output_high_water=1024 * 1024,
                 access_log=False, server_header=b"reactor", access_log_format=None,
                 access_ring_size=1024, spool_threshold=1 << 20, spool_dir=None):
        for name, v in (("max_request_line", max_request_line), ("max_header_size", max_header_size),
                        ("max_headers", max_headers), ("max_body_size", max_body_size)):
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ValueError("%s must be a positive int, got %r" % (name, v))
        for name, v in (("keep_alive_timeout", keep_alive_timeout),
                        ("header_timeout", header_timeout), ("body_timeout", body_timeout)):
            if not isinstance(v, (int, float)) or not v > 0:     # NaN too
                raise ValueError("%s must be a positive number of seconds, got %r" % (name, v))
        if not isinstance(min_body_rate, (int, float)) or not min_body_rate >= 0:
            raise ValueError("min_body_rate must be a number of bytes per second >= 0, got %r"
                             % (min_body_rate,))
        if max_headers > MAX_HEADER_CAP:
            raise ValueError("max_headers must be <= %d" % MAX_HEADER_CAP)
        if not isinstance(access_ring_size, int) or isinstance(access_ring_size, bool) or \
                not 0 < access_ring_size <= 1 << 20:
            raise ValueError("access_ring_size must be an int in 1..%d, got %r"
                             % (1 << 20, access_ring_size))
        if not isinstance(spool_threshold, int) or isinstance(spool_threshold, bool) or \
                spool_threshold < 0:
            raise ValueError("spool_threshold must be an int >= 0 (bytes; 0 = never spool), "
                             "got %r" % (spool_threshold,))
        if spool_dir is not None and not os.path.isdir(spool_dir):
            raise ValueError("spool_dir %r is not a directory" % (spool_dir,))
        self.spool_threshold = spool_threshold
        self.spool_dir = spool_dir
        self.wsgi = None
        self.wsgi_inline = False
        self.limits.max_request_line = max_request_line
        self.limits.max_header_size = max_header_size
        self.limits.max_headers = max_headers
        self.limits.max_body_size = max_body_size
        self.handler = handler
        self.keep_alive_timeout = keep_alive_timeout
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.min_body_rate = min_body_rate
        self.output_high_water = output_high_water
        self.access_ring_size = access_ring_size
        self.access_logger = None
        if access_log_format is not None or access_log:
            self.set_access_log_format(access_log_format)   # a bad format fails here
        self.access_log = access_log
        self.stopping = False
        self.server_header = server_header

    def __dealloc__(self):
        cdef int i
        cdef RouteTable *t = self.table
        rh_files_free(self.files)       # closes the mounts' directory fds
        self.files = NULL
        if t != NULL:
            for i in range(t.n):
                free(t.routes[i].path)
                free(t.routes[i].head)
                free(t.routes[i].body)
            free(t)
        if self._retired is not None:
            for addrs, _ in self._retired:
                for addr in addrs:
                    free(<void *><size_t>addr)

    @property
    def access_log(self):
        """Whether requests are logged to ``reactor.access`` (see reactor.access_log)."""
        return self.log_on

    @access_log.setter
    def access_log(self, on):
        if on and self.access_logger is None:
            self.set_access_log_format(None)
        self.log_on = bool(on)

    def set_access_log_format(self, fmt=None):
        """Use the gunicorn-style ``fmt`` (None: the default) for access lines;
        ValueError for a bad one.  Set before the server starts: the static-route
        records capture the request headers this format needs."""
        cdef int i = 0
        cdef bytes b
        from reactor.access_log import AccessLog
        logger = AccessLog(fmt)
        captured = []
        memset(self.log_hdr_len, 0, sizeof(self.log_hdr_len))
        for name in logger.capture_headers:
            b = name.encode("latin-1")
            if len(b) >= LOG_HDR_NAME or i == LOG_HDRS:
                continue        # not captured: renders as '-' on static routes
            memcpy(self.log_hdr[i], <char *>b, len(b))
            self.log_hdr_len[i] = len(b)
            captured.append(name)
            i += 1
        logger.captured = tuple(captured)
        self.log_nhdr = i
        logger.static_headers = self.route_headers
        self.access_logger = logger

    @property
    def max_body_size(self):
        return self.limits.max_body_size

    @property
    def max_request_line(self):
        return self.limits.max_request_line

    @property
    def max_header_size(self):
        return self.limits.max_header_size

    @property
    def max_headers(self):
        return self.limits.max_headers

    def add_reader(self, EventLoop loop not None):
        """``loop`` serves connections of this config (reads the route table
        without a lock).  Call from the loop's thread or before it serves."""
        self._readers = [l for l in self._readers if not (<EventLoop>l)._closed]
        if loop not in self._readers:
            self._readers.append(loop)

    @property
    def retired_tables(self):
        """Old tables not freed yet (a loop may still read them)."""
        self._reclaim(False)
        return len(self._retired)

    cdef int _reclaim(self, bint force) except -1:
        """Free every retired block no reader loop can still hold."""
        cdef EventLoop loop
        cdef unsigned long long seen
        cdef list keep = []
        for addrs, snapshot in self._retired:
            safe = True
            if not force:
                for loop, seen in snapshot:
                    # closed or not running: reads nothing; seen odd: it was
                    # asleep when the new table went out; changed: it has
                    # been back to its wait since
                    if not (loop._closed or not loop._looping or seen & 1
                            or loop.quiescent_count() != seen):
                        safe = False
                        break
            if safe:
                for addr in addrs:
                    free(<void *><size_t>addr)
            else:
                keep.append((addrs, snapshot))
        self._retired = keep
        return 0

    def add_static_route(self, path, body, content_type="text/plain", int status=200, headers=None):
        """Register a fixed answer for GET/HEAD ``path`` (exact match, query ignored)."""
        cdef bytes p, b, head
        cdef StaticRoute *r
        cdef int i
        p = path.encode("latin-1") if isinstance(path, str) else bytes(path)
        if not p.startswith(b"/") and p != b"*":
            raise ValueError("static route path must start with '/': %r" % (path,))
        if any(c <= 0x20 or c >= 0x7f or c == 0x3f for c in p):
            raise ValueError("static route path must be visible ASCII without '?': %r" % (path,))
        b = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        lines = [status_line(status)]
        extra = list(headers.items() if hasattr(headers, "items") else (headers or ()))
        if content_type:
            extra.insert(0, ("Content-Type", content_type))
        names = set()
        for name, value in extra:
            n, v = validate_header(name, value)
            if n.lower() in (b"content-length", b"transfer-encoding", b"connection", b"date"):
                raise ValueError("static routes set %s themselves" % n.decode())
            names.add(n.lower())
            lines.append(n + b": " + v + b"\r\n")
        if b"server" not in names and self.server_header:
            lines.insert(1, b"Server: " + self.server_header + b"\r\n")
        if status >= 200 and status not in (204, 304):
            lines.append(b"Content-Length: %d\r\n" % len(b))
        else:
            b = b""
        head = b"".join(lines)
        # the response headers an access-log format may ask for ({name}o)
        resp_headers = [(ln[:ln.index(b":")].decode("latin-1").lower(),
                         ln[ln.index(b":") + 2:-2].decode("latin-1")) for ln in lines[1:]]
        # copy-on-write: loop threads read the table without the GIL or a lock,
        # so build a new one, publish it with one release store, and keep the
        # old table (and replaced strings) alive until the config is freed
        cdef RouteTable *old = self.table
        cdef RouteTable *t
        cdef int n_old = old.n if old != NULL else 0, idx = n_old, n_new
        for i in range(n_old):
            if old.routes[i].path_len == <size_t>len(p) and \
                    memcmp(old.routes[i].path, <char *>p, len(p)) == 0:
                idx = i
                break
        n_new = n_old + 1 if idx == n_old else n_old
        t = <RouteTable *>malloc(sizeof(RouteTable) + n_new * sizeof(StaticRoute))
        if t == NULL:
            raise MemoryError()
        t.n = n_new
        t.routes = <StaticRoute *>(<char *>t + sizeof(RouteTable))
        for i in range(n_old):
            t.routes[i] = old.routes[i]
        r = &t.routes[idx]
        r.path = <char *>malloc(len(p) + 1)
        r.head = <char *>malloc(len(head) + 1)
        r.body = <char *>malloc(len(b) + 1)
        if r.path == NULL or r.head == NULL or r.body == NULL:
            free(r.path); free(r.head); free(r.body); free(t)
            raise MemoryError()
        memcpy(r.path, <char *>p, len(p)); r.path_len = len(p)
        memcpy(r.head, <char *>head, len(head)); r.head_len = len(head)
        memcpy(r.body, <char *>b, len(b)); r.body_len = len(b)
        r.status = status
        retired = []
        if idx < n_old:
            retired = [<size_t>old.routes[idx].path, <size_t>old.routes[idx].head,
                       <size_t>old.routes[idx].body]
        rt_store(self.table, t)
        self.route_headers[p.decode("latin-1")] = resp_headers
        if old != NULL:
            retired.append(<size_t>old)
        if retired:
            # after the (seq_cst) publish: what each reader loop is doing now
            self._retired.append((retired, [(l, (<EventLoop>l).quiescent_count())
                                            for l in self._readers]))
        self._reclaim(False)

    def add_files(self, prefix, directory, index="index.html", list_dirs=False,
                  follow_symlinks=False, show_dotfiles=False, cache_control=None,
                  precompressed=True):
        """Serve the files under ``directory`` at ``prefix`` (see
        ``HttpServer.route_files``).  Before the server serves."""
        cdef bytes p, root, idx, cc = None
        cdef int dirfd
        if self.files_frozen:
            raise RuntimeError("route_files() must be called before the server starts")
        if not isinstance(prefix, str) or not prefix.startswith("/"):
            raise ValueError("a files prefix must be a str starting with '/': %r" % (prefix,))
        p = prefix.rstrip("/").encode("ascii", "replace")
        if any(c <= 0x20 or c >= 0x7f or c in b"?#%\\" for c in p) or \
                any(seg in (b"", b".", b"..") for seg in p.split(b"/")[1:]):
            raise ValueError("a files prefix must be a plain path (visible ASCII, no '?', '#', "
                             "'%%', backslash, empty, '.' or '..' segments): %r" % (prefix,))
        if prefix.rstrip("/") in [m[0] for m in self.mounts]:
            raise ValueError("%r is already mounted" % (prefix,))
        if not isinstance(directory, (str, bytes, os.PathLike)) or not os.path.isdir(directory):
            raise ValueError("%r is not a directory" % (directory,))
        if not isinstance(index, str) or "/" in index or index in (".", ".."):
            raise ValueError("index must be a file name (or '' for none), got %r" % (index,))
        if cache_control is not None:
            cc = validate_header("Cache-Control", cache_control)[1]
        root = os.fsencode(os.path.realpath(directory))
        idx = os.fsencode(index)
        if self.files == NULL:
            self.files = rh_files_new()
            if self.files == NULL:
                raise MemoryError()
            _set_mime(self)
        dirfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        if rh_files_add_mount(self.files, <char *>p, len(p), dirfd, <char *>root, <char *>idx,
                              bool(list_dirs), bool(follow_symlinks), bool(show_dotfiles),
                              bool(precompressed), NULL if cc is None else <char *>cc) != 0:
            os.close(dirfd)
            raise MemoryError()
        self.mounts.append((prefix.rstrip("/"), os.fsdecode(root)))
        self.freeze_files(False)

    def freeze_files(self, bint frozen=True):
        """No more mounts (the server starts); the Server header is taken now,
        once: the loops read it without a lock from then on."""
        cdef bytes server
        if self.files_frozen:
            return
        if self.files != NULL:
            server = bytes(self.server_header or b"")
            if rh_files_set_server(self.files, <char *>server, len(server)) != 0:
                raise MemoryError()
        if frozen:
            self.files_frozen = True

    def static_paths(self):
        cdef int i
        cdef RouteTable *t = self.table
        if t == NULL:
            return []
        return [t.routes[i].path[:t.routes[i].path_len].decode("latin-1") for i in range(t.n)]

    cdef bint has_routes(self) noexcept nogil:
        cdef RouteTable *t = rt_load(self.table)
        return t != NULL and t.n > 0

    cdef const StaticRoute *find_route(self, const char *path, size_t n) noexcept nogil:
        cdef int i
        cdef RouteTable *t = rt_load(self.table)
        if t == NULL:
            return NULL
        for i in range(t.n):
            if t.routes[i].path_len == n and memcmp(t.routes[i].path, path, n) == 0:
                return &t.routes[i]
        return NULL


cdef void append_static(Buffer out, const StaticRoute *r, bint head_only, bint keep_alive,
                        bint http10) noexcept nogil:
    """Frame a static route's answer into ``out``."""
    append_answer(out, r.head, r.head_len, r.body, r.body_len, head_only, keep_alive, http10)


cdef void append_answer(Buffer out, const char *head, size_t head_len, const char *body,
                        size_t body_len, bint head_only, bint keep_alive, bint http10) noexcept nogil:
    """Frame an answer made in C (a static route, a static file) into ``out``:
    its prebuilt head (status line and headers), Date, the Connection header
    the request needs, and the body unless HEAD.  ``out.oom`` tells a failure."""
    out.append_nogil(head, head_len)
    out.append_nogil(b"Date: ", 6)
    out.append_nogil(rh_http_date(), 29)
    if keep_alive and http10:
        out.append_nogil(b"\r\nConnection: keep-alive\r\n\r\n", 28)
    elif keep_alive:
        out.append_nogil(b"\r\n\r\n", 4)
    else:
        out.append_nogil(b"\r\nConnection: close\r\n\r\n", 23)
    if not head_only and body_len:
        out.append_nogil(body, body_len)
