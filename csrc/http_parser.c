/*
 * http_parser.c -- strict HTTP/1.1 request head parser and chunked decoder.
 *
 * Rules (RFC 9112 / RFC 9110); 400 unless another status is named:
 *  - Lines end in CRLF; a bare CR or LF anywhere in the head is an error.
 *    Empty lines before the request line are skipped (and consumed).
 *  - request-line = method SP request-target SP HTTP-version, single SPs.
 *    Method is a token.  The target is visible ASCII without '#'; its form
 *    must fit the method: origin ("/..."), absolute ("http[s]://authority..."),
 *    authority ("host:port", CONNECT only and always), asterisk (OPTIONS only).
 *    Longer than max_request_line -> 414.
 *  - Version "HTTP/1.0" or "HTTP/1.1"; another HTTP/DIGIT.DIGIT -> 505.
 *  - Field line = token ":" OWS value OWS; no space before ':', no obs-fold,
 *    no CTL (HTAB aside) or DEL in a value; obs-text is allowed.
 *    Whole head over max_header_size or more than max_headers fields -> 431.
 *  - Content-Length is 1*DIGIT, repeated only with the same value, no
 *    overflow; over max_body_size -> 413.
 *  - Transfer-Encoding (HTTP/1.1 only, never with Content-Length): a list
 *    across all TE fields whose final coding is "chunked", present once;
 *    other codings before it -> 501.
 *  - Host: exactly one, a valid uri-host [":" port]; required on HTTP/1.1.
 *  - Connection: a token list; close, keep-alive and upgrade are noted.
 * The chunked decoder applies the chunk grammar with extensions (bounded to
 * RH_MAX_CHUNK_EXT bytes), parses trailer fields like header fields and
 * rejects framing/routing/auth fields there.
 */
#include "http_parser.h"

#include <string.h>

enum { C_TCHAR = 1, C_VALUE = 2, C_TARGET = 4, C_HEX = 8, C_REGNAME = 16, C_QDTEXT = 32 };

/* Character classes: tchar, field-value octet (VCHAR/SP/HTAB/obs-text),
 * request-target octet, HEXDIG, reg-name octet (unreserved/sub-delims),
 * qdtext.  Generated once, checked by the tests. */
static const unsigned char cls[256] = {
     0,  0,  0,  0,  0,  0,  0,  0,  0, 34,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
    34, 55,  6, 35, 55, 39, 55, 55, 54, 54, 55, 55, 54, 55, 55, 38,
    63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 38, 54, 38, 54, 38, 38,
    38, 63, 63, 63, 63, 63, 63, 55, 55, 55, 55, 55, 55, 55, 55, 55,
    55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 38,  6, 38, 39, 55,
    39, 63, 63, 63, 63, 63, 63, 55, 55, 55, 55, 55, 55, 55, 55, 55,
    55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 38, 39, 38, 55,  0,
    34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34,
    34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34,
    34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34,
    34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34,
    34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34,
    34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34,
    34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34,
    34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34, 34,
};

#define IS(c, k) (cls[(unsigned char)(c)] & (k))
#define IS_WS(c) ((c) == ' ' || (c) == '\t')

/* Eight bytes at a time (SWAR) for the long runs: target and field values.
 * A flagged word is rescanned byte by byte; a clean word is all valid. */
#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull
#define HAS_LESS(x, n) (((x) - ONES * (n)) & ~(x) & HIGHS)     /* a byte < n (n <= 128) */
#define HAS_MORE(x, n) ((((x) + ONES * (127 - (n))) | (x)) & HIGHS) /* a byte > n (n <= 127) */
#define HAS_BYTE(x, c) HAS_LESS((x) ^ (ONES * (c)), 1)

static inline uint64_t load8(const unsigned char *p)
{
    uint64_t x;
    memcpy(&x, p, 8);
    return x;
}

