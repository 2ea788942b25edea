"""Helpers shared by the poolftpd integration tests.

Everything here talks to the real binaries in $POOLFTPD_BUILD over loopback:
process inspection through /proc, a raw control-connection client for
byte-level tests, data-connection helpers for every mode (PASV, EPSV, PORT,
EPRT) and the Server object that writes a config, starts poolftpd as a given
identity and tears it down (TERM, bounded wait, KILL of its own PIDs only).
"""

import ftplib
import hashlib
import json
import os
import random
import re
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILD = Path(os.environ.get("POOLFTPD_BUILD") or HERE.parents[1] / "build").resolve()
POOLFTPD = BUILD / "poolftpd"
FTPWHO = BUILD / "ftpwho"
FTPCOUNT = BUILD / "ftpcount"

IS_ROOT = os.geteuid() == 0
# Measuring aid for the seccomp allowlist (docs/SECURITY.md, "S14 seccomp"):
# when set, every server started here is traced with strace -ff into this
# directory (one file per process); tests/seccomp_syscalls.py summarises
# what the workers called. Never set in a normal run.
STRACE_DIR = os.environ.get("POOLFTPD_STRACE_DIR")
TIMEOUT = 10.0          # socket timeout for every client operation
ANON_PASS = "tester@example.com"
DEFAULT_IDENT = "Test server ready"
NOBODY_UID = 65534
NOGROUP_GID = 65534

try:
    import pwd
    import grp
    NOBODY_UID = pwd.getpwnam("nobody").pw_uid
    NOGROUP_GID = grp.getgrnam("nogroup").gr_gid
except (KeyError, ImportError):  # pragma: no cover - unusual systems
    pass


# --------------------------------------------------------------------------
# sanitizer reports
# --------------------------------------------------------------------------
# A sanitizer build (make SAN=...) reports to stderr by default, which a
# daemon sends to /dev/null. So every process the tests start gets options
# whose log_path is a directory of the test's own (`sanitizer_env`): each
# process writes its report to DIR/san.PID, and a report file that is not
# empty fails the test that owns DIR (conftest.py, sanitizer_reports; and
# Server.stop). g++ links ASan and UBSan as two runtimes, each with a report
# file of its own: DIR/san.PID (ASan, LSan, TSan) and DIR/ubsan.PID (UBSan;
# tests/san/ubsan_report_path.cc makes it honour log_path next to ASan).
# Workers open their files before the chroot (src/worker/privileges.cc),
# where the path is still reachable.

SAN = os.environ.get("POOLFTPD_SAN", "")   # the Makefile's SAN=, "" for the normal build
SAN_VARS = ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TSAN_OPTIONS")


def sanitizer_env(log_dir, **extra):
    """The *_OPTIONS variables that send every report into `log_dir`; `extra`
    adds options (for instance detect_leaks=0) to all of them. UBSan stops at
    the first error, with a stack trace, so no report is a mere warning."""
    common = {"log_path": f"{log_dir}/san"}
    common.update({k: str(v) for k, v in extra.items()})
    per_tool = {
        "ASAN_OPTIONS": {},
        "UBSAN_OPTIONS": {"log_path": f"{log_dir}/ubsan", "halt_on_error": "1",
                          "print_stacktrace": "1"},
        "LSAN_OPTIONS": {},
        "TSAN_OPTIONS": {},
    }
    return {var: ":".join(f"{k}={v}" for k, v in {**common, **opts}.items())
            for var, opts in per_tool.items()}


def san_environ():
    """The sanitizer variables of this process's environment (for a command
    run with an environment of its own)."""
    return {k: os.environ[k] for k in SAN_VARS if k in os.environ}


