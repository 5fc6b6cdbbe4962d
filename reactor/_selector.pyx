"""ReactorSelector: a reactor EventLoop as the selector of a stock asyncio loop.

``asyncio.SelectorEventLoop(ReactorSelector())`` is the standard library's
own event loop, with its transports, futures and tasks, whose ``select()``
is one ``EventLoop.poll(timeout)``: the GIL is released while it waits,
connections registered on the same EventLoop (an ``HttpServer`` with
``threads=0``) are served in that iteration, static routes answered in C
without ever returning to Python, and the fds that asyncio registered come
back as ``(SelectorKey, events)`` pairs.

An fd registered here gets a ``_SelectorChannel`` whose ``fast_event`` runs
without the GIL: it only ORs the event into the channel and files the fd in
a C array (once per poll), then makes the loop return to Python
(``FAST_BREAK``), so asyncio's callbacks never wait behind a flood of C-only
events.  The semantics are ``selectors.BaseSelector``'s (CPython's
test_selectors passes against this class): a file object or an fd,
``KeyError`` for a double or missing registration, ``ValueError`` for bad
events or a negative fd, ``get_map()`` None once closed.  Loop thread only.
"""
import selectors
from abc import ABCMeta
from collections.abc import Mapping

from cpython.mem cimport PyMem_Realloc, PyMem_Free
from reactor._channel cimport Channel, EV_READ, EV_WRITE, FAST_BREAK
from reactor._event_loop cimport EventLoop
from reactor.includes.posix_extra cimport send as c_send, MSG_DONTWAIT, MSG_NOSIGNAL

cdef int EVENT_READ = selectors.EVENT_READ
cdef int EVENT_WRITE = selectors.EVENT_WRITE
cdef object SelectorKey = selectors.SelectorKey


cdef int _fileobj_to_fd(object fileobj) except -2:
    cdef int fd
    if isinstance(fileobj, int):
        fd = fileobj
    else:
        try:
            fd = int(fileobj.fileno())
        except (AttributeError, TypeError, ValueError):
            raise ValueError("Invalid file object: {!r}".format(fileobj)) from None
    if fd < 0:
        raise ValueError("Invalid file descriptor: {}".format(fd))
    return fd


cdef class _Fired:
    """The fds whose channels fired since the last select(): a C array that
    the channels append to without the GIL.  It holds at most one entry per
    registered channel (a channel files itself once), so growing it on
    register keeps it large enough."""
    cdef int *fds
    cdef int count
    cdef int cap

    def __dealloc__(self):
        PyMem_Free(self.fds)

    cdef int reserve(self, int n) except -1:
        cdef int *p
        if n <= self.cap:
            return 0
        n = n * 2 + 16
        p = <int *>PyMem_Realloc(self.fds, n * sizeof(int))
        if p == NULL:
            raise MemoryError()
        self.fds = p
        self.cap = n
        return 0

    cdef void discard(self, int fd) noexcept:
        cdef int i
        for i in range(self.count):
            if self.fds[i] == fd:
                self.count -= 1
                self.fds[i] = self.fds[self.count]
                return


cdef class _SelectorChannel(Channel):
    cdef _Fired fired
    cdef int ready          # events seen since the last select()
    cdef bint filed         # in fired.fds
    cdef object key         # the SelectorKey

    cdef int fast_event(self, int revents) noexcept nogil:
        if revents & EV_READ and not (self._events & EV_READ):
            # an error or hang-up on a write-only registration: the writer
            # must hear of it (epoll reports EPOLLERR/EPOLLHUP regardless)
            revents = revents | EV_WRITE
        self.ready |= revents
        if not self.filed and self.fired.count < self.fired.cap:
            self.filed = True
            self.fired.fds[self.fired.count] = self.fd
            self.fired.count += 1
        return FAST_BREAK


cdef inline int _mask(int events) noexcept:
    return (EV_READ if events & EVENT_READ else 0) | (EV_WRITE if events & EVENT_WRITE else 0)


