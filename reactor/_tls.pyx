"""TLS settings of a server: ``TlsContext`` wraps one OpenSSL context.

The context is built once, from the PEM files, when the server is made; the
sub-reactor loops then run every handshake, record and close_notify in C
without the GIL (``csrc/tls.c``).  TLS 1.2 is the minimum, ALPN selects
``http/1.1``, renegotiation is refused and sessions resume by ticket.
Built without the OpenSSL headers, ``tls_available()`` is False and making
a context raises RuntimeError saying why.
"""
import os

from libc.stdlib cimport free
from libc.string cimport memset
from reactor.includes.tls cimport (
    rh_tls_available, rh_tls_library, rh_tls_ctx_new, rh_tls_ctx_free, rh_tls_ctx_handshakes,
    rh_tls_ctx_failed, rh_tls_opts, RH_CERT_NONE, RH_CERT_OPTIONAL, RH_CERT_REQUIRED,
    RH_TICKET_KEY_LEN, rh_tls_version, rh_tls_cipher, rh_tls_alpn, rh_tls_session_reused,
    rh_tls_verify_result, rh_tls_verify_text, rh_tls_has_peer_cert, rh_tls_peer)

CERT_REQS = {"none": RH_CERT_NONE, "optional": RH_CERT_OPTIONAL, "required": RH_CERT_REQUIRED}
TICKET_KEY_LEN = RH_TICKET_KEY_LEN


def tls_available():
    """True if this build of reactor can serve TLS (it found OpenSSL)."""
    return bool(rh_tls_available())


def tls_library():
    """The OpenSSL version in use, or why TLS is not available."""
    return rh_tls_library().decode("utf-8", "replace")


def new_ticket_key():
    """Random session-ticket key material: give the same key to every
    worker so that a session started on one resumes on any other."""
    return os.urandom(RH_TICKET_KEY_LEN)


