"""ServerType inetd under a real superserver: socat's fork mode hands each
connection to a fresh `poolftpd` on stdin/stdout (as inetd(8) does). The
session claims a scoreboard slot, ftpwho lists it, and the slot is released
(or recognised as stale) when the session ends."""

import json
import os
import shutil
import signal
import subprocess

import pytest

from helpers import FTPWHO, POOLFTPD, ftp_close, ftp_open, retr, wait_until

pytestmark = pytest.mark.skipif(shutil.which("socat") is None, reason="socat is not installed")


@pytest.fixture
def inetd(identity, tree, workbase, server_factory):
    # A standalone-shaped config (paths, tree, identity) switched to inetd.
    s = server_factory(start=False, extra=["ServerType inetd"])
    cmd = s.identity.prefix + [str(POOLFTPD), "-c", str(s.conf)]
    # Sanitizer builds: a root inetd session chroots, then exits normally,
    # and LeakSanitizer's exit check needs /proc, which the chroot lacks (it
    # fails with "Can't open /proc/PID/task"). No leak check for these
    # sessions only; every other check stays on, reporting to the server's
    # directory.
    if s.identity.privileged:
        s.san_options["detect_leaks"] = 0
    listener = subprocess.Popen(
        ["socat", f"TCP-LISTEN:{s.port},bind=127.0.0.1,reuseaddr,fork",
         "EXEC:" + " ".join(cmd) + ",nofork"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True, env=s.environment())
    wait_until(lambda: s.probe(), 10, what="socat to serve poolftpd")
    yield s
    os.killpg(listener.pid, signal.SIGTERM)
    listener.wait(timeout=10)


def who(sb):
    out = subprocess.run([str(FTPWHO), "-f", str(sb), "--json"], capture_output=True, text=True, timeout=10)
    return out


def test_inetd_session_serves_and_shows_in_ftpwho(inetd, tree):
    ftp = ftp_open(inetd.port)
    try:
        assert retr(ftp, "random1m.bin") == tree.files["random1m.bin"]
        # The session is listed while it lives.
        def listed():
            r = who(inetd.scoreboard)
            if r.returncode != 0:
                return False
            conns = json.loads(r.stdout)["connections"]
            return any(c["user"] in ("anonymous", "ftp") for c in conns)
        wait_until(listed, 10, what="ftpwho to list the inetd session")
        assert ftp.sendcmd("NOOP").startswith("200")
    finally:
        ftp_close(ftp)

    def gone():
        r = who(inetd.scoreboard)
        return r.returncode == 0 and not json.loads(r.stdout)["connections"]
    wait_until(gone, 10, what="the slot to be released after QUIT")


def test_inetd_two_sessions_get_distinct_slots(inetd):
    a = ftp_open(inetd.port)
    b = ftp_open(inetd.port)
    try:
        def two():
            r = who(inetd.scoreboard)
            return r.returncode == 0 and len(json.loads(r.stdout)["connections"]) == 2
        wait_until(two, 10, what="two inetd sessions in ftpwho")
        pids = {c["pid"] for c in json.loads(who(inetd.scoreboard).stdout)["connections"]}
        assert len(pids) == 2
    finally:
        ftp_close(a)
        ftp_close(b)


def test_inetd_killed_session_slot_is_not_listed(inetd):
    ftp = ftp_open(inetd.port)
    r = None
    def one():
        nonlocal r
        r = who(inetd.scoreboard)
        return r.returncode == 0 and len(json.loads(r.stdout)["connections"]) == 1
    wait_until(one, 10, what="the inetd session in ftpwho")
    pid = json.loads(r.stdout)["connections"][0]["pid"]
    os.kill(pid, signal.SIGKILL)
    def stale_hidden():
        r2 = who(inetd.scoreboard)
        return r2.returncode == 0 and not json.loads(r2.stdout)["connections"]
    wait_until(stale_hidden, 10, what="a dead inetd session to vanish from ftpwho")
    try:
        ftp.close()
    except OSError:
        pass
    # And the next session still works (the stale slot is reclaimable).
    ftp2 = ftp_open(inetd.port)
    assert ftp2.sendcmd("NOOP").startswith("200")
    ftp_close(ftp2)
