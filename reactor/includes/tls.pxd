# TLS over the system's OpenSSL (csrc/tls.h): contexts shared by the loops,
# one session per connection, driven from its loop thread without the GIL.
from libc.stdint cimport uint64_t
from posix.types cimport off_t

cdef extern from "tls.h" nogil:
    ctypedef struct rh_tls_ctx:
        pass
    ctypedef struct rh_tls:
        pass
    enum:
        RH_CERT_NONE
        RH_CERT_OPTIONAL
        RH_CERT_REQUIRED
        RH_TICKET_KEY_LEN
    ctypedef struct rh_tls_opts:
        const char *certfile
        const char *keyfile
        const char *password
        const char *ca_certs
        int cert_reqs
        const char *ciphers
        const unsigned char *ticket_key
        int max_handshakes

    int rh_tls_available()
    const char *rh_tls_library()
    rh_tls_ctx *rh_tls_ctx_new(const rh_tls_opts *o, char *err, size_t errlen)
    void rh_tls_ctx_free(rh_tls_ctx *c)
    int rh_tls_ctx_handshakes(const rh_tls_ctx *c)
    uint64_t rh_tls_ctx_failed(const rh_tls_ctx *c)
    rh_tls *rh_tls_new(rh_tls_ctx *c, int fd)
    void rh_tls_free(rh_tls *t)
    ssize_t rh_tls_read(rh_tls *t, char *p, size_t n, int *err)
    ssize_t rh_tls_write(rh_tls *t, const char *p, size_t n, int *err)
    int rh_tls_sendfile(rh_tls *t, int in_fd, off_t *off, uint64_t *left, uint64_t *sent, int *err)
    int rh_tls_pending(rh_tls *t)
    int rh_tls_wants_write(const rh_tls *t)
    int rh_tls_handshake_done(const rh_tls *t)
    int rh_tls_take_established(rh_tls *t)
    void rh_tls_close_notify(rh_tls *t)
    const char *rh_tls_version(const rh_tls *t)
    const char *rh_tls_cipher(const rh_tls *t)
    size_t rh_tls_alpn(const rh_tls *t, const unsigned char **p)
    int rh_tls_session_reused(const rh_tls *t)
    long rh_tls_verify_result(const rh_tls *t)
    const char *rh_tls_verify_text(long result)
    int rh_tls_has_peer_cert(const rh_tls *t)
    char *rh_tls_peer(const rh_tls *t, int what, size_t *n)
    const char *rh_tls_error(const rh_tls *t)