class _KeyMap(Mapping):
    """``get_map()``: file object or fd -> SelectorKey, a live view."""
    __slots__ = ("_sel",)

    def __init__(self, sel):
        self._sel = sel

    def __len__(self):
        return len((<ReactorSelector>self._sel)._chans)

    def __getitem__(self, fileobj):
        cdef ReactorSelector sel = self._sel
        try:
            return (<_SelectorChannel>sel._chans[sel._lookup(fileobj)]).key
        except KeyError:
            raise KeyError("{!r} is not registered".format(fileobj)) from None

    def __iter__(self):
        return iter((<ReactorSelector>self._sel)._chans)


cdef class ReactorSelector:
    """``selectors.BaseSelector`` over a reactor ``EventLoop``.

    ``ReactorSelector(loop=None)``: with no loop, the selector makes one and
    closes it with itself.  ``select(timeout)`` runs ``loop.poll(timeout)``:
    one reactor iteration, GIL released while waiting, whatever else is
    registered on the loop served in it.  ``before_poll``, if set, is
    called as ``before_poll(may_wait)`` at the start of each ``select()``
    (an ASGI server sends the output it held back for a batch), and
    ``after_poll``, if set, as ``after_poll()`` when the poll's events are
    dispatched (the responses made in that dispatch go out before asyncio
    runs its callbacks)."""
    cdef readonly EventLoop loop
    cdef public object before_poll
    cdef public object after_poll
    cdef dict _chans             # fd -> _SelectorChannel
    cdef _Fired _fired
    cdef object _map
    cdef bint _owns_loop
    cdef bint _closed
    cdef dict __dict__           # attributes of subclasses and tests (mock.patch)

    def __init__(self, EventLoop loop=None):
        if loop is None:
            loop = EventLoop(name="asyncio")
            self._owns_loop = True
        self.loop = loop
        self._chans = {}
        self._fired = _Fired()
        self._map = _KeyMap(self)

    cdef int _lookup(self, object fileobj) except -2:
        """The fd of fileobj, also for a closed file object still registered."""
        try:
            return _fileobj_to_fd(fileobj)
        except ValueError:
            for ch in self._chans.values():
                if (<_SelectorChannel>ch).key.fileobj is fileobj:
                    return (<_SelectorChannel>ch).fd
            raise

    cdef int _check_open(self) except -1:
        if self._closed:
            raise RuntimeError("the selector is closed")
        return 0

    def register(self, fileobj, events, data=None):
        cdef int fd
        cdef _SelectorChannel ch
        if not isinstance(events, int) or not events or events & ~(EVENT_READ | EVENT_WRITE):
            raise ValueError("Invalid events: {!r}".format(events))
        self._check_open()
        fd = self._lookup(fileobj)
        if fd in self._chans:
            raise KeyError("{!r} (FD {}) is already registered".format(fileobj, fd))
        key = SelectorKey(fileobj, fd, events, data)
        self._fired.reserve(len(self._chans) + 1)
        ch = _SelectorChannel(self.loop, fd)
        ch.fast_ok = True
        ch.fired = self._fired
        ch.key = key
        ch.set_events(_mask(events))     # epoll_ctl: raises for a bad fd
        self._chans[fd] = ch
        return key

    def unregister(self, fileobj):
        cdef int fd
        cdef _SelectorChannel ch
        self._check_open()
        try:
            fd = self._lookup(fileobj)
            ch = self._chans.pop(fd)
        except (KeyError, ValueError):
            raise KeyError("{!r} is not registered".format(fileobj)) from None
        if ch.filed:
            self._fired.discard(fd)
            ch.filed = False
        try:
            ch.remove()
        except OSError:
            pass        # the fd was closed first: the kernel dropped it already
        return ch.key

    def modify(self, fileobj, events, data=None):
        cdef int fd
        cdef _SelectorChannel ch
        self._check_open()
        try:
            fd = self._lookup(fileobj)
            ch = self._chans[fd]
        except (KeyError, ValueError):
            raise KeyError("{!r} is not registered".format(fileobj)) from None
        key = ch.key
        if events != key.events:
            if not isinstance(events, int) or not events or \
                    events & ~(EVENT_READ | EVENT_WRITE):
                raise ValueError("Invalid events: {!r}".format(events))
            try:
                ch.set_events(_mask(events))
            except BaseException:
                # as selectors does (bpo-30014): a failed change unregisters
                self.unregister(fileobj)
                raise
            key = key._replace(events=events, data=data)
        elif data is not key.data:
            key = key._replace(data=data)
        ch.key = key
        return key

    def select(self, timeout=None):
        """Run one reactor iteration (at most ``timeout`` seconds; None:
        until something happens) and return the ``(key, events)`` of the
        registered fds that fired."""
        cdef _Fired fired = self._fired
        cdef _SelectorChannel ch
        cdef int i, fd, ev
        cdef list out
        self._check_open()
        if self.before_poll is not None:
            self.before_poll(fired.count == 0 and (timeout is None or timeout > 0))
        if fired.count == 0:
            if timeout is not None and timeout < 0:
                timeout = 0
            self.loop.poll(timeout)
            if self.after_poll is not None:
                self.after_poll()
        out = []
        i = 0
        while i < fired.count:
            fd = fired.fds[i]
            i += 1
            ch = self._chans.get(fd)
            if ch is None or not ch.filed:
                continue
            ch.filed = False
            ev = ch.ready
            ch.ready = 0
            ev = (EVENT_READ if ev & EV_READ else 0) | (EVENT_WRITE if ev & EV_WRITE else 0)
            ev &= ch.key.events
            if ev:
                out.append((ch.key, ev))
        fired.count = 0
        return out

    def close(self):
        """Unregister everything; close the loop if the selector made it."""
        if self._closed:
            return
        for ch in list(self._chans.values()):
            try:
                (<_SelectorChannel>ch).remove()
            except (OSError, RuntimeError):
                pass
        self._chans.clear()
        self._fired.count = 0
        self._closed = True
        if self._owns_loop and not self.loop.closed:
            self.loop.close()

    def get_key(self, fileobj):
        mapping = self.get_map()
        if mapping is None:
            raise RuntimeError("Selector is closed")
        try:
            return mapping[fileobj]
        except KeyError:
            raise KeyError("{!r} is not registered".format(fileobj)) from None

    def get_map(self):
        return None if self._closed else self._map

    def __enter__(self):
        return self

    def __exit__(self, *args):
        self.close()

    def __repr__(self):
        return "<ReactorSelector fds=%d loop=%r%s>" % (
            len(self._chans), self.loop, " closed" if self._closed else "")


