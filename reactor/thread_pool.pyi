import logging
from collections.abc import Callable

from reactor._event_loop import EventLoop

log: logging.Logger

class ThreadPool:
    """Sub-reactor threads for a base (acceptor) loop; round-robin ``get_loop()``."""

    base_loop: EventLoop
    n: int
    name: str
    def __init__(
        self,
        base_loop: EventLoop,
        n: int = 0,
        dispatcher: str | None = None,
        name: str = "reactor",
        init_callback: Callable[[EventLoop], object] | None = None,
    ) -> None: ...
    @property
    def loops(self) -> list[EventLoop]: ...
    @property
    def started(self) -> bool: ...
    def start(self) -> None: ...
    def get_loop(self) -> EventLoop: ...
    def stop(self, timeout: float | None = 10.0) -> None: ...
