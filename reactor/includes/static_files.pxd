# C declarations of csrc/static_files.h: static files answered in C.
# Every function is pure C: callable without the GIL.

from libc.stdint cimport uint64_t
from posix.types cimport off_t
from reactor.includes.http_parser cimport rh_request


cdef extern from "static_files.h" nogil:

    ctypedef struct rh_fentry:
        int fd
        int refs

    ctypedef struct rh_fcache:
        size_t count
        size_t data_bytes
        uint64_t hits
        uint64_t misses

    ctypedef struct rh_files:
        int n

    ctypedef struct rh_freply:
        int status
        const char *head
        size_t head_len
        const char *body
        size_t body_len
        rh_fentry *entry
        rh_fentry *hold
        off_t file_off
        uint64_t file_len
        int close

    rh_files *rh_files_new()
    int rh_files_add_mount(rh_files *f, const char *prefix, size_t prefix_len, int dirfd,
                           const char *root, const char *index, int list_dirs,
                           int follow_symlinks, int show_dotfiles, int precompressed,
                           const char *cache_control)
    int rh_files_set_mime(rh_files *f, size_t n, const char **exts, const char **types)
    int rh_files_set_server(rh_files *f, const char *server, size_t n)
    void rh_files_free(rh_files *f)

    rh_fcache *rh_fcache_new(size_t max_entries, size_t max_data_bytes, size_t small_max)
    void rh_fcache_free(rh_fcache *c)
    void rh_fentry_unref(rh_fentry *e)

    int rh_files_serve(const rh_files *f, rh_fcache *c, const rh_request *req,
                       int has_body, rh_freply *rep)
    enum:
        RH_SEND_BUDGET
    int rh_sendfile_all(int out_fd, int in_fd, off_t *off, uint64_t *left, uint64_t *sent,
                        int *err)
    long rh_files_normalize(const char *path, size_t n, char *out)
