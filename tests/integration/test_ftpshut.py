"""ftpshut against a live server: the warning in the greeting before the deny
time, 421 for new connections from the deny time on, 421 and a closed
connection for sessions (a running download included) at the disconnect
time, cookies expanded, service restored by `ftpshut -R` or by deleting the
file, and a shutdown file that exists when the server starts."""

import os
import re
import time

import pytest

from helpers import (BUILD, Ctl, SlowDownload, ftp_close, retr, run_tool, sha256, wait_until)

FTPSHUT = BUILD / "ftpshut"
DEADLINE = 10.0  # generous: the server reacts within about a second


@pytest.fixture(autouse=True)
def _need_ftpshut():
    if not os.access(FTPSHUT, os.X_OK):
        pytest.fail(f"missing {FTPSHUT} (run `make all`)")


def shut_server(server_factory, **kw):
    """A server (not started yet) whose ShutdownFile is s.shutmsg, as
    every test server's (<its dir>/shutmsg)."""
    return server_factory(start=False, **kw)


def ftpshut(s, *args, ok=True):
    """Runs ftpshut with the server's config; returns the CompletedProcess."""
    r = run_tool(FTPSHUT, "-c", s.conf, *args)
    if ok:
        assert r.returncode == 0, f"ftpshut {args} exited {r.returncode}: {r.stderr}"
        assert r.stderr == "", f"ftpshut {args} warned: {r.stderr}"
    return r


def times_of(out):
    """The three times ftpshut printed: (shutdown, deny, disconnect)."""
    def grab(label):
        m = re.search(rf"^ftpshut: {label} (.+)$", out, re.M)
        assert m, f"no '{label}' line in {out!r}"
        return m.group(1)
    return (grab("shutdown at"), grab("new connections refused from"),
            grab("sessions disconnected at"))


def pr_strtime(t):
    """ProFTPD's time format, local time."""
    return time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(t))


def new_connection(s):
    """(code, text) of the first reply to a new connection, and whether the
    server closed it right after."""
    with Ctl(s.port, timeout=5) as c:
        code, text = c.reply()
        closed = False
        if code == 421:
            closed = c.wait_closed(timeout=5) == []
        else:
            try:
                c.cmd("QUIT")
            except (OSError, EOFError, ValueError):
                pass
        return code, text, closed


def refused(s):
    code, _, _ = new_connection(s)
    return code == 421


def served(s):
    code, _, _ = new_connection(s)
    return code == 220


def replies_until_closed(ftp, timeout=DEADLINE):
    """Reads control-connection lines of an ftplib session until EOF."""
    ftp.sock.settimeout(timeout)
    lines = []
    try:
        while True:
            line = ftp.getline()
            if not line:
                break
            lines.append(line)
    except (OSError, EOFError):
        pass
    return lines


def test_warning_in_greeting_before_the_deny_time(server_factory, identity, tree):
    s = shut_server(server_factory)
    s.start()
    f = s.login()
    try:
        r = ftpshut(s, "-l", "5", "-d", "2", "+10", "maintenance", "at", "%s,", "refusing",
                    "from", "%r;", "you", "are", "%R", "on", "%L")
        shut, deny, disc = times_of(r.stdout)
        assert "published to the running poolftpd" in r.stdout
        assert s.shutmsg.exists()
        # Published into the scoreboard before ftpshut returned: the next
        # connection already sees it.
        code, text, _ = new_connection(s)
        assert code == 220, text
        lines = text.split("\n")
        assert lines[-1] == "220 Test server ready", lines
        warning = [l for l in lines if "maintenance" in l]
        assert len(warning) == 1, lines
        m = re.fullmatch(r"220-maintenance at (.+), refusing from (.+); you are (\S+) on (\S+)",
                         warning[0])
        assert m, warning
        assert m.group(1) == shut and m.group(2) == deny
        assert m.group(3) in ("127.0.0.1", "localhost")
        assert m.group(4) == "127.0.0.1"
        # Sessions and new logins keep working.
        assert f.sendcmd("NOOP").startswith("200")
        assert retr(f, "small.txt") == tree.files["small.txt"]
        g = s.login()
        assert sha256(retr(g, "random1m.bin")) == sha256(tree.files["random1m.bin"])
        ftp_close(g)
    finally:
        ftp_close(f)


