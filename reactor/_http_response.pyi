# Stubs for reactor._http_response (compiled): HttpResponse and header validation.
from collections.abc import Iterable

from _typeshed import SupportsItems
from typing_extensions import disjoint_base

# what a header name or value may be given as (int values are sent in decimal)
_HeaderName = str | bytes
_HeaderValue = str | bytes | int
_HeaderList = SupportsItems[_HeaderName, _HeaderValue] | Iterable[tuple[_HeaderName, _HeaderValue]]
# bytes-like and str bodies are sent whole; any other iterable of bytes/str is
# streamed (chunked on HTTP/1.1 unless a Content-Length header is set)
_Body = bytes | bytearray | memoryview | str | Iterable[bytes | str] | None

REASONS: dict[int, str]

def validate_header(name: _HeaderName, value: _HeaderValue) -> tuple[bytes, bytes]: ...

@disjoint_base
class HttpResponse:
    """A status, headers and a body (bytes, str or an iterable of chunks)."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: _Body
    content_type: str | bytes | None
    reason: str | None
    def __init__(
        self,
        body: _Body = b"",
        status: int = 200,
        headers: _HeaderList | None = None,
        content_type: str | bytes | None = None,
        reason: str | None = None,
    ) -> None: ...
    def add_header(self, name: _HeaderName, value: _HeaderValue) -> None: ...

def check_reason(reason: str) -> None: ...
