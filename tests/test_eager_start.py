"""``reactor._selector.new_task_first_step``: an ASGI request's Task runs its
first step at once (Python 3.12's ``eager_start``, before 3.12 too), on a
``ReactorEventLoop``, when no other task of the loop is running; otherwise,
in debug mode and on other loops, the Task is queued as usual."""
import asyncio
import contextvars

import pytest

from reactor._selector import new_task_first_step
from reactor.asgi import ReactorEventLoop

var = contextvars.ContextVar("var", default="outer")


@pytest.fixture
def loop():
    loop = ReactorEventLoop()
    yield loop
    loop.close()


async def _record(log, loop):
    log.append(("current", asyncio.current_task(loop)))
    var.set("inner")
    log.append(("var", var.get()))
    await asyncio.sleep(0)
    log.append(("resumed", asyncio.current_task(loop)))
    return "done"


def _from_callback(loop, fn):
    """Run ``fn()`` in a plain callback of ``loop`` (no task running), as the
    selector's dispatch does; return what it returned."""
    out = loop.create_future()
    loop.call_soon(lambda: out.set_result(fn()))
    return loop.run_until_complete(out)


def test_the_first_step_runs_at_once_inside_its_task_and_context(loop):
    log = []

    def start():
        var.set("caller")
        task, step, context = new_task_first_step(loop, _record(log, loop))
        assert step is not None and context is not None
        assert log == []                    # nothing ran inside Task()
        context.run(step)
        seen = list(log)                    # the first step ran, up to its await
        return task, seen, var.get()

    task, seen, after = _from_callback(loop, start)
    assert seen == [("current", task), ("var", "inner")]
    assert after == "caller"                # the step ran in the task's own context
    assert loop.run_until_complete(task) == "done"
    assert log[-1] == ("resumed", task)
    # the capture is over: the loop's call_soon queues handles again
    handle = loop.call_soon(lambda: None)
    assert isinstance(handle, asyncio.Handle)
    handle.cancel()


def test_inside_a_running_task_the_new_task_is_queued(loop):
    log = []

    async def outer():
        task, step, context = new_task_first_step(loop, _record(log, loop))
        assert step is None and context is None
        assert log == []                    # not run inside this task's step
        return task

    task = loop.run_until_complete(outer())
    assert loop.run_until_complete(task) == "done"
    assert log[0] == ("current", task)


def test_debug_mode_queues_the_task(loop):
    loop.set_debug(True)
    assert loop.get_debug() is True
    log = []
    task, step, _ = _from_callback(loop, lambda: new_task_first_step(loop, _record(log, loop)))
    assert step is None
    assert loop.run_until_complete(task) == "done"
    assert log[0] == ("current", task)
    loop.set_debug(False)
    assert loop.get_debug() is False


def test_a_stock_loop_queues_the_task():
    loop = asyncio.new_event_loop()
    try:
        log = []

        def start():
            task, step, _ = new_task_first_step(loop, _record(log, loop))
            return task, step, list(log)

        task, step, seen = _from_callback(loop, start)
        assert step is None and seen == []
        assert loop.run_until_complete(task) == "done"
    finally:
        loop.close()
    # and the ReactorEventLoop made next is not left capturing
    rloop = ReactorEventLoop()
    try:
        handle = rloop.call_soon(lambda: None)
        assert isinstance(handle, asyncio.Handle)
        handle.cancel()
    finally:
        rloop.close()


def test_a_first_step_that_raises_fails_the_task_not_the_caller(loop):
    async def boom():
        raise ValueError("from the app")

    def start():
        task, step, context = new_task_first_step(loop, boom())
        context.run(step)
        return task

    task = _from_callback(loop, start)
    assert task.done()
    with pytest.raises(ValueError, match="from the app"):
        task.result()


def test_another_call_soon_made_while_the_task_is_made_is_queued_as_usual(loop):
    # Task() may run other code before it queues its step (here the name's __str__;
    # a finalizer run by the GC would do the same): only the new task's own step
    # is taken, every other call_soon gets its Handle and runs at its turn
    log = []
    handles = []

    class Name:
        def __str__(self):
            handles.append(loop.call_soon(log.append, "other"))
            handles.append(loop.call_soon(lambda: log.append("other, no args")))
            return "named"

    def start():
        task, step, context = new_task_first_step(loop, _record(log, loop), Name())
        assert step is not None
        context.run(step)
        return task, list(log)

    task, seen = _from_callback(loop, start)
    assert all(isinstance(h, asyncio.Handle) for h in handles), handles
    assert seen[:2] == [("current", task), ("var", "inner")]
    assert task.get_name() == "named"
    assert loop.run_until_complete(task) == "done"
    assert "other" in log and "other, no args" in log


def test_loops_of_two_threads_never_lose_or_swap_a_first_step():
    # each thread starts tasks on its own ReactorEventLoop at once; Task() runs Python
    # code (before 3.12 the task registry's WeakSet.add), where the GIL may pass to
    # the other thread in the middle of new_task_first_step: every task must still run
    # exactly once, on its own loop
    import sys
    import threading

    N = 3000
    errors = []

    def worker(k):
        loop = ReactorEventLoop()
        counts = []
        tasks = []

        async def body(i):
            counts.append((i, asyncio.get_running_loop() is loop))

        def start_all():
            for i in range(N):
                task, step, context = new_task_first_step(loop, body(i))
                tasks.append(task)
                if step is not None:
                    context.run(step)

        try:
            _from_callback(loop, start_all)
            loop.run_until_complete(asyncio.wait(tasks, timeout=5))
            pending = sum(not t.done() for t in tasks)
            if pending or sorted(counts) != [(i, True) for i in range(N)]:
                errors.append((k, pending, len(counts)))
        except BaseException as exc:        # (reported below, not lost in the thread)
            errors.append((k, repr(exc)))
        finally:
            for t in tasks:
                t.cancel()
            loop.close()

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        sys.setswitchinterval(old)
    assert not errors, errors
