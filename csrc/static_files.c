/*
 * static_files.c -- see static_files.h.
 */
#define _GNU_SOURCE
#include "static_files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_LISTING 100000
#define RH_SEND_CHUNK (2u << 20)    /* per sendfile() call, as nginx's sendfile_max_chunk */      /* entries shown in one listing, at most */

/* ---- small helpers ------------------------------------------------------ */

static int lower(int ch) { return (ch >= 'A' && ch <= 'Z') ? ch + 32 : ch; }

static int ieq(const char *a, size_t an, const char *b) {
    size_t bn = strlen(b), i;
    if (an != bn) return 0;
    for (i = 0; i < an; i++)
        if (lower((unsigned char)a[i]) != b[i]) return 0;
    return 1;
}

static int hexval(int ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    ch = lower(ch);
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    return -1;
}

static uint64_t fnv1a(int mount, const char *p, size_t n) {
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)(unsigned)mount;
    size_t i;
    for (i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* A growable byte string the reply is built in. */
typedef struct { char **buf; size_t *cap; size_t len; int oom; } sbuf;

static void sb_put(sbuf *s, const char *p, size_t n) {
    if (s->oom) return;
    if (s->len + n + 1 > *s->cap) {
        size_t cap = *s->cap ? *s->cap : 512;
        char *nb;
        while (cap < s->len + n + 1) cap *= 2;
        nb = realloc(*s->buf, cap);
        if (nb == NULL) { s->oom = 1; return; }
        *s->buf = nb;
        *s->cap = cap;
    }
    memcpy(*s->buf + s->len, p, n);
    s->len += n;
}

static void sb_str(sbuf *s, const char *p) { sb_put(s, p, strlen(p)); }

/* p[:n] percent-encoded: everything but unreserved characters and '/' */
static void sb_pct(sbuf *s, const char *p, size_t n) {
    size_t k;
    for (k = 0; k < n; k++) {
        unsigned char ch = (unsigned char)p[k];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                ch == '-' || ch == '_' || ch == '.' || ch == '~' || ch == '/') {
            sb_put(s, (const char *)&ch, 1);
        } else {
            char pct[4];
            snprintf(pct, sizeof pct, "%%%02X", ch);
            sb_put(s, pct, 3);
        }
    }
}

static void sb_u64(sbuf *s, uint64_t v) {
    char num[24];
    int k = snprintf(num, sizeof num, "%llu", (unsigned long long)v);
    sb_put(s, num, (size_t)k);
}

