"""CPython's own asyncio conformance tests against ``ReactorEventLoop``
(the ASGI server's loop: ``asyncio.SelectorEventLoop`` with a
``ReactorSelector``, and ``call_soon`` compiled) and, with the slow tests,
against a plain ``asyncio.SelectorEventLoop(ReactorSelector())``.

The mixins are the standard library's (``test.test_asyncio``, the set that
zuvloop's conformance script binds): the event loop API with its Unix
extras and subprocesses, the low-level ``sock_*`` calls, ``start_server``
and buffered protocols, plus ``test_selectors.BaseSelectorTestCase`` for the
selector itself.  Each set is also bound to the stock ``EpollSelector`` as
the control: the two must pass alike.  The ``test`` package ships with
pyenv's and python.org's builds; Debian's python3 needs
``libpython3.X-testsuite`` (without it this module is skipped, unless
REACTOR_REQUIRE_CPYTHON_TESTS=1, which .ci/run sets).
"""
import asyncio
import os
import selectors
import unittest

import pytest

try:
    from test import test_selectors
    from test.test_asyncio import utils as test_utils
    from test.test_asyncio import (test_buffered_proto, test_events, test_server,
                                   test_sock_lowlevel)
except ImportError as exc:      # no CPython test package
    if os.environ.get("REACTOR_REQUIRE_CPYTHON_TESTS"):
        raise
    pytest.skip("CPython's test package is not installed (%s)" % exc, allow_module_level=True)

from reactor import EventLoop
from reactor._selector import ReactorSelector
from reactor.asgi import ReactorEventLoop


def reactor_loop():
    return ReactorEventLoop()


def selector_loop():
    return asyncio.SelectorEventLoop(ReactorSelector())


def epoll_loop():
    return asyncio.SelectorEventLoop(selectors.EpollSelector())


def _bind(new_loop, suffix):
    class EventLoopTests(test_events.UnixEventLoopTestsMixin, test_events.SubprocessTestsMixin,
                         test_utils.TestCase):
        def create_event_loop(self):
            return new_loop()

    class SockTests(test_sock_lowlevel.BaseSockTestsMixin, test_utils.TestCase):
        def create_event_loop(self):
            return new_loop()

    class StartServerTests(test_server.BaseStartServer, unittest.TestCase):
        def new_loop(self):
            return new_loop()

    class BufferedProtocolTests(test_buffered_proto.BaseTestBufferedProtocol, unittest.TestCase):
        def new_loop(self):
            return new_loop()

    out = {}
    for cls in (EventLoopTests, SockTests, StartServerTests, BufferedProtocolTests):
        cls.__name__ = cls.__qualname__ = cls.__name__ + suffix
        out[cls.__name__] = cls
    return out


globals().update(_bind(reactor_loop, "Reactor"))
globals().update({name: pytest.mark.slow(cls)
                  for name, cls in _bind(selector_loop, "ReactorSelector").items()})
# the control runs with the slow tests (.ci/run): it tells, when a Reactor
# test fails, whether the stock loop fails it too on this machine
globals().update({name: pytest.mark.slow(cls) for name, cls in _bind(epoll_loop, "Epoll").items()})


class SelectorTestsReactor(test_selectors.BaseSelectorTestCase, unittest.TestCase):
    SELECTOR = ReactorSelector


class SelectorTestsOnAGivenLoop(test_selectors.BaseSelectorTestCase, unittest.TestCase):
    """The selector over a loop it did not make (it must not close it)."""

    def SELECTOR(self=None):
        loop = EventLoop(name="given")
        sel = ReactorSelector(loop)
        sel.given = loop
        return sel


@pytest.mark.slow
class SelectorTestsEpoll(test_selectors.BaseSelectorTestCase, unittest.TestCase):
    SELECTOR = selectors.EpollSelector


def test_a_given_loop_stays_open_and_an_own_loop_closes():
    given = EventLoop(name="given")
    try:
        sel = ReactorSelector(given)
        sel.close()
        assert not given.closed and sel.get_map() is None
    finally:
        given.close()
    own = ReactorSelector()
    loop = own.loop
    own.close()
    assert loop.closed
    assert isinstance(own, selectors.BaseSelector)
