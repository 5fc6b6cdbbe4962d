"""Channel and ChannelMap.

A Channel is one file descriptor, the events its owner is interested in
(``EV_READ``/``EV_WRITE``) and the handlers run when they fire.  A Channel
does not own its fd: whoever created the fd closes it.  A Channel belongs to
one EventLoop and is touched only in that loop's thread.

The ChannelMap is the seed's fd-indexed table: an array of Channel
references that grows (doubling) to fit the largest fd.  The event loop looks
fired fds up here; dispatchers never call handlers.
"""
from cpython.mem cimport PyMem_Realloc, PyMem_Free
from cpython.ref cimport PyObject, Py_INCREF, Py_XDECREF
from libc.string cimport memset

READ = EV_READ
WRITE = EV_WRITE


cdef class Channel:
    """An fd, its interest mask and its read/write/close handlers.

    Subclass and override ``handle_event`` (or the callbacks) to react to
    events.  ``enable_reading()`` etc. register the change with the loop.
    Loop thread only.
    """

    def __init__(self, loop, int fd, read_callback=None, write_callback=None,
                 close_callback=None):
        if fd < 0:
            raise ValueError("invalid file descriptor: %d" % fd)
        self.fd = fd
        self._events = EV_NONE
        self._state = CH_NEW
        self._loop = loop
        self.read_callback = read_callback
        self.write_callback = write_callback
        self.close_callback = close_callback

    @property
    def loop(self):
        return self._loop

    @property
    def events(self):
        """The interest mask (``READ | WRITE`` bits)."""
        return self._events

    @property
    def registered(self):
        """True while the channel is in its loop's dispatcher."""
        return self._state == CH_ADDED

    def is_reading(self):
        return self._events & EV_READ != 0

    def is_writing(self):
        return self._events & EV_WRITE != 0

    def is_none_event(self):
        return self._events == EV_NONE

    cdef void _update(self) except *:
        self._loop.update_channel(self)

    def enable_reading(self):
        """Ask for EV_READ.  Loop thread only."""
        self._events |= EV_READ
        self._update()

    def disable_reading(self):
        """Stop asking for EV_READ.  Loop thread only."""
        self._events &= ~EV_READ
        self._update()

    def enable_writing(self):
        """Ask for EV_WRITE.  Loop thread only."""
        self._events |= EV_WRITE
        self._update()

    def disable_writing(self):
        """Stop asking for EV_WRITE.  Loop thread only."""
        self._events &= ~EV_WRITE
        self._update()

    def disable_all(self):
        """Ask for nothing (the fd stays registered).  Loop thread only."""
        self._events = EV_NONE
        self._update()

    def set_events(self, int events):
        """Set the whole interest mask at once.  Loop thread only."""
        if events & ~(EV_READ | EV_WRITE):
            raise ValueError("events must be a combination of READ and WRITE")
        self._events = events
        self._update()

    def remove(self):
        """Unregister from the loop.  Loop thread only."""
        self._loop.remove_channel(self)

    cdef int fast_event(self, int revents) noexcept nogil:
        """Handle the event without the GIL if this channel can (compiled
        subclasses override); return FAST_SLOW to get handle_event() instead.
        Loop thread only."""
        return FAST_SLOW

    cdef int after_fast(self) except -1:
        """With the GIL, after fast_event returned FAST_PROCESS.  Loop thread only."""
        return 0

    cpdef handle_event(self, int revents):
        """Run the handlers for the fired events.  Loop thread only."""
        if revents & EV_READ and self.read_callback is not None:
            self.read_callback()
        if revents & EV_WRITE and self.write_callback is not None:
            self.write_callback()

    def __repr__(self):
        return "<%s fd=%d events=%d>" % (type(self).__name__, self.fd, self._events)


cdef class ChannelMap:
    """fd -> Channel, an array indexed by fd that grows to fit.  Loop thread only."""

    def __cinit__(self, Py_ssize_t initial_size=64):
        if initial_size < 1:
            initial_size = 1
        self._slots = <PyObject **>PyMem_Realloc(NULL, initial_size * sizeof(PyObject *))
        if self._slots == NULL:
            raise MemoryError()
        memset(self._slots, 0, initial_size * sizeof(PyObject *))
        self._size = initial_size
        self._count = 0

    def __dealloc__(self):
        cdef Py_ssize_t i
        if self._slots != NULL:
            for i in range(self._size):
                Py_XDECREF(self._slots[i])
            PyMem_Free(self._slots)

    cdef int put(self, int fd, Channel ch) except -1:
        cdef Py_ssize_t newsize
        cdef PyObject **p
        if fd < 0:
            raise ValueError("invalid file descriptor: %d" % fd)
        if fd >= self._size:
            newsize = self._size
            while newsize <= fd:
                newsize *= 2
            p = <PyObject **>PyMem_Realloc(self._slots, newsize * sizeof(PyObject *))
            if p == NULL:
                raise MemoryError()
            memset(p + self._size, 0, (newsize - self._size) * sizeof(PyObject *))
            self._slots = p
            self._size = newsize
        if self._slots[fd] == <PyObject *>ch:
            return 0
        Py_INCREF(ch)
        if self._slots[fd] == NULL:
            self._count += 1
        else:
            Py_XDECREF(self._slots[fd])
        self._slots[fd] = <PyObject *>ch
        return 0

    cdef int drop(self, int fd) except -1:
        cdef PyObject *old
        if 0 <= fd < self._size and self._slots[fd] != NULL:
            old = self._slots[fd]
            self._slots[fd] = NULL
            self._count -= 1
            Py_XDECREF(old)
        return 0

    def __setitem__(self, int fd, Channel ch not None):
        self.put(fd, ch)

    def __getitem__(self, int fd):
        cdef PyObject *p = self.lookup(fd)
        if p == NULL:
            raise KeyError(fd)
        return <object>p

    def __delitem__(self, int fd):
        if self.lookup(fd) == NULL:
            raise KeyError(fd)
        self.drop(fd)

    def __contains__(self, int fd):
        return self.lookup(fd) != NULL

    def get(self, int fd, default=None):
        cdef PyObject *p = self.lookup(fd)
        return default if p == NULL else <object>p

    def __len__(self):
        return self._count

    @property
    def capacity(self):
        return self._size

    def channels(self):
        """A list of every channel in the map."""
        cdef Py_ssize_t i
        return [<object>self._slots[i] for i in range(self._size) if self._slots[i] != NULL]
