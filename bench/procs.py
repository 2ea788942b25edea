"""Processes for the bench harness: everything bench/run_bench.py starts is
registered here and stopped by PID (TERM, then KILL, and whatever of its
descendants outlived it); resource and kernel limits; small text helpers.
Used by the harness process only."""

import os
import resource
import signal
import subprocess
import threading
import time

NOFILE_TARGET = 65536


def log(msg):
    print(msg, flush=True)


def fmt_int(n):
    return f"{n:,}"


def last_line(text):
    lines = [l for l in (text or "").strip().splitlines() if l.strip()]
    return lines[-1] if lines else "(no output)"


def num(v, digits):
    if v is None:
        return "n/a"
    return f"{v:,.{digits}f}"


# --------------------------------------------------------------------------
# processes: everything the harness starts, stopped by PID
# --------------------------------------------------------------------------

def proc_stat(pid):
    """(state, ppid, starttime) of a live process, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1]), int(fields[19])


def proc_children_map():
    kids = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(int(name))
            if st:
                kids.setdefault(st[1], []).append(int(name))
    return kids


def descendants(pid):
    """[(pid, starttime)] of every live descendant of pid."""
    kids = proc_children_map()
    out, todo = [], list(kids.get(pid, []))
    while todo:
        p = todo.pop()
        st = proc_stat(p)
        if st:
            out.append((p, st[2]))
        todo.extend(kids.get(p, []))
    return out


def alive(pid, starttime):
    st = proc_stat(pid)
    return st is not None and st[2] == starttime and st[0] != "Z"


def signal_if_same(pid, starttime, sig):
    """Signals pid only while it is still the process we saw (no PID reuse)."""
    if alive(pid, starttime):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


class Reaper:
    """Registry of the processes the harness started."""

    def __init__(self):
        self.procs = []   # [name, Popen, starttime]
        self.lock = threading.Lock()

    def spawn(self, name, argv, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        # Own session: a Ctrl-C on the terminal reaches only the harness,
        # which then stops everything in order.
        p = subprocess.Popen(argv, start_new_session=True, **kw)
        st = proc_stat(p.pid)
        with self.lock:
            self.procs.append([name, p, st[2] if st else None])
        return p

    def stop(self, popen, grace=5.0):
        """TERM, wait up to grace, then KILL: the process and whatever of its
        descendants (seen before the TERM) outlived it."""
        with self.lock:
            entry = next((e for e in self.procs if e[1] is popen), None)
        if entry is None or popen.poll() is not None:
            self._forget(popen)
            return
        start = entry[2]
        kids = descendants(popen.pid)
        signal_if_same(popen.pid, start, signal.SIGTERM)
        try:
            popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            kids = descendants(popen.pid) or kids
            signal_if_same(popen.pid, start, signal.SIGKILL)
            try:
                popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        # Session processes a peer left behind (vsftpd and Pure-FTPd do not
        # end running sessions when their listener stops).
        stop_leftovers(kids)
        self._forget(popen)

    def _forget(self, popen):
        with self.lock:
            self.procs = [e for e in self.procs if e[1] is not popen]

    def stop_all(self):
        with self.lock:
            procs = list(reversed(self.procs))
        for _, p, _ in procs:
            try:
                self.stop(p)
            except Exception as e:  # keep stopping the others
                log(f"bench: stopping PID {p.pid}: {e}")


REAPER = Reaper()


def stop_leftovers(procs, grace=3.0):
    """TERM, then KILL after grace, each (pid, starttime) still alive: only
    processes the harness started or their descendants are passed here."""
    live = [(p, s) for p, s in procs if alive(p, s)]
    for p, s in live:
        signal_if_same(p, s, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while live and time.monotonic() < deadline:
        time.sleep(0.05)
        live = [(p, s) for p, s in live if alive(p, s)]
    for p, s in live:
        signal_if_same(p, s, signal.SIGKILL)


class CpuGroups:
    """cgroup v2 groups that hold each server and everything it forks, so a
    server's CPU time is exact: a process tree read from /proc misses the
    CPU of session processes that exit unreaped or are reparented to init
    (vsftpd's). One parent group per harness run, one child per server and
    one for the load generator. The parent does not enable the cpu
    controller for its children, so they are not separate scheduling
    entities and CPU is shared as without groups. Needs root and a cgroup2
    mount (pure or hybrid); without them every figure falls back to
    ftpbench's --server-pid measurement."""

    def __init__(self):
        self.parent = None
        self.home = None      # the harness's own group, to return to

    def setup(self):
        """Creates the parent group and moves the harness (and so everything
        it starts but the servers) into its "client" child."""
        if os.geteuid() != 0:
            return False
        mount = None
        try:
            with open("/proc/mounts") as f:
                for line in f:
                    fields = line.split()
                    if len(fields) > 2 and fields[2] == "cgroup2":
                        mount = fields[1]
                        break
        except OSError:
            return False
        if mount is None:
            return False
        path = os.path.join(mount, f"poolftpd-bench-{os.getpid()}")
        try:
            os.mkdir(path)
        except OSError:
            return False
        if not os.path.exists(os.path.join(path, "cpu.stat")):
            os.rmdir(path)
            return False
        self.parent = path
        try:
            with open("/proc/self/cgroup") as f:
                for line in f:
                    if line.startswith("0::"):
                        self.home = os.path.join(mount, line[3:].strip().lstrip("/"))
        except OSError:
            pass
        client = self.path("client")
        try:
            with open(os.path.join(client, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
        except (OSError, TypeError):
            self.remove()
            return False
        return True

    def path(self, name):
        if self.parent is None:
            return None
        p = os.path.join(self.parent, name)
        if not os.path.isdir(p):
            try:
                os.mkdir(p)
            except OSError:
                return None
        return p

    def joiner(self, name):
        """A preexec_fn part: the child joins group `name` before exec."""
        p = self.path(name)
        if p is None:
            return lambda: None
        procs = os.path.join(p, "cgroup.procs")

        def join():
            try:
                with open(procs, "w") as f:
                    f.write(str(os.getpid()))
            except OSError:
                pass
        return join

    def usage_ms(self, name):
        p = self.path(name)
        if p is None:
            return None
        try:
            with open(os.path.join(p, "cpu.stat")) as f:
                for line in f:
                    k, v = line.split()
                    if k == "usage_usec":
                        return int(v) / 1000.0
        except (OSError, ValueError):
            pass
        return None

    def members(self, name):
        """[(pid, starttime)] in group `name`: all started by the harness."""
        p = self.path(name) if self.parent else None
        out = []
        if p is None:
            return out
        try:
            with open(os.path.join(p, "cgroup.procs")) as f:
                for line in f:
                    st = proc_stat(int(line))
                    if st:
                        out.append((int(line), st[2]))
        except (OSError, ValueError):
            pass
        return out

    def stop_members(self):
        """Stops what is left in the server groups (all started by us)."""
        if self.parent is None:
            return
        for name in sorted(os.listdir(self.parent)):
            if name != "client" and os.path.isdir(os.path.join(self.parent, name)):
                stop_leftovers(self.members(name))

    def remove(self):
        """The harness back home, then every group removed (once empty)."""
        if self.parent is None:
            return
        if self.home:
            try:
                with open(os.path.join(self.home, "cgroup.procs"), "w") as f:
                    f.write(str(os.getpid()))
            except OSError:
                pass
        for _ in range(50):
            try:
                for name in os.listdir(self.parent):
                    child = os.path.join(self.parent, name)
                    if os.path.isdir(child):
                        os.rmdir(child)
                os.rmdir(self.parent)
                self.parent = None
                return
            except OSError:
                time.sleep(0.1)


CGROUPS = CpuGroups()


def run(argv, timeout=60, **kw):
    """A short helper command, stopped by PID if it overruns."""
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    p = REAPER.spawn(argv[0], argv, text=True, **kw)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        REAPER.stop(p, grace=2)
        out, err = p.communicate()
        return subprocess.CompletedProcess(argv, -1, out or "", (err or "") + "\n(timed out)")
    finally:
        REAPER._forget(p)
    return subprocess.CompletedProcess(argv, p.returncode, out, err)


def raise_nofile():
    """RLIMIT_NOFILE to NOFILE_TARGET, or as far as the hard limit allows
    (raising the hard limit needs CAP_SYS_RESOURCE): the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE,
                           (NOFILE_TARGET, max(NOFILE_TARGET, hard)
                            if hard != resource.RLIM_INFINITY else hard))
    except (ValueError, OSError):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def raise_own_limits(notes, many):
    """Limits for the harness and what it starts: ftpbench holds one socket
    per idle session."""
    nofile = raise_nofile()
    if nofile != resource.RLIM_INFINITY and nofile < many + 1000:
        notes.append(f"RLIMIT_NOFILE is {nofile} (hard limit): too low for {fmt_int(many)} "
                     f"sessions; raise the hard limit (ulimit -Hn, limits.conf)")
    return nofile


def server_limits():
    """preexec_fn for the servers: room for 10,000 sessions."""
    raise_nofile()
    try:
        _, hard = resource.getrlimit(resource.RLIMIT_NPROC)
        resource.setrlimit(resource.RLIMIT_NPROC, (hard, hard))
    except (ValueError, OSError):
        pass


def kernel_notes(many):
    """Kernel limits the many-session test depends on, with a note for each
    one that is too small (the harness does not change sysctls)."""
    notes, facts = [], {}

    def read(path):
        try:
            with open(path) as f:
                return f.read().split()
        except OSError:
            return None
    checks = [
        ("kernel.pid_max", "/proc/sys/kernel/pid_max", many + 2000),
        ("kernel.threads-max", "/proc/sys/kernel/threads-max", many + 2000),
        ("fs.file-max", "/proc/sys/fs/file-max", 4 * many),
        ("fs.nr_open", "/proc/sys/fs/nr_open", NOFILE_TARGET),
    ]
    for name, path, need in checks:
        v = read(path)
        if v:
            facts[name] = int(v[0])
            if int(v[0]) < need:
                notes.append(f"{name} = {v[0]} is below {need}: raise it for the "
                             f"{fmt_int(many)}-session test")
    v = read("/proc/sys/net/ipv4/ip_local_port_range")
    if v:
        facts["net.ipv4.ip_local_port_range"] = f"{v[0]}-{v[1]}"
        if int(v[1]) - int(v[0]) < many + 1000:
            notes.append(f"net.ipv4.ip_local_port_range {v[0]}-{v[1]} leaves fewer than "
                         f"{fmt_int(many)} client ports")
    for name, path in (("net.core.somaxconn", "/proc/sys/net/core/somaxconn"),
                       ("net.ipv4.tcp_tw_reuse", "/proc/sys/net/ipv4/tcp_tw_reuse")):
        v = read(path)
        if v:
            facts[name] = int(v[0])
    if facts.get("net.ipv4.tcp_tw_reuse", 2) == 0:
        notes.append("net.ipv4.tcp_tw_reuse = 0: the login runs may run out of client "
                     "ports (TIME_WAIT); 2 (the default) reuses them on loopback")
    return facts, notes
