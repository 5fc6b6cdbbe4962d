"""The echo ASGI app of tests/test_asgi_differential.py (``echo:app``).

By default it reads the whole request body and answers 200 with a
Content-Length and a body that reprs what the server gave it: method, path,
raw_path, root_path, query_string, headers, http_version and the body.  The
request header ``x-behave`` asks for an app-side behaviour instead:

==================  ===============================================================
x-behave            the app ...
==================  ===============================================================
stream              streams "one\\n", "two\\n", "three\\n" (no length), then ends
204 / 304           answers 204 / 304 (with an ETag) and no body
raise               raises before http.response.start
raise-after-start   sends http.response.start, then raises
raise-mid-stream    starts a stream, sends "partial\\n", then raises
cl                  declares Content-Length: 10 and sends it as 4 + 6 bytes
cl-short            declares Content-Length: 10 and ends after 4 bytes (an app bug)
cl-long             declares Content-Length: 4 and sends 10 bytes (an app bug)
cl-stream-short     declares Content-Length: 10 and streams 4 + 2 bytes (an app bug)
cl-stream-long      declares Content-Length: 4 and streams 4 + 6 bytes (an app bug)
until-gone          streams a chunk every 10 ms until send() raises OSError (ASGI 2.4:
                    the client is gone) and files how it ended under the query string
asgi                answers repr(scope["asgi"])
report              answers repr() of what until-gone filed under the query string
nolength            sends the echo body in one message with no Content-Length
empty               answers 200 with no headers and an empty body
headers             answers with repeated and mixed-case header names
==================  ===============================================================
"""


import asyncio

ENDINGS = {}        # until-gone: query string -> how the stream ended


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    assert scope["type"] == "http"
    body = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    behave = b""
    for name, value in scope["headers"]:
        if name == b"x-behave":
            behave = value
    echo = repr({
        "method": scope["method"],
        "path": scope["path"],
        "raw_path": scope["raw_path"],
        "root_path": scope.get("root_path", ""),
        "query_string": scope["query_string"],
        "headers": scope["headers"],
        "http_version": scope["http_version"],
        "body": body,
    }).encode()
    text = [(b"content-type", b"text/plain; charset=utf-8")]

    async def start(status=200, headers=text):
        await send({"type": "http.response.start", "status": status, "headers": headers})

    async def chunk(data, more=True):
        await send({"type": "http.response.body", "body": data, "more_body": more})

    if behave == b"stream":
        await start()
        for part in (b"one\n", b"two\n", b"three\n"):
            await chunk(part)
        await chunk(b"", False)
    elif behave == b"204":
        await start(204, [])
        await chunk(b"", False)
    elif behave == b"304":
        await start(304, [(b"etag", b'"v1"')])
        await chunk(b"", False)
    elif behave == b"raise":
        raise RuntimeError("the echo app was asked to raise")
    elif behave == b"raise-after-start":
        await start()
        raise RuntimeError("the echo app was asked to raise after the start")
    elif behave == b"raise-mid-stream":
        await start()
        await chunk(b"partial\n")
        raise RuntimeError("the echo app was asked to raise mid-stream")
    elif behave == b"cl":
        await start(200, text + [(b"content-length", b"10")])
        await chunk(b"0123")
        await chunk(b"456789", False)
    elif behave == b"cl-short":
        await start(200, text + [(b"content-length", b"10")])
        await chunk(b"0123", False)
    elif behave == b"cl-long":
        await start(200, text + [(b"content-length", b"4")])
        await chunk(b"0123456789", False)
    elif behave == b"cl-stream-short":
        await start(200, text + [(b"content-length", b"10")])
        await chunk(b"0123")
        await chunk(b"45", False)
    elif behave == b"cl-stream-long":
        await start(200, text + [(b"content-length", b"4")])
        await chunk(b"0123")
        await chunk(b"456789", False)
    elif behave == b"until-gone":
        key = scope["query_string"]
        await start()
        try:
            for _ in range(1000):
                await chunk(b"tick\n")
                await asyncio.sleep(0.01)
            ENDINGS[key] = "send() never raised"
        except OSError:
            ENDINGS[key] = "OSError"
    elif behave == b"asgi":
        out = repr(scope["asgi"]).encode()
        await start(200, text + [(b"content-length", b"%d" % len(out))])
        await chunk(out, False)
    elif behave == b"report":
        out = repr(ENDINGS.get(scope["query_string"])).encode()
        await start(200, text + [(b"content-length", b"%d" % len(out))])
        await chunk(out, False)
    elif behave == b"nolength":
        await start()
        await chunk(echo, False)
    elif behave == b"empty":
        await start(200, [])
        await chunk(b"", False)
    elif behave == b"headers":
        await start(200, [(b"Set-Cookie", b"a=1"), (b"set-cookie", b"b=2"),
                          (b"X-Mixed-Case", b"Value"), (b"content-length", b"2")])
        await chunk(b"ok", False)
    else:
        await start(200, text + [(b"content-length", b"%d" % len(echo))])
        await chunk(echo, False)