# isinstance(sel, selectors.BaseSelector) holds (a virtual subclass: the ABC's
# own register() is the abstract selector method, hence ABCMeta's)
ABCMeta.register(selectors.BaseSelector, ReactorSelector)


# ---- asyncio's call_soon, without its two Python frames ----------------------------------

import asyncio.base_events
import asyncio.events
import asyncio.tasks

cdef object _Handle = asyncio.events.Handle
cdef object _stock_call_soon = asyncio.base_events.BaseEventLoop.call_soon


# new_task_first_step(): the loop whose next call_soon is a new Task's first
# step, to be run at once rather than queued; what that call_soon was given
cdef class _Capture:
    cdef object loop, coro      # in: the loop and the coroutine of the Task being made
    cdef object step, context   # out: what call_soon was given for its first step

# the capture under way (each call has its own: another thread's loop may make a
# Task while Task() runs Python code in this one, and must not see or clear it)
cdef _Capture _capture = None
cdef object _Task = asyncio.Task
# (loop -> its running task; before 3.12, where this is used)
cdef object _current_tasks = getattr(asyncio.tasks, "_current_tasks", None)


cdef inline bint _is_step_of(object callback, object coro):
    # a Task's step (the C TaskStepMethWrapper: __self__ is its task) for coro
    cdef object task = getattr(callback, "__self__", None)
    return type(task) is _Task and getattr(task, "_coro", None) is coro


