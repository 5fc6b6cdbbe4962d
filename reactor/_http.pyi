# Stubs for reactor._http (compiled): the HTTP/1.1 connection and per-loop state.
from collections.abc import Callable
from typing import Any, Final, Literal, TypedDict

from typing_extensions import NotRequired, disjoint_base

from reactor._event_loop import EventLoop, TimerHandle
from reactor._http_config import HttpConfig
from reactor._http_request import HttpRequest
from reactor._http_response import REASONS as REASONS
from reactor._tcp_connection import TcpConnection
from reactor.access_log import AccessLog

# A handler returns DEFER when it will answer later with
# ``request.connection.resume(request, result)`` in the connection's loop.
DEFER: Final[object]
# A response iterator yields PENDING when its next chunk is not ready yet;
# its producer then calls ``connection.pump()`` in the connection's loop.
PENDING: Final[object]

@disjoint_base
class AccessFlusher:
    """The one thread that renders the static-route access records of every
    loop of a server.  Thread safe."""

    def __init__(self, interval: float = 0.1) -> None: ...
    def add(self, state: LoopState) -> None: ...
    def clear(self) -> None: ...
    def start(self) -> None: ...
    def stop(self, timeout: float | None = 5.0) -> None: ...
    def drain(self) -> None: ...

class _LoopStats(TypedDict):
    loop: str
    connections: int
    accepted: int
    requests: int
    static_requests: int
    access_log_dropped: NotRequired[int]    # with the access log on
    file_cache: NotRequired[_FileCacheStats]    # once a static file was asked for

class _FileCacheStats(TypedDict):
    entries: int
    bytes: int
    hits: int
    misses: int

@disjoint_base
class LoopState:
    """Per-loop bookkeeping: live connections, counters, the timeout sweeper,
    the access-log ring.  Loop thread only (``flush_access`` excepted)."""

    loop: EventLoop
    connections: set[HttpConnection]
    requests: int
    accepted: int
    static_requests: int
    sweeper: TimerHandle | None
    current_request: HttpRequest | None
    current_since: float
    hold_output: bool
    @property
    def flusher(self) -> AccessFlusher | None: ...
    def __init__(self, loop: EventLoop) -> None: ...
    def flush_held(self, everything: bool = False) -> None: ...
    def flush_answered(self) -> None: ...
    def enable_access_log(
        self, access: AccessLog, ring_size: int, flusher: AccessFlusher | None = None
    ) -> None: ...
    def flush_access(self) -> None: ...
    def start_sweeper(self, interval: float) -> None: ...
    def sweep(self) -> None: ...
    def close_idle(self, fresh_too: bool = True) -> None: ...
    def close_all(self) -> None: ...
    def stats(self) -> _LoopStats: ...
    def close_files(self) -> None: ...

@disjoint_base
class HttpConnection(TcpConnection):
    """An HTTP/1.1 connection.  Loop thread only, except the thread-safe
    methods inherited from TcpConnection."""

    requests: int
    peer_gone_callback: Callable[[], object] | None
    def __init__(
        self,
        loop: EventLoop,
        fd: int,
        peer_address: tuple[str, int] | None,
        config: HttpConfig,
        state: LoopState,
    ) -> None: ...
    @property
    def http_state(self) -> Literal["head", "body", "chunked-body", "streaming", "closing", "handler", "file"]: ...
    @property
    def tls(self) -> dict[str, Any] | None: ...
    def resume(self, req: HttpRequest, result: object) -> None: ...
    def pump(self) -> None: ...
    def write_response(self, req: HttpRequest, result: object) -> None: ...
