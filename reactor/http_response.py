"""HttpResponse: what a handler returns.

``HttpResponse(body=b"", status=200, headers=None, content_type=None)``.
``body`` is bytes, str (sent as UTF-8) or an iterable of bytes/str chunks
(streamed: chunked on HTTP/1.1 unless a Content-Length header is set,
close-delimited on HTTP/1.0).  Header names must be tokens and values must
not contain CR, LF or NUL: anything else raises ``ValueError`` here, so a
handler can never split a response.
"""
import re
from http import HTTPStatus

_TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")

REASONS = {s.value: s.phrase for s in HTTPStatus}
REASONS.setdefault(425, "Too Early")


def _to_bytes(x, what):
    if isinstance(x, bytes):
        return x
    if isinstance(x, str):
        try:
            return x.encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError("%s %r is not latin-1 encodable" % (what, x)) from None
    if isinstance(x, int) and not isinstance(x, bool):
        return str(x).encode("ascii")
    raise TypeError("%s must be str or bytes, not %s" % (what, type(x).__name__))


def validate_header(name, value):
    """Return ``(name, value)`` as bytes, or raise ValueError/TypeError."""
    n = _to_bytes(name, "header name")
    v = _to_bytes(value, "header value")
    if not _TOKEN.match(n):
        raise ValueError("invalid header name %r" % (name,))
    if _BAD_VALUE.search(v):
        raise ValueError("invalid character (CR, LF, NUL or CTL) in header %r value %r"
                         % (name, value))
    return n, v.strip(b" \t")


class HttpResponse:
    """A status, headers and a body (bytes, str or an iterable of chunks)."""

    __slots__ = ("status", "headers", "body", "content_type")

    def __init__(self, body=b"", status=200, headers=None, content_type=None):
        if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 999:
            raise ValueError("status must be an int in 100..999, got %r" % (status,))
        self.status = status
        self.body = body
        self.content_type = content_type
        hdrs = []
        if headers:
            items = headers.items() if hasattr(headers, "items") else headers
            for name, value in items:
                hdrs.append(validate_header(name, value))
        self.headers = hdrs

    def add_header(self, name, value):
        """Append a header (validated)."""
        self.headers.append(validate_header(name, value))

    def __repr__(self):
        return "<HttpResponse %d>" % self.status
