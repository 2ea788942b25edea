"""Input bounds of one session (issue 9 item 7): the command lines a client
may send before login (then 421, a log line, the connection closed), and
MaxCommandRate (commands per interval, excess delayed with one log line per
burst, nothing lost). Real clients (lftp, curl, ftplib) are unaffected."""

import os
import re
import shutil
import signal
import subprocess
import threading

import pytest

from helpers import ANON_PASS, Ctl, ftp_close, ftp_open, open_data, wait_until

# limits::kMaxPreLoginCommands + 2 * MaxLoginAttempts (3, the default).
PRELOGIN_ALLOWED = 50 + 2 * 3
FTPDCTL_NAME = "ftpdctl"


def flood(ctl, data):
    """Sends `data` from a thread (the server closes while we write)."""
    def run():
        try:
            ctl.sock.sendall(data)
        except OSError:
            pass
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def replies_until_closed(ctl, limit=100000):
    seen = []
    try:
        while len(seen) < limit:
            seen.append(ctl.reply())
    except (EOFError, ConnectionResetError):
        pass
    return seen


def assert_serves(server):
    """A new client still logs in and gets answers."""
    ftp = ftp_open(server.port)
    try:
        assert ftp.voidcmd("NOOP").startswith("200")
        ftp.voidcmd("TYPE I")
        assert ftp.size("small.txt") == 12
    finally:
        ftp_close(ftp)


# ---------------------------------------------------------------- before login

def test_prelogin_flood_gets_421_after_the_bound(server_factory):
    s = server_factory()
    with Ctl(s.port, read_greeting=True) as c:
        sender = flood(c, b"NOOP\r\n" * 50000)
        seen = replies_until_closed(c)
        sender.join(30)
    codes = [code for code, _ in seen]
    assert codes[:PRELOGIN_ALLOWED] == [530] * PRELOGIN_ALLOWED, codes[:80]
    assert len(codes) == PRELOGIN_ALLOWED + 1, f"{len(codes)} replies to 50,000 NOOPs"
    assert codes[-1] == 421 and "Too many commands before login" in seen[-1][1], seen[-1]
    wait_until(lambda: re.search(
        r"\(127\.0\.0\.1\[127\.0\.0\.1\]\): Maximum commands before login \(%d\) exceeded"
        % PRELOGIN_ALLOWED, s.syslog_text()), 10, what="the flood in the SystemLog")
    assert_serves(s)


def test_prelogin_bound_counts_unknown_and_overlong_lines(server_factory):
    s = server_factory()
    with Ctl(s.port, read_greeting=True) as c:
        junk = b"".join(b"X" * 5000 + b"\r\n" if i % 2 else b"BOGUS\r\n"
                        for i in range(PRELOGIN_ALLOWED + 20))
        sender = flood(c, junk)
        seen = replies_until_closed(c)
        sender.join(30)
    assert len(seen) == PRELOGIN_ALLOWED + 1, seen[-3:]
    assert all(code == 500 for code, _ in seen[:-1]), seen[:5]
    assert seen[-1][0] == 421
    assert_serves(s)


def test_login_attempts_are_still_decided_by_max_login_attempts(server_factory):
    # 30 attempts allowed: 29 failed USER/PASS pairs (58 lines, more than the
    # 50 of the bound alone) and then a good login still fit.
    s = server_factory(settings={"MaxLoginAttempts": "30"})
    with Ctl(s.port, read_greeting=True) as c:
        for _ in range(29):
            assert c.cmd("USER nosuchuser")[0] == 331
            assert c.cmd("PASS wrong")[0] == 530
        c.login()
        assert c.cmd("NOOP")[0] == 200
    assert "Maximum commands before login" not in s.syslog_text()


def lftp_available():
    return shutil.which("lftp") is not None


def run_lftp(port, script, timeout=60):
    cmds = ("set net:max-retries 1; set net:timeout 10; set cmd:fail-exit yes; "
            f"open -u anonymous,{ANON_PASS} ftp://127.0.0.1:{port}; " + script)
    env = dict(os.environ, HOME=os.environ.get("TMPDIR", "/tmp"))
    return subprocess.run(["lftp", "-c", cmds], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, env=env)


@pytest.mark.skipif(not lftp_available(), reason="lftp not installed")
@pytest.mark.parametrize("settings", [{}, {"MaxCommandRate": "10 1"}],
                         ids=["defaults", "MaxCommandRate-10"])
