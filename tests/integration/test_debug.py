"""Debug levels (-d N, DebugLevel N, ftpdctl debug N) against a real server:
level 5 logs every command and reply of every session with the session
prefix and the PASS argument masked, level 7 data-connection set-up and
transfer steps, level 9 the master's pool decisions, level 0 none of them;
DebugLevel wins over -d (ProFTPD's rule); ftpdctl debug changes the level of
the master, of a session already connected and of new sessions without a
reload, and a reload puts the configured level back."""

import ftplib
import json
import os
import re
import secrets
import signal
import socket
import subprocess

import pytest

from helpers import (BUILD, SlowDownload, ftp_close, listing, retr, wait_until)

FTPDCTL = BUILD / "ftpdctl"
PREFIX = "(127.0.0.1[127.0.0.1]): debug: "


def ctl(server, *args):
    """ftpdctl -c <the server's config> ARGS, as the server's identity."""
    return subprocess.run(server.identity.prefix + [str(FTPDCTL), "-c", str(server.conf)] +
                          [str(a) for a in args], capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL)


def secret_password():
    return f"Pw-{secrets.token_hex(8)}@example.org"


def closed_sessions(server):
    return server.syslog_text().count("FTP session closed.")


def run_session(server, password, body):
    """Logs in with `password`, runs body(ftp), QUITs and waits until the
    worker has logged the end of the session."""
    before = closed_sessions(server)
    ftp = server.login(password=password)
    try:
        body(ftp)
    finally:
        ftp_close(ftp)
    wait_until(lambda: closed_sessions(server) > before, 10, what="the session to be logged as closed")


def assert_healthy(server):
    with server.login() as ftp:
        assert ftp.sendcmd("NOOP").startswith("200")


def test_level5_logs_every_command_and_reply_but_no_password(server_factory):
    s = server_factory(args=["-d", "5"])
    password = secret_password()

    def body(ftp):
        assert ftp.pwd() == "/"
        ftp.cwd("sub")
        assert retr(ftp, "a.txt") == b"file a in sub\n"
        with pytest.raises(ftplib.error_perm):
            ftp.sendcmd("SITE \x07bell\x1b[1m")
        with pytest.raises(ftplib.error_perm):
            ftp.sendcmd("PASS " + password)   # again, after the login: 503
    run_session(s, password, body)

    log = s.syslog_text()
    for want in ["sending reply '220 Test server ready'",
                 "dispatching command 'USER anonymous'",
                 "sending reply '331 Anonymous login ok, send your complete email address as your password'",
                 "dispatching command 'PASS (hidden)'",
                 "sending reply '230 Anonymous access granted, restrictions apply'",
                 "dispatching command 'PWD'",
                 "sending reply '257 \"/\" is the current directory'",
                 "dispatching command 'CWD sub'",
                 "dispatching command 'TYPE I'",
                 "dispatching command 'PASV'",
                 "sending reply '227 Entering Passive Mode (127,0,0,1,",
                 "dispatching command 'RETR a.txt'",
                 "sending reply '150 Opening BINARY mode data connection for a.txt (14 bytes)'",
                 "sending reply '226 Transfer complete'",
                 "dispatching command 'SITE ?bell?[1m'",
                 "sending reply '503 You are already logged in'",
                 "dispatching command 'QUIT'",
                 "sending reply '221 Goodbye.'"]:
        assert PREFIX + want in log, f"missing {want!r} in:\n{log}"
    assert log.count(PREFIX + "dispatching command 'PASS (hidden)'") == 2, log
    # SECURITY: the password never reaches the SystemLog; client bytes are escaped.
    assert password not in log
    assert password.split("@")[0] not in log
    assert "\x07" not in log and "\x1b" not in log
    # Level 5 is commands and replies only.
    assert "debug: data:" not in log and "debug: transfer" not in log and "debug: pool:" not in log, log
    assert_healthy(s)


