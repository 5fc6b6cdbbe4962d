"""EventLoop: at most one per thread.

Owns a dispatcher (epoll or poll), the ChannelMap of every channel registered
on it, and a timer heap.  Other threads reach a loop through exactly three
doors: ``run_in_loop`` / ``queue_in_loop`` (a functor queue) and the seed's
pending channel list (``add_channel_event`` and friends), both under the
loop's Mutex, plus ``wakeup``, which writes to an eventfd the loop watches so
a loop asleep in epoll_wait/poll returns at once.  Lists are swapped out
under the lock and run outside it.

One iteration of ``run()``: dispatch (GIL released while waiting), run the
handlers of the fired channels, fire due timers, apply pending channel
changes, run queued functors.
"""
import logging
import os

from libc.stdint cimport uint64_t
from cpython.ref cimport PyObject
from cpython.mem cimport PyMem_Malloc, PyMem_Realloc, PyMem_Free
from libc.string cimport memcpy
from libc.math cimport ceil, INFINITY
from reactor.includes.config cimport REACTOR_DEBUG
from reactor.includes.posix_extra cimport (
    eventfd, EFD_NONBLOCK, EFD_CLOEXEC, read as c_read, write as c_write,
    close as c_close, pthread_self, timespec, clock_gettime, CLOCK_MONOTONIC, errno, EAGAIN, EINTR)
from reactor._sync cimport Mutex
from reactor._channel cimport (
    Channel, ChannelMap, CH_NEW, CH_ADDED, CH_DELETED, EV_NONE, EV_READ, FAST_DONE, FAST_PROCESS,
    FAST_SLOW, FAST_BREAK)
from reactor._dispatcher cimport EventDispatcher
from reactor._dispatcher import make_dispatcher


cdef extern from *:
    """
    #define RH_QS_BUMP(p) ((void)__atomic_add_fetch(&(p), 1, __ATOMIC_SEQ_CST))
    #define RH_QS_LOAD(p) __atomic_load_n(&(p), __ATOMIC_SEQ_CST)
    """
    void qs_bump "RH_QS_BUMP"(unsigned long long p) nogil
    unsigned long long qs_load "RH_QS_LOAD"(unsigned long long p) nogil

log = logging.getLogger("reactor.loop")

DEBUG = bool(REACTOR_DEBUG)

cdef enum:
    OP_ADD = 1
    OP_UPDATE = 2
    OP_REMOVE = 3


cdef double monotonic() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


def monotonic_time():
    """The loop's clock: CLOCK_MONOTONIC in seconds."""
    return monotonic()


cdef class TimerHandle:
    """A timer from ``run_after`` / ``run_every``.  ``cancel()`` is loop thread
    only; ``rearm(delay)`` moves the deadline and costs one float store when
    the deadline moves later (the heap entry is re-filed lazily when it
    surfaces), which makes per-request idle timeouts cheap.  Loop thread only.
    """

    def cancel(self):
        """Stop the timer; a no-op if it already fired or was cancelled."""
        cdef EventLoop loop = self._loop
        cdef bint filed = self.in_heap and not self.cancelled
        if REACTOR_DEBUG and loop is not None and not loop._closed:
            loop._check_thread("TimerHandle.cancel")
        self.cancelled = True
        self.callback = None
        if filed and loop is not None:
            loop._note_stale_timer()    # its heap entry is dead now

    def rearm(self, double delay):
        """Fire ``delay`` seconds from now instead (re-activates a fired timer)."""
        cdef EventLoop loop = self._loop
        cdef bint was_filed
        if self.callback is None:
            raise RuntimeError("cannot rearm a cancelled timer")
        if delay != delay:
            raise ValueError("timer delay is NaN")
        if REACTOR_DEBUG:
            loop._check_thread("rearm")
        loop._check_open()
        self.when = monotonic() + (delay if delay > 0 else 0)
        self.cancelled = False
        if not self.in_heap or self.when < self.heap_when:
            # earlier than its heap slot (or not filed): file a fresh entry
            was_filed = self.in_heap
            loop._heap_push(self)
            if was_filed:
                loop._note_stale_timer()    # the old entry is stale now

    @property
    def active(self):
        return not self.cancelled and self.in_heap

    def __repr__(self):
        return "<TimerHandle when=%.3f interval=%.3f cancelled=%s>" % (
            self.when, self.interval, self.cancelled)


