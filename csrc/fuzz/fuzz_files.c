/*
 * fuzz_files.c -- the static-file answer (csrc/static_files.c) under the
 * fuzzer: every head the parser accepts is also answered from a fixture
 * directory made once per process, and the answer is checked.
 *
 * The fixture (in a mkdtemp directory, removed at exit):
 *   secret                 outside the mount: its bytes must never be served
 *   www/a.txt, www/empty, www/big.bin (sent as a file span: over small_max),
 *   www/app.js + app.js.gz + app.js.br, www/.hidden, www/sub/index.html,
 *   www/list/x, www/out -> ../secret, www/outdir -> .., www/loop1 <-> loop2,
 *   www/in -> a.txt, www/fifo (a named pipe: must not block)
 * Mounts: "/" (defaults) and "/s" (listings, symlinks refused, no index,
 * dotfiles shown, Cache-Control).
 *
 * Invariants: rh_files_normalize's output is a clean path; rh_files_serve
 * returns 0/1/-1; an answer is a known status whose head is one status line
 * plus header lines; an in-memory body or file span is in bounds and never
 * holds the secret; a file span names an open file that is not the secret.
 */
#define _GNU_SOURCE
#include "http_parser.h"
#include "static_files.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void check_files(const char *buf, size_t len);

static rh_files *files;
static rh_fcache *cache;
static char fixture[64];
static ino_t secret_ino;
static const char SECRET[] = "SECRET-BYTES-0123456789";

static void fail(const char *what, int line)
{
    fprintf(stderr, "fuzz_files: invariant violated line %d: %s\n", line, what);
    abort();
}

#define CHECK(cond) do { if (!(cond)) fail(#cond, __LINE__); } while (0)

static void put(const char *rel, const char *data, size_t n)
{
    char path[256];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s", fixture, rel);
    f = fopen(path, "wb");
    CHECK(f != NULL);
    CHECK(fwrite(data, 1, n, f) == n);
    fclose(f);
}

static void link_to(const char *target, const char *rel)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", fixture, rel);
    CHECK(symlink(target, path) == 0);
}

static void remove_fixture(void)
{
    char cmd[128];
    rh_fcache_free(cache);
    rh_files_free(files);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fixture);
    if (system(cmd) != 0) fprintf(stderr, "fuzz_files: cannot remove %s\n", fixture);
}

static void setup(void)
{
    static const char *exts[] = {"html", "js", "txt"};
    static const char *types[] = {"text/html; charset=utf-8", "text/javascript; charset=utf-8",
                                  "text/plain; charset=utf-8"};
    char path[256], real[4096];
    struct stat st;
    char *big;
    int dfd;
    strcpy(fixture, "/tmp/reactor-fuzz-files.XXXXXX");
    CHECK(mkdtemp(fixture) != NULL);
    put("secret", SECRET, sizeof SECRET - 1);
    snprintf(path, sizeof path, "%s/secret", fixture);
    CHECK(stat(path, &st) == 0);
    secret_ino = st.st_ino;
    snprintf(path, sizeof path, "%s/www", fixture);
    CHECK(mkdir(path, 0755) == 0);
    snprintf(path, sizeof path, "%s/www/sub", fixture);
    CHECK(mkdir(path, 0755) == 0);
    snprintf(path, sizeof path, "%s/www/list", fixture);
    CHECK(mkdir(path, 0755) == 0);
    put("www/a.txt", "hello, files\n", 13);
    put("www/empty", "", 0);
    big = malloc(5000);
    CHECK(big != NULL);
    memset(big, 'b', 5000);
    put("www/big.bin", big, 5000);
    free(big);
    put("www/app.js", "let a = 1;\n", 11);
    put("www/app.js.gz", "GZ", 2);
    put("www/app.js.br", "BR", 2);
    put("www/.hidden", "hidden", 6);
    put("www/sub/index.html", "<p>index</p>\n", 13);
    put("www/list/x", "x", 1);
    link_to("../secret", "www/out");
    link_to("..", "www/outdir");
    link_to("loop2", "www/loop1");
    link_to("loop1", "www/loop2");
    link_to("a.txt", "www/in");
    snprintf(path, sizeof path, "%s/www/fifo", fixture);
    CHECK(mkfifo(path, 0644) == 0);
    snprintf(path, sizeof path, "%s/www", fixture);
    CHECK(realpath(path, real) != NULL);
    files = rh_files_new();
    CHECK(files != NULL);
    CHECK(rh_files_set_mime(files, 3, exts, types) == 0);
    CHECK(rh_files_set_server(files, "fuzz", 4) == 0);
    dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(dfd >= 0);
    CHECK(rh_files_add_mount(files, "", 0, dfd, real, "index.html", 0, 0, 0, 1, NULL) == 0);
    dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(dfd >= 0);
    CHECK(rh_files_add_mount(files, "/s", 2, dfd, real, "", 1, 0, 1, 0, "max-age=1") == 0);
    /* a small cache: entries are evicted and reopened all the time */
    cache = rh_fcache_new(4, 64, 100);
    CHECK(cache != NULL);
    atexit(remove_fixture);
}

