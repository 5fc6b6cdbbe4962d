"""The master process: binds once, forks workers, supervises them.

nginx's model: the master opens every listening socket before it forks, so
the sockets (and the connections waiting in their accept queues) outlive
any worker.  The master never accepts a connection or reads a request; it
only watches its workers:

=========== ================================================================
signal      effect
=========== ================================================================
TERM, INT   graceful stop: workers stop accepting and finish in-flight
            requests within ``graceful_timeout``, then are killed; exit 0
QUIT        immediate stop: workers exit at once; exit 0
HUP         rolling reload: a new generation of workers (a fresh import of
            the app); each one that is ready lets an old one drain.  If the
            new ones fail to import, the old ones keep serving
TTIN, TTOU  one worker more, one fewer
USR1        reopen the log files (after logrotate), in the master and workers
=========== ================================================================

A worker that dies is replaced at once and its exit cause logged; one that
keeps dying at start is restarted with growing delays.  A worker whose event
loops stop heart-beating for ``timeout`` seconds has its stacks dumped and
is killed.  A worker that served ``max_requests`` asks to be replaced; the
successor starts first, so no request is dropped.  ``reload`` watches the
app's ``.py`` files and reloads on a change.
"""
import logging
import mmap
import os
import random
import select
import signal
import sys
import threading
import time

from reactor import worker as _worker
from reactor.listeners import open_listeners

log = logging.getLogger("reactor.supervisor")

MAX_WORKER_SLOTS = 1024         # heartbeat slots (workers alive at once, all generations)
TICK = 0.25                     # the master's longest sleep
STABLE_AFTER = 5.0              # a worker up this long resets the crash backoff
KILL_GRACE = 2.0                # after graceful_timeout, before SIGKILL
DUMP_GRACE = 1.0                # after the stack dump of a hung worker, before SIGKILL
RELOAD_POLL = 1.0

_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP,
            signal.SIGTTIN, signal.SIGTTOU, signal.SIGCHLD, signal.SIGUSR1, signal.SIGUSR2)


class StartError(ValueError):
    """The master cannot start (e.g. its --pid file cannot be written)."""


class _Worker:
    __slots__ = ("number", "pid", "gen", "slot", "fd", "state", "started", "ready_at",
                 "retire", "kill_at", "hung", "expected_exit")

    def __init__(self, number, pid, gen, slot, fd):
        self.number = number
        self.pid = pid
        self.gen = gen
        self.slot = slot
        self.fd = fd
        self.state = "booting"      # -> ready -> stopping
        self.started = time.monotonic()
        self.ready_at = None
        self.retire = False         # asked to be replaced (max-requests)
        self.kill_at = None         # SIGKILL if still alive then
        self.hung = False
        self.expected_exit = False

    def __repr__(self):
        return "worker %d (pid %d)" % (self.number, self.pid)


def _describe_exit(status):
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = "signal %d" % sig
        return "was killed by %s" % name
    return "exited with code %d" % os.WEXITSTATUS(status)