def call_soon(self, callback, *args, context=None):
    """``BaseEventLoop.call_soon`` for ``ReactorEventLoop``: the same handle
    appended to the same ``_ready`` queue, without the stock method's two
    Python frames (``call_soon``, ``_call_soon``: a Task's first step pays
    them on every request before Python 3.12).  A closed loop or debug mode
    (its thread and callback checks, the source traceback) goes to the stock
    method.  Inside ``new_task_first_step()`` the new Task's first step is
    handed to that function instead of queued."""
    global _capture
    cdef _Capture c
    if self._debug or self._closed:
        return _stock_call_soon(self, callback, *args, context=context)
    c = _capture
    if c is not None and self is c.loop and not args and context is not None and \
            _is_step_of(callback, c.coro):
        # the step of the Task being made (other code that Task() runs first, a
        # finalizer or the name's __str__, gets its handles as usual)
        _capture = None
        c.step = callback
        c.context = context
        return None         # (Task.__init__ drops what call_soon returns)
    handle = _Handle(callback, args, self, context)
    self._ready.append(handle)
    return handle


def new_task_first_step(loop, coro, name=None):
    """``(task, step, context)``: ``asyncio.Task(coro, loop=loop, name=name)``, whose
    first step the caller runs at once with ``context.run(step)`` instead of
    at the loop's next iteration, as Python 3.12's ``eager_start=True`` does
    (for before 3.12).  ``step`` is None (the task was queued as usual) when
    a task of ``loop`` is running now (its step cannot nest in another's), in
    debug mode, or when ``loop`` does not use ``reactor._selector.call_soon``.
    Loop thread only."""
    global _capture
    cdef _Capture c
    if _current_tasks is None or _current_tasks.get(loop) is not None:
        return _Task(coro, loop=loop, name=name), None, None
    c = _Capture.__new__(_Capture)
    c.loop = loop
    c.coro = coro
    _capture = c
    try:
        task = _Task(coro, loop=loop, name=name)
    finally:
        if _capture is c:       # (not taken: debug mode, another loop's call_soon)
            _capture = None
    return task, c.step, c.context


def get_debug(self):
    """``BaseEventLoop.get_debug`` compiled: every Future and Task asks it
    when made (a Python frame per request before 3.12)."""
    return self._debug


cdef object _stock_call_soon_threadsafe = asyncio.base_events.BaseEventLoop.call_soon_threadsafe


def call_soon_threadsafe(self, callback, *args, context=None):
    """``BaseEventLoop.call_soon_threadsafe`` for ``ReactorEventLoop``: the
    same handle, queue and wakeup, with no Python bytecode run after the
    wakeup byte.  The stock method still runs some: an I/O thread posting a
    request there could be made to drop the GIL to the asyncio thread it had
    just woken (after the switch interval, when the OS had descheduled it),
    and then wait out the app's whole hold of the GIL before it answered
    anything again.  Compiled code is not interrupted: the I/O thread lets
    the GIL go where it waits.  A closed loop or debug mode goes to the stock
    method."""
    if self._debug or self._closed:
        return _stock_call_soon_threadsafe(self, callback, *args, context=context)
    handle = _Handle(callback, args, self, context)
    self._ready.append(handle)
    self._write_to_self()
    return handle


def write_to_self(self):
    """``BaseSelectorEventLoop._write_to_self`` (the wakeup of
    ``call_soon_threadsafe``) for ``ReactorEventLoop``: the byte is sent
    without letting the GIL go.  The stock method's ``socket.send()`` does:
    an I/O thread posting a request could lose the GIL, in the middle of its
    Python work, to the asyncio thread it wakes up, and then wait for the
    app's whole hold of it before it answers anything again, static routes
    too.  A non-blocking send of one byte: EAGAIN means a wakeup is pending
    already; any other error is ignored, as the stock method does."""
    cdef int fd
    csock = self._csock
    if csock is None:
        return
    fd = csock.fileno()
    if fd >= 0:
        c_send(fd, b"\0", 1, MSG_DONTWAIT | MSG_NOSIGNAL)
