"""reactor: a multi-reactor HTTP/1.1 and TCP server with a Cython and C core.

The main reactor accepts connections and hands each to one of N sub-reactor
threads; every thread runs its own EventLoop over epoll or poll.
"""
import os as _os
import sys as _sys
from importlib.machinery import EXTENSION_SUFFIXES as _EXT


def _compiled(folder):
    return any(_os.path.exists(_os.path.join(folder, "_sync" + ext)) for ext in _EXT)


if not _compiled(__path__[0]):
    # An unbuilt source checkout shadows the installed package (``python -m
    # reactor`` in the checkout puts it first on sys.path): take the compiled
    # modules from the installed copy, or say what to do.
    for _entry in _sys.path:
        _cand = _os.path.join(_entry or _os.getcwd(), "reactor")
        if _os.path.realpath(_cand) != _os.path.realpath(__path__[0]) and _compiled(_cand):
            __path__[:] = [_cand]
            break
    else:
        raise ImportError(
            "reactor's compiled core is not built in %s: install it (pip install .) or "
            "build it in place (pip install -e .)" % __path__[0])

from reactor._sync import Mutex, Cond
from reactor._buffer import Buffer
from reactor._channel import Channel, ChannelMap, READ, WRITE
from reactor._dispatcher import (
    EventDispatcher, EpollDispatcher, PollDispatcher, make_dispatcher)
from reactor._event_loop import EventLoop, TimerHandle
from reactor._tcp_connection import TcpConnection
from reactor.event_loop_thread import EventLoopThread
from reactor.thread_pool import ThreadPool
from reactor.acceptor import Acceptor
from reactor.tcp_server import TcpServer
from reactor.http_response import HttpResponse
from reactor.http_server import HttpServer
from reactor._http_request import HttpRequest, Headers, HttpParseError
from reactor.config import Config
from reactor._tls import TlsContext, tls_available, tls_library
from reactor.supervisor import run

__version__ = "0.1.0"


def new_event_loop():
    """A new asyncio event loop whose selector is a reactor EventLoop (see
    ``reactor.asgi``): ``asyncio.run(main(), loop_factory=reactor.new_event_loop)``."""
    from reactor.asgi import new_event_loop as make
    return make()


def __getattr__(name):
    # asyncio is imported only by those who use ASGI
    if name in ("ASGIServer", "ReactorEventLoop"):
        import reactor.asgi
        return getattr(reactor.asgi, name)
    raise AttributeError("module 'reactor' has no attribute %r" % name)

__all__ = [
    "Mutex", "Cond", "Buffer", "Channel", "ChannelMap", "READ", "WRITE",
    "EventDispatcher", "EpollDispatcher", "PollDispatcher", "make_dispatcher",
    "EventLoop", "TimerHandle", "EventLoopThread", "ThreadPool",
    "Acceptor", "TcpConnection", "TcpServer",
    "HttpServer", "HttpRequest", "HttpResponse", "Headers", "HttpParseError",
    "Config", "run", "TlsContext", "tls_available", "tls_library",
    "ASGIServer", "ReactorEventLoop", "new_event_loop",
]
