# Channel (an fd, its interest mask and its handlers) and ChannelMap (fd -> Channel).
from cpython.ref cimport PyObject

cdef enum:
    EV_NONE = 0
    EV_READ = 1     # readable; also reported on error/hang-up so closes flow through reads
    EV_WRITE = 2    # writable

cdef enum:
    # what Channel.fast_event did, without the GIL, for the loop
    FAST_SLOW = -1      # nothing: run handle_event() with the GIL
    FAST_DONE = 0       # fully handled
    FAST_PROCESS = 1    # bytes were read: run after_fast() with the GIL
    FAST_BREAK = 2      # fully handled, but the loop must return to Python now

cdef enum:
    CH_NEW = -1     # never added to a dispatcher
    CH_ADDED = 1    # registered with the dispatcher
    CH_DELETED = 2  # removed from the dispatcher, still known

cdef class Channel:
    cdef readonly int fd
    cdef int _events          # interest mask EV_READ | EV_WRITE
    cdef int _state           # CH_NEW / CH_ADDED / CH_DELETED
    cdef object _loop         # EventLoop (typed loosely to keep layers apart)
    cdef public object read_callback
    cdef public object write_callback
    cdef public object close_callback
    cdef bint fast_ok             # fast_event may run (no Python override of handle_event)
    cdef unsigned long long _gen  # registration number from its loop (stale-event check)
    cpdef handle_event(self, int revents)
    cdef int fast_event(self, int revents) noexcept nogil
    cdef int after_fast(self) except -1
    cdef void _update(self) except *

cdef class ChannelMap:
    cdef PyObject **_slots    # owning references, indexed by fd
    cdef Py_ssize_t _size
    cdef Py_ssize_t _count
    cdef int put(self, int fd, Channel ch) except -1
    cdef int drop(self, int fd) except -1
    cdef inline PyObject *lookup(self, int fd) noexcept nogil:
        if 0 <= fd < self._size:
            return self._slots[fd]
        return NULL
