#!/usr/bin/python3
"""`make bench`: poolftpd against vsftpd and Pure-FTPd on loopback.

Builds a fixture tree under BUILD/bench/tree, starts poolftpd and (when they
can be fetched and started) Debian's vsftpd and Pure-FTPd, unpacked under
BUILD/bench/peers, all serving that tree anonymously and read-only on
127.0.0.1, drives them with BUILD/ftpbench in every mode, interleaved so
machine drift hits all servers alike, and prints one markdown table of
medians (also written to BUILD/bench/results.md; every run's raw JSON goes to
BUILD/bench/raw.json).

Python 3 standard library only. Run as root for the full comparison (the
peers run as root, and poolftpd's workers then chroot and drop to
nobody/nogroup). Every process the harness starts is stopped by PID (TERM,
then KILL) on exit, on errors and on Ctrl-C; nothing else is ever signalled.

  /usr/bin/python3 bench/run_bench.py --build build [--quick]
"""

import argparse
import datetime
import ftplib
import glob
import json
import os
import platform
import pwd
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))

SMALL_NAME, SMALL_SIZE = "4k.bin", 4096
BIG_NAME, BIG_SIZE = "1g.bin", 1 << 30
DIR_NAME, DIR_ENTRIES = "dir100k", 100_000
ANON_USER, ANON_PASS = "anonymous", "bench@example.org"
NOFILE_TARGET = 65536
MODES = ("login", "small", "big", "list", "idle")
SERVER_NAMES = ("poolftpd", "vsftpd", "pure-ftpd")
# Passive port ranges, below the kernel's ephemeral range (32768-60999 on
# Debian) so they never collide with the client side of the connections.
# Pure-FTPd caps its client count at half its range.
PASV = {"vsftpd": (10000, 14999), "pure-ftpd": (15000, 19999)}


class Profile:
    """Durations, counts and repetitions of one kind of run."""

    def __init__(self, name, **kw):
        self.name = name
        self.__dict__.update(kw)


FULL = Profile(
    "full", reps=5, clients=32, login_secs=10, small_secs=10, list_repeat=3,
    idle_sessions=1000, idle_hold=2, many_sessions=10000, many_hold=10,
    ftpwho_runs=20, iperf_secs=5, poller_pairs=3, poller_secs=10)
QUICK = Profile(
    "quick", reps=2, clients=32, login_secs=2, small_secs=2, list_repeat=1,
    idle_sessions=200, idle_hold=1, many_sessions=2000, many_hold=5,
    ftpwho_runs=20, iperf_secs=2, poller_pairs=1, poller_secs=2)


def log(msg):
    print(msg, flush=True)


def fmt_int(n):
    return f"{n:,}"


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
        live = [(p, s) for p, s in kids if alive(p, s)]
        for p, s in live:
            signal_if_same(p, s, signal.SIGTERM)
        deadline = time.monotonic() + 3
        while live and time.monotonic() < deadline:
            time.sleep(0.05)
            live = [(p, s) for p, s in live if alive(p, s)]
        for p, s in live:
            signal_if_same(p, s, signal.SIGKILL)
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


# --------------------------------------------------------------------------
# fixture tree
# --------------------------------------------------------------------------

def make_tree(tree):
    """4 KiB file, 1 GiB file, 100,000-entry directory; each kept when it is
    already there with the right size or entry count."""
    os.makedirs(tree, exist_ok=True)
    os.chmod(tree, 0o755)
    small = os.path.join(tree, SMALL_NAME)
    if not (os.path.isfile(small) and os.path.getsize(small) == SMALL_SIZE):
        write_atomic(small, lambda f: f.write(os.urandom(SMALL_SIZE)))
    big = os.path.join(tree, BIG_NAME)
    if not (os.path.isfile(big) and os.path.getsize(big) == BIG_SIZE):
        log(f"bench: writing {big} (1 GiB, once)")
        block = os.urandom(1 << 20)

        def fill(f):
            for _ in range(BIG_SIZE >> 20):
                f.write(block)
        write_atomic(big, fill)
    # Read the big file once so the first server measured does not pay for
    # the disk.
    with open(big, "rb", buffering=0) as f:
        buf = bytearray(1 << 22)
        while f.readinto(buf):
            pass
    d = os.path.join(tree, DIR_NAME)
    if not (os.path.isdir(d) and count_entries(d) == DIR_ENTRIES):
        log(f"bench: creating {d} ({fmt_int(DIR_ENTRIES)} empty files, once)")
        tmp = d + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        os.mkdir(tmp)
        for i in range(DIR_ENTRIES):
            os.close(os.open(os.path.join(tmp, f"f{i:06d}"), os.O_WRONLY | os.O_CREAT, 0o644))
        os.chmod(tmp, 0o755)
        shutil.rmtree(d, ignore_errors=True)
        os.rename(tmp, d)
    with open(small, "rb") as f:
        return f.read()


def write_atomic(path, writer):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        writer(f)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def count_entries(d):
    with os.scandir(d) as it:
        return sum(1 for _ in it)


# --------------------------------------------------------------------------
# peers: Debian's vsftpd and pure-ftpd, downloaded and unpacked, not installed
# --------------------------------------------------------------------------

