"""reactor: a multi-reactor HTTP/1.1 and TCP server with a Cython and C core."""

from reactor._buffer import Buffer as Buffer
from reactor._channel import READ as READ, WRITE as WRITE, Channel as Channel, ChannelMap as ChannelMap
from reactor._dispatcher import (
    EpollDispatcher as EpollDispatcher,
    EventDispatcher as EventDispatcher,
    PollDispatcher as PollDispatcher,
    make_dispatcher as make_dispatcher,
)
from reactor._event_loop import EventLoop as EventLoop, TimerHandle as TimerHandle
from reactor._http_request import Headers as Headers, HttpParseError as HttpParseError, HttpRequest as HttpRequest
from reactor._sync import Cond as Cond, Mutex as Mutex
from reactor._tcp_connection import TcpConnection as TcpConnection
from reactor._tls import TlsContext as TlsContext, tls_available as tls_available, tls_library as tls_library
from reactor.acceptor import Acceptor as Acceptor
from reactor.asgi import ASGIServer as ASGIServer, ReactorEventLoop as ReactorEventLoop
from reactor.config import Config as Config
from reactor.event_loop_thread import EventLoopThread as EventLoopThread
from reactor.http_response import HttpResponse as HttpResponse
from reactor.http_server import HttpServer as HttpServer
from reactor.supervisor import run as run
from reactor.tcp_server import TcpServer as TcpServer
from reactor.thread_pool import ThreadPool as ThreadPool

__version__: str

def new_event_loop() -> ReactorEventLoop: ...

__all__ = [
    "Mutex", "Cond", "Buffer", "Channel", "ChannelMap", "READ", "WRITE",
    "EventDispatcher", "EpollDispatcher", "PollDispatcher", "make_dispatcher",
    "EventLoop", "TimerHandle", "EventLoopThread", "ThreadPool",
    "Acceptor", "TcpConnection", "TcpServer",
    "HttpServer", "HttpRequest", "HttpResponse", "Headers", "HttpParseError",
    "Config", "run", "TlsContext", "tls_available", "tls_library",
    "ASGIServer", "ReactorEventLoop", "new_event_loop",
]
