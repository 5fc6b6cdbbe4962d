import logging
import os
import socket
from collections.abc import Callable, Iterable

from typing_extensions import Self, TypedDict, Unpack

from reactor._event_loop import EventLoop
from reactor._http import LoopState, _LoopStats
from reactor._http_config import HttpConfig
from reactor._http_request import HttpRequest
from reactor._http_response import _HeaderList
from reactor._tls import TlsContext
from reactor.tcp_server import TcpServer

log: logging.Logger

ACCESS_FLUSH_INTERVAL: float

# a graceful stop gives a just-accepted connection this long to send its first request
FRESH_GRACE: float
LIMIT_NAMES: tuple[str, ...]

# A handler takes the HttpRequest and returns an HttpResponse, bytes, str or
# an iterable of bytes/str chunks (streamed), or DEFER to answer later (see
# reactor._http); None is answered with a 500.
_Handler = Callable[[HttpRequest], object]

class _Limits(TypedDict, total=False):
    max_request_line: int
    max_header_size: int
    max_headers: int
    max_body_size: int
    keep_alive_timeout: float
    header_timeout: float
    body_timeout: float
    min_body_rate: float
    spool_threshold: int

class _ServerOptions(_Limits, total=False):
    """HttpServer's keyword options after ``handler, host, port, threads``."""

    dispatcher: str | None
    max_connections: int | None
    access_log: bool
    access_log_format: str | None
    access_ring_size: int
    server_header: str
    reuse_port: bool
    backlog: int
    graceful_timeout: float
    name: str
    sockets: Iterable[socket.socket] | None
    spool_dir: str | None
    certfile: str | os.PathLike[str] | None
    keyfile: str | os.PathLike[str] | None
    keyfile_password: str | bytes | None
    ca_certs: str | os.PathLike[str] | None
    cert_reqs: str
    ciphers: str | None
    tls_handshake_timeout: float
    tls_max_handshakes: int
    tls_ticket_key: bytes | None

def tls_context(
    certfile: str | os.PathLike[str],
    keyfile: str | os.PathLike[str] | None = None,
    keyfile_password: str | bytes | None = None,
    ca_certs: str | os.PathLike[str] | None = None,
    cert_reqs: str = "none",
    ciphers: str | None = None,
    tls_handshake_timeout: float = 10.0,
    tls_max_handshakes: int = 1024,
    tls_ticket_key: bytes | None = None,
) -> TlsContext: ...

class HttpServer:
    """An HTTP/1.1 server: ``HttpServer(handler, host, port, threads, dispatcher, **limits)``.
    Thread safe: ``start``, ``stop``."""

    config: HttpConfig
    max_connections: int | None
    tls: TlsContext | None
    graceful_timeout: float
    loop_states: dict[EventLoop, LoopState]
    tcp: TcpServer
    def __init__(
        self,
        handler: _Handler | None = None,
        host: str = "127.0.0.1",
        port: int = 8080,
        threads: int | None = None,
        dispatcher: str | None = None,
        *,
        max_connections: int | None = None,
        access_log: bool = False,
        access_log_format: str | None = None,
        access_ring_size: int = 1024,
        server_header: str = "reactor",
        reuse_port: bool = False,
        backlog: int = 1024,
        graceful_timeout: float = 10.0,
        name: str = "reactor-http",
        sockets: Iterable[socket.socket] | None = None,
        spool_dir: str | None = None,
        certfile: str | os.PathLike[str] | None = None,
        keyfile: str | os.PathLike[str] | None = None,
        keyfile_password: str | bytes | None = None,
        ca_certs: str | os.PathLike[str] | None = None,
        cert_reqs: str = "none",
        ciphers: str | None = None,
        tls_handshake_timeout: float = 10.0,
        tls_max_handshakes: int = 1024,
        tls_ticket_key: bytes | None = None,
        **limits: Unpack[_Limits],
    ) -> None: ...
    def handle(self, request: HttpRequest) -> object: ...
    def route_static(
        self,
        path: str | bytes,
        body: str | bytes,
        content_type: str | bytes | None = "text/plain",
        status: int = 200,
        headers: _HeaderList | None = None,
    ) -> None: ...
    def route_files(
        self,
        prefix: str,
        directory: str | os.PathLike[str],
        *,
        index: str = "index.html",
        list_dirs: bool = False,
        follow_symlinks: bool = False,
        show_dotfiles: bool = False,
        cache_control: str | None = None,
        precompressed: bool = True,
    ) -> None: ...
    def stats(self) -> list[_LoopStats]: ...
    @property
    def port(self) -> int: ...
    @property
    def host(self) -> str: ...
    @property
    def threads(self) -> int: ...
    def start(self) -> Self: ...
    def serve_forever(
        self, install_signal_handlers: bool = True, on_ready: Callable[[], object] | None = None
    ) -> None: ...
    def stop(self, timeout: float | None = None) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *exc: object) -> None: ...
