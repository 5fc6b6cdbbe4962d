"""An app module that fails to import: its own two frames must be what the user sees."""


def load_settings():
    raise RuntimeError("svapp_broken: settings missing")


SETTINGS = load_settings()


def app(environ, start_response):  # never reached
    start_response("200 OK", [("Content-Length", "0")])
    return [b""]
