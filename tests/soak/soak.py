#!/usr/bin/python3
"""Soak harness for poolftpd (issue 11, "Faults and soak").

Starts the real server (its own temporary directory, tree, config and an
ephemeral loopback port) and, for --seconds, runs at once:

- --sessions client threads, each running FTP sessions back to back: log in,
  a few downloads of files of mixed sizes (SHA-256 checked) and listings
  (LIST, MLSD, NLST, each compared with the tree), QUIT;
- a SIGHUP to the master every second;
- a SIGKILL of a random worker every --kill-every seconds: the worker is
  stopped first (SIGSTOP), the client ports of its sockets are read from
  /proc, then it is killed, so the sessions it served are known exactly;
- clients that vanish mid-transfer (control and data sockets reset);
- --loris slow-loris connections that send one byte of a command now and
  then;
- once (at --master-kill-at of the run), a SIGKILL of the master and a
  restart on the same configuration; clients reconnect.

At the end it checks: every completed transfer and listing verified; every
failed session accounted for by a cause the harness injected; no stale
scoreboard slot (ftpwho --json); the master's fd count and RSS flat (first
and last thirds of each master's samples); no worker of an old generation
alive past its session; nothing of ours left after the final TERM. It prints
a summary table and exits 1 on any violation (2 when it could not run).

--plant makes a run that must fail, to prove the checks can: `corrupt-file`
rewrites a byte of a served file a third of the way in (downloads of it no
longer verify), `unrecorded-kill` kills busy workers without recording them
(their sessions' failures have no cause), `stale-slot` SIGSTOPs a worker in
a session and keeps it stopped until the final TERM (its slot stays listed
after every client left, and a process of ours outlives the TERM).

Python 3 standard library only; run with /usr/bin/python3. Every loop is
bounded (by the run's deadline or an explicit timeout).
"""

import argparse
import ftplib
import hashlib
import json
import os
import pwd
import random
import resource
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

CLIENT_TIMEOUT = 30.0      # a reply or data that takes longer is a failure ("timeout")
RESTART_GRACE = 3.0        # failures this long after the new master was ready still count as the restart's
STOP_WAIT = 10.0           # the master's TERM: how long it may take to exit
RESTART_TEXT = "server restarting"   # the 421 an orphaned worker sends (README, Processes)

# The served tree: name -> size. Sizes straddle the 1 MiB sendfile step and
# the socket buffers; small files are drawn more often (weights).
FILES = {
    "empty.bin": (0, 2),
    "one.bin": (1, 2),
    "k1.bin": (1000, 6),
    "k64.bin": (65536, 6),
    "m1.bin": (1 << 20, 4),
    "m3.bin": (3 * (1 << 20) + 17, 2),
    "m16.bin": (16 << 20, 1),
    "d1/a.txt": (120, 3),
    "d1/b.bin": (200000, 3),
    "d1/sub/c.bin": (4096, 3),
    "d2/x.bin": (777777, 2),
}
DIRS = ["", "d1", "d1/sub", "d2", "d3empty"]


def now():
    return time.monotonic()


# ---------------------------------------------------------------------------
# the tree