class Supervisor:
    """Run ``config`` (a validated ``reactor.config.Config``) as a master
    with ``config.workers`` workers.  ``run()`` returns the exit status.

    ``on_ready(supervisor)`` is called once every first worker serves;
    ``supervisor.listeners`` then holds the bound sockets."""

    def __init__(self, config, on_ready=None):
        self.config = config
        self.on_ready = on_ready
        self.listeners = []
        self.workers = {}           # pid -> _Worker
        self.target = config.workers
        self.gen = 0
        self._numbers = 0
        self._free_slots = list(range(MAX_WORKER_SLOTS - 1, -1, -1))
        self._heart = None
        self._signals = []
        self._wake_r = self._wake_w = -1
        self._old_wakeup = -1
        self._old_handlers = {}
        self._stopping = None       # None, "graceful" or "quick"
        self._ever_ready = False
        self._announced = False
        self._failures = 0          # workers in a row that died soon after they started
        self._last_failure = 0.0
        self._spawn_after = 0.0
        self._exit_code = 0
        self._reload_state = None
        self._next_reload_poll = 0.0
        self._pid_written = False

    # ---- the run ------------------------------------------------------------------

    def run(self):
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("the supervisor must run in the main thread: it handles "
                               "signals and forks workers")
        cfg = self.config
        if cfg.certfile is not None and cfg.tls_ticket_key is None:
            # one session-ticket key for every worker, and for every generation
            # after a reload: a client resumes its session on whichever it reaches
            from reactor._tls import new_ticket_key
            cfg.tls_ticket_key = new_ticket_key()
        self.listeners = open_listeners(cfg.binds(), reuse_port=cfg.reuse_port,
                                        backlog=cfg.backlog, umask=cfg.umask)
        try:
            self._heart = mmap.mmap(-1, MAX_WORKER_SLOTS * _worker.LOOP_SLOTS * 8)
            self._write_pid()
            self._install_signals()
            if cfg.reload:
                self._reload_state = self._scan()
            while True:
                self._step()
                if self._stopping and not self.workers:
                    break
            return self._exit_code
        finally:
            self._cleanup()

    def _step(self):
        now = time.monotonic()
        if self._stopping is None:
            self._manage(now)
        timeout = TICK
        if self._spawn_after > now:
            timeout = min(timeout, self._spawn_after - now)
        poller = select.poll()
        poller.register(self._wake_r, select.POLLIN)
        for w in self.workers.values():
            if w.fd >= 0:
                poller.register(w.fd, select.POLLIN)
        try:
            readable = {fd for fd, _ in poller.poll(max(0.0, timeout) * 1000.0)}
        except InterruptedError:
            readable = set()
        if self._wake_r in readable:
            self._drain(self._wake_r)
        for w in list(self.workers.values()):
            if w.fd in readable:
                self._read_status(w)
        while self._signals:
            self._handle_signal(self._signals.pop(0))
        self._reap()
        now = time.monotonic()
        self._check_workers(now)
        if self._reload_state is not None and self._stopping is None \
                and now >= self._next_reload_poll:
            self._next_reload_poll = now + RELOAD_POLL
            self._poll_files()

    # ---- workers --------------------------------------------------------------------

    def _serving(self):
        return [w for w in self.workers.values() if w.state != "stopping"]

    def _manage(self, now):
        serving = self._serving()
        fresh = [w for w in serving if w.gen == self.gen and not w.retire]
        if len(fresh) < self.target and now >= self._spawn_after:
            for _ in range(self.target - len(fresh)):
                self._spawn()
        ready = [w for w in serving if w.state == "ready"]
        # more workers serve than wanted (a successor is ready, or TTOU):
        # drain the ones to retire first, then the oldest
        while len(ready) > self.target:
            ready.sort(key=lambda w: (w.gen == self.gen and not w.retire, w.gen, w.number))
            self._stop_worker(ready.pop(0), now)
        if not self._announced and len(ready) >= self.target:
            self._announced = True
            if self.on_ready is not None:
                self.on_ready(self)

    def _spawn(self):
        cfg = self.config
        if not self._free_slots:
            log.error("too many workers alive at once (%d); not starting another",
                      MAX_WORKER_SLOTS)
            return
        slot = self._free_slots.pop()
        heart = _worker.Heartbeat(self._heart, slot)
        heart.clear()
        limit = 0
        if cfg.max_requests:
            limit = cfg.max_requests + random.randint(0, cfg.max_requests_jitter)
        r, w = os.pipe()
        self._numbers += 1
        master = os.getpid()
        close = [self._wake_r, self._wake_w, r] + [x.fd for x in self.workers.values()]
        sys.stdout.flush()
        sys.stderr.flush()
        # signals wait until the child has its own handlers (else the child's copy
        # of ours would swallow a TERM meant for it)
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
        try:
            pid = os.fork()
        except OSError as exc:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            os.close(r)
            os.close(w)
            self._free_slots.append(slot)
            self._failures += 1
            self._spawn_after = time.monotonic() + min(0.1 * 2 ** self._failures, 10.0)
            log.error("cannot start a worker: fork failed: %s", exc)
            return
        if pid == 0:
            siblings = self.target > 1 and not cfg.reuse_port
            _worker.run_worker(cfg, self.listeners, w, heart, master, limit, close, siblings,
                               mask)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.close(w)
        os.set_blocking(r, False)
        wk = _Worker(self._numbers, pid, self.gen, slot, r)
        self.workers[pid] = wk
        log.debug("%r starting (generation %d)", wk, self.gen)

    def _stop_worker(self, w, now, sig=signal.SIGTERM, grace=None):
        """Count ``w`` out of the serving workers (its successor may start),
        send it ``sig`` (None: it is already stopping by itself) and SIGKILL
        it if it is still alive after ``grace`` (default: the drain's)."""
        if w.state == "stopping" and sig == signal.SIGTERM:
            return
        w.state = "stopping"
        w.expected_exit = True
        if grace is None:
            grace = self.config.graceful_timeout + KILL_GRACE
        w.kill_at = now + grace if w.kill_at is None else min(w.kill_at, now + grace)
        if sig is not None:
            self._kill(w, sig)

    def _kill(self, w, sig):
        try:
            os.kill(w.pid, sig)
        except ProcessLookupError:
            pass

    def _read_status(self, w):
        try:
            data = os.read(w.fd, 64)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            os.close(w.fd)
            w.fd = -1
            return
        if b"S" in data and w.state == "booting":
            w.state = "ready"
            w.ready_at = time.monotonic()
            self._ever_ready = True
            # start-up is announced once, by the caller's on_ready
            (log.info if self._announced else log.debug)("%r ready", w)
        if b"R" in data and not w.retire:
            w.retire = True
            log.info("%r reached --max-requests; starting its successor", w)
        if b"D" in data and w.state != "stopping":
            # it drains on its own (someone sent it SIGTERM): replace it now
            log.info("%r is draining (signalled directly); starting its successor", w)
            self._stop_worker(w, time.monotonic(), sig=None)

    def _exited(self):
        """``(pid, status)`` of children that have exited: our workers only,
        unless we are PID 1 (a container's init), which must reap everyone."""
        if os.getpid() == 1:
            while True:
                try:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    return
                if pid == 0:
                    return
                yield pid, status
        for pid in list(self.workers):
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done, status = pid, 0       # reaped by someone else: gone all the same
            if done:
                yield pid, status

    def _reap(self):
        for pid, status in self._exited():
            w = self.workers.pop(pid, None)
            if w is None:
                continue
            self._free_slots.append(w.slot)
            if w.fd >= 0:
                self._read_status(w)        # a ready byte written just before it died
            if w.fd >= 0:
                os.close(w.fd)
                w.fd = -1
            self._worker_exited(w, status)

    def _worker_exited(self, w, status):
        now = time.monotonic()
        cause = _describe_exit(status)
        boot_error = (w.state == "booting" and os.WIFEXITED(status)
                      and os.WEXITSTATUS(status) == _worker.BOOT_ERROR)
        if w.expected_exit and not w.hung:
            log.info("%r stopped (%s)", w, cause.replace("exited with ", ""))
            return
        if self._stopping:
            log.info("%r %s", w, cause)
            return
        if w.hung:
            log.error("%r %s after it stopped heart-beating", w, cause)
        elif boot_error:
            log.error("%r failed to start: the app could not be imported", w)
        else:
            log.error("%r %s", w, cause)
        if not self._ever_ready and not self.config.reload and w.state == "booting":
            # nothing ever served: the next worker would fail the same way
            log.error("the first workers failed to start; stopping")
            self._exit_code = _worker.BOOT_ERROR if boot_error else 1
            self._begin_stop("quick")
            return
        if boot_error:
            if w.gen == self.gen and self.gen > 0 and any(
                    x.gen < self.gen and x.state == "ready" for x in self.workers.values()):
                # a reload whose new code does not import: the old workers stay
                log.error("reload failed: the old workers keep serving the old code")
                self.gen -= 1
                for x in list(self.workers.values()):
                    if x.gen > self.gen:
                        self._stop_worker(x, now)
        lived = now - w.started
        if lived < STABLE_AFTER or boot_error:
            self._failures += 1
            self._last_failure = now
            if self._failures > 1:
                delay = min(0.1 * 2 ** (self._failures - 2), 10.0)
                self._spawn_after = now + delay
                log.warning("workers keep dying at start: next one in %.1fs", delay)

    def _check_workers(self, now):
        timeout = self.config.timeout
        for w in list(self.workers.values()):
            if w.kill_at is not None and now >= w.kill_at:
                log.warning("%r did not stop in time: killing it", w)
                w.kill_at = None
                self._kill(w, signal.SIGKILL)
                continue
            if self._failures and w.state == "ready" and w.started > self._last_failure \
                    and now - w.ready_at > STABLE_AFTER:
                # a worker started after the last failure has stayed up: the cause is gone
                self._failures = 0
            if timeout and w.state == "ready":
                last = _worker.Heartbeat(self._heart, w.slot).oldest() or w.ready_at
                if now - last > timeout:
                    log.error("%r: an event loop has not run for %.1fs (--timeout %g): "
                              "dumping its stacks and killing it", w, now - last, timeout)
                    w.hung = True
                    self._stop_worker(w, now, sig=signal.SIGUSR2, grace=DUMP_GRACE)

    # ---- signals -----------------------------------------------------------------------

    def _install_signals(self):
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._old_wakeup = signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)

        def on_signal(signum, frame):
            self._signals.append(signum)

        self._old_handlers = {sig: signal.signal(sig, on_signal) for sig in _SIGNALS}

    def _handle_signal(self, sig):
        if sig == signal.SIGCHLD:
            return
        name = signal.Signals(sig).name
        if sig in (signal.SIGTERM, signal.SIGINT):
            if self._stopping is None:
                log.info("received %s: stopping gracefully", name)
                self._begin_stop("graceful")
            elif sig == signal.SIGINT:
                log.info("received %s again: stopping now", name)
                self._begin_stop("quick")
        elif sig == signal.SIGQUIT:
            log.info("received SIGQUIT: stopping now")
            self._begin_stop("quick")
        elif self._stopping:
            return
        elif sig == signal.SIGHUP:
            log.info("received SIGHUP: reloading")
            self.reload()
        elif sig == signal.SIGTTIN:
            self.target += 1
            log.info("received SIGTTIN: %d workers", self.target)
        elif sig == signal.SIGTTOU:
            if self.target > 1:
                self.target -= 1
            log.info("received SIGTTOU: %d workers", self.target)
        elif sig == signal.SIGUSR1:
            log.info("received SIGUSR1: reopening the log files")
            _worker.reopen_log_files()
            for w in list(self.workers.values()):
                self._kill(w, signal.SIGUSR1)
        else:
            log.warning("received %s: ignored (SIGHUP reloads)", name)

    def reload(self):
        """Start a new generation of workers; the old ones drain as the new
        ones become ready.  The new workers read --certfile/--keyfile again
        (a renewed certificate); if those files cannot be used now, the
        reload is refused and the running workers keep serving."""
        if self.config.certfile is not None:
            try:
                self.config.tls_context()
            except (ValueError, RuntimeError) as exc:
                log.error("reload refused, the workers keep their certificate: %s", exc)
                return
            # a new session-ticket key for the new generation (sessions made
            # with the old one end with it: their clients do a full handshake)
            from reactor._tls import new_ticket_key
            self.config.tls_ticket_key = new_ticket_key()
        self.gen += 1
        self._failures = 0
        self._spawn_after = 0.0

    def _begin_stop(self, how):
        now = time.monotonic()
        self._stopping = how
        # refuse new connections at once rather than queue them for nobody (the
        # workers close their copies as they begin to drain); a socket we were
        # given (fd://, systemd) stays with its owner, who queues for our successor
        for lst in self.listeners:
            if lst.owned:
                lst.close()
        for w in list(self.workers.values()):
            if how == "graceful":
                self._stop_worker(w, now)
            else:
                self._stop_worker(w, now, sig=signal.SIGQUIT, grace=DUMP_GRACE)

    @staticmethod
    def _drain(fd):
        try:
            while os.read(fd, 4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    # ---- --reload ------------------------------------------------------------------------

    def _reload_dirs(self):
        cfg = self.config
        return cfg.reload_dir or [cfg.app_dir or os.getcwd()]

    def _scan(self):
        seen = {}
        skip = {"__pycache__", "node_modules", "site-packages", "build", "dist"}
        for top in self._reload_dirs():
            for root, dirs, files in os.walk(top):
                dirs[:] = [d for d in dirs if d not in skip and not d.startswith(".")
                           and not os.path.exists(os.path.join(root, d, "pyvenv.cfg"))]
                for name in files:
                    if name.endswith(".py"):
                        path = os.path.join(root, name)
                        try:
                            st = os.stat(path)
                        except OSError:
                            continue
                        seen[path] = (st.st_mtime_ns, st.st_size)
        return seen

    def _poll_files(self):
        now = self._scan()
        old = self._reload_state
        if now != old:
            changed = sorted(p for p in set(now) | set(old) if now.get(p) != old.get(p))
            self._reload_state = now
            log.info("--reload: %s changed; reloading", ", ".join(
                os.path.relpath(p) for p in changed[:3]) + (" ..." if len(changed) > 3 else ""))
            self.reload()

    # ---- start and end -------------------------------------------------------------------

    def _write_pid(self):
        path = self.config.pid
        if not path:
            return
        tmp = "%s.%d.tmp" % (path, os.getpid())
        try:
            with open(tmp, "w") as f:
                f.write("%d\n" % os.getpid())
            os.replace(tmp, path)
        except OSError as exc:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise StartError("cannot write the --pid file %s: %s"
                             % (path, exc.strerror or exc)) from None
        self._pid_written = True

    def _cleanup(self):
        for w in list(self.workers.values()):
            self._kill(w, signal.SIGKILL)
        for pid in list(self.workers):
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        self.workers.clear()
        for lst in self.listeners:
            lst.close()
        if self._pid_written:
            try:
                with open(self.config.pid) as f:
                    mine = f.read().strip() == str(os.getpid())
                if mine:
                    os.unlink(self.config.pid)
            except OSError:
                pass
        if self._wake_w >= 0:
            # an embedding program gets its own handlers back
            signal.set_wakeup_fd(self._old_wakeup)
            for sig, old in self._old_handlers.items():
                signal.signal(sig, old if old is not None else signal.SIG_DFL)
            os.close(self._wake_r)
            os.close(self._wake_w)
            self._wake_r = self._wake_w = -1
        if self._heart is not None:
            self._heart.close()
            self._heart = None


def run(app=None, **options):
    """Serve ``app`` with a master and ``workers`` worker processes until
    SIGTERM/SIGINT/SIGQUIT; returns the exit status (0, or 3 when the app
    failed to import at start).

    ``app`` is ``"module:attr"`` (imported in each worker, so a SIGHUP
    reload serves changed code), a WSGI callable (inherited by the workers
    when they fork: a reload restarts them with the same code), or None for
    the built-in demo.  ``options`` are ``reactor.config.Config`` fields:
    ``workers=4, bind=["0.0.0.0:8000", "unix:/run/app.sock"], threads=2``.
    Logging is left to the caller.  Call it from the main thread, before
    starting threads of your own (it forks)."""
    from reactor.config import Config, make_config
    unknown = set(options) - set(Config.names()) - {"config"}
    if unknown:
        raise TypeError("run() got unknown option(s): %s" % ", ".join(sorted(unknown)))
    if "app" in options:
        raise TypeError("run() got app twice")
    cfg = make_config(dict(options, app=app), use_env=False)
    return Supervisor(cfg).run()

