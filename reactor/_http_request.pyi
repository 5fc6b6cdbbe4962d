# Stubs for reactor._http_request (compiled): HttpRequest, Headers and the
# Python access to the C parser.
from collections.abc import Iterable, Iterator
from typing import IO, Any, Literal, TypedDict, TypeVar, overload

from _typeshed import ReadableBuffer

from typing_extensions import disjoint_base

from reactor._http import HttpConnection

_T = TypeVar("_T")

class Headers:
    """Request headers: case-insensitive, multi-valued, in arrival order;
    values are latin-1 str."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None: ...
    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: _T) -> str | _T: ...
    def get_all(self, name: str) -> list[str]: ...
    def __getitem__(self, name: str) -> str: ...
    def __contains__(self, name: object) -> bool: ...
    def __iter__(self) -> Iterator[str]: ...
    def __len__(self) -> int: ...
    def items(self) -> list[tuple[str, str]]: ...
    def keys(self) -> list[str]: ...
    def values(self) -> list[str]: ...

@disjoint_base
class HttpRequest:
    """One parsed request (see ``help()`` of each attribute)."""

    @property
    def method(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def query(self) -> str: ...
    @property
    def version(self) -> Literal["HTTP/1.1", "HTTP/1.0"]: ...
    @property
    def http_version(self) -> Literal["HTTP/1.1", "HTTP/1.0"]: ...
    @property
    def http10(self) -> bool: ...
    @property
    def is_head(self) -> bool: ...
    @property
    def keep_alive(self) -> bool: ...
    @property
    def expect_continue(self) -> bool: ...
    @property
    def remote_addr(self) -> tuple[str, int] | None: ...
    @property
    def start_time(self) -> float: ...
    @property
    def headers(self) -> Headers: ...
    @property
    def host(self) -> str | None: ...
    @property
    def raw_head(self) -> bytes: ...
    @property
    def body(self) -> bytes: ...
    @body.setter
    def body(self, value: bytes) -> None: ...
    body_file: IO[bytes] | None
    environ: dict[str, Any] | None
    context: Any
    tls: dict[str, Any] | None
    connection: HttpConnection | None

class HttpParseError(ValueError):
    """A request the parser rejects; ``status`` is the HTTP status to answer."""

    status: int
    message: str
    def __init__(self, status: int, message: str) -> None: ...

class _RequestInfo(TypedDict):
    method: bytes
    target: bytes
    path: bytes
    query: bytes | None
    version: str
    headers: list[tuple[bytes, bytes]]
    body_kind: Literal["none", "length", "chunked"]
    content_length: int | None
    keep_alive: bool
    expect_continue: bool

def parse_request_head(
    data: ReadableBuffer,
    max_request_line: int = 8192,
    max_header_size: int = 65536,
    max_headers: int = 100,
    max_body_size: int = 16777216,
) -> tuple[int, _RequestInfo] | None: ...
def decode_chunked(
    data: ReadableBuffer, max_body_size: int = 16777216, max_trailer_size: int = 16384
) -> tuple[bytes, int] | None: ...
