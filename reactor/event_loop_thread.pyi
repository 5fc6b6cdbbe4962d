import signal
import threading
from collections.abc import Callable

from reactor._dispatcher import EventDispatcher
from reactor._event_loop import EventLoop

# signals a loop thread blocks, leaving them to the main thread
PROCESS_SIGNALS: set[signal.Signals]

class EventLoopThread:
    """One thread, one EventLoop built inside it.  Thread safe."""

    name: str
    def __init__(
        self,
        name: str = "reactor-loop",
        dispatcher: EventDispatcher | str | None = None,
        init_callback: Callable[[EventLoop], object] | None = None,
    ) -> None: ...
    @property
    def loop(self) -> EventLoop | None: ...
    @property
    def thread(self) -> threading.Thread | None: ...
    def start(self) -> EventLoop: ...
    def stop(self, timeout: float | None = None) -> None: ...
    def is_alive(self) -> bool: ...
