# Stubs for reactor._http_config (compiled): HttpConfig (handler, limits,
# timeouts, static routes) and the cached Date value.
import os
from collections.abc import Callable
from typing import Any

from _typeshed import ReadableBuffer
from typing_extensions import disjoint_base

from reactor._event_loop import EventLoop
from reactor._http_request import HttpRequest
from reactor._http_response import REASONS as REASONS, _HeaderList
from reactor._tls import TlsContext
from reactor.access_log import AccessLog

def http_date() -> str: ...
def mime_table() -> dict[str, str]: ...

@disjoint_base
class HttpConfig:
    """Limits, timeouts, the handler and the static route table of a server."""

    # returns an HttpResponse, bytes, str or DEFER (see reactor.http_server)
    handler: Callable[[HttpRequest], object] | None
    keep_alive_timeout: float
    header_timeout: float
    body_timeout: float
    min_body_rate: float
    output_high_water: int
    access_log: bool
    access_logger: AccessLog | None
    access_ring_size: int
    wsgi: Any
    wsgi_inline: bool
    spool_threshold: int
    spool_dir: str | None
    route_headers: dict[str, list[tuple[str, str]]]
    stopping: bool
    server_header: bytes
    tls: TlsContext | None
    files_frozen: bool
    files_cache_entries: int
    mounts: list[tuple[str, str]]
    def __init__(
        self,
        handler: Callable[[HttpRequest], object] | None = None,
        max_request_line: int = 8192,
        max_header_size: int = 65536,
        max_headers: int = 100,
        max_body_size: int = 16777216,
        keep_alive_timeout: float = 5.0,
        header_timeout: float = 10.0,
        body_timeout: float = 30.0,
        min_body_rate: float = 500.0,
        output_high_water: int = 1048576,
        access_log: bool = False,
        server_header: bytes = b"reactor",
        access_log_format: str | None = None,
        access_ring_size: int = 1024,
        spool_threshold: int = 1048576,
        spool_dir: str | None = None,
    ) -> None: ...
    def set_access_log_format(self, fmt: str | None = None) -> None: ...
    @property
    def max_request_line(self) -> int: ...
    @property
    def max_header_size(self) -> int: ...
    @property
    def max_headers(self) -> int: ...
    @property
    def max_body_size(self) -> int: ...
    @property
    def retired_tables(self) -> int: ...
    def add_reader(self, loop: EventLoop) -> None: ...
    def add_static_route(
        self,
        path: str | ReadableBuffer,
        body: str | ReadableBuffer,
        content_type: str | bytes | None = "text/plain",
        status: int = 200,
        headers: _HeaderList | None = None,
    ) -> None: ...
    def static_paths(self) -> list[str]: ...
    def add_files(
        self,
        prefix: str,
        directory: str | bytes | os.PathLike[str],
        index: str = "index.html",
        list_dirs: bool = False,
        follow_symlinks: bool = False,
        show_dotfiles: bool = False,
        cache_control: str | None = None,
        precompressed: bool = True,
    ) -> None: ...
    def freeze_files(self, frozen: bool = True) -> None: ...
