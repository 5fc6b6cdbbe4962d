"""reactor: a multi-reactor HTTP/1.1 and TCP server with a Cython and C core.

The main reactor accepts connections and hands each to one of N sub-reactor
threads; every thread runs its own EventLoop over epoll or poll.
"""
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

__version__ = "0.1.0"

__all__ = [
    "Mutex", "Cond", "Buffer", "Channel", "ChannelMap", "READ", "WRITE",
    "EventDispatcher", "EpollDispatcher", "PollDispatcher", "make_dispatcher",
    "EventLoop", "TimerHandle", "EventLoopThread", "ThreadPool",
    "Acceptor", "TcpConnection", "TcpServer",
    "HttpServer", "HttpRequest", "HttpResponse", "Headers", "HttpParseError",
]