cdef class _HeapEntry:
    cdef double when
    cdef unsigned long long seq
    cdef TimerHandle timer


cdef inline bint _less(_HeapEntry a, _HeapEntry b):
    return a.when < b.when or (a.when == b.when and a.seq < b.seq)


def _entry_key(_HeapEntry e):
    return (e.when, e.seq)


cdef inline double _gated_deadline(double other, double gated_when, double gate) noexcept nogil:
    """When the loop must next run timers: the first of the other timers,
    and the gated timer once both its time and its gate have come."""
    cdef double g = gate if gate > gated_when else gated_when
    return g if g < other else other


cdef inline int _ms(double s) noexcept nogil:
    """A wait of ``s`` seconds as a poll timeout: whole milliseconds rounded
    up (a timer is never run early), capped at ~23 days (an int)."""
    return <int>ceil(min(s, 2000000.0) * 1000.0)


cdef class EventLoop:
    """An event loop: a dispatcher, a channel map, timers and a functor queue.

    Create it in (or run it from) the thread that owns it.  ``run()`` blocks
    until ``stop()``; ``stop()``, ``run_in_loop``, ``queue_in_loop`` and the
    ``*_channel_event`` methods are thread safe; everything else is loop
    thread only (checked in debug builds; ``assert_in_loop_thread()`` always
    checks).
    """

    def __cinit__(self, *args, **kwargs):
        self._wake_rfd = -1     # so __dealloc__ after a failed __init__ closes nothing
        self._wake_wfd = -1

    def __init__(self, dispatcher=None, name=None):
        if isinstance(dispatcher, EventDispatcher):
            self.dispatcher = dispatcher
        else:
            self.dispatcher = make_dispatcher(dispatcher)
        self.name = name if name is not None else "loop"
        self.channel_map = ChannelMap()
        self._mutex = Mutex()
        self._pending_channels = []
        self._functors = []
        self._timers = []
        self._timer_seq = 0
        self._stale_timers = 0
        self._thread_id = pthread_self()
        self._quit = False
        self._looping = False
        self._closed = False
        self._calling_functors = False
        self._wakeup_pending = False
        self.cached_now = monotonic()
        self._wake_rfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)
        if self._wake_rfd < 0:
            raise OSError(errno, "eventfd: " + os.strerror(errno))
        self._wake_wfd = self._wake_rfd
        self.dispatcher.add(self._wake_rfd, EV_READ)

    def __dealloc__(self):
        if not self._closed and self._wake_rfd >= 0:
            c_close(self._wake_rfd)
        PyMem_Free(self._batch_objs)
        PyMem_Free(self._batch_gens)

    # ---- thread checks ---------------------------------------------------

    cdef bint in_loop_thread(self) noexcept nogil:
        return self._thread_id == pthread_self()

    cdef unsigned long long quiescent_count(self) noexcept nogil:
        """Bumped on entering and on leaving every wait, so it is odd while
        the loop sleeps in epoll_wait/poll, when it holds no pointer into
        shared read-mostly data (the static route table).  A reader that saw
        it odd, or saw it change, knows the loop has let go of whatever it
        read before.  Thread safe."""
        return qs_load(self._qs)

    def quiescent_state(self):
        """``quiescent_count()`` from Python (tests).  Thread safe."""
        return qs_load(self._qs)

    def is_in_loop_thread(self):
        """True in the thread that runs (or created) this loop.  Thread safe."""
        return self._thread_id == pthread_self()

    def assert_in_loop_thread(self):
        """Raise RuntimeError unless called from the loop's thread.  Thread safe."""
        self._check_thread("assert_in_loop_thread")

    cdef int _check_thread(self, str what) except -1:
        if self._thread_id != pthread_self():
            raise RuntimeError(
                "EventLoop %r: %s() called from thread %d, but the loop belongs to thread %d"
                % (self.name, what, pthread_self(), self._thread_id))
        return 0

    cdef int _check_open(self) except -1:
        if self._closed:
            raise RuntimeError("EventLoop %r is closed" % self.name)
        return 0

    @property
    def closed(self):
        return self._closed

    @property
    def running(self):
        return self._looping

    @property
    def dispatcher_name(self):
        return self.dispatcher.name

    @property
    def channels(self):
        """The ChannelMap (loop thread only)."""
        return self.channel_map

    # ---- run / stop --------------------------------------------------------

    def run(self):
        """Run until ``stop()``.  The calling thread becomes the loop's thread.

        Each iteration waits in the dispatcher and offers every fired event
        to its channel's ``fast_event`` in the same GIL-released block
        (compiled connections read, and answer static routes, there); only
        events that need Python are then handled with the GIL, once per batch.
        """
        self._check_open()
        if self._looping:
            raise RuntimeError("EventLoop %r is already running" % self.name)
        self._thread_id = pthread_self()
        self._looping = True
        try:
            while not self._quit:
                self._iterate(False, 0.0)
        finally:
            self._quit = False
            self._looping = False

    def poll(self, timeout=None):
        """Run one iteration and return: wait at most ``timeout`` seconds
        (None: until an event, a due timer or a queued functor; 0: do not
        wait), handle what fired, run due timers, pending channel changes and
        functors.  The calling thread becomes the loop's thread.

        The deadline holds inside the GIL-released part too: events answered
        there without Python (static routes) do not keep the call past it.
        This is what lets another scheduler drive the loop (the asyncio
        selector in ``reactor._selector``).  Returns the number of events
        that fired.  Not re-entrant: RuntimeError while the loop runs."""
        cdef double t
        self._check_open()
        if self._looping:
            raise RuntimeError("EventLoop %r is already running" % self.name)
        if timeout is None:
            t = -1.0
        else:
            t = timeout
            if t != t:
                raise ValueError("poll timeout is NaN")
            if t < 0:
                t = 0.0
        self._thread_id = pthread_self()
        self._looping = True
        try:
            return self._iterate(t >= 0, monotonic() + t if t > 0 else 0.0)
        finally:
            self._quit = False
            self._looping = False

    cdef int _grow_batch(self, int cap) except -1:
        cdef PyObject **objs
        cdef unsigned long long *gens
        if self._batch_cap >= cap:
            return 0
        objs = <PyObject **>PyMem_Realloc(self._batch_objs, cap * sizeof(PyObject *))
        if objs == NULL:
            raise MemoryError()
        self._batch_objs = objs
        gens = <unsigned long long *>PyMem_Realloc(self._batch_gens,
                                                   cap * sizeof(unsigned long long))
        if gens == NULL:
            raise MemoryError()
        self._batch_gens = gens
        self._batch_cap = cap
        return 0

    cdef int _iterate(self, bint bounded, double deadline) except -1:
        """One iteration (see ``run``); with ``bounded``, never wait past the
        monotonic ``deadline`` (0: do not wait at all).  Returns the number
        of fired events."""
        cdef int n, i, fd, timeout, code
        cdef bint all_done, has_deadline
        cdef double next_deadline, wait_s
        cdef int wake = self._wake_rfd
        cdef EventDispatcher disp = self.dispatcher
        cdef ChannelMap cmap = self.channel_map
        cdef object ch
        cdef PyObject *p
        cdef PyObject **objs
        cdef unsigned long long *gens
        cdef _HeapEntry top
        cdef list h = self._timers
        cdef double *gate = NULL       # set: the first timer due is the gated one
        cdef double gated_when = 0.0, other = INFINITY, now
        cdef int t
        cdef bint beat_cut
        timeout = self._next_timeout_ms()
        self._check_open()
        disp._prepare()
        self._grow_batch(disp.fired_cap)
        objs = self._batch_objs
        gens = self._batch_gens
        has_deadline = h
        next_deadline = (<_HeapEntry>h[0]).when if has_deadline else 0.0
        if has_deadline and self._gate != NULL and \
                not (self._functors or self._pending_channels):
            top = <_HeapEntry>h[0]
            if top.timer is self._gated and top.seq == top.timer.heap_seq and \
                    not top.timer.cancelled:
                # wait for the other timers (the next is a child of the top), or
                # for the gated one once its gate opens; the gate may come
                # earlier while the loop runs without the GIL
                gate = self._gate
                gated_when = top.when
                for i in range(1, 3 if len(h) > 2 else len(h)):
                    if (<_HeapEntry>h[i]).when < other:
                        other = (<_HeapEntry>h[i]).when
                next_deadline = _gated_deadline(other, gated_when, gate[0])
                wait_s = next_deadline - monotonic()
                timeout = 0 if wait_s <= 0 else _ms(wait_s)
        if bounded:
            # the caller's deadline, when it comes first
            if deadline <= 0:
                timeout = 0
            else:
                wait_s = deadline - monotonic()
                i = 0 if wait_s <= 0 else _ms(wait_s)
                if timeout < 0 or i < timeout:
                    timeout = i
            if not has_deadline or deadline < next_deadline:
                next_deadline = deadline
            if deadline < other:
                other = deadline
            has_deadline = True
        while True:
            with nogil:
                # waits, then lets each fired channel handle its event
                # without the GIL; touches only the dispatcher's fired
                # arrays, the channel map and the channels' C state, all
                # owned by this loop thread.  While every event is fully
                # handled here (static routes) and no deadline is due, it
                # keeps looping without ever taking the GIL.
                if self._beat != NULL:
                    # later passes reuse the clock read after the last wait or batch
                    now = monotonic()
                while True:
                    t = timeout
                    beat_cut = False
                    if self._beat != NULL:
                        if now >= self._beat_next:
                            memcpy(self._beat, &now, sizeof(double))
                            self._beat_next = now + self._beat_every
                        i = _ms(self._beat_next - now)
                        if t < 0 or i < t:
                            t = i
                            beat_cut = True
                    qs_bump(self._qs)       # odd: asleep, holding nothing shared
                    n = disp.wait_nogil(t)
                    qs_bump(self._qs)
                    # the time for this batch (the deadlines its events set):
                    # this loop may go on for long without taking the GIL
                    self.cached_now = now = monotonic()
                    if n == 0 and (beat_cut or gate != NULL):
                        # a timeout, but nothing is due if it was the heartbeat's,
                        # or the gated timer's time while its gate is still shut
                        if has_deadline:
                            if gate != NULL:
                                next_deadline = _gated_deadline(other, gated_when, gate[0])
                            wait_s = next_deadline - self.cached_now
                            if wait_s <= 0:
                                break
                            timeout = _ms(wait_s)
                        continue
                    if n <= 0:
                        break       # a timeout (timers / functors due) or an error
                    all_done = True
                    for i in range(n):
                        fd = disp.fired_fd[i]
                        p = cmap.lookup(fd) if fd != wake else NULL
                        objs[i] = p
                        if p != NULL:
                            gens[i] = (<Channel>p)._gen
                        code = FAST_SLOW
                        if p != NULL and (<Channel>p).fast_ok:
                            code = (<Channel>p).fast_event(disp.fired_events[i])
                            if code == FAST_DONE or code == FAST_BREAK:
                                objs[i] = NULL
                            elif code == FAST_PROCESS:
                                disp.fired_events[i] = -1
                        if code != FAST_DONE:
                            all_done = False    # the wakeup fd, a Python event or a break
                    if not all_done or self._quit:
                        break
                    if has_deadline:
                        if gate != NULL:
                            next_deadline = _gated_deadline(other, gated_when, gate[0])
                        now = monotonic()
                        wait_s = next_deadline - now
                        if wait_s <= 0:
                            break   # a timer or the caller's deadline is due
                        timeout = _ms(wait_s)
            if n == -EINTR and bounded and deadline > 0:
                # a signal: run its Python handler (which may raise), then
                # wait out the rest of the caller's time (PEP 475)
                disp.check_result(n)
                wait_s = deadline - monotonic()
                if wait_s > 0:
                    timeout = self._next_timeout_ms()
                    i = _ms(wait_s)
                    if timeout < 0 or i < timeout:
                        timeout = i
                    # the handler may have queued functors or timers: the rest
                    # of the wait ends at the first timer, gated or not
                    gate = NULL
                    next_deadline = deadline
                    if h and (<_HeapEntry>h[0]).when < deadline:
                        next_deadline = (<_HeapEntry>h[0]).when
                    continue
            break
        n = disp.check_result(n)
        self.cached_now = monotonic()
        for i in range(n):
            fd = disp.fired_fd[i]
            if fd == wake:
                self._handle_wakeup()
                continue
            p = objs[i]
            if p == NULL or cmap.lookup(fd) != p or (<Channel>p)._gen != gens[i]:
                # handled, or closed earlier in this batch; a new
                # channel on the same fd (even one at the same address)
                # has a new registration number and never gets the
                # event of the old one
                continue
            ch = <object>p
            try:
                if disp.fired_events[i] == -1:
                    (<Channel>ch).after_fast()
                else:
                    (<Channel>ch).handle_event(disp.fired_events[i])
            except Exception:
                log.exception("unhandled error in %r", ch)
        if self._timers:
            self._run_timers()
        self._do_pending()
        return n

    def run_once(self, timeout=0):
        """Run a single iteration waiting at most ``timeout`` seconds (tests)."""
        self._check_open()
        self._quit = False
        self.queue_in_loop(self.stop)
        self.run()

    def stop(self):
        """Make ``run()`` return after the current iteration.  Thread safe."""
        self._quit = True
        if not self.in_loop_thread() and not self._closed:
            self._wakeup()

    quit = stop

    def close(self):
        """Release the dispatcher and the wakeup fd; the loop cannot run again.

        Channels still registered are dropped from the map (their fds are not
        closed: a channel does not own its fd).  Loop thread only, not running.
        """
        if self._closed:
            return
        if self._looping:
            raise RuntimeError("EventLoop %r: close() while running; stop() it first" % self.name)
        with self._mutex:
            # under the mutex: _wakeup() and the queues check _closed under it,
            # so no thread writes to the eventfd after it is closed (or reused)
            self._closed = True
            c_close(self._wake_rfd)
            self._wake_rfd = -1
            self._wake_wfd = -1
            funcs = self._functors
            chans = self._pending_channels
            self._functors = []
            self._pending_channels = []
        del funcs, chans                # dropped outside the lock
        for ch in self.channel_map.channels():
            (<Channel>ch)._state = CH_NEW
            self.channel_map.drop((<Channel>ch).fd)
        self.dispatcher.close()
        self._timers = []
        self._stale_timers = 0
        self._gated = None
        self._gate = NULL
        self._gate_owner = None
        self._beat = NULL
        self._beat_mem = None

    # ---- wakeup and functors ------------------------------------------------

    cdef inline void _lock(self):
        # with the GIL held: never block on the mutex while holding the GIL
        # (its holder may need the GIL, e.g. a finalizer run by an allocation)
        if not self._mutex.try_acquire_nogil():
            with nogil:
                self._mutex.acquire_nogil()

    cdef int _wakeup(self) except -1:
        cdef uint64_t one = 1
        cdef ssize_t n = 0
        cdef int err = 0
        self._lock()
        if not self._closed:        # close() shuts the eventfd under this mutex
            n = c_write(self._wake_wfd, &one, sizeof(one))
            if n < 0:
                err = errno
        self._mutex.release_nogil()
        if n < 0 and err != EAGAIN and err != EINTR:
            raise OSError(err, "wakeup write: " + os.strerror(err))
        return 0

    def wakeup(self):
        """Make a loop blocked in dispatch return now.  Thread safe."""
        self._check_open()
        self._wakeup()

    cdef int _handle_wakeup(self) except -1:
        cdef uint64_t v
        c_read(self._wake_rfd, &v, sizeof(v))
        return 0

    cpdef queue_in_loop(self, fn):
        """Run ``fn()`` in the loop thread on its next iteration.  Thread safe."""
        cdef bint closed, first = False
        self._check_open()
        if not callable(fn):
            raise TypeError("queue_in_loop() needs a callable, got %r" % (fn,))
        self._lock()
        try:
            closed = self._closed       # checked again under the lock: close() races
            if not closed:
                first = not self._functors
                self._functors.append(fn)   # may raise MemoryError: unlock anyway
        finally:
            self._mutex.release_nogil()
        if closed:
            self._check_open()
        # one wakeup per batch: a functor queued behind others is run with them
        # (the loop drains its wakeup fd before it takes the list)
        if (first and not self.in_loop_thread()) or self._calling_functors:
            self._wakeup()

    cpdef run_in_loop(self, fn):
        """Run ``fn()`` now if in the loop thread, else queue it.  Thread safe."""
        if self._thread_id == pthread_self():
            if not callable(fn):
                raise TypeError("run_in_loop() needs a callable, got %r" % (fn,))
            fn()
        else:
            self.queue_in_loop(fn)

    def pending_functors(self):
        """Number of queued functors.  Thread safe."""
        cdef Py_ssize_t n
        self._lock()
        n = len(self._functors)
        self._mutex.release_nogil()
        return n

    cdef int _do_pending(self) except -1:
        cdef list chans, funcs
        cdef Py_ssize_t i
        if not self._pending_channels and not self._functors:
            return 0
        self._lock()
        try:
            chans = self._pending_channels
            funcs = self._functors
            self._pending_channels = []     # may raise MemoryError: unlock anyway
            self._functors = []
        finally:
            self._mutex.release_nogil()
        for op, ch in chans:
            try:
                if op == OP_REMOVE:
                    self.remove_channel_c(ch)
                else:
                    self.update_channel_c(ch)
            except Exception:
                log.exception("pending channel change failed for %r", ch)
        self._calling_functors = True
        try:
            for fn in funcs:
                try:
                    fn()
                except Exception:
                    log.exception("unhandled error in functor %r", fn)
        finally:
            self._calling_functors = False
        return 0

    # ---- channels ------------------------------------------------------------

    cdef int update_channel_c(self, Channel ch) except -1:
        if REACTOR_DEBUG:
            self._check_thread("update_channel")
        self._check_open()
        if ch._loop is not self:
            raise ValueError("%r belongs to another loop" % (ch,))
        if ch._state == CH_ADDED:
            self.dispatcher.update(ch.fd, ch._events)
        else:
            self.dispatcher.add(ch.fd, ch._events)
            self.channel_map.put(ch.fd, ch)
            ch._state = CH_ADDED
            self._chan_gen += 1
            ch._gen = self._chan_gen
        return 0

    cdef int remove_channel_c(self, Channel ch) except -1:
        if REACTOR_DEBUG:
            self._check_thread("remove_channel")
        if ch._state == CH_ADDED:
            if not self._closed:
                try:
                    self.dispatcher.remove(ch.fd)
                except OSError:
                    pass    # the fd was closed already: the kernel dropped it
            self.channel_map.drop(ch.fd)
        ch._state = CH_DELETED
        return 0

    def update_channel(self, Channel ch not None):
        """Register ch or apply its new interest mask.  Loop thread only."""
        self.update_channel_c(ch)

    def remove_channel(self, Channel ch not None):
        """Unregister ch.  Loop thread only."""
        self.remove_channel_c(ch)

    def has_channel(self, Channel ch not None):
        """True if ch is registered here.  Loop thread only."""
        return self.channel_map.lookup(ch.fd) == <void *>ch

    cdef int _queue_channel_op(self, int op, Channel ch) except -1:
        cdef bint closed
        self._check_open()
        if self.in_loop_thread():
            if op == OP_REMOVE:
                self.remove_channel_c(ch)
            else:
                self.update_channel_c(ch)
            return 0
        self._lock()
        try:
            closed = self._closed       # checked again under the lock: close() races
            if not closed:
                self._pending_channels.append((op, ch))     # may raise: unlock anyway
        finally:
            self._mutex.release_nogil()
        if closed:
            self._check_open()
        self._wakeup()
        return 0

    def add_channel_event(self, Channel ch not None):
        """Register ch (now, or via the pending list from another thread).  Thread safe."""
        self._queue_channel_op(OP_ADD, ch)

    def update_channel_event(self, Channel ch not None):
        """Apply ch's interest mask (now or via the pending list).  Thread safe."""
        self._queue_channel_op(OP_UPDATE, ch)

    def remove_channel_event(self, Channel ch not None):
        """Unregister ch (now or via the pending list).  Thread safe."""
        self._queue_channel_op(OP_REMOVE, ch)

    # ---- timers ------------------------------------------------------------

    cdef void _heap_push(self, TimerHandle t):
        cdef _HeapEntry e = _HeapEntry.__new__(_HeapEntry)
        cdef list h = self._timers
        cdef Py_ssize_t i, parent
        self._timer_seq += 1
        e.when = t.when
        e.seq = self._timer_seq
        e.timer = t
        t.heap_when = t.when
        t.heap_seq = e.seq
        t.in_heap = True
        h.append(e)
        i = len(h) - 1
        while i > 0:
            parent = (i - 1) >> 1
            if _less(e, <_HeapEntry>h[parent]):
                h[i] = h[parent]
                i = parent
            else:
                break
        h[i] = e

    cdef TimerHandle _heap_pop(self):
        cdef list h = self._timers
        cdef _HeapEntry top = <_HeapEntry>h[0]
        cdef _HeapEntry last = <_HeapEntry>h.pop()
        cdef Py_ssize_t n = len(h), i = 0, c
        if n:
            while True:
                c = 2 * i + 1
                if c >= n:
                    break
                if c + 1 < n and _less(<_HeapEntry>h[c + 1], <_HeapEntry>h[c]):
                    c += 1
                if _less(<_HeapEntry>h[c], last):
                    h[i] = h[c]
                    i = c
                else:
                    break
            h[i] = last
        if top.timer.heap_seq == top.seq:
            top.timer.in_heap = False
            return top.timer
        return None   # a stale entry: the timer was re-filed earlier

    cdef int _note_stale_timer(self) except -1:
        """One more heap entry is dead (cancelled or re-filed).  When dead
        entries are most of the heap, drop them, so cancelling or re-arming
        earlier over and over keeps the heap small."""
        cdef list h = self._timers
        cdef list live
        cdef _HeapEntry e
        self._stale_timers += 1
        if self._stale_timers < 64 or 2 * self._stale_timers < len(h):
            return 0
        live = []
        for e in h:
            if e.seq != e.timer.heap_seq:
                continue                    # re-filed: another entry is live
            if e.timer.cancelled:
                e.timer.in_heap = False
                continue
            live.append(e)
        live.sort(key=_entry_key)           # a sorted list is a valid heap
        h[:] = live                         # in place: _run_timers may be walking it
        self._stale_timers = 0
        return 0

    cdef int _next_timeout_ms(self):
        cdef double d
        if self._functors or self._pending_channels:
            return 0
        if not self._timers:
            return -1
        d = (<_HeapEntry>self._timers[0]).when - monotonic()
        if d <= 0:
            return 0
        return _ms(d)

    cdef int _run_timers(self) except -1:
        cdef double now = self.cached_now
        cdef TimerHandle t
        cdef object cb
        while self._timers and (<_HeapEntry>self._timers[0]).when <= now:
            t = self._heap_pop()
            if t is None or t.cancelled:
                if self._stale_timers > 0:
                    self._stale_timers -= 1
                continue
            if t.when > now:           # re-armed later: file it again
                self._heap_push(t)
                continue
            cb = t.callback
            if t.interval > 0:
                t.when = now + t.interval
                self._heap_push(t)
            try:
                cb()
            except Exception:
                log.exception("unhandled error in timer callback %r", cb)
        return 0

    def set_heartbeat(self, mem, Py_ssize_t offset, double interval):
        """Stamp ``time.monotonic()``, a C double, at ``mem[offset:offset + 8]``
        (a writable buffer: a supervisor's shared mmap) at least every
        ``interval`` seconds while the loop runs, idle or not.  Without the
        GIL: a thread that holds the GIL (an app) stops the beats of a loop
        only when that loop needs the GIL, not those of one that waits or
        answers from C.  ``mem=None`` stops.  Loop thread only."""
        cdef unsigned char[::1] buf
        if REACTOR_DEBUG:
            self._check_thread("set_heartbeat")
        if mem is None:
            self._beat = NULL
            self._beat_mem = None
            return
        if not interval > 0:
            raise ValueError("interval must be > 0")
        buf = mem
        if offset < 0 or offset > buf.shape[0] - <Py_ssize_t>sizeof(double):
            raise ValueError("heartbeat offset %d out of the buffer (%d bytes)"
                             % (offset, buf.shape[0]))
        self._beat_mem = buf
        self._beat = <double *>&buf[offset]
        self._beat_every = interval
        self._beat_next = 0.0       # the next wait stamps it

    cdef int gate_timer(self, TimerHandle t, double *gate, object owner) except -1:
        """Gate timer ``t`` (one per loop; ``t=None`` ungates): while the loop
        waits without the GIL, it does not wake up for ``t`` before the
        monotonic time ``gate[0]``, a value ``owner`` keeps (and may lower at
        any time from this thread, also without the GIL).  A periodic check
        that has nothing to do until some deadline (HTTP timeouts) thus never
        takes the GIL from an app that holds it; when the loop takes the GIL
        anyway, a due ``t`` runs as usual.  Loop thread only."""
        if REACTOR_DEBUG:
            self._check_thread("gate_timer")
        self._gated = t
        self._gate = gate if t is not None else NULL
        self._gate_owner = owner if t is not None else None
        return 0

    cdef TimerHandle _add_timer(self, double when, double interval, callback):
        if REACTOR_DEBUG:
            self._check_thread("run_after")
        self._check_open()
        if not callable(callback):
            raise TypeError("timer callback must be callable")
        if when != when:
            raise ValueError("timer deadline is NaN")
        cdef TimerHandle t = TimerHandle.__new__(TimerHandle)
        t.when = when
        t.interval = interval
        t.callback = callback
        t._loop = self
        self._heap_push(t)
        return t

    cpdef TimerHandle run_after(self, double delay, callback):
        """Call ``callback()`` once, ``delay`` seconds from now.  Loop thread only."""
        return self._add_timer(monotonic() + (delay if delay > 0 else 0), 0, callback)

    def run_every(self, double interval, callback):
        """Call ``callback()`` every ``interval`` seconds.  Loop thread only."""
        if not interval > 0:
            raise ValueError("interval must be > 0")
        return self._add_timer(monotonic() + interval, interval, callback)

    def run_at(self, double when, callback):
        """Call ``callback()`` at monotonic time ``when``.  Loop thread only."""
        return self._add_timer(when, 0, callback)

    def cancel(self, TimerHandle timer not None):
        """Cancel a timer.  Loop thread only."""
        timer.cancel()

    def time(self):
        """The loop's clock (monotonic seconds)."""
        return monotonic()

    def __repr__(self):
        return "<EventLoop %r dispatcher=%s channels=%d%s>" % (
            self.name, self.dispatcher.name, len(self.channel_map),
            " closed" if self._closed else "")
