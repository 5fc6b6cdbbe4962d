"""The files served by the ``files-*`` scenarios, made once per run.

    fs = files.shared()           # a FileSet in a temp directory, removed at exit
    fs.directory                  # what every files server serves
    fs["10m.bin"]                 # File(name, size, sha256, path)

Three files of random bytes (so no layer can compress them): 1 KiB, 64 KiB
and 10 MiB (``FILES``).  ``shared()`` makes them on first use, in a new
temporary directory, and removes it when this process exits: every server
of a run serves the same directory, and the harness checks each server's
answer against the bytes here before timing it (``bench.run.check_file``).
"""
import atexit
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass

# (scenario suffix, file name, size in bytes)
FILES = (("1k", "1k.bin", 1024),
         ("64k", "64k.bin", 64 * 1024),
         ("10m", "10m.bin", 10 * 1024 * 1024))
PROBE = "1k.bin"                  # the file the readiness probe fetches


@dataclass(frozen=True)
class File:
    """One served file: its name in the directory, size and SHA-256."""

    name: str
    size: int
    sha256: str
    path: str

    def read(self):
        with open(self.path, "rb") as f:
            return f.read()

    def as_dict(self):
        return {"name": self.name, "bytes": self.size, "sha256": self.sha256}


class FileSet:
    """``FILES`` written into ``directory`` (random bytes, made once)."""

    def __init__(self, directory, files=FILES):
        self.directory = os.path.abspath(directory)
        os.makedirs(self.directory, exist_ok=True)
        self.files = {}
        for _, name, size in files:
            data = os.urandom(size)
            path = os.path.join(self.directory, name)
            with open(path, "wb") as f:
                f.write(data)
            self.files[name] = File(name, size, hashlib.sha256(data).hexdigest(), path)

    def __getitem__(self, name):
        return self.files[name]

    def __iter__(self):
        return iter(self.files.values())


_SHARED = []


def shared():
    """This run's FileSet: made on first use in a temporary directory, which is
    removed when the process exits."""
    if not _SHARED:
        directory = tempfile.mkdtemp(prefix="bench-files-")
        atexit.register(shutil.rmtree, directory, True)
        os.chmod(directory, 0o755)          # nginx may run as another user
        _SHARED.append(FileSet(directory))
    return _SHARED[0]