/* End of the run of `k`-class bytes starting at b[p], not past `end`. */
static inline size_t scan_class(const unsigned char *b, size_t p, size_t end, unsigned k)
{
    for (;;) {
        size_t stop;
        while (end - p >= 8) {
            uint64_t x = load8(b + p);
            uint64_t bad = k == C_VALUE ? HAS_LESS(x, 0x20) | HAS_BYTE(x, 0x7f)
                                        : HAS_LESS(x, 0x21) | HAS_MORE(x, 0x7e) | HAS_BYTE(x, '#');
            if (bad) break;
            p += 8;
        }
        stop = end - p >= 8 ? p + 8 : end;
        while (p < stop && IS(b[p], k)) p++;
        if (p < stop || p == end) return p;
    }
}

static inline unsigned lower(unsigned char c) { return (c >= 'A' && c <= 'Z') ? c + 32u : c; }

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c = (unsigned char)lower(c);
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* Case-insensitive match of s[0..n) against a lowercase literal. */
static int ieq(const char *s, size_t n, const char *lit, size_t litn)
{
    if (n != litn) return 0;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)s[i]) != (unsigned char)lit[i]) return 0;
    return 1;
}
#define IEQ(s, n, lit) ieq((s), (n), (lit), sizeof(lit) - 1)

static int is_token(const char *s, size_t n)
{
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++)
        if (!IS(s[i], C_TCHAR)) return 0;
    return 1;
}

int rh_error_status(int err) { return (err <= -400 && err >= -599) ? -err : 0; }

/* Next element of the comma list v[0..n), OWS-trimmed into [*s, *e) (may be
 * empty).  *i starts at 0; returns 0 when the list is exhausted. */
static int list_next(const char *v, size_t n, size_t *i, size_t *s, size_t *e)
{
    size_t p = *i, a, b;
    if (p > n) return 0;
    while (p < n && IS_WS(v[p])) p++;
    a = p;
    while (p < n && v[p] != ',') p++;
    b = p;
    while (b > a && IS_WS(v[b - 1])) b--;
    *s = a; *e = b; *i = p + 1;
    return 1;
}

/* uri-host [":" port]; port is 1-5 digits <= 65535 and required if need_port. */
static int valid_host(const char *h, size_t n, int need_port)
{
    size_t i = 0;
    if (n == 0) return 0;
    if (h[0] == '[') {                       /* IP-literal */
        const char *close = memchr(h, ']', n);
        size_t k, m, colons = 0;
        if (close == NULL) return 0;
        m = (size_t)(close - h);
        if (m < 2) return 0;
        if (h[1] == 'v' || h[1] == 'V') {    /* IPvFuture: "v" 1*HEXDIG "." 1*(...) */
            for (k = 2; k < m && IS(h[k], C_HEX); k++) ;
            if (k == 2 || k + 1 >= m || h[k] != '.') return 0;
            for (k++; k < m; k++)
                if (!IS(h[k], C_REGNAME) && h[k] != ':') return 0;
        } else {                             /* IPv6address, loosely */
            for (k = 1; k < m; k++) {
                if (h[k] == ':') colons++;
                else if (!IS(h[k], C_HEX) && h[k] != '.') return 0;
            }
            if (colons < 2) return 0;
        }
        i = m + 1;
    } else {                                 /* reg-name / IPv4address */
        while (i < n && h[i] != ':') {
            if (IS(h[i], C_REGNAME)) i++;
            else if (h[i] == '%' && i + 2 < n && IS(h[i + 1], C_HEX) && IS(h[i + 2], C_HEX)) i += 3;
            else return 0;
        }
        if (i == 0) return 0;
    }
    if (i == n) return !need_port;
    if (h[i] != ':' || n - i - 1 == 0 || n - i - 1 > 5) return 0;
    unsigned port = 0;
    for (i++; i < n; i++) {
        if (h[i] < '0' || h[i] > '9') return 0;
        port = port * 10 + (unsigned)(h[i] - '0');
    }
    return port <= 65535;
}