def make_report_dir(path):
    """A report directory every identity can write to (workers run as nobody)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o777)
    return path


def sanitizer_reports(log_dir, seen=None):
    """Problems for every report file in `log_dir` not in `seen` (a set of
    names, updated): its name and text. Empty files are not reports: a worker
    opens its file before the chroot, whether or not it ever reports."""
    problems = []
    try:
        names = sorted(os.listdir(log_dir))
    except OSError:
        return problems
    for name in names:
        if seen is not None and name in seen:
            continue
        path = Path(log_dir) / name
        try:
            text = path.read_text(errors="replace")
        except OSError as e:
            text = f"(unreadable: {e})"
        if not text:
            continue
        if seen is not None:
            seen.add(name)
        if len(text) > 6000:
            text = text[:6000] + "\n[... cut; the whole report is in the file]"
        problems.append(f"sanitizer report {path}:\n{text}")
    return problems


# Servers started and not yet stopped: conftest.py checks their report
# directories after every test, so a report fails the test that caused it.
LIVE_SERVERS = []


# --------------------------------------------------------------------------
# polling
# --------------------------------------------------------------------------

RETRY_ERRORS = (OSError, EOFError, ftplib.Error, ValueError, json.JSONDecodeError)


def wait_until(cond, timeout=10.0, interval=0.02, what=None):
    """Polls cond() every `interval` s until it returns a truthy value, which is
    returned. Network errors raised by cond count as "not yet". Raises
    AssertionError naming `what` and the last error at the deadline."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = cond()
            if value:
                return value
        except RETRY_ERRORS as exc:
            last_exc = exc
        if time.monotonic() >= deadline:
            desc = what or getattr(cond, "__name__", "condition")
            extra = f"; last error: {last_exc!r}" if last_exc else ""
            raise AssertionError(f"timed out after {timeout:.1f} s waiting for {desc}{extra}")
        time.sleep(interval)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------
# processes (/proc)
# --------------------------------------------------------------------------

def proc_stat(pid):
    """(state, ppid, starttime) of `pid`, or None if it does not exist."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    rest = data[data.rfind(")") + 2:].split()
    # rest[0] = state (field 3), rest[1] = ppid (field 4), rest[19] = starttime (field 22)
    return rest[0], int(rest[1]), int(rest[19])


def pid_alive(pid, starttime=None):
    st = proc_stat(pid)
    if st is None or st[0] in ("Z", "X"):
        return False
    return starttime is None or st[2] == starttime


def all_pids():
    return [int(n) for n in os.listdir("/proc") if n.isdigit()]


def children_of(ppid):
    """Live (non-zombie) children of `ppid` as {pid: starttime}."""
    out = {}
    for pid in all_pids():
        st = proc_stat(pid)
        if st and st[1] == ppid and st[0] not in ("Z", "X"):
            out[pid] = st[2]
    return out


def pids_with_cmdline(fragment):
    """Live processes whose command line contains `fragment` (bytes)."""
    out = {}
    for pid in all_pids():
        if pid == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if fragment in cmd:
            st = proc_stat(pid)
            if st and st[0] not in ("Z", "X"):
                out[pid] = st[2]
    return out


def proc_status(pid):
    """/proc/PID/status as a dict of field -> value string."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def _decode_addr(hexaddr):
    ip_hex, port_hex = hexaddr.split(":")
    ip = socket.inet_ntoa(struct.pack("<I", int(ip_hex, 16)))
    return ip, int(port_hex, 16)


def tcp_inode(local, remote):
    """Inode of the IPv4 TCP socket whose local/remote (ip, port) match."""
    with open("/proc/net/tcp") as f:
        lines = f.readlines()[1:]
    for line in lines:
        parts = line.split()
        if _decode_addr(parts[1]) == local and _decode_addr(parts[2]) == remote:
            return int(parts[9])
    return None


def pid_holding_socket(inode, candidates):
    target = f"socket:[{inode}]"
    for pid in candidates:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return pid
            except OSError:
                continue
    return None


