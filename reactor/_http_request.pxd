# HttpRequest: one parsed request (the head copied out of the buffer).
#
# The string on the line right after an attribute is its docstring (Cython
# attaches it to the attribute's descriptor: help(HttpRequest.method)); keep
# it on the very next line.
from reactor.includes.http_parser cimport rh_request

cdef enum:
    MAX_HEADER_CAP = 256    # header slots the parser is given (max_headers <= this)

cdef class HttpRequest:
    cdef readonly str method
    """The request method as sent (str, case-sensitive): ``"GET"``, ``"POST"``, ..."""
    cdef readonly str target
    """The request target exactly as sent (str): ``"/a/b?x=1"``, or the whole
    URL for an absolute-form target (``"http://host/a"``)."""
    cdef readonly str path
    """The path of the target without the query (str, not percent-decoded)."""
    cdef readonly str query
    """The query string after ``?`` (str, not decoded; ``""`` when there is none)."""
    cdef readonly str version
    """The protocol version: ``"HTTP/1.1"`` or ``"HTTP/1.0"``."""
    cdef readonly bint keep_alive
    """True if the connection may stay open after this request (HTTP/1.1 unless
    ``Connection: close``; HTTP/1.0 only with ``Connection: keep-alive``)."""
    cdef readonly bint expect_continue
    """True if the client sent ``Expect: 100-continue`` (the server sends
    ``100 Continue`` itself when it waits for the body)."""
    cdef readonly object remote_addr
    """The client's ``(host, port)`` tuple, or None if unknown."""
    cdef bytes _body
    cdef public object body_file
    """A request body too large to keep in memory (over the server's
    ``spool_threshold``), received in full and de-chunked into an unlinked
    temporary file, positioned at its start; None when the body is in memory.
    ``body`` reads it whole on first use."""
    cdef public object environ
    """The WSGI environ built for this request by a WSGI server (else None)."""
    cdef public object context
    """A free slot for the application (None until set; not used by reactor)."""
    cdef public object tls
    """The connection's TLS session: a dict (version, cipher, alpn,
    session_reused, peer_cert, peer_cert_pem, peer_subject, peer_issuer,
    verify), or None over plaintext."""
    cdef readonly double start_time
    """When the head was parsed, in ``time.monotonic()`` seconds (the loop's clock)."""
    cdef bytes _head
    cdef object _headers
    cdef public object connection
    """The ``HttpConnection`` the request arrived on (set before the handler
    runs; None before).  A handler that returns ``DEFER`` answers later with
    ``connection.resume(request, result)`` in the connection's loop."""
    cdef readonly bint http10
    """True for an HTTP/1.0 request (``version == "HTTP/1.0"``)."""
    cdef readonly bint is_head
    """True for a HEAD request (the response is sent without its body)."""

cdef HttpRequest make_request(const char *base, int head_len, rh_request *req, object peer)
