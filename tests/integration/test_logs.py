"""SystemLog lines (ProFTPD wording for refusals) and TransferLog in
xferlog(5) format."""

import ftplib
import os
import shutil
import subprocess
import re
import time

import pytest

from helpers import ANON_PASS, Ctl, ftp_close, open_data, retr, wait_until

# The client part of ProFTPD's prefix: "(name[ip])" then ": " (SystemLog file)
# or " - " (syslog).
CLIENT = r"\(\S+\[127\.0\.0\.1\]\)(?:: | - )"
# The whole prefix: ProFTPD writes "HOST proftpd[PID] SERVER (name[ip]): msg",
# so a server-name token (no brackets: not the "ident[pid]" part) stands
# right before the parenthesis.
HOST_PREFIX = r"(?<!\S)[^\s\[\]()]+ " + CLIENT
FAILED_LOGIN = r"USER bob(?: \(Login failed\):|: no such user found from)"
MAX_ATTEMPTS = r"Maximum login attempts \(3\) exceeded"


@pytest.fixture
def srv(server_factory):
    return server_factory()


def log_lines_matching(s, pattern):
    rx = re.compile(pattern)
    return [l for l in s.syslog_text().splitlines() if rx.search(l)]


def wait_log(s, pattern, what, timeout=5):
    try:
        return wait_until(lambda: log_lines_matching(s, pattern), timeout, what=what)
    except AssertionError as exc:
        tail = "\n".join(s.syslog_text().splitlines()[-12:])
        raise AssertionError(f"{exc}\nSystemLog ends with:\n{tail}") from None


def test_session_lines(srv):
    with Ctl(srv.port, read_greeting=True) as c:
        c.login()
        assert c.cmd("QUIT")[0] == 221
        c.wait_closed()
    wait_log(srv, r"(?i)(session opened|\bconnect(ed|ion)?\b)", "a connect line")
    wait_log(srv, r"(?i)(login successful|logged in|login as|\bANON\b)", "a login line")
    wait_log(srv, r"(?i)(session closed|disconnect)", "a disconnect line")
    for pat in (r"(?i)(session opened|\bconnect(ed|ion)?\b)", r"(?i)(session closed|disconnect)"):
        assert any("127.0.0.1" in l for l in log_lines_matching(srv, pat)), \
            f"no line matching {pat} names the client: {srv.syslog_text()}"


def test_failed_login_line(srv):
    with Ctl(srv.port, read_greeting=True) as c:
        assert c.cmd("USER bob")[0] == 331
        assert c.cmd("PASS secret")[0] == 530
    pat = CLIENT + FAILED_LOGIN
    wait_log(srv, pat, f"a failed-login line /{pat}/")
    assert "secret" not in srv.syslog_text(), "the password was logged"


def test_max_login_attempts_line(srv):
    with Ctl(srv.port, read_greeting=True) as c:
        for _ in range(3):
            c.cmd("USER bob")
            c.cmd("PASS wrong")
        c.wait_closed()
    pat = CLIENT + MAX_ATTEMPTS
    wait_log(srv, pat, f"/{pat}/")


def test_refusal_lines_have_proftpd_host_prefix(srv):
    """fail2ban's proftpd filter and log analysers expect ProFTPD's
    "SERVER (name[ip])" prefix on refusal lines."""
    with Ctl(srv.port, read_greeting=True) as c:
        for _ in range(3):
            c.cmd("USER bob")
            c.cmd("PASS wrong")
        c.wait_closed()
    wait_log(srv, CLIENT + MAX_ATTEMPTS, "the max-attempts line")
    for msg in (FAILED_LOGIN, MAX_ATTEMPTS):
        pat = HOST_PREFIX + msg
        assert log_lines_matching(srv, pat), \
            f"no line matches /{pat}/; SystemLog:\n" + srv.syslog_text()


