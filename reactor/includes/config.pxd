cdef extern from "reactor_config.h":
    const int REACTOR_DEBUG
