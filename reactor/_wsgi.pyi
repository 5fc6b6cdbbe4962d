# Stubs for reactor._wsgi (compiled): the compiled half of the WSGI adapter.
from collections.abc import Callable, Iterable
from typing import Any

from _typeshed import OptExcInfo
from _typeshed.wsgi import WSGIApplication, WSGIEnvironment
from typing_extensions import Self, disjoint_base

from reactor._http_request import HttpRequest
from reactor._http_response import HttpResponse

class WSGIError(Exception):
    """The application broke the WSGI protocol."""

@disjoint_base
class WSGIInput:
    """``wsgi.input``: the request body (already received in full)."""

    def __new__(cls, data: bytes = b"") -> Self: ...
    def read(self, size: int | None = -1) -> bytes: ...
    def readline(self, size: int | None = -1) -> bytes: ...
    def readlines(self, hint: int | None = -1) -> list[bytes]: ...
    def __iter__(self) -> Self: ...
    def __next__(self) -> bytes: ...
    def close(self) -> None: ...

@disjoint_base
class StartResponse:
    """The ``start_response`` callable of one request."""

    status: str | None
    headers: list[tuple[str, str]] | None
    written: list[bytes] | None
    sent: bool
    body: bytes | None
    @property
    def status_code(self) -> int: ...
    @property
    def declared_length(self) -> int: ...
    def __call__(
        self, status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
    ) -> Callable[[bytes | bytearray | memoryview], None]: ...
    def write(self, data: bytes | bytearray | memoryview) -> None: ...

@disjoint_base
class WSGIResponse(HttpResponse):
    """An HttpResponse that also carries the request's environ (for the access log)."""

    environ: WSGIEnvironment | None

def make_response(sr: StartResponse, body: object) -> WSGIResponse: ...

@disjoint_base
class WSGICore:
    """Builds environs and calls the app; see reactor.wsgi.WSGIAdapter."""

    app: WSGIApplication
    base: dict[str, Any]
    root_path: str
    trust_all: bool
    trusted: frozenset[str]
    slow_path: Callable[[Iterable[bytes], StartResponse], HttpResponse]
    keep_environ: bool
    def environ(self, req: HttpRequest) -> WSGIEnvironment: ...
    def apply_forwarded(self, env: WSGIEnvironment) -> None: ...
    def call(self, req: HttpRequest) -> HttpResponse | StartResponse: ...
    @staticmethod
    def peer_strings(peer: tuple[Any, ...] | None) -> tuple[str, str, bool]: ...
