import logging
import socket
from collections.abc import Callable

from reactor._channel import Channel
from reactor._event_loop import EventLoop

log: logging.Logger

ACCEPT_BATCH: int

def sock_address(sock: socket.socket) -> tuple[str, int]: ...

class Acceptor:
    """Listening socket + channel.  Loop thread only (after construction)."""

    loop: EventLoop
    sock: socket.socket | None
    backlog: int
    nodelay: bool
    new_connection_callback: Callable[[int, tuple[str, int]], object] | None
    channel: Channel
    accept_batch: int
    def __init__(
        self,
        loop: EventLoop,
        host: str = "127.0.0.1",
        port: int = 0,
        reuse_port: bool = False,
        backlog: int = 1024,
        nodelay: bool = True,
        new_connection_callback: Callable[[int, tuple[str, int]], object] | None = None,
        sock: socket.socket | None = None,
    ) -> None: ...
    @property
    def address(self) -> tuple[str, int]: ...
    @property
    def listening(self) -> bool: ...
    def listen(self) -> None: ...
    def close(self) -> None: ...