/* What the header fields said about framing and the connection. */
typedef struct {
    int cl_seen, te_seen, te_chunked, te_last_chunked, te_other;
    int host_seen, conn_close, conn_keep, conn_upgrade, upgrade_seen, expect_continue;
    uint64_t cl;
} fields;

#define FAIL(code, msg) do { req->error = (msg); return (code); } while (0)

static int on_content_length(rh_request *req, fields *f, const char *v, size_t n)
{
    size_t i = 0, s, e;
    while (list_next(v, n, &i, &s, &e)) {
        uint64_t x = 0;
        if (s == e) FAIL(RH_E_BAD_REQUEST, "invalid Content-Length");
        for (size_t k = s; k < e; k++) {
            unsigned d = (unsigned)(unsigned char)v[k] - '0';
            if (d > 9) FAIL(RH_E_BAD_REQUEST, "invalid Content-Length");
            if (x > (UINT64_MAX - d) / 10) FAIL(RH_E_BAD_REQUEST, "Content-Length overflow");
            x = x * 10 + d;
        }
        if (f->cl_seen && x != f->cl) FAIL(RH_E_BAD_REQUEST, "conflicting Content-Length");
        f->cl = x;
        f->cl_seen = 1;
    }
    return 0;
}

static int on_transfer_encoding(rh_request *req, fields *f, const char *v, size_t n)
{
    size_t i = 0, s, e, codings = 0;
    if (req->version_minor == 0) FAIL(RH_E_BAD_REQUEST, "Transfer-Encoding in HTTP/1.0");
    f->te_seen = 1;
    while (list_next(v, n, &i, &s, &e)) {
        const char *semi;
        size_t ce;
        if (s == e) continue;                /* empty list element */
        codings++;
        semi = memchr(v + s, ';', e - s);
        ce = semi ? (size_t)(semi - v) : e;
        while (ce > s && IS_WS(v[ce - 1])) ce--;
        if (!is_token(v + s, ce - s)) FAIL(RH_E_BAD_REQUEST, "invalid transfer coding");
        if (IEQ(v + s, ce - s, "chunked")) {
            if (semi) FAIL(RH_E_BAD_REQUEST, "parameters on chunked");
            if (f->te_chunked) FAIL(RH_E_BAD_REQUEST, "chunked applied more than once");
            f->te_chunked = f->te_last_chunked = 1;
        } else {
            f->te_other = 1;
            f->te_last_chunked = 0;
        }
    }
    if (codings == 0) FAIL(RH_E_BAD_REQUEST, "empty Transfer-Encoding");
    return 0;
}

static int on_connection(rh_request *req, fields *f, const char *v, size_t n)
{
    size_t i = 0, s, e;
    while (list_next(v, n, &i, &s, &e)) {
        if (s == e) continue;
        if (!is_token(v + s, e - s)) FAIL(RH_E_BAD_REQUEST, "invalid Connection option");
        if (IEQ(v + s, e - s, "close")) f->conn_close = 1;
        else if (IEQ(v + s, e - s, "keep-alive")) f->conn_keep = 1;
        else if (IEQ(v + s, e - s, "upgrade")) f->conn_upgrade = 1;
    }
    return 0;
}

/* Note the semantics of one field; 0 or an RH_E_* code. */
static int on_field(rh_request *req, fields *f, const char *name, size_t nl, const char *v, size_t n)
{
    switch (nl) {
    case 4:
        if (!IEQ(name, nl, "host")) return 0;
        if (f->host_seen) FAIL(RH_E_BAD_REQUEST, "duplicate Host");
        if (!valid_host(v, n, 0)) FAIL(RH_E_BAD_REQUEST, "invalid Host");
        f->host_seen = 1;
        req->host = v;
        req->host_len = n;
        return 0;
    case 6:
        if (IEQ(name, nl, "expect")) {
            size_t i = 0, s, e;
            while (list_next(v, n, &i, &s, &e))
                if (IEQ(v + s, e - s, "100-continue")) f->expect_continue = 1;
        }
        return 0;
    case 7:
        if (IEQ(name, nl, "upgrade")) f->upgrade_seen = 1;
        return 0;
    case 10:
        return IEQ(name, nl, "connection") ? on_connection(req, f, v, n) : 0;
    case 14:
        return IEQ(name, nl, "content-length") ? on_content_length(req, f, v, n) : 0;
    case 17:
        return IEQ(name, nl, "transfer-encoding") ? on_transfer_encoding(req, f, v, n) : 0;
    default:
        return 0;
    }
}

