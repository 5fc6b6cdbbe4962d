"""Event dispatchers: the only code that waits for I/O readiness.

Each backend implements ``add / update / remove / _dispatch / close`` and,
like the backends of redis' ``ae``, never calls a handler: ``_dispatch`` only
fills the fired arrays with ``(fd, EV_READ|EV_WRITE)``.  Error and hang-up
conditions are reported as EV_READ so a close flows through the read path.
``make_dispatcher(name)`` chooses a backend by name; the environment variable
``REACTOR_DISPATCHER`` overrides the default.
"""
import os
import sys

from cpython.exc cimport PyErr_CheckSignals
from cpython.mem cimport PyMem_Malloc, PyMem_Realloc, PyMem_Free
from libc.string cimport memset
from reactor.includes.posix_extra cimport (
    epoll_event, epoll_create1, epoll_ctl, epoll_wait, EPOLLIN, EPOLLOUT, EPOLLERR,
    EPOLLHUP, EPOLLPRI, EPOLLRDHUP, EPOLL_CTL_ADD, EPOLL_CTL_MOD, EPOLL_CTL_DEL,
    EPOLL_CLOEXEC, pollfd, poll, nfds_t, POLLIN, POLLOUT, POLLERR, POLLHUP, POLLNVAL,
    POLLPRI, close as c_close, errno, EINTR, EEXIST, ENOENT, EBADF, fcntl, F_GETFD)
from reactor._channel cimport EV_READ, EV_WRITE

cdef enum:
    EPOLL_MAX_EVENTS = 4096


cdef inline int _check_events(int events) except -1:
    if events & ~(EV_READ | EV_WRITE):
        raise ValueError("events must be a combination of READ (1) and WRITE (2)")
    return 0


cdef class EventDispatcher:
    """Interface of a readiness backend.  Loop thread only."""

    def __cinit__(self, *args, **kwargs):
        self.fired_cap = 64
        self.fired_fd = <int *>PyMem_Malloc(self.fired_cap * sizeof(int))
        self.fired_events = <int *>PyMem_Malloc(self.fired_cap * sizeof(int))
        if self.fired_fd == NULL or self.fired_events == NULL:
            raise MemoryError()
        self.closed = False

    def __dealloc__(self):
        PyMem_Free(self.fired_fd)
        PyMem_Free(self.fired_events)

    cdef int _grow_fired(self, int n) except -1:
        cdef int *a
        cdef int *b
        if n <= self.fired_cap:
            return 0
        a = <int *>PyMem_Realloc(self.fired_fd, n * sizeof(int))
        if a == NULL:
            raise MemoryError()
        self.fired_fd = a
        b = <int *>PyMem_Realloc(self.fired_events, n * sizeof(int))
        if b == NULL:
            raise MemoryError()
        self.fired_events = b
        self.fired_cap = n
        return 0

    cpdef add(self, int fd, int events):
        """Start watching fd for events.  Loop thread only."""
        raise NotImplementedError

    cpdef update(self, int fd, int events):
        """Change the events watched on fd.  Loop thread only."""
        raise NotImplementedError

    cpdef remove(self, int fd):
        """Stop watching fd.  Loop thread only."""
        raise NotImplementedError

    cdef int _prepare(self) except -1:
        """With the GIL, before wait_nogil: make the fired arrays big enough."""
        raise NotImplementedError

    cdef int wait_nogil(self, int timeout_ms) noexcept nogil:
        """Wait (GIL not needed) and fill the fired arrays; returns the fired
        count or -errno.  Call _prepare() first."""
        return 0

    cdef int _dispatch(self, int timeout_ms) except -1:
        cdef int n
        self._check_open()
        self._prepare()
        with nogil:
            # waits on this dispatcher's kernel object; fills the fired arrays,
            # which the loop thread owns
            n = self.wait_nogil(timeout_ms)
        return self.check_result(n)

    cdef int check_result(self, int n) except -1:
        """Turn a wait_nogil result into a count, or raise OSError."""
        if n >= 0:
            return n
        if -n == EINTR:
            # run Python signal handlers now (main thread): nothing else in
            # the loop executes bytecode, so SIGTERM/SIGINT would be ignored
            PyErr_CheckSignals()
            return 0
        raise OSError(-n, "%s wait: %s" % (self.name, os.strerror(-n)))

    cpdef close(self):
        """Release the backend's resources.  Loop thread only."""
        self.closed = True

    def dispatch(self, timeout=None):
        """Wait up to ``timeout`` seconds (None = forever) and return the
        fired ``[(fd, events), ...]``.  The GIL is released while waiting.
        Loop thread only."""
        cdef int ms = -1
        cdef int i, n
        if timeout is not None:
            if timeout < 0:
                raise ValueError("timeout must be >= 0 or None")
            ms = <int>min(timeout * 1000.0 + 0.999, 2147483647.0)
        n = self._dispatch(ms)
        return [(self.fired_fd[i], self.fired_events[i]) for i in range(n)]

    cdef int _check_open(self) except -1:
        if self.closed:
            raise RuntimeError("%s is closed" % type(self).__name__)
        return 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


