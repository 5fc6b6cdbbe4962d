import logging
import mmap
import socket
from collections.abc import Iterable
from typing import Any, Literal, NoReturn

from _typeshed.wsgi import WSGIApplication

from reactor.asgi import ASGIServer
from reactor.config import Config
from reactor.http_server import HttpServer
from reactor.listeners import Listener
from reactor.wsgi import WSGIServer

BOOT_ERROR: int
LOOP_SLOTS: int

log: logging.Logger

class Heartbeat:
    """Slot ``index`` of a shared array of monotonic times, one per loop."""

    mem: mmap.mmap
    base: int
    def __init__(self, mem: mmap.mmap, index: int) -> None: ...
    def clear(self) -> None: ...
    def offset(self, loop_index: int) -> int: ...
    def beat(self, loop_index: int) -> None: ...
    def oldest(self) -> float | None: ...

def reopen_log_files() -> None: ...
def app_traceback(exc: BaseException) -> str: ...
def app_kind(app: object, interface: str) -> Literal["wsgi", "asgi"]: ...
def load_application(
    config: Config,
) -> tuple[Literal["wsgi", "asgi"], Any] | tuple[Literal["demo", "files"], None]: ...
def access_log_wanted(config: Config) -> bool: ...
def build_server(
    config: Config, kind: str, app: Any, sockets: Iterable[socket.socket]
) -> tuple[HttpServer | WSGIServer | ASGIServer, HttpServer]: ...
def tell(fd: int, msg: bytes) -> None: ...
def run_worker(
    config: Config,
    listeners: Iterable[Listener],
    status_fd: int,
    heartbeat: Heartbeat,
    master_pid: int,
    max_requests: int,
    close_fds: Iterable[int] = (),
    siblings: bool = False,
    sigmask: Iterable[int] | None = None,
) -> NoReturn: ...