def test_level7_logs_data_setup_and_transfers(server_factory, tree):
    s = server_factory(args=["-d", "7"])

    def body(ftp):
        assert retr(ftp, "small.txt", mode="pasv") == tree.files["small.txt"]
        assert retr(ftp, "big10m.bin", mode="port") == tree.files["big10m.bin"]
        assert listing(ftp, "NLST sub", mode="epsv")
        # PORT to a port nobody listens on: the connect fails.
        dead = socket.socket()
        dead.bind(("127.0.0.1", 0))
        port = dead.getsockname()[1]
        dead.close()
        ftp.sendcmd(f"PORT 127,0,0,1,{port >> 8},{port & 255}")
        with pytest.raises(ftplib.Error):
            ftp.sendcmd("RETR small.txt")
            ftp.voidresp()
        # ABOR in the middle of a download.
        dl = SlowDownload(ftp, "big10m.bin")
        dl.read_some(100000)
        ftp.putcmd("ABOR")
        assert ftp.getmultiline().startswith("426")
        assert ftp.getmultiline().startswith("226")
        dl.close()
    run_session(s, "x@example.org", body)

    log = s.syslog_text()
    big = len(tree.files["big10m.bin"])
    for want in [r"data: passive listener on 127\.0\.0\.1:\d+ \(range \d+-\d+\)",
                 r"transfer start: RETR /small\.txt \(size 12, offset 0, TYPE I, passive\)",
                 r"data: accepted connection from 127\.0\.0\.1:\d+ \(the control peer\)",
                 r"data: sendfile done: 12 bytes in 1 step\(s\), ok",
                 r"transfer end: ok, 12 bytes in \d+ ms",
                 r"data: active mode: will connect to 127\.0\.0\.1:\d+ from 127\.0\.0\.1",
                 r"data: connecting to 127\.0\.0\.1:\d+",
                 r"data: connected to 127\.0\.0\.1:\d+",
                 rf"data: sendfile done: {big} bytes in \d+ step\(s\), ok",
                 rf"transfer end: ok, {big} bytes",
                 r"transfer start: listing of /sub \(size 0, offset 0, TYPE A, passive\)",
                 r"data: connect to 127\.0\.0\.1:\d+ failed: Connection refused",
                 r"dispatching command 'ABOR' during a transfer",
                 r"transfer end: aborted, \d+ bytes"]:
        assert re.search(re.escape(PREFIX) + want, log), f"missing /{want}/ in:\n{log}"
    # Level 7 includes level 5 but not the per-step lines of 8, nor the pool.
    assert PREFIX + "dispatching command 'USER anonymous'" in log
    assert "debug: data: sendfile step" not in log and "debug: pool:" not in log, log
    assert_healthy(s)


def test_level8_logs_each_sendfile_step(server_factory, tree):
    s = server_factory(args=["-d", "8"])
    run_session(s, "x@example.org", lambda ftp: retr(ftp, "random1m.bin"))
    log = s.syslog_text()
    assert re.search(re.escape(PREFIX) + r"data: sendfile step 1: \d+ bytes, now at offset \d+\n", log), log
    assert "debug: pool:" not in log


def test_level9_logs_pool_decisions(server_factory):
    s = server_factory(args=["-d", "9"], settings={
        "MaxClients": "2", "MaxClientsPerHost": "5", "StartServers": "1",
        "MinSpareServers": "1", "MaxSpareServers": "1"})
    master = f"poolftpd[{s.master_pid}]"

    def master_has(pattern):
        return [l for l in s.syslog_text().splitlines()
                if master in l and re.search(pattern, l)]

    wait_until(lambda: master_has(r": debug: pool: forked worker \d+ into slot 0 \(generation 1\)$"), 10,
               what="the first fork")
    a = s.login()
    b = None
    try:
        # Worker 1 took A: idle 0 < MinSpareServers 1, so one more is spawned.
        wait_until(lambda: master_has(r"debug: pool: spawning 1 worker\(s\): idle 0, MinSpareServers 1"), 10,
                   what="a spawn line")
        b = s.login()
        wait_until(lambda: master_has(r"debug: pool: full \(MaxClients 2\): the master answers new "
                                      r"connections with 421$"), 10, what="the pool to be full")
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
            assert c.makefile("rb").readline().startswith(b"421 ")
        wait_until(lambda: master_has(r"debug: sending reply '421 Sorry, the maximum number of clients "
                                      r"\(2\) for this server are already connected\.'$"), 10,
                   what="the master's 421 at level 5")
        assert a.sendcmd("NOOP").startswith("200")
    finally:
        ftp_close(a)
        if b is not None:
            ftp_close(b)
    # Both workers idle again: one above MaxSpareServers retires and is reaped.
    wait_until(lambda: master_has(r"debug: pool: no longer full \(MaxClients 2\)"), 10, what="not full")
    retired = wait_until(lambda: master_has(r"debug: pool: retiring idle worker (\d+) \(idle 2 > "
                                            r"MaxSpareServers 1\)$"), 10, what="a retirement")
    pid = re.search(r"retiring idle worker (\d+)", retired[0]).group(1)
    wait_until(lambda: master_has(rf"debug: pool: reaped worker {pid} \(slot \d+, generation 1\): "
                                  r"exited with status 0$"), 10, what="the reap of the retired worker")
    assert_healthy(s)


@pytest.mark.parametrize("how", [[], ["-d", "0"]])
def test_level0_logs_none_of_it(server_factory, tree, how):
    s = server_factory(args=how)
    password = secret_password()
    run_session(s, password, lambda ftp: (ftp.pwd(), retr(ftp, "small.txt"), listing(ftp, "LIST")))
    log = s.syslog_text()
    assert "Login successful" in log
    assert "debug:" not in log, log
    assert password not in log


def test_debuglevel_directive_and_its_precedence_over_d(server_factory):
    # DebugLevel alone turns it on ...
    s = server_factory(extra=["DebugLevel 5"])
    run_session(s, "x@example.org", lambda ftp: ftp.sendcmd("SYST"))
    assert PREFIX + "dispatching command 'SYST'" in s.syslog_text()
    # ... and wins over -d, as ProFTPD's does.
    quiet = server_factory(extra=["DebugLevel 0"], args=["-d", "9"])
    run_session(quiet, "x@example.org", lambda ftp: ftp.sendcmd("SYST"))
    assert "debug:" not in quiet.syslog_text(), quiet.syslog_text()


