/*
 * test_http_parser.c -- table-driven tests of http_parser.c (run under
 * ASan/UBSan by run_c_tests.sh).
 *
 * Every request case is fed whole, cut at every byte (each cut must be
 * RH_INCOMPLETE or, for a bad request, the same error), and with a pipelined
 * request appended.  Every chunked case is fed whole, one byte at a time,
 * in place (dst == src) and in random pieces.  Inputs live in malloc'd
 * buffers of exactly their length so ASan sees any over-read.
 */
#include "http_parser.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed, case_ok;
static const char *case_name;

#define CHECK(cond, ...) do {                                              \
        if (!(cond)) {                                                     \
            if (case_ok) fprintf(stderr, "FAIL [%s]\n", case_name);       \
            fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);              \
            fprintf(stderr, __VA_ARGS__);                                  \
            fputc('\n', stderr);                                           \
            case_ok = 0;                                                   \
        }                                                                  \
    } while (0)

static void begin(const char *name) { case_name = name; case_ok = 1; }
static void end(void) { if (case_ok) passed++; else failed++; }

static char *dup_exact(const char *s, size_t n)
{
    char *p = malloc(n ? n : 1);
    if (!p) abort();
    if (n) memcpy(p, s, n);
    return p;
}

static int span_eq(const char *p, size_t n, const char *want)
{
    return want ? (p != NULL && strlen(want) == n && memcmp(p, want, n) == 0) : p == NULL;
}

/* ---- request head cases -------------------------------------------------- */

enum { KA_DEFAULT = 0, KA_ON = 1, KA_OFF = 2 };

typedef struct {
    const char *name;
    const char *in;
    size_t len;             /* 0: strlen(in) */
    int want;               /* 0: success consuming all of in; else an RH_* code */
    const rh_limits *lim;   /* NULL: default test limits */
    int nolim;              /* pass lim = NULL to the parser */
    size_t cap;             /* header capacity, 0: 32 */
    /* expectations on success (defaults: GET, "/", path == target,
       no query, HTTP/1.1, Host "h" on 1.1 and none on 1.0) */
    const char *method, *target, *path, *query, *host;
    int v10, ka, ec, up, body;
    uint64_t cl;
    const char *hdrs;       /* H(name, value)... if set */
} rcase;

#define H(n, v) n "\x01" v "\x02"
/* OK(name, input, expectations...): the input sits in __VA_ARGS__ so the
   expectations may be empty in strict C11. */
#define OK(nm, ...) { .name = nm, .want = 0, .in = __VA_ARGS__ }
#define BAD(nm, input, code) { .name = nm, .in = input, .want = code }
#define BADL(nm, input, code, ...) { .name = nm, .in = input, .want = code, __VA_ARGS__ }
#define R11(target, fields) "GET " target " HTTP/1.1\r\nHost: h\r\n" fields "\r\n"
#define E400 RH_E_BAD_REQUEST

static const rh_limits lim_default = { 1024, 8192, 32, 1u << 20 };
static const rh_limits lim_small = { 32, 128, 4, 100 };

