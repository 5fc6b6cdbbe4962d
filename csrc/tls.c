/* TLS for reactor's connections: see tls.h. */
#include "tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef REACTOR_HAVE_OPENSSL

int rh_tls_available(void) { return 0; }
const char *rh_tls_library(void) {
    return "reactor was built without the OpenSSL headers (install libssl-dev, "
           "or openssl-devel, and reinstall reactor)";
}
rh_tls_ctx *rh_tls_ctx_new(const rh_tls_opts *o, char *err, size_t errlen) {
    (void)o;
    snprintf(err, errlen, "TLS is not available: %s", rh_tls_library());
    return NULL;
}
void rh_tls_ctx_free(rh_tls_ctx *c) { (void)c; }
int rh_tls_ctx_handshakes(const rh_tls_ctx *c) { (void)c; return 0; }
uint64_t rh_tls_ctx_failed(const rh_tls_ctx *c) { (void)c; return 0; }
rh_tls *rh_tls_new(rh_tls_ctx *c, int fd) { (void)c; (void)fd; return NULL; }
void rh_tls_free(rh_tls *t) { (void)t; }
ssize_t rh_tls_read(rh_tls *t, char *p, size_t n, int *err) {
    (void)t; (void)p; (void)n; *err = EPROTO; return -1;
}
ssize_t rh_tls_write(rh_tls *t, const char *p, size_t n, int *err) {
    (void)t; (void)p; (void)n; *err = EPROTO; return -1;
}
int rh_tls_sendfile(rh_tls *t, int in_fd, off_t *off, uint64_t *left, uint64_t *sent, int *err) {
    (void)t; (void)in_fd; (void)off; (void)left; (void)sent; *err = EPROTO; return -1;
}
int rh_tls_pending(rh_tls *t) { (void)t; return 0; }
int rh_tls_wants_write(const rh_tls *t) { (void)t; return 0; }
int rh_tls_handshake_done(const rh_tls *t) { (void)t; return 0; }
int rh_tls_take_established(rh_tls *t) { (void)t; return 0; }
void rh_tls_close_notify(rh_tls *t) { (void)t; }
const char *rh_tls_version(const rh_tls *t) { (void)t; return ""; }
const char *rh_tls_cipher(const rh_tls *t) { (void)t; return ""; }
size_t rh_tls_alpn(const rh_tls *t, const unsigned char **p) { (void)t; *p = NULL; return 0; }
int rh_tls_session_reused(const rh_tls *t) { (void)t; return 0; }
long rh_tls_verify_result(const rh_tls *t) { (void)t; return 0; }
const char *rh_tls_verify_text(long r) { (void)r; return ""; }
int rh_tls_has_peer_cert(const rh_tls *t) { (void)t; return 0; }
char *rh_tls_peer(const rh_tls *t, int what, size_t *n) { (void)t; (void)what; *n = 0; return NULL; }
const char *rh_tls_error(const rh_tls *t) { (void)t; return ""; }

#else   /* REACTOR_HAVE_OPENSSL */

#include <limits.h>
#include <unistd.h>
#include <sys/socket.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/opensslv.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

struct rh_tls_ctx {
    SSL_CTX *ssl_ctx;
    int refs;                   /* the server's + one per live session (atomic) */
    int handshakes;             /* in flight (atomic) */
    uint64_t failed;            /* handshakes that failed (atomic) */
    char *password;
    int password_asked;         /* the key wanted a password none was given for */
};

struct rh_tls {
    SSL *ssl;
    rh_tls_ctx *ctx;
    int fd;
    unsigned char handshaking;  /* the handshake has not ended */
    unsigned char counted;      /* ... and has begun: counted in ctx->handshakes */
    unsigned char established;  /* the handshake just completed; not yet taken */
    unsigned char checked;      /* the first byte was looked at (plaintext HTTP?) */
    unsigned char read_wants_write;     /* the last read must write before it can go on */
    unsigned char fatal;        /* no more I/O, no close_notify */
    unsigned char notified;     /* close_notify sent */
    unsigned char eof;          /* no more reads: 1 close_notify, 2 a bare EOF */
    char error[120];
};

