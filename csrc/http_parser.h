/*
 * http_parser.h -- strict, zero-copy HTTP/1.1 request parser (RFC 9112).
 *
 * Owns nothing: every pointer it returns is a span into the caller's buffer
 * (one exception: `path` of an absolute-form target with an empty path points
 * to a static "/").  No malloc, no globals, no locks: safe to call from any
 * thread without the GIL as long as the caller owns the buffer and structs.
 *
 *   rh_parse_request()  stateless; call again from the start of the head
 *                       with more bytes until it stops returning RH_INCOMPLETE.
 *   rh_chunked_decode() incremental chunked-body decoder, one small struct
 *                       of state per body; errors are sticky.
 */
#ifndef REACTOR_HTTP_PARSER_H
#define REACTOR_HTTP_PARSER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    RH_INCOMPLETE = -1,             /* need more bytes */
    RH_E_BAD_REQUEST = -400,
    RH_E_TOO_LARGE = -413,
    RH_E_URI_TOO_LONG = -414,
    RH_E_HEADERS_TOO_LARGE = -431,
    RH_E_NOT_IMPLEMENTED = -501,
    RH_E_VERSION = -505
};

/* HTTP status for an RH_E_* code (RH_E_BAD_REQUEST -> 400); 0 if not an error. */
int rh_error_status(int err);

enum { RH_BODY_NONE = 0, RH_BODY_LENGTH = 1, RH_BODY_CHUNKED = 2 };

/* Longest chunk extension list accepted on one chunk-size line. */
#define RH_MAX_CHUNK_EXT 4096

typedef struct {
    const char *name; size_t name_len;
    const char *value; size_t value_len;   /* OWS stripped */
} rh_header;

typedef struct {
    size_t max_request_line;   /* request line excl. CRLF; over -> 414 */
    size_t max_header_size;    /* whole head incl. skipped leading CRLFs and final CRLFCRLF; over -> 431 */
    size_t max_headers;        /* header count; over -> 431 (capped at the capacity in num_headers) */
    uint64_t max_body_size;    /* Content-Length over it -> 413 */
} rh_limits;

typedef struct {
    const char *method; size_t method_len;
    const char *target; size_t target_len;    /* full request-target */
    const char *path;   size_t path_len;      /* target before '?'; "/" if absolute-form has no path;
                                                 authority-form: the target; asterisk-form: "*" */
    const char *query;  size_t query_len;     /* after '?'; NULL if the target has no '?' */
    int version_minor;                        /* 0 or 1 */
    rh_header *headers; size_t num_headers;   /* in: capacity; out: count (restored to the
                                                 capacity when the call does not succeed) */
    int body_kind;                            /* RH_BODY_* */
    uint64_t content_length;                  /* valid when RH_BODY_LENGTH */
    int keep_alive;
    int expect_continue;                      /* "Expect: 100-continue" on HTTP/1.1 */
    int upgrade;                              /* Connection: upgrade and an Upgrade header */
    const char *host; size_t host_len;        /* the request's host: the authority of an
                                                 absolute-form target (it wins over Host,
                                                 RFC 9112 3.2.2), else the Host value;
                                                 NULL if neither (HTTP/1.0 only) */
    const char *error;                        /* static text when an RH_E_* is returned, else NULL */
} rh_request;

/* Parse one request head from buf[0..len).  Returns the bytes consumed by the
 * head (> 0, leading empty lines and the final CRLFCRLF included),
 * RH_INCOMPLETE, or an RH_E_* code.  Limits are enforced on incomplete input
 * too.  lim == NULL means no limits besides the header capacity. */
int rh_parse_request(const char *buf, size_t len, rh_request *req, const rh_limits *lim);

/* Chunked body decoder.  Zero-initialised means "no limits";
 * rh_chunked_init() sets them.  Fields after `done` are private. */
typedef struct {
    int state;
    uint64_t chunk_remaining;  /* data bytes left in the current chunk */
    uint64_t total;            /* decoded bytes so far */
    uint64_t max_body;
    size_t trailer_bytes;      /* bytes of trailer field lines so far */
    int done;                  /* 1 once the final CRLF was consumed */
    /* private */
    int limited;
    int error;
    size_t max_trailer;
    size_t ext_len;
    unsigned ndigits;
    unsigned tname_len;
    char tname[20];
} rh_chunked;

void rh_chunked_init(rh_chunked *d, uint64_t max_body_size, size_t max_trailer_size);

/* Feed src[0..len); payload goes to dst (capacity >= len, dst == src is
 * allowed), *dst_len = bytes written.  Returns src bytes consumed (== len
 * unless the body ended inside src) or an RH_E_* code (sticky). */
ssize_t rh_chunked_decode(rh_chunked *d, const char *src, size_t len, char *dst, size_t *dst_len);

#ifdef __cplusplus
}
#endif

#endif /* REACTOR_HTTP_PARSER_H */