cdef bytes _path_arg(object path, str what):
    """The file as bytes for C, after checking it can be read (a clear
    error now rather than OpenSSL's "system lib" later)."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError("%s must be a path, not %s" % (what, type(path).__name__))
    p = os.fsencode(path)
    try:
        with open(p, "rb"):
            pass
    except OSError as e:
        raise ValueError("cannot read the %s %r: %s" % (what, os.fsdecode(p), e.strerror)) from None
    return p


cdef class TlsContext:
    """``TlsContext(certfile, keyfile=None, password=None, ca_certs=None,
    cert_reqs="none", ciphers=None, ticket_key=None, max_handshakes=1024,
    handshake_timeout=10.0)``.

    ``certfile``: the PEM certificate chain, leaf first; ``keyfile``: its
    PEM private key (default: in ``certfile``), decrypted with ``password``.
    ``ca_certs`` and ``cert_reqs`` ("none", "optional", "required") ask
    clients for certificates signed by those CAs.  ``ciphers``: an OpenSSL
    cipher list for TLS 1.2 (TLS 1.3 keeps its own suites).
    ``ticket_key``: 80 bytes shared by the processes of one server (default:
    random, this process only).  ``max_handshakes``: handshakes in flight
    beyond which new connections are closed at once; ``handshake_timeout``:
    seconds a client has to complete its handshake.  Raises ValueError,
    naming the file, when a file cannot be read or used."""

    def __cinit__(self):
        self.ctx = NULL

    def __init__(self, certfile, keyfile=None, password=None, ca_certs=None, cert_reqs="none",
                 ciphers=None, ticket_key=None, int max_handshakes=1024,
                 double handshake_timeout=10.0):
        cdef rh_tls_opts o
        cdef char err[512]
        cdef bytes cert_b, key_b = None, ca_b = None, pw_b = None, ciphers_b = None, tk
        if not rh_tls_available():
            raise RuntimeError("TLS is not available: " + tls_library())
        if self.ctx != NULL:
            raise RuntimeError("TlsContext is already initialised")
        if cert_reqs not in CERT_REQS:
            raise ValueError("cert_reqs must be one of none, optional, required; got %r"
                             % (cert_reqs,))
        if cert_reqs != "none" and ca_certs is None:
            raise ValueError("cert_reqs=%r needs ca_certs: the CAs that sign client "
                             "certificates" % (cert_reqs,))
        if max_handshakes < 1:
            raise ValueError("max_handshakes must be at least 1, got %d" % max_handshakes)
        if not handshake_timeout > 0:
            raise ValueError("handshake_timeout must be > 0 seconds, got %r" % handshake_timeout)
        if certfile is None:
            raise ValueError("TLS needs a certfile")
        cert_b = _path_arg(certfile, "certfile")
        if keyfile is not None:
            key_b = _path_arg(keyfile, "keyfile")
        if ca_certs is not None:
            ca_b = _path_arg(ca_certs, "ca_certs file")
        if password is not None:
            if callable(password):
                password = password()
            pw_b = password.encode("utf-8") if isinstance(password, str) else bytes(password)
            if b"\0" in pw_b:
                raise ValueError("the key password contains a NUL byte")
        if ciphers is not None:
            ciphers_b = ciphers.encode("ascii") if isinstance(ciphers, str) else bytes(ciphers)
        if ticket_key is not None:
            ticket_key = bytes(ticket_key)
            if len(ticket_key) != RH_TICKET_KEY_LEN:
                raise ValueError("ticket_key must be %d bytes, got %d"
                                 % (RH_TICKET_KEY_LEN, len(ticket_key)))
        tk = ticket_key
        memset(&o, 0, sizeof(o))
        o.certfile = cert_b
        if key_b is not None:
            o.keyfile = key_b
        if pw_b is not None:
            o.password = pw_b
        if ca_b is not None:
            o.ca_certs = ca_b
        o.cert_reqs = CERT_REQS[cert_reqs]
        if ciphers_b is not None:
            o.ciphers = ciphers_b
        if tk is not None:
            o.ticket_key = <const unsigned char *><const char *>tk
        o.max_handshakes = max_handshakes
        self.ctx = rh_tls_ctx_new(&o, err, sizeof(err))
        if self.ctx == NULL:
            raise ValueError(err.decode("utf-8", "replace"))
        self.certfile = certfile
        self.keyfile = keyfile
        self.ca_certs = ca_certs
        self.cert_reqs = cert_reqs
        self.ciphers = ciphers
        self.max_handshakes = max_handshakes
        self.handshake_timeout = handshake_timeout

    def __dealloc__(self):
        # live sessions hold their own reference: this only drops the server's
        rh_tls_ctx_free(self.ctx)
        self.ctx = NULL

    @property
    def handshakes_in_flight(self):
        """Handshakes begun and not yet finished, over every loop."""
        return rh_tls_ctx_handshakes(self.ctx) if self.ctx != NULL else 0

    @property
    def failed_handshakes(self):
        return rh_tls_ctx_failed(self.ctx) if self.ctx != NULL else 0

    def __repr__(self):
        return "<TlsContext certfile=%r cert_reqs=%s>" % (self.certfile, self.cert_reqs)


cdef object _peer(rh_tls *t, int what):
    cdef size_t n = 0
    cdef char *p = rh_tls_peer(t, what, &n)
    if p == NULL:
        return None
    try:
        return p[:n] if what == 0 else p[:n].decode("utf-8", "replace")
    finally:
        free(p)


cdef dict session_info(rh_tls *t):
    """What a handler may know of a connection's TLS session (after the
    handshake): ``request.tls``."""
    cdef const unsigned char *alpn = NULL
    cdef size_t alen = rh_tls_alpn(t, &alpn)
    cdef long vr
    cdef bint has_cert = rh_tls_has_peer_cert(t)
    if has_cert:
        vr = rh_tls_verify_result(t)
        verify = "SUCCESS" if vr == 0 else \
            "FAILED:" + rh_tls_verify_text(vr).decode("utf-8", "replace")
    else:
        verify = "NONE"
    return {
        "version": rh_tls_version(t).decode("ascii", "replace"),
        "cipher": rh_tls_cipher(t).decode("ascii", "replace"),
        "alpn": (<const char *>alpn)[:alen].decode("ascii", "replace") if alen else None,
        "session_reused": bool(rh_tls_session_reused(t)),
        "peer_cert": _peer(t, 0) if has_cert else None,
        "peer_cert_pem": _peer(t, 1) if has_cert else None,
        "peer_subject": _peer(t, 2) if has_cert else None,
        "peer_issuer": _peer(t, 3) if has_cert else None,
        "verify": verify,
    }


cdef dict wsgi_environ(dict info):
    """The CGI-style keys of a TLS session (Apache mod_ssl's names) that a
    WSGI app finds in its environ."""
    env = {"HTTPS": "on", "SSL_PROTOCOL": info["version"], "SSL_CIPHER": info["cipher"],
           "SSL_CLIENT_VERIFY": info["verify"]}
    if info["peer_cert_pem"] is not None:
        env["SSL_CLIENT_CERT"] = info["peer_cert_pem"]
        env["SSL_CLIENT_S_DN"] = info["peer_subject"] or ""
        env["SSL_CLIENT_I_DN"] = info["peer_issuer"] or ""
    return env