class Apt:
    def __init__(self, debs):
        self.debs = debs
        self.updated = False

    def download(self, names):
        """Fetches .deb files into self.debs: [paths] or raises RuntimeError."""
        os.makedirs(self.debs, exist_ok=True)
        for attempt in (0, 1):
            r = run(["apt-get", "download", *names], cwd=self.debs, timeout=300)
            if r.returncode == 0:
                break
            if attempt == 0 and os.geteuid() == 0 and not self.updated:
                self.updated = True
                run(["apt-get", "update", "-qq"], timeout=600)
                continue
            raise RuntimeError(f"apt-get download {' '.join(names)} failed: "
                               + last_line(r.stderr or r.stdout))
        paths = []
        for n in names:
            found = sorted(glob.glob(os.path.join(self.debs, f"{n}_*.deb")), key=os.path.getmtime)
            if not found:
                raise RuntimeError(f"apt-get download {n}: no .deb file")
            paths.append(found[-1])
        return paths


def last_line(text):
    lines = [l for l in (text or "").strip().splitlines() if l.strip()]
    return lines[-1] if lines else "(no output)"


def deb_version(deb):
    r = run(["dpkg-deb", "-f", deb, "Version"], timeout=30)
    return r.stdout.strip() if r.returncode == 0 else "?"


def lib_dirs(root):
    return [os.path.join(root, d) for d in
            ("lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib", "usr/lib")
            if os.path.isdir(os.path.join(root, d))]


def missing_libs(binary, root):
    env = dict(os.environ, LD_LIBRARY_PATH=":".join(lib_dirs(root)))
    r = run(["ldd", binary], env=env, timeout=30)
    return [l.split()[0] for l in r.stdout.splitlines() if "not found" in l]


def package_lib_deps(names):
    r = run(["apt-cache", "depends", "--no-recommends", "--no-suggests", *names], timeout=60)
    deps = set()
    for line in r.stdout.splitlines():
        parts = line.strip().lstrip("|").split()
        if len(parts) == 2 and parts[0] in ("Depends:", "PreDepends:") and \
                parts[1].startswith("lib") and not parts[1].startswith("<"):
            deps.add(parts[1].split(":")[0])
    return sorted(deps)


def installed(pkg):
    r = run(["dpkg-query", "-W", "-f=${Status}", pkg], timeout=30)
    return r.returncode == 0 and r.stdout.strip() == "install ok installed"


def fetch_peer(apt, peers, pkg, rel_binary):
    """Unpacks pkg (and library packages missing on this machine) under
    peers/pkg: (root, version) or raises RuntimeError."""
    root = os.path.join(peers, pkg)
    binary = os.path.join(root, rel_binary)
    stamp = os.path.join(root, ".version")
    if not os.path.exists(binary) or not os.path.exists(stamp):
        shutil.rmtree(root, ignore_errors=True)
        os.makedirs(root)
        (deb,) = apt.download([pkg])
        r = run(["dpkg-deb", "-x", deb, root], timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"dpkg -x {os.path.basename(deb)}: {last_line(r.stderr)}")
        with open(stamp, "w") as f:
            f.write(deb_version(deb) + "\n")
    fetched = {pkg}
    for _ in range(3):
        missing = missing_libs(binary, root)
        if not missing:
            break
        want = [d for d in package_lib_deps(sorted(fetched)) if d not in fetched and not installed(d)]
        if not want:
            raise RuntimeError(f"{rel_binary}: libraries not found: {' '.join(missing)}")
        log(f"bench: {pkg} needs {' '.join(missing)}: unpacking {' '.join(want)}")
        for deb in apt.download(want):
            r = run(["dpkg-deb", "-x", deb, root], timeout=120)
            if r.returncode != 0:
                raise RuntimeError(f"dpkg -x {os.path.basename(deb)}: {last_line(r.stderr)}")
        fetched.update(want)
    else:
        raise RuntimeError(f"{rel_binary}: libraries not found: {' '.join(missing)}")
    with open(stamp) as f:
        return root, f.read().strip()


def ensure_ftp_user(tree):
    """Both peers serve anonymous users as the system user "ftp" (Pure-FTPd
    chroots into its home). Created, with the tree as home, when missing."""
    try:
        return pwd.getpwnam("ftp"), None
    except KeyError:
        pass
    r = run(["useradd", "--system", "--user-group", "--home-dir", tree, "--no-create-home",
             "--shell", "/usr/sbin/nologin", "--comment", "anonymous FTP (poolftpd bench)",
             "ftp"], timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"useradd ftp failed: {last_line(r.stderr)}")
    return pwd.getpwnam("ftp"), f"created system user ftp (home {tree})"


def home_wrapper(tree, home):
    """argv prefix that makes user ftp's home show the tree: nothing when it
    already is the tree, else a private mount namespace with a bind mount
    (the PID stays the server's: unshare and sh exec)."""
    if os.path.realpath(home) == os.path.realpath(tree):
        return []
    if not os.path.isdir(home):
        raise RuntimeError(f"user ftp's home {home} does not exist")
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            'mount --bind "$1" "$2" && shift 2 && exec "$@"', "sh", tree, home]


def subst(path, values):
    with open(path) as f:
        text = f.read()
    for k, v in values.items():
        text = text.replace(f"@{k}@", str(v))
    return text


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------
# servers
# --------------------------------------------------------------------------

