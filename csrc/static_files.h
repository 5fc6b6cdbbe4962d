/*
 * static_files.h -- answer GET/HEAD for a directory of files, in C.
 *
 * Everything here runs without the GIL on a loop thread:
 *   - the URL path is percent-decoded exactly once and normalised; NUL,
 *     backslashes, bad escapes and ".." above the mount are refused (400);
 *   - the longest mount prefix wins; dotfiles are hidden unless allowed;
 *   - files are opened under the mount's directory fd, and (unless
 *     follow_symlinks) what was opened must lie under the mount's real path;
 *   - a per-loop cache keeps open fds, stat results and the bytes of small
 *     files, revalidated on every request by stat (inode, size, mtime), so a
 *     changed file is never served stale or mixed;
 *   - conditional requests (RFC 9110 13) and single ranges (RFC 9110 14).
 *
 * The reply is a head (status line and headers, without Date, Connection and
 * the final CRLF: the caller adds those) and either bytes in memory or a span
 * of an open file for sendfile.  A file span holds a reference on its cache
 * entry (rh_fentry_unref when the send is over).
 *
 * Ownership: an rh_files (the mount table) is built before serving and only
 * read afterwards.  An rh_fcache belongs to one loop thread; its entries are
 * touched only by that thread.
 */
#ifndef REACTOR_STATIC_FILES_H
#define REACTOR_STATIC_FILES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include "http_parser.h"

typedef struct rh_fentry {
    struct rh_fentry *hnext;            /* hash chain */
    struct rh_fentry *lprev, *lnext;    /* LRU list (head: most recent) */
    uint64_t hash;
    int mount;
    char *key; size_t key_len;          /* path relative to the mount */
    int fd;                             /* -1 once the bytes are in data */
    dev_t dev; ino_t ino; off_t size;
    struct timespec mtime, ctime;       /* ctime changes on any write, even if mtime is put back */
    char etag[64]; size_t etag_len;     /* with its quotes */
    char lastmod[32];                   /* IMF-fixdate, 29 chars; "" if the date is unusable */
    int siblings;                       /* bit 0: FILE.br exists, bit 1: FILE.gz (-1: not looked) */
    char *data;                         /* the whole file when small, else NULL */
    int refs;                           /* the table's (while in it) + one per sender */
    int in_table;
} rh_fentry;

typedef struct rh_fcache {
    rh_fentry **buckets; size_t nbuckets;
    rh_fentry *lru_head, *lru_tail;
    size_t count, max_entries;
    size_t data_bytes, max_data_bytes, small_max;
    char *scratch; size_t scratch_cap;  /* the reply's head */
    char *body; size_t body_cap;        /* a generated body (listings) */
    char *path; size_t path_cap;        /* the decoded path */
    uint64_t hits, misses;
} rh_fcache;

typedef struct rh_mount {
    char *prefix; size_t prefix_len;    /* no trailing slash: "" for "/" */
    int dirfd;
    char *root; size_t root_len;        /* the directory's real path */
    char *index; size_t index_len;      /* "" : no index file */
    int list_dirs, follow_symlinks, show_dotfiles, precompressed;
    char *cache_control; size_t cache_control_len;   /* NULL: no header */
} rh_mount;

typedef struct rh_files {
    int n;
    rh_mount *mounts;
    size_t nmime;
    char (*mime_ext)[16];               /* sorted lowercase extensions (no dot) */
    char **mime_type;
    char *server; size_t server_len;    /* the Server value; NULL: none */
} rh_files;

typedef struct rh_freply {
    int status;
    const char *head; size_t head_len;  /* status line + headers, no Date/Connection/CRLF */
    const char *body; size_t body_len;  /* bytes in memory (not for HEAD) */
    rh_fentry *entry;                   /* non-NULL: send file_len bytes of entry->fd */
    rh_fentry *hold;                    /* non-NULL: body points into its bytes; unref once copied */
    off_t file_off; uint64_t file_len;
    int close;                          /* close the connection after this answer */
} rh_freply;

rh_files *rh_files_new(void);
/* 0, or -1 (ENOMEM).  dirfd is taken over (closed by rh_files_free). */
int rh_files_add_mount(rh_files *f, const char *prefix, size_t prefix_len, int dirfd,
                       const char *root, const char *index, int list_dirs,
                       int follow_symlinks, int show_dotfiles, int precompressed,
                       const char *cache_control);
int rh_files_set_mime(rh_files *f, size_t n, const char **exts, const char **types);
int rh_files_set_server(rh_files *f, const char *server, size_t n);
void rh_files_free(rh_files *f);

rh_fcache *rh_fcache_new(size_t max_entries, size_t max_data_bytes, size_t small_max);
void rh_fcache_free(rh_fcache *c);
void rh_fentry_unref(rh_fentry *e);

/* Is this request for a mount?  0: no (the application's); 1: yes and *rep
 * holds the answer; -1: no memory (answer 500).  is_get/is_head: the method;
 * has_body: the request carries a body (the answer then closes). */
int rh_files_serve(const rh_files *f, rh_fcache *c, const rh_request *req,
                   int has_body, rh_freply *rep);

/* sendfile() up to *left bytes of in_fd from *off to out_fd, resuming after
 * EINTR, but at most RH_SEND_BUDGET bytes per call so one fast reader cannot
 * hold its loop: call again on the next writability.  Returns 1 when all was
 * sent, 0 on EAGAIN or when the budget is spent, -2 if the file ended early
 * (it shrank), -1 on a socket error (errno in *err). */
#define RH_SEND_BUDGET (4u << 20)
int rh_sendfile_all(int out_fd, int in_fd, off_t *off, uint64_t *left, uint64_t *sent,
                    int *err);

/* For tests and the fuzzer: the decode/normalise step.  Returns the length of
 * the normalised path written to out (at most n + 1 bytes), -1 if it cannot be
 * decoded (bad escape, NUL) and -2 if ".." climbs above "/". */
long rh_files_normalize(const char *path, size_t n, char *out);

#endif