class Tree:
    def __init__(self, root):
        self.root = Path(root)
        self.sha = {}
        self.size = {}
        self.listing = {}   # dir -> {name: ("file", size) | ("dir", None)}
        self.weights = []

    def build(self):
        self.root.mkdir()
        for d in DIRS:
            (self.root / d).mkdir(parents=True, exist_ok=True)
        rnd = random.Random(11)
        for name, (size, weight) in FILES.items():
            block = rnd.randbytes(min(size, 1 << 20)) if size else b""
            h = hashlib.sha256()
            with open(self.root / name, "wb") as f:
                left, i = size, 0
                while left > 0:
                    chunk = (i.to_bytes(8, "little") + block[8:])[:left] if len(block) > 8 else block[:left]
                    f.write(chunk)
                    h.update(chunk)
                    left -= len(chunk)
                    i += 1
            self.sha[name] = h.hexdigest()
            self.size[name] = size
            self.weights.append((name, weight))
        for dirpath, dirnames, filenames in os.walk(self.root):
            os.chmod(dirpath, 0o755)
            rel = os.path.relpath(dirpath, self.root)
            rel = "" if rel == "." else rel
            entries = {}
            for d in dirnames:
                entries[d] = ("dir", None)
            for fn in filenames:
                os.chmod(os.path.join(dirpath, fn), 0o644)
                entries[fn] = ("file", os.path.getsize(os.path.join(dirpath, fn)))
            self.listing[rel] = entries

    def pick_file(self, rnd):
        names = [n for n, _ in self.weights]
        return rnd.choices(names, weights=[w for _, w in self.weights])[0]

    def corrupt(self, name):
        """--plant corrupt-file: one byte of `name` changes, its size not."""
        path = self.root / name
        with open(path, "r+b") as f:
            f.seek(self.size[name] // 2)
            b = f.read(1)
            f.seek(self.size[name] // 2)
            f.write(bytes([b[0] ^ 0xFF]))


# ---------------------------------------------------------------------------
# /proc

def proc_stat(pid):
    """(state, ppid, starttime) or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except OSError:
        return None
    rest = data[data.rfind(")") + 2:].split()
    return rest[0], int(rest[1]), int(rest[19])


def alive(pid, start=None):
    st = proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X") and (start is None or st[2] == start)


def children(pid, known=None):
    """Children of `pid`: {pid: starttime}. The start time of a PID in
    `known` (pid -> starttime) is taken from there instead of /proc (with
    hundreds of workers, a stat each would cost the harness seconds)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            pids = [int(p) for p in f.read().split()]
    except OSError:
        return {}
    out = {}
    for p in pids:
        if known is not None and p in known:
            out[p] = known[p]
            continue
        st = proc_stat(p)
        if st and st[1] == pid and st[0] not in ("Z", "X"):
            out[p] = st[2]
    return out


def fd_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def socket_inodes(pid):
    out = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return out
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            out.add(int(link[8:-1]))
    return out


def tcp_peers_by_inode():
    """inode -> remote port of every IPv4 TCP socket (/proc/net/tcp)."""
    out = {}
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                parts = line.split()
                out[int(parts[9])] = int(parts[2].split(":")[1], 16)
    except OSError:
        pass
    return out


# ---------------------------------------------------------------------------
# bookkeeping shared by the threads

class Books:
    def __init__(self):
        self.lock = threading.Lock()
        self.port_owner = {}        # client control port -> session id
        self.live_ports = {}        # control port -> session id, while the session runs
        self.killed = {}            # session id -> worker pid the harness killed
        self.sessions = Counter()   # started, completed, vanished, failed
        self.transfers = Counter()  # retr_ok, list_ok, bytes
        self.faults = Counter()
        self.failures = Counter()   # cause -> count
        self.violations = {}        # text -> times seen (in order of first sight)
        self.loris_sids = set()     # session ids that are slow-loris connections
        self.unexplained = []       # (session id, error) of failures without a cause
        self.loris = Counter()
        self.restart = None         # (t_kill, t_ready) of the master's SIGKILL and restart
        self.restart_attempts = 0

    def violation(self, text):
        with self.lock:
            if text in self.violations or len(self.violations) < 200:
                self.violations[text] = self.violations.get(text, 0) + 1

    def add(self, counter, key, n=1):
        with self.lock:
            counter[key] += n


# ---------------------------------------------------------------------------
# the server

class Server:
    def __init__(self, base, tree, build, args):
        self.base = Path(base)
        self.tree = tree
        self.build = Path(build)
        self.poolftpd = self.build / "poolftpd"
        self.ftpwho = self.build / "ftpwho"
        self.run_dir = self.base / "run"
        self.log_dir = self.base / "log"
        for d in (self.run_dir, self.log_dir):
            d.mkdir()
            os.chmod(d, 0o755)
        self.conf = self.base / "poolftpd.conf"
        self.scoreboard = self.run_dir / "poolftpd.scoreboard"
        self.syslog = self.log_dir / "system.log"
        self.port = None
        self.popen = None
        self.master = None
        self.masters = []           # (pid, starttime) of every master started
        self.seen = {}              # pid -> starttime of every worker seen
        self.args = args
        root = os.geteuid() == 0
        if root:
            self.user, self.group = "nobody", "nogroup"
        else:
            self.user = pwd.getpwuid(os.getuid()).pw_name
            import grp
            self.group = grp.getgrgid(os.getgid()).gr_name

    def write_config(self):
        a = self.args
        max_clients = a.sessions + a.loris + 100
        text = "\n".join([
            'ServerName "poolftpd soak"',
            'ServerIdent on "soak ready"',
            f"Port {self.port}",
            "DefaultAddress 127.0.0.1",
            f"PidFile {self.run_dir / 'poolftpd.pid'}",
            f"ScoreboardFile {self.scoreboard}",
            f"SystemLog {self.syslog}",
            f"TransferLog {self.log_dir / 'xfer.log'}",
            f"ShutdownFile {self.run_dir / 'shutmsg'}",
            f"MaxClients {max_clients}",
            "MaxClientsPerHost none",
            f"StartServers {min(50, max_clients)}",
            "MinSpareServers 20",
            "MaxSpareServers 60",
            f"UserAlias anonymous {self.user}",
            f"<Anonymous {self.tree.root}>",
            f"  User {self.user}",
            f"  Group {self.group}",
            "</Anonymous>",
        ]) + "\n"
        self.conf.write_text(text)
        os.chmod(self.conf, 0o644)

    def start(self, books, timeout=20.0):
        """Starts a master (retrying while the port is still taken, bounded)
        and waits until it greets. Returns the seconds it took."""
        t0 = now()
        deadline = t0 + timeout
        while True:
            books.restart_attempts += 1
            with open(self.base / "stderr.txt", "ab") as err:
                self.popen = subprocess.Popen(
                    [str(self.poolftpd), "-n", "-c", str(self.conf)], stdin=subprocess.DEVNULL,
                    stdout=err, stderr=err, start_new_session=True)
            self.master = self.popen.pid
            st = proc_stat(self.master)
            self.masters.append((self.master, st[2] if st else None))
            while now() < deadline:
                if self.popen.poll() is not None:
                    break
                if self.probe():
                    return now() - t0
                time.sleep(0.02)
            if self.popen.poll() is None or now() >= deadline:
                raise RuntimeError(f"poolftpd did not greet within {timeout} s: {self.stderr_tail()}")
            time.sleep(0.05)   # exited (port still taken?): try again until the deadline

    def probe(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                return s.recv(64).startswith(b"220")
        except OSError:
            return False

    def stderr_tail(self):
        try:
            return (self.base / "stderr.txt").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def note_children(self):
        kids = children(self.master, self.seen) if self.master else {}
        self.seen.update(kids)
        return kids

    def who(self):
        """ftpwho --json, or None (a truncated file during the restart ...)."""
        try:
            r = subprocess.run([str(self.ftpwho), "-f", str(self.scoreboard), "--json"],
                               capture_output=True, text=True, timeout=10)
        except subprocess.TimeoutExpired:
            return None
        if r.returncode != 0:
            return None
        try:
            return json.loads(r.stdout)
        except ValueError:
            return None


# ---------------------------------------------------------------------------
# clients

class Session:
    """One FTP session of a client thread; its failures are classified."""

    def __init__(self, h, sid, rnd):
        self.h = h
        self.sid = sid
        self.rnd = rnd
        self.ftp = None
        self.port = None

    def run(self):
        h, books = self.h, self.h.books
        books.add(books.sessions, "started")
        t_start = now()
        try:
            self.ftp = ftplib.FTP(timeout=CLIENT_TIMEOUT)
            self.ftp.connect("127.0.0.1", h.server.port, timeout=CLIENT_TIMEOUT)
            self.port = self.ftp.sock.getsockname()[1]
            with books.lock:
                books.port_owner[self.port] = self.sid
                books.live_ports[self.port] = self.sid
            self.ftp.login("anonymous", "soak@example.com")
            for _ in range(self.rnd.randint(1, 6)):
                if h.stopping.is_set():
                    break
                op = self.rnd.choices(["RETR", "LIST", "MLSD", "NLST"], weights=[6, 2, 2, 1])[0]
                if op == "RETR":
                    if self.retr():
                        books.add(books.sessions, "vanished")
                        return
                else:
                    self.listing(op)
            self.ftp.quit()
            books.add(books.sessions, "completed")
        except Exception as exc:  # every way a session can fail is classified
            self.failed(exc, t_start)
            time.sleep(self.rnd.uniform(0.05, 0.2))  # then the client reconnects
        finally:
            if self.port is not None:
                with books.lock:
                    if books.live_ports.get(self.port) == self.sid:
                        del books.live_ports[self.port]
            if self.ftp is not None:
                try:
                    self.ftp.close()
                except OSError:
                    pass

    def retr(self):
        """One download; True when this session vanished in it."""
        h, books = self.h, self.h.books
        name = h.tree.pick_file(self.rnd)
        size = h.tree.size[name]
        vanish = size >= (1 << 20) and self.rnd.random() < h.args.vanish_rate
        self.ftp.voidcmd("TYPE I")
        conn = self.ftp.transfercmd(f"RETR {name}")
        sha = hashlib.sha256()
        got = 0
        try:
            conn.settimeout(CLIENT_TIMEOUT)
            while True:
                b = conn.recv(1 << 16)
                if not b:
                    break
                sha.update(b)
                got += len(b)
                if vanish and got >= 65536:
                    # Gone without a word: RST on both connections.
                    for s in (conn, self.ftp.sock):
                        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    conn.close()
                    self.ftp.sock.close()
                    self.ftp = None
                    books.add(books.faults, "client vanished mid-transfer")
                    return True
        finally:
            conn.close()
        resp = self.ftp.voidresp()
        if not resp.startswith("226"):
            raise ftplib.error_reply(resp)
        if got != size or sha.hexdigest() != h.tree.sha[name]:
            books.violation(f"RETR {name}: {got} bytes, sha256 {sha.hexdigest()[:16]}..., "
                            f"expected {size} bytes, {h.tree.sha[name][:16]}... (after 226)")
            books.add(books.transfers, "retr_bad")
        else:
            books.add(books.transfers, "retr_ok")
        books.add(books.transfers, "bytes", got)
        return False

    def listing(self, op):
        h, books = self.h, self.h.books
        d = self.rnd.choice(DIRS)
        want = h.tree.listing[d]
        path = "/" + d
        self.ftp.voidcmd("TYPE A")
        if op == "NLST":
            lines = []
            resp = self.ftp.retrlines(f"NLST {path}", lines.append)
            got = {l.rsplit("/", 1)[-1] for l in lines}
            expect = set(want)
        elif op == "MLSD":
            lines = []
            resp = self.ftp.retrlines(f"MLSD {path}", lines.append)
            got, expect = set(), set()
            for line in lines:
                facts, _, name = line.partition(" ")
                f = dict(kv.split("=", 1) for kv in facts.rstrip(";").split(";") if "=" in kv)
                kind = f.get("type", "").lower()
                if kind in ("cdir", "pdir"):
                    continue
                got.add((name, kind, int(f["size"]) if kind == "file" else None))
            expect = {(n, k, s) for n, (k, s) in want.items()}
        else:
            lines = []
            resp = self.ftp.retrlines(f"LIST {path}", lines.append)
            got = set()
            for line in lines:
                parts = line.split(None, 8)
                if len(parts) < 9 or line.startswith("total"):
                    continue
                kind = "dir" if parts[0].startswith("d") else "file"
                got.add((parts[8], kind, int(parts[4]) if kind == "file" else None))
            expect = {(n, k, s) for n, (k, s) in want.items()}
        if not resp.startswith("226"):
            raise ftplib.error_reply(resp)
        if got != expect:
            books.violation(f"{op} {path}: got {sorted(got, key=str)[:6]}, expected {sorted(expect, key=str)[:6]}")
            books.add(books.transfers, "list_bad")
        else:
            books.add(books.transfers, "list_ok")

    def failed(self, exc, t_start):
        cause = self.h.cause(self.sid, exc, t_start)
        books = self.h.books
        books.add(books.sessions, "failed")
        if cause is None:
            books.add(books.failures, "UNEXPLAINED")
            with books.lock:
                if len(books.unexplained) < 50:
                    books.unexplained.append((self.sid, repr(exc)[:200]))
        else:
            books.add(books.failures, cause)


class Harness:
    def __init__(self, args, build, base):
        self.args = args
        self.books = Books()
        self.tree = Tree(base / "tree")
        self.tree.build()
        os.chmod(base, 0o755)
        self.server = Server(base, self.tree, build, args)
        self.stopping = threading.Event()   # clients: finish the current session, start no new one
        self.done = threading.Event()       # everything else: stop
        self.go = threading.Event()         # clients: start (once all threads exist)
        self.sid_lock = threading.Lock()
        self.next_sid = 0
        self.master_down = None             # monotonic time of the master's SIGKILL while restarting
        self.samples = {}                   # master pid -> [(t, fds, rss)]
        self.gen_of = {}                    # worker pid -> generation seen in ftpwho
        self.suspect_stale = {}             # pid -> first time a listed slot had no live process
        self.suspect_linger = {}            # pid -> first time an old-generation worker had no session
        self.hups = 0

    # ---- failure causes ------------------------------------------------------
    def cause(self, sid, exc, t_start, text=""):
        """Why session `sid` (started at `t_start`) failed with `exc`, as one
        of the faults the harness injected; None when none explains it."""
        b = self.books
        with b.lock:
            killed = sid in b.killed
            restart = b.restart
        text = f"{exc} {text}"
        if killed:
            return "worker SIGKILLed by the harness"
        t = now()
        if RESTART_TEXT in text:
            return "master SIGKILLed: 421 after the current transfer"
        # Failing while the master is down, or just after it came back (the
        # pool refills; a connection from the old listeners' backlog is reset).
        in_restart = self.master_down is not None
        if restart is not None:
            t_kill, t_ready = restart
            in_restart = in_restart or (t_kill <= t <= t_ready + RESTART_GRACE and t_start <= t_ready + RESTART_GRACE)
        if in_restart:
            if isinstance(exc, (ConnectionError, EOFError)) or "try again later" in text:
                return "master SIGKILLed: refused or reset while it restarted"
        return None

    # ---- threads -------------------------------------------------------------
    def client(self, rnd):
        self.go.wait()
        while not self.stopping.is_set():
            with self.sid_lock:
                self.next_sid += 1
                sid = self.next_sid
            Session(self, sid, rnd).run()

    def every(self, period):
        """Yields once per `period` seconds on a fixed schedule (a late
        tick does not push the next ones back), until done."""
        t = now()
        while True:
            t += period
            if self.done.wait(max(0.0, t - now())):
                return
            yield

    def hupper(self):
        for _ in self.every(1.0):
            if self.master_down is not None:
                continue
            try:
                os.kill(self.server.master, signal.SIGHUP)
                self.hups += 1
                self.books.add(self.books.faults, "SIGHUP to the master")
            except ProcessLookupError:
                pass

    def worker_killer(self, rnd):
        for _ in self.every(self.args.kill_every):
            if self.master_down is not None or self.stopping.is_set():
                continue
            self.kill_one_worker(rnd, record=True)
            if self.args.plant == "unrecorded-kill":
                self.kill_one_worker(rnd, record=False)

    def kill_one_worker(self, rnd, record):
        """SIGKILL the worker of a random running session (a download or
        listing session if any, else a slow-loris): found with ss(8), then
        stopped (SIGSTOP), then the client ports of every socket it holds
        are read from /proc and their sessions recorded, then killed; so
        the sessions it served are known exactly. Without `record` (--plant
        unrecorded-kill) nothing is written down."""
        srv, b = self.server, self.books
        with b.lock:
            live = list(b.live_ports.items())
            loris = b.loris_sids
            picks = [p for p, sid in live if sid not in loris] or [p for p, _ in live]
        rnd.shuffle(picks)
        for cport in picks[:5]:
            pid = self.worker_of(cport)
            st = proc_stat(pid) if pid else None
            if st is None or st[1] != srv.master:
                continue
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                continue
            deadline = now() + 2.0
            while now() < deadline and (st := proc_stat(pid)) and st[0] not in ("T", "t", "Z", "X"):
                time.sleep(0.002)
            # Stopped: what it holds now is what dies with it.
            peers = tcp_peers_by_inode()
            ports = {peers[i] for i in socket_inodes(pid) if i in peers}
            if record:
                with b.lock:
                    for p in ports:
                        sid = b.port_owner.get(p)
                        if sid is not None:
                            b.killed[sid] = pid
            os.kill(pid, signal.SIGKILL)
            b.add(b.faults, "SIGKILL of a busy worker" if record else "SIGKILL of a busy worker (unrecorded: --plant)")
            return
        b.add(b.faults, "SIGKILL skipped (no busy worker found)")

    def worker_of(self, client_port):
        """PID of the process holding the server end of the connection from
        `client_port` (ss -p), or None."""
        try:
            r = subprocess.run(["ss", "-Htnp", "state", "established", f"( dport = :{client_port} )"],
                               capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        for line in r.stdout.splitlines():
            if f":{self.server.port} " not in line.split("users:")[0] + " ":
                continue
            at = line.find("pid=")
            if at >= 0:
                return int(line[at + 4:].split(",")[0])
        return None

    def loris(self, rnd):
        """--loris connections, one byte of "NOOP\\r\\n" now and then each;
        replaced when the server closes one (that is counted by cause)."""
        b = self.books
        line = b"NOOP\r\n"
        conns = {}   # socket -> [sid, bytes sent, text received]

        def open_one():
            try:
                s = socket.create_connection(("127.0.0.1", self.server.port), timeout=5)
            except OSError as exc:
                b.add(b.loris, "connect failed")
                self.loris_closed(-1, exc, "", now())
                return
            s.setblocking(False)
            with self.sid_lock:
                self.next_sid += 1
                sid = self.next_sid
            with b.lock:
                b.port_owner[s.getsockname()[1]] = sid
                b.live_ports[s.getsockname()[1]] = sid
                b.loris_sids.add(sid)
            conns[s] = [sid, 0, "", now()]
            b.add(b.loris, "opened")

        import selectors
        sel = selectors.DefaultSelector()
        try:
            while not self.done.is_set():
                while len(conns) < self.args.loris and not self.done.is_set() and self.master_down is None:
                    open_one()
                    if len(conns) % 20 == 0:
                        break
                for s in list(conns):
                    try:
                        sel.register(s, selectors.EVENT_READ)
                    except (KeyError, ValueError):
                        pass
                for key, _ in sel.select(timeout=0.2):
                    s = key.fileobj
                    err = None
                    try:
                        data = s.recv(4096)
                    except BlockingIOError:
                        continue
                    except OSError as exc:
                        data, err = b"", exc
                    if data:
                        conns[s][2] = (conns[s][2] + data.decode("latin-1"))[-400:]
                        continue
                    sid, _, text, opened = conns.pop(s)
                    with b.lock:
                        b.live_ports.pop(s.getsockname()[1], None)
                    sel.unregister(s)
                    s.close()
                    self.loris_closed(sid, err or EOFError("connection closed by the server"), text, opened)
                # About one byte per connection every 2 s.
                for s in rnd.sample(list(conns), k=max(1, len(conns) // 10)) if conns else []:
                    st = conns[s]
                    try:
                        s.send(line[st[1] % len(line):st[1] % len(line) + 1])
                        st[1] += 1
                    except (BlockingIOError, OSError):
                        pass
        finally:
            for s in conns:
                s.close()
            sel.close()

    def loris_closed(self, sid, exc, text, opened):
        b = self.books
        if "Login timeout" in text:
            b.add(b.loris, "closed by TimeoutLogin (expected)")
            return
        # The last reply the server sent counts with the error.
        cause = self.cause(sid, exc, opened, text)
        if cause is None:
            b.add(b.failures, "UNEXPLAINED (slow-loris)")
            with b.lock:
                b.unexplained.append((sid, f"slow-loris: {exc!r} {text[-200:]!r}"))
        else:
            b.add(b.failures, cause + " (slow-loris)")

    def sampler(self):
        """Every 0.5 s: the master's fds and RSS; every second ftpwho --json
        for stale slots and lingering old-generation workers."""
        last_who = 0.0
        while not self.done.wait(0.5):
            m = self.server.master
            if self.master_down is not None or m is None:
                continue
            fds, rss = fd_count(m), rss_kib(m)
            if fds is not None and rss is not None:
                self.samples.setdefault(m, []).append((now(), fds, rss))
            if now() - last_who >= 1.0:
                last_who = now()
                self.check_who(m, final=False)

    def check_who(self, master, final):
        who = self.server.who()
        if who is None or who["server"]["pid"] != master:
            return who
        gen = who["server"]["generation"]
        kids = self.server.note_children()
        t = now()
        listed = set()
        for c in who["connections"]:
            pid = c["pid"]
            listed.add(pid)
            self.gen_of[pid] = c["generation"]
            if pid not in kids:
                first = self.suspect_stale.setdefault(pid, t)
                if t - first >= 2.0 or final:
                    self.books.violation(f"stale scoreboard slot: pid {pid} ({c['state']}) is listed by "
                                         f"ftpwho but is no live child of master {master}")
                    self.suspect_stale[pid] = float("inf")
            else:
                self.suspect_stale.pop(pid, None)
        for pid in kids:
            g = self.gen_of.get(pid)
            if g is not None and g < gen and pid not in listed:
                first = self.suspect_linger.setdefault(pid, t)
                if t - first >= 3.0:
                    self.books.violation(f"worker {pid} of generation {g} is alive {t - first:.1f} s after "
                                         f"its session ended (generation now {gen})")
                    self.suspect_linger[pid] = float("inf")
            else:
                self.suspect_linger.pop(pid, None)
        return who

    # ---- the run ---------------------------------------------------------
    def kill_and_restart_master(self):
        srv, b = self.server, self.books
        old = srv.master
        srv.note_children()
        t_kill = now()
        self.master_down = t_kill
        os.kill(old, signal.SIGKILL)
        srv.popen.wait(timeout=10)
        b.add(b.faults, "SIGKILL of the master (then a restart)")
        took = srv.start(b)
        t_ready = now()
        with b.lock:
            b.restart = (t_kill, t_ready)
        self.gen_of.clear()
        self.master_down = None
        self.restart_seconds = took

    def run(self):
        a, srv, b = self.args, self.server, self.books
        srv.port = free_port()
        srv.write_config()
        b.restart_attempts = 0
        srv.start(b)
        b.restart_attempts = 0
        t0 = now()
        threading.stack_size(512 * 1024)
        # Hundreds of client threads: hand the interpreter lock round more
        # often, so the fault injectors keep their schedule.
        sys.setswitchinterval(0.001)
        rnd = random.Random(a.seed)
        threads = [threading.Thread(target=self.client, args=(random.Random(rnd.random()),), daemon=True)
                   for _ in range(a.sessions)]
        aux = [threading.Thread(target=self.hupper, daemon=True),
               threading.Thread(target=self.worker_killer, args=(random.Random(rnd.random()),), daemon=True),
               threading.Thread(target=self.sampler, daemon=True)]
        if a.loris:
            aux.append(threading.Thread(target=self.loris, args=(random.Random(rnd.random()),), daemon=True))
        for t in threads + aux:
            t.start()
        self.go.set()
        print(f"soak: {len(threads)} client threads started in {now() - t0:.1f} s", file=sys.stderr, flush=True)
        t0 = now()  # the run starts with the load
        master_kill_at = t0 + a.seconds * a.master_kill_at if a.master_kill_at > 0 else None
        plant_at = t0 + a.seconds / 3
        deadline = t0 + a.seconds
        self.restart_seconds = None
        try:
            while now() < deadline:
                time.sleep(0.1)
                if master_kill_at is not None and now() >= master_kill_at:
                    master_kill_at = None
                    self.kill_and_restart_master()
                if plant_at is not None and now() >= plant_at:
                    plant_at = None
                    self.plant()
        finally:
            self.stopping.set()
            join_deadline = now() + CLIENT_TIMEOUT + 10
            for t in threads:
                t.join(max(0.1, join_deadline - now()))
            stuck = sum(t.is_alive() for t in threads)
            if stuck:
                b.violation(f"{stuck} client session(s) still running {CLIENT_TIMEOUT + 10:.0f} s after the end")
            self.done.set()
            for t in aux:
                t.join(15)
        self.elapsed = now() - t0
        self.final_checks()

    def plant(self):
        a = self.args
        if a.plant == "corrupt-file":
            self.tree.corrupt("k64.bin")
            self.books.add(self.books.faults, "byte of k64.bin changed (--plant corrupt-file)")
        elif a.plant == "stale-slot":
            self.plant_stale_slot()

    def plant_stale_slot(self):
        """--plant stale-slot: what a master that forgot to clear a reaped
        worker's slot would leave: the last slot of the scoreboard holds an
        idle session of a dead PID (scoreboard/FORMAT.md offsets)."""
        dead = subprocess.Popen(["true"])
        dead.wait()
        with open(self.server.scoreboard, "r+b") as f:
            head = f.read(768)
            slot_count, = struct.unpack_from("<I", head, 20)
            gen, = struct.unpack_from("<I", head, 28)
            features, = struct.unpack_from("<I", head, 708)
            rec = bytearray(1088)
            struct.pack_into("<IiIBB", rec, 0, 2, dead.pid, gen, 5, 0)  # seq even, state idle
            t = time.time_ns()
            struct.pack_into("<qq", rec, 16, t, t)
            rec[80:87] = b"planted"
            rec[144:153] = b"127.0.0.1"
            rec[272:275] = b"ftp"
            os.pwrite(f.fileno(), bytes(rec), 768 + (slot_count - 1) * 1088)
            if features & 1:  # slot_hwm: readers scan up to it
                os.pwrite(f.fileno(), struct.pack("<I", slot_count), 704)
        self.books.add(self.books.faults, f"slot of dead pid {dead.pid} written (--plant stale-slot)")

    # ---- end checks ------------------------------------------------------
    def final_checks(self):
        srv, b = self.server, self.books
        master = srv.master
        # A stopped worker's client gives up (CLIENT_TIMEOUT); its session
        # counts as failed by the plant, which is the point of that plant.
        if b.unexplained:
            for sid, err in b.unexplained[:10]:
                b.violation(f"session {sid} failed with no injected cause: {err}")
            if len(b.unexplained) > 10:
                b.violation(f"... and {len(b.unexplained) - 10} more unexplained failures")
        # 1. Every client is gone: no session may stay listed.
        who = None
        deadline = now() + 10
        while now() < deadline:
            who = srv.who()
            if who is not None and not who["connections"]:
                break
            time.sleep(0.2)
        if who is None:
            b.violation("ftpwho --json failed on the final scoreboard")
        else:
            for c in who["connections"]:
                b.violation(f"stale scoreboard slot after every client left: pid {c['pid']} {c['state']} "
                            f"(alive: {alive(c['pid'])})")
            for key in ("stale_slots", "updating_slots"):
                if who["server"].get(key):
                    b.violation(f"ftpwho reports {key} = {who['server'][key]}")
        # 2. Old generations: one more HUP; every worker alive before it is
        # idle and old now, and must leave.
        before = srv.note_children()
        os.kill(master, signal.SIGHUP)
        deadline = now() + 5
        while now() < deadline and any(alive(p, s) for p, s in before.items()):
            time.sleep(0.05)
        lingering = sorted(p for p, s in before.items() if alive(p, s))
        if lingering:
            b.violation(f"{len(lingering)} idle worker(s) of the old generation still alive 5 s after a HUP: "
                        f"{lingering[:10]}")
        # The idle count settles to the live children.
        deadline = now() + 5
        while now() < deadline:
            who = srv.who()
            kids = srv.note_children()
            if who is not None and who["server"]["idle_workers"] == len(kids):
                break
            time.sleep(0.1)
        else:
            b.violation(f"ftpwho counts {who and who['server']['idle_workers']} idle workers, "
                        f"the master has {len(srv.note_children())} children")
        # 3. The master's fds and RSS.
        self.check_flat()
        # 4. The final TERM: nothing of ours may be left.
        os.kill(master, signal.SIGTERM)
        try:
            srv.popen.wait(timeout=STOP_WAIT)
        except subprocess.TimeoutExpired:
            b.violation(f"master {master} still running {STOP_WAIT:.0f} s after TERM")
        ours = dict(srv.seen)
        ours.update({p: s for p, s in srv.masters if s is not None})
        deadline = now() + 5
        while now() < deadline and any(alive(p, s) for p, s in ours.items()):
            time.sleep(0.05)
        left = sorted(p for p, s in ours.items() if alive(p, s))
        if left:
            b.violation(f"{len(left)} process(es) of ours left after the final TERM: {left[:10]}")
            for p in left:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def check_flat(self):
        """First and last thirds of each master's samples. fds: the last
        third's maximum may exceed the first third's by 2 (a connection the
        master accepts to refuse with 421, a reload's transient file); the
        set of fds a master holds is otherwise fixed, so any growth beyond
        that is a leak. RSS: the last third's median within 10% + 2 MiB of
        the first third's: the master reserves its tables for every slot at
        start, so its memory settles once the pool has grown (first third);
        malloc arenas and the config re-read each second move the figure by
        a few hundred KiB, and a leak of even 1 KiB per reload shows in a
        300 s run only above that noise (it is sized so that a run on a busy
        shared machine does not fail on noise)."""
        b = self.books
        self.flat = []
        for pid, s in self.samples.items():
            if len(s) < 9:
                self.flat.append((pid, len(s), None, None, None, None, "too short to judge"))
                continue
            third = len(s) // 3
            first, last = s[:third], s[-third:]
            fd_first, fd_last = max(x[1] for x in first), max(x[1] for x in last)
            rss_first = statistics.median(x[2] for x in first)
            rss_last = statistics.median(x[2] for x in last)
            verdict = "flat"
            if fd_last > fd_first + 2:
                b.violation(f"master {pid}: fd count grew from {fd_first} (first third) to {fd_last} (last third)")
                verdict = "FD GROWTH"
            if rss_last > rss_first * 1.10 + 2048:
                b.violation(f"master {pid}: RSS grew from {rss_first:.0f} KiB to {rss_last:.0f} KiB")
                verdict = "RSS GROWTH"
            self.flat.append((pid, len(s), fd_first, fd_last, rss_first, rss_last, verdict))

    # ---- report ------------------------------------------------------------
    def report(self):
        b = self.books
        out = []
        out.append(f"poolftpd soak: {self.elapsed:.0f} s, {self.args.sessions} client threads, "
                   f"{self.args.loris} slow-loris connections, seed {self.args.seed}")
        rows = [("sessions started", b.sessions["started"]),
                ("sessions completed", b.sessions["completed"]),
                ("sessions vanished (by design)", b.sessions["vanished"]),
                ("sessions failed", b.sessions["failed"]),
                ("downloads verified", b.transfers["retr_ok"]),
                ("listings verified", b.transfers["list_ok"]),
                ("bytes downloaded", b.transfers["bytes"]),
                ("downloads NOT matching", b.transfers["retr_bad"]),
                ("listings NOT matching", b.transfers["list_bad"])]
        out.append(table("run", rows))
        out.append(table("faults injected", sorted(b.faults.items())))
        if self.restart_seconds is not None:
            out.append(f"master restart: greeting after {self.restart_seconds:.2f} s "
                       f"({b.restart_attempts} start attempt(s))")
        out.append(table("failures by cause", sorted(b.failures.items()) or [("none", 0)]))
        out.append(table("slow-loris", sorted(b.loris.items()) or [("none", 0)]))
        rows = []
        for pid, n, f1, f2, r1, r2, verdict in getattr(self, "flat", []):
            rows.append((f"master {pid} ({n} samples)",
                         verdict if f1 is None else f"fds {f1} -> {f2}, RSS {r1:.0f} -> {r2:.0f} KiB: {verdict}"))
        out.append(table("master fds and RSS (first -> last third)", rows))
        if b.violations:
            out.append(f"VIOLATIONS ({sum(b.violations.values())}):")
            out.extend(f"  {v}" + (f" (x{n})" if n > 1 else "") for v, n in b.violations.items())
        else:
            out.append("no violations")
        return "\n".join(out)


def table(title, rows):
    rows = list(rows)
    width = max([len(str(k)) for k, _ in rows] + [len(title)])
    lines = [f"{title}:"]
    for k, v in rows:
        lines.append(f"  {str(k):<{width}}  {v}")
    return "\n".join(lines)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=300)
    p.add_argument("--sessions", type=int, default=500, help="concurrent client threads")
    p.add_argument("--loris", type=int, default=200, help="slow-loris connections")
    p.add_argument("--kill-every", type=float, default=3.0, help="seconds between worker SIGKILLs")
    p.add_argument("--vanish-rate", type=float, default=0.05,
                   help="share of downloads (of 1 MiB and more) whose client vanishes")
    p.add_argument("--master-kill-at", type=float, default=0.3,
                   help="when to SIGKILL and restart the master, as a fraction of the run (0: never)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--build", default=os.environ.get("POOLFTPD_BUILD") or str(REPO / "build"))
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument("--plant", choices=["none", "corrupt-file", "unrecorded-kill", "stale-slot"],
                   default="none", help="inject a violation the checks must catch")
    a = p.parse_args(argv)
    if a.seed is None:
        a.seed = random.randrange(1 << 30)
    return a


def main(argv=None):
    args = parse_args(argv)
    build = Path(args.build).resolve()
    for tool in ("poolftpd", "ftpwho"):
        if not os.access(build / tool, os.X_OK):
            print(f"soak: missing {build / tool} (run make all)", file=sys.stderr)
            return 2
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 4 * (args.sessions + args.loris) + 256
    if soft < need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
        except (ValueError, OSError):
            pass
    base = Path(tempfile.mkdtemp(prefix="poolftpd-soak-"))
    h = None
    try:
        h = Harness(args, build, base)
        try:
            h.run()
        except RuntimeError as exc:
            print(f"soak: {exc}", file=sys.stderr)
            return 2
        print(h.report(), flush=True)
        return 1 if h.books.violations else 0
    finally:
        if h is not None:
            cleanup(h)
        if args.keep:
            print(f"soak: kept {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)


def cleanup(h):
    """Whatever happened: no process of ours survives the harness."""
    srv = h.server
    pids = dict(srv.seen)
    pids.update({p: s for p, s in srv.masters if s is not None})
    for p, s in pids.items():
        if alive(p, s):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
    if srv.popen is not None:
        try:
            srv.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


if __name__ == "__main__":
    sys.exit(main())
