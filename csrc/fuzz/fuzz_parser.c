/*
 * fuzz_parser.c -- libFuzzer harness for csrc/http_parser.c.
 *
 * Input layout: byte 0 picks the configuration, bytes 1.. are the data.
 *   bits 0-1  request limits:  0 small {32, 128, 4, 100}, 1 default-like
 *             {1024, 8192, 32, 1 MiB}, 2 tight {16, 64, 2, 0},
 *             3 every limit at its maximum (must behave exactly like lim == NULL)
 *   bits 2-4  header capacity: 32, 0, 1, 2, 4, 8, 64, 100
 *   bits 5-6  chunked limits {max_body, max_trailer}: {1 MiB, 8192},
 *             {100, 16}, {0, 0}, {UINT64_MAX, SIZE_MAX}
 *   bit  7    salt for the pseudo-random split points
 *
 * The data is copied into a malloc'd buffer of exactly its size (and every
 * prefix or piece into its own exact buffer) so ASan reports any over-read.
 * Invariants are checked with abort() after a line on stderr naming them;
 * README.md lists them.
 */
#include "http_parser.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers -------------------------------------------------------------- */

static const char *phase = "";

static void violated(const char *what, int line)
{
    fprintf(stderr, "fuzz_parser: invariant violated [%s] line %d: %s\n", phase, line, what);
    abort();
}

#define CHECK(cond) do { if (!(cond)) violated(#cond, __LINE__); } while (0)

static char *dup_exact(const char *s, size_t n)
{
    char *p = malloc(n ? n : 1);
    if (p == NULL) abort();
    if (n) memcpy(p, s, n);
    return p;
}

/* p[0..n) lies inside base[0..len). */
static int inside(const char *p, size_t n, const char *base, size_t len)
{
    uintptr_t a = (uintptr_t)p, b = (uintptr_t)base;
    return p != NULL && a >= b && n <= len && a - b <= len - n;
}

/* Offset of p in base[0..len], or -1 for NULL, -2 for anything else. */
static long long offset_in(const char *p, const char *base, size_t len)
{
    if (p == NULL) return -1;
    if (inside(p, 0, base, len)) return (long long)((uintptr_t)p - (uintptr_t)base);
    return -2;
}

static uint64_t rng_next(uint64_t *s)              /* splitmix64 */
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t hash_bytes(const char *p, size_t n, uint64_t seed)   /* FNV-1a */
{
    uint64_t h = 0xcbf29ce484222325ull ^ seed;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
    return h;
}

/* RFC 9110 character classes, written independently of the parser's table. */
static int tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}
static int ows(unsigned char c) { return c == ' ' || c == '\t'; }
static int field_vchar(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }
static int target_char(unsigned char c) { return c > 0x20 && c < 0x7f && c != '#'; }

static int ieq(const char *s, size_t n, const char *lit)
{
    size_t m = strlen(lit);
    if (n != m) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z') c = (unsigned char)(c + 32);
        if (c != (unsigned char)lit[i]) return 0;
    }
    return 1;
}

/* Calls fn on each OWS-trimmed element (possibly empty) of the comma list. */
typedef void (*elem_fn)(const char *e, size_t n, void *ctx);
static void each_elem(const char *v, size_t n, elem_fn fn, void *ctx)
{
    size_t i = 0;
    for (;;) {
        size_t a = i, b;
        while (i < n && v[i] != ',') i++;
        b = i;
        while (a < b && ows((unsigned char)v[a])) a++;
        while (b > a && ows((unsigned char)v[b - 1])) b--;
        fn(v + a, b - a, ctx);
        if (i >= n) return;
        i++;
    }
}

/* ---- configuration -------------------------------------------------------- */

static const rh_limits req_limits[4] = {
    { 32, 128, 4, 100 },
    { 1024, 8192, 32, 1u << 20 },
    { 16, 64, 2, 0 },
    { SIZE_MAX, SIZE_MAX, SIZE_MAX, UINT64_MAX },
};
static const size_t capacities[8] = { 32, 0, 1, 2, 4, 8, 64, 100 };
#define MAX_CAP 100
static const struct { uint64_t body; size_t trailer; } chunk_limits[4] = {
    { 1u << 20, 8192 }, { 100, 16 }, { 0, 0 }, { UINT64_MAX, SIZE_MAX },
};