def parse_xferlog(line):
    f = line.split()
    assert len(f) >= 18, f"xferlog line has {len(f)} fields: {line!r}"
    when = time.strptime(" ".join(f[:5]), "%a %b %d %H:%M:%S %Y")
    assert abs(time.mktime(when) - time.time()) < 26 * 3600, f"odd timestamp in {line!r}"
    return {
        "transfer_time": int(f[5]), "host": f[6], "size": int(f[7]), "file": f[8],
        "type": f[9], "flag": f[10], "dir": f[11], "mode": f[12], "user": f[13],
        "service": f[14], "auth": f[15], "uid": f[16], "status": f[17],
    }


def test_transfer_log_lines(srv, tree):
    f = srv.login(password=ANON_PASS)
    try:
        retr(f, "random1m.bin", "pasv")
        retr(f, "text.txt", "pasv", type_="A")
        retr(f, "sub/a.txt", "port")
        with pytest.raises(ftplib.error_perm):
            retr(f, "nonexistent.bin")
    finally:
        ftp_close(f)
    lines = wait_until(lambda: len(srv.xferlog_lines()) >= 3 and srv.xferlog_lines(), 5,
                       what="three TransferLog lines")
    time.sleep(0.2)  # a stray fourth line (for the failed RETR) would show up by now
    lines = srv.xferlog_lines()
    assert len(lines) == 3, "one line per completed RETR:\n" + "\n".join(lines)
    recs = [parse_xferlog(l) for l in lines]
    expect = [("random1m.bin", "b", len(tree.files["random1m.bin"])),
              ("text.txt", "a", None),
              ("a.txt", "b", len(tree.files["sub/a.txt"]))]
    for rec, (name, typ, size), line in zip(recs, expect, lines):
        assert rec["file"].endswith(name), line
        assert rec["type"] == typ, line
        if size is not None:
            assert rec["size"] == size, line
        assert rec["host"] in ("127.0.0.1", "localhost"), line
        assert rec["transfer_time"] >= 0
        assert (rec["flag"], rec["dir"], rec["mode"]) == ("_", "o", "a"), line
        assert rec["user"] == ANON_PASS, line
        assert (rec["service"], rec["auth"], rec["uid"], rec["status"]) == \
            ("ftp", "0", "*", "c"), line
    # ASCII: the bytes sent (CRLF) or the file size, but never less.
    assert recs[1]["size"] >= len(tree.files["text.txt"])


def test_aborted_transfer_marked_incomplete(srv, huge):
    f = srv.login()
    try:
        f.voidcmd("TYPE I")
        s = open_data(f, "pasv", f"RETR {huge.huge_name}", rcvbuf=32768)
        s.recv(65536)
        try:
            f.abort()
            f.getmultiline()
        finally:
            s.close()
        assert f.sendcmd("NOOP").startswith("200")
    finally:
        ftp_close(f)
    time.sleep(0.3)
    for line in srv.xferlog_lines():
        rec = parse_xferlog(line)
        if rec["file"].endswith(huge.huge_name):
            assert rec["status"] == "i", f"aborted transfer logged as complete: {line}"


F2B_FILTER = "/etc/fail2ban/filter.d/proftpd.conf"


@pytest.mark.skipif(not (shutil.which("fail2ban-regex") and os.path.exists(F2B_FILTER)),
                    reason="fail2ban is not installed (make test installs it)")
def test_stock_fail2ban_proftpd_filter_matches_failed_logins(srv):
    """Debian's unmodified fail2ban proftpd filter finds every failed login
    and the max-attempts line in our SystemLog, with the client's address."""
    with Ctl(srv.port, read_greeting=True) as c:
        for _ in range(3):
            c.cmd("USER bob")
            c.cmd("PASS wrong")
        c.wait_closed()
    wait_log(srv, CLIENT + MAX_ATTEMPTS, "the max-attempts line")
    out = subprocess.run(["fail2ban-regex", "--print-all-matched", str(srv.syslog), F2B_FILTER],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    m = re.search(r"Lines: \d+ lines, \d+ ignored, (\d+) matched", out.stdout)
    assert m, out.stdout
    # Three "no such user" lines and the "Maximum login attempts" line.
    assert int(m.group(1)) == 4, out.stdout
    assert "127.0.0.1" in out.stdout