def test_deny_phase_refuses_new_connections_keeps_sessions(server_factory, tree):
    s = shut_server(server_factory)
    s.start()
    f = s.login()
    try:
        # Refuse from now, disconnect only at the shutdown a minute away.
        r = ftpshut(s, "-l", "1", "-d", "0", "+1", "closing", "at", "%s", "for", "%U")
        shut, deny, disc = times_of(r.stdout)
        assert disc == shut
        code, text, closed = new_connection(s)
        assert code == 421
        assert text == f"421 closing at {shut} for NONE"
        assert closed, "the refused connection stayed open"
        # The logged-in session still works.
        assert f.sendcmd("NOOP").startswith("200")
        assert retr(f, "text.txt") == tree.files["text.txt"]
    finally:
        ftp_close(f)
    ftpshut(s, "-R")
    wait_until(lambda: served(s), DEADLINE, what="service back after ftpshut -R")


def test_now_disconnects_sessions_and_download(server_factory, identity, huge):
    s = shut_server(server_factory)
    s.start()
    idle = Ctl(s.port, read_greeting=True)
    f = s.login()
    dl = SlowDownload(f, huge.huge_name)
    try:
        idle.login()
        assert idle.cmd("CWD sub")[0] == 250
        dl.read_some(1 << 20)
        r = ftpshut(s, "-l", "0", "-d", "0", "now", "bye", "%U", "in", "%C", "at", "%s",
                    "(refused", "%r,", "cut", "%d)", "100%%")
        shut, deny, disc = times_of(r.stdout)
        assert shut == deny == disc
        users = "|".join(re.escape(u) for u in identity.session_users)

        # The idle session: 421 with the message, then the connection closes.
        seen = idle.wait_closed(timeout=DEADLINE)
        assert seen, "the idle session was closed without a reply"
        code, text = seen[-1]
        assert code == 421, seen
        assert re.fullmatch(rf"421 bye ({users}) in /sub at {re.escape(shut)} \(refused "
                            rf"{re.escape(deny)}, cut {re.escape(disc)}\) 100%", text), text

        # The download: the data connection ends short, the control
        # connection gets the 421 and closes.
        lines = replies_until_closed(f)
        assert any(re.fullmatch(rf"421 bye ({users}) in / at {re.escape(shut)} .*", l)
                   for l in lines), lines
        assert all(l[:3] in ("421", "426", "451") for l in lines if l[:3].isdigit()), lines
        dl.read_some(huge.huge_size)
        assert dl.received < huge.huge_size, "the download finished despite the shutdown"

        # New connections: refused with the message.
        code, text, closed = new_connection(s)
        assert code == 421
        assert text.startswith(f"421 bye NONE in (none) at {shut} ") or \
            text.startswith(f"421 bye NONE in / at {shut} "), text
        assert closed
    finally:
        dl.close()
        f.close()
        idle.close()

    # ftpshut -R restores service (the header is cleared at once).
    rm = ftpshut(s, "-R")
    assert f"ftpshut: {s.shutmsg} removed" in rm.stdout
    assert not s.shutmsg.exists()
    wait_until(lambda: served(s), DEADLINE, what="service back after ftpshut -R")
    g = s.login()
    assert g.sendcmd("NOOP").startswith("200")
    ftp_close(g)


def master_noticed(s):
    """True once the master logged the pending shutdown of s.shutmsg."""
    return any(str(s.shutmsg) in l and "shutdown" in l.lower()
               for l in s.syslog_text().splitlines())


def test_deleting_the_file_by_hand_restores_service(server_factory):
    s = shut_server(server_factory)
    s.start()
    ftpshut(s, "-l", "0", "-d", "0", "now", "gone")
    code, text, _ = new_connection(s)
    assert (code, text) == (421, "421 gone")
    wait_until(lambda: master_noticed(s), DEADLINE, what="the master to log the shutdown")
    os.unlink(s.shutmsg)
    wait_until(lambda: served(s), DEADLINE, what="service back after deleting the file")
    assert "gone" not in new_connection(s)[1]


def test_deleting_the_file_right_after_ftpshut_restores_service(server_factory):
    """The file goes before the master's once-a-second check saw it: the
    header ftpshut published must still be cleared."""
    s = shut_server(server_factory)
    s.start()
    ftpshut(s, "-l", "0", "-d", "0", "now", "gone")
    os.unlink(s.shutmsg)
    wait_until(lambda: served(s), DEADLINE, what="service back after deleting the file")