/* ---- request heads --------------------------------------------------------- */

typedef struct {
    int rc;
    rh_request req;
    rh_header h[MAX_CAP];
} parsed;

static int is_rc(int rc)
{
    return rc > 0 || rc == RH_INCOMPLETE || rc == RH_E_BAD_REQUEST || rc == RH_E_TOO_LARGE ||
           rc == RH_E_URI_TOO_LONG || rc == RH_E_HEADERS_TOO_LARGE || rc == RH_E_NOT_IMPLEMENTED ||
           rc == RH_E_VERSION;
}

/* Semantics gathered from the returned header list, independently of the parser. */
typedef struct {
    int n_host, n_cl, n_te, te_elems, te_chunked, conn_close, conn_keep, conn_upgrade, conn_bad;
    int n_upgrade, expect_100, cl_seen, cl_bad;
    uint64_t cl;
} seen;

static void te_elem(const char *e, size_t n, void *ctx)
{
    seen *s = ctx;
    if (n == 0) return;
    s->te_elems++;
    if (ieq(e, n, "chunked")) s->te_chunked++;
}

static void conn_elem(const char *e, size_t n, void *ctx)
{
    seen *s = ctx;
    if (n == 0) return;
    for (size_t i = 0; i < n; i++)
        if (!tchar((unsigned char)e[i])) s->conn_bad = 1;
    if (ieq(e, n, "close")) s->conn_close = 1;
    if (ieq(e, n, "keep-alive")) s->conn_keep = 1;
    if (ieq(e, n, "upgrade")) s->conn_upgrade = 1;
}

static void expect_elem(const char *e, size_t n, void *ctx)
{
    if (ieq(e, n, "100-continue")) ((seen *)ctx)->expect_100 = 1;
}

static void cl_elem(const char *e, size_t n, void *ctx)
{
    seen *s = ctx;
    uint64_t x = 0;
    if (n == 0) { s->cl_bad = 1; return; }
    for (size_t i = 0; i < n; i++) {
        if (e[i] < '0' || e[i] > '9' || __builtin_mul_overflow(x, 10, &x) ||
            __builtin_add_overflow(x, (uint64_t)(e[i] - '0'), &x)) {
            s->cl_bad = 1;
            return;
        }
    }
    if (s->cl_seen && x != s->cl) s->cl_bad = 1;
    s->cl = x;
    s->cl_seen = 1;
}

