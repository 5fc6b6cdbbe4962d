"""HttpResponse: what a handler returns (implemented in ``_http_response.pyx``).

``HttpResponse(body=b"", status=200, headers=None, content_type=None)``.
``body`` is bytes, str (sent as UTF-8) or an iterable of bytes/str chunks
(streamed: chunked on HTTP/1.1 unless a Content-Length header is set,
close-delimited on HTTP/1.0).  Header names must be tokens and values must
not contain CR, LF or NUL: anything else raises ``ValueError``, so a handler
can never split a response.
"""
from reactor._http_response import HttpResponse, REASONS, validate_header

__all__ = ["HttpResponse", "REASONS", "validate_header"]