def test_lftp_session_unaffected(server_factory, tree, settings):
    s = server_factory(settings=settings)
    r = run_lftp(s.port, "cls -1; cat small.txt; cd sub; cls -1; cat a.txt")
    assert r.returncode == 0, f"lftp rc={r.returncode}: {r.stderr}"
    assert "small.txt" in r.stdout and "hello world" in r.stdout, r.stdout
    assert "a.txt" in r.stdout and "file a in sub" in r.stdout, r.stdout
    assert "Maximum commands before login" not in s.syslog_text()
    assert_serves(s)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_curl_session_unaffected(server_factory):
    s = server_factory()
    base = f"ftp://127.0.0.1:{s.port}"
    for args, want in ([f"{base}/small.txt"], "hello world\n"), ([f"{base}/sub/"], "a.txt"):
        r = subprocess.run(["curl", "-sS", "--max-time", "30"] + args, capture_output=True,
                           text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert r.returncode == 0, f"curl {args}: rc={r.returncode} {r.stderr}"
        assert want in r.stdout, r.stdout
    log = s.syslog_text()
    assert "Maximum commands before login" not in log and "MaxCommandRate" not in log


# ---------------------------------------------------------------- MaxCommandRate

def test_max_command_rate_burst_is_fully_answered_in_order(server_factory):
    s = server_factory(settings={"MaxCommandRate": "20 1"})
    verbs = ["USER", "PASS", "RETR", "LIST", "NLST", "MLSD", "SIZE", "MDTM"]
    n = 80
    with Ctl(s.port, read_greeting=True) as c:
        c.login()
        c.send("".join(f"HELP {verbs[i % len(verbs)]}\r\n" for i in range(n)))
        c.sock.settimeout(30)
        for i in range(n):
            code, text = c.reply()
            assert code == 214, (i, text)
            assert text.startswith(f"214 Syntax: {verbs[i % len(verbs)]} "), \
                f"reply {i} out of order: {text}"
        assert c.cmd("NOOP")[0] == 200
    line = "MaxCommandRate (20 cmds/1 sec) exceeded, injecting processing delays"
    wait_until(lambda: line in s.syslog_text(), 10, what="the delay in the SystemLog")
    assert s.syslog_text().count(line) == 1, "one line per burst, not per command"
    assert_serves(s)


def ftpdctl(server, *args):
    from helpers import BUILD
    return subprocess.run(server.identity.prefix + [str(BUILD / FTPDCTL_NAME), "-c", str(server.conf)]
                          + list(args), capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL)


def delayed_session(server):
    """A logged-in session whose next command waits ~30 s (2 per minute)."""
    c = Ctl(server.port, read_greeting=True)
    c.login(user="ftp")
    c.send("NOOP\r\n")
    wait_until(lambda: "MaxCommandRate (2 cmds/60 secs) exceeded" in server.syslog_text(), 10,
               what="the NOOP to be delayed")
    return c


def test_kick_ends_a_delayed_session_at_once(server_factory):
    s = server_factory(settings={"MaxCommandRate": "2 60"})
    with delayed_session(s) as c:
        wait_until(lambda: ftpdctl(s, "kick", "--user", "ftp").returncode == 0, 10,
                   what="ftpdctl kick to find the session")
        # Well before the 30 s delay is over: the kick cut it short.
        c.sock.settimeout(10)
        code, text = c.reply()
        assert code == 421 and "terminated by the administrator" in text, text
    # The worker serves the next client (two commands: within the rate).
    with Ctl(s.port, read_greeting=True) as n:
        n.login()


def test_term_ends_a_delayed_session_with_421(server_factory):
    s = server_factory(settings={"MaxCommandRate": "2 60"})
    with delayed_session(s) as c:
        s.signal(signal.SIGTERM)
        c.sock.settimeout(10)
        code, text = c.reply()
        assert code == 421, text
    s.popen.wait(timeout=15)


def test_max_command_rate_keeps_abor_and_stat_during_a_transfer(server_factory):
    # 6 commands at once, then one per 10 s (the transfer's control checks
    # take up to a second each while the client does not read).
    s = server_factory(settings={"MaxCommandRate": "6 60"})
    ftp = ftp_open(s.port)                       # USER, PASS
    try:
        ftp.voidcmd("TYPE I")                    # 3
        data = open_data(ftp, "pasv", "RETR big10m.bin", rcvbuf=32768)  # PASV, RETR: 5
        try:
            got = 0
            while got < 128 * 1024:
                b = data.recv(65536)
                assert b, "download ended early"
                got += len(b)
            # Within the allowance: answered during the transfer.
            ftp.sock.sendall(b"STAT\r\n")        # 6
            resp = ftp.getmultiline()
            assert resp.startswith("213") and "in progress" in resp, resp
            # Over the rate: this NOOP waits until after the transfer...
            ftp.sock.sendall(b"NOOP\r\n")
            # ... while ABOR is never delayed.
            resp = ftp.abort()
            assert resp.startswith("426"), resp
            resp = ftp.getmultiline()
            assert resp.startswith("226"), resp
        finally:
            data.close()
        # Nothing lost, in order: the queued NOOP comes after the abort. It
        # waits for the next token (up to 10 s after the sixth command), so
        # allow more than the client's usual 10 s.
        ftp.sock.settimeout(30)
        assert ftp.getmultiline().startswith("200")
    finally:
        ftp.close()  # QUIT would be rate-limited too
