"""The contract of ``common`` as a Django ASGI app (``django_app:application``),
settings in this module.  Views are async except /json, /form, /upload and
/sync-info, which are sync (Django runs them in a thread).

Not in Django: ASGI lifespan (its handler refuses a lifespan scope, so
``--lifespan auto`` serves without it) and background tasks.  A client
that disconnects cancels the view (Django 5.0+): /disconnect records
"disconnected" on that CancelledError.
"""
import asyncio
import json
import threading

import django
from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="reactor-test-only",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
        DATABASES={},
        USE_TZ=True,
    )

from django.core.asgi import get_asgi_application  # noqa: E402
from django.http import (FileResponse, HttpResponseNotAllowed, JsonResponse,  # noqa: E402
                         StreamingHttpResponse)
from django.urls import path, reverse  # noqa: E402

from . import common  # noqa: E402


def _loop_running():
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        return False


def json_view(request):                                         # sync
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    return JsonResponse(common.json_answer(json.loads(request.body)))


async def item(request, item_id, name):
    return JsonResponse({"item_id": item_id, "name": name, "q": request.GET.get("q"),
                         "tags": request.GET.getlist("tag"), "path": request.path})


async def stream(request, token):
    return StreamingHttpResponse(common.stream_chunks(token), content_type="text/plain")


async def endless(request, token):
    return StreamingHttpResponse(common.endless_chunks(token), content_type="text/plain")


async def bigstream(request):
    return StreamingHttpResponse(common.big_chunks(int(request.GET["chunks"]),
                                                   int(request.GET["size"])),
                                 content_type="application/octet-stream")


async def release(request, token):
    common.release(token)
    return JsonResponse({"ok": True})


async def status(request, token):
    return JsonResponse(common.status(token))


async def disconnect(request, token):
    common.record(token, "waiting")
    try:
        await asyncio.sleep(common.WAIT)
    except asyncio.CancelledError:
        common.record(token, "disconnected")
        raise
    common.record(token, "timeout")
    return JsonResponse({"done": True})


async def file(request):
    return FileResponse(open(common.file_path(), "rb"),
                        content_type="application/octet-stream")


async def outbound(request):
    return JsonResponse(await common.outbound(request.GET["base"], request.GET["token"]))


def form(request):                                              # sync
    return JsonResponse({"name": request.POST.get("name"), "tags": request.POST.getlist("tags")})


def upload(request):                                            # sync
    up = request.FILES["file"]
    return JsonResponse(common.upload_answer(request.POST.get("note"), up.name, up.read()))


async def whereami(request):
    return JsonResponse({"root_path": request.META.get("SCRIPT_NAME", ""),
                         "path": request.path, "path_info": request.path_info,
                         "raw_path": request.scope["raw_path"].decode("latin-1"),
                         "url": request.build_absolute_uri(),
                         "item_url": request.build_absolute_uri(
                             reverse("item", kwargs={"item_id": 7, "name": "x"}))})


def sync_info(request):                                         # sync
    return JsonResponse({"thread": threading.get_ident(), "loop_running": _loop_running()})


async def async_info(request):
    return JsonResponse({"thread": threading.get_ident(), "loop_running": _loop_running()})


urlpatterns = [
    path("json", json_view),
    path("items/<int:item_id>/<str:name>", item, name="item"),
    path("stream/<str:token>", stream),
    path("bigstream", bigstream),
    path("endless/<str:token>", endless),
    path("release/<str:token>", release),
    path("status/<str:token>", status),
    path("disconnect/<str:token>", disconnect),
    path("file", file),
    path("outbound", outbound),
    path("form", form),
    path("upload", upload),
    path("whereami", whereami),
    path("sync-info", sync_info),
    path("async-info", async_info),
]

django.setup(set_prefix=False)
application = get_asgi_application()