/* Invariants of one rh_parse_request() call on buf[0..len). */
static void check_parse(const parsed *P, const char *buf, size_t len, const rh_limits *lim, size_t cap,
                        unsigned char fill)
{
    const rh_request *r = &P->req;
    int rc = P->rc;
    const char *sentinel;
    memset(&sentinel, fill, sizeof sentinel);

    CHECK(is_rc(rc));
    CHECK(rc <= 0 || (size_t)rc <= len);
    CHECK(r->headers == P->h);
    if (rc < RH_INCOMPLETE) {
        CHECK(r->error != NULL);
        CHECK(rh_error_status(rc) == -rc);
    } else {
        CHECK(r->error == NULL);
    }
    if (rc <= 0) {
        /* spans the parser had set before stopping still point into buf */
        CHECK(r->num_headers == cap);
        CHECK(r->method == sentinel || inside(r->method, r->method_len, buf, len));
        CHECK(r->target == sentinel || inside(r->target, r->target_len, buf, len));
        CHECK(r->path == sentinel || inside(r->path, r->path_len, buf, len) ||
              (r->path_len == 1 && r->path[0] == '/'));
        CHECK(r->query == sentinel || r->query == NULL || inside(r->query, r->query_len, buf, len));
        CHECK(r->host == NULL || inside(r->host, r->host_len, buf, len));
        return;
    }

    /* ---- a complete head: rebuild its structure from buf ---- */
    size_t n = (size_t)rc, s, q, cr;
    CHECK(n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0);
    CHECK(r->num_headers <= cap);
    if (lim) {
        CHECK(n <= lim->max_header_size);
        CHECK(r->num_headers <= lim->max_headers);
        CHECK(r->body_kind != RH_BODY_LENGTH || r->content_length <= lim->max_body_size);
    }
    /* leading empty lines, then the request line */
    CHECK(inside(r->method, r->method_len, buf, n) && r->method_len > 0);
    s = (size_t)(r->method - buf);
    CHECK(s % 2 == 0);
    for (size_t i = 0; i < s; i += 2) CHECK(buf[i] == '\r' && buf[i + 1] == '\n');
    for (size_t i = 0; i < r->method_len; i++) CHECK(tchar((unsigned char)r->method[i]));
    CHECK(buf[s + r->method_len] == ' ');
    CHECK(r->target == r->method + r->method_len + 1 && r->target_len > 0);
    CHECK(inside(r->target, r->target_len + 11, buf, n));
    for (size_t i = 0; i < r->target_len; i++) CHECK(target_char((unsigned char)r->target[i]));
    q = (size_t)(r->target - buf) + r->target_len;
    CHECK(r->version_minor == 0 || r->version_minor == 1);
    CHECK(memcmp(buf + q, " HTTP/1.", 8) == 0 && buf[q + 8] == '0' + r->version_minor);
    cr = q + 9;
    CHECK(buf[cr] == '\r' && buf[cr + 1] == '\n');
    if (lim) CHECK(cr - s <= lim->max_request_line);
    q = cr + 2;

    /* target form, path and query */
    const char *t = r->target, *tend = r->target + r->target_len;
    const char *auth = NULL, *host_field = NULL;    /* absolute-form authority, Host value */
    size_t auth_len = 0, host_field_len = 0;
    int connect = r->method_len == 7 && memcmp(r->method, "CONNECT", 7) == 0;
    CHECK(r->query == NULL || (inside(r->query, r->query_len, t, r->target_len) && r->query[-1] == '?' &&
                               r->query + r->query_len == tend));
    if (connect) {
        CHECK(r->path == t && r->path_len == r->target_len && r->query == NULL);
        CHECK(memchr(t, ':', r->target_len) != NULL);
    } else if (t[0] == '/') {
        CHECK(r->path == t && memchr(t, '?', r->path_len) == NULL);
        CHECK(r->query ? r->path + r->path_len + 1 == r->query : r->path_len == r->target_len);
    } else if (r->target_len == 1 && t[0] == '*') {
        CHECK(r->method_len == 7 && memcmp(r->method, "OPTIONS", 7) == 0);
        CHECK(r->path == t && r->path_len == 1 && r->query == NULL);
    } else {                                    /* absolute-form */
        size_t a = ieq(t, r->target_len < 7 ? r->target_len : 7, "http://") ? 7 : 8;
        CHECK(r->target_len > a && (a == 7 || ieq(t, 8, "https://")));
        auth = t + a;
        while (auth + auth_len < tend && auth[auth_len] != '/' && auth[auth_len] != '?') auth_len++;
        CHECK(auth_len > 0);
        if (inside(r->path, r->path_len, t, r->target_len)) {
            CHECK(r->path_len > 0 && r->path[0] == '/' && r->path > t + a);
            CHECK(memchr(r->path, '?', r->path_len) == NULL);
            CHECK(memchr(t + a, '/', (size_t)(r->path - t) - a) == NULL);
            CHECK(memchr(t + a, '?', (size_t)(r->path - t) - a) == NULL);
            CHECK(r->query ? r->path + r->path_len + 1 == r->query : r->path + r->path_len == tend);
        } else {                                /* the static "/" of an empty path */
            CHECK(r->path != NULL && r->path_len == 1 && r->path[0] == '/');
            CHECK(!inside(r->path, 1, buf, len));
            CHECK(memchr(t + a, '/', (r->query ? (size_t)(r->query - t) : r->target_len) - a) == NULL);
        }
    }

    /* field lines, in order, exactly covering the rest of the head */
    seen sn;
    memset(&sn, 0, sizeof sn);
    for (size_t i = 0; i < r->num_headers; i++) {
        const rh_header *h = &r->headers[i];
        const char *v = h->value;
        CHECK(h->name == buf + q && h->name_len > 0);
        CHECK(inside(h->name, h->name_len, buf, n) && inside(v, h->value_len, buf, n));
        for (size_t k = 0; k < h->name_len; k++) CHECK(tchar((unsigned char)h->name[k]));
        q += h->name_len;
        CHECK(buf[q] == ':');
        q++;
        CHECK(v >= buf + q);
        for (; buf + q < v; q++) CHECK(ows((unsigned char)buf[q]));
        for (size_t k = 0; k < h->value_len; k++) CHECK(field_vchar((unsigned char)v[k]));
        CHECK(h->value_len == 0 || (!ows((unsigned char)v[0]) && !ows((unsigned char)v[h->value_len - 1])));
        q += h->value_len;
        while (q < n && ows((unsigned char)buf[q])) q++;
        CHECK(q + 2 <= n && buf[q] == '\r' && buf[q + 1] == '\n');
        q += 2;

        if (ieq(h->name, h->name_len, "host")) {
            sn.n_host++;
            host_field = v;
            host_field_len = h->value_len;
        } else if (ieq(h->name, h->name_len, "content-length")) {
            sn.n_cl++;
            each_elem(v, h->value_len, cl_elem, &sn);
        } else if (ieq(h->name, h->name_len, "transfer-encoding")) {
            sn.n_te++;
            each_elem(v, h->value_len, te_elem, &sn);
        } else if (ieq(h->name, h->name_len, "connection")) {
            each_elem(v, h->value_len, conn_elem, &sn);
        } else if (ieq(h->name, h->name_len, "upgrade")) {
            sn.n_upgrade++;
        } else if (ieq(h->name, h->name_len, "expect")) {
            each_elem(v, h->value_len, expect_elem, &sn);
        }
    }
    CHECK(q + 2 == n);

    /* semantics, recomputed from the fields */
    /* host: the authority of an absolute-form target, else the Host value */
    CHECK(sn.n_host <= 1);
    if (auth) CHECK(r->host == auth && r->host_len == auth_len);
    else if (host_field) CHECK(r->host == host_field && r->host_len == host_field_len);
    else CHECK(r->host == NULL);
    CHECK(r->version_minor == 0 || sn.n_host == 1);
    CHECK(!sn.conn_bad);
    switch (r->body_kind) {
    case RH_BODY_NONE:
        CHECK(sn.n_cl == 0 && sn.n_te == 0);
        break;
    case RH_BODY_LENGTH:
        CHECK(sn.n_cl > 0 && sn.n_te == 0 && !sn.cl_bad && sn.cl == r->content_length);
        break;
    case RH_BODY_CHUNKED:
        CHECK(sn.n_te > 0 && sn.n_cl == 0 && r->version_minor == 1);
        CHECK(sn.te_elems == 1 && sn.te_chunked == 1);
        break;
    default:
        CHECK(!"body_kind out of range");
    }
    CHECK(r->keep_alive == (r->version_minor == 1 ? !sn.conn_close : sn.conn_keep && !sn.conn_close));
    CHECK(r->expect_continue == (r->version_minor == 1 && sn.expect_100));
    CHECK(r->upgrade == (sn.conn_upgrade && sn.n_upgrade > 0));
}