static int format_date(time_t t, char out[32]) {
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char mons[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    out[0] = 0;
    /* an IMF-fixdate has a 4-digit year: anything else (a tmpfs file dated
       in the year 10^9, a clock far off) gets no date at all */
    if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999 ||
            tm.tm_wday < 0 || tm.tm_wday > 6 || tm.tm_mon < 0 || tm.tm_mon > 11)
        return -1;
    snprintf(out, 32, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
             mons[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return 0;
}

/* ---- HTTP-date (RFC 9110 5.6.7): IMF-fixdate, RFC 850, asctime ----------- */

static int month_of(const char *p) {
    static const char *m = "janfebmaraprmayjunjulaugsepoctnovdec";
    int i;
    for (i = 0; i < 12; i++)
        if (lower((unsigned char)p[0]) == m[3 * i] && lower((unsigned char)p[1]) == m[3 * i + 1]
                && lower((unsigned char)p[2]) == m[3 * i + 2])
            return i;
    return -1;
}

static int digits(const char *p, int n, int *out) {
    int v = 0, i;
    for (i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return 0;
}

static int parse_hms(const char *p, struct tm *tm) {
    if (p[2] != ':' || p[5] != ':') return -1;
    if (digits(p, 2, &tm->tm_hour) || digits(p + 3, 2, &tm->tm_min) || digits(p + 6, 2, &tm->tm_sec))
        return -1;
    if (tm->tm_hour > 23 || tm->tm_min > 59 || tm->tm_sec > 60) return -1;
    return 0;
}

static int parse_http_date(const char *s, size_t n, time_t *out) {
    struct tm tm;
    const char *comma;
    memset(&tm, 0, sizeof tm);
    comma = memchr(s, ',', n);
    if (comma != NULL && comma - s == 3) {
        /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
        if (n != 29 || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
                s[25] != ' ' || memcmp(s + 26, "GMT", 3) != 0)
            return -1;
        if (digits(s + 5, 2, &tm.tm_mday) || (tm.tm_mon = month_of(s + 8)) < 0 ||
                digits(s + 12, 4, &tm.tm_year) || parse_hms(s + 17, &tm))
            return -1;
        tm.tm_year -= 1900;
    } else if (comma != NULL) {
        /* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
        const char *p = comma + 1;
        size_t rest = n - (size_t)(p - s);
        int yy;
        if (rest != 23 || p[0] != ' ' || p[3] != '-' || p[7] != '-' || p[10] != ' ' ||
                p[19] != ' ' || memcmp(p + 20, "GMT", 3) != 0)
            return -1;
        if (digits(p + 1, 2, &tm.tm_mday) || (tm.tm_mon = month_of(p + 4)) < 0 ||
                digits(p + 8, 2, &yy) || parse_hms(p + 11, &tm))
            return -1;
        tm.tm_year = yy < 70 ? yy + 100 : yy;      /* two digits: 1970..2069 */
    } else {
        /* asctime: "Sun Nov  6 08:49:37 1994" */
        if (n != 24 || s[3] != ' ' || s[7] != ' ' || s[10] != ' ' || s[19] != ' ')
            return -1;
        if ((tm.tm_mon = month_of(s + 4)) < 0) return -1;
        if (s[8] == ' ') {
            if (digits(s + 9, 1, &tm.tm_mday)) return -1;
        } else if (digits(s + 8, 2, &tm.tm_mday)) {
            return -1;
        }
        if (parse_hms(s + 11, &tm) || digits(s + 20, 4, &tm.tm_year)) return -1;
        tm.tm_year -= 1900;
    }
    if (tm.tm_mday < 1 || tm.tm_mday > 31) return -1;
    *out = timegm(&tm);
    return 0;
}

/* ---- entity tags (RFC 9110 8.8.3, 13.1.1) -------------------------------- */

/* Does the list in v match etag?  weak: weak comparison; a '*' matches.
 * A malformed list matches nothing. */
static int etag_list_match(const char *v, size_t n, const char *etag, size_t etag_len, int weak) {
    size_t i = 0;
    while (i < n) {
        int is_weak = 0;
        size_t start;
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
        if (i >= n) break;
        if (v[i] == '*') return 1;
        if (i + 1 < n && v[i] == 'W' && v[i + 1] == '/') { is_weak = 1; i += 2; }
        if (i >= n || v[i] != '"') return 0;
        start = i;
        i++;
        while (i < n && v[i] != '"') i++;
        if (i >= n) return 0;
        i++;
        if ((weak || !is_weak) && i - start == etag_len && memcmp(v + start, etag, etag_len) == 0)
            return 1;
    }
    return 0;
}

/* ---- the mount table ----------------------------------------------------- */

rh_files *rh_files_new(void) {
    return calloc(1, sizeof(rh_files));
}

static char *dupn(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d != NULL) { memcpy(d, s, n); d[n] = 0; }
    return d;
}

int rh_files_add_mount(rh_files *f, const char *prefix, size_t prefix_len, int dirfd,
                       const char *root, const char *index, int list_dirs,
                       int follow_symlinks, int show_dotfiles, int precompressed,
                       const char *cache_control) {
    rh_mount *ms = realloc(f->mounts, (size_t)(f->n + 1) * sizeof(rh_mount));
    rh_mount *m;
    if (ms == NULL) return -1;
    f->mounts = ms;
    m = &ms[f->n];
    memset(m, 0, sizeof *m);
    m->prefix = dupn(prefix, prefix_len);
    m->prefix_len = prefix_len;
    m->root = dupn(root, strlen(root));
    m->root_len = strlen(root);
    m->index = dupn(index, strlen(index));
    m->index_len = strlen(index);
    m->cache_control = cache_control ? dupn(cache_control, strlen(cache_control)) : NULL;
    m->cache_control_len = cache_control ? strlen(cache_control) : 0;
    if (m->prefix == NULL || m->root == NULL || m->index == NULL ||
            (cache_control && m->cache_control == NULL)) {
        free(m->prefix); free(m->root); free(m->index); free(m->cache_control);
        return -1;
    }
    m->dirfd = dirfd;
    m->list_dirs = list_dirs;
    m->follow_symlinks = follow_symlinks;
    m->show_dotfiles = show_dotfiles;
    m->precompressed = precompressed;
    f->n++;
    return 0;
}

int rh_files_set_mime(rh_files *f, size_t n, const char **exts, const char **types) {
    size_t i;
    f->mime_ext = calloc(n ? n : 1, sizeof *f->mime_ext);
    f->mime_type = calloc(n ? n : 1, sizeof *f->mime_type);
    if (f->mime_ext == NULL || f->mime_type == NULL) return -1;
    for (i = 0; i < n; i++) {
        strncpy(f->mime_ext[i], exts[i], 15);
        f->mime_type[i] = dupn(types[i], strlen(types[i]));
        if (f->mime_type[i] == NULL) return -1;
        f->nmime = i + 1;
    }
    return 0;
}

int rh_files_set_server(rh_files *f, const char *server, size_t n) {
    free(f->server);
    f->server = n ? dupn(server, n) : NULL;
    f->server_len = n;
    return (n && f->server == NULL) ? -1 : 0;
}

void rh_files_free(rh_files *f) {
    int i;
    size_t j;
    if (f == NULL) return;
    for (i = 0; i < f->n; i++) {
        rh_mount *m = &f->mounts[i];
        free(m->prefix); free(m->root); free(m->index); free(m->cache_control);
        if (m->dirfd >= 0) close(m->dirfd);
    }
    free(f->mounts);
    for (j = 0; j < f->nmime; j++) free(f->mime_type[j]);
    free(f->mime_ext);
    free(f->mime_type);
    free(f->server);
    free(f);
}

static const char *mime_of(const rh_files *f, const char *name, size_t n) {
    char ext[16];
    size_t i, dot = n, k;
    size_t lo = 0, hi = f->nmime;
    for (i = n; i > 0; i--) {
        if (name[i - 1] == '.') { dot = i - 1; break; }
        if (name[i - 1] == '/') break;
    }
    if (dot == n || n - dot - 1 == 0 || n - dot - 1 > 15) return "application/octet-stream";
    for (k = 0; k < n - dot - 1; k++) ext[k] = (char)lower((unsigned char)name[dot + 1 + k]);
    ext[k] = 0;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(ext, f->mime_ext[mid]);
        if (c == 0) return f->mime_type[mid];
        if (c < 0) hi = mid; else lo = mid + 1;
    }
    return "application/octet-stream";
}

/* ---- the cache ----------------------------------------------------------- */

rh_fcache *rh_fcache_new(size_t max_entries, size_t max_data_bytes, size_t small_max) {
    rh_fcache *c = calloc(1, sizeof *c);
    if (c == NULL) return NULL;
    c->nbuckets = 1;
    while (c->nbuckets < max_entries * 2) c->nbuckets *= 2;
    c->buckets = calloc(c->nbuckets, sizeof *c->buckets);
    if (c->buckets == NULL) { free(c); return NULL; }
    c->max_entries = max_entries ? max_entries : 1;
    c->max_data_bytes = max_data_bytes;
    c->small_max = small_max;
    return c;
}

void rh_fentry_unref(rh_fentry *e) {
    if (e == NULL || --e->refs > 0) return;
    if (e->fd >= 0) close(e->fd);
    free(e->data);
    free(e->key);
    free(e);
}

static void cache_remove(rh_fcache *c, rh_fentry *e) {
    rh_fentry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];
    while (*pp != NULL && *pp != e) pp = &(*pp)->hnext;
    if (*pp == e) *pp = e->hnext;
    if (e->lprev) e->lprev->lnext = e->lnext; else c->lru_head = e->lnext;
    if (e->lnext) e->lnext->lprev = e->lprev; else c->lru_tail = e->lprev;
    e->hnext = e->lprev = e->lnext = NULL;
    e->in_table = 0;
    c->count--;
    if (e->data) c->data_bytes -= (size_t)e->size;
    rh_fentry_unref(e);
}