#define TLS_SEND_BUDGET (2u << 20)      /* per rh_tls_sendfile call: the loop's other channels */
#define TLS_FILE_CHUNK 16384            /* one record per SSL_write of a file */

static const char PLAIN_HTTP_ANSWER[] =
    "HTTP/1.1 400 Bad Request\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Length: 51\r\n"
    "Connection: close\r\n"
    "\r\n"
    "400 Bad Request: plain HTTP sent to an HTTPS port\r\n";

int rh_tls_available(void) { return 1; }

const char *rh_tls_library(void) { return OpenSSL_version(OPENSSL_VERSION); }

/* ---- the socket BIO: recv/send, never SIGPIPE ------------------------------ */

static BIO_METHOD *sock_method;

static int sock_write(BIO *b, const char *p, int n) {
    int fd = (int)(intptr_t)BIO_get_data(b);
    ssize_t r;
    BIO_clear_retry_flags(b);
    do {
        r = send(fd, p, (size_t)n, MSG_NOSIGNAL);
    } while (r < 0 && errno == EINTR);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        BIO_set_retry_write(b);
    return (int)r;
}

static int sock_read(BIO *b, char *p, int n) {
    int fd = (int)(intptr_t)BIO_get_data(b);
    ssize_t r;
    BIO_clear_retry_flags(b);
    do {
        r = recv(fd, p, (size_t)n, 0);
    } while (r < 0 && errno == EINTR);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        BIO_set_retry_read(b);
    return (int)r;
}