def test_bad_debuglevel_names_file_and_line(server_factory):
    s = server_factory(start=False, extra=["DebugLevel 10"])
    lines = s.config_text().splitlines()
    line = lines.index("DebugLevel 10") + 1
    r = subprocess.run(s.command("-t"), capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert f"{s.conf}:{line}: DebugLevel: 10 is out of range (0-9)" in r.stderr, r.stderr


def status_generation(server):
    r = ctl(server, "--json", "status")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["generation"]


def test_ftpdctl_debug_changes_a_running_server(server_factory):
    s = server_factory()
    uid = 0 if s.identity.privileged else __import__("pwd").getpwnam("nobody").pw_uid
    generation = status_generation(s)
    idle = s.login()
    try:
        assert idle.sendcmd("NOOP").startswith("200")
        assert "debug:" not in s.syslog_text()

        r = ctl(s, "debug", "5")
        assert r.returncode == 0, r.stderr
        assert re.search(r"sent debug level 5 to master \d+", r.stdout), r.stdout
        wait_until(lambda: f"debug level changed to 5 by uid {uid}" in s.syslog_text(), 10,
                   what="the master to log the change")
        # The session that was already connected and idle. A command that
        # reaches the worker together with the signal may still be handled
        # at the old level (ppoll reports the ready socket and leaves the
        # signal pending until the next wait), so one NOOP goes first; the
        # command after it is logged (the line is written before the reply).
        idle.sendcmd("NOOP")
        idle.sendcmd("MDTM small.txt")
        assert PREFIX + "dispatching command 'MDTM small.txt'" in s.syslog_text()
        # A new session, from its greeting on.
        password = secret_password()
        run_session(s, password, lambda ftp: ftp.cwd("sub"))
        log = s.syslog_text()
        assert PREFIX + "dispatching command 'CWD sub'" in log
        assert PREFIX + "dispatching command 'PASS (hidden)'" in log
        assert password not in log
        assert status_generation(s) == generation, "no reload happened"

        r = ctl(s, "debug", "0")
        assert r.returncode == 0, r.stderr
        wait_until(lambda: f"debug level changed to 0 by uid {uid}" in s.syslog_text(), 10,
                   what="the change back to 0")
        idle.sendcmd("NOOP")  # as above: the level is in place after it
        idle.sendcmd("HELP SYST")
        run_session(s, "x@example.org", lambda ftp: ftp.sendcmd("SYST"))
        log = s.syslog_text()
        assert "dispatching command 'HELP SYST'" not in log
        assert "dispatching command 'SYST'" not in log
    finally:
        ftp_close(idle)

    # A reload puts the configured level (none here) back.
    assert ctl(s, "debug", "7").returncode == 0
    wait_until(lambda: "debug level changed to 7" in s.syslog_text(), 10, what="level 7")
    r = ctl(s, "reload")
    assert r.returncode == 0, r.stdout + r.stderr
    wait_until(lambda: "debug level 0 from the configuration (was 7)" in s.syslog_text(), 10,
               what="the reload to reset the level")
    run_session(s, "x@example.org", lambda ftp: ftp.sendcmd("STAT"))
    assert "dispatching command 'STAT'" not in s.syslog_text()


def test_ftpdctl_debug_usage_errors_and_no_server(server_factory):
    s = server_factory()
    for args, msg in [(["debug"], "debug needs a level (0-9)"),
                      (["debug", "10"], "bad debug level '10' (0-9)"),
                      (["debug", "-1"], "bad debug level '-1' (0-9)"),
                      (["debug", "five"], "bad debug level 'five' (0-9)"),
                      (["debug", "5", "6"], "unexpected argument '6' for debug")]:
        r = ctl(s, *args)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
        assert f"ftpdctl: {msg}" in r.stderr, r.stderr
    assert "debug level changed" not in s.syslog_text()
    assert_healthy(s)
    r = ctl(s, "--help")
    assert r.returncode == 0 and "  debug N " in r.stdout, r.stdout

    # A plain kill (no value, SI_USER) to the master or a worker changes
    # nothing and kills nothing.
    os.kill(s.master_pid, signal.SIGRTMIN + 1)
    wait_until(lambda: re.search(r"ignored a debug-level signal from pid \d+ uid \d+ \(code 0, level 0\)",
                                 s.syslog_text()), 10, what="the master to ignore a plain kill")
    workers = list(s.children())
    assert workers
    for pid in workers:
        os.kill(pid, signal.SIGRTMIN + 1)
    assert_healthy(s)
    assert all(os.path.exists(f"/proc/{pid}") for pid in workers)
    assert "debug level changed" not in s.syslog_text()
    assert "debug:" not in s.syslog_text()

    stopped = server_factory(start=False)
    r = ctl(stopped, "debug", "5")
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert "poolftpd is not running" in r.stderr, r.stderr
