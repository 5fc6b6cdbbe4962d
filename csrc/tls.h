/* TLS for reactor's connections: the system's OpenSSL, driven from the loop
 * thread without the GIL.
 *
 * One rh_tls_ctx per server (an SSL_CTX with the certificate, the client-CA
 * list, ALPN and the ticket keys), shared read-only by every loop of the
 * process; one rh_tls per connection, owned by the connection and touched
 * only from its loop thread.  The record layer talks to the socket through a
 * small BIO of our own (recv/send with MSG_NOSIGNAL), so a peer that resets
 * never raises SIGPIPE.
 *
 * The calls mirror the plaintext ones of the connection: rh_tls_read is a
 * read(2) that also drives the handshake, rh_tls_write a send(2) of records,
 * rh_tls_sendfile the TLS form of rh_sendfile_all (pread + SSL_write).  They
 * return the same way: >0 bytes, 0 at EOF, -1 with *err (EAGAIN when the
 * socket is not ready; after a read, rh_tls_wants_write() says whether it
 * waits for writability instead, e.g. a handshake message to send).
 *
 * Built without the OpenSSL headers (REACTOR_HAVE_OPENSSL undefined), every
 * function exists, rh_tls_available() is 0 and rh_tls_ctx_new fails with a
 * message saying why. */
#ifndef REACTOR_TLS_H
#define REACTOR_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct rh_tls_ctx rh_tls_ctx;
typedef struct rh_tls rh_tls;

enum { RH_CERT_NONE = 0, RH_CERT_OPTIONAL = 1, RH_CERT_REQUIRED = 2 };

#define RH_TICKET_KEY_LEN 80

typedef struct {
    const char *certfile;       /* PEM chain, leaf first */
    const char *keyfile;        /* PEM key (NULL: in certfile) */
    const char *password;       /* for an encrypted key, or NULL */
    const char *ca_certs;       /* PEM CAs that sign client certificates, or NULL */
    int cert_reqs;              /* RH_CERT_* */
    const char *ciphers;        /* OpenSSL cipher list for TLS 1.2, or NULL */
    const unsigned char *ticket_key;    /* RH_TICKET_KEY_LEN bytes, or NULL: random */
    int max_handshakes;         /* handshakes in flight per context (checked by the caller) */
} rh_tls_opts;

int rh_tls_available(void);
const char *rh_tls_library(void);           /* "OpenSSL 3.0.x ..." or why not */

/* NULL with a message in err on failure. */
rh_tls_ctx *rh_tls_ctx_new(const rh_tls_opts *o, char *err, size_t errlen);
void rh_tls_ctx_free(rh_tls_ctx *c);        /* connections hold their own reference */
int rh_tls_ctx_handshakes(const rh_tls_ctx *c);     /* begun (a byte arrived), not ended; all loops */
uint64_t rh_tls_ctx_failed(const rh_tls_ctx *c);    /* failed handshakes so far */

/* A server-side TLS session on a connected socket: NULL if out of memory. */
rh_tls *rh_tls_new(rh_tls_ctx *c, int fd);
void rh_tls_free(rh_tls *t);

ssize_t rh_tls_read(rh_tls *t, char *p, size_t n, int *err);
ssize_t rh_tls_write(rh_tls *t, const char *p, size_t n, int *err);
int rh_tls_sendfile(rh_tls *t, int in_fd, off_t *off, uint64_t *left, uint64_t *sent, int *err);
int rh_tls_pending(rh_tls *t);              /* bytes read from the socket, not yet returned */
int rh_tls_wants_write(const rh_tls *t);    /* the last read must write before it can go on */
int rh_tls_handshake_done(const rh_tls *t);
/* 1 once, right after the handshake completed (then cleared). */
int rh_tls_take_established(rh_tls *t);
/* Send close_notify once (best effort, never blocks); skipped after a fatal error. */
void rh_tls_close_notify(rh_tls *t);

/* Facts for the application, after the handshake. */
const char *rh_tls_version(const rh_tls *t);
const char *rh_tls_cipher(const rh_tls *t);
size_t rh_tls_alpn(const rh_tls *t, const unsigned char **p);
int rh_tls_session_reused(const rh_tls *t);
long rh_tls_verify_result(const rh_tls *t);        /* X509_V_OK = 0 */
const char *rh_tls_verify_text(long result);
int rh_tls_has_peer_cert(const rh_tls *t);
/* malloc'ed text (free with free()); NULL if none.  what: 0 DER (len in *n),
 * 1 PEM, 2 subject (RFC 2253), 3 issuer. */
char *rh_tls_peer(const rh_tls *t, int what, size_t *n);
/* The reason of the last failure on this session ("" if none). */
const char *rh_tls_error(const rh_tls *t);

#endif