/* Split an origin-form style "path[?query]" span. */
static void split_query(rh_request *req, const char *t, size_t n)
{
    const char *q = memchr(t, '?', n);
    req->path = t;
    req->path_len = q ? (size_t)(q - t) : n;
    req->query = q ? q + 1 : NULL;
    req->query_len = q ? n - (size_t)(q - t) - 1 : 0;
}

static int classify_target(rh_request *req)
{
    const char *t = req->target;
    size_t n = req->target_len;
    int connect = req->method_len == 7 && memcmp(req->method, "CONNECT", 7) == 0;
    int options = req->method_len == 7 && memcmp(req->method, "OPTIONS", 7) == 0;

    req->query = NULL;
    req->query_len = 0;
    if (connect) {                           /* authority-form, required */
        if (!valid_host(t, n, 1)) FAIL(RH_E_BAD_REQUEST, "CONNECT needs host:port");
        req->path = t;
        req->path_len = n;
    } else if (t[0] == '/') {                /* origin-form */
        split_query(req, t, n);
    } else if (n == 1 && t[0] == '*') {      /* asterisk-form */
        if (!options) FAIL(RH_E_BAD_REQUEST, "'*' target is only for OPTIONS");
        req->path = t;
        req->path_len = 1;
    } else {                                 /* absolute-form */
        size_t a, e;
        if (n > 7 && IEQ(t, 7, "http://")) a = 7;
        else if (n > 8 && IEQ(t, 8, "https://")) a = 8;
        else FAIL(RH_E_BAD_REQUEST, "invalid request-target");
        for (e = a; e < n && t[e] != '/' && t[e] != '?'; e++) ;
        if (!valid_host(t + a, e - a, 0)) FAIL(RH_E_BAD_REQUEST, "invalid authority in request-target");
        if (e < n && t[e] == '/') {
            split_query(req, t + e, n - e);
        } else {
            req->path = "/";
            req->path_len = 1;
            if (e < n) {
                req->query = t + e + 1;
                req->query_len = n - e - 1;
            }
        }
    }
    return 0;
}

/* INCOMPLETE, or 414 once the request line starting at s is too long. */
static int rl_short(rh_request *req, size_t p, size_t s, size_t max_rl)
{
    if (p - s > max_rl) FAIL(RH_E_URI_TOO_LONG, "request line too long");
    return RH_INCOMPLETE;
}

