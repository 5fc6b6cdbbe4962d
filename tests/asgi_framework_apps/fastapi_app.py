"""The contract of ``common`` as a FastAPI app (``fastapi_app:app``)."""
import asyncio
import contextlib
import os
from typing import List, Optional

from fastapi import BackgroundTasks, FastAPI, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel

from . import common


@contextlib.asynccontextmanager
async def lifespan(app):
    # the ASGI lifespan state: each request's scope gets a shallow copy
    yield {"greeting": "hello from lifespan", "hits": []}
    # after the graceful drain: tell the test the shutdown half ran
    marker = os.environ.get("REACTOR_TEST_ASGI_SHUTDOWN_FILE")
    if marker:
        with open(marker, "w") as f:
            f.write("lifespan shutdown ran")


app = FastAPI(lifespan=lifespan)


class Payload(BaseModel):
    model_config = {"extra": "allow"}       # the whole body comes back as "echo"
    name: str
    values: List[int] = []


@app.get("/state")
async def state(request: Request, set: int = 0):
    scratch_before = getattr(request.state, "scratch", None)
    if set:
        request.state.scratch = "written by a request"
    request.state.hits.append(1)
    return {"greeting": request.state.greeting, "hits": len(request.state.hits),
            "scratch_before": scratch_before}


@app.post("/json")
async def json_route(payload: Payload):
    return common.json_answer(payload.model_dump())


@app.get("/items/{item_id}/{name}", name="item")
async def item(request: Request, item_id: int, name: str, q: Optional[str] = None,
               tag: List[str] = Query(default=[])):
    return {"item_id": item_id, "name": name, "q": q, "tags": tag,
            "path": request.scope["path"]}


@app.get("/stream/{token}")
async def stream(token: str):
    return StreamingResponse(common.stream_chunks(token), media_type="text/plain")


@app.get("/endless/{token}")
async def endless(token: str):
    return StreamingResponse(common.endless_chunks(token), media_type="text/plain")


@app.get("/bigstream")
async def bigstream(chunks: int, size: int):
    return StreamingResponse(common.big_chunks(chunks, size),
                             media_type="application/octet-stream")


@app.post("/release/{token}")
async def release(token: str):
    common.release(token)
    return {"ok": True}


@app.get("/bg/{token}")
async def bg(token: str, tasks: BackgroundTasks):
    tasks.add_task(common.background_job, token)
    return {"scheduled": True}


@app.get("/sleep/{token}")
async def sleep(token: str, ms: int = 500):
    common.record(token, "sleeping")
    await asyncio.sleep(ms / 1000)
    return {"slept": ms}


@app.get("/status/{token}")
async def status(token: str):
    return common.status(token)


@app.get("/disconnect/{token}")
async def disconnect(request: Request, token: str):
    await common.poll_disconnected(request.is_disconnected, token)
    return {"done": True}


@app.api_route("/file", methods=["GET", "HEAD"])
async def file():
    return FileResponse(common.file_path(), media_type="application/octet-stream")


@app.get("/outbound")
async def outbound(base: str, token: str):
    return await common.outbound(base, token)


try:        # FastAPI's Form/File parameters need python-multipart (not "multipart")
    import python_multipart  # noqa: F401
except ImportError:
    python_multipart = None

if python_multipart is not None:
    @app.post("/form")
    async def form(name: str = Form(...), tags: List[str] = Form(default=[])):
        return {"name": name, "tags": tags}

    @app.post("/upload")
    async def upload(note: str = Form(...), file: UploadFile = File(...)):
        return common.upload_answer(note, file.filename, await file.read())


@app.get("/whereami")
async def whereami(request: Request):
    return {"root_path": request.scope["root_path"], "path": request.scope["path"],
            "raw_path": request.scope["raw_path"].decode("latin-1"),
            "url": str(request.url),
            "item_url": str(request.url_for("item", item_id=7, name="x"))}