class Server:
    def __init__(self, name):
        self.name = name
        self.version = ""
        self.port = None
        self.argv = None
        self.env = None
        self.popen = None
        self.logfile = None
        self.unavailable = None     # reason, when the column cannot be measured
        self.notes = []

    @property
    def pid(self):
        return self.popen.pid if self.popen else None

    def running(self):
        return self.popen is not None and self.popen.poll() is None

    def start(self, expect_small):
        with open(self.logfile, "ab") as out:
            self.popen = REAPER.spawn(self.name, self.argv, env=self.env, stdout=out,
                                      stderr=subprocess.STDOUT, preexec_fn=server_limits)
        deadline = time.monotonic() + 30
        last = None
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"exited with status {self.popen.returncode}: "
                                   + last_line(tail(self.logfile)))
            try:
                check_serves(self.port, expect_small)
                return
            except (OSError, EOFError, ftplib.Error) as e:
                last = e
                time.sleep(0.2)
        raise RuntimeError(f"not serving {SMALL_NAME} on port {self.port} after 30 s: {last}")

    def stop(self):
        if self.popen is not None:
            REAPER.stop(self.popen, grace=8)


def tail(path, n=4000):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - n))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def check_serves(port, expect):
    """Anonymous login and the 4 KiB file, byte for byte."""
    ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", port, timeout=5)
    try:
        ftp.login(ANON_USER, ANON_PASS)
        got = bytearray()
        ftp.retrbinary(f"RETR /{SMALL_NAME}", got.extend)
        if bytes(got) != expect:
            raise ftplib.Error(f"{SMALL_NAME}: got {len(got)} bytes, not the fixture")
        ftp.quit()
    finally:
        ftp.close()


def prepare_poolftpd(build, run_dir, tree):
    s = Server("poolftpd")
    s.port = free_port()
    if os.geteuid() == 0:
        user, group = "nobody", "nogroup"
    else:
        pw = pwd.getpwuid(os.getuid())
        import grp
        user, group = pw.pw_name, grp.getgrgid(pw.pw_gid).gr_name
    conf = os.path.join(run_dir, "poolftpd.conf")
    with open(conf, "w") as f:
        f.write(subst(os.path.join(HERE, "poolftpd.conf.in"), {
            "TREE": tree, "PORT": s.port, "RUN": run_dir, "ANONUSER": user, "ANONGROUP": group}))
    binary = os.path.join(build, "poolftpd")
    r = run([binary, "-t", "-c", conf], timeout=30)
    if r.returncode != 0:
        raise RuntimeError(f"poolftpd -t: {last_line(r.stderr)}")
    v = run([binary, "-v"], timeout=30)
    words = last_line(v.stdout).split()
    s.version = words[-1] if words else "?"
    s.argv = [binary, "-n", "-q", "-c", conf]
    s.logfile = os.path.join(run_dir, "poolftpd.out")
    s.scoreboard = os.path.join(run_dir, "poolftpd.scoreboard")
    s.notes.append("workers chroot and run as nobody/nogroup" if os.geteuid() == 0
                   else f"not root: no chroot, workers run as {user}")
    return s


def prepare_vsftpd(root, version, run_dir, empty, tree, wrap, isolate):
    s = Server("vsftpd")
    s.version = version
    s.port = free_port()
    conf = os.path.join(run_dir, "vsftpd.conf")
    with open(conf, "w") as f:
        f.write(subst(os.path.join(HERE, "vsftpd.conf.in"), {
            "PORT": s.port, "TREE": tree, "FTPUSER": "ftp", "EMPTY": empty, "RUN": run_dir,
            "PASV_MIN": PASV["vsftpd"][0], "PASV_MAX": PASV["vsftpd"][1],
            "ISOLATE": "YES" if isolate else "NO"}))
    os.chmod(conf, 0o600)
    s.argv = wrap + [os.path.join(root, "usr/sbin/vsftpd"), conf]
    s.env = dict(os.environ, LD_LIBRARY_PATH=":".join(lib_dirs(root)))
    s.logfile = os.path.join(run_dir, "vsftpd.out")
    s.notes.append("isolate_network=YES, the stock setting" if isolate else
                   "isolate_network=NO: no network namespace per session")
    return s


def read_flags(path, values):
    flags = []
    for line in subst(path, values).splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            flags.extend(line.split(None, 1))
    return flags