static void do_parse(parsed *P, const char *buf, size_t len, const rh_limits *lim, size_t cap, unsigned char fill)
{
    memset(P, fill, sizeof *P);
    P->req.headers = P->h;
    P->req.num_headers = cap;
    P->rc = rh_parse_request(buf, len, &P->req, lim);
    check_parse(P, buf, len, lim, cap, fill);
}

/* Same outcome for two parses (of possibly different copies of the bytes). */
static void check_same(const parsed *A, const char *abuf, size_t alen, const parsed *B, const char *bbuf, size_t blen,
                       int same_message)
{
    const rh_request *a = &A->req, *b = &B->req;
    CHECK(A->rc == B->rc);
    if (A->rc < RH_INCOMPLETE && same_message) CHECK(a->error == b->error);
    if (A->rc <= 0) return;
#define SAME_SPAN(f) CHECK(offset_in(a->f, abuf, alen) == offset_in(b->f, bbuf, blen) && a->f##_len == b->f##_len)
    SAME_SPAN(method);
    SAME_SPAN(target);
    SAME_SPAN(query);
    SAME_SPAN(host);
    CHECK(a->path_len == b->path_len);
    CHECK(offset_in(a->path, abuf, alen) == offset_in(b->path, bbuf, blen));
    if (offset_in(a->path, abuf, alen) == -2) CHECK(a->path == b->path);     /* the same static "/" */
    CHECK(a->version_minor == b->version_minor && a->num_headers == b->num_headers);
    CHECK(a->body_kind == b->body_kind && a->content_length == b->content_length);
    CHECK(a->keep_alive == b->keep_alive && a->expect_continue == b->expect_continue && a->upgrade == b->upgrade);
    for (size_t i = 0; i < a->num_headers; i++) {
        SAME_SPAN(headers[i].name);
        SAME_SPAN(headers[i].value);
    }
#undef SAME_SPAN
}

