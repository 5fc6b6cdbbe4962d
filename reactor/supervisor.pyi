import logging
from collections.abc import Callable
from typing import Literal

from _typeshed.wsgi import WSGIApplication
from typing_extensions import Unpack

from reactor.config import Config, _ConfigOptions
from reactor.listeners import Listener

log: logging.Logger

MAX_WORKER_SLOTS: int
TICK: float
STABLE_AFTER: float
KILL_GRACE: float
DUMP_GRACE: float
RELOAD_POLL: float

class StartError(ValueError):
    """The master cannot start (e.g. its --pid file cannot be written)."""

class _Worker:
    number: int
    pid: int
    gen: int
    slot: int
    fd: int
    state: Literal["booting", "ready", "stopping"]
    started: float
    ready_at: float | None
    retire: bool
    kill_at: float | None
    hung: bool
    expected_exit: bool
    def __init__(self, number: int, pid: int, gen: int, slot: int, fd: int) -> None: ...

class Supervisor:
    """Run ``config`` (a validated Config) as a master process with
    ``config.workers`` workers; ``run()`` returns the exit status.
    ``on_ready(supervisor)`` is called once every first worker serves."""

    config: Config
    on_ready: Callable[[Supervisor], object] | None
    listeners: list[Listener]
    workers: dict[int, _Worker]
    target: int
    gen: int
    def __init__(self, config: Config, on_ready: Callable[[Supervisor], object] | None = None) -> None: ...
    def run(self) -> int: ...
    def reload(self) -> None: ...

def run(app: str | WSGIApplication | None = None, **options: Unpack[_ConfigOptions]) -> int: ...