def prepare_pure(root, version, run_dir, tree, wrap):
    s = Server("pure-ftpd")
    s.version = version
    s.port = free_port()
    lo, hi = PASV["pure-ftpd"]
    flags = read_flags(os.path.join(HERE, "pure-ftpd.flags.in"), {
        "PORT": s.port, "RUN": run_dir, "PASV_MIN": lo, "PASV_MAX": hi,
        "MAX_CLIENTS": (hi + 1 - lo) // 2})
    s.argv = wrap + [os.path.join(root, "usr/sbin/pure-ftpd")] + flags
    s.env = dict(os.environ, LD_LIBRARY_PATH=":".join(lib_dirs(root)))
    s.logfile = os.path.join(run_dir, "pure-ftpd.out")
    return s


# --------------------------------------------------------------------------
# measurements
# --------------------------------------------------------------------------

class Bench:
    def __init__(self, args, prof, paths, servers, small_bytes):
        self.args = args
        self.prof = prof
        self.paths = paths
        self.servers = servers
        self.small = small_bytes
        self.raw = {"runs": [], "iperf3": [], "ftpwho": {}, "poller": [], "many": None}
        self.iperf_port = None
        self.iperf = None

    # ---- ftpbench -----------------------------------------------------------
    def mode_args(self, mode, many=False):
        p = self.prof
        if mode == "login":
            return ["-c", p.clients, "-d", p.login_secs], p.login_secs + 120
        if mode == "small":
            return ["-c", p.clients, "-d", p.small_secs, "-f", f"/{SMALL_NAME}",
                    "-s", SMALL_SIZE], p.small_secs + 120
        if mode == "big":
            return ["-c", 1, "-r", 1, "-f", f"/{BIG_NAME}", "-s", BIG_SIZE], 600
        if mode == "list":
            return ["-D", f"/{DIR_NAME}", "-e", DIR_ENTRIES, "-r", p.list_repeat], \
                120 + 120 * p.list_repeat
        if mode == "idle":
            n = p.many_sessions if many else p.idle_sessions
            hold = p.many_hold if many else p.idle_hold
            return ["-n", n, "-t", hold], 180 + hold + n // 20
        raise ValueError(mode)

    def ftpbench_argv(self, srv, mode, many=False):
        extra, timeout = self.mode_args(mode, many)
        argv = [self.args.ftpbench, "-H", "127.0.0.1", "-p", srv.port, "-u", ANON_USER,
                "-P", ANON_PASS, *extra, "--server-pid", srv.pid, "--json",
                "--timeout", 60, mode]
        return [str(a) for a in argv], timeout

    def ftpbench(self, srv, mode, rep, many=False, tag=None, during=None):
        """One ftpbench run; the record (also kept in raw.json)."""
        argv, timeout = self.ftpbench_argv(srv, mode, many)
        rec = {"server": srv.name, "mode": mode, "rep": rep, "tag": tag, "argv": argv,
               "rc": None, "wall_s": None, "result": None, "error": None, "stderr": ""}
        self.raw["runs"].append(rec)
        if not srv.running():
            rec["error"] = "server not running"
            return rec
        t0 = time.monotonic()
        # Files, not pipes: nothing reads ftpbench's output while `during`
        # runs, and a full pipe would stall it.
        out_path = os.path.join(self.paths["run"], "ftpbench.stdout")
        err_path = os.path.join(self.paths["run"], "ftpbench.stderr")
        with open(out_path, "w") as out_f, open(err_path, "w") as err_f:
            p = REAPER.spawn("ftpbench", argv, stdout=out_f, stderr=err_f)
        try:
            extra = during(p) if during else None
            p.wait(timeout=max(1, timeout - (time.monotonic() - t0)))
        except subprocess.TimeoutExpired:
            REAPER.stop(p, grace=3)
            rec["error"] = f"ftpbench did not finish within {timeout} s"
        finally:
            REAPER.stop(p, grace=3)   # no-op once it has exited
        with open(out_path, errors="replace") as f:
            out = f.read()
        with open(err_path, errors="replace") as f:
            err = f.read()
        rec["wall_s"] = round(time.monotonic() - t0, 3)
        rec["rc"] = p.returncode
        rec["stderr"] = (err or "")[-2000:]
        if extra is not None:
            rec["during"] = extra
        try:
            rec["result"] = json.loads(out.strip().splitlines()[-1]) if out.strip() else None
        except (ValueError, IndexError):
            rec["error"] = rec["error"] or f"unparsable ftpbench output: {out[-200:]!r}"
        if rec["result"] is None and not rec["error"]:
            rec["error"] = f"ftpbench exited {p.returncode}: {last_line(err)}"
        if p.returncode == 2:
            rec["error"] = f"ftpbench usage error: {last_line(err)}"
        if not srv.running():
            rec["error"] = (rec["error"] or "") + " (server died)"
        return rec

    def summary(self, rec):
        r = rec["result"] or {}
        mode = rec["mode"]
        if rec["error"] and not r:
            return f"ERROR {rec['error']}"
        if mode in ("login", "small"):
            s = f"{r.get('sessions_per_sec', 0):,.0f} sessions/s, " \
                f"{num(r.get('server_cpu_ms_per_session'), 3)} ms CPU/session"
        elif mode == "big":
            s = f"{num(r.get('mb_per_sec'), 0)} MB/s, {num(r.get('server_cpu_ms_per_gb'), 0)} ms CPU/GB"
        elif mode == "list":
            li = r.get("list") or {}
            s = f"LIST {num(li.get('list_ms'), 1)} ms ({li.get('list_entries')}), " \
                f"MLSD {num(li.get('mlsd_ms'), 1)} ms ({li.get('mlsd_entries')})"
        else:
            i = r.get("idle") or {}
            s = f"{i.get('sessions')} held, PSS {num(i.get('pss_kb_per_session'), 0)} kB/session, " \
                f"login {num(i.get('login_s'), 2)} s"
        if r.get("failures"):
            samples = r.get("failure_samples") or []
            s += f"; {r['failures']} failures" + (f" ({samples[0].get('text')!r})" if samples else "")
        if rec["error"]:
            s += f"; {rec['error']}"
        return s

    def ensure_running(self, srv):
        """Restarts a server that died (once); marks it unavailable if that fails."""
        if srv.unavailable or srv.running():
            return not srv.unavailable
        log(f"bench: {srv.name} is not running (status {srv.popen.returncode}); restarting")
        REAPER._forget(srv.popen)
        try:
            srv.start(self.small)
            return True
        except RuntimeError as e:
            srv.unavailable = f"died during the run and did not restart: {e}"
            return False

    # ---- iperf3 -------------------------------------------------------------
    def start_iperf(self):
        if not shutil.which("iperf3"):
            self.raw["iperf3_error"] = "iperf3 not installed (make deps-bench)"
            return
        self.iperf_port = free_port()
        out = open(os.path.join(self.paths["run"], "iperf3.out"), "ab")
        self.iperf = REAPER.spawn("iperf3", ["iperf3", "-s", "-B", "127.0.0.1", "-p",
                                             str(self.iperf_port)], stdout=out,
                                  stderr=subprocess.STDOUT)
        out.close()

    def iperf_once(self, rep):
        if self.iperf is None:
            return
        rec = {"rep": rep, "mb_per_sec": None, "error": None}
        for _ in range(20):
            r = run(["iperf3", "-c", "127.0.0.1", "-p", str(self.iperf_port), "-t",
                     str(self.prof.iperf_secs), "-J"], timeout=self.prof.iperf_secs + 30)
            try:
                j = json.loads(r.stdout)
            except ValueError:
                j = {}
            if "error" in j and "connect" in str(j["error"]):
                time.sleep(0.25)     # the server is still starting
                continue
            bps = (j.get("end", {}).get("sum_received") or {}).get("bits_per_second")
            if bps:
                rec["mb_per_sec"] = bps / 8 / 1e6
            else:
                rec["error"] = j.get("error") or last_line(r.stderr)
            break
        self.raw["iperf3"].append(rec)
        log(f"  iperf3 loopback    {num(rec['mb_per_sec'], 0)} MB/s"
            + (f" ({rec['error']})" if rec["error"] else ""))

    # ---- the matrix ---------------------------------------------------------
    def matrix(self):
        servers = [s for s in self.servers if not s.unavailable]
        for rep in range(self.prof.reps):
            log(f"bench: repetition {rep + 1}/{self.prof.reps}")
            for mode in MODES:
                for srv in servers:
                    if not self.ensure_running(srv):
                        continue
                    rec = self.ftpbench(srv, mode, rep)
                    log(f"  {mode:<6} {srv.name:<10} {self.summary(rec)}")
                if mode == "big":
                    self.iperf_once(rep)

    def poller(self):
        srv = self.servers[0]
        sb = srv.scoreboard
        ftpwho = os.path.join(self.args.build, "ftpwho")
        p = self.prof
        for pair in range(p.poller_pairs):
            order = (False, True) if pair % 2 == 0 else (True, False)
            for with_poller in order:
                if not self.ensure_running(srv):
                    return
                during = None
                stop = threading.Event()
                state = {"polls": 0, "errors": 0, "t0": None, "t1": None}

                def loop():
                    state["t0"] = time.monotonic()
                    while not stop.is_set():
                        r = subprocess.run([ftpwho, "-f", sb], stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL)
                        state["polls"] += 1
                        state["errors"] += r.returncode != 0
                    state["t1"] = time.monotonic()
                th = threading.Thread(target=loop, daemon=True)

                if with_poller:
                    def during(_proc):
                        th.start()
                        return None
                rec = self.ftpbench(srv, "login", pair, tag="poller" if with_poller else "no-poller",
                                    during=during)
                if with_poller:
                    stop.set()
                    th.join()
                    secs = (state["t1"] or 0) - (state["t0"] or 0)
                    rec["poller"] = {"polls": state["polls"], "errors": state["errors"],
                                     "polls_per_sec": state["polls"] / secs if secs > 0 else None}
                self.raw["poller"].append(rec)
                extra = ""
                if with_poller:
                    extra = f" [poller: {rec['poller']['polls']} ftpwho runs, " \
                            f"{num(rec['poller']['polls_per_sec'], 0)}/s]"
                log(f"  login  poolftpd   {'with' if with_poller else 'without'} poller: "
                    f"{self.summary(rec)}{extra}")

    def many(self):
        """poolftpd holding many idle sessions; ftpwho timed over that scoreboard."""
        srv = self.servers[0]
        if not self.ensure_running(srv):
            return
        n = self.prof.many_sessions
        ftpwho = os.path.join(self.args.build, "ftpwho")
        ftpcount = os.path.join(self.args.build, "ftpcount")
        timing = {"text_ms": [], "json_ms": [], "sessions_seen": None, "error": None}

        def during(proc):
            # Wait until the scoreboard shows the sessions, then time ftpwho.
            deadline = time.monotonic() + 120 + n // 20
            seen = 0
            while time.monotonic() < deadline and proc.poll() is None:
                r = run([ftpcount, "-f", srv.scoreboard, "--json"], timeout=30)
                try:
                    seen = json.loads(r.stdout).get("sessions", 0)
                except ValueError:
                    seen = 0
                if seen >= n:
                    break
                time.sleep(0.5)
            timing["sessions_seen"] = seen
            if seen < n:
                timing["error"] = f"only {seen} sessions on the scoreboard"
                return timing
            for _ in range(self.prof.ftpwho_runs):
                for key, extra in (("text_ms", []), ("json_ms", ["--json"])):
                    t0 = time.perf_counter()
                    r = subprocess.run([ftpwho, "-f", srv.scoreboard, *extra],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                    ms = (time.perf_counter() - t0) * 1000
                    if r.returncode == 0:
                        timing[key].append(ms)
                    else:
                        timing["error"] = f"ftpwho exited {r.returncode}: {r.stderr[-200:]!r}"
            if proc.poll() is not None:
                timing["error"] = "the sessions ended before the ftpwho runs finished " \
                                  "(raise the hold time)"
            return timing
        log(f"bench: poolftpd with {fmt_int(n)} idle sessions (ftpwho timed while they are held)")
        rec = self.ftpbench(srv, "idle", 0, many=True, tag="many", during=during)
        self.raw["many"] = rec
        log(f"  idle   poolftpd   {self.summary(rec)}")
        t = rec.get("during") or timing
        if t["text_ms"]:
            log(f"  ftpwho over {fmt_int(t['sessions_seen'] or 0)} sessions: "
                f"{num(statistics.median(t['text_ms']), 1)} ms text, "
                f"{num(statistics.median(t['json_ms']), 1) if t['json_ms'] else 'n/a'} ms --json")
        elif t.get("error"):
            log(f"  ftpwho: {t['error']}")


def num(v, digits):
    if v is None:
        return "n/a"
    return f"{v:,.{digits}f}"


# --------------------------------------------------------------------------
# the table
# --------------------------------------------------------------------------

class Table:
    def __init__(self, bench, prof):
        self.b = bench
        self.prof = prof
        self.rows = []
        self.footnotes = []

    def note(self, text):
        if text not in self.footnotes:
            self.footnotes.append(text)
        return f"[{self.footnotes.index(text) + 1}]"

    def runs(self, server, mode):
        return [r for r in self.b.raw["runs"]
                if r["server"] == server and r["mode"] == mode and r["tag"] is None]

    def cell_values(self, server, mode, getter, valid=None):
        """Median of getter over the runs, and a footnote mark for failures."""
        vals, mark, bad = [], "", []
        for rec in self.runs(server, mode):
            r = rec["result"]
            if rec["error"]:
                bad.append(rec["error"])
            if not r:
                continue
            if r.get("failures"):
                samples = r.get("failure_samples") or [{}]
                bad.append(f"{r['failures']} failures, e.g. {samples[0].get('text', '?')!r}")
            v = getter(r)
            if v is None:
                continue
            if valid is not None:
                why = valid(r)
                if why:
                    bad.append(why)
                    continue
            vals.append(v)
        if bad:
            mark = " " + self.note(f"{server} {mode}: " + "; ".join(dict.fromkeys(bad)))
        return (statistics.median(vals) if vals else None), mark

    def add(self, label, better, getter, mode, digits, valid=None, servers=SERVER_NAMES):
        cells, values = [], {}
        for s in self.b.servers:
            if s.name not in servers:
                cells.append("—")
                continue
            if s.unavailable:
                cells.append("n/a")
                continue
            v, mark = self.cell_values(s.name, mode, getter, valid)
            values[s.name] = v
            cells.append(("n/a" if v is None else num(v, digits)) + mark)
        self.rows.append((label, cells, self.ratio(values, better)))

    def ratio(self, values, better):
        own = values.get("poolftpd")
        peers = [v for k, v in values.items() if k != "poolftpd" and v]
        if not own or not peers or better is None:
            return "—"
        best = max(peers) if better == "up" else min(peers)
        return f"{own / best:.2f}×"

    def build(self):
        p = self.prof
        expect = DIR_ENTRIES

        def list_valid(key):
            def check(r):
                n = (r.get("list") or {}).get(key)
                if n is None or n < expect:
                    return f"{key} = {n}, not {fmt_int(expect)}"
                return None
            return check
        g = lambda *keys: (lambda r: dig(r, keys))
        self.add(f"login: sessions/s ({p.clients} clients, {p.login_secs} s) ↑", "up",
                 g("sessions_per_sec"), "login", 0)
        self.add("login: server CPU ms/session ↓", "down",
                 g("server_cpu_ms_per_session"), "login", 3)
        self.add(f"small 4 KiB RETR: sessions/s ({p.clients} clients, {p.small_secs} s) ↑", "up",
                 g("sessions_per_sec"), "small", 0)
        self.add("big 1 GiB RETR: MB/s (1 client) ↑", "up", g("mb_per_sec"), "big", 0)
        self.add("big: server CPU ms/GB ↓", "down", g("server_cpu_ms_per_gb"), "big", 0)
        iperf = [r["mb_per_sec"] for r in self.b.raw["iperf3"] if r["mb_per_sec"]]
        ip = statistics.median(iperf) if iperf else None
        ipcell = num(ip, 0) if ip else ("n/a " + self.note(
            self.b.raw.get("iperf3_error") or "iperf3 failed"))
        self.rows.append(("iperf3 loopback, 1 stream: MB/s (the ceiling)",
                          [ipcell, "same", "same"], "—"))
        if ip:
            self.add("big as a fraction of iperf3 ↑", "up",
                     lambda r: r["mb_per_sec"] / ip if r.get("mb_per_sec") else None, "big", 2)
        self.add(f"LIST of {fmt_int(DIR_ENTRIES)} entries: ms ↓", "down",
                 g("list", "list_ms"), "list", 0, list_valid("list_entries"))
        self.add(f"MLSD of {fmt_int(DIR_ENTRIES)} entries: ms ↓", "down",
                 g("list", "mlsd_ms"), "list", 0, list_valid("mlsd_entries"))
        n = p.idle_sessions
        self.add(f"idle {fmt_int(n)} sessions: PSS kB/session ↓", "down",
                 g("idle", "pss_kb_per_session"), "idle", 0)
        self.add(f"idle {fmt_int(n)} sessions: time to log them in, s ↓", "down",
                 g("idle", "login_s"), "idle", 2)
        self.add(f"idle {fmt_int(n)} sessions: server processes", None,
                 g("idle", "server_processes"), "idle", 0)
        self.many_rows()
        self.poller_rows()

    def many_rows(self):
        n = self.prof.many_sessions
        rec = self.b.raw["many"]
        if rec is None:
            cell = "not run"
        else:
            r = rec["result"] or {}
            i = r.get("idle") or {}
            held = i.get("sessions") or 0
            ok = held >= n and not r.get("failures") and not rec["error"]
            if ok:
                cell = f"yes, PSS {num(i.get('pss_kb_per_session'), 0)} kB/session, " \
                       f"login {num(i.get('login_s'), 1)} s"
            else:
                why = rec["error"] or ""
                if r.get("failures"):
                    s = (r.get("failure_samples") or [{}])[0]
                    why += f" {r['failures']} failures, e.g. {s.get('text', '?')!r}"
                cell = f"no ({fmt_int(held)} held) " + self.note(f"poolftpd {fmt_int(n)} sessions: {why.strip()}")
        self.rows.append((f"{fmt_int(n)} sessions held", [cell, "—", "—"], "—"))
        t = (rec or {}).get("during") or {}
        if t.get("text_ms"):
            cell = f"{num(statistics.median(t['text_ms']), 1)} text, " \
                   f"{num(statistics.median(t['json_ms']), 1) if t.get('json_ms') else 'n/a'} --json"
            if t.get("error"):
                cell += " " + self.note(f"ftpwho: {t['error']}")
        else:
            cell = "n/a" + (" " + self.note(f"ftpwho: {t['error']}") if t.get("error") else "")
        self.rows.append((f"ftpwho with {fmt_int(n)} sessions: ms (median of "
                          f"{self.prof.ftpwho_runs}) ↓", [cell, "—", "—"], "—"))

    def poller_rows(self):
        runs = self.b.raw["poller"]
        off = [r["result"]["sessions_per_sec"] for r in runs
               if r["tag"] == "no-poller" and r["result"]]
        on = [r["result"]["sessions_per_sec"] for r in runs
              if r["tag"] == "poller" and r["result"]]
        rate = [r["poller"]["polls_per_sec"] for r in runs
                if r["tag"] == "poller" and r.get("poller", {}).get("polls_per_sec")]
        if not off or not on:
            self.rows.append(("login sessions/s without / with an ftpwho poller",
                              ["not run", "—", "—"], "—"))
            return
        a, b = statistics.median(off), statistics.median(on)
        cell = f"{num(a, 0)} / {num(b, 0)} ({(b - a) / a * 100:+.1f} %, " \
               f"{num(statistics.median(rate), 0) if rate else '?'} ftpwho runs/s)"
        self.rows.append((f"login sessions/s without / with an ftpwho poller "
                          f"({len(off)} paired run{'s' if len(off) != 1 else ''})",
                          [cell, "—", "—"], "—"))

    def markdown(self, machine, header_notes):
        cols = [s.name for s in self.b.servers]
        out = [machine, ""]
        out.append("| figure | " + " | ".join(cols) + " | poolftpd / best peer |")
        out.append("| --- | " + " | ".join("---:" for _ in cols) + " | ---: |")
        for label, cells, ratio in self.rows:
            out.append(f"| {label} | " + " | ".join(cells) + f" | {ratio} |")
        out.append("")
        out.append("↑ more is better, ↓ less is better; the ratio divides poolftpd's figure by "
                   "the best peer's (above 1 is better for ↑ rows, below 1 for ↓ rows).")
        for line in header_notes:
            out.append(f"- {line}")
        for i, text in enumerate(self.footnotes, 1):
            out.append(f"- [{i}] {text}")
        return "\n".join(out) + "\n"


def dig(d, keys):
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d if isinstance(d, (int, float)) else None


def machine_line(prof):
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            mem = f"{kb / (1 << 20):.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f"Machine: {cpu}, {os.cpu_count()} cores, {mem} memory, Linux "
            f"{platform.release()}, {now}; {prof.name} run, median of {prof.reps} "
            f"repetition{'s' if prof.reps != 1 else ''}.")


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build", help="build directory (default: build)")
    ap.add_argument("--quick", action="store_true", help="short run (about 3 minutes)")
    ap.add_argument("--reps", type=int, help="repetitions (default: 5, quick: 2)")
    ap.add_argument("--servers", default=",".join(SERVER_NAMES),
                    help="comma-separated subset of poolftpd,vsftpd,pure-ftpd")
    ap.add_argument("--ftpbench", help="load generator (default: BUILD/ftpbench)")
    ap.add_argument("--vsftpd-isolate", action="store_true",
                    help="vsftpd's stock isolate_network=YES (a network namespace per session)")
    ap.add_argument("--check", action="store_true",
                    help="only set up: fixture, peers, servers serving the 4 KiB file, iperf3")
    a = ap.parse_args(argv)
    a.build = os.path.abspath(a.build)
    a.ftpbench = os.path.abspath(a.ftpbench or os.path.join(a.build, "ftpbench"))
    a.servers = [s.strip() for s in a.servers.split(",") if s.strip()]
    for s in a.servers:
        if s not in SERVER_NAMES:
            ap.error(f"unknown server {s!r}")
    if "poolftpd" not in a.servers:
        ap.error("--servers must include poolftpd")
    return a


def on_signal(signum, _frame):
    raise SystemExit(128 + signum)


def setup_servers(args, paths, tree, header_notes):
    """Server objects for the columns, in order; peers that cannot be fetched
    or configured are marked unavailable with the reason."""
    servers = [prepare_poolftpd(args.build, paths["run"], tree)]
    apt = Apt(os.path.join(paths["peers"], "debs"))
    for name, rel in (("vsftpd", "usr/sbin/vsftpd"), ("pure-ftpd", "usr/sbin/pure-ftpd")):
        if name not in args.servers:
            continue
        if os.geteuid() != 0:
            s = Server(name)
            s.unavailable = "needs root (run make bench as root)"
            servers.append(s)
            continue
        try:
            root, version = fetch_peer(apt, paths["peers"], name, rel)
            ftp_pw, created = ensure_ftp_user(tree)
            if created:
                header_notes.append(created)
            wrap = home_wrapper(tree, ftp_pw.pw_dir)
            if name == "vsftpd":
                s = prepare_vsftpd(root, version, paths["run"], os.path.realpath(paths["empty"]),
                                   tree, wrap, args.vsftpd_isolate)
            else:
                s = prepare_pure(root, version, paths["run"], tree, wrap)
            if wrap:
                s.notes.append(f"user ftp's home {ftp_pw.pw_dir} bind-mounted to the tree "
                               f"in a private mount namespace")
        except RuntimeError as e:
            s = Server(name)
            s.unavailable = str(e)
        servers.append(s)
    return servers


def main(argv):
    args = parse_args(argv)
    prof = QUICK if args.quick else FULL
    if args.reps:
        prof.reps = args.reps
    for tool in ("poolftpd", "ftpwho", "ftpcount"):
        if not os.access(os.path.join(args.build, tool), os.X_OK):
            log(f"bench: {args.build}/{tool} is missing: run make first")
            return 2
    if not args.check and not os.access(args.ftpbench, os.X_OK):
        log(f"bench: {args.ftpbench} is missing: make {os.path.relpath(args.ftpbench)}")
        return 2
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    top = os.path.join(args.build, "bench")
    paths = {k: os.path.join(top, k) for k in ("tree", "peers", "run", "empty")}
    header_notes = []
    bench = None
    status = 0
    t_start = time.monotonic()
    try:
        os.makedirs(top, exist_ok=True)
        shutil.rmtree(paths["run"], ignore_errors=True)
        for k in ("run", "empty"):
            os.makedirs(paths[k], exist_ok=True)
            os.chmod(paths[k], 0o755)
        nofile = raise_own_limits(header_notes, prof.many_sessions)
        facts, knotes = kernel_notes(prof.many_sessions)
        header_notes.extend(knotes)

        small = make_tree(paths["tree"])
        tree = os.path.realpath(paths["tree"])
        log(f"bench: fixture ready in {time.monotonic() - t_start:.1f} s: {tree}")
        servers = setup_servers(args, paths, tree, header_notes)
        bench = Bench(args, prof, paths, servers, small)
        bench.raw.update({"profile": dict(prof.__dict__), "kernel": facts,
                          "rlimit_nofile": nofile})
        for s in servers:
            if s.unavailable:
                log(f"bench: {s.name}: not run: {s.unavailable}")
                continue
            try:
                s.start(small)
                log(f"bench: {s.name} {s.version} serving on 127.0.0.1:{s.port} (PID {s.pid})")
            except RuntimeError as e:
                if s.name == "poolftpd":
                    raise RuntimeError(f"poolftpd did not start: {e}")
                s.unavailable = f"did not start: {e}"
                log(f"bench: {s.name}: not run: {s.unavailable}")
        bench.start_iperf()
        if args.check:
            bench.iperf_once(0)
            log("bench: --check: every available server serves the fixture; stopping")
            return 0
        bench.matrix()
        log("bench: poolftpd login with and without a scoreboard poller")
        bench.poller()
        bench.many()
    except KeyboardInterrupt:
        log("bench: interrupted; stopping what it started")
        status = 130
    except SystemExit as e:
        log("bench: terminated; stopping what it started")
        status = e.code if isinstance(e.code, int) else 1
    except (RuntimeError, OSError) as e:
        log(f"bench: {e}")
        status = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        REAPER.stop_all()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if bench is not None and not args.check:
            status = report(args, prof, bench, header_notes, top, t_start, status)
    return status


def report(args, prof, bench, header_notes, top, t_start, status):
    notes = []
    for s in bench.servers:
        if s.unavailable:
            notes.append(f"{s.name}: not run: {s.unavailable}")
        else:
            extra = f" ({'; '.join(s.notes)})" if s.notes else ""
            notes.append(f"{s.name} {s.version}{extra}")
    notes.extend(header_notes)
    elapsed = time.monotonic() - t_start
    notes.append(f"harness wall time {elapsed / 60:.1f} min" +
                 ("; INTERRUPTED, partial results" if status else ""))
    table = Table(bench, prof)
    table.build()
    md = table.markdown(machine_line(prof), notes)
    bench.raw["servers"] = {s.name: {"version": s.version, "port": s.port, "argv": s.argv,
                                     "unavailable": s.unavailable, "notes": s.notes}
                            for s in bench.servers}
    bench.raw["wall_s"] = round(elapsed, 1)
    with open(os.path.join(top, "raw.json"), "w") as f:
        json.dump(bench.raw, f, indent=1)
    with open(os.path.join(top, "results.md"), "w") as f:
        f.write(md)
    log("")
    log(md)
    log(f"bench: written {os.path.relpath(os.path.join(top, 'results.md'))} and "
        f"{os.path.relpath(os.path.join(top, 'raw.json'))}")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