/* The result on a strict prefix buf[0..k) against the result on buf[0..len). */
static void check_prefix(const parsed *full, const char *buf, size_t len, const parsed *pre, const char *pbuf, size_t k,
                         const rh_limits *lim)
{
    if (full->rc > 0) {
        if (k < (size_t)full->rc) CHECK(pre->rc == RH_INCOMPLETE);
        else check_same(full, buf, len, pre, pbuf, k, 1);
    } else if (full->rc == RH_INCOMPLETE) {
        CHECK(pre->rc == RH_INCOMPLETE);
    } else if (pre->rc != RH_INCOMPLETE) {
        /* An error seen in a prefix stays; the one exception: with limits, an
         * incomplete prefix of max_header_size bytes or more is reported as
         * 431 while the longer input may reach a request-line error first
         * (the request line is not cut at max_header_size). */
        CHECK(pre->rc < RH_INCOMPLETE);
        if (pre->rc == full->rc) CHECK(pre->req.error == full->req.error);
        else CHECK(lim != NULL && k >= lim->max_header_size && pre->rc == RH_E_HEADERS_TOO_LARGE);
    }
}

static parsed P_full, P_again, P_nolim, P_pre;     /* large: keep them off the stack */

static int is_limit_error(int rc)
{
    return rc == RH_E_TOO_LARGE || rc == RH_E_URI_TOO_LONG || rc == RH_E_HEADERS_TOO_LARGE;
}

static void prefixes(const parsed *full, const char *buf, size_t len, const rh_limits *lim, size_t cap, uint64_t *rng)
{
    size_t rc = full->rc > 0 ? (size_t)full->rc : 0, structural = 0;
    for (size_t k = 0; k < len; k++) {
        /* Every cut of a short input.  Of a longer one: the cuts next to
         * CR, LF, SP, HTAB and ':' (at most 96), the last bytes, around the
         * end of the head and max_header_size, and about 16 random ones. */
        int want = len <= 160 || len - k <= 8 || (rc && k + 4 >= rc && k <= rc + 1) ||
                   (lim && k + 2 >= lim->max_header_size && k <= lim->max_header_size + 2) ||
                   rng_next(rng) % (len / 16 + 1) == 0;
        if (!want && structural < 96) {
            unsigned char c = (unsigned char)buf[k], b = k ? (unsigned char)buf[k - 1] : 0;
            want = c == '\r' || c == '\n' || c == ' ' || c == '\t' || c == ':' || b == '\r' || b == '\n';
            structural += want;
        }
        if (!want) continue;
        char *p = dup_exact(buf, k);
        do_parse(&P_pre, p, k, lim, cap, 0x33);
        check_prefix(full, buf, len, &P_pre, p, k, lim);
        free(p);
    }
}

