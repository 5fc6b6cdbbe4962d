# Stubs for reactor._asgi (compiled): the ASGI scope and request cycle.
import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from typing_extensions import disjoint_base

from reactor._http_request import HttpRequest
from reactor._http_response import HttpResponse

log: logging.Logger
DEFER: object
PENDING: object
ASGI_VERSION: dict[str, str]
TASK_NAME: str
STREAM_HIGH: int
SPOOL_CHUNK: int

_Message = MutableMapping[str, Any]
_ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[_Message]], Callable[[_Message], Awaitable[None]]],
    Awaitable[None],
]

class ASGIProtocolError(RuntimeError):
    """The application broke the ASGI protocol."""

class ClientDisconnected(OSError):
    """``send()`` after the client closed the connection."""

@disjoint_base
class Cycle:
    """receive() and send() of one request.  Loop thread only."""

    @property
    def state(self) -> str: ...
    async def receive(self) -> dict[str, Any]: ...
    def send(self, message: _Message) -> Awaitable[None]: ...
    async def run(self, app: _ASGIApp, scope: dict[str, Any]) -> None: ...

@disjoint_base
class ASGICore:
    """The handler of an ASGIServer: ``core(request)`` starts the app's task."""

    app: _ASGIApp
    loop: asyncio.AbstractEventLoop
    server: tuple[Any, ...] | None
    root_path: str
    scheme: str
    trust_all: bool
    trusted: frozenset[str] | None
    state: dict[str, Any] | None
    limit: int
    in_flight: int
    waiting: collections.deque[tuple[Cycle, dict[str, Any]]]
    tasks: set[asyncio.Task[None]]
    threaded: bool
    closing: bool
    def __init__(
        self,
        app: _ASGIApp,
        loop: asyncio.AbstractEventLoop,
        server: tuple[Any, ...] | None = None,
        root_path: str = "",
        scheme: str = "http",
        forwarded_allow_ips: str | None = None,
        state: dict[str, Any] | None = None,
        limit: int = 0,
        threaded: bool = False,
    ) -> None: ...
    def scope(self, req: HttpRequest) -> dict[str, Any]: ...
    def __call__(self, req: HttpRequest) -> HttpResponse | object: ...
