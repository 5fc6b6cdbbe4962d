# C declarations of csrc/http_parser.h: the strict HTTP/1.1 request parser.
# Every function is pure C over caller-owned memory: callable without the GIL.

from libc.stdint cimport uint64_t


cdef extern from "http_parser.h" nogil:

    enum:
        RH_INCOMPLETE
        RH_E_BAD_REQUEST
        RH_E_TOO_LARGE
        RH_E_URI_TOO_LONG
        RH_E_HEADERS_TOO_LARGE
        RH_E_NOT_IMPLEMENTED
        RH_E_VERSION

    enum:
        RH_BODY_NONE
        RH_BODY_LENGTH
        RH_BODY_CHUNKED

    enum:
        RH_MAX_CHUNK_EXT

    ctypedef struct rh_header:
        const char *name
        size_t name_len
        const char *value
        size_t value_len

    ctypedef struct rh_limits:
        size_t max_request_line
        size_t max_header_size
        size_t max_headers
        uint64_t max_body_size

    ctypedef struct rh_request:
        const char *method
        size_t method_len
        const char *target
        size_t target_len
        const char *path
        size_t path_len
        const char *query
        size_t query_len
        int version_minor
        rh_header *headers
        size_t num_headers
        int body_kind
        uint64_t content_length
        int keep_alive
        int expect_continue
        int upgrade
        const char *host
        size_t host_len
        const char *error

    # Only the public fields; the rest of the struct is private to the C file.
    ctypedef struct rh_chunked:
        int state
        uint64_t chunk_remaining
        uint64_t total
        uint64_t max_body
        size_t trailer_bytes
        int done

    int rh_error_status(int err)
    int rh_parse_request(const char *buf, size_t len, rh_request *req,
                         const rh_limits *lim)
    void rh_chunked_init(rh_chunked *d, uint64_t max_body_size,
                         size_t max_trailer_size)
    ssize_t rh_chunked_decode(rh_chunked *d, const char *src, size_t len,
                              char *dst, size_t *dst_len)
