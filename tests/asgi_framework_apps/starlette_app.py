"""The contract of ``common`` as a Starlette app (``starlette_app:app``), plus
a Mount at /sub (``/sub/whereami``)."""
import contextlib

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.responses import FileResponse, JSONResponse, StreamingResponse
from starlette.routing import Mount, Route

from . import common


@contextlib.asynccontextmanager
async def lifespan(app):
    yield {"greeting": "hello from lifespan", "hits": []}


async def state(request):
    scratch_before = getattr(request.state, "scratch", None)
    if request.query_params.get("set"):
        request.state.scratch = "written by a request"
    request.state.hits.append(1)
    return JSONResponse({"greeting": request.state.greeting, "hits": len(request.state.hits),
                         "scratch_before": scratch_before})


async def json_route(request):
    return JSONResponse(common.json_answer(await request.json()))


async def item(request):
    return JSONResponse({"item_id": request.path_params["item_id"],
                         "name": request.path_params["name"],
                         "q": request.query_params.get("q"),
                         "tags": request.query_params.getlist("tag"),
                         "path": request.scope["path"]})


async def stream(request):
    return StreamingResponse(common.stream_chunks(request.path_params["token"]),
                             media_type="text/plain")


async def endless(request):
    return StreamingResponse(common.endless_chunks(request.path_params["token"]),
                             media_type="text/plain")


async def bigstream(request):
    return StreamingResponse(common.big_chunks(int(request.query_params["chunks"]),
                                               int(request.query_params["size"])),
                             media_type="application/octet-stream")


async def release(request):
    common.release(request.path_params["token"])
    return JSONResponse({"ok": True})


async def bg(request):
    return JSONResponse({"scheduled": True}, background=BackgroundTask(
        common.background_job, request.path_params["token"]))


async def status(request):
    return JSONResponse(common.status(request.path_params["token"]))


async def disconnect(request):
    await common.poll_disconnected(request.is_disconnected, request.path_params["token"])
    return JSONResponse({"done": True})


async def file(request):
    return FileResponse(common.file_path(), media_type="application/octet-stream")


async def outbound(request):
    return JSONResponse(await common.outbound(request.query_params["base"],
                                              request.query_params["token"]))


async def form(request):
    async with request.form() as f:
        return JSONResponse({"name": f["name"], "tags": f.getlist("tags")})


async def upload(request):
    async with request.form() as f:
        up = f["file"]
        return JSONResponse(common.upload_answer(f["note"], up.filename, await up.read()))


async def whereami(request):
    return JSONResponse({"root_path": request.scope["root_path"],
                         "path": request.scope["path"],
                         "raw_path": request.scope["raw_path"].decode("latin-1"),
                         "url": str(request.url),
                         "item_url": str(request.url_for("item", item_id=7, name="x"))})


app = Starlette(lifespan=lifespan, routes=[
    Route("/state", state),
    Route("/json", json_route, methods=["POST"]),
    Route("/items/{item_id:int}/{name}", item, name="item"),
    Route("/stream/{token}", stream),
    Route("/bigstream", bigstream),
    Route("/endless/{token}", endless),
    Route("/release/{token}", release, methods=["POST"]),
    Route("/bg/{token}", bg),
    Route("/status/{token}", status),
    Route("/disconnect/{token}", disconnect),
    Route("/file", file),
    Route("/outbound", outbound),
    Route("/form", form, methods=["POST"]),
    Route("/upload", upload, methods=["POST"]),
    Route("/whereami", whereami),
    Mount("/sub", routes=[Route("/whereami", whereami, name="sub_whereami")]),
])
