import argparse
from collections.abc import Callable, Sequence
from typing import Any

from reactor._http_request import HttpRequest
from reactor.http_response import HttpResponse
from reactor.http_server import HttpServer

DEMO_PAGE: bytes

def make_demo(server_ref: list[HttpServer]) -> Callable[[HttpRequest], HttpResponse]: ...
def build_parser() -> argparse.ArgumentParser: ...
def server_kwargs(args: argparse.Namespace) -> dict[str, Any]: ...
def main(argv: Sequence[str] | None = None) -> int: ...
