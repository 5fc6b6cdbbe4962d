from typing_extensions import Self

from reactor._event_loop import EventLoop

class SignalWakeup:
    """A socketpair on ``loop`` whose write end is the process's signal
    wakeup fd while installed.  Main thread only."""

    loop: EventLoop
    def __init__(self, loop: EventLoop) -> None: ...
    def install(self) -> Self: ...
    def close(self) -> None: ...
