from collections.abc import Callable

from reactor._http_request import HttpRequest
from reactor.http_response import HttpResponse
from reactor.http_server import HttpServer

DEMO_PAGE: bytes

def make_demo(server_ref: list[HttpServer]) -> Callable[[HttpRequest], HttpResponse]: ...
