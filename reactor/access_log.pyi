import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final

from reactor._http_request import HttpRequest

__all__ = ["AccessLog", "DEFAULT_FORMAT", "LOGGER_NAME"]

LOGGER_NAME: Final = "reactor.access"
DEFAULT_FORMAT: Final = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'

def parse_format(fmt: str) -> list[str]: ...

class AccessLog:
    """Renders access lines for one gunicorn-style format and hands them to
    ``logger`` (default ``reactor.access``).  Thread safe."""

    format: str
    keys: tuple[str, ...]
    logger: logging.Logger
    capture_headers: tuple[str, ...]
    captured: tuple[str, ...]
    static_headers: dict[str, list[tuple[str, str]]]
    needs_response_headers: bool
    def __init__(self, fmt: str | None = None, logger: logging.Logger | None = None) -> None: ...
    def enabled(self) -> bool: ...
    def log_request(
        self,
        req: HttpRequest,
        int_status: int,
        sent: int,
        response: object,
        duration: float,
        peer: str | None,
    ) -> None: ...
    def log_rejected(
        self,
        peer: str | None,
        method: str | None,
        target: str | None,
        version: str | None,
        status: int,
        sent: int,
        duration: float,
    ) -> None: ...
    def log_static(
        self,
        peer: str | None,
        method: str,
        target: str,
        vminor: int,
        status: int,
        sent: int,
        duration: float,
        wall: float,
        hvals: Sequence[str | None] | None,
        truncated: int,
    ) -> None: ...
    def log_dropped(self, n: int, ring_size: int) -> None: ...
    def render(self, atoms: Mapping[str, Any]) -> str: ...
