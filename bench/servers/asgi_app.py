"""The ASGI app for uvicorn and granian's asgi interface: ``bench.servers.asgi_app:app``.

GET answers ``Hello, World!``; POST drains the body first.  Lifespan events
are acknowledged so servers start without warnings.
"""
from bench.servers.common import BODY, CONTENT_TYPE

START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", CONTENT_TYPE.encode()),
                (b"content-length", str(len(BODY)).encode())],
}
RESPONSE_BODY = {"type": "http.response.body", "body": BODY}


async def _lifespan(receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        return await _lifespan(receive, send)
    if scope["type"] != "http":
        return
    if scope["method"] == "POST":
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
    await send(START)
    await send(RESPONSE_BODY)
