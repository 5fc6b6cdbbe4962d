"""A FastAPI "hello" app: ``bench.apps.fastapi_app:app`` (the ``fastapi-hello`` scenario).

- ``GET /``: an ``async def`` route returning
  ``PlainTextResponse("Hello, World!")``: the same 13 bytes as the Hello World
  of the plaintext scenario, as ``text/plain; charset=utf-8`` (Starlette adds
  the charset).  The route is also what the harness polls to know a server
  is ready.

An ordinary ``FastAPI()`` with its defaults (the ``/openapi.json``, ``/docs``
and ``/redoc`` routes come first in its router, as in any FastAPI app), so a
request goes through what every FastAPI request goes through: the middleware
stack FastAPI builds (error handling, exception handlers, its
``AsyncExitStack``: five layers in FastAPI 0.165), the router's matching
and FastAPI's endpoint wrapper.  The response is built per request; returning it
directly skips FastAPI's serialization of a return value, so what is
measured is the framework's request path and the server, not JSON
encoding.  Run unchanged by every ASGI server (reactor-asgi, uvicorn,
granian-asgi); the harness checks each one's answer against a call of the
app without a server (``bench.apps.reference(..., interface="asgi")``)
before timing.
"""
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from bench.servers.common import BODY

app = FastAPI()


@app.get("/")
async def hello():
    return PlainTextResponse(BODY)
