"""Listening sockets: ``--bind`` addresses, inherited fds and systemd's.

The master process opens every listening socket once, before it forks, and
the workers inherit them (nginx's model): a worker that dies takes no
socket with it, and connections wait in the kernel's accept queue until a
worker takes them.  ``--reuse-port`` instead gives each worker a socket of
its own on the same TCP address (``SO_REUSEPORT``); the master then only
binds the address (to report errors and fix port 0) and never listens.

Addresses (``--bind``, repeatable):

* ``HOST:PORT`` and ``[V6]:PORT``: TCP;
* ``unix:PATH``: a unix stream socket, created under ``--umask``; a stale
  socket file (nobody listening) is removed first, a live one is an error;
* ``fd://N``: an already-listening socket inherited as fd N.

systemd socket activation (``LISTEN_PID`` equal to our pid and
``LISTEN_FDS=n``): fds 3 .. 3+n-1 are used, and the variables are removed
from the environment so that children do not take them again.
"""
import logging
import os
import socket
import stat

from reactor.acceptor import Acceptor, sock_address

SD_LISTEN_FDS_START = 3

log = logging.getLogger("reactor.supervisor")


class BindError(ValueError):
    """A bind address that cannot be used; the message names it."""


def parse_bind(spec):
    """``(kind, address)`` for one ``--bind`` value: ``("tcp", (host, port))``,
    ``("unix", path)`` or ``("fd", n)``.  BindError with the reason."""
    if not isinstance(spec, str) or not spec:
        raise BindError("--bind needs an address (HOST:PORT, [V6]:PORT, unix:PATH, fd://N), "
                        "got %r" % (spec,))
    if spec.startswith("unix:"):
        path = spec[5:]
        if path.startswith("//"):          # unix:///run/x.sock, as some tools write it
            path = path[2:]
        if not path:
            raise BindError("--bind %s: no socket path after unix:" % spec)
        if "\0" in path:
            raise BindError("--bind %r: the path contains a NUL byte" % spec)
        return "unix", path
    if spec.startswith("fd://"):
        n = spec[5:]
        if not n.isdigit():
            raise BindError("--bind %s: fd:// needs a file descriptor number" % spec)
        return "fd", int(n)
    if spec.startswith("["):
        host, sep, rest = spec[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise BindError("--bind %s: an IPv6 address is written [ADDR]:PORT" % spec)
        port = rest[1:]
    else:
        host, sep, port = spec.rpartition(":")
        if not sep:
            raise BindError("--bind %s: expected HOST:PORT, [V6]:PORT, unix:PATH or fd://N"
                            % spec)
        if ":" in host:
            raise BindError("--bind %s: write an IPv6 address in brackets, [ADDR]:PORT" % spec)
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise BindError("--bind %s: the port must be a number in 0..65535" % spec)
    return "tcp", (host or "0.0.0.0", int(port))


def format_tcp(host, port):
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


class Listener:
    """One listening socket and where it came from.

    ``kind`` is ``tcp``, ``unix`` or ``fd``; ``spec`` the address as the
    user wrote it; ``per_worker`` is true for ``--reuse-port`` TCP listeners,
    whose workers each open their own socket (``worker_socket()``)."""

    def __init__(self, kind, spec, sock, per_worker=False, unlink_path=None):
        self.kind = kind
        self.spec = spec
        self.sock = sock
        self.per_worker = per_worker
        self.unlink_path = unlink_path      # a unix socket file this process created
        self._file_id = None                # its (st_dev, st_ino): never unlink another's
        if unlink_path is not None:
            st = os.lstat(unlink_path)
            self._file_id = (st.st_dev, st.st_ino)

    @property
    def owned(self):
        """True when this process bound the socket (``--bind`` TCP or unix),
        false for one it was given (``fd://``, systemd), whose owner keeps it."""
        return self.kind in ("tcp", "unix")

    @property
    def family(self):
        return self.sock.family

    def url(self, scheme="http"):
        """For the start-up line: ``http://HOST:PORT`` or ``unix:PATH``."""
        host, port = sock_address(self.sock)
        if self.sock.family == socket.AF_UNIX:
            return "unix:%s" % host
        return "%s://%s" % (scheme, format_tcp(host, port))

    def worker_socket(self, backlog):
        """The socket a worker serves: the inherited one, or for ``per_worker``
        listeners a new SO_REUSEPORT socket on the same address."""
        if not self.per_worker:
            return self.sock
        addr = self.sock.getsockname()
        s = socket.socket(self.sock.family, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            s.bind(addr)
            s.listen(backlog)
        except BaseException:
            s.close()
            raise
        return s

    def close(self):
        """Close the socket; remove the unix socket file this process made."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.unlink_path is not None:
            try:
                st = os.lstat(self.unlink_path)
                if stat.S_ISSOCK(st.st_mode) and (st.st_dev, st.st_ino) == self._file_id:
                    os.unlink(self.unlink_path)
            except OSError:
                pass
            self.unlink_path = None


def _bind_tcp(spec, host, port, reuse_port, backlog):
    try:
        # the system's default dual-stack: [::] takes IPv4 as well, as before
        sock = Acceptor._bind(host, port, reuse_port)
    except socket.gaierror as exc:
        raise BindError("cannot bind %s: %s" % (spec, exc.strerror or exc)) from None
    except OSError as exc:
        raise BindError("cannot bind %s: %s" % (spec, exc)) from None
    try:
        if not reuse_port:
            sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise BindError("cannot bind %s: %s" % (spec, exc)) from None
    return Listener("tcp", spec, sock, per_worker=reuse_port)


def _remove_stale_unix(spec, path):
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise BindError("cannot bind %s: %s" % (spec, exc)) from None
    if not stat.S_ISSOCK(st.st_mode):
        raise BindError("cannot bind %s: %s exists and is not a socket" % (spec, path))
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        try:
            os.unlink(path)         # stale: nobody listens on it
        except FileNotFoundError:
            pass
        return
    except OSError:
        return                      # let bind() report what is wrong
    finally:
        probe.close()
    raise BindError("cannot bind %s: another server is listening on it" % spec)


def _bind_unix(spec, path, umask, backlog):
    _remove_stale_unix(spec, path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(umask) if umask is not None else None
    try:
        sock.bind(path)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise BindError("cannot bind %s: %s" % (spec, exc)) from None
    finally:
        if old is not None:
            os.umask(old)
    return Listener("unix", spec, sock, unlink_path=path)


def _adopt_fd(spec, fd, backlog=None):
    try:
        st = os.fstat(fd)
    except OSError as exc:
        raise BindError("cannot use %s: %s" % (spec, exc)) from None
    if not stat.S_ISSOCK(st.st_mode):
        raise BindError("cannot use %s: fd %d is not a socket" % (spec, fd))
    sock = socket.socket(fileno=fd)
    if sock.type != socket.SOCK_STREAM or sock.family not in (
            socket.AF_INET, socket.AF_INET6, socket.AF_UNIX):
        sock.detach()
        raise BindError("cannot use %s: fd %d is not a TCP or unix stream socket" % (spec, fd))
    if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        if backlog is None:
            sock.detach()
            raise BindError("cannot use %s: fd %d is not listening" % (spec, fd))
        try:
            sock.listen(backlog)
        except OSError as exc:
            sock.detach()
            raise BindError("cannot use %s: %s" % (spec, exc)) from None
    os.set_inheritable(fd, False)
    return Listener("fd", spec, sock)


def systemd_listeners(environ=None):
    """The sockets systemd passed us (socket activation), or []; the
    LISTEN_* variables are removed from ``environ`` once read."""
    env = os.environ if environ is None else environ
    pid, fds = env.get("LISTEN_PID"), env.get("LISTEN_FDS")
    if not pid or not fds:
        return []
    for key in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        env.pop(key, None)
    if not pid.isdigit() or int(pid) != os.getpid():
        return []
    if not fds.isdigit():
        raise BindError("LISTEN_FDS=%r is not a number" % fds)
    return [_adopt_fd("systemd socket fd %d" % fd, fd)
            for fd in range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + int(fds))]


def open_listeners(binds, reuse_port=False, backlog=1024, umask=None, environ=None):
    """Open a Listener for each address in ``binds`` (systemd's sockets
    instead when socket activation is present).  On an error every socket
    opened so far is closed and BindError names the failing address."""
    done = systemd_listeners(environ)
    if done:
        log.info("serving the %d socket(s) systemd passed (LISTEN_FDS); --bind, --host and "
                 "--port are not used", len(done))
        return done
    fds = set()
    try:
        for spec in binds:
            kind, addr = parse_bind(spec)
            if kind == "fd":
                if addr in fds:
                    raise BindError("--bind %s: fd %d is given twice" % (spec, addr))
                fds.add(addr)
            if kind == "tcp":
                done.append(_bind_tcp(spec, addr[0], addr[1], reuse_port, backlog))
            elif kind == "unix":
                done.append(_bind_unix(spec, addr, umask, backlog))
            else:
                done.append(_adopt_fd(spec, addr, backlog))
    except BaseException:
        for lst in done:
            lst.close()
        raise
    if not done:
        raise BindError("no address to listen on")
    return done

