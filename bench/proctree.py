"""A server's whole process tree, read from /proc.

``tree(pid)`` lists the pid and all its descendants (gunicorn's workers,
granian's worker process, ...).  ``cpu_seconds(pids)`` sums utime + stime
(+ cutime + cstime: the time of descendants already reaped, so a worker that
exits between two samples is not lost) of every process.  ``rss_kb(pids)``
sums VmRSS; ``socket_count(pids)`` counts open socket fds.
"""
import os

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid):
    """Fields after the ``(comm)`` of /proc/<pid>/stat (comm may hold spaces)."""
    with open("/proc/%d/stat" % pid) as f:
        data = f.read()
    return data[data.rindex(")") + 2:].split()


def parent_map():
    """``{pid: ppid}`` for every process visible in /proc."""
    parents = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            parents[int(name)] = int(_stat_fields(int(name))[1])
        except (OSError, ValueError, IndexError):
            pass        # exited while we looked
    return parents


def tree(root):
    """``root`` and all its live descendants (a list, root first)."""
    children = {}
    for pid, ppid in parent_map().items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def cpu_ticks(pid):
    """utime + stime + cutime + cstime of one process, in clock ticks (0 if gone)."""
    try:
        f = _stat_fields(pid)
    except (OSError, ValueError):
        return 0
    # after comm: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
    return int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])


def cpu_seconds(pids):
    """Total CPU seconds used so far by ``pids``."""
    return sum(cpu_ticks(p) for p in pids) / CLK_TCK


def tree_cpu_seconds(root):
    """CPU seconds of ``root``'s whole tree right now."""
    return cpu_seconds(tree(root))


def rss_kb(pids):
    """Sum of VmRSS (kB) over ``pids``."""
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


def socket_count(pids):
    """Open socket fds over ``pids`` (listening sockets included)."""
    count = 0
    for pid in pids:
        fd_dir = "/proc/%d/fd" % pid
        try:
            names = os.listdir(fd_dir)
        except OSError:
            continue
        for name in names:
            try:
                if os.readlink(os.path.join(fd_dir, name)).startswith("socket:"):
                    count += 1
            except OSError:
                pass
    return count
