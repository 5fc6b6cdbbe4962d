"""A module for the ``python -m reactor cli_app:app`` tests."""


def app(environ, start_response):
    body = ("cli app: %s %s" % (environ["REQUEST_METHOD"], environ["PATH_INFO"])).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]


def create_app():
    """``cli_app:create_app()``: a factory."""
    def made(environ, start_response):
        body = b"from factory; script_name=" + environ["SCRIPT_NAME"].encode()
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    return made


not_callable = 42
