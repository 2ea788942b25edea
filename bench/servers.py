"""The fixture tree and the three servers of `make bench`: poolftpd from the
build, vsftpd and Pure-FTPd from Debian's packages, fetched with apt-get
download and unpacked with dpkg -x under BUILD/bench/peers (never installed),
each configured from a template in this folder for anonymous read-only
access to the same tree on a loopback port. Used by bench/run_bench.py."""

import ftplib
import glob
import grp
import os
import pwd
import shutil
import socket
import subprocess
import time

from procs import (CGROUPS, REAPER, fmt_int, last_line, log, run, server_limits,
                   stop_leftovers)

HERE = os.path.dirname(os.path.abspath(__file__))

SMALL_NAME, SMALL_SIZE = "4k.bin", 4096
BIG_NAME, BIG_SIZE = "1g.bin", 1 << 30
DIR_NAME, DIR_ENTRIES = "dir100k", 100_000
ANON_USER, ANON_PASS = "anonymous", "bench@example.org"
# Passive port ranges, below the kernel's ephemeral range (32768-60999 on
# Debian) so they never collide with the client side of the connections.
# Pure-FTPd caps its client count at half its range. poolftpd uses the
# kernel's choice (no PassivePorts).
PASV = {"vsftpd": (10000, 14999), "pure-ftpd": (15000, 19999)}


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
        join = CGROUPS.joiner(self.name)

        def preexec():
            server_limits()
            join()
        with open(self.logfile, "ab") as out:
            self.popen = REAPER.spawn(self.name, self.argv, env=self.env, stdout=out,
                                      stderr=subprocess.STDOUT, preexec_fn=preexec)
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
        # Whatever of it is left, reparented or not, is still in its cgroup.
        stop_leftovers(CGROUPS.members(self.name))


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


def prepare_poolftpd(build, run_dir, tree, name="poolftpd"):
    """poolftpd from `build`. A second one (the --baseline build, named
    "poolftpd-base") gets its own run directory under run_dir, so its pid
    file, scoreboard and logs never meet the first one's."""
    s = Server(name)
    s.build = build
    if name != "poolftpd":
        run_dir = os.path.join(run_dir, name)
        os.makedirs(run_dir, exist_ok=True)
        os.chmod(run_dir, 0o755)
    s.port = free_port()
    if os.geteuid() == 0:
        user, group = "nobody", "nogroup"
    else:
        pw = pwd.getpwuid(os.getuid())
        user, group = pw.pw_name, grp.getgrgid(pw.pw_gid).gr_name
    conf = os.path.join(run_dir, "poolftpd.conf")
    with open(conf, "w") as f:
        f.write(subst(os.path.join(HERE, "poolftpd.conf.in"), {
            "TREE": tree, "PORT": s.port, "RUN": run_dir, "ANONUSER": user, "ANONGROUP": group}))
    binary = os.path.join(build, "poolftpd")
    r = run([binary, "-t", "-c", conf], timeout=30)
    if r.returncode != 0:
        raise RuntimeError(f"{binary} -t: {last_line(r.stderr)}")
    v = run([binary, "-v"], timeout=30)
    words = last_line(v.stdout).split()
    s.version = words[-1] if words else "?"
    if name != "poolftpd":
        s.notes.append(f"baseline build {build}")
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