/* All request-head invariants for buf[0..len); leaves the limited result in P_full. */
static void check_request(const char *buf, size_t len, const rh_limits *lim, size_t cap, uint64_t seed)
{
    uint64_t rng = seed;

    phase = "request: limits";
    do_parse(&P_full, buf, len, lim, cap, 0x5a);
    do_parse(&P_again, buf, len, lim, cap, 0xa5);
    check_same(&P_full, buf, len, &P_again, buf, len, 1);            /* deterministic */

    phase = "request: no limits";
    do_parse(&P_nolim, buf, len, NULL, cap, 0xc3);
    do_parse(&P_again, buf, len, NULL, cap, 0x00);
    check_same(&P_nolim, buf, len, &P_again, buf, len, 1);

    phase = "request: limits vs no limits";
    if (lim == &req_limits[3]) {
        check_same(&P_full, buf, len, &P_nolim, buf, len, 1);        /* unreachable limits change nothing */
    } else if (P_full.rc > 0) {
        check_same(&P_full, buf, len, &P_nolim, buf, len, 1);
    } else if (P_nolim.rc > 0) {
        /* only a limit may turn a success into an error, and only if exceeded */
        const rh_request *r = &P_nolim.req;
        size_t rl = (size_t)(r->target + r->target_len + 9 - r->method);
        CHECK(is_limit_error(P_full.rc));
        CHECK((size_t)P_nolim.rc > lim->max_header_size || rl > lim->max_request_line ||
              r->num_headers > lim->max_headers ||
              (r->body_kind == RH_BODY_LENGTH && r->content_length > lim->max_body_size));
    } else if (P_nolim.rc < RH_INCOMPLETE) {
        CHECK(P_full.rc == P_nolim.rc || is_limit_error(P_full.rc));
    } else {                                                         /* no limits: incomplete */
        CHECK(P_full.rc == RH_INCOMPLETE || P_full.rc == RH_E_URI_TOO_LONG || P_full.rc == RH_E_HEADERS_TOO_LARGE);
    }

    phase = "request: prefixes, limits";
    prefixes(&P_full, buf, len, lim, cap, &rng);
    phase = "request: prefixes, no limits";
    prefixes(&P_nolim, buf, len, NULL, cap, &rng);
}

/* ---- chunked decoder ------------------------------------------------------- */

typedef struct {
    int err;                 /* 0 or the RH_E_* returned */
    size_t consumed;         /* total src bytes consumed (no error) */
    char *out;               /* decoded bytes, capacity len + 1 */
    size_t out_len;
    rh_chunked d;            /* final decoder state */
} decoded;

enum { SPLIT_WHOLE, SPLIT_AT, SPLIT_EVERY, SPLIT_RANDOM };

typedef struct {
    int kind;
    size_t a, b;             /* SPLIT_AT: cuts at a and b; EVERY: piece size a; RANDOM: max piece a */
    uint64_t rng;
} splitter;

static size_t next_piece(splitter *sp, size_t pos, size_t len)
{
    size_t left = len - pos, n;
    switch (sp->kind) {
    case SPLIT_AT:
        if (pos < sp->a) n = sp->a - pos;
        else if (pos < sp->b) n = sp->b - pos;
        else n = left;
        break;
    case SPLIT_EVERY: n = sp->a; break;
    case SPLIT_RANDOM: n = 1 + (size_t)(rng_next(&sp->rng) % sp->a); break;
    default: n = left; break;
    }
    return n < left ? n : left;
}

static void init_decoder(rh_chunked *d, int limited, uint64_t max_body, size_t max_trailer)
{
    if (limited) {
        rh_chunked_init(d, max_body, max_trailer);
    } else {
        memset(d, 0, sizeof *d);
    }
}

/* Decode src[0..len) fed in the pieces sp gives, each piece in an exact-size
 * buffer, into a separate exact-size dst or in place. */
