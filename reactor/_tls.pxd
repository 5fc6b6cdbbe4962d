# TlsContext: a server's TLS settings (an OpenSSL context shared by its loops).
from reactor.includes.tls cimport rh_tls_ctx, rh_tls

cdef class TlsContext:
    cdef rh_tls_ctx *ctx
    cdef readonly object certfile
    cdef readonly object keyfile
    cdef readonly object ca_certs
    cdef readonly str cert_reqs
    cdef readonly object ciphers
    cdef readonly int max_handshakes
    cdef readonly double handshake_timeout

cdef dict session_info(rh_tls *t)
cdef dict wsgi_environ(dict info)
