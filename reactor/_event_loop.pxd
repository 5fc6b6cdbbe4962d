# EventLoop: one per thread; owns a dispatcher, a channel map and timers.
from cpython.ref cimport PyObject
from reactor._sync cimport Mutex
from reactor._channel cimport Channel, ChannelMap
from reactor._dispatcher cimport EventDispatcher

cdef double monotonic() noexcept nogil

cdef class TimerHandle:
    cdef readonly double when        # deadline (monotonic seconds)
    cdef double heap_when            # deadline it is filed under in the heap
    cdef readonly double interval    # > 0 for run_every
    cdef unsigned long long seq
    cdef unsigned long long heap_seq # seq of its live heap entry (others are stale)
    cdef object callback
    cdef bint in_heap
    cdef readonly bint cancelled
    cdef object _loop

cdef class EventLoop:
    cdef EventDispatcher dispatcher
    cdef ChannelMap channel_map
    cdef Mutex _mutex
    cdef list _pending_channels      # [(op, channel)] from other threads, under _mutex
    cdef list _functors              # callables from any thread, under _mutex
    cdef list _timers                # binary heap of TimerHandle, loop thread only
    cdef unsigned long long _timer_seq
    cdef unsigned long long _chan_gen    # last registration number given to a channel
    cdef unsigned long long _qs          # quiescent-state counter: odd while waiting (atomic)
    cdef PyObject **_batch_objs       # per fired event: its channel (run/poll batch)
    cdef unsigned long long *_batch_gens  # ... and its registration number
    cdef int _batch_cap
    cdef Py_ssize_t _stale_timers    # heap entries of cancelled or re-filed timers
    cdef unsigned long _thread_id
    cdef int _wake_rfd
    cdef int _wake_wfd
    cdef bint _quit
    cdef bint _looping
    cdef bint _closed
    cdef bint _calling_functors
    cdef bint _wakeup_pending        # a wakeup byte is in flight (under _mutex)
    cdef readonly str name
    cdef public object context       # free slot for the owner (e.g. per-loop stats)
    cdef public double cached_now    # monotonic time when the events being handled fired
    # a timer that need not run, nor take the GIL, before *_gate (its owner's
    # C value, loop thread only; see gate_timer)
    cdef TimerHandle _gated
    # the heartbeat: a slot (shared memory) stamped with monotonic() at least
    # every _beat_every seconds while the loop runs, without the GIL
    cdef double *_beat
    cdef double _beat_every
    cdef double _beat_next
    cdef object _beat_mem            # the buffer export that keeps _beat valid
    cdef double *_gate
    cdef object _gate_owner

    cdef bint in_loop_thread(self) noexcept nogil
    cdef unsigned long long quiescent_count(self) noexcept nogil
    cdef int _check_thread(self, str what) except -1
    cdef int _check_open(self) except -1
    cdef int _grow_batch(self, int cap) except -1
    cdef int _iterate(self, bint bounded, double deadline) except -1
    cdef int update_channel_c(self, Channel ch) except -1
    cdef int remove_channel_c(self, Channel ch) except -1
    cdef void _lock(self)
    cdef int _wakeup(self) except -1
    cdef int _queue_channel_op(self, int op, Channel ch) except -1
    cdef int _handle_wakeup(self) except -1
    cdef int _do_pending(self) except -1
    cdef int _run_timers(self) except -1
    cdef int _next_timeout_ms(self)
    cdef int gate_timer(self, TimerHandle t, double *gate, object owner) except -1
    cdef void _heap_push(self, TimerHandle t)
    cdef TimerHandle _heap_pop(self)
    cdef int _note_stale_timer(self) except -1
    cdef TimerHandle _add_timer(self, double when, double interval, callback)
    cpdef TimerHandle run_after(self, double delay, callback)
    cpdef queue_in_loop(self, fn)
    cpdef run_in_loop(self, fn)
