"""Buffer: the byte buffer every connection reads into and writes from.

Layout (as in muduo)::

    +-------------------+------------------+------------------+
    | prependable bytes |  readable bytes  |  writable bytes  |
    +-------------------+------------------+------------------+
    0        <=      reader     <=      writer     <=      capacity

``make_room`` first compacts (moves the readable bytes to the front) and only
grows the allocation when compaction is not enough.  ``read_fd`` reads with
one ``readv`` into the free space plus a 64 KiB stack spill, so a buffer can
stay small for many idle connections and still take a large read in one call.

A Buffer belongs to one thread at a time (its connection's loop thread).
``memoryview(buf)`` / ``buf.peek()`` expose the readable bytes without
copying; while such a view is alive, operations that would move or free the
bytes raise ``BufferError``.
"""
from cpython.buffer cimport PyBuffer_FillInfo, PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memcpy, memmove, memchr

from reactor.includes.posix_extra cimport (
    iovec, readv, send, write, errno, EINTR, MSG_NOSIGNAL)

cdef extern from "<errno.h>":
    enum: ENOTSOCK

cdef enum:
    SPILL_SIZE = 65536


cdef class Buffer:
    """A growable byte buffer.  Loop thread only (one owner thread)."""

    def __cinit__(self, size_t initial_size=INITIAL_SIZE):
        self._cap = CHEAP_PREPEND + initial_size
        self._data = <char *>malloc(self._cap)
        if self._data == NULL:
            raise MemoryError()
        self._r = CHEAP_PREPEND
        self._w = CHEAP_PREPEND
        self._exports = 0

    def __dealloc__(self):
        free(self._data)

    # ---- C-level API (see _buffer.pxd) ----------------------------------

    cdef void has_written(self, size_t n) noexcept nogil:
        self._w += n

    cdef void retrieve_nogil(self, size_t n) noexcept nogil:
        if n < self._w - self._r:
            self._r += n
        else:
            self._r = CHEAP_PREPEND
            self._w = CHEAP_PREPEND

    cdef void truncate_nogil(self, size_t keep) noexcept nogil:
        # drop what was appended after the first `keep` readable bytes (the
        # rollback of a response that could not be framed whole)
        if keep < self._w - self._r:
            self._w = self._r + keep

    cdef int ensure_writable(self, size_t n) noexcept nogil:
        cdef size_t readable, newcap
        cdef char *p
        if self._cap - self._w >= n:
            return 0
        readable = self._w - self._r
        if self._r - CHEAP_PREPEND + (self._cap - self._w) >= n and self._exports == 0:
            # compact: the free space at the front is enough
            memmove(self._data + CHEAP_PREPEND, self._data + self._r, readable)
            self._r = CHEAP_PREPEND
            self._w = CHEAP_PREPEND + readable
            return 0
        if self._exports != 0:
            return -1
        newcap = self._cap * 2
        if newcap < CHEAP_PREPEND + readable + n:
            newcap = CHEAP_PREPEND + readable + n
        if self._r != CHEAP_PREPEND:
            memmove(self._data + CHEAP_PREPEND, self._data + self._r, readable)
            self._r = CHEAP_PREPEND
            self._w = CHEAP_PREPEND + readable
        p = <char *>realloc(self._data, newcap)
        if p == NULL:
            return -1
        self._data = p
        self._cap = newcap
        return 0

    cdef int append_nogil(self, const char *p, size_t n) noexcept nogil:
        if self.ensure_writable(n) != 0:
            self.oom = True
            return -1
        memcpy(self._data + self._w, p, n)
        self._w += n
        return 0

    cdef ssize_t find_crlf_nogil(self, size_t start) noexcept nogil:
        """Offset (from the reader) of the first CRLF at or after start, or -1."""
        cdef const char *base = self._data + self._r
        cdef size_t n = self._w - self._r
        cdef const char *p
        while start + 1 < n:
            p = <const char *>memchr(base + start, b'\r', n - start - 1)
            if p == NULL:
                return -1
            if p[1] == b'\n':
                return p - base
            start = (p - base) + 1
        return -1

    cdef ssize_t read_fd_nogil(self, int fd, int *err) noexcept nogil:
        """readv into the free space plus a 64 KiB stack spill.

        Returns bytes read (0 = EOF) or -1 with *err set.  EINTR is retried.
        """
        cdef char spill[SPILL_SIZE]
        cdef iovec vec[2]
        cdef size_t writable = self._cap - self._w
        cdef ssize_t n
        vec[0].iov_base = self._data + self._w
        vec[0].iov_len = writable
        vec[1].iov_base = spill
        vec[1].iov_len = SPILL_SIZE
        if self._exports != 0:
            # a memoryview pins the bytes: the buffer cannot grow, so read only
            # what fits (nothing may be read that cannot be kept)
            if writable == 0:
                err[0] = 105    # ENOBUFS
                return -1
            vec[1].iov_len = 0
        while True:
            n = readv(fd, vec, 2 if writable < SPILL_SIZE and self._exports == 0 else 1)
            if n >= 0 or errno != EINTR:
                break
        if n < 0:
            err[0] = errno
            return -1
        if <size_t>n <= writable:
            self._w += n
        else:
            self._w = self._cap
            if self.append_nogil(spill, n - writable) != 0:
                err[0] = 12  # ENOMEM
                return -1
        return n

    cdef ssize_t write_fd_nogil(self, int fd, int *err) noexcept nogil:
        """Write readable bytes once (no SIGPIPE); retrieve what was written."""
        cdef ssize_t n
        cdef size_t len = self._w - self._r
        if len == 0:
            return 0
        while True:
            n = send(fd, self._data + self._r, len, MSG_NOSIGNAL)
            if n < 0 and errno == ENOTSOCK:
                n = write(fd, self._data + self._r, len)
            if n >= 0 or errno != EINTR:
                break
        if n < 0:
            err[0] = errno
            return -1
        self.retrieve_nogil(n)
        return n

    cdef int check_mutable(self) except -1:
        if self._exports:
            raise BufferError("Buffer has live memoryviews of its bytes; release them first")
        return 0

    # ---- Python API -----------------------------------------------------

    def __len__(self):
        return self._w - self._r

    @property
    def readable_bytes(self):
        """Number of readable bytes."""
        return self._w - self._r

    @property
    def writable_bytes(self):
        """Free bytes after the writer index."""
        return self._cap - self._w

    @property
    def prependable_bytes(self):
        """Bytes before the reader index."""
        return self._r

    @property
    def capacity(self):
        """Size of the allocation."""
        return self._cap

    def append(self, data):
        """Append any bytes-like object."""
        cdef Py_buffer view
        self.check_mutable()
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            if self.append_nogil(<const char *>view.buf, view.len) != 0:
                raise MemoryError()
        finally:
            PyBuffer_Release(&view)

    def make_room(self, size_t n):
        """Ensure at least n writable bytes: compact first, else grow."""
        self.check_mutable()
        if self.ensure_writable(n) != 0:
            raise MemoryError()

    def retrieve(self, Py_ssize_t n):
        """Consume n readable bytes (all of them if n >= len)."""
        if n < 0:
            raise ValueError("retrieve(n): n must be >= 0")
        self.check_mutable()
        self.retrieve_nogil(<size_t>n)

    def retrieve_all(self):
        """Consume every readable byte."""
        self.check_mutable()
        self.retrieve_nogil(self._w - self._r)

    def retrieve_as_bytes(self, Py_ssize_t n=-1):
        """Consume up to n readable bytes (all if n < 0) and return them."""
        self.check_mutable()
        cdef size_t avail = self._w - self._r
        cdef size_t k = avail if n < 0 or <size_t>n > avail else <size_t>n
        out = PyBytes_FromStringAndSize(self._data + self._r, k)
        self.retrieve_nogil(k)
        return out

    def to_bytes(self):
        """A copy of the readable bytes (nothing consumed)."""
        return PyBytes_FromStringAndSize(self._data + self._r, self._w - self._r)

    def peek(self):
        """A zero-copy memoryview of the readable bytes (nothing consumed)."""
        return memoryview(self)

    def find_crlf(self, Py_ssize_t start=0):
        """Offset of the first CRLF in the readable bytes at/after start, or -1."""
        if start < 0:
            raise ValueError("start must be >= 0")
        return self.find_crlf_nogil(<size_t>start)

    def read_fd(self, int fd):
        """Read once from fd (GIL released).  Returns bytes read, 0 at EOF.

        Raises BlockingIOError on EAGAIN and OSError on other errors.
        """
        cdef int err = 0
        cdef ssize_t n
        self.check_mutable()
        if fd < 0:
            raise ValueError("invalid file descriptor: %d" % fd)
        with nogil:
            # reads into this buffer's free space; the caller's thread owns it
            n = self.read_fd_nogil(fd, &err)
        if n < 0:
            raise OSError(err, "read_fd: " + __import__("os").strerror(err))
        return n

    def write_fd(self, int fd):
        """Write the readable bytes once (GIL released); returns bytes written.

        What was written is consumed.  Raises OSError (BlockingIOError on EAGAIN).
        """
        cdef int err = 0
        cdef ssize_t n
        self.check_mutable()
        if fd < 0:
            raise ValueError("invalid file descriptor: %d" % fd)
        with nogil:
            # writes from this buffer's readable bytes; the caller's thread owns it
            n = self.write_fd_nogil(fd, &err)
        if n < 0:
            raise OSError(err, "write_fd: " + __import__("os").strerror(err))
        return n

    def __getbuffer__(self, Py_buffer *view, int flags):
        PyBuffer_FillInfo(view, self, self._data + self._r, self._w - self._r, 1, flags)
        self._exports += 1

    def __releasebuffer__(self, Py_buffer *view):
        self._exports -= 1

    def __repr__(self):
        return "<Buffer readable=%d writable=%d prependable=%d>" % (
            self._w - self._r, self._cap - self._w, self._r)