static void decode_run(decoded *R, int limited, uint64_t max_body, size_t max_trailer, const char *src, size_t len,
                       splitter sp, int inplace)
{
    size_t pos = 0;
    memset(R, 0, sizeof *R);
    R->out = malloc(len + 1);
    if (R->out == NULL) abort();
    init_decoder(&R->d, limited, max_body, max_trailer);

    for (;;) {
        size_t n = next_piece(&sp, pos, len), dl = (size_t)-1;
        char *piece = dup_exact(src + pos, n);
        char *dst = inplace ? piece : malloc(n ? n : 1);
        ssize_t rc;
        if (dst == NULL) abort();
        rc = rh_chunked_decode(&R->d, piece, n, dst, &dl);
        CHECK(dl <= n);
        if (rc < 0) {
            CHECK(rc == RH_E_BAD_REQUEST || rc == RH_E_TOO_LARGE || rc == RH_E_HEADERS_TOO_LARGE);
            CHECK(dl == 0);
            CHECK(!R->d.done);
            R->err = (int)rc;
        } else {
            CHECK((size_t)rc <= n && dl <= (size_t)rc);
            CHECK((size_t)rc == n || R->d.done);                   /* stops early only at the end */
            CHECK(R->d.done == 0 || R->d.done == 1);
            memcpy(R->out + R->out_len, dst, dl);
            R->out_len += dl;
            R->consumed += (size_t)rc;
            pos += n;
            CHECK(R->d.total == R->out_len);
            if (limited) {
                CHECK(R->d.total <= R->d.max_body);
                CHECK(R->d.trailer_bytes <= max_trailer);
            }
            if (R->d.done) CHECK(R->d.chunk_remaining == 0 && R->consumed >= 5 &&
                                 memcmp(src + R->consumed - 2, "\r\n", 2) == 0);
        }
        if (!inplace) free(dst);
        free(piece);
        if (R->err || R->d.done || pos >= len) break;
    }

    /* errors are sticky; nothing is taken after the end */
    {
        char one = src && len ? src[len - 1] : '0', sink;
        size_t dl = (size_t)-1;
        rh_chunked before = R->d;
        ssize_t rc = rh_chunked_decode(&R->d, &one, 1, &sink, &dl);
        if (R->err) {
            CHECK(rc == R->err && dl == 0);
        } else if (R->d.done) {
            CHECK(rc == 0 && dl == 0 && R->d.done == 1 && R->d.state == before.state &&
                  R->d.total == before.total && R->d.chunk_remaining == 0 &&
                  R->d.trailer_bytes == before.trailer_bytes);
        }
        R->d = before;
    }
}

static void check_same_decode(const decoded *W, const decoded *X, int compare_trailer)
{
    CHECK(W->err == X->err);
    if (W->err) return;
    CHECK(W->consumed == X->consumed);
    CHECK(W->d.done == X->d.done);
    CHECK(W->out_len == X->out_len && memcmp(W->out, X->out, W->out_len) == 0);
    CHECK(W->d.total == X->d.total && W->d.chunk_remaining == X->d.chunk_remaining);
    CHECK(W->d.state == X->d.state);
    if (compare_trailer) CHECK(W->d.trailer_bytes == X->d.trailer_bytes);
}

static decoded D_whole[2], D_other;