/* Request line at b[*pos..len); on success *pos is past its CRLF. */
static int parse_request_line(const unsigned char *b, size_t len, size_t *pos, rh_request *req, size_t max_rl)
{
    size_t s = *pos, p = s, e, ts, vs;
    /* Content may occupy at most max_rl bytes; the CR may sit right after. */
    e = (len - s > max_rl) ? s + max_rl + 1 : len;

    while (p < e && IS(b[p], C_TCHAR)) p++;
    if (p == e) return rl_short(req, p, s, max_rl);
    if (b[p] != ' ' || p == s) FAIL(RH_E_BAD_REQUEST, "invalid method");
    req->method = (const char *)b + s;
    req->method_len = p - s;

    ts = ++p;
    p = scan_class(b, p, e, C_TARGET);
    if (p == e) return rl_short(req, p, s, max_rl);
    if (b[p] != ' ' || p == ts) FAIL(RH_E_BAD_REQUEST, "invalid request-target");
    req->target = (const char *)b + ts;
    req->target_len = p - ts;

    vs = ++p;
    while (p < e && b[p] > 0x20 && b[p] < 0x7f) p++;
    if (p == e) return rl_short(req, p, s, max_rl);
    if (b[p] != '\r') FAIL(RH_E_BAD_REQUEST, "invalid HTTP version");
    if (p - vs != 8 || memcmp(b + vs, "HTTP/", 5) != 0 || b[vs + 5] < '0' || b[vs + 5] > '9' ||
        b[vs + 6] != '.' || b[vs + 7] < '0' || b[vs + 7] > '9')
        FAIL(RH_E_BAD_REQUEST, "invalid HTTP version");
    if (b[vs + 5] != '1' || b[vs + 7] > '1') FAIL(RH_E_VERSION, "HTTP version not supported");
    req->version_minor = b[vs + 7] - '0';
    if (p + 1 >= len) return RH_INCOMPLETE;
    if (b[p + 1] != '\n') FAIL(RH_E_BAD_REQUEST, "bare CR in request line");
    *pos = p + 2;
    return classify_target(req);
}

/* Field lines from b[p..end) up to and including the empty line. */
static int parse_fields(const unsigned char *b, size_t end, size_t p, rh_request *req, size_t max_n, fields *f)
{
    size_t n = 0;
    for (;;) {
        size_t ns, nl, vs, ve;
        int r;
        if (p >= end) return RH_INCOMPLETE;
        if (b[p] == '\r') {
            if (p + 1 >= end) return RH_INCOMPLETE;
            if (b[p + 1] != '\n') FAIL(RH_E_BAD_REQUEST, "bare CR in header section");
            req->num_headers = n;
            return (int)(p + 2);
        }
        ns = p;
        while (p < end && IS(b[p], C_TCHAR)) p++;
        if (p >= end) return RH_INCOMPLETE;
        if (b[p] != ':') {
            if (p == ns && IS_WS(b[p])) FAIL(RH_E_BAD_REQUEST, "obs-fold or whitespace before field name");
            if (IS_WS(b[p])) FAIL(RH_E_BAD_REQUEST, "whitespace before colon");
            if (b[p] == '\n') FAIL(RH_E_BAD_REQUEST, "bare LF in header section");
            FAIL(RH_E_BAD_REQUEST, "invalid field name");
        }
        if (p == ns) FAIL(RH_E_BAD_REQUEST, "empty field name");
        nl = p - ns;
        p++;
        while (p < end && IS_WS(b[p])) p++;
        vs = p;
        p = scan_class(b, p, end, C_VALUE);
        if (p >= end) return RH_INCOMPLETE;
        if (b[p] != '\r') FAIL(RH_E_BAD_REQUEST, "invalid character in field value");
        if (p + 1 >= end) return RH_INCOMPLETE;
        if (b[p + 1] != '\n') FAIL(RH_E_BAD_REQUEST, "bare CR in field value");
        for (ve = p; ve > vs && IS_WS(b[ve - 1]); ve--) ;
        p += 2;
        if (n >= max_n) FAIL(RH_E_HEADERS_TOO_LARGE, "too many header fields");
        req->headers[n].name = (const char *)b + ns;
        req->headers[n].name_len = nl;
        req->headers[n].value = (const char *)b + vs;
        req->headers[n].value_len = ve - vs;
        n++;
        r = on_field(req, f, (const char *)b + ns, nl, (const char *)b + vs, ve - vs);
        if (r != 0) return r;
    }
}