cdef class EpollDispatcher(EventDispatcher):
    """epoll(7), level-triggered.  Loop thread only."""

    def __cinit__(self, *args, **kwargs):
        self.name = "epoll"
        self.epfd = epoll_create1(EPOLL_CLOEXEC)
        if self.epfd < 0:
            raise OSError(errno, "epoll_create1: " + os.strerror(errno))
        self.evs_cap = 64
        self.evs = <epoll_event *>PyMem_Malloc(self.evs_cap * sizeof(epoll_event))
        if self.evs == NULL:
            raise MemoryError()

    def __dealloc__(self):
        if self.epfd >= 0:
            c_close(self.epfd)
            self.epfd = -1
        PyMem_Free(self.evs)

    cdef int _ctl(self, int op, int fd, int events) except -1:
        cdef epoll_event ev
        self._check_open()
        if fd < 0:
            raise ValueError("invalid file descriptor: %d" % fd)
        _check_events(events)
        memset(&ev, 0, sizeof(ev))
        ev.events = (EPOLLIN | EPOLLPRI | EPOLLRDHUP if events & EV_READ else 0) | \
                    (EPOLLOUT if events & EV_WRITE else 0)
        ev.data.fd = fd
        if epoll_ctl(self.epfd, op, fd, &ev) < 0:
            raise OSError(errno, "epoll_ctl(fd=%d): %s" % (fd, os.strerror(errno)))
        return 0

    cpdef add(self, int fd, int events):
        self._ctl(EPOLL_CTL_ADD, fd, events)

    cpdef update(self, int fd, int events):
        self._ctl(EPOLL_CTL_MOD, fd, events)

    cpdef remove(self, int fd):
        cdef epoll_event ev
        self._check_open()
        if fd < 0:
            raise ValueError("invalid file descriptor: %d" % fd)
        if epoll_ctl(self.epfd, EPOLL_CTL_DEL, fd, &ev) < 0:
            raise OSError(errno, "epoll_ctl(DEL, fd=%d): %s" % (fd, os.strerror(errno)))

    cdef int _prepare(self) except -1:
        cdef epoll_event *p
        if self.evs_full and self.evs_cap < EPOLL_MAX_EVENTS:
            # the last wait filled every slot: offer more next time
            p = <epoll_event *>PyMem_Realloc(self.evs, 2 * self.evs_cap * sizeof(epoll_event))
            if p != NULL:
                self.evs = p
                self.evs_cap *= 2
        self.evs_full = False
        self._grow_fired(self.evs_cap)
        return 0

    cdef int wait_nogil(self, int timeout_ms) noexcept nogil:
        cdef int n, i, e, r
        cdef epoll_event *p
        n = epoll_wait(self.epfd, self.evs, self.evs_cap, timeout_ms)
        if n < 0:
            return -errno
        for i in range(n):
            p = &self.evs[i]
            e = p.events
            r = 0
            if e & (EPOLLIN | EPOLLPRI | EPOLLRDHUP | EPOLLERR | EPOLLHUP):
                r |= EV_READ
            if e & EPOLLOUT:
                r |= EV_WRITE
            self.fired_fd[i] = p.data.fd
            self.fired_events[i] = r
        self.evs_full = n == self.evs_cap
        return n

    cpdef close(self):
        if self.epfd >= 0:
            c_close(self.epfd)
            self.epfd = -1
        self.closed = True

    def fileno(self):
        return self.epfd


