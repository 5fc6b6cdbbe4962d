import argparse
from collections.abc import Mapping, Sequence

from reactor.config import Config

def build_parser() -> argparse.ArgumentParser: ...
def load_config(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> tuple[Config, None] | tuple[None, str]: ...
def main(argv: Sequence[str] | None = None) -> int: ...