void rh_fcache_free(rh_fcache *c) {
    if (c == NULL) return;
    while (c->lru_head != NULL) cache_remove(c, c->lru_head);
    free(c->buckets);
    free(c->scratch);
    free(c->body);
    free(c->path);
    free(c);
}

static rh_fentry *cache_find(rh_fcache *c, int mount, const char *key, size_t n, uint64_t h) {
    rh_fentry *e = c->buckets[h & (c->nbuckets - 1)];
    for (; e != NULL; e = e->hnext)
        if (e->hash == h && e->mount == mount && e->key_len == n && memcmp(e->key, key, n) == 0)
            return e;
    return NULL;
}

static void lru_front(rh_fcache *c, rh_fentry *e) {
    if (c->lru_head == e) return;
    if (e->lprev) e->lprev->lnext = e->lnext;
    if (e->lnext) e->lnext->lprev = e->lprev; else c->lru_tail = e->lprev;
    e->lprev = NULL;
    e->lnext = c->lru_head;
    if (c->lru_head) c->lru_head->lprev = e;
    c->lru_head = e;
    if (c->lru_tail == NULL) c->lru_tail = e;
}

static void cache_insert(rh_fcache *c, rh_fentry *e) {
    size_t b = e->hash & (c->nbuckets - 1);
    while (c->count >= c->max_entries && c->lru_tail != NULL)
        cache_remove(c, c->lru_tail);
    e->hnext = c->buckets[b];
    c->buckets[b] = e;
    e->lprev = NULL;
    e->lnext = c->lru_head;
    if (c->lru_head) c->lru_head->lprev = e;
    c->lru_head = e;
    if (c->lru_tail == NULL) c->lru_tail = e;
    e->in_table = 1;
    e->refs++;
    c->count++;
    if (e->data) c->data_bytes += (size_t)e->size;
}

