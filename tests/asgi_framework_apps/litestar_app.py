"""The contract of ``common`` as a Litestar app (``litestar_app:app``).

Litestar keeps its lifespan state on ``app.state`` (its lifespan managers do
not see the ASGI lifespan ``state``); the per-request copy of the ASGI
state is read as ``request.scope["state"]``.  Litestar has no
``is_disconnected()``: /disconnect reads the ASGI ``receive`` directly."""
import asyncio
import contextlib

from litestar import HttpMethod, Litestar, Request, Response, get, post, route
from litestar.background_tasks import BackgroundTask
from litestar.response import File, Stream

from . import common


@contextlib.asynccontextmanager
async def lifespan(app):
    app.state.greeting = "hello from lifespan"
    app.state.hits = []
    yield


@get("/state")
async def state(request: Request) -> dict:
    scope_state = request.scope["state"]
    scratch_before = scope_state.get("scratch")
    if request.query_params.get("set"):
        scope_state["scratch"] = "written by a request"
    request.app.state.hits.append(1)
    return {"greeting": request.app.state.greeting, "hits": len(request.app.state.hits),
            "scratch_before": scratch_before}


@post("/json", status_code=200)
async def json_route(request: Request) -> dict:
    return common.json_answer(await request.json())


@get("/items/{item_id:int}/{label:str}", name="item")
async def item(request: Request, item_id: int, label: str) -> dict:
    # (a path parameter called "name" would clash with url_for's own argument)
    return {"item_id": item_id, "name": label, "q": request.query_params.get("q"),
            "tags": request.query_params.getall("tag", []), "path": request.scope["path"]}


@get("/stream/{token:str}")
async def stream(token: str) -> Stream:
    return Stream(common.stream_chunks(token), media_type="text/plain")


@get("/endless/{token:str}")
async def endless(token: str) -> Stream:
    return Stream(common.endless_chunks(token), media_type="text/plain")


@get("/bigstream")
async def bigstream(chunks: int, size: int) -> Stream:
    return Stream(common.big_chunks(chunks, size), media_type="application/octet-stream")


@post("/release/{token:str}", status_code=200)
async def release(token: str) -> dict:
    common.release(token)
    return {"ok": True}


@get("/bg/{token:str}")
async def bg(token: str) -> Response:
    return Response({"scheduled": True},
                    background=BackgroundTask(common.background_job, token))


@get("/status/{token:str}")
async def status(token: str) -> dict:
    return common.status(token)


@get("/disconnect/{token:str}")
async def disconnect(request: Request, token: str) -> dict:
    await request.body()            # the (empty) request body: what follows is the end
    nxt = asyncio.ensure_future(request.receive())

    async def is_disconnected():
        return nxt.done() and nxt.result()["type"] == "http.disconnect"

    try:
        await common.poll_disconnected(is_disconnected, token)
    finally:
        nxt.cancel()
    return {"done": True}


@route("/file", http_method=[HttpMethod.GET, HttpMethod.HEAD])
async def file() -> File:
    return File(common.file_path(), media_type="application/octet-stream",
                content_disposition_type="inline")


@get("/outbound")
async def outbound(base: str, token: str) -> dict:
    return await common.outbound(base, token)


@post("/form", status_code=200)
async def form(request: Request) -> dict:
    f = await request.form()
    return {"name": f.get("name"), "tags": f.getall("tags", [])}


@post("/upload", status_code=200)
async def upload(request: Request) -> dict:
    f = await request.form()
    up = f.get("file")
    return common.upload_answer(f.get("note"), up.filename, await up.read())


@get("/whereami")
async def whereami(request: Request) -> dict:
    # Litestar's router rewrites scope["path"] without the root_path
    return {"root_path": request.scope["root_path"], "path": request.scope["path"],
            "raw_path": request.scope["raw_path"].decode("latin-1"),
            "url": str(request.url), "item_url": request.url_for("item", item_id=7, label="x")}


app = Litestar(route_handlers=[state, json_route, item, stream, bigstream, endless, release, bg, status,
                               disconnect, file, outbound, form, upload, whereami],
               lifespan=[lifespan], openapi_config=None)
