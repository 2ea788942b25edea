"""SystemLog lines (ProFTPD wording for refusals) and TransferLog in
xferlog(5) format."""

import ftplib
import re
import time

import pytest

from helpers import ANON_PASS, Ctl, ftp_close, open_data, retr, wait_until

# ProFTPD's "SERVER (name[ip])" prefix, then ": " (SystemLog file) or " - "
# (syslog), as fail2ban's proftpd filter expects: a host token (no brackets,
# so not the "ident[pid]" part) before the parenthesis.
HOST_PREFIX = r"(?<!\S)[^\s\[\]()]+ \(\S+\[127\.0\.0\.1\]\)(?:: | - )"


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
    pat = HOST_PREFIX + r"USER bob(?: \(Login failed\):|: no such user found from)"
    wait_log(srv, pat, f"a failed-login line /{pat}/")
    assert "secret" not in srv.syslog_text(), "the password was logged"


def test_max_login_attempts_line(srv):
    with Ctl(srv.port, read_greeting=True) as c:
        for _ in range(3):
            c.cmd("USER bob")
            c.cmd("PASS wrong")
        c.wait_closed()
    pat = HOST_PREFIX + r"Maximum login attempts \(3\) exceeded"
    wait_log(srv, pat, f"/{pat}/")


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
