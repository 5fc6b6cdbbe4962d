# HttpConfig: handler, limits, timeouts and the static route table of a server.
from reactor.includes.http_parser cimport rh_limits
from reactor._buffer cimport Buffer
from reactor.includes.static_files cimport rh_files

cdef struct StaticRoute:
    char *path
    size_t path_len
    char *head          # status line + fixed headers, without Date / Connection / final CRLF
    size_t head_len
    char *body
    size_t body_len
    int status          # for the access log

# What the C access-log records of static routes (``_http.AccessRecord``) can
# carry: request headers the log format needs, by lowercase name.
cdef enum:
    LOG_HDRS = 6            # request headers captured per record, at most
    LOG_HDR_NAME = 40       # longest header name that can be captured, plus one

cdef struct RouteTable:
    int n
    StaticRoute *routes     # right after this struct, in the same block

cdef class HttpConfig:
    cdef rh_limits limits
    cdef public object handler
    cdef public object wsgi             # a _wsgi.WSGICore: requests get an environ at parse time
    cdef public bint wsgi_inline        # ... and its app runs on the loop thread (no handler)
    cdef public size_t spool_threshold  # bodies over this many bytes go to a temporary file
    cdef public object spool_dir        # where (None: tempfile's default)
    cdef public double keep_alive_timeout
    cdef public double header_timeout
    cdef public double body_timeout
    cdef public double min_body_rate    # bytes/s a request body must average (0: no minimum)
    cdef public size_t output_high_water
    cdef bint log_on                    # access logging (the ``access_log`` property)
    cdef public object access_logger    # reactor.access_log.AccessLog once logging was on
    cdef public unsigned int access_ring_size   # records per loop for static routes
    cdef public dict route_headers      # path -> [(lowercase name, value)] of each static route
    cdef int log_nhdr                   # request headers a static-route record captures
    cdef unsigned char log_hdr_len[LOG_HDRS]
    cdef char log_hdr[LOG_HDRS][LOG_HDR_NAME]   # their lowercase names
    cdef public bint stopping           # graceful stop: answer with Connection: close
    cdef public object server_header    # bytes
    cdef public object tls              # a _tls.TlsContext, or None: plaintext
    cdef rh_files *files                # the mounts of route_files (NULL: none); fixed once serving
    cdef public bint files_frozen       # serving: no more mounts
    cdef public size_t files_cache_entries  # files each loop keeps open (see HttpServer)
    cdef public list mounts             # [(prefix, real directory)] for show
    cdef RouteTable *table           # published with a release store (copy-on-write)
    cdef list _retired               # [(addresses, [(loop, count)])]: freed once every loop let go
    cdef list _readers               # the EventLoops that read the table
    cdef int _reclaim(self, bint force) except -1
    cdef bint has_routes(self) noexcept nogil
    cdef const StaticRoute *find_route(self, const char *path, size_t n) noexcept nogil

cdef bytes status_line(int status)
cdef const char *http_date_c() noexcept nogil
cdef void append_static(Buffer out, const StaticRoute *r, bint head_only, bint keep_alive,
                        bint http10) noexcept nogil
cdef void append_answer(Buffer out, const char *head, size_t head_len, const char *body,
                        size_t body_len, bint head_only, bint keep_alive, bint http10) noexcept nogil
