"""A FastAPI app for tests/test_asgi.py: lifespan state, sync and async
endpoints, StreamingResponse, BackgroundTasks, Request.is_disconnected()."""
import asyncio
import contextlib
import threading
import time

from fastapi import BackgroundTasks, FastAPI, Request
from fastapi.responses import PlainTextResponse, StreamingResponse

DONE = {}            # background task and disconnect results, by token


@contextlib.asynccontextmanager
async def lifespan(app):
    yield {"greeting": "hello from lifespan"}


app = FastAPI(lifespan=lifespan)


@app.get("/items/{item_id}")
async def item(item_id: int, q: str = "", request: Request = None):
    return {"item_id": item_id, "q": q, "greeting": request.state.greeting,
            "root_path": request.scope.get("root_path"), "url": str(request.url)}


@app.get("/sync")
def sync_endpoint():
    time.sleep(0.02)                 # runs in the threadpool
    return {"thread": threading.current_thread().name}


@app.post("/echo")
async def echo(request: Request):
    body = await request.body()
    return PlainTextResponse(body[::-1])


@app.get("/stream")
async def stream():
    async def gen():
        for i in range(5):
            yield b"part-%d;" % i
            await asyncio.sleep(0.001)
    return StreamingResponse(gen(), media_type="text/plain")


@app.get("/background")
async def background(token: str, tasks: BackgroundTasks):
    def work():
        DONE[token] = time.monotonic()
    tasks.add_task(work)
    return {"queued": token}


@app.get("/watch")
async def watch(token: str, request: Request):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if await request.is_disconnected():
            DONE[token] = time.monotonic()
            break
        await asyncio.sleep(0.02)
    return PlainTextResponse("watched")


@app.get("/done/{token}")
async def done(token: str):
    return {"done": DONE.get(token)}