static int parse_head(const unsigned char *b, size_t len, rh_request *req, const rh_limits *lim, size_t max_n)
{
    size_t max_hs = lim ? lim->max_header_size : (size_t)-1;
    size_t end = len < max_hs ? len : max_hs;  /* the head may not extend past `end` */
    size_t p = 0;
    fields f;
    int r;

    while (p < end && b[p] == '\r') {        /* empty lines before the request line */
        if (p + 1 >= end) return RH_INCOMPLETE;
        if (b[p + 1] != '\n') FAIL(RH_E_BAD_REQUEST, "bare CR before request line");
        p += 2;
    }
    if (p >= end) return RH_INCOMPLETE;
    if (b[p] == '\n') FAIL(RH_E_BAD_REQUEST, "bare LF before request line");
    r = parse_request_line(b, len, &p, req, lim ? lim->max_request_line : (size_t)-1);
    if (r != 0) return r;

    memset(&f, 0, sizeof f);
    r = parse_fields(b, end, p, req, max_n, &f);
    if (r <= 0) return r;

    if (req->version_minor == 1 && !f.host_seen) FAIL(RH_E_BAD_REQUEST, "missing Host");
    if (req->target[0] != '/' && req->path != req->target) {
        /* absolute-form: its authority is the request's host and the Host
           field is ignored (RFC 9112 3.2.2); classify_target validated it */
        const char *t = req->target;
        size_t a = t[4] == ':' ? 7 : 8, e;     /* "http://" or "https://" */
        for (e = a; e < req->target_len && t[e] != '/' && t[e] != '?'; e++) ;
        req->host = t + a;
        req->host_len = e - a;
    }
    if (f.te_seen) {
        if (f.cl_seen) FAIL(RH_E_BAD_REQUEST, "both Transfer-Encoding and Content-Length");
        if (!f.te_last_chunked) FAIL(RH_E_BAD_REQUEST, "chunked is not the final transfer coding");
        if (f.te_other) FAIL(RH_E_NOT_IMPLEMENTED, "transfer coding not implemented");
        req->body_kind = RH_BODY_CHUNKED;
    } else if (f.cl_seen) {
        if (lim && f.cl > lim->max_body_size) FAIL(RH_E_TOO_LARGE, "Content-Length over the limit");
        req->body_kind = RH_BODY_LENGTH;
        req->content_length = f.cl;
    }
    req->keep_alive = req->version_minor == 1 ? !f.conn_close : (f.conn_keep && !f.conn_close);
    req->expect_continue = req->version_minor == 1 && f.expect_continue;
    req->upgrade = f.conn_upgrade && f.upgrade_seen;
    return r;
}

int rh_parse_request(const char *buf, size_t len, rh_request *req, const rh_limits *lim)
{
    size_t cap = req->num_headers;
    size_t max_n = (lim && lim->max_headers < cap) ? lim->max_headers : cap;
    int r;

    req->error = NULL;
    req->body_kind = RH_BODY_NONE;
    req->content_length = 0;
    req->keep_alive = req->expect_continue = req->upgrade = 0;
    req->host = NULL;
    req->host_len = 0;
    if (len > (size_t)INT32_MAX) len = (size_t)INT32_MAX;   /* consumed must fit an int */
    r = parse_head((const unsigned char *)buf, len, req, lim, max_n);
    if (r == RH_INCOMPLETE && lim && len >= lim->max_header_size) {
        req->error = "header section too large";
        r = RH_E_HEADERS_TOO_LARGE;
    }
    if (r <= 0) req->num_headers = cap;
    return r;
}

/* ---- chunked decoder ---------------------------------------------------- */

enum {
    CS_SIZE = 0,        /* hex digits of chunk-size */
    CS_AFTER_SIZE,      /* ';', BWS or CR */
    CS_EXT_WS,          /* BWS that must lead to ';' */
    CS_EXT_NAME_PRE,    /* BWS after ';' */
    CS_EXT_NAME,
    CS_EXT_NAME_WS,     /* BWS after a name: '=' or ';' next */
    CS_EXT_VAL_PRE,     /* BWS after '=' */
    CS_EXT_TOKEN,
    CS_EXT_QS,          /* inside a quoted-string */
    CS_EXT_QP,          /* after a backslash */
    CS_EXT_QEND,        /* after the closing quote */
    CS_SIZE_LF,
    CS_DATA,
    CS_DATA_CR,
    CS_DATA_LF,
    CS_T_START,         /* start of a trailer line */
    CS_T_NAME,
    CS_T_VALUE,
    CS_T_LF,
    CS_END_LF,          /* LF of the final empty line */
    CS_DONE,
    CS_ERROR
};

