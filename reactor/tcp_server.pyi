import logging
import socket
from collections.abc import Callable, Iterable

from typing_extensions import Self

from reactor._buffer import Buffer
from reactor._event_loop import EventLoop
from reactor._tcp_connection import TcpConnection
from reactor.acceptor import Acceptor
from reactor.thread_pool import ThreadPool

log: logging.Logger

class TcpServer:
    """A multi-reactor TCP server: override (or pass) ``on_connection``,
    ``on_message``, ``on_write_complete`` and ``on_close``."""

    connection_class: type[TcpConnection]
    loop: EventLoop | None
    host: str
    name: str
    threads: int
    dispatcher: str | None
    reuse_port: bool
    backlog: int
    nodelay: bool
    address: tuple[str, int]
    high_water_mark: int | None
    on_high_water_mark: Callable[[TcpConnection, int], object] | None
    connections: dict[int, TcpConnection]
    thread_pool: ThreadPool | None
    acceptors: list[Acceptor]
    def __init__(
        self,
        loop: EventLoop | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        threads: int = 0,
        dispatcher: str | None = None,
        name: str = "TcpServer",
        reuse_port: bool = False,
        backlog: int = 1024,
        nodelay: bool = True,
        on_connection: Callable[[TcpConnection], object] | None = None,
        on_message: Callable[[TcpConnection, Buffer], object] | None = None,
        on_write_complete: Callable[[TcpConnection], object] | None = None,
        on_close: Callable[[TcpConnection], object] | None = None,
        high_water_mark: int | None = None,
        on_high_water_mark: Callable[[TcpConnection, int], object] | None = None,
        sock: socket.socket | None = None,
        sockets: Iterable[socket.socket] | None = None,
    ) -> None: ...
    def on_connection(self, conn: TcpConnection) -> None: ...
    def on_message(self, conn: TcpConnection, buffer: Buffer) -> None: ...
    def on_write_complete(self, conn: TcpConnection) -> None: ...
    def on_close(self, conn: TcpConnection) -> None: ...
    @property
    def acceptor(self) -> Acceptor | None: ...
    @property
    def sockets(self) -> list[socket.socket]: ...
    @property
    def port(self) -> int: ...
    def pool_init(self, loop: EventLoop) -> None: ...
    def start(self) -> Self: ...
    def serve_forever(self) -> None: ...
    def start_background(self) -> Self: ...
    def stop(self, timeout: float | None = 10.0) -> None: ...
    def create_connection(self, loop: EventLoop, fd: int, peer: tuple[str, int]) -> TcpConnection: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *exc: object) -> None: ...
