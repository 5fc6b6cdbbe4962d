import logging
import socket
from collections.abc import Iterable, MutableMapping
from typing import Final, Literal

SD_LISTEN_FDS_START: Final = 3

log: logging.Logger

_Kind = Literal["tcp", "unix", "fd"]

class BindError(ValueError):
    """A bind address that cannot be used; the message names it."""

def parse_bind(
    spec: str,
) -> tuple[Literal["tcp"], tuple[str, int]] | tuple[Literal["unix"], str] | tuple[Literal["fd"], int]: ...
def format_tcp(host: str, port: int) -> str: ...

class Listener:
    """One listening socket and where it came from: ``kind`` (``tcp``,
    ``unix`` or ``fd``), ``spec`` (the address as written) and ``per_worker``
    (``--reuse-port`` TCP: each worker opens its own socket)."""

    kind: _Kind
    spec: str
    sock: socket.socket | None
    per_worker: bool
    unlink_path: str | None
    def __init__(
        self,
        kind: _Kind,
        spec: str,
        sock: socket.socket,
        per_worker: bool = False,
        unlink_path: str | None = None,
    ) -> None: ...
    @property
    def owned(self) -> bool: ...
    @property
    def family(self) -> socket.AddressFamily: ...
    def url(self, scheme: str = ...) -> str: ...
    def worker_socket(self, backlog: int) -> socket.socket: ...
    def close(self) -> None: ...

def systemd_listeners(environ: MutableMapping[str, str] | None = None) -> list[Listener]: ...
def open_listeners(
    binds: Iterable[str],
    reuse_port: bool = False,
    backlog: int = 1024,
    umask: int | None = None,
    environ: MutableMapping[str, str] | None = None,
) -> list[Listener]: ...