cdef class PollDispatcher(EventDispatcher):
    """poll(2) over a dense pollfd array; fd -> slot index table.  Loop thread only."""

    def __cinit__(self, *args, **kwargs):
        self.name = "poll"
        self.pfds_cap = 64
        self.npfds = 0
        self.pfds = <pollfd *>PyMem_Malloc(self.pfds_cap * sizeof(pollfd))
        self.index_cap = 64
        self.index_of = <int *>PyMem_Malloc(self.index_cap * sizeof(int))
        if self.pfds == NULL or self.index_of == NULL:
            raise MemoryError()
        memset(self.index_of, 0xff, self.index_cap * sizeof(int))   # all -1

    def __dealloc__(self):
        PyMem_Free(self.pfds)
        PyMem_Free(self.index_of)

    cdef short _mask(self, int events):
        return (POLLIN | POLLPRI if events & EV_READ else 0) | (POLLOUT if events & EV_WRITE else 0)

    cdef int _slot(self, int fd):
        if 0 <= fd < self.index_cap:
            return self.index_of[fd]
        return -1

    cpdef add(self, int fd, int events):
        cdef int newcap, err
        cdef void *p
        self._check_open()
        if fd < 0:
            raise ValueError("invalid file descriptor: %d" % fd)
        _check_events(events)
        if self._slot(fd) >= 0:
            raise OSError(EEXIST, "poll dispatcher: fd %d already added" % fd)
        if fcntl(fd, F_GETFD) < 0:
            # poll() itself accepts any fd: report a closed one now, as epoll does
            err = errno
            raise OSError(err, "poll dispatcher: fd %d: %s" % (fd, os.strerror(err)))
        if fd >= self.index_cap:
            newcap = self.index_cap
            while newcap <= fd:
                newcap *= 2
            p = PyMem_Realloc(self.index_of, newcap * sizeof(int))
            if p == NULL:
                raise MemoryError()
            self.index_of = <int *>p
            memset(self.index_of + self.index_cap, 0xff, (newcap - self.index_cap) * sizeof(int))
            self.index_cap = newcap
        if self.npfds == self.pfds_cap:
            p = PyMem_Realloc(self.pfds, 2 * self.pfds_cap * sizeof(pollfd))
            if p == NULL:
                raise MemoryError()
            self.pfds = <pollfd *>p
            self.pfds_cap *= 2
        self.pfds[self.npfds].fd = fd
        self.pfds[self.npfds].events = self._mask(events)
        self.pfds[self.npfds].revents = 0
        self.index_of[fd] = self.npfds
        self.npfds += 1

    cpdef update(self, int fd, int events):
        self._check_open()
        _check_events(events)
        cdef int i = self._slot(fd)
        if i < 0:
            raise OSError(ENOENT, "poll dispatcher: fd %d not added" % fd)
        self.pfds[i].events = self._mask(events)

    cpdef remove(self, int fd):
        self._check_open()
        cdef int i = self._slot(fd)
        cdef int last
        if i < 0:
            raise OSError(ENOENT, "poll dispatcher: fd %d not added" % fd)
        last = self.npfds - 1
        if i != last:
            self.pfds[i] = self.pfds[last]
            self.index_of[self.pfds[i].fd] = i
        self.index_of[fd] = -1
        self.npfds -= 1

    cdef int _prepare(self) except -1:
        self._grow_fired(self.npfds if self.npfds > 0 else 1)
        return 0

    cdef int wait_nogil(self, int timeout_ms) noexcept nogil:
        cdef int n, i, k = 0, r
        cdef short e
        n = poll(self.pfds, <nfds_t>self.npfds, timeout_ms)
        if n < 0:
            return -errno
        i = 0
        while i < self.npfds and k < n:
            e = self.pfds[i].revents
            if e:
                r = 0
                if e & (POLLIN | POLLPRI | POLLERR | POLLHUP | POLLNVAL):
                    r |= EV_READ
                if e & POLLOUT:
                    r |= EV_WRITE
                self.fired_fd[k] = self.pfds[i].fd
                self.fired_events[k] = r
                k += 1
            i += 1
        return k

    def __len__(self):
        return self.npfds


def default_dispatcher_name():
    """The backend used when none is named: $REACTOR_DISPATCHER, else epoll on Linux."""
    env = os.environ.get("REACTOR_DISPATCHER")
    if env:
        return env
    return "epoll" if sys.platform.startswith("linux") else "poll"


def make_dispatcher(name=None):
    """Create a dispatcher by name ("epoll" or "poll"); None picks the default."""
    if name is None:
        name = default_dispatcher_name()
    if not isinstance(name, str):
        raise TypeError("dispatcher name must be a str, not %s" % type(name).__name__)
    if name == "epoll":
        return EpollDispatcher()
    if name == "poll":
        return PollDispatcher()
    raise ValueError("unknown dispatcher %r (choose 'epoll' or 'poll')" % name)