static long sock_ctrl(BIO *b, int cmd, long num, void *ptr) {
    (void)b; (void)num; (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int sock_create(BIO *b) {
    BIO_set_init(b, 1);
    return 1;
}

static BIO_METHOD *get_sock_method(void) {
    BIO_METHOD *m = __atomic_load_n(&sock_method, __ATOMIC_ACQUIRE);
    if (m != NULL) return m;
    m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "reactor socket");
    if (m == NULL) return NULL;
    BIO_meth_set_write(m, sock_write);
    BIO_meth_set_read(m, sock_read);
    BIO_meth_set_ctrl(m, sock_ctrl);
    BIO_meth_set_create(m, sock_create);
    BIO_METHOD *expected = NULL;
    if (!__atomic_compare_exchange_n(&sock_method, &expected, m, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
        BIO_meth_free(m);       /* another thread made it first */
        return expected;
    }
    return m;
}

/* ---- the context --------------------------------------------------------------- */

static void last_error(char *out, size_t len, const char *what, const char *path) {
    unsigned long e, last = 0;
    char reason[200] = "";
    while ((e = ERR_get_error()) != 0)
        last = e;
    if (last != 0) {
        const char *r = ERR_reason_error_string(last);
        if (r != NULL)
            snprintf(reason, sizeof reason, "%s", r);
        else
            ERR_error_string_n(last, reason, sizeof reason);
    } else {
        snprintf(reason, sizeof reason, "unknown error");
    }
    if (path != NULL)
        snprintf(out, len, "%s %s: %s", what, path, reason);
    else
        snprintf(out, len, "%s: %s", what, reason);
}

/* Always installed: without it OpenSSL asks for the pass phrase on the
 * terminal and waits (in a worker, or in the master during a reload). */
static int password_cb(char *buf, int size, int rwflag, void *u) {
    (void)rwflag;
    rh_tls_ctx *c = u;
    if (c->password == NULL) {
        c->password_asked = 1;
        return 0;
    }
    size_t n = strlen(c->password);
    if (n > (size_t)size) return 0;
    memcpy(buf, c->password, n);
    return (int)n;
}

static int alpn_select(SSL *s, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg) {
    (void)s; (void)arg;
    /* the client's list: length-prefixed names; HTTP/1.1 (or 1.0) is all we speak */
    static const char *ours[] = {"http/1.1", "http/1.0"};
    for (size_t k = 0; k < sizeof ours / sizeof ours[0]; k++) {
        size_t want = strlen(ours[k]);
        unsigned int i = 0;
        while (i < inlen) {
            unsigned int len = in[i];
            if (len == 0 || i + 1 + len > inlen) break;
            if (len == want && memcmp(in + i + 1, ours[k], want) == 0) {
                *out = in + i + 1;
                *outlen = (unsigned char)len;
                return SSL_TLSEXT_ERR_OK;
            }
            i += 1 + len;
        }
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL;     /* RFC 7301 §3.2: no_application_protocol */
}

rh_tls_ctx *rh_tls_ctx_new(const rh_tls_opts *o, char *err, size_t errlen) {
    rh_tls_ctx *c;
    SSL_CTX *x;
    ERR_clear_error();
    if (get_sock_method() == NULL) {
        last_error(err, errlen, "cannot make the socket BIO", NULL);
        return NULL;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    x = SSL_CTX_new(TLS_server_method());
    if (x == NULL) {
        free(c);
        last_error(err, errlen, "cannot create the TLS context", NULL);
        return NULL;
    }
    c->ssl_ctx = x;
    c->refs = 1;
    SSL_CTX_set_min_proto_version(x, TLS1_2_VERSION);
    SSL_CTX_set_options(x, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                           SSL_OP_NO_COMPRESSION
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
                           | SSL_OP_IGNORE_UNEXPECTED_EOF
#endif
                           );
    /* records are written from the connection's output buffer, which moves
     * and grows between a partial write and its retry; idle sessions give
     * their record buffers back */
    SSL_CTX_set_mode(x, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                        SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_read_ahead(x, 1);
    /* resumption by tickets only (stateless: every worker that shares the
     * ticket key resumes); no per-process session cache to grow */
    SSL_CTX_set_session_cache_mode(x, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_session_id_context(x, (const unsigned char *)"reactor", 7);
    SSL_CTX_set_num_tickets(x, 1);
    SSL_CTX_set_alpn_select_cb(x, alpn_select, NULL);

    if (o->password != NULL) {
        c->password = strdup(o->password);
        if (c->password == NULL) goto oom;
    }
    SSL_CTX_set_default_passwd_cb(x, password_cb);
    SSL_CTX_set_default_passwd_cb_userdata(x, c);
    if (SSL_CTX_use_certificate_chain_file(x, o->certfile) != 1) {
        last_error(err, errlen, "cannot load the certificate chain from", o->certfile);
        goto fail;
    }
    const char *key = o->keyfile != NULL ? o->keyfile : o->certfile;
    if (SSL_CTX_use_PrivateKey_file(x, key, SSL_FILETYPE_PEM) != 1) {
        if (c->password_asked) {
            ERR_clear_error();
            snprintf(err, errlen, "the private key in %s is encrypted: give its password "
                     "(keyfile_password, --keyfile-password or REACTOR_KEYFILE_PASSWORD)", key);
        } else {
            last_error(err, errlen, "cannot load the private key from", key);
        }
        goto fail;
    }
    if (SSL_CTX_check_private_key(x) != 1) {
        last_error(err, errlen, "the private key does not match the certificate in",
                   o->certfile);
        goto fail;
    }
    if (o->ciphers != NULL && SSL_CTX_set_cipher_list(x, o->ciphers) != 1) {
        last_error(err, errlen, "no usable cipher in", o->ciphers);
        goto fail;
    }
    if (o->ca_certs != NULL) {
        if (SSL_CTX_load_verify_locations(x, o->ca_certs, NULL) != 1) {
            last_error(err, errlen, "cannot load the CA certificates from", o->ca_certs);
            goto fail;
        }
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(o->ca_certs);
        if (names != NULL)
            SSL_CTX_set_client_CA_list(x, names);      /* the context owns them now */
    }
    if (o->cert_reqs == RH_CERT_REQUIRED)
        SSL_CTX_set_verify(x, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    else if (o->cert_reqs == RH_CERT_OPTIONAL)
        SSL_CTX_set_verify(x, SSL_VERIFY_PEER, NULL);
    else
        SSL_CTX_set_verify(x, SSL_VERIFY_NONE, NULL);
    if (o->ticket_key != NULL &&
            SSL_CTX_set_tlsext_ticket_keys(x, (void *)o->ticket_key, RH_TICKET_KEY_LEN) != 1) {
        last_error(err, errlen, "cannot set the session ticket key", NULL);
        goto fail;
    }
    ERR_clear_error();
    return c;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    SSL_CTX_free(x);
    free(c->password);
    free(c);
    return NULL;
}

static void ctx_unref(rh_tls_ctx *c) {
    if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        SSL_CTX_free(c->ssl_ctx);
        free(c->password);
        free(c);
    }
}

void rh_tls_ctx_free(rh_tls_ctx *c) {
    if (c != NULL) ctx_unref(c);
}

int rh_tls_ctx_handshakes(const rh_tls_ctx *c) {
    return __atomic_load_n(&c->handshakes, __ATOMIC_RELAXED);
}

uint64_t rh_tls_ctx_failed(const rh_tls_ctx *c) {
    return __atomic_load_n(&c->failed, __ATOMIC_RELAXED);
}

/* ---- sessions ----------------------------------------------------------------- */

rh_tls *rh_tls_new(rh_tls_ctx *c, int fd) {
    BIO_METHOD *m = get_sock_method();
    rh_tls *t;
    BIO *bio;
    if (m == NULL) return NULL;
    t = calloc(1, sizeof *t);
    if (t == NULL) return NULL;
    t->ssl = SSL_new(c->ssl_ctx);
    bio = BIO_new(m);
    if (t->ssl == NULL || bio == NULL) {
        BIO_free(bio);
        SSL_free(t->ssl);
        free(t);
        ERR_clear_error();
        return NULL;
    }
    BIO_set_data(bio, (void *)(intptr_t)fd);
    SSL_set_bio(t->ssl, bio, bio);      /* one reference, for both directions */
    SSL_set_accept_state(t->ssl);
    t->fd = fd;
    t->ctx = c;
    t->handshaking = 1;     /* counted once its first byte arrives (check_first_byte) */
    __atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
    return t;
}

static void end_handshake(rh_tls *t, int ok) {
    if (!t->handshaking) return;
    t->handshaking = 0;
    if (t->counted) {
        t->counted = 0;
        __atomic_sub_fetch(&t->ctx->handshakes, 1, __ATOMIC_RELAXED);
        if (!ok) __atomic_add_fetch(&t->ctx->failed, 1, __ATOMIC_RELAXED);
    }
    if (ok) t->established = 1;
}

void rh_tls_free(rh_tls *t) {
    if (t == NULL) return;
    end_handshake(t, 0);
    SSL_free(t->ssl);
    ctx_unref(t->ctx);
    free(t);
}

/* A failed call (e: its SSL_get_error): record why, map it onto errno.
 * Returns -1 or 0 (EOF). */
static ssize_t failed(rh_tls *t, int e, int *err) {
    unsigned long code;
    switch (e) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        *err = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:         /* close_notify from the peer */
        t->eof = 1;
        return 0;
    case SSL_ERROR_SYSCALL:
        end_handshake(t, 0);
        if (errno == 0 && ERR_peek_error() == 0) {
            t->eof = 2;                 /* EOF without close_notify: writing may go on */
            return 0;
        }
        t->fatal = 1;
        *err = errno != 0 ? errno : ECONNRESET;
        snprintf(t->error, sizeof t->error, "%s", strerror(*err));
        ERR_clear_error();
        return -1;
    default:
        t->fatal = 1;
        code = ERR_peek_last_error();
        snprintf(t->error, sizeof t->error, "%s",
                 code && ERR_reason_error_string(code) ? ERR_reason_error_string(code)
                                                       : "TLS protocol error");
        ERR_clear_error();
        end_handshake(t, 0);
        *err = EPROTO;
        return -1;
    }
}

/* Before the first handshake byte: a client speaking plain HTTP to this port
 * gets a plain 400 (nginx's courtesy) instead of a TLS alert it cannot read.
 * 1: go on with TLS; 0: EOF; -1 with *err. */
static int check_first_byte(rh_tls *t, int *err) {
    unsigned char b;
    char sink[4096];
    ssize_t r;
    do {
        r = recv(t->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
        *err = errno;
        if (errno != EAGAIN && errno != EWOULDBLOCK) t->fatal = 1;
        return -1;
    }
    if (r == 0) {
        t->eof = 2;
        end_handshake(t, 0);
        return 0;
    }
    t->checked = 1;
    /* a handshake begins: from now on it counts against max_handshakes (a
     * connection that sends nothing costs no CPU; the handshake timeout
     * closes it) */
    t->counted = 1;
    __atomic_add_fetch(&t->ctx->handshakes, 1, __ATOMIC_RELAXED);
    if (b == 0x16 || b < 'A' || b > 'Z')
        return 1;                   /* a handshake record, or garbage for OpenSSL to refuse */
    /* the request is dropped unread (what arrived so far), then the answer */
    while (recv(t->fd, sink, sizeof sink, MSG_DONTWAIT) > 0) {}
    (void)!send(t->fd, PLAIN_HTTP_ANSWER, sizeof PLAIN_HTTP_ANSWER - 1, MSG_NOSIGNAL);
    shutdown(t->fd, SHUT_WR);
    snprintf(t->error, sizeof t->error, "plain HTTP request on the TLS port");
    t->fatal = 1;
    end_handshake(t, 0);
    *err = EPROTO;
    return -1;
}

ssize_t rh_tls_read(rh_tls *t, char *p, size_t n, int *err) {
    int r, e;
    if (t->fatal) {
        *err = EPROTO;
        return -1;
    }
    if (t->eof) return 0;
    if (!t->checked) {
        r = check_first_byte(t, err);
        if (r <= 0) return r;
    }
    ERR_clear_error();
    errno = 0;
    r = SSL_read(t->ssl, p, n > INT_MAX ? INT_MAX : (int)n);
    if (t->handshaking && SSL_is_init_finished(t->ssl))
        end_handshake(t, 1);
    if (r > 0) {
        t->read_wants_write = 0;
        return r;
    }
    e = SSL_get_error(t->ssl, r);
    t->read_wants_write = e == SSL_ERROR_WANT_WRITE;
    return failed(t, e, err);
}

ssize_t rh_tls_write(rh_tls *t, const char *p, size_t n, int *err) {
    size_t done = 0;
    ssize_t f;
    if (t->fatal) {
        *err = EPIPE;
        return -1;
    }
    while (done < n) {
        size_t want = n - done;
        int r;
        if (want > (1u << 30)) want = 1u << 30;
        ERR_clear_error();
        errno = 0;
        r = SSL_write(t->ssl, p + done, (int)want);
        if (r > 0) {
            done += (size_t)r;
            continue;
        }
        f = failed(t, SSL_get_error(t->ssl, r), err);
        if (f == 0) {               /* the peer closed: nothing more can be written */
            t->fatal = 1;
            *err = EPIPE;
        }
        if (done > 0) return (ssize_t)done;
        return -1;
    }
    return (ssize_t)done;
}

int rh_tls_sendfile(rh_tls *t, int in_fd, off_t *off, uint64_t *left, uint64_t *sent, int *err) {
    char buf[TLS_FILE_CHUNK];
    uint64_t budget = TLS_SEND_BUDGET;
    if (t->fatal) {
        *err = EPIPE;
        return -1;
    }
    while (*left > 0) {
        /* the same span after an EAGAIN: OpenSSL retries the record it began */
        size_t want = *left < sizeof buf ? (size_t)*left : sizeof buf;
        ssize_t got;
        int r;
        if (budget == 0) return 0;
        do {
            got = pread(in_fd, buf, want, *off);
        } while (got < 0 && errno == EINTR);
        if (got < 0) {
            *err = errno;
            return -1;
        }
        if (got == 0) return -2;        /* the file ended early */
        ERR_clear_error();
        errno = 0;
        r = SSL_write(t->ssl, buf, (int)got);
        if (r > 0) {
            *off += r;
            *left -= (uint64_t)r;
            *sent += (uint64_t)r;
            budget = budget > (uint64_t)r ? budget - (uint64_t)r : 0;
            continue;
        }
        if (failed(t, SSL_get_error(t->ssl, r), err) < 0 && *err == EAGAIN) return 0;
        t->fatal = 1;
        if (*err == EAGAIN || *err == 0) *err = EPIPE;
        return -1;
    }
    return 1;
}

int rh_tls_pending(rh_tls *t) { return !t->fatal && !t->eof && SSL_has_pending(t->ssl); }
int rh_tls_wants_write(const rh_tls *t) { return t->read_wants_write; }
int rh_tls_handshake_done(const rh_tls *t) { return !t->handshaking && !t->fatal; }

int rh_tls_take_established(rh_tls *t) {
    int e = t->established;
    t->established = 0;
    return e;
}

void rh_tls_close_notify(rh_tls *t) {
    if (t->fatal || t->notified || t->handshaking || t->eof == 2) return;
    t->notified = 1;
    ERR_clear_error();
    (void)SSL_shutdown(t->ssl);         /* one try: the socket is non-blocking */
    ERR_clear_error();
}

const char *rh_tls_version(const rh_tls *t) { return SSL_get_version(t->ssl); }

const char *rh_tls_cipher(const rh_tls *t) {
    const char *c = SSL_get_cipher_name(t->ssl);
    return c != NULL ? c : "";
}

size_t rh_tls_alpn(const rh_tls *t, const unsigned char **p) {
    unsigned int n = 0;
    SSL_get0_alpn_selected(t->ssl, p, &n);
    return n;
}

int rh_tls_session_reused(const rh_tls *t) { return SSL_session_reused(t->ssl); }
long rh_tls_verify_result(const rh_tls *t) { return SSL_get_verify_result(t->ssl); }
const char *rh_tls_verify_text(long r) { return X509_verify_cert_error_string(r); }

static X509 *peer_cert(const rh_tls *t) {
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    return SSL_get0_peer_certificate(t->ssl);
#else
    X509 *x = SSL_get_peer_certificate(t->ssl);
    if (x != NULL) X509_free(x);        /* the session still holds it */
    return x;
#endif
}

int rh_tls_has_peer_cert(const rh_tls *t) { return peer_cert(t) != NULL; }

char *rh_tls_peer(const rh_tls *t, int what, size_t *n) {
    X509 *x = peer_cert(t);
    BIO *mem;
    BUF_MEM *bm;
    char *out = NULL;
    *n = 0;
    if (x == NULL) return NULL;
    if (what == 0) {
        unsigned char *der = NULL;
        int len = i2d_X509(x, &der);
        if (len <= 0) return NULL;
        out = malloc((size_t)len);
        if (out != NULL) {
            memcpy(out, der, (size_t)len);
            *n = (size_t)len;
        }
        OPENSSL_free(der);
        return out;
    }
    mem = BIO_new(BIO_s_mem());
    if (mem == NULL) return NULL;
    if (what == 1)
        PEM_write_bio_X509(mem, x);
    else
        X509_NAME_print_ex(mem, what == 2 ? X509_get_subject_name(x) : X509_get_issuer_name(x),
                           0, XN_FLAG_RFC2253);
    BIO_get_mem_ptr(mem, &bm);
    if (bm != NULL && bm->length > 0) {
        out = malloc(bm->length + 1);
        if (out != NULL) {
            memcpy(out, bm->data, bm->length);
            out[bm->length] = 0;
            *n = bm->length;
        }
    }
    BIO_free(mem);
    ERR_clear_error();
    return out;
}

const char *rh_tls_error(const rh_tls *t) { return t->error; }

#endif  /* REACTOR_HAVE_OPENSSL */
