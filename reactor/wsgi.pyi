import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from _typeshed.wsgi import WSGIApplication
from typing_extensions import Self, Unpack

from reactor._http_request import HttpRequest
from reactor._http_response import HttpResponse
from reactor._wsgi import StartResponse, WSGICore, WSGIError as WSGIError, WSGIInput as WSGIInput, make_response as make_response
from reactor.http_server import HttpServer, _ServerOptions

log: logging.Logger
DEFAULT_HANDLER_THREADS: int
MAX_BODY_SIZE: int
STREAM_QUEUE_BYTES: int

class _Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...

class FileWrapper:
    """``wsgi.file_wrapper``: iterate a file in blocks; real files are sent
    with sendfile(2)."""

    filelike: _Readable
    blksize: int
    def __init__(self, filelike: _Readable, blksize: int = 65536) -> None: ...
    def sendfile_info(self) -> tuple[int, int, int] | None: ...
    def __iter__(self) -> Iterator[bytes]: ...

class WSGIAdapter(WSGICore):
    """Calls a WSGI app for HttpRequests.  Thread safe."""

    active: dict[int, list[Any]]
    track_active: bool
    def __init__(
        self,
        app: WSGIApplication,
        server_name: str = "127.0.0.1",
        server_port: int = 8080,
        root_path: str = "",
        forwarded_allow_ips: str | Iterable[str] | None = "127.0.0.1",
        multithread: bool = True,
        url_scheme: str = "http",
        track_active: bool = False,
        multiprocess: bool = False,
    ) -> None: ...
    def __call__(self, req: HttpRequest) -> HttpResponse | StartResponse: ...

class _WSGIOptions(_ServerOptions, total=False):
    host: str
    port: int
    threads: int | None
    handler_threads: int
    root_path: str
    forwarded_allow_ips: str | Iterable[str] | None
    handler_warn_time: float
    multiprocess: bool

class WSGIServer:
    """Serve a WSGI app with ``start()`` / ``stop()`` / ``serve_forever()``."""

    http: HttpServer
    adapter: WSGIAdapter
    handler_threads: int
    handler_warn_time: float
    def __init__(
        self,
        app: WSGIApplication,
        host: str = "127.0.0.1",
        port: int = 8080,
        threads: int | None = None,
        handler_threads: int = 8,
        root_path: str = "",
        forwarded_allow_ips: str | Iterable[str] | None = "127.0.0.1",
        handler_warn_time: float = 10.0,
        multiprocess: bool = False,
        **options: Unpack[_ServerOptions],
    ) -> None: ...
    @property
    def port(self) -> int: ...
    def start(self) -> Self: ...
    def serve_forever(self, on_ready: Callable[[], object] | None = None) -> None: ...
    def stop(self, timeout: float | None = None) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *exc: object) -> None: ...

def serve(app: WSGIApplication, **options: Unpack[_WSGIOptions]) -> None: ...
def load_app(spec: str, app_dir: str | None = None) -> WSGIApplication: ...
