"""The workers' seccomp allowlist (docs/SECURITY.md, "S14 seccomp").

Every worker runs under the filter once its privileges are dropped; a call
outside the list kills that worker only: its client's session ends, the
master logs `worker PID killed by seccomp (syscall NAME)` and replaces it,
and the other sessions go on. The forbidden call comes from a build with the
hidden SITE SECCOMPTEST (make POOLFTPD_SECCOMP_TEST=1, built here into a
directory of its own next to $POOLFTPD_BUILD unless
$POOLFTPD_SECCOMP_TEST_BUILD names one); the normal build must not have it.
"""

import ftplib
import os
import signal
import subprocess
import types
from pathlib import Path

import pytest

from helpers import (BUILD, POOLFTPD, STRACE_DIR, Ctl, Server, ftp_close, ftp_open,
                     pids_with_cmdline, proc_status, wait_until)
from test_inetd import inetd  # noqa: F401 (the fixture)

REPO = Path(__file__).resolve().parents[2]


def _san_of(binary):
    """The SAN= flavour `binary` was built with, from the runtimes it names."""
    data = Path(binary).read_bytes()
    if b"__tsan_init" in data:
        return "thread"
    if b"__asan_init" in data:
        return "address,undefined"
    return ""


@pytest.fixture(scope="module")
def trigger_build():
    """A build directory whose poolftpd has SITE SECCOMPTEST."""
    given = os.environ.get("POOLFTPD_SECCOMP_TEST_BUILD")
    if given:
        d = Path(given).resolve()
    else:
        d = BUILD.parent / (BUILD.name + "-seccomp-test")
        r = subprocess.run(
            ["make", "-C", str(REPO), "--no-print-directory", f"BUILD={d}",
             "POOLFTPD_SECCOMP_TEST=1", f"SAN={_san_of(POOLFTPD)}", "all"],
            capture_output=True, text=True, timeout=1800, stdin=subprocess.DEVNULL)
        assert r.returncode == 0, f"building the SECCOMPTEST server failed:\n{r.stdout[-3000:]}{r.stderr[-3000:]}"
    assert b"SECCOMPTEST" in (d / "poolftpd").read_bytes(), f"{d}/poolftpd has no SITE SECCOMPTEST"
    return d


class BinaryServer(Server):
    """A Server running `binary` (the SECCOMPTEST build or the normal one)."""

    binary = POOLFTPD

    def command(self, *args, daemon=False):
        cmd = super().command(*args, daemon=daemon)
        cmd[cmd.index(str(POOLFTPD))] = str(self.binary)
        return cmd


@pytest.fixture
def factory(identity, tree, workbase):
    """make(binary=..., root_tree=..., settings=..., extra=...): a started server."""
    servers = []

    def make(binary=POOLFTPD, root_tree=None, **kw):
        s = BinaryServer(identity, root_tree or tree, workbase, **kw)
        s.binary = binary
        servers.append(s)
        return s.start()

    yield make
    problems = []
    for s in servers:
        problems.extend(s.stop())
    if problems:
        pytest.fail("server teardown: " + "; ".join(problems), pytrace=False)


@pytest.fixture
def trigger_factory(factory, trigger_build):
    return lambda **kw: factory(binary=trigger_build / "poolftpd", **kw)


POOL = {"StartServers": "3", "MinSpareServers": "2", "MaxSpareServers": "4"}


def seccomp_mode(pid):
    """/proc/PID/status "Seccomp:": 0 none, 2 filter."""
    return int(proc_status(pid)["Seccomp"])


def assert_confined(pid):
    """Worker `pid` runs under the filter (not checked while measuring with
    POOLFTPD_STRACE_DIR, which turns the filter off)."""
    if not STRACE_DIR:
        assert seccomp_mode(pid) == 2


def test_forbidden_call_kills_only_that_worker_and_is_logged(trigger_factory):
    s = trigger_factory(settings=POOL)
    other = s.login()
    other_pid = s.worker_for(other.sock)
    with Ctl(s.port, read_greeting=True) as c:
        c.login()
        victim = s.worker_for(c.sock)
        assert victim != other_pid
        assert seccomp_mode(victim) == 2
        c.send("SITE SECCOMPTEST\r\n")
        # The call never returns: no reply, the connection just ends.
        assert c.wait_closed() == []
    line = f"worker {victim} killed by seccomp (syscall personality)"
    wait_until(lambda: line in s.syslog_text(), 10, what=f"the master to log {line!r}")
    # The session of another worker is untouched.
    try:
        assert other.sendcmd("NOOP").startswith("200")
        assert other.pwd() == "/"
    finally:
        ftp_close(other)
    # The pool keeps MinSpareServers idle workers (the dead one's session is
    # gone with it, so the pool needs no worker for it).
    wait_until(lambda: victim not in s.children() and len(s.children()) >= 2, 10,
               what="the pool to be back at MinSpareServers")
    g = s.login()
    try:
        assert g.sendcmd("NOOP").startswith("200")
        assert seccomp_mode(s.worker_for(g.sock)) == 2
    finally:
        ftp_close(g)
    assert os.kill(s.master_pid, 0) is None


