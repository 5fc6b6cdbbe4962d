"""Mutex and Cond: pthread-style primitives the thread pool is built on.

Both are usable from Python (waiting and contended locking release the GIL)
and from ``nogil`` Cython code through ``_sync.pxd``.  A Mutex is not
re-entrant.  Cond waits use CLOCK_MONOTONIC, so wall-clock jumps do not
shorten or stretch a timeout.
"""
from libc.errno cimport ETIMEDOUT, EBUSY
from reactor.includes.posix_extra cimport *



cdef class Mutex:
    """A non-recursive pthread mutex.

    ``lock()`` first tries without blocking; if the mutex is held it releases
    the GIL while it waits, so a holder that needs the GIL can finish.
    Use as a context manager: ``with mutex: ...``.  Thread safe.
    """

    def __cinit__(self):
        if pthread_mutex_init(&self._m, NULL) != 0:
            raise OSError("pthread_mutex_init failed")
        self._ready = True
        self._owner = 0

    def __dealloc__(self):
        if self._ready:
            pthread_mutex_destroy(&self._m)

    cdef void acquire_nogil(self) noexcept nogil:
        pthread_mutex_lock(&self._m)
        self._owner = pthread_self()

    cdef bint try_acquire_nogil(self) noexcept nogil:
        if pthread_mutex_trylock(&self._m) == 0:
            self._owner = pthread_self()
            return True
        return False

    cdef void release_nogil(self) noexcept nogil:
        self._owner = 0
        pthread_mutex_unlock(&self._m)

    def lock(self):
        """Block until this thread holds the mutex.  Thread safe."""
        if self._owner == pthread_self():
            raise RuntimeError("Mutex.lock(): already held by this thread (not re-entrant)")
        if pthread_mutex_trylock(&self._m) != 0:
            with nogil:
                # blocks on the pthread mutex only; touches no Python object
                pthread_mutex_lock(&self._m)
        self._owner = pthread_self()

    def try_lock(self):
        """Take the mutex if it is free; return True on success.  Thread safe."""
        if pthread_mutex_trylock(&self._m) == 0:
            self._owner = pthread_self()
            return True
        return False

    def unlock(self):
        """Release the mutex; only its holder may.  Thread safe."""
        if self._owner != pthread_self():
            raise RuntimeError("Mutex.unlock(): not held by this thread")
        self.release_nogil()

    def locked(self):
        """True while some thread holds the mutex.  Thread safe."""
        return self._owner != 0

    def is_held_by_current_thread(self):
        """True when the calling thread holds the mutex.  Thread safe."""
        return self._owner == pthread_self()

    def __enter__(self):
        self.lock()
        return self

    def __exit__(self, *exc):
        self.unlock()
        return False


cdef double MAX_TIMEOUT_S = 3e9     # ~95 years; longer waits have no deadline


cdef class Cond:
    """A pthread condition variable on CLOCK_MONOTONIC.

    ``wait(mutex, timeout=None)`` must be called with ``mutex`` held; it
    releases the mutex (and the GIL) while asleep and holds the mutex again
    on return.  It returns False on timeout, True otherwise.  As with any
    condition variable, wake-ups can be spurious: wait in a predicate loop.
    Thread safe.
    """

    def __cinit__(self):
        cdef pthread_condattr_t attr
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        cdef int rc = pthread_cond_init(&self._c, &attr)
        pthread_condattr_destroy(&attr)
        if rc != 0:
            raise OSError("pthread_cond_init failed")
        self._ready = True

    def __dealloc__(self):
        if self._ready:
            pthread_cond_destroy(&self._c)

    cdef int wait_nogil(self, Mutex mutex, long long timeout_ns) noexcept nogil:
        cdef timespec ts
        cdef int rc
        mutex._owner = 0
        if timeout_ns < 0:
            rc = pthread_cond_wait(&self._c, &mutex._m)
        else:
            clock_gettime(CLOCK_MONOTONIC, &ts)
            timeout_ns += ts.tv_nsec
            ts.tv_sec += <long>(timeout_ns // 1000000000)
            ts.tv_nsec = <long>(timeout_ns % 1000000000)
            rc = pthread_cond_timedwait(&self._c, &mutex._m, &ts)
        mutex._owner = pthread_self()
        return rc

    cdef void signal_nogil(self) noexcept nogil:
        pthread_cond_signal(&self._c)

    cdef void broadcast_nogil(self) noexcept nogil:
        pthread_cond_broadcast(&self._c)

    def wait(self, Mutex mutex not None, timeout=None):
        """Sleep until signalled or ``timeout`` seconds pass.  Thread safe."""
        cdef long long ns = -1
        cdef int rc
        if mutex._owner != pthread_self():
            raise RuntimeError("Cond.wait(): the mutex must be held by the calling thread")
        if timeout is not None:
            if not isinstance(timeout, (int, float)):
                raise TypeError("timeout must be a number of seconds or None, not %s"
                                % type(timeout).__name__)
            timeout = float(timeout)
            if timeout != timeout:
                raise ValueError("timeout must be a number of seconds, not NaN")
            if timeout < 0:
                raise ValueError("timeout must be >= 0")
            if timeout < MAX_TIMEOUT_S:
                ns = <long long>(timeout * 1e9)
            # else: infinity or more than a century: wait without a deadline
            # (the nanosecond count would overflow)
        with nogil:
            # sleeps on the pthread cond; the mutex is released while asleep
            rc = self.wait_nogil(mutex, ns)
        return rc != ETIMEDOUT

    def signal(self):
        """Wake one waiter.  Thread safe."""
        pthread_cond_signal(&self._c)

    def notify(self):
        """Alias of ``signal()``.  Thread safe."""
        pthread_cond_signal(&self._c)

    def broadcast(self):
        """Wake every waiter.  Thread safe."""
        pthread_cond_broadcast(&self._c)