def kill_quietly(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


# --------------------------------------------------------------------------
# ports
# --------------------------------------------------------------------------

_used_pasv_bases = set()   # bases of the ranges of running servers


def free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_is_free(port, host="127.0.0.1"):
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def pick_pasv_range(width=50):
    """A PassivePorts range below the kernel's ephemeral range whose ends and a
    few ports in between are free, not overlapping a running server's."""
    lo_eph = 32768
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo_eph = int(f.read().split()[0])
    except OSError:
        pass
    top = max(20000 + width * 2, min(lo_eph, 60000)) - width - 1
    for _ in range(200):
        base = random.randrange(20000, top)
        if any(abs(base - b) < width for b in _used_pasv_bases):
            continue
        if all(port_is_free(p) for p in (base, base + 1, base + width // 2, base + width - 1, base + width)):
            return base, base + width
    raise RuntimeError("no free passive port range found")


# --------------------------------------------------------------------------
# raw control connection
# --------------------------------------------------------------------------

class Ctl:
    """A raw FTP control connection: bytes in, (code, text) replies out."""

    def __init__(self, port, src=None, host="127.0.0.1", timeout=TIMEOUT, read_greeting=False):
        self.sock = socket.create_connection(
            (host, port), timeout=timeout, source_address=(src, 0) if src else None)
        self.f = self.sock.makefile("rb")
        self.greeting = self.reply() if read_greeting else None

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def reply(self):
        """Reads one (possibly multi-line) reply. EOFError at end of stream."""
        line = self.f.readline()
        if not line:
            raise EOFError("connection closed by server")
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        if len(text) < 3 or not text[:3].isdigit():
            raise ValueError(f"malformed reply line {text!r}")
        code = text[:3]
        lines = [text]
        if text[3:4] == "-":
            while True:
                nxt = self.f.readline()
                if not nxt:
                    raise EOFError("connection closed inside a multi-line reply")
                t = nxt.decode("utf-8", "replace").rstrip("\r\n")
                lines.append(t)
                if t.startswith(code + " "):
                    break
        return int(code), "\n".join(lines)

    def cmd(self, line):
        self.send(line + "\r\n" if isinstance(line, str) else line + b"\r\n")
        return self.reply()

    def login(self, user="anonymous", password=ANON_PASS):
        code, text = self.cmd(f"USER {user}")
        assert code == 331, f"USER {user} -> {text}"
        code, text = self.cmd(f"PASS {password}")
        assert code == 230, f"PASS -> {text}"

    def wait_closed(self, timeout=TIMEOUT):
        """Reads until EOF (returns the replies seen) or raises on timeout."""
        self.sock.settimeout(timeout)
        seen = []
        while True:
            try:
                seen.append(self.reply())
            except EOFError:
                return seen
            except ConnectionResetError:
                return seen

    def close(self):
        try:
            self.f.close()
        finally:
            self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --------------------------------------------------------------------------
# ftplib helpers and data connections
# --------------------------------------------------------------------------

def ftp_open(port, login=True, user="anonymous", password=ANON_PASS, src=None, timeout=TIMEOUT):
    ftp = ftplib.FTP(timeout=timeout)
    ftp.connect("127.0.0.1", port, timeout=timeout, source_address=(src, 0) if src else None)
    if login:
        ftp.login(user, password)
    return ftp


def ftp_close(ftp):
    try:
        ftp.quit()
    except (OSError, EOFError, ftplib.Error):
        pass
    ftp.close()


PASV_RE = re.compile(r"\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)")
EPSV_RE = re.compile(r"\(\|\|\|(\d+)\|\)")


def parse_pasv(resp):
    m = PASV_RE.search(resp)
    assert m, f"unparsable 227 reply {resp!r}"
    nums = [int(x) for x in m.groups()]
    return ".".join(map(str, nums[:4])), nums[4] * 256 + nums[5]


def parse_epsv(resp):
    m = EPSV_RE.search(resp)
    assert m, f"unparsable 229 reply {resp!r}"
    return int(m.group(1))


def open_data(ftp, mode, cmd, rest=None, rcvbuf=None):
    """Opens a data connection in `mode` (pasv, epsv, port, eprt), sends
    `cmd` (after REST `rest`) and returns the connected data socket. Raises
    ftplib errors for a refusal."""
    if mode in ("pasv", "epsv"):
        if mode == "pasv":
            _host, port = parse_pasv(ftp.sendcmd("PASV"))
        else:
            port = parse_epsv(ftp.sendcmd("EPSV"))
        s = socket.socket()
        s.settimeout(TIMEOUT)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.connect(("127.0.0.1", port))
        try:
            if rest is not None:
                ftp.sendcmd(f"REST {rest}")
            resp = ftp.sendcmd(cmd)
            if not resp.startswith("1"):
                raise ftplib.error_reply(resp)
        except BaseException:
            s.close()
            raise
        return s
    if mode in ("port", "eprt"):
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(1)
        lsock.settimeout(TIMEOUT)
        port = lsock.getsockname()[1]
        try:
            if mode == "port":
                ftp.sendcmd("PORT 127,0,0,1,%d,%d" % (port >> 8, port & 255))
            else:
                ftp.sendcmd(f"EPRT |1|127.0.0.1|{port}|")
            if rest is not None:
                ftp.sendcmd(f"REST {rest}")
            resp = ftp.sendcmd(cmd)
            if not resp.startswith("1"):
                raise ftplib.error_reply(resp)
            s, _ = lsock.accept()
            s.settimeout(TIMEOUT)
            return s
        finally:
            lsock.close()
    raise ValueError(mode)


def recv_all(s):
    chunks = []
    while True:
        b = s.recv(1 << 16)
        if not b:
            break
        chunks.append(b)
    return b"".join(chunks)


def retr(ftp, name, mode="pasv", rest=None, type_="I"):
    """RETR `name` in `mode`; returns the bytes and checks the 226."""
    ftp.voidcmd(f"TYPE {type_}")
    s = open_data(ftp, mode, f"RETR {name}", rest=rest)
    try:
        data = recv_all(s)
    finally:
        s.close()
    resp = ftp.voidresp()
    assert resp.startswith("226"), resp
    return data


def listing(ftp, cmd, mode="pasv"):
    """Raw bytes of a listing command (LIST, NLST, MLSD ...)."""
    ftp.voidcmd("TYPE A")
    s = open_data(ftp, mode, cmd)
    try:
        data = recv_all(s)
    finally:
        s.close()
    ftp.voidresp()
    return data


class SlowDownload:
    """A RETR over PASV whose client reads only when told to, so the transfer
    stays open for as long as the test needs (small receive buffer)."""

    def __init__(self, ftp, name):
        self.ftp = ftp
        self.name = name
        ftp.voidcmd("TYPE I")
        self.sock = open_data(ftp, "pasv", f"RETR {name}", rcvbuf=32768)
        self.hash = hashlib.sha256()
        self.received = 0

    def read_some(self, nbytes):
        """Reads about `nbytes` (less at end of file)."""
        target = self.received + nbytes
        while self.received < target:
            b = self.sock.recv(min(1 << 16, target - self.received))
            if not b:
                break
            self.hash.update(b)
            self.received += len(b)

    def finish(self):
        """Reads the rest at full speed; returns (hexdigest, bytes, 226 reply)."""
        while True:
            b = self.sock.recv(1 << 20)
            if not b:
                break
            self.hash.update(b)
            self.received += len(b)
        self.sock.close()
        resp = self.ftp.voidresp()
        return self.hash.hexdigest(), self.received, resp

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# --------------------------------------------------------------------------
# identities and the server under test
# --------------------------------------------------------------------------

class Identity:
    """Who the server runs as. "root": started as root, workers chroot and drop
    to nobody/nogroup. "nobody": started unprivileged (through setpriv when
    the test runs as root), no chroot or uid change."""

    def __init__(self, name):
        self.name = name
        self.privileged = name == "root"
        if self.privileged:
            self.anon_user, self.anon_group = "nobody", "nogroup"
            self.aliases = [("anonymous", "nobody"), ("ftp", "nobody")]
        else:
            self.anon_user, self.anon_group = "ftp", "nogroup"
            self.aliases = [("anonymous", "ftp")]
        if name == "nobody" and IS_ROOT:
            self.prefix = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]
        else:
            self.prefix = []

    @property
    def session_users(self):
        """Names a tool may show for an anonymous session."""
        return {"anonymous", "ftp", self.anon_user}

    def __repr__(self):
        return f"Identity({self.name})"


BAD_LOG_RE = re.compile(r"\balert\b|\bemerg\b|Sanitizer", re.IGNORECASE)

_server_counter = [0]


class Server:
    """One poolftpd instance: its directory, config, process and teardown."""

    def __init__(self, identity, tree, workbase, ident=DEFAULT_IDENT, settings=None,
                 extra=(), anon_extra=(), san_options=None):
        _server_counter[0] += 1
        self.identity = identity
        self.tree = tree
        self.dir = Path(workbase) / f"srv{_server_counter[0]}"
        self.run_dir = self.dir / "run"
        self.log_dir = self.dir / "log"
        for d in (self.dir, self.run_dir, self.log_dir):
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o755)
        # The run directory holds the PidFile: a root master refuses one that
        # others can write to, so it belongs to whoever runs the server.
        os.chmod(self.run_dir, 0o755)
        os.chmod(self.log_dir, 0o755)
        if not identity.privileged and os.geteuid() == 0:
            import pwd
            nobody = pwd.getpwnam("nobody")
            for d in (self.run_dir, self.log_dir):
                os.chown(d, nobody.pw_uid, nobody.pw_gid)
        self.conf = self.dir / "poolftpd.conf"
        self.pidfile = self.run_dir / "poolftpd.pid"
        self.scoreboard = self.run_dir / "poolftpd.scoreboard"
        # Every path the config would otherwise default to a host file:
        # tests never read the host's /etc/shutmsg (test_host_files.py).
        self.shutmsg = self.dir / "shutmsg"
        self.syslog = self.log_dir / "system.log"
        self.xferlog = self.log_dir / "xfer.log"
        self.stdout_path = self.dir / "stdout.txt"
        self.stderr_path = self.dir / "stderr.txt"
        self.san_dir = make_report_dir(self.dir / "san")
        # Extra sanitizer options, e.g. {"detect_leaks": 0}, each with a reason.
        self.san_options = dict(san_options or {})
        self.san_seen = set()
        self.port = free_port()
        self.pasv = pick_pasv_range()
        self.ident = ident
        self.settings = {
            "MaxClients": "20",
            "MaxClientsPerHost": "10",
            "StartServers": "2",
            "MinSpareServers": "1",
            "MaxSpareServers": "4",
        }
        self.settings.update(settings or {})
        self.extra = list(extra)
        self.anon_extra = list(anon_extra)
        self.popen = None
        self.master_pid = None
        self.seen = {}          # every worker PID we saw: pid -> starttime
        self.stopped = False
        self.write_config()

    # ---- config ----
    def config_text(self):
        lines = [
            'ServerName "poolftpd test"',
            f"Port {self.port}",
            "DefaultAddress 127.0.0.1",
            f"PidFile {self.pidfile}",
            f"ScoreboardFile {self.scoreboard}",
            f"ShutdownFile {self.shutmsg}",
            f"SystemLog {self.syslog}",
            f"TransferLog {self.xferlog}",
            f"PassivePorts {self.pasv[0]} {self.pasv[1]}",
        ]
        if self.ident is not None:
            lines.insert(1, f'ServerIdent on "{self.ident}"')
        for key, value in self.settings.items():
            if value is not None:
                lines.append(f"{key} {value}")
        for alias, user in self.identity.aliases:
            lines.append(f"UserAlias {alias} {user}")
        lines.extend(self.extra)
        if STRACE_DIR:
            lines.append("Seccomp off")  # measuring: nothing may trap meanwhile
        lines.append(f"<Anonymous {self.tree.root}>")
        lines.append(f"  User {self.identity.anon_user}")
        lines.append(f"  Group {self.identity.anon_group}")
        lines.extend("  " + l for l in self.anon_extra)
        lines.append("</Anonymous>")
        return "\n".join(lines) + "\n"

    def write_config(self, text=None):
        tmp = self.conf.with_suffix(".tmp")
        tmp.write_text(text if text is not None else self.config_text())
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.conf)

    # ---- lifecycle ----
    def command(self, *args, daemon=False):
        return self.identity.prefix + [str(POOLFTPD)] + ([] if daemon else ["-n"]) + \
            ["-c", str(self.conf)] + list(args)

    def environment(self):
        """The server's environment: ours, with its sanitizer reports going to
        its own directory."""
        return dict(os.environ, **sanitizer_env(self.san_dir, **self.san_options))

    def environment_for_sanitizers(self):
        """Only the sanitizer variables of environment(), for a command that
        gets an environment of its own (the init script)."""
        return sanitizer_env(self.san_dir, **self.san_options)

    def sanitizer_problems(self):
        """Reports of this server's processes not yet reported."""
        return sanitizer_reports(self.san_dir, self.san_seen)

    def start(self, extra_args=(), daemon=False, wait=True):
        _used_pasv_bases.add(self.pasv[0])
        out = open(self.stdout_path, "ab")
        err = open(self.stderr_path, "ab")
        try:
            self.popen = subprocess.Popen(
                self.command(*extra_args, daemon=daemon), stdin=subprocess.DEVNULL,
                stdout=out, stderr=err, start_new_session=True, env=self.environment())
        finally:
            out.close()
            err.close()
        if self not in LIVE_SERVERS:
            LIVE_SERVERS.append(self)
        if daemon:
            try:
                rc = self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                raise AssertionError("daemonizing poolftpd did not return within 20 s")
            assert rc == 0, f"poolftpd (daemon mode) exited {rc}: {self.stderr()}"
            self.master_pid = self.read_pidfile()
            assert self.master_pid, "no PidFile after the daemon returned 0"
        else:
            self.master_pid = self.popen.pid
        if STRACE_DIR:
            self._attach_strace()
        if wait:
            self.wait_ready()
        return self

    def _attach_strace(self):
        """POOLFTPD_STRACE_DIR: follows the master and its workers (-f), one
        output file per process. strace leaves when they are gone."""
        pids = [self.master_pid] + list(self.children())
        args = ["strace", "-f", "-ff", "-qq", "-o", f"{STRACE_DIR}/{self.dir.parent.name}-{self.dir.name}"]
        for pid in pids:
            args += ["-p", str(pid)]
        subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(0.5)  # attached before the test's first connection

    def wait_ready(self, timeout=15.0):
        def ready():
            if self.popen is not None and self.popen.poll() is not None and \
                    not pid_alive(self.master_pid):
                raise AssertionError(
                    f"poolftpd exited with {self.popen.returncode} before listening: {self.stderr()}")
            return self.probe()
        wait_until(ready, timeout, what=f"poolftpd to accept on port {self.port}")

    def probe(self, src=None):
        """True when a new connection gets a 220 greeting (then QUITs)."""
        with Ctl(self.port, src=src, timeout=3) as c:
            code, _ = c.reply()
            if code != 220:
                return False
            try:
                c.cmd("QUIT")
            except (OSError, EOFError, ValueError):
                pass
            return True

    def greeting(self):
        with Ctl(self.port, timeout=5) as c:
            code, text = c.reply()
            try:
                c.cmd("QUIT")
            except (OSError, EOFError, ValueError):
                pass
            return code, text

    def read_pidfile(self):
        try:
            return int(self.pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def children(self):
        kids = children_of(self.master_pid) if self.master_pid else {}
        self.seen.update(kids)
        return kids

    def family(self):
        """Every live process of this server: master, children and anything
        whose command line names our config file."""
        fam = {}
        if self.master_pid:
            st = proc_stat(self.master_pid)
            if st and st[0] not in ("Z", "X"):
                fam[self.master_pid] = st[2]
        fam.update(self.children())
        for pid, start in self.seen.items():
            if pid_alive(pid, start):
                fam[pid] = start
        fam.update(pids_with_cmdline(str(self.conf).encode()))
        return fam

    def worker_for(self, sock):
        """PID of the worker serving the client socket `sock`: the process
        holding the server end of the connection (/proc/PID/fd). Workers may
        be non-dumpable, so an unprivileged test cannot read their fds; then
        the only session in ftpwho --json is taken (tests that need this
        open one session at a time)."""
        client = sock.getsockname()
        server = sock.getpeername()

        def find():
            inode = tcp_inode(server, client)
            if inode is None:
                return None
            cands = list(self.children()) + ([self.master_pid] if self.master_pid else [])
            pid = pid_holding_socket(inode, cands)
            if pid is None and not IS_ROOT:
                r = run_tool(FTPWHO, "-f", self.scoreboard, "--json")
                if r.returncode == 0:
                    conns = [d for d in json_dicts(json.loads(r.stdout))
                             if "user" in d and isinstance(d.get("pid"), int)
                             and d.get("state") not in ("ready", "starting", "idle-worker")]
                    if len(conns) == 1:
                        pid = conns[0]["pid"]
            return pid
        return wait_until(find, 5, what="the worker serving our connection")

    def signal(self, sig):
        os.kill(self.master_pid, sig)

    def login(self, **kw):
        return ftp_open(self.port, **kw)

    def stderr(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    def syslog_text(self):
        try:
            return self.syslog.read_text(errors="replace")
        except OSError:
            return ""

    def xferlog_lines(self):
        try:
            return [l for l in self.xferlog.read_text(errors="replace").splitlines() if l.strip()]
        except OSError:
            return []

    def stop(self, timeout=5.0):
        """TERM the master, wait `timeout`, KILL what is left (our PIDs only).
        Returns a list of problems (empty when the shutdown was clean)."""
        if self.stopped:
            return []
        self.stopped = True
        _used_pasv_bases.discard(self.pasv[0])
        problems = []
        master = self.master_pid
        master_start = None
        if master:
            st = proc_stat(master)
            master_start = st[2] if st else None
        family = self.family()
        if master and pid_alive(master, master_start):
            os.kill(master, signal.SIGTERM)
            if not self._wait_master_gone(master, master_start, timeout):
                problems.append(f"master {master} still running {timeout} s after TERM")
                kill_quietly(master)
                self._wait_master_gone(master, master_start, 5)
            # The master reaps its workers before it exits.
            left = {p: s for p, s in family.items() if p != master and pid_alive(p, s)}
            if left:
                try:
                    wait_until(lambda: not any(pid_alive(p, s) for p, s in left.items()), 1.0)
                except AssertionError:
                    alive = sorted(p for p, s in left.items() if pid_alive(p, s))
                    problems.append(f"worker(s) {alive} outlived the master")
        else:
            # The master is already gone (the test killed it); give orphans time.
            left = {p: s for p, s in family.items() if p != master}
            try:
                wait_until(lambda: not any(pid_alive(p, s) for p, s in left.items()), 5.0)
            except AssertionError:
                alive = sorted(p for p, s in left.items() if pid_alive(p, s))
                problems.append(f"process(es) {alive} still running after the master died")
        for pid, start in self.family().items():
            if pid_alive(pid, start):
                problems.append(f"killing leftover process {pid}")
                kill_quietly(pid)
        if self.popen is not None:
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                kill_quietly(self.popen.pid)
                self.popen.wait(timeout=5)
        for name, text in (("SystemLog", self.syslog_text()), ("stderr", self.stderr())):
            for line in text.splitlines():
                if BAD_LOG_RE.search(line):
                    problems.append(f"{name} of server {self.dir} has: {line}")
        # Leak reports are written as the master exits, so only now.
        problems.extend(self.sanitizer_problems())
        if self in LIVE_SERVERS:
            LIVE_SERVERS.remove(self)
        return problems

    def _wait_master_gone(self, pid, start, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen is not None and self.popen.pid == pid:
                if self.popen.poll() is not None:
                    return True
            elif not pid_alive(pid, start):
                return True
            time.sleep(0.02)
        return False


# --------------------------------------------------------------------------
# tools
# --------------------------------------------------------------------------

def run_tool(tool, *args, timeout=20):
    return subprocess.run([str(tool)] + [str(a) for a in args], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def json_dicts(obj):
    """Every dict nested anywhere in a parsed JSON value."""
    if isinstance(obj, dict):
        yield obj
        for v in obj.values():
            yield from json_dicts(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from json_dicts(v)


def json_connection(obj, pid):
    """The connection object for worker `pid` in ftpwho's JSON, or None."""
    for d in json_dicts(obj):
        if d.get("pid") == pid and ("user" in d or "command" in d):
            return d
    return None


def json_pids(obj):
    return {d["pid"] for d in json_dicts(obj) if isinstance(d.get("pid"), int)}