/* Whole vs split vs in place, for the limited and the zero-initialised decoder. */
static void check_chunked(const char *src, size_t len, int climits, uint64_t seed)
{
    uint64_t max_body = chunk_limits[climits].body;
    size_t max_trailer = chunk_limits[climits].trailer;
    uint64_t rng = seed;

    for (int limited = 0; limited < 2; limited++) {
        decoded *W = &D_whole[limited];
        splitter sp = { SPLIT_WHOLE, 0, 0, 0 };
        phase = limited ? "chunked, limits: whole" : "chunked, no limits: whole";
        decode_run(W, limited, max_body, max_trailer, src, len, sp, 0);
        if (!W->err && !W->d.done) CHECK(W->consumed == len);

        phase = limited ? "chunked, limits: again" : "chunked, no limits: again";
        decode_run(&D_other, limited, max_body, max_trailer, src, len, sp, 0);
        check_same_decode(W, &D_other, 1);
        free(D_other.out);

        phase = limited ? "chunked, limits: in place" : "chunked, no limits: in place";
        decode_run(&D_other, limited, max_body, max_trailer, src, len, sp, 1);
        check_same_decode(W, &D_other, 1);
        free(D_other.out);

        if (len <= 4096) {
            phase = limited ? "chunked, limits: byte by byte" : "chunked, no limits: byte by byte";
            sp.kind = SPLIT_EVERY;
            sp.a = 1;
            decode_run(&D_other, limited, max_body, max_trailer, src, len, sp, limited);
            check_same_decode(W, &D_other, 1);
            free(D_other.out);
        }

        phase = limited ? "chunked, limits: split" : "chunked, no limits: split";
        for (int i = 0; i < 6 && len > 1; i++) {
            splitter cut = { SPLIT_AT, 0, 0, 0 };
            size_t a = (size_t)(rng_next(&rng) % len), b = (size_t)(rng_next(&rng) % len);
            if (i == 0) { a = len / 2; b = len; }
            if (i == 1) { a = 1; b = len - 1; }
            cut.a = a < b ? a : b;
            cut.b = a < b ? b : a;
            decode_run(&D_other, limited, max_body, max_trailer, src, len, cut, i & 1);
            check_same_decode(W, &D_other, 1);
            free(D_other.out);
        }

        phase = limited ? "chunked, limits: random pieces" : "chunked, no limits: random pieces";
        for (int i = 0; i < 2; i++) {
            splitter rp = { SPLIT_RANDOM, i ? 64 : 7, 0, rng_next(&rng) };
            decode_run(&D_other, limited, max_body, max_trailer, src, len, rp, i);
            check_same_decode(W, &D_other, 1);
            free(D_other.out);
        }
    }

    /* limits only add failures, and only limit failures */
    phase = "chunked: limits vs no limits";
    {
        const decoded *Z = &D_whole[0], *L = &D_whole[1];
        if (L->err == 0) check_same_decode(Z, L, 0);
        if (L->err == RH_E_BAD_REQUEST) CHECK(Z->err == RH_E_BAD_REQUEST);
        if (Z->err) CHECK(L->err != 0);
        if (L->err == RH_E_TOO_LARGE && Z->err == 0)
            CHECK(Z->d.chunk_remaining > max_body || Z->d.total > max_body - Z->d.chunk_remaining);
    }
    free(D_whole[0].out);
    free(D_whole[1].out);
}

/* ---- a connection's worth: pipelined heads and their bodies ---------------- */

static void check_stream(const char *buf, size_t len, const rh_limits *lim, size_t cap, int climits, uint64_t seed)
{
    size_t off = 0;
    int chunked_done = 0;

    for (int i = 0; i < 4 && off < len; i++) {
        char *p = dup_exact(buf + off, len - off);
        size_t n = len - off, head;
        const rh_request *r = &P_full.req;

        check_request(p, n, lim, cap, seed + (uint64_t)i);
        if (P_full.rc <= 0) { free(p); break; }
        head = (size_t)P_full.rc;
        if (r->body_kind == RH_BODY_LENGTH) {
            if (r->content_length > n - head) { free(p); break; }
            off += head + (size_t)r->content_length;
        } else if (r->body_kind == RH_BODY_CHUNKED) {
            rh_chunked d;
            size_t dl;
            char *body = dup_exact(p + head, n - head);
            ssize_t b;
            if (!chunked_done) {              /* the full battery on the first body */
                check_chunked(p + head, n - head, climits, seed);
                chunked_done = 1;
            }
            phase = "stream: chunked body in place";
            rh_chunked_init(&d, chunk_limits[climits].body, chunk_limits[climits].trailer);
            b = rh_chunked_decode(&d, body, n - head, body, &dl);
            free(body);
            if (b < 0 || !d.done) { free(p); break; }
            off += head + (size_t)b;
        } else {
            off += head;
        }
        free(p);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
void check_files(const char *buf, size_t len);     /* fuzz_files.c */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned cfg;
    size_t len;
    char *buf;
    uint64_t seed;

    if (size == 0) return 0;
    cfg = data[0];
    len = size - 1;
    buf = dup_exact((const char *)data + 1, len);
    seed = hash_bytes(buf, len, cfg >> 7);

    check_stream(buf, len, &req_limits[cfg & 3], capacities[(cfg >> 2) & 7], (int)((cfg >> 5) & 3), seed);
    check_chunked(buf, len, (int)((cfg >> 5) & 3), seed);
    check_files(buf, len);

    free(buf);
    phase = "";
    return 0;
}
