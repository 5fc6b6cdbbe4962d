import asyncio
import logging
from collections.abc import Callable
from typing import Any, Literal

from typing_extensions import Self, Unpack

from reactor._asgi import (
    ASGI_VERSION as ASGI_VERSION,
    ASGICore,
    ASGIProtocolError as ASGIProtocolError,
    ClientDisconnected as ClientDisconnected,
    _ASGIApp,
)
from reactor._event_loop import EventLoop
from reactor.http_server import HttpServer, _ServerOptions

log: logging.Logger

__all__ = ["ASGIServer", "ReactorEventLoop", "new_event_loop", "detect_interface",
           "ASGI2App", "LifespanError", "ASGIProtocolError", "ClientDisconnected"]
INTERFACES: tuple[str, ...]
LIFESPANS: tuple[str, ...]

class ReactorEventLoop(asyncio.SelectorEventLoop):
    """``asyncio.SelectorEventLoop`` whose selector is a ``ReactorSelector``."""

    reactor_loop: EventLoop
    def __init__(self, reactor_loop: EventLoop | None = None) -> None: ...

def new_event_loop() -> ReactorEventLoop: ...
def detect_interface(app: object) -> Literal["asgi3", "asgi2", "wsgi"]: ...

class ASGI2App:
    """An ASGI 2 app as ASGI 3."""

    app: Callable[[dict[str, Any]], Any]
    def __init__(self, app: Callable[[dict[str, Any]], Any]) -> None: ...
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None: ...

class LifespanError(RuntimeError):
    """The app's lifespan startup (or shutdown) failed."""

class ASGIServer:
    """Serve an ASGI app with ``start()`` / ``stop()`` / ``serve_forever()`` / ``serve()``."""

    app: _ASGIApp
    interface: str
    lifespan: str
    root_path: str
    forwarded_allow_ips: str | None
    backpressure: int
    threads: int | None
    http: HttpServer
    state: dict[str, Any]
    core: ASGICore | None
    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 8080,
        *,
        interface: str = "auto",
        lifespan: str = "auto",
        root_path: str = "",
        forwarded_allow_ips: str | None = "127.0.0.1",
        backpressure: int = 1024,
        threads: int | None = None,
        **options: Unpack[_ServerOptions],
    ) -> None: ...
    def io_threads(self) -> int: ...
    @property
    def port(self) -> int: ...
    @property
    def loop(self) -> asyncio.AbstractEventLoop | None: ...
    async def serve(
        self, install_signal_handlers: bool = False, on_ready: Callable[[], object] | None = None
    ) -> None: ...
    def serve_forever(self, on_ready: Callable[[], object] | None = None) -> None: ...
    def start(self) -> Self: ...
    def stop(self, timeout: float | None = None) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *exc: object) -> None: ...

def serve(app: Any, **options: Any) -> None: ...
