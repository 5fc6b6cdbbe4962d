"""What the framework apps share: the URL contract, the coordination between
a test and a handler, and small helpers that use no framework.

The contract (every path relative to the app's root):

=============================  ===========================================================
GET  /state[?set=1]            lifespan state read in a request: {"greeting", "hits",
                               "scratch_before"}; ``set=1`` writes request.state.scratch
                               (the next request must not see it: state is a copy)
POST /json                     {"name", "values"} -> {"name": upper, "total", "count",
                               "echo"}
GET  /items/{id:int}/{name}    {"item_id", "name", "q", "tags", "path"}
GET  /stream/{token}           chunked: "first\\n", (waits for /release/{token}),
                               "second\\n", "chunk 0..2\\n"
POST /release/{token}          sets the token's event
GET  /bg/{token}               {"scheduled": true}; a background task then waits for
                               /release/{token} and records "bg-done"
GET  /status/{token}           {"status": [what the handlers recorded for the token]}
GET  /disconnect/{token}       records "waiting", waits for the client to go (up to
                               10 s), records "disconnected" (or "timeout")
GET  /file                     the file named by $REACTOR_TEST_ASGI_FILE
GET  /outbound?base=&token=    three concurrent httpx.AsyncClient GETs of
                               {base}/up/{token}/{i}: {"statuses", "bodies"}
POST /form                     urlencoded name + tags -> {"name", "tags"}
POST /upload                   multipart note + file -> {"note", "filename", "size",
                               "sha256"}
GET  /bigstream?chunks=&size=  a streamed body of ``chunks`` pieces of ``size`` bytes
                               (piece i is bytes([i % 251]) * size)
GET  /endless/{token}          streams "tick <i>\n" every 10 ms (for up to 100 s) and records
                               "streaming", then "stopped" when the stream ends early
GET  /whereami                 {"root_path", "path", "raw_path", "url", "item_url"}
GET  /sleep/{token}?ms=        FastAPI only: records "sleeping", sleeps, {"slept": ms}
=============================  ===========================================================

Events live in this process (one server process, one asyncio loop), keyed
by a token each test makes up.
"""
import asyncio
import hashlib
import os

import httpx

EVENTS = {}
STATUS = {}
WAIT = 10.0             # a handler never waits longer than this for a test


def _event(token):
    ev = EVENTS.get(token)
    if ev is None:
        ev = EVENTS[token] = asyncio.Event()
    return ev


async def wait_release(token, timeout=WAIT):
    await asyncio.wait_for(_event(token).wait(), timeout)


def release(token):
    _event(token).set()


def record(token, what):
    STATUS.setdefault(token, []).append(what)


def status(token):
    return {"status": STATUS.get(token, [])}


async def stream_chunks(token):
    yield b"first\n"
    await wait_release(token)
    yield b"second\n"
    for i in range(3):
        yield b"chunk %d\n" % i


async def big_chunks(chunks, size):
    for i in range(chunks):
        yield bytes([i % 251]) * size
        if i % 8 == 7:
            await asyncio.sleep(0)


async def endless_chunks(token):
    record(token, "streaming")
    try:
        for i in range(10000):
            yield b"tick %d\n" % i
            await asyncio.sleep(0.01)
        record(token, "finished")
    finally:
        record(token, "stopped")


async def background_job(token):
    await wait_release(token)
    record(token, "bg-done")


def file_path():
    return os.environ["REACTOR_TEST_ASGI_FILE"]


async def outbound(base, token):
    """Three concurrent GETs to the test's upstream server (it answers only
    when all three are in flight at once)."""
    async with httpx.AsyncClient(trust_env=False, timeout=10.0) as client:
        rs = await asyncio.gather(*(client.get("%s/up/%s/%d" % (base, token, i))
                                    for i in range(3)))
    return {"statuses": [r.status_code for r in rs],
            "bodies": [r.json() if r.status_code == 200 else r.text for r in rs]}


def json_answer(data):
    values = data.get("values", [])
    return {"name": data["name"].upper(), "total": sum(values), "count": len(values),
            "echo": data}


def upload_answer(note, filename, data):
    return {"note": note, "filename": filename, "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest()}


async def poll_disconnected(is_disconnected, token):
    """Record "waiting", then poll ``is_disconnected()`` until it says True."""
    record(token, "waiting")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while loop.time() < deadline:
        if await is_disconnected():
            record(token, "disconnected")
            return
        await asyncio.sleep(0.01)
    record(token, "timeout")