static int known_status(int s)
{
    static const int ok[] = {200, 206, 301, 304, 400, 403, 404, 405, 412, 416, 503};
    size_t i;
    for (i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (s == ok[i]) return 1;
    return 0;
}

static void check_head(const rh_freply *rep)
{
    char line[32];
    size_t i;
    int k = snprintf(line, sizeof line, "HTTP/1.1 %d ", rep->status);
    CHECK(rep->head != NULL && rep->head_len > (size_t)k);
    CHECK(memcmp(rep->head, line, (size_t)k) == 0);
    CHECK(rep->head_len >= 2 && memcmp(rep->head + rep->head_len - 2, "\r\n", 2) == 0);
    for (i = 0; i + 1 < rep->head_len; i++) {
        unsigned char c = (unsigned char)rep->head[i];
        CHECK(c != 0);
        if (c == '\r') CHECK(rep->head[i + 1] == '\n');
        if (c == '\n' && i + 1 < rep->head_len) CHECK(rep->head[i + 1] != '\r');   /* no blank line */
    }
}

static void check_normalize(const char *path, size_t n)
{
    char *out = malloc(n + 2);
    long r;
    size_t i;
    CHECK(out != NULL);
    r = rh_files_normalize(path, n, out);
    CHECK(r >= -2 && r <= (long)n + 1);
    if (r >= 0) {
        CHECK(r >= 1 && out[0] == '/' && out[r] == 0);
        for (i = 0; i < (size_t)r; i++) {
            CHECK(out[i] != 0);
            if (out[i] == '/' && i + 1 < (size_t)r) {
                CHECK(out[i + 1] != '/');
                CHECK(!(out[i + 1] == '.' && (i + 2 == (size_t)r || out[i + 2] == '/')));
                CHECK(!(out[i + 1] == '.' && i + 2 < (size_t)r && out[i + 2] == '.' &&
                        (i + 3 == (size_t)r || out[i + 3] == '/')));
            }
        }
    }
    free(out);
}

void check_files(const char *buf, size_t len)
{
    rh_header hdrs[64];
    rh_request req;
    rh_freply rep;
    int rc, r;
    if (files == NULL) setup();
    memset(&req, 0, sizeof req);
    req.headers = hdrs;
    req.num_headers = 64;
    rc = rh_parse_request(buf, len, &req, NULL);
    if (rc <= 0) return;
    check_normalize(req.path, req.path_len);
    r = rh_files_serve(files, cache, &req, req.body_kind != RH_BODY_NONE, &rep);
    CHECK(r == 0 || r == 1 || r == -1);
    if (r == 0)     /* the "/" mount takes every origin-form path, even a refused one */
        CHECK(req.path_len == 0 || req.path[0] != '/');
    if (r != 1) return;
    CHECK(known_status(rep.status));
    check_head(&rep);
    if (rep.body_len) {
        CHECK(rep.body != NULL);
        CHECK(memmem(rep.body, rep.body_len, SECRET, 6) == NULL);
    }
    rh_fentry_unref(rep.hold);     /* in-memory bodies: the entry they point into */
    if (rep.entry != NULL) {
        struct stat st;
        CHECK(rep.status == 200 || rep.status == 206);
        CHECK(fstat(rep.entry->fd, &st) == 0);
        CHECK(st.st_ino != secret_ino);
        CHECK(rep.file_len > 0 && (uint64_t)rep.file_off + rep.file_len <= (uint64_t)st.st_size);
        rh_fentry_unref(rep.entry);
    }
}