void rh_chunked_init(rh_chunked *d, uint64_t max_body_size, size_t max_trailer_size)
{
    memset(d, 0, sizeof *d);
    d->max_body = max_body_size;
    d->max_trailer = max_trailer_size;
    d->limited = 1;
}

/* Fields that decide framing, routing, authentication or how the content is
 * processed may not arrive after the content (RFC 9110 6.5.1). */
static int forbidden_trailer(const char *n, size_t len)
{
    static const char *const names[] = {
        "content-length", "transfer-encoding", "host", "connection", "trailer", "te",
        "content-type", "content-encoding", "content-range", "expect", "upgrade",
        "keep-alive", "proxy-connection", "authorization", "proxy-authorization",
        "cookie", "range",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i]) == len && memcmp(names[i], n, len) == 0) return 1;
    return 0;
}

static ssize_t chunk_fail(rh_chunked *d, int code)
{
    d->state = CS_ERROR;
    d->error = code;
    return code;
}

ssize_t rh_chunked_decode(rh_chunked *d, const char *src, size_t len, char *dst, size_t *dst_len)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t i = 0, w = 0;

    *dst_len = 0;
    if (d->state == CS_ERROR) return d->error;
    while (i < len && d->state != CS_DONE) {
        unsigned char c;
        if (d->state == CS_DATA) {           /* the hot path: copy payload */
            size_t n = len - i;
            if (n > d->chunk_remaining) n = (size_t)d->chunk_remaining;
            if (dst + w != src + i) memmove(dst + w, src + i, n);
            w += n;
            i += n;
            d->chunk_remaining -= n;
            d->total += n;
            if (d->chunk_remaining == 0) d->state = CS_DATA_CR;
            continue;
        }
        c = s[i];
        if (d->state >= CS_AFTER_SIZE && d->state <= CS_EXT_QEND && ++d->ext_len > RH_MAX_CHUNK_EXT)
            return chunk_fail(d, RH_E_BAD_REQUEST);
        if (d->state >= CS_T_NAME && d->state <= CS_T_LF && d->limited && ++d->trailer_bytes > d->max_trailer)
            return chunk_fail(d, RH_E_HEADERS_TOO_LARGE);
        switch (d->state) {
        case CS_SIZE: {
            int h = hexval(c);
            if (h >= 0) {
                if (d->ndigits == 16) return chunk_fail(d, RH_E_BAD_REQUEST);
                d->chunk_remaining = (d->chunk_remaining << 4) | (uint64_t)h;
                d->ndigits++;
                break;
            }
            if (d->ndigits == 0) return chunk_fail(d, RH_E_BAD_REQUEST);
            if (d->limited && d->chunk_remaining > d->max_body - d->total)
                return chunk_fail(d, RH_E_TOO_LARGE);
            d->state = CS_AFTER_SIZE;
            continue;                        /* look at c again */
        }
        case CS_AFTER_SIZE:
        case CS_EXT_TOKEN:
        case CS_EXT_QEND:
            if (d->state == CS_EXT_TOKEN && IS(c, C_TCHAR)) break;
            if (c == ';') d->state = CS_EXT_NAME_PRE;
            else if (IS_WS(c)) d->state = CS_EXT_WS;
            else if (c == '\r') d->state = CS_SIZE_LF;
            else return chunk_fail(d, RH_E_BAD_REQUEST);
            break;
        case CS_EXT_WS:
            if (c == ';') d->state = CS_EXT_NAME_PRE;
            else if (!IS_WS(c)) return chunk_fail(d, RH_E_BAD_REQUEST);
            break;
        case CS_EXT_NAME_PRE:
            if (IS(c, C_TCHAR)) d->state = CS_EXT_NAME;
            else if (!IS_WS(c)) return chunk_fail(d, RH_E_BAD_REQUEST);
            break;
        case CS_EXT_NAME:
        case CS_EXT_NAME_WS:
            if (d->state == CS_EXT_NAME && IS(c, C_TCHAR)) break;
            if (c == '=') d->state = CS_EXT_VAL_PRE;
            else if (c == ';') d->state = CS_EXT_NAME_PRE;
            else if (IS_WS(c)) d->state = CS_EXT_NAME_WS;
            else if (c == '\r' && d->state == CS_EXT_NAME) d->state = CS_SIZE_LF;
            else return chunk_fail(d, RH_E_BAD_REQUEST);
            break;
        case CS_EXT_VAL_PRE:
            if (IS(c, C_TCHAR)) d->state = CS_EXT_TOKEN;
            else if (c == '"') d->state = CS_EXT_QS;
            else if (!IS_WS(c)) return chunk_fail(d, RH_E_BAD_REQUEST);
            break;
        case CS_EXT_QS:
            if (c == '"') d->state = CS_EXT_QEND;
            else if (c == '\\') d->state = CS_EXT_QP;
            else if (!IS(c, C_QDTEXT)) return chunk_fail(d, RH_E_BAD_REQUEST);
            break;
        case CS_EXT_QP:                      /* quoted-pair: HTAB / SP / VCHAR / obs-text */
            if (!IS(c, C_VALUE)) return chunk_fail(d, RH_E_BAD_REQUEST);
            d->state = CS_EXT_QS;
            break;
        case CS_SIZE_LF:
            if (c != '\n') return chunk_fail(d, RH_E_BAD_REQUEST);
            d->state = d->chunk_remaining ? CS_DATA : CS_T_START;
            d->ndigits = 0;
            d->ext_len = 0;
            break;
        case CS_DATA_CR:
            if (c != '\r') return chunk_fail(d, RH_E_BAD_REQUEST);
            d->state = CS_DATA_LF;
            break;
        case CS_DATA_LF:
            if (c != '\n') return chunk_fail(d, RH_E_BAD_REQUEST);
            d->state = CS_SIZE;
            break;
        case CS_T_START:
            if (c == '\r') { d->state = CS_END_LF; break; }
            if (!IS(c, C_TCHAR)) return chunk_fail(d, RH_E_BAD_REQUEST);
            d->tname_len = 0;
            d->state = CS_T_NAME;
            continue;                        /* count and store c as a name byte */
        case CS_T_NAME:
            if (IS(c, C_TCHAR)) {
                if (d->tname_len < sizeof d->tname) d->tname[d->tname_len] = (char)lower(c);
                if (d->tname_len <= sizeof d->tname) d->tname_len++;
                break;
            }
            if (c != ':' || d->tname_len == 0) return chunk_fail(d, RH_E_BAD_REQUEST);
            if (d->tname_len <= sizeof d->tname && forbidden_trailer(d->tname, d->tname_len))
                return chunk_fail(d, RH_E_BAD_REQUEST);
            d->state = CS_T_VALUE;
            break;
        case CS_T_VALUE:
            if (c == '\r') d->state = CS_T_LF;
            else if (!IS(c, C_VALUE)) return chunk_fail(d, RH_E_BAD_REQUEST);
            break;
        case CS_T_LF:
            if (c != '\n') return chunk_fail(d, RH_E_BAD_REQUEST);
            d->state = CS_T_START;
            break;
        case CS_END_LF:
            if (c != '\n') return chunk_fail(d, RH_E_BAD_REQUEST);
            d->state = CS_DONE;
            d->done = 1;
            break;
        default:
            return chunk_fail(d, RH_E_BAD_REQUEST);
        }
        i++;
    }
    *dst_len = w;
    return (ssize_t)i;
}