static const rcase rcases[] = {
    /* valid */
    OK("simple", R11("/", ""), .hdrs = H("Host", "h")),
    OK("query", R11("/a/b?x=1&y=2", ""), .target = "/a/b?x=1&y=2", .path = "/a/b", .query = "x=1&y=2"),
    OK("empty query", R11("/a?", ""), .target = "/a?", .path = "/a", .query = ""),
    OK("second ? is query", R11("/a?b?c", ""), .target = "/a?b?c", .path = "/a", .query = "b?c"),
    OK("visible target chars", R11("/a%20b/~!$&'()*+,;=:@-._<>\"{|}^`\\[]", ""),
       .target = "/a%20b/~!$&'()*+,;=:@-._<>\"{|}^`\\[]"),
    OK("lowercase method", "get / HTTP/1.1\r\nHost: h\r\n\r\n", .method = "get"),
    OK("extension method", "M-SEARCH / HTTP/1.1\r\nHost: h\r\n\r\n", .method = "M-SEARCH"),
    OK("tchar method", "!#$%&'*+-.^_`|~09azAZ / HTTP/1.1\r\nHost: h\r\n\r\n", .method = "!#$%&'*+-.^_`|~09azAZ"),
    OK("1.0 without Host", "GET / HTTP/1.0\r\n\r\n", .v10 = 1),
    OK("1.0 with Host", "GET / HTTP/1.0\r\nHost: h\r\n\r\n", .v10 = 1, .host = "h"),
    OK("1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", .v10 = 1, .ka = KA_ON),
    OK("1.0 keep-alive and close", "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", .v10 = 1, .ka = KA_OFF),
    OK("1.1 close", R11("/", "Connection: close\r\n"), .ka = KA_OFF),
    OK("1.1 CLOSE", R11("/", "Connection: CLOSE\r\n"), .ka = KA_OFF),
    OK("connection over two fields", R11("/", "Connection: foo\r\nConnection: bar, close\r\n"), .ka = KA_OFF),
    OK("connection empty elements", R11("/", "Connection: , ,close ,\r\n"), .ka = KA_OFF),
    OK("upgrade", R11("/ws", "Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n"), .target = "/ws", .up = 1),
    OK("upgrade token without Upgrade", R11("/", "Connection: upgrade\r\n")),
    OK("Upgrade without token", R11("/", "Upgrade: websocket\r\n")),
    OK("expect 100-continue", "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n",
       .method = "POST", .ec = 1, .body = RH_BODY_LENGTH, .cl = 3),
    OK("expect on 1.0 ignored", "POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
       .method = "POST", .v10 = 1, .body = RH_BODY_LENGTH, .cl = 3),
    OK("other expectation", R11("/", "Expect: foo\r\n")),
    OK("content-length", R11("/", "Content-Length: 5\r\n"), .body = RH_BODY_LENGTH, .cl = 5),
    OK("content-length 0", R11("/", "Content-Length: 0\r\n"), .body = RH_BODY_LENGTH, .cl = 0),
    OK("content-length list", R11("/", "Content-Length: 5, 5\r\n"), .body = RH_BODY_LENGTH, .cl = 5),
    OK("content-length list ows", R11("/", "Content-Length: 5 ,5,\t5\r\n"), .body = RH_BODY_LENGTH, .cl = 5),
    OK("content-length twice same", R11("/", "Content-Length: 7\r\nContent-Length: 7\r\n"), .body = RH_BODY_LENGTH, .cl = 7),
    OK("content-length leading zeros", R11("/", "Content-Length: 007\r\n"), .body = RH_BODY_LENGTH, .cl = 7),
    OK("content-length case", R11("/", "CONTENT-length: 9\r\n"), .body = RH_BODY_LENGTH, .cl = 9),
    OK("content-length at max_body", "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n", .lim = &lim_small,
       .body = RH_BODY_LENGTH, .cl = 100),
    OK("content-length UINT64_MAX", R11("/", "Content-Length: 18446744073709551615\r\n"), .nolim = 1,
       .body = RH_BODY_LENGTH, .cl = UINT64_MAX),
    OK("chunked", R11("/", "Transfer-Encoding: chunked\r\n"), .body = RH_BODY_CHUNKED),
    OK("chunked case", R11("/", "transfer-encoding: ChUnKeD\r\n"), .body = RH_BODY_CHUNKED),
    OK("chunked empty elements", R11("/", "Transfer-Encoding: , chunked ,\r\n"), .body = RH_BODY_CHUNKED),
    OK("ows stripped", "GET / HTTP/1.1\r\nHost: \t h \t\r\nX-A:\tv  v\t \r\n\r\n", .hdrs = H("Host", "h") H("X-A", "v  v")),
    OK("empty values", R11("/", "X-Empty:\r\nX-Ws:   \r\n"), .hdrs = H("Host", "h") H("X-Empty", "") H("X-Ws", "")),
    OK("obs-text value", R11("/", "X-B: caf\xc3\xa9\xff\x80\r\n"), .hdrs = H("Host", "h") H("X-B", "caf\xc3\xa9\xff\x80")),
    OK("htab in value", R11("/", "X-T: a\tb\r\n"), .hdrs = H("Host", "h") H("X-T", "a\tb")),
    OK("tchar field name", R11("/", "!#$%&'*+-.^_`|~09azAZ: v\r\n"), .hdrs = H("Host", "h") H("!#$%&'*+-.^_`|~09azAZ", "v")),
    OK("leading empty lines", "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"),
    OK("absolute-form", "GET http://example.com/p?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n",
       .target = "http://example.com/p?q=1", .path = "/p", .query = "q=1", .host = "example.com"),
    OK("absolute-form no path", "GET HTTPS://Example.com:8443 HTTP/1.1\r\nHost: h\r\n\r\n",
       .target = "HTTPS://Example.com:8443", .path = "/", .host = "Example.com:8443"),  /* RFC 9112 3.2.2 */
    OK("absolute-form query no path", "GET http://h?x HTTP/1.1\r\nHost: h\r\n\r\n", .target = "http://h?x", .path = "/", .query = "x"),
    OK("absolute-form ipv6", "GET http://[::1]:8080/x HTTP/1.1\r\nHost: h\r\n\r\n", .target = "http://[::1]:8080/x", .path = "/x",
       .host = "[::1]:8080"),
    OK("absolute-form authority wins over Host", "GET http://a.example/ HTTP/1.1\r\nHost: b.example\r\n\r\n",
       .target = "http://a.example/", .path = "/", .host = "a.example", .hdrs = H("Host", "b.example")),
    OK("connect", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", .method = "CONNECT",
       .target = "example.com:443", .host = "example.com:443"),
    OK("connect ipv6", "CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: h\r\n\r\n", .method = "CONNECT",
       .target = "[2001:db8::1]:443"),
    OK("options *", "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", .method = "OPTIONS", .target = "*"),
    OK("options path", "OPTIONS /x HTTP/1.1\r\nHost: h\r\n\r\n", .method = "OPTIONS", .target = "/x"),
    OK("host ipv4 port", "GET / HTTP/1.1\r\nHost: 127.0.0.1:80\r\n\r\n", .host = "127.0.0.1:80"),
    OK("host ipv6", "GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n", .host = "[::1]"),
    OK("host ipvfuture", "GET / HTTP/1.1\r\nHost: [v1.fe80::a+en1]:1\r\n\r\n", .host = "[v1.fe80::a+en1]:1"),
    OK("host pct-encoded", "GET / HTTP/1.1\r\nHost: ex%41mple.com\r\n\r\n", .host = "ex%41mple.com"),
    OK("host sub-delims", "GET / HTTP/1.1\r\nHost: a-b_c~d!$&'()*+,;=\r\n\r\n", .host = "a-b_c~d!$&'()*+,;="),
    OK("host port 65535", "GET / HTTP/1.1\r\nHost: h:65535\r\n\r\n", .host = "h:65535"),
    OK("4 headers at max_headers", "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", .lim = &lim_small,
       .hdrs = H("Host", "h") H("A", "1") H("B", "2") H("C", "3")),
    OK("headers at capacity", "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\n\r\n", .cap = 2),
    OK("no limits", R11("/", "X: y\r\n"), .nolim = 1),

    /* request line */
    BAD("method bad char", "G@T / HTTP/1.1\r\nHost: h\r\n\r\n", E400),
    BAD("method non-ascii", "G\xc3\x89T / HTTP/1.1\r\nHost: h\r\n\r\n", E400),
    BAD("leading SP", " GET / HTTP/1.1\r\nHost: h\r\n\r\n", E400),
    BAD("leading HTAB", "\tGET / HTTP/1.1\r\nHost: h\r\n\r\n", E400),
    BAD("two SP after method", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", E400),
    BAD("two SP after target", "GET /  HTTP/1.1\r\nHost: h\r\n\r\n", E400),
    BAD("HTAB separator", "GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", E400),
    BAD("target DEL", "GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n", E400),
    BAD("target 0x80", "GET /\x80 HTTP/1.1\r\nHost: h\r\n\r\n", E400),
    BAD("target CTL", "GET /\x01 HTTP/1.1\r\nHost: h\r\n\r\n", E400),
    BADL("target NUL", "GET /\0 HTTP/1.1\r\nHost: h\r\n\r\n", E400, .len = 29),
    BAD("target fragment", "GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n", E400),
    BAD("target no form", "GET foo HTTP/1.1\r\nHost: h\r\n\r\n", E400),
    BAD("asterisk with GET", "GET * HTTP/1.1\r\nHost: h\r\n\r\n", E400),
    BAD("asterisk junk", "OPTIONS *x HTTP/1.1\r\nHost: h\r\n\r\n", E400),
    BAD("CONNECT origin-form", "CONNECT / HTTP/1.1\r\nHost: h\r\n\r\n", E400),
    BAD("CONNECT no port", "CONNECT example.com HTTP/1.1\r\nHost: h\r\n\r\n", E400),
    BAD("CONNECT empty port", "CONNECT example.com: HTTP/1.1\r\nHost: h\r\n\r\n", E400),
    BAD("CONNECT absolute-form", "CONNECT http://example.com:443/ HTTP/1.1\r\nHost: h\r\n\r\n", E400),
    BAD("CONNECT asterisk", "CONNECT * HTTP/1.1\r\nHost: h\r\n\r\n", E400),
    BAD("authority-form with GET", "GET example.com:443 HTTP/1.1\r\nHost: h\r\n\r\n", E400),
    BAD("ftp scheme", "GET ftp://example.com/ HTTP/1.1\r\nHost: h\r\n\r\n", E400),
    BAD("empty authority", "GET http:///p HTTP/1.1\r\nHost: h\r\n\r\n", E400),
    BAD("scheme only", "GET http:// HTTP/1.1\r\nHost: h\r\n\r\n", E400),
    BAD("userinfo", "GET http://user@h/ HTTP/1.1\r\nHost: h\r\n\r\n", E400),
    BAD("absolute-form bad port", "GET http://h:x/ HTTP/1.1\r\nHost: h\r\n\r\n", E400),
    BAD("no version", "GET /\r\nHost: h\r\n\r\n", E400),
    BAD("empty version", "GET / \r\nHost: h\r\n\r\n", E400),
    BAD("HTTP/1", "GET / HTTP/1\r\nHost: h\r\n\r\n", E400),
    BAD("http/1.1", "GET / http/1.1\r\nHost: h\r\n\r\n", E400),
    BAD("version trailing SP", "GET / HTTP/1.1 \r\nHost: h\r\n\r\n", E400),
    BAD("version trailing junk", "GET / HTTP/1.1x\r\nHost: h\r\n\r\n", E400),
    BAD("HTTP/1.10", "GET / HTTP/1.10\r\nHost: h\r\n\r\n", E400),
    BAD("HTTP/11.1", "GET / HTTP/11.1\r\nHost: h\r\n\r\n", E400),
    BAD("HTTP/1.a", "GET / HTTP/1.a\r\nHost: h\r\n\r\n", E400),
    BAD("HTTP/1,1", "GET / HTTP/1,1\r\nHost: h\r\n\r\n", E400),
    BAD("HTTPS/1.1", "GET / HTTPS/1.1\r\nHost: h\r\n\r\n", E400),
    BAD("HTTP/2.0", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", RH_E_VERSION),
    BAD("HTTP/1.2", "GET / HTTP/1.2\r\nHost: h\r\n\r\n", RH_E_VERSION),
    BAD("HTTP/3.0", "GET / HTTP/3.0\r\nHost: h\r\n\r\n", RH_E_VERSION),
    BAD("HTTP/0.9", "GET / HTTP/0.9\r\n\r\n", RH_E_VERSION),
    /* line endings */
    BAD("bare LF after request line", "GET / HTTP/1.1\nHost: h\r\n\r\n", E400),
    BAD("bare LF after field", "GET / HTTP/1.1\r\nHost: h\n\r\n", E400),
    BAD("bare LF final line", "GET / HTTP/1.1\r\nHost: h\r\n\n", E400),
    BAD("bare LF lines", "GET / HTTP/1.1\nHost: h\n\n", E400),
    BAD("bare CR in request line", "GET / HTTP/1.1\rHost: h\r\n\r\n", E400),
    BAD("bare CR ends request line", "GET / HTTP/1.0\rXX: y\r\n\r\n", E400),
    BAD("bare CR in value", "GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", E400),
    BAD("bare CR final line", "GET / HTTP/1.1\r\nHost: h\r\n\rX", E400),
    BAD("CR in method", "GE\rT / HTTP/1.1\r\nHost: h\r\n\r\n", E400),
    BAD("leading bare LF", "\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", E400),
    BAD("leading bare CR", "\rGET / HTTP/1.1\r\nHost: h\r\n\r\n", E400),
    /* field lines */
    BAD("space before colon", R11("/", "X : y\r\n"), E400),
    BAD("htab before colon", R11("/", "X\t: y\r\n"), E400),
    BAD("empty field name", R11("/", ": y\r\n"), E400),
    BAD("missing colon", R11("/", "NoColon\r\n"), E400),
    BAD("missing colon with value", R11("/", "X y\r\n"), E400),
    BAD("obs-fold", R11("/", "X: a\r\n b\r\n"), E400),
    BAD("obs-fold htab", R11("/", "X: a\r\n\tb\r\n"), E400),
    BAD("space before first field", "GET / HTTP/1.1\r\n Host: h\r\n\r\n", E400),
    BAD("name (", R11("/", "X(: y\r\n"), E400),
    BAD("name 0x80", R11("/", "X\x80: y\r\n"), E400),
    BAD("name quote", R11("/", "X\"Y: y\r\n"), E400),
    BAD("name slash", R11("/", "X/Y: y\r\n"), E400),
    BADL("value NUL", R11("/", "X: a\0b\r\n"), E400, .len = 35),
    BAD("value 0x01", R11("/", "X: a\x01" "b\r\n"), E400),
    BAD("value 0x1f", R11("/", "X: a\x1f" "b\r\n"), E400),
    BAD("value ESC", R11("/", "X: \x1b[0m\r\n"), E400),
    BAD("value DEL", R11("/", "X: a\x7f" "b\r\n"), E400),
    /* Content-Length */
    BAD("CL +5", R11("/", "Content-Length: +5\r\n"), E400),
    BAD("CL -5", R11("/", "Content-Length: -5\r\n"), E400),
    BAD("CL 0x5", R11("/", "Content-Length: 0x5\r\n"), E400),
    BAD("CL 5_0", R11("/", "Content-Length: 5_0\r\n"), E400),
    BAD("CL inner space", R11("/", "Content-Length: 5 5\r\n"), E400),
    BAD("CL 5.0", R11("/", "Content-Length: 5.0\r\n"), E400),
    BAD("CL 1e3", R11("/", "Content-Length: 1e3\r\n"), E400),
    BAD("CL abc", R11("/", "Content-Length: abc\r\n"), E400),
    BAD("CL empty", R11("/", "Content-Length:\r\n"), E400),
    BAD("CL list differs", R11("/", "Content-Length: 5, 6\r\n"), E400),
    BAD("CL list no space differs", R11("/", "Content-Length: 5,6\r\n"), E400),
    BAD("CL trailing comma", R11("/", "Content-Length: 5,\r\n"), E400),
    BAD("CL leading comma", R11("/", "Content-Length: ,5\r\n"), E400),
    BAD("CL fields differ", R11("/", "Content-Length: 5\r\nContent-Length: 6\r\n"), E400),
    BAD("CL overflow", R11("/", "Content-Length: 18446744073709551616\r\n"), E400),
    BAD("CL 30 digits", R11("/", "Content-Length: 123456789012345678901234567890\r\n"), E400),
    BADL("CL over max_body", "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n", RH_E_TOO_LARGE, .lim = &lim_small),
    /* Transfer-Encoding */
    BAD("TE gzip, chunked", R11("/", "Transfer-Encoding: gzip, chunked\r\n"), RH_E_NOT_IMPLEMENTED),
    BAD("TE unknown, chunked", R11("/", "Transfer-Encoding: x-custom, chunked\r\n"), RH_E_NOT_IMPLEMENTED),
    BAD("TE deflate,chunked", R11("/", "Transfer-Encoding: deflate,chunked\r\n"), RH_E_NOT_IMPLEMENTED),
    BAD("TE identity, chunked", R11("/", "Transfer-Encoding: identity, chunked\r\n"), RH_E_NOT_IMPLEMENTED),
    BAD("TE split gzip + chunked", R11("/", "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"), RH_E_NOT_IMPLEMENTED),
    BAD("TE chunked, gzip", R11("/", "Transfer-Encoding: chunked, gzip\r\n"), E400),
    BAD("TE split chunked + gzip", R11("/", "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n"), E400),
    BAD("TE gzip", R11("/", "Transfer-Encoding: gzip\r\n"), E400),
    BAD("TE identity", R11("/", "Transfer-Encoding: identity\r\n"), E400),
    BAD("TE chunked twice", R11("/", "Transfer-Encoding: chunked, chunked\r\n"), E400),
    BAD("TE split chunked twice", R11("/", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), E400),
    BAD("TE empty", R11("/", "Transfer-Encoding:\r\n"), E400),
    BAD("TE only commas", R11("/", "Transfer-Encoding: , ,\r\n"), E400),
    BAD("TE empty field with chunked", R11("/", "Transfer-Encoding: chunked\r\nTransfer-Encoding: \r\n"), E400),
    BAD("TE chunked params", R11("/", "Transfer-Encoding: chunked;q=1\r\n"), E400),
    BAD("TE bad token", R11("/", "Transfer-Encoding: chu@nked\r\n"), E400),
    BAD("TE with CL", R11("/", "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"), E400),
    BAD("CL with TE", R11("/", "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"), E400),
    BAD("TE on 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", E400),
    /* Host */
    BAD("missing Host", "GET / HTTP/1.1\r\n\r\n", E400),
    BAD("two identical Hosts", R11("/", "Host: h\r\n"), E400),
    BAD("empty Host", "GET / HTTP/1.1\r\nHost: \r\n\r\n", E400),
    BAD("Host with space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", E400),
    BAD("Host bad port", "GET / HTTP/1.1\r\nHost: h:x\r\n\r\n", E400),
    BAD("Host port 70000", "GET / HTTP/1.1\r\nHost: h:70000\r\n\r\n", E400),
    BAD("Host port 6 digits", "GET / HTTP/1.1\r\nHost: h:000080\r\n\r\n", E400),
    BAD("Host empty port", "GET / HTTP/1.1\r\nHost: h:\r\n\r\n", E400),
    BAD("Host empty name", "GET / HTTP/1.1\r\nHost: :80\r\n\r\n", E400),
    BAD("Host unterminated ipv6", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", E400),
    BAD("Host junk after ipv6", "GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", E400),
    BAD("Host bad ipv6", "GET / HTTP/1.1\r\nHost: [zz::1]\r\n\r\n", E400),
    BAD("Host userinfo", "GET / HTTP/1.1\r\nHost: a@b\r\n\r\n", E400),
    BAD("Host bad pct", "GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n", E400),
    BAD("Host short pct", "GET / HTTP/1.1\r\nHost: a%4\r\n\r\n", E400),
    BAD("Host with path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", E400),
    BAD("1.0 two Hosts", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", E400),
    BAD("1.0 bad Host", "GET / HTTP/1.0\r\nHost: a/b\r\n\r\n", E400),
    /* Connection */
    BAD("Connection bad token", R11("/", "Connection: close, @\r\n"), E400),
    BAD("Connection inner space", R11("/", "Connection: keep alive\r\n"), E400),
    /* limits (lim_small: request line 32, head 128, 4 headers, body 100) */
    BADL("request line 33", "GET /aaaaaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: h\r\n\r\n", RH_E_URI_TOO_LONG, .lim = &lim_small),
    BADL("request line over, no CRLF", "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", RH_E_URI_TOO_LONG, .lim = &lim_small),
    BADL("5 headers", "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", RH_E_HEADERS_TOO_LARGE, .lim = &lim_small),
    BADL("over capacity", "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n", RH_E_HEADERS_TOO_LARGE, .cap = 2),
    /* incomplete */
    BAD("empty input", "", RH_INCOMPLETE),
    BAD("lone CR", "\r", RH_INCOMPLETE),
    BAD("empty line only", "\r\n", RH_INCOMPLETE),
    BAD("CR of final CRLF", "GET / HTTP/1.1\r\nHost: h\r\n\r", RH_INCOMPLETE),
};

static const char pipelined[] = "GET /next HTTP/1.1\r\nHost: h\r\n\r\n";

/* Parse in[0..len) copied into an exact-size buffer. */
static int parse_copy(const rcase *c, const char *in, size_t len, rh_request *req, rh_header *hs, size_t cap, char **keep)
{
    char *buf = dup_exact(in, len);
    const rh_limits *lim = c->nolim ? NULL : c->lim ? c->lim : &lim_default;
    int r;
    memset(req, 0x5a, sizeof *req);
    req->headers = hs;
    req->num_headers = cap;
    r = rh_parse_request(buf, len, req, lim);
    CHECK(req->num_headers <= cap, "num_headers %zu > cap %zu", req->num_headers, cap);
    if (r <= 0) CHECK(req->num_headers == cap, "num_headers not restored on %d", r);
    if (r < RH_INCOMPLETE) CHECK(req->error != NULL, "error text missing");
    if (r >= RH_INCOMPLETE) CHECK(req->error == NULL, "error text set on %d", r);
    if (keep) *keep = buf;
    else free(buf);
    return r;
}

static void check_fields(const rcase *c, const rh_request *req)
{
    int minor = c->v10 ? 0 : 1;
    const char *target = c->target ? c->target : "/";
    const char *host = c->host ? c->host : (c->v10 ? NULL : "h");
    int ka = c->ka == KA_ON ? 1 : c->ka == KA_OFF ? 0 : minor;

    CHECK(span_eq(req->method, req->method_len, c->method ? c->method : "GET"), "method");
    CHECK(span_eq(req->target, req->target_len, target), "target");
    CHECK(span_eq(req->path, req->path_len, c->path ? c->path : target), "path '%.*s'", (int)req->path_len, req->path);
    CHECK(span_eq(req->query, req->query_len, c->query), "query");
    CHECK(span_eq(req->host, req->host_len, host), "host");
    CHECK(req->version_minor == minor, "version %d", req->version_minor);
    CHECK(req->keep_alive == ka, "keep_alive %d", req->keep_alive);
    CHECK(req->expect_continue == c->ec, "expect_continue %d", req->expect_continue);
    CHECK(req->upgrade == c->up, "upgrade %d", req->upgrade);
    CHECK(req->body_kind == c->body, "body_kind %d", req->body_kind);
    if (c->body == RH_BODY_LENGTH) CHECK(req->content_length == c->cl, "content_length %llu", (unsigned long long)req->content_length);
    if (c->hdrs) {
        const char *h = c->hdrs;
        size_t i = 0;
        for (; *h; i++) {
            const char *sep = strchr(h, '\x01'), *stop = strchr(sep, '\x02');
            if (i >= req->num_headers) { CHECK(0, "too few headers"); return; }
            CHECK(req->headers[i].name_len == (size_t)(sep - h) && memcmp(req->headers[i].name, h, (size_t)(sep - h)) == 0,
                  "header %zu name", i);
            CHECK(req->headers[i].value_len == (size_t)(stop - sep - 1) &&
                  memcmp(req->headers[i].value, sep + 1, (size_t)(stop - sep - 1)) == 0, "header %zu value '%.*s'", i,
                  (int)req->headers[i].value_len, req->headers[i].value);
            h = stop + 1;
        }
        CHECK(i == req->num_headers, "header count %zu, want %zu", req->num_headers, i);
    }
}

static void run_rcase(const rcase *c)
{
    size_t len = c->len ? c->len : strlen(c->in);
    size_t cap = c->cap ? c->cap : 32, k;
    rh_header *hs = malloc(cap * sizeof *hs);
    rh_request req;
    char *buf, *joined;
    int r;

    begin(c->name);
    r = parse_copy(c, c->in, len, &req, hs, cap, &buf);
    if (c->want == 0) {
        CHECK(r == (int)len, "got %d, want %zu (%s)", r, len, req.error ? req.error : "");
        if (r > 0) check_fields(c, &req);
    } else {
        CHECK(r == c->want, "got %d, want %d", r, c->want);
        if (c->want != RH_INCOMPLETE)
            CHECK(rh_error_status(r) == -c->want, "rh_error_status(%d)", r);
    }
    free(buf);
    /* every cut: incomplete, or the same error */
    for (k = 0; k < len; k++) {
        int rk = parse_copy(c, c->in, k, &req, hs, cap, NULL);
        CHECK(rk == RH_INCOMPLETE || (c->want < RH_INCOMPLETE && rk == c->want), "cut at %zu: got %d", k, rk);
    }
    /* with a pipelined request behind it */
    if (c->want != RH_INCOMPLETE) {
        joined = malloc(len + sizeof pipelined);
        memcpy(joined, c->in, len);
        memcpy(joined + len, pipelined, sizeof pipelined - 1);
        r = parse_copy(c, joined, len + sizeof pipelined - 1, &req, hs, cap, &buf);
        CHECK(r == (c->want ? c->want : (int)len), "pipelined: got %d", r);
        if (c->want == 0 && r > 0) {
            check_fields(c, &req);
            CHECK(rh_parse_request(buf + r, sizeof pipelined - 1, &(rh_request){ .headers = hs, .num_headers = cap },
                                   &lim_default) == (int)sizeof pipelined - 1, "next request");
        }
        free(buf);
        free(joined);
    }
    free(hs);
    end();
}

/* Limit cases built at run time: exact boundaries of lim_small. */
static void run_limit_cases(void)
{
    static char rl32[64], rl33[64], head128[160], head129[160], partial[160], crlfs[160];
    rcase c = { .lim = &lim_small };

    snprintf(rl32, sizeof rl32, "GET /%s HTTP/1.1\r\nHost: h\r\n\r\n", "aaaaaaaaaaaaaaaaaa");
    c.name = "request line exactly 32"; c.in = rl32; c.want = 0; c.target = "/aaaaaaaaaaaaaaaaaa";
    run_rcase(&c);
    snprintf(rl33, sizeof rl33, "GET /%s HTTP/1.1\r\n", "aaaaaaaaaaaaaaaaaaa");
    c.name = "request line 33, incomplete head"; c.in = rl33; c.want = RH_E_URI_TOO_LONG;
    run_rcase(&c);
    c.target = NULL;
    /* 16 + 9 + 5 + 96 + 2 = 128 */
    snprintf(head128, sizeof head128, "GET / HTTP/1.1\r\nHost: h\r\nX: %096d\r\n\r\n", 0);
    c.name = "head exactly 128"; c.in = head128; c.want = 0;
    run_rcase(&c);
    snprintf(head129, sizeof head129, "GET / HTTP/1.1\r\nHost: h\r\nX: %097d\r\n\r\n", 0);
    c.name = "head 129"; c.in = head129; c.want = RH_E_HEADERS_TOO_LARGE;
    run_rcase(&c);
    snprintf(partial, sizeof partial, "GET / HTTP/1.1\r\nHost: h\r\nX: %0110d", 0);
    c.name = "incomplete head over 128"; c.in = partial; c.want = RH_E_HEADERS_TOO_LARGE;
    run_rcase(&c);
    for (int i = 0; i < 64; i++) memcpy(crlfs + 2 * i, "\r\n", 2);
    c.name = "128 bytes of empty lines"; c.in = crlfs; c.want = RH_E_HEADERS_TOO_LARGE;
    run_rcase(&c);
    CHECK(strlen(head128) == 128 && strlen(head129) == 129 && strlen(rl32) == 32 + 13, "limit fixtures");
}

/* Every byte value in each position, against its character class. */
static int is_tchar(int c) { return (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z') || (c && strchr("!#$%&'*+-.^_`|~", c)); }
static int is_regname(int c) { return (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z') || (c && strchr("-._~!$&'()*+,;=", c)); }

static void run_byte_classes(void)
{
    static const char *fmt[] = {
        "G%cT / HTTP/1.1\r\nHost: h\r\n\r\n",          /* method: tchar */
        "GET /a%cb HTTP/1.1\r\nHost: h\r\n\r\n",       /* target: VCHAR but '#' */
        "GET / HTTP/1.1\r\nHost: h\r\nX%cY: v\r\n\r\n", /* name: tchar */
        "GET / HTTP/1.1\r\nHost: h\r\nX: a%cb\r\n\r\n", /* value: VCHAR SP HTAB obs-text */
        "GET / HTTP/1.1\r\nHost: a%cb\r\n\r\n",        /* host: reg-name */
    };
    for (int f = 0; f < 5; f++) {
        char name[64];
        snprintf(name, sizeof name, "byte class %d", f);
        begin(name);
        for (int c = 0; c < 256; c++) {
            char in[64];
            rh_header hs[8];
            rh_request req = { .headers = hs, .num_headers = 8 };
            int n = snprintf(in, sizeof in, fmt[f], c);   /* %c of 0 writes a NUL */
            int ok, r;
            char *buf;
            buf = dup_exact(in, (size_t)n);
            r = rh_parse_request(buf, (size_t)n, &req, &lim_default);
            free(buf);
            switch (f) {
            case 0: ok = is_tchar(c); break;
            case 2: ok = is_tchar(c) || c == ':'; break;   /* "X:Y: v" is X = "Y: v" */
            case 1: ok = c > 0x20 && c < 0x7f && c != '#'; break;
            case 3: ok = c == '\t' || (c >= 0x20 && c != 0x7f); break;
            default: ok = is_regname(c); break;
            }
            CHECK(ok ? r == n : r == RH_E_BAD_REQUEST, "byte 0x%02x: got %d", c, r);
        }
        end();
    }
}

/* The same classes at every offset of a long run (the parser scans eight
 * bytes at a time): target and value, each byte at positions 0..23. */
static void run_byte_lanes(void)
{
    begin("byte classes at every lane");
    for (int f = 0; f < 2; f++) {
        for (int c = 0; c < 256; c++) {
            for (int pos = 0; pos < 24; pos++) {
                char run[25], in[96];
                rh_header hs[8];
                rh_request req = { .headers = hs, .num_headers = 8 };
                int n, r, ok;
                char *buf;
                memset(run, 'a', 24);
                run[24] = 0;
                run[pos] = 'Z';         /* placeholder, replaced below */
                n = f ? snprintf(in, sizeof in, "GET / HTTP/1.1\r\nHost: h\r\nX: a%sa\r\n\r\n", run)
                      : snprintf(in, sizeof in, "GET /%s HTTP/1.1\r\nHost: h\r\n\r\n", run);
                *strchr(in, 'Z') = (char)c;
                buf = dup_exact(in, (size_t)n);
                r = rh_parse_request(buf, (size_t)n, &req, &lim_default);
                free(buf);
                ok = f ? c == '\t' || (c >= 0x20 && c != 0x7f) : c > 0x20 && c < 0x7f && c != '#';
                CHECK(ok ? r == n : r == RH_E_BAD_REQUEST, "%s byte 0x%02x at %d: got %d", f ? "value" : "target", c, pos, r);
            }
        }
    }
    end();
}

/* ---- chunked decoder cases ----------------------------------------------- */

typedef struct {
    const char *name;
    const char *in;
    size_t len;             /* 0: strlen(in) */
    int want;               /* 0: done; RH_INCOMPLETE: all consumed, not done; else RH_E_* */
    const char *out;        /* payload expected when want >= RH_INCOMPLETE */
    size_t olen;            /* 0: strlen(out) */
    size_t extra;           /* bytes after the body that must stay unconsumed */
    int limited;            /* use rh_chunked_init(max_body, max_trailer) */
    uint64_t max_body;
    size_t max_trailer;
} ccase;

#define COK(nm, ...) { .name = nm, .want = 0, .in = __VA_ARGS__ }
#define CINC(nm, input, output) { .name = nm, .in = input, .want = RH_INCOMPLETE, .out = output }
#define CBAD(nm, ...) { .name = nm, .want = E400, .in = __VA_ARGS__ }
#define CERR(nm, code, ...) { .name = nm, .want = code, .in = __VA_ARGS__ }

static const ccase ccases[] = {
    COK("one chunk", "5\r\nhello\r\n0\r\n\r\n", .out = "hello"),
    COK("two chunks", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", .out = "hello world"),
    COK("hex digits both cases", "A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n", .out = "0123456789abcdefghij"),
    COK("leading zeros", "005\r\nhello\r\n000\r\n\r\n", .out = "hello"),
    COK("16 hex digits", "0000000000000005\r\nhello\r\n0\r\n\r\n", .out = "hello"),
    COK("empty body", "0\r\n\r\n", .out = ""),
    COK("binary payload", "4\r\n\r\n\0\xff\r\n0\r\n\r\n", .len = 14, .out = "\r\n\0\xff", .olen = 4),
    COK("ext name", "5;foo\r\nhello\r\n0\r\n\r\n", .out = "hello"),
    COK("ext token value", "5;foo=bar\r\nhello\r\n0\r\n\r\n", .out = "hello"),
    COK("ext quoted value", "5;a=\"q \\\"x\\\\ \xe9\"\r\nhello\r\n0\r\n\r\n", .out = "hello"),
    COK("ext list with BWS", "5 ; a = b ;c\t;d=\"\" ;e\r\nhello\r\n0;last\r\n\r\n", .out = "hello"),
    COK("trailers", "5\r\nhello\r\n0\r\nX-Sum: abc\r\nX-Other:\t v \r\n\r\n", .out = "hello"),
    COK("trailer obs-text and empty value", "0\r\nX: \xc3\xa9\r\nY:\r\n\r\n", .out = ""),
    COK("trailer names near forbidden ones", "0\r\nhos: v\r\nhostx: v\r\nX-A-Very-Long-Trailer-Name: v\r\n\r\n", .out = ""),
    COK("pipelined bytes stay", "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n", .out = "abc", .extra = 16),
    COK("body at max_body", "5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", .out = "helloworld", .limited = 1, .max_body = 10),
    COK("trailer at max_trailer", "0\r\nX: 1\r\n\r\n", .out = "", .limited = 1, .max_trailer = 6),
    CINC("partial data", "5\r\nhel", "hel"),
    CINC("partial size line", "5;a=", ""),
    CINC("partial trailer", "0\r\nX: y", ""),
    CINC("before final LF", "0\r\n\r", ""),
    CBAD("empty size", "\r\nhello\r\n0\r\n\r\n"),
    CBAD("non-hex size", "x\r\n"),
    CBAD("0x prefix", "0x5\r\nhello\r\n0\r\n\r\n"),
    CBAD("negative size", "-5\r\nhello\r\n"),
    CBAD("17 hex digits", "00000000000000005\r\nhello\r\n0\r\n\r\n"),
    CBAD("size overflow", "FFFFFFFFFFFFFFFFF\r\n"),
    CBAD("data longer than size", "5\r\nhelloX\r\n0\r\n\r\n"),
    CBAD("data shorter than size", "5\r\nhell\r\n0\r\n\r\n"),
    CBAD("data then bare LF", "5\r\nhello\n0\r\n\r\n"),
    CBAD("data then junk LF", "5\r\nhelloX\n0\r\n\r\n"),
    CBAD("data then CR junk", "5\r\nhello\rX0\r\n\r\n"),
    CBAD("size bare LF", "5\nhello\r\n0\r\n\r\n"),
    CBAD("size bare CR", "5\rhello\r\n0\r\n\r\n"),
    CBAD("whitespace then CR", "5 \r\nhello\r\n0\r\n\r\n"),
    CBAD("leading whitespace", " 5\r\nhello\r\n0\r\n\r\n"),
    CBAD("empty ext name", "5;\r\nhello\r\n0\r\n\r\n"),
    CBAD("ext '=' without value", "5;a=\r\nhello\r\n0\r\n\r\n"),
    CBAD("ext name then BWS then CR", "5;a \r\nhello\r\n0\r\n\r\n"),
    CBAD("ext unterminated quote", "5;a=\"x\r\nhello\r\n0\r\n\r\n"),
    CBAD("ext token then junk", "5;a=b c\r\nhello\r\n0\r\n\r\n"),
    CBAD("ext bare LF", "5;a\nhello\r\n0\r\n\r\n"),
    CBAD("ext CTL in quoted-string", "5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n"),
    CBAD("ext bad name char", "5;a@b\r\nhello\r\n0\r\n\r\n"),
    CBAD("trailer Content-Length", "0\r\nContent-Length: 5\r\n\r\n"),
    CBAD("trailer Transfer-Encoding", "0\r\nTransfer-Encoding: chunked\r\n\r\n"),
    CBAD("trailer Host", "0\r\nHOST: h\r\n\r\n"),
    CBAD("trailer Connection", "0\r\nConnection: close\r\n\r\n"),
    CBAD("trailer Trailer", "0\r\nTrailer: X\r\n\r\n"),
    CBAD("trailer TE", "0\r\nte: trailers\r\n\r\n"),
    CBAD("trailer Content-Type", "0\r\nContent-Type: a/b\r\n\r\n"),
    CBAD("trailer Proxy-Authorization", "0\r\nProxy-Authorization: x\r\n\r\n"),
    CBAD("trailer obs-fold", "0\r\nX: a\r\n b\r\n\r\n"),
    CBAD("trailer space before colon", "0\r\nX : a\r\n\r\n"),
    CBAD("trailer missing colon", "0\r\nX\r\n\r\n"),
    CBAD("trailer empty name", "0\r\n: a\r\n\r\n"),
    CBAD("trailer NUL", "0\r\nX: a\0\r\n\r\n", .len = 12),
    CBAD("trailer DEL", "0\r\nX: a\x7f\r\n\r\n"),
    CBAD("trailer bare LF", "0\r\nX: a\n\r\n"),
    CBAD("trailer bare CR", "0\r\nX: a\rb\r\n\r\n"),
    CBAD("final bare LF", "0\r\n\n"),
    CBAD("final CR then junk", "0\r\n\rX"),
    CERR("trailer over max_trailer", RH_E_HEADERS_TOO_LARGE, "0\r\nX: 12\r\n\r\n", .limited = 1, .max_trailer = 6),
    CERR("trailer with max_trailer 0", RH_E_HEADERS_TOO_LARGE, "0\r\nX: 1\r\n\r\n", .limited = 1),
    CERR("chunk over max_body", RH_E_TOO_LARGE, "b\r\nhello world\r\n0\r\n\r\n", .limited = 1, .max_body = 10),
    CERR("total over max_body", RH_E_TOO_LARGE, "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", .limited = 1, .max_body = 10),
    CERR("huge chunk size", RH_E_TOO_LARGE, "FFFFFFFFFFFFFFFF\r\n", .limited = 1, .max_body = 1u << 20),
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

typedef struct { int err; size_t consumed; size_t out_len; int done; char *out; } cres;

enum { FEED_WHOLE, FEED_BYTES, FEED_INPLACE, FEED_RANDOM };

/* Feed in[0..len) to a fresh decoder in the given way. */
static cres feed(const ccase *c, const char *in, size_t len, int mode)
{
    cres res = { 0, 0, 0, 0, malloc(len + 1) };
    rh_chunked d;
    size_t pos = 0;

    if (c->limited) rh_chunked_init(&d, c->max_body, c->max_trailer);
    else memset(&d, 0, sizeof d);
    while (pos < len) {
        size_t n = len - pos, w = (size_t)-1;
        char *src, *dst;
        ssize_t r;
        if (mode == FEED_BYTES) n = 1;
        else if (mode == FEED_RANDOM) n = 1 + (size_t)(rnd() % n);
        src = dup_exact(in + pos, n);
        dst = (mode == FEED_INPLACE || mode == FEED_RANDOM) ? src : malloc(n);
        r = rh_chunked_decode(&d, src, n, dst, &w);
        if (r < 0) {
            size_t w2;
            res.err = (int)r;
            CHECK(rh_chunked_decode(&d, src, n, dst, &w2) == r && w2 == 0, "error is not sticky");
        } else {
            CHECK((size_t)r <= n && w <= (size_t)r, "consumed %zd of %zu, wrote %zu", r, n, w);
            CHECK((size_t)r == n || d.done, "stopped early without done");
            memcpy(res.out + res.out_len, dst, w);
            res.out_len += w;
            pos += (size_t)r;
            res.consumed += (size_t)r;
        }
        if (dst != src) free(dst);
        free(src);
        if (r < 0 || d.done) break;
    }
    res.done = d.done;
    if (!res.err) {
        CHECK(d.total == res.out_len, "total %llu != %zu", (unsigned long long)d.total, res.out_len);
        if (d.done) {
            size_t w;
            char one = 'x';
            CHECK(rh_chunked_decode(&d, &one, 1, &one, &w) == 0 && w == 0, "bytes accepted after done");
        }
    }
    return res;
}

static void run_ccase(const ccase *c)
{
    size_t len = c->len ? c->len : strlen(c->in);
    begin(c->name);
    for (int mode = FEED_WHOLE; mode <= FEED_RANDOM; mode++) {
        cres r = feed(c, c->in, len, mode);
        if (c->want < RH_INCOMPLETE) {
            CHECK(r.err == c->want, "mode %d: got %d, want %d", mode, r.err, c->want);
        } else {
            size_t olen = c->olen ? c->olen : c->out ? strlen(c->out) : 0;
            CHECK(r.err == 0, "mode %d: error %d", mode, r.err);
            CHECK(r.done == (c->want == 0), "mode %d: done %d", mode, r.done);
            CHECK(r.consumed == len - c->extra, "mode %d: consumed %zu", mode, r.consumed);
            CHECK(r.out_len == olen && memcmp(r.out, c->out, olen) == 0, "mode %d: payload '%.*s'", mode,
                  (int)r.out_len, r.out);
        }
        free(r.out);
    }
    end();
}

/* Extensions are bounded by RH_MAX_CHUNK_EXT bytes per size line. */
static void run_ext_limit(void)
{
    static char in[RH_MAX_CHUNK_EXT + 64];
    ccase c = { .in = in };
    /* ';' + name + CR counted: name of MAX - 2 fits, MAX - 1 does not */
    for (int over = 0; over < 2; over++) {
        size_t n = RH_MAX_CHUNK_EXT - 2 + (size_t)over, k = 0;
        in[k++] = '1';
        in[k++] = ';';
        memset(in + k, 'a', n);
        k += n;
        memcpy(in + k, "\r\nx\r\n0\r\n\r\n", 11);
        c.name = over ? "ext over the limit" : "ext at the limit";
        c.want = over ? RH_E_BAD_REQUEST : 0;
        c.out = "x";
        run_ccase(&c);
    }
}

/* qdtext in a quoted extension value, every byte. */
static void run_qdtext_bytes(void)
{
    begin("byte class qdtext");
    for (int b = 0; b < 256; b++) {
        char in[32];
        int n = snprintf(in, sizeof in, "1;a=\"%c\"\r\nx\r\n0\r\n\r\n", b);
        int ok = b == '\t' || b == ' ' || b == 0x21 || (b >= 0x23 && b <= 0x5b) || (b >= 0x5d && b <= 0x7e) || b >= 0x80;
        ccase c = { .in = in, .len = (size_t)n };
        cres r = feed(&c, in, (size_t)n, FEED_WHOLE);
        CHECK(ok ? (r.done && r.consumed == (size_t)n) : r.err == RH_E_BAD_REQUEST, "byte 0x%02x: err %d", b, r.err);
        free(r.out);
    }
    end();
}

/* Head, chunked body and a pipelined request in one buffer, decoded in place. */
static void run_full_flow(void)
{
    static const char msg[] = "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\nX-T: 1\r\n\r\n"
                              "GET /next HTTP/1.1\r\nHost: h\r\n\r\n";
    size_t len = sizeof msg - 1, w;
    char *buf = dup_exact(msg, len);
    rh_header hs[8];
    rh_request req = { .headers = hs, .num_headers = 8 };
    rh_chunked d;
    int r;
    ssize_t b;

    begin("head + chunked body + pipelined request");
    r = rh_parse_request(buf, len, &req, &lim_default);
    CHECK(r == 58 && req.body_kind == RH_BODY_CHUNKED, "head %d", r);
    rh_chunked_init(&d, 1 << 20, 1024);
    b = rh_chunked_decode(&d, buf + r, len - (size_t)r, buf + r, &w);
    CHECK(d.done && w == 9 && memcmp(buf + r, "Wikipedia", 9) == 0, "body");
    CHECK(b == 36, "body consumed %zd", b);
    req.num_headers = 8;
    CHECK(rh_parse_request(buf + r + b, len - (size_t)r - (size_t)b, &req, &lim_default) == 31 &&
          span_eq(req.path, req.path_len, "/next"), "next request");
    free(buf);
    end();
}

/* ---- randomized mutation -------------------------------------------------- */

static size_t mutate(char *w, size_t n, size_t cap)
{
    static const char interesting[] = "\r\n \t:,;\"/?#0a9F\x7f\x80\xff=";
    int muts = 1 + (int)(rnd() % 4);
    for (int m = 0; m < muts; m++) {
        size_t pos = n ? (size_t)(rnd() % n) : 0;
        char ch = (rnd() & 1) ? (char)rnd() : interesting[rnd() % (sizeof interesting - 1)];
        switch (rnd() % 6) {
        case 0: case 1: if (n) w[pos] = ch; break;
        case 2: if (n < cap) { memmove(w + pos + 1, w + pos, n - pos); w[pos] = ch; n++; } break;
        case 3: if (n) { memmove(w + pos, w + pos + 1, n - pos - 1); n--; } break;
        case 4: n = pos; break;
        default: {                              /* duplicate a short span */
            size_t a = pos, l = 1 + (size_t)(rnd() % 16);
            if (a + l > n) l = n - a;
            if (n + l <= cap) { memmove(w + a + l, w + a, n - a); n += l; }
            break;
        }
        }
    }
    return n;
}

static int in_buf(const char *p, size_t n, const char *buf, size_t len)
{
    return p >= buf && n <= len && p - buf <= (ptrdiff_t)(len - n);
}

static int errcode(int r)
{
    return r == RH_E_BAD_REQUEST || r == RH_E_TOO_LARGE || r == RH_E_URI_TOO_LONG || r == RH_E_HEADERS_TOO_LARGE ||
           r == RH_E_NOT_IMPLEMENTED || r == RH_E_VERSION;
}

static int parse_exact(const char *in, size_t len, size_t cap, const rh_limits *lim, rh_request *req, rh_header *hs, char **keep)
{
    char *buf = dup_exact(in, len);
    int r;
    req->headers = hs;
    req->num_headers = cap;
    r = rh_parse_request(buf, len, req, lim);
    if (keep) *keep = buf;
    else free(buf);
    return r;
}

static void fuzz_requests(int iters)
{
    static const rh_limits *lims[] = { &lim_default, &lim_small, NULL };
    char work[1024];
    size_t nseeds = sizeof rcases / sizeof rcases[0];
    long outcomes[3] = { 0, 0, 0 };
    begin("mutated requests");
    for (int it = 0; it < iters && case_ok; it++) {
        const rcase *s;
        do s = &rcases[rnd() % nseeds]; while (s->want != 0);
        size_t n = s->len ? s->len : strlen(s->in), k;
        memcpy(work, s->in, n);
        if (rnd() % 4 == 0) { memcpy(work + n, pipelined, sizeof pipelined - 1); n += sizeof pipelined - 1; }
        n = mutate(work, n, sizeof work);
        const rh_limits *lim = lims[rnd() % 3];
        size_t cap = (rnd() & 1) ? 32 : 1 + (size_t)(rnd() % 6);
        rh_header *hs = malloc(cap * sizeof *hs);
        rh_request req;
        char *buf;
        int r = parse_exact(work, n, cap, lim, &req, hs, &buf);
        outcomes[r > 0 ? 0 : r == RH_INCOMPLETE ? 1 : 2]++;

        CHECK(r == RH_INCOMPLETE || errcode(r) || (r > 0 && (size_t)r <= n), "iter %d: result %d", it, r);
        if (r > 0) {
            CHECK(req.num_headers <= cap && (!lim || req.num_headers <= lim->max_headers), "iter %d: count", it);
            CHECK(!lim || (size_t)r <= lim->max_header_size, "iter %d: head over limit", it);
            CHECK(req.method_len > 0 && in_buf(req.method, req.method_len, buf, (size_t)r), "iter %d: method", it);
            CHECK(req.target_len > 0 && in_buf(req.target, req.target_len, buf, (size_t)r), "iter %d: target", it);
            CHECK(req.path_len > 0 && (in_buf(req.path, req.path_len, buf, (size_t)r) ||
                                       (req.path_len == 1 && req.path[0] == '/')), "iter %d: path", it);
            CHECK(!req.query || in_buf(req.query, req.query_len, buf, (size_t)r), "iter %d: query", it);
            CHECK(!req.host || in_buf(req.host, req.host_len, buf, (size_t)r), "iter %d: host", it);
            CHECK(req.version_minor == 0 || req.version_minor == 1, "iter %d: version", it);
            CHECK(req.body_kind >= RH_BODY_NONE && req.body_kind <= RH_BODY_CHUNKED, "iter %d: body", it);
            for (size_t i = 0; i < req.num_headers && i < cap; i++)
                CHECK(req.headers[i].name_len > 0 && in_buf(req.headers[i].name, req.headers[i].name_len, buf, (size_t)r) &&
                      in_buf(req.headers[i].value, req.headers[i].value_len, buf, (size_t)r), "iter %d: header %zu", it, i);
        }
        free(buf);
        /* any cut: incomplete before the head ends, the same answer after */
        for (int j = 0; j < 3; j++) {
            rh_request rq;
            k = j == 0 ? (size_t)(rnd() % (n + 1)) : r > 0 ? (size_t)r - (size_t)(j - 1) : (size_t)(rnd() % (n + 1));
            int rk = parse_exact(work, k, cap, lim, &rq, hs, NULL);
            if (r > 0) CHECK(k < (size_t)r ? rk == RH_INCOMPLETE : rk == r, "iter %d: cut %zu of %zu: %d vs %d", it, k, n, rk, r);
            else CHECK(rk == RH_INCOMPLETE || rk == r, "iter %d: cut %zu of %zu: %d vs %d", it, k, n, rk, r);
        }
        free(hs);
    }
    printf("mutated requests: %ld complete, %ld incomplete, %ld errors\n", outcomes[0], outcomes[1], outcomes[2]);
    end();
}

static void fuzz_chunked(int iters)
{
    char work[512];
    size_t nseeds = sizeof ccases / sizeof ccases[0];
    long outcomes[3] = { 0, 0, 0 };
    begin("mutated chunked bodies");
    for (int it = 0; it < iters && case_ok; it++) {
        const ccase *s = &ccases[rnd() % nseeds];
        size_t n = s->len ? s->len : strlen(s->in);
        memcpy(work, s->in, n);
        n = mutate(work, n, sizeof work);
        cres a = feed(s, work, n, FEED_WHOLE);
        outcomes[a.err ? 2 : a.done ? 0 : 1]++;
        for (int mode = FEED_BYTES; mode <= FEED_RANDOM; mode++) {
            cres b = feed(s, work, n, mode);
            CHECK(a.err == b.err && (a.err || (a.done == b.done && a.consumed == b.consumed && a.out_len == b.out_len &&
                                                memcmp(a.out, b.out, a.out_len) == 0)),
                  "iter %d mode %d: err %d/%d consumed %zu/%zu", it, mode, a.err, b.err, a.consumed, b.consumed);
            free(b.out);
        }
        free(a.out);
    }
    printf("mutated bodies: %ld done, %ld incomplete, %ld errors\n", outcomes[0], outcomes[1], outcomes[2]);
    end();
}

int main(int argc, char **argv)
{
    int iters = argc > 1 ? atoi(argv[1]) : 200000;
    for (size_t i = 0; i < sizeof rcases / sizeof rcases[0]; i++) run_rcase(&rcases[i]);
    run_limit_cases();
    run_byte_classes();
    run_byte_lanes();
    for (size_t i = 0; i < sizeof ccases / sizeof ccases[0]; i++) run_ccase(&ccases[i]);
    run_ext_limit();
    run_qdtext_bytes();
    run_full_flow();
    begin("rh_error_status");
    CHECK(rh_error_status(RH_E_BAD_REQUEST) == 400 && rh_error_status(RH_E_VERSION) == 505 &&
          rh_error_status(RH_INCOMPLETE) == 0 && rh_error_status(10) == 0, "statuses");
    end();
    fuzz_requests(iters);
    fuzz_chunked(iters / 2);
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
