# Buffer: a growable byte buffer with prependable | readable | writable regions.


cdef enum:
    CHEAP_PREPEND = 8
    INITIAL_SIZE = 4096

cdef class Buffer:
    cdef char *_data
    cdef size_t _cap
    cdef size_t _r          # read index
    cdef size_t _w          # write index
    cdef Py_ssize_t _exports  # live memoryviews of the readable bytes
    cdef public bint oom      # sticky: an append_nogil failed since it was last cleared

    cdef inline size_t readable(self) noexcept nogil:
        return self._w - self._r
    cdef inline size_t writable(self) noexcept nogil:
        return self._cap - self._w
    cdef inline char *peek_ptr(self) noexcept nogil:
        return self._data + self._r
    cdef inline char *begin_write(self) noexcept nogil:
        return self._data + self._w
    cdef void has_written(self, size_t n) noexcept nogil
    cdef void retrieve_nogil(self, size_t n) noexcept nogil
    cdef void truncate_nogil(self, size_t keep) noexcept nogil  # keep the first `keep` readable bytes
    cdef int ensure_writable(self, size_t n) noexcept nogil   # 0, or -1 on ENOMEM
    cdef int append_nogil(self, const char *p, size_t n) noexcept nogil  # 0 / -1
    cdef ssize_t find_crlf_nogil(self, size_t start) noexcept nogil
    cdef ssize_t read_fd_nogil(self, int fd, int *err) noexcept nogil
    cdef ssize_t write_fd_nogil(self, int fd, int *err) noexcept nogil
    cdef int check_mutable(self) except -1