static int same_time(const struct timespec *a, const struct timespec *b) {
    return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

static int same_file(const rh_fentry *e, const struct stat *st) {
    return S_ISREG(st->st_mode) && e->dev == st->st_dev && e->ino == st->st_ino &&
           e->size == st->st_size && same_time(&e->mtime, &st->st_mtim) &&
           same_time(&e->ctime, &st->st_ctim);
}

/* Is the open fd under the mount's real directory? */
static int inside(const rh_mount *m, int fd) {
    char link[40], real[PATH_MAX + 1];
    ssize_t k;
    if (m->follow_symlinks || (m->root_len == 1 && m->root[0] == '/')) return 1;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    k = readlink(link, real, PATH_MAX);
    if (k < 0) return 0;        /* cannot tell: refuse */
    real[k] = 0;
    if ((size_t)k == m->root_len) return memcmp(real, m->root, m->root_len) == 0;
    return (size_t)k > m->root_len && memcmp(real, m->root, m->root_len) == 0 &&
           real[m->root_len] == '/';
}

/* Open rel (relative to the mount; "" is the mount itself) safely: first
 * with O_PATH, which opens nothing for I/O (a symlink to a device or a FIFO
 * has no effect), then, if it is a regular file or a directory under the
 * mount, for reading through /proc/self/fd.  Returns an fd, or -errno.  *st
 * gets its fstat. */
static int open_under(const rh_mount *m, const char *rel, struct stat *st) {
    char link[40];
    int pfd, fd, err;
    do {
        pfd = openat(m->dirfd, *rel ? rel : ".", O_PATH | O_CLOEXEC);
    } while (pfd < 0 && errno == EINTR);
    if (pfd < 0) return -errno;
    if (fstat(pfd, st) < 0) {
        err = errno;
        close(pfd);
        return -err;
    }
    if (!(S_ISREG(st->st_mode) || S_ISDIR(st->st_mode)) || !inside(m, pfd)) {
        close(pfd);
        return -ENOENT;
    }
    snprintf(link, sizeof link, "/proc/self/fd/%d", pfd);
    do {
        fd = open(link, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    } while (fd < 0 && errno == EINTR);
    err = errno;
    close(pfd);
    if (fd < 0) return -err;
    return fd;
}

static ssize_t pread_all(int fd, char *p, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(fd, p + got, n - got, (off_t)got);
        if (k < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (k == 0) break;
        got += (size_t)k;
    }
    return (ssize_t)got;
}

/* Close the fds of cached files no connection is sending (half of the
 * cache, least recently used first); how many were closed. */
static int release_fds(rh_fcache *c) {
    rh_fentry *e = c->lru_tail, *prev;
    int closed = 0, budget = (int)(c->count / 2) + 1;
    while (e != NULL && budget > 0) {
        prev = e->lprev;
        if (e->refs == 1 && e->fd >= 0) {
            cache_remove(c, e);
            closed++;
        }
        budget--;
        e = prev;
    }
    return closed;
}

/* The cache entry of mount/key, revalidated; or a fresh one.  Returns NULL
 * with *err = errno (ENOENT...), or EISDIR for a directory. */
static rh_fentry *lookup(rh_fcache *c, const rh_mount *m, int mount, const char *key, size_t n,
                         int *err) {
    uint64_t h = fnv1a(mount, key, n);
    rh_fentry *e = cache_find(c, mount, key, n, h);
    struct stat st;
    int fd;
    if (e != NULL) {
        if (fstatat(m->dirfd, n ? key : ".", &st, 0) == 0 && same_file(e, &st)) {
            lru_front(c, e);
            c->hits++;
            return e;
        }
        cache_remove(c, e);         /* changed or gone: never served again */
    }
    c->misses++;
    fd = open_under(m, key, &st);
    if (fd == -EMFILE || fd == -ENFILE) {
        /* out of fds: give back those of idle cached files, then try again */
        if (release_fds(c) > 0) fd = open_under(m, key, &st);
    }
    if (fd < 0) { *err = -fd; return NULL; }
    if (S_ISDIR(st.st_mode)) { close(fd); *err = EISDIR; return NULL; }
    if (!S_ISREG(st.st_mode)) { close(fd); *err = ENOENT; return NULL; }
    e = calloc(1, sizeof *e);
    if (e == NULL || (e->key = dupn(key, n)) == NULL) {
        free(e);
        close(fd);
        *err = ENOMEM;
        return NULL;
    }
    e->key_len = n;
    e->hash = h;
    e->mount = mount;
    e->fd = fd;
    e->dev = st.st_dev;
    e->ino = st.st_ino;
    e->size = st.st_size;
    e->mtime = st.st_mtim;
    e->ctime = st.st_ctim;
    e->siblings = -1;
    e->etag_len = (size_t)snprintf(e->etag, sizeof e->etag, "\"%llx-%llx-%llx.%lx\"",
                                   (unsigned long long)st.st_ino, (unsigned long long)st.st_size,
                                   (unsigned long long)st.st_mtim.tv_sec,
                                   (unsigned long)st.st_mtim.tv_nsec);
    format_date(st.st_mtim.tv_sec, e->lastmod);
    if ((size_t)st.st_size <= c->small_max && c->data_bytes + (size_t)st.st_size <= c->max_data_bytes) {
        /* small: keep the bytes, if the file did not change while read */
        char *data = malloc((size_t)st.st_size + 1);
        struct stat st2;
        if (data != NULL && pread_all(fd, data, (size_t)st.st_size) == (ssize_t)st.st_size &&
                fstat(fd, &st2) == 0 && same_file(e, &st2)) {
            e->data = data;
            close(fd);          /* revalidated by path from now on: no fd held */
            e->fd = -1;
        } else {
            free(data);
        }
    }
    cache_insert(c, e);
    return e;
}

/* ---- paths ---------------------------------------------------------------- */

long rh_files_normalize(const char *path, size_t n, char *out) {
    /* decode into out, then fold "//", "/./" and "/../" in place */
    size_t i, o = 0, r, w;
    if (n == 0 || path[0] != '/') return -1;
    for (i = 0; i < n; i++) {
        int ch = (unsigned char)path[i];
        if (ch == '%') {
            int hi, lo;
            if (i + 2 >= n) return -1;
            hi = hexval((unsigned char)path[i + 1]);
            lo = hexval((unsigned char)path[i + 2]);
            if (hi < 0 || lo < 0) return -1;
            ch = hi * 16 + lo;
            i += 2;
        }
        if (ch == 0) return -1;
        out[o++] = (char)ch;
    }
    /* segments: out[0] is '/' */
    w = 1;
    r = 1;
    while (r < o) {
        size_t s = r, len;
        while (r < o && out[r] != '/') r++;
        len = r - s;
        if (r < o) r++;             /* past the '/' */
        if (len == 0 || (len == 1 && out[s] == '.'))
            continue;
        if (len == 2 && out[s] == '.' && out[s + 1] == '.') {
            if (w == 1) return -2;
            w--;                    /* drop the last segment */
            while (w > 1 && out[w - 1] != '/') w--;
            continue;
        }
        memmove(out + w, out + s, len);
        w += len;
        out[w++] = '/';
    }
    /* the trailing '/': kept only if the path ended with one (or "." / "..") */
    if (w > 1) {
        int trailing = path[n - 1] == '/' ||
            (n >= 2 && path[n - 1] == '.' && (path[n - 2] == '/' ||
             (n >= 3 && path[n - 2] == '.' && path[n - 3] == '/')));
        if (!trailing) w--;
    }
    out[w] = 0;
    return (long)w;
}

/* Does raw path p (undecoded) start with the mount's prefix on a segment boundary? */
static int prefix_match(const rh_mount *m, const char *p, size_t n) {
    if (m->prefix_len == 0) return 1;
    return n >= m->prefix_len && memcmp(p, m->prefix, m->prefix_len) == 0 &&
           (n == m->prefix_len || p[m->prefix_len] == '/');
}

static int best_mount(const rh_files *f, const char *p, size_t n) {
    int i, best = -1;
    for (i = 0; i < f->n; i++)
        if (prefix_match(&f->mounts[i], p, n) &&
                (best < 0 || f->mounts[i].prefix_len > f->mounts[best].prefix_len))
            best = i;
    return best;
}

/* ---- replies -------------------------------------------------------------- */

static void head_start(sbuf *s, const rh_files *f, int status, const char *reason) {
    char line[64];
    int k = snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\n", status, reason);
    sb_put(s, line, (size_t)k);
    if (f->server != NULL) {
        sb_put(s, "Server: ", 8);
        sb_put(s, f->server, f->server_len);
        sb_put(s, "\r\n", 2);
    }
}

static int simple(rh_fcache *c, const rh_files *f, rh_freply *rep, int status, const char *reason,
                  const char *extra, int with_body) {
    sbuf s = {&c->scratch, &c->scratch_cap, 0, 0};
    size_t blen = 0;
    head_start(&s, f, status, reason);
    if (extra) sb_str(&s, extra);
    if (with_body) {
        /* the reason alone: never a path */
        blen = strlen(reason) + 1;
        sb_str(&s, "Content-Type: text/plain; charset=utf-8\r\n");
    }
    sb_str(&s, "Content-Length: ");
    sb_u64(&s, blen);
    sb_put(&s, "\r\n", 2);
    if (s.oom) return -1;
    rep->status = status;
    rep->head = c->scratch;
    rep->head_len = s.len;
    if (with_body) {
        /* reason + "\n" lives after the head in scratch */
        size_t at = s.len;
        sb_str(&s, reason);
        sb_put(&s, "\n", 1);
        if (s.oom) return -1;
        rep->head = c->scratch;
        rep->body = c->scratch + at;
        rep->body_len = blen;
    }
    return 1;
}

static void validators(sbuf *s, const rh_mount *m, const rh_fentry *e, const char *encoding,
                       int vary) {
    if (e->lastmod[0]) {
        sb_str(s, "Last-Modified: ");
        sb_str(s, e->lastmod);
        sb_put(s, "\r\n", 2);
    }
    sb_str(s, "ETag: ");
    sb_put(s, e->etag, e->etag_len);
    sb_put(s, "\r\n", 2);
    if (m->cache_control) {
        sb_str(s, "Cache-Control: ");
        sb_put(s, m->cache_control, m->cache_control_len);
        sb_put(s, "\r\n", 2);
    }
    if (encoding) {
        sb_str(s, "Content-Encoding: ");
        sb_str(s, encoding);
        sb_put(s, "\r\n", 2);
    }
    if (vary)
        sb_str(s, "Vary: Accept-Encoding\r\n");
}

/* the request headers the files path reads */
typedef struct {
    const rh_header *if_match, *if_none_match, *if_mod, *if_unmod, *if_range, *range, *accept_enc;
    int ranges;
} fheaders;

static void collect(const rh_request *req, fheaders *h) {
    size_t i;
    memset(h, 0, sizeof *h);
    for (i = 0; i < req->num_headers; i++) {
        const rh_header *x = &req->headers[i];
        switch (x->name_len) {
        case 5:
            if (ieq(x->name, 5, "range")) { if (!h->range) h->range = x; h->ranges++; }
            break;
        case 8:
            if (ieq(x->name, 8, "if-match")) { if (!h->if_match) h->if_match = x; }
            else if (ieq(x->name, 8, "if-range")) { if (!h->if_range) h->if_range = x; }
            break;
        case 13:
            if (ieq(x->name, 13, "if-none-match")) { if (!h->if_none_match) h->if_none_match = x; }
            break;
        case 15:
            if (ieq(x->name, 15, "accept-encoding")) { if (!h->accept_enc) h->accept_enc = x; }
            break;
        case 17:
            if (ieq(x->name, 17, "if-modified-since")) { if (!h->if_mod) h->if_mod = x; }
            break;
        case 19:
            if (ieq(x->name, 19, "if-unmodified-since")) { if (!h->if_unmod) h->if_unmod = x; }
            break;
        }
    }
}

/* any of the (possibly repeated) headers named name matches? */
static int list_match(const rh_request *req, const char *name, const rh_fentry *e, int weak) {
    size_t i, nl = strlen(name);
    for (i = 0; i < req->num_headers; i++) {
        const rh_header *x = &req->headers[i];
        if (x->name_len == nl && ieq(x->name, nl, name) &&
                etag_list_match(x->value, x->value_len, e->etag, e->etag_len, weak))
            return 1;
    }
    return 0;
}

/* Is coding (e.g. "gzip") acceptable per Accept-Encoding (q > 0)? */
static int accepts(const rh_header *ae, const char *coding) {
    const char *v, *end;
    size_t cl = strlen(coding);
    if (ae == NULL) return 0;
    v = ae->value;
    end = v + ae->value_len;
    while (v < end) {
        const char *tok, *p;
        size_t tl;
        int ok = 1;
        while (v < end && (*v == ' ' || *v == '\t' || *v == ',')) v++;
        tok = v;
        while (v < end && *v != ',' && *v != ';' && *v != ' ' && *v != '\t') v++;
        tl = (size_t)(v - tok);
        /* parameters: look for q=0 (q=0, q=0.0, q=0.00, q=0.000) */
        p = v;
        while (p < end && *p != ',') {
            if ((*p == 'q' || *p == 'Q') && p + 1 < end && p[1] == '=') {
                const char *q = p + 2;
                ok = 0;
                if (q < end && *q == '1') ok = 1;
                else if (q < end && *q == '0') {
                    q++;
                    if (q < end && *q == '.') {
                        q++;
                        while (q < end && *q >= '0' && *q <= '9') {
                            if (*q != '0') ok = 1;
                            q++;
                        }
                    }
                }
            }
            p++;
        }
        v = p;
        if (tl == cl && ieq(tok, tl, coding)) return ok;
    }
    return 0;
}

/* Parse a single byte range "bytes=a-b" against size.  0: no usable Range
 * (serve 200); 1: first and last set; 2: unsatisfiable (416). */
static int parse_range(const char *v, size_t n, uint64_t size, uint64_t *first, uint64_t *last) {
    size_t i = 0;
    uint64_t a = 0, b = 0;
    int has_a = 0, has_b = 0, big = 0;
    if (n < 6 || !ieq(v, 5, "bytes") || v[5] != '=') return 0;
    i = 6;
    while (i < n && (v[i] == ' ' || v[i] == '\t')) i++;
    while (i < n && v[i] >= '0' && v[i] <= '9') {
        if (a > 100000000000000000ULL) big = 1; else a = a * 10 + (uint64_t)(v[i] - '0');
        has_a = 1;
        i++;
    }
    if (i >= n || v[i] != '-') return 0;
    i++;
    while (i < n && v[i] >= '0' && v[i] <= '9') {
        if (b > 100000000000000000ULL) b = UINT64_MAX / 2; else b = b * 10 + (uint64_t)(v[i] - '0');
        has_b = 1;
        i++;
    }
    while (i < n && (v[i] == ' ' || v[i] == '\t')) i++;
    if (i != n) return 0;           /* a list of ranges or junk: the whole file */
    if (!has_a && !has_b) return 0;
    if (has_a && has_b && b < a && !big) return 0;
    if (!has_a) {                   /* suffix: the last b bytes */
        if (b == 0 || size == 0) return 2;
        *first = b >= size ? 0 : size - b;
        *last = size - 1;
        return 1;
    }
    if (big || a >= size) return 2;
    *first = a;
    *last = (!has_b || b >= size) ? size - 1 : b;
    return 1;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Build the directory listing of rel (ends with '/', or "") into c->body. */
static int listing(rh_fcache *c, const rh_mount *m, const char *rel, const char *urlpath,
                   size_t urllen, size_t *blen, int *err) {
    struct stat st;
    int fd = open_under(m, rel, &st);
    DIR *d;
    struct dirent *de;
    char **names = NULL;
    size_t nn = 0, cap = 0, i;
    sbuf s = {&c->body, &c->body_cap, 0, 0};
    if (fd < 0) { *err = -fd; return -1; }
    if (!S_ISDIR(st.st_mode) || (d = fdopendir(fd)) == NULL) {
        close(fd);
        *err = ENOENT;
        return -1;
    }
    while ((de = readdir(d)) != NULL && nn < MAX_LISTING) {
        size_t len = strlen(de->d_name);
        int isdir = de->d_type == DT_DIR;
        char *copy;
        if (de->d_name[0] == '.' && (len == 1 || (len == 2 && de->d_name[1] == '.'))) continue;
        if (de->d_name[0] == '.' && !m->show_dotfiles) continue;
        if (de->d_type == DT_UNKNOWN || de->d_type == DT_LNK) {
            struct stat s2;
            if (fstatat(dirfd(d), de->d_name, &s2, 0) == 0) isdir = S_ISDIR(s2.st_mode);
        }
        if (nn == cap) {
            char **nb = realloc(names, (cap ? cap * 2 : 64) * sizeof *names);
            if (nb == NULL) break;
            names = nb;
            cap = cap ? cap * 2 : 64;
        }
        copy = malloc(len + 2);
        if (copy == NULL) break;
        memcpy(copy, de->d_name, len);
        copy[len] = isdir ? '/' : 0;
        copy[len + 1] = 0;
        names[nn++] = copy;
    }
    closedir(d);
    if (nn > 1) qsort(names, nn, sizeof *names, cmp_names);
    sb_str(&s, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of ");
#define ESC(p, n) do { size_t _i; for (_i = 0; _i < (n); _i++) { char _ch = (p)[_i]; \
        if (_ch == '&') sb_str(&s, "&amp;"); else if (_ch == '<') sb_str(&s, "&lt;"); \
        else if (_ch == '>') sb_str(&s, "&gt;"); else if (_ch == '"') sb_str(&s, "&quot;"); \
        else if (_ch == '\'') sb_str(&s, "&#39;"); else sb_put(&s, &_ch, 1); } } while (0)
    ESC(urlpath, urllen);
    sb_str(&s, "</title></head>\n<body><h1>Index of ");
    ESC(urlpath, urllen);
    sb_str(&s, "</h1>\n<ul>\n");
    for (i = 0; i < nn; i++) {
        size_t len = strlen(names[i]);
        sb_str(&s, "<li><a href=\"");
        sb_pct(&s, names[i], len);      /* a name holds no '/' but a directory's last */
        sb_str(&s, "\">");
        ESC(names[i], len);
        sb_str(&s, "</a></li>\n");
        free(names[i]);
    }
#undef ESC
    sb_str(&s, "</ul>\n</body></html>\n");
    free(names);
    if (s.oom) { *err = ENOMEM; return -1; }
    *blen = s.len;
    return 0;
}

static int errno_reply(rh_fcache *c, const rh_files *f, rh_freply *rep, int err) {
    if (err == EACCES || err == EPERM)
        return simple(c, f, rep, 403, "Forbidden", NULL, 1);
    if (err == EMFILE || err == ENFILE)
        return simple(c, f, rep, 503, "Service Unavailable", "Retry-After: 1\r\n", 1);
    if (err == ENOMEM)
        return -1;
    return simple(c, f, rep, 404, "Not Found", NULL, 1);
}

int rh_files_serve(const rh_files *f, rh_fcache *c, const rh_request *req, int has_body,
                   rh_freply *rep) {
    int mi, is_get, is_head, err = 0, r;
    long nlen;
    const rh_mount *m;
    const char *rel;
    size_t rel_len, i;
    rh_fentry *e = NULL, *alt = NULL;
    const char *encoding = NULL;
    fheaders h;
    sbuf s = {&c->scratch, &c->scratch_cap, 0, 0};
    uint64_t first = 0, last = 0, size;
    int ranged = 0, status, vary = 0;

    if (f == NULL || f->n == 0 || req->path_len == 0 || req->path[0] != '/') return 0;
    memset(rep, 0, sizeof *rep);
    /* decode and normalise, then match the prefixes on the result */
    if (c->path_cap < req->path_len + 2) {
        size_t cap = req->path_len + 64;
        char *p = realloc(c->path, cap);
        if (p == NULL) return -1;
        c->path = p;
        c->path_cap = cap;
    }
    nlen = rh_files_normalize(req->path, req->path_len, c->path);
    if (nlen < 0) {
        /* undecodable or climbing above "/": refused if it names a mount */
        if (best_mount(f, req->path, req->path_len) < 0) return 0;
        rep->close = has_body;
        return simple(c, f, rep, 400, "Bad Request", NULL, 1);
    }
    mi = best_mount(f, c->path, (size_t)nlen);
    if (mi < 0) return 0;
    m = &f->mounts[mi];
    rep->close = has_body;
    is_get = req->method_len == 3 && memcmp(req->method, "GET", 3) == 0;
    is_head = req->method_len == 4 && memcmp(req->method, "HEAD", 4) == 0;
    if (!is_get && !is_head)
        return simple(c, f, rep, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n", 1);
    rel = c->path + m->prefix_len;
    rel_len = (size_t)nlen - m->prefix_len;
    if (rel_len && rel[0] == '/') { rel++; rel_len--; }
    /* refused bytes, hidden names */
    if (memchr(rel, '\\', rel_len) != NULL)
        return simple(c, f, rep, 400, "Bad Request", NULL, 1);
    for (i = 0; i < rel_len && !m->show_dotfiles; i++)
        if (rel[i] == '.' && (i == 0 || rel[i - 1] == '/'))
            return simple(c, f, rep, 404, "Not Found", NULL, 1);
    if (rel_len == 0 && (size_t)nlen == m->prefix_len && m->prefix_len > 0) {
        /* "/static" itself: the directory, so redirect */
        err = EISDIR;
    } else if (rel_len == 0 || rel[rel_len - 1] == '/') {
        /* a directory: its index, or its listing */
        size_t dl = rel_len;
        if (m->index_len) {
            size_t need = m->prefix_len + 1 + rel_len + m->index_len + 1;
            char *key = malloc(need);
            if (key == NULL) return -1;
            memcpy(key, rel, rel_len);
            memcpy(key + rel_len, m->index, m->index_len);
            key[rel_len + m->index_len] = 0;        /* a path for openat/fstatat */
            e = lookup(c, m, mi, key, rel_len + m->index_len, &err);
            free(key);
        } else {
            err = ENOENT;
        }
        if (e == NULL) {
            char *dir;
            size_t blen = 0;
            if (err != ENOENT && err != EISDIR) return errno_reply(c, f, rep, err);
            if (!m->list_dirs) {
                /* the directory exists? 403; else 404 */
                struct stat st;
                dir = dupn(rel, dl);
                if (dir == NULL) return -1;
                r = open_under(m, dir, &st);
                free(dir);
                if (r < 0) return errno_reply(c, f, rep, -r);
                close(r);
                if (!S_ISDIR(st.st_mode)) return simple(c, f, rep, 404, "Not Found", NULL, 1);
                return simple(c, f, rep, 403, "Forbidden", NULL, 1);
            }
            dir = dupn(rel, dl);
            if (dir == NULL) return -1;
            r = listing(c, m, dir, c->path, (size_t)nlen, &blen, &err);
            free(dir);
            if (r < 0) return errno_reply(c, f, rep, err);
            head_start(&s, f, 200, "OK");
            sb_str(&s, "Content-Type: text/html; charset=utf-8\r\nContent-Length: ");
            sb_u64(&s, blen);
            sb_put(&s, "\r\n", 2);
            if (s.oom) return -1;
            rep->status = 200;
            rep->head = c->scratch;
            rep->head_len = s.len;
            if (!is_head) { rep->body = c->body; rep->body_len = blen; }
            return 1;
        }
    } else {
        e = lookup(c, m, mi, rel, rel_len, &err);
    }
    if (e == NULL) {
        if (err == EISDIR) {
            /* "/dir": redirect to "/dir/", keeping the query.  The Location
               is the normalised path, percent-encoded again: never the raw
               one, which may start with "//host" (an open redirect) */
            sbuf loc = {&c->body, &c->body_cap, 0, 0};    /* the head goes in scratch */
            sb_str(&loc, "Location: ");
            sb_pct(&loc, c->path, (size_t)nlen);
            sb_put(&loc, "/", 1);
            if (req->query != NULL) {
                sb_put(&loc, "?", 1);
                sb_put(&loc, req->query, req->query_len);
            }
            sb_put(&loc, "\r\n", 3);     /* with its NUL: simple() takes a C string */
            if (loc.oom) return -1;
            return simple(c, f, rep, 301, "Moved Permanently", c->body, 0);
        }
        return errno_reply(c, f, rep, err);
    }
    e->refs++;      /* ours until the reply is handed over */
    collect(req, &h);
    if (m->precompressed && e->siblings < 0) {
        /* which precompressed siblings exist, looked up once per opening of
           the file: its answers then vary by Accept-Encoding, whatever this
           client accepts (RFC 9110 12.5.5) */
        char *key = malloc(e->key_len + 4);
        struct stat st;
        if (key == NULL) { rh_fentry_unref(e); return -1; }
        memcpy(key, e->key, e->key_len);
        memcpy(key + e->key_len, ".br", 4);
        e->siblings = fstatat(m->dirfd, key, &st, 0) == 0 && S_ISREG(st.st_mode) ? 1 : 0;
        memcpy(key + e->key_len, ".gz", 4);
        if (fstatat(m->dirfd, key, &st, 0) == 0 && S_ISREG(st.st_mode)) e->siblings |= 2;
        free(key);
    }
    vary = m->precompressed && e->siblings > 0;
    /* a precompressed sibling? */
    if (vary && h.accept_enc != NULL) {
        static const char *const codings[2] = {"br", "gzip"};
        static const char *const suffix[2] = {".br", ".gz"};
        int k;
        for (k = 0; k < 2 && alt == NULL; k++) {
            char *key;
            if (!(e->siblings & (1 << k)) || !accepts(h.accept_enc, codings[k])) continue;
            key = malloc(e->key_len + 4);
            if (key == NULL) break;
            memcpy(key, e->key, e->key_len);
            memcpy(key + e->key_len, suffix[k], 3);
            key[e->key_len + 3] = 0;
            alt = lookup(c, m, mi, key, e->key_len + 3, &err);
            free(key);
            if (alt != NULL) encoding = codings[k];
        }
    }
    {
        const char *ctype = mime_of(f, e->key, e->key_len);
        rh_fentry *sel = alt != NULL ? alt : e;
        time_t lm = sel->mtime.tv_sec, t;
        int dated = sel->lastmod[0] != 0;   /* an unusable date validates nothing */
        if (alt != NULL) { alt->refs++; rh_fentry_unref(e); e = alt; }
        size = (uint64_t)e->size;
        status = 200;
        /* preconditions, RFC 9110 13.2.2 */
        if (h.if_match != NULL) {
            if (!list_match(req, "if-match", e, 0)) status = 412;
        } else if (h.if_unmod != NULL && dated &&
                   parse_http_date(h.if_unmod->value, h.if_unmod->value_len, &t) == 0) {
            if (lm > t) status = 412;
        }
        if (status == 200) {
            if (h.if_none_match != NULL) {
                if (list_match(req, "if-none-match", e, 1)) status = 304;
            } else if (h.if_mod != NULL && dated &&
                       parse_http_date(h.if_mod->value, h.if_mod->value_len, &t) == 0) {
                if (lm <= t) status = 304;
            }
        }
        if (status == 200 && is_get && h.range != NULL && h.ranges == 1) {
            int use = 1;
            if (h.if_range != NULL) {
                const char *v = h.if_range->value;
                size_t vn = h.if_range->value_len;
                if (vn && (v[0] == '"' || (vn > 1 && v[0] == 'W' && v[1] == '/')))
                    use = v[0] == '"' && vn == e->etag_len && memcmp(v, e->etag, vn) == 0;
                else
                    use = dated && parse_http_date(v, vn, &t) == 0 && t == lm;
            }
            if (use) {
                r = parse_range(h.range->value, h.range->value_len, size, &first, &last);
                if (r == 1) { ranged = 1; status = 206; }
                else if (r == 2) status = 416;
            }
        }
        switch (status) {
        case 412:
            rh_fentry_unref(e);
            return simple(c, f, rep, 412, "Precondition Failed", NULL, 0);
        case 416: {
            char extra[64];
            snprintf(extra, sizeof extra, "Content-Range: bytes */%llu\r\n", (unsigned long long)size);
            rh_fentry_unref(e);
            return simple(c, f, rep, 416, "Range Not Satisfiable", extra, 0);
        }
        case 304:
            head_start(&s, f, 304, "Not Modified");
            validators(&s, m, e, encoding, vary);
            rh_fentry_unref(e);
            if (s.oom) return -1;
            rep->status = 304;
            rep->head = c->scratch;
            rep->head_len = s.len;
            return 1;
        }
        head_start(&s, f, status, status == 206 ? "Partial Content" : "OK");
        sb_str(&s, "Content-Type: ");
        sb_str(&s, ctype);
        sb_str(&s, "\r\nContent-Length: ");
        sb_u64(&s, ranged ? last - first + 1 : size);
        sb_str(&s, "\r\nAccept-Ranges: bytes\r\n");
        if (ranged) {
            char cr[96];
            int k = snprintf(cr, sizeof cr, "Content-Range: bytes %llu-%llu/%llu\r\n",
                             (unsigned long long)first, (unsigned long long)last,
                             (unsigned long long)size);
            sb_put(&s, cr, (size_t)k);
        }
        validators(&s, m, e, encoding, vary);
        if (s.oom) { rh_fentry_unref(e); return -1; }
        rep->status = status;
        rep->head = c->scratch;
        rep->head_len = s.len;
        if (!ranged) { first = 0; last = size ? size - 1 : 0; }
        if (is_head || size == 0) {
            rh_fentry_unref(e);
            return 1;
        }
        if (e->data != NULL) {
            /* bytes in memory: the caller copies them, then lets go of e */
            rep->body = e->data + first;
            rep->body_len = (size_t)(last - first + 1);
            rep->hold = e;          /* our reference goes to the caller */
            return 1;
        }
        rep->entry = e;             /* our reference goes to the caller */
        rep->file_off = (off_t)first;
        rep->file_len = last - first + 1;
        return 1;
    }
}

/* ---- sending -------------------------------------------------------------- */

int rh_sendfile_all(int out_fd, int in_fd, off_t *off, uint64_t *left, uint64_t *sent, int *err) {
    uint64_t budget = RH_SEND_BUDGET;
    while (*left > 0) {
        size_t want = *left < budget ? (size_t)*left : (size_t)budget;
        if (want > RH_SEND_CHUNK) want = RH_SEND_CHUNK;
        ssize_t n;
        if (budget == 0) return 0;      /* the loop's other channels first */
        n = sendfile(out_fd, in_fd, off, want);
        if (n > 0) {
            *left -= (uint64_t)n;
            *sent += (uint64_t)n;
            budget -= (uint64_t)n;
            if ((size_t)n < want && *left > 0)
                return 0;   /* the socket is full: asking again would only say EAGAIN */
            continue;
        }
        if (n == 0) return -2;          /* the file ended early */
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return 0;
        *err = errno;
        return -1;
    }
    return 1;
}
