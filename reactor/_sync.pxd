# Mutex and Cond: thin wrappers over pthread_mutex_t / pthread_cond_t.
from reactor.includes.posix_extra cimport pthread_mutex_t, pthread_cond_t

cdef class Mutex:
    cdef pthread_mutex_t _m
    cdef bint _ready
    cdef unsigned long _owner       # pthread_self() of the holder, 0 when free
    cdef void acquire_nogil(self) noexcept nogil
    cdef bint try_acquire_nogil(self) noexcept nogil
    cdef void release_nogil(self) noexcept nogil

cdef class Cond:
    cdef pthread_cond_t _c
    cdef bint _ready
    # returns 0, or ETIMEDOUT; timeout_ns < 0 waits forever
    cdef int wait_nogil(self, Mutex mutex, long long timeout_ns) noexcept nogil
    cdef void signal_nogil(self) noexcept nogil
    cdef void broadcast_nogil(self) noexcept nogil