def test_file_written_by_hand_is_noticed(server_factory):
    """The master watches the file itself (no ftpshut, no scoreboard write):
    a ProFTPD-format file appears, then goes."""
    s = shut_server(server_factory)
    s.start()
    now = time.time()
    lt = time.localtime(now)
    tmp = s.shutmsg.with_suffix(".new")
    tmp.write_text(f"{lt.tm_year} {lt.tm_mon} {lt.tm_mday} {lt.tm_hour} {lt.tm_min} "
                   f"{lt.tm_sec} 0000 0000\nhand-written shutdown at %s\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, s.shutmsg)
    wait_until(lambda: refused(s), DEADLINE, what="the master to notice the shutdown file")
    code, text, _ = new_connection(s)
    assert text == f"421 hand-written shutdown at {pr_strtime(int(now))}"
    os.unlink(s.shutmsg)
    wait_until(lambda: served(s), DEADLINE, what="service back after deleting the file")


def test_pending_file_at_start_is_announced(server_factory):
    s = server_factory(start=False)
    # No server yet: ftpshut writes the file and says the server is not running.
    r = ftpshut(s, "+30", "planned", "downtime", "at", "%s")
    assert "poolftpd is not running" in r.stdout, r.stdout
    assert f"it reads {s.shutmsg} when it starts" in r.stdout
    shut, _deny, _disc = times_of(r.stdout)
    s.start()
    # Workers may serve before the master has written its start-up lines.
    for name, read in (("stderr", s.stderr), ("SystemLog", s.syslog_text)):
        def announced():
            return [l for l in read().splitlines()
                    if str(s.shutmsg) in l and "shutdown" in l.lower() and shut in l]
        try:
            wait_until(announced, DEADLINE, what=f"the pending shutdown in {name}")
        except AssertionError:
            pytest.fail(f"{name} does not mention the pending shutdown at {shut}: {read()!r}")
    code, text, _ = new_connection(s)
    assert code == 220
    assert f"220-planned downtime at {shut}" in text.split("\n"), text


def test_remove_without_pending_shutdown(server_factory):
    s = shut_server(server_factory)
    s.start()
    r = ftpshut(s, "-R")
    assert f"ftpshut: no shutdown file at {s.shutmsg}" in r.stdout
    assert "no shutdown pending" in r.stdout
    assert served(s)


def test_usage_errors_change_nothing(server_factory):
    s = shut_server(server_factory)
    s.start()
    for args, want in ((["2500"], "invalid time '2500'"),
                       (["-l", "x", "now"], "-l needs a number of minutes"),
                       (["-R", "now"], "-R takes no time"),
                       ([], "missing time argument")):
        r = ftpshut(s, *args, ok=False)
        assert r.returncode == 2, (args, r)
        assert want in r.stderr, (args, r.stderr)
        assert not s.shutmsg.exists()
        assert served(s)


def test_config_include_and_ifdefine(tmp_path):
    """ShutdownFile (and ScoreboardFile) through Include and <IfDefine>."""
    real, bogus = tmp_path / "real.shutmsg", tmp_path / "bogus.shutmsg"
    inc = tmp_path / "paths.conf"
    inc.write_text(f"ShutdownFile {real}\nScoreboardFile {tmp_path / 'none.sb'}\n")
    conf = tmp_path / "tools.conf"
    conf.write_text(f'ServerName "tools"\nInclude {inc}\n'
                    f"<IfDefine BOGUS>\nShutdownFile {bogus}\n</IfDefine>\n")
    r = run_tool(FTPSHUT, "-c", conf, "+10", "maintenance")
    assert r.returncode == 0, r.stderr
    assert real.exists() and not bogus.exists()
    r = run_tool(FTPSHUT, "-c", conf, "-D", "BOGUS", "+10", "maintenance")
    assert r.returncode == 0, r.stderr
    assert bogus.exists()
    r = run_tool(FTPSHUT, "-c", conf, "--define", "BOGUS", "-R")
    assert r.returncode == 0, r.stderr
    assert not bogus.exists() and real.exists()
    conf.write_text('ServerName "x"\nNoSuchDirective 1\n')
    r = run_tool(FTPSHUT, "-c", conf, "-R")
    assert r.returncode == 1, f"rc={r.returncode}"
    assert r.stderr.startswith(f"ftpshut: {conf}:2: "), r.stderr