def test_seccomp_off_lets_the_call_run(trigger_factory):
    s = trigger_factory(settings=POOL, extra=["Seccomp off"])
    with Ctl(s.port, read_greeting=True) as c:
        c.login()
        pid = s.worker_for(c.sock)
        assert seccomp_mode(pid) == 0
        code, text = c.cmd("SITE SECCOMPTEST")
        assert code == 200 and "no seccomp filter stopped it" in text, text
        assert c.cmd("NOOP")[0] == 200
    assert "killed by seccomp" not in s.syslog_text()


def test_normal_build_has_no_trigger_and_confines_its_workers(server_factory):
    assert b"SECCOMPTEST" not in POOLFTPD.read_bytes()
    s = server_factory(settings=POOL)
    for pid in s.children():
        wait_until(lambda: seccomp_mode(pid) == 2 or proc_status(pid)["State"][0] == "Z", 5,
                   what=f"worker {pid} to install its filter")
    f = s.login()
    try:
        pid = s.worker_for(f.sock)
        assert seccomp_mode(pid) == 2
        with pytest.raises(ftplib.error_perm, match="^500 'SITE SECCOMPTEST' not understood"):
            f.sendcmd("SITE SECCOMPTEST")
        assert f.sendcmd("NOOP").startswith("200")
        assert f.nlst() is not None  # a listing and a data connection still work
    finally:
        ftp_close(f)
    assert os.kill(s.master_pid, 0) is None
    assert "killed by seccomp" not in s.syslog_text()


def test_sigsys_sent_from_outside_is_not_called_seccomp(server_factory):
    s = server_factory(settings=POOL)
    f = s.login()
    pid = s.worker_for(f.sock)
    os.kill(pid, signal.SIGSYS)
    with pytest.raises((OSError, EOFError, ftplib.Error)):
        f.sendcmd("NOOP")
    ftp_close(f)
    line = f"worker {pid} was killed by signal {int(signal.SIGSYS)} (SIGSYS)"
    wait_until(lambda: line in s.syslog_text(), 10, what=f"the master to log {line!r}")
    assert f"worker {pid} killed by seccomp" not in s.syslog_text()


# Paths of a session that the other test files do not reach, each run under
# the filter: they must work as without it.

def test_listing_threads_of_a_big_directory_run_under_the_filter(workbase, factory):
    # 2048 entries or more: the listing sorts and stats with helper threads
    # (src/fs/dir_listing.cc), which are created under the filter.
    root = Path(workbase) / "seccomp-big"
    many = root / "many"
    if not many.exists():
        many.mkdir(parents=True)
        for i in range(3000):
            (many / f"f{i:05d}").write_bytes(b"x")
        os.chmod(root, 0o755)
        os.chmod(many, 0o755)
    s = factory(root_tree=types.SimpleNamespace(root=root), settings=POOL)
    f = s.login()
    try:
        assert_confined(s.worker_for(f.sock))
        names = f.nlst("many")
        assert len(names) == 3000
        lines = []
        f.retrlines("LIST many", lines.append)
        assert len(lines) == 3000 and lines[0].endswith("f00000"), lines[:2]
        facts = [name for name, f_ in f.mlsd("many") if f_.get("type") == "file"]
        assert len(facts) == 3000
        assert f.sendcmd("NOOP").startswith("200")
    finally:
        ftp_close(f)
    assert "killed by seccomp" not in s.syslog_text()


def test_reverse_dns_runs_under_the_filter(factory):
    s = factory(settings=dict(POOL, UseReverseDNS="on"))
    f = s.login()
    try:
        assert_confined(s.worker_for(f.sock))
        assert f.sendcmd("NOOP").startswith("200")
        assert f.nlst() is not None
    finally:
        ftp_close(f)
    assert "killed by seccomp" not in s.syslog_text()


def test_inetd_session_runs_under_the_filter(inetd):
    f = ftp_open(inetd.port)
    try:
        def session():
            pids = [p for p in pids_with_cmdline(str(inetd.conf).encode())
                    if Path(f"/proc/{p}/comm").read_text().strip() == "poolftpd"]
            return pids[0] if len(pids) == 1 else None
        pid = wait_until(session, 5, what="the inetd session process")
        assert_confined(pid)
        assert f.nlst() is not None
        assert f.sendcmd("NOOP").startswith("200")
    finally:
        ftp_close(f)
