# EventDispatcher interface and its epoll / poll backends.
from reactor.includes.posix_extra cimport epoll_event, pollfd

cdef class EventDispatcher:
    cdef int *fired_fd        # filled by _dispatch: fds that fired ...
    cdef int *fired_events    # ... and their EV_READ / EV_WRITE bits
    cdef int fired_cap
    cdef bint closed
    cdef readonly str name
    cpdef add(self, int fd, int events)
    cpdef update(self, int fd, int events)
    cpdef remove(self, int fd)
    # waits up to timeout_ms (-1 = forever) with the GIL released; returns fired count
    cdef int _dispatch(self, int timeout_ms) except -1
    cdef int _prepare(self) except -1
    cdef int wait_nogil(self, int timeout_ms) noexcept nogil
    cdef int check_result(self, int n) except -1
    cdef int _grow_fired(self, int n) except -1
    cpdef close(self)
    cdef int _check_open(self) except -1

cdef class EpollDispatcher(EventDispatcher):
    cdef int epfd
    cdef epoll_event *evs
    cdef int evs_cap
    cdef bint evs_full
    cdef int _ctl(self, int op, int fd, int events) except -1

cdef class PollDispatcher(EventDispatcher):
    cdef pollfd *pfds
    cdef int npfds
    cdef int pfds_cap
    cdef int *index_of        # fd -> position in pfds, -1 if absent
    cdef int index_cap
    cdef short _mask(self, int events)
    cdef int _slot(self, int fd)
