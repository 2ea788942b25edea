"""Command line of poolftpd: -v, -h, -t, -D, -d, -q, bad options, and daemon
mode (returns 0 once listening, PidFile, bind failure, config error)."""

import os
import socket
import subprocess

import pytest

from helpers import (POOLFTPD, Ctl, Server, pids_with_cmdline, pid_alive,
                     kill_quietly)


def run(args, identity=None, timeout=20):
    prefix = identity.prefix if identity else []
    return subprocess.run(prefix + [str(POOLFTPD)] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def test_version():
    r = run(["-v"])
    assert r.returncode == 0, r.stderr
    out = r.stdout + r.stderr
    assert "poolftpd" in out.lower() and any(ch.isdigit() for ch in out), out


def test_help_lists_options():
    r = run(["-h"])
    assert r.returncode == 0, r.stderr
    out = r.stdout + r.stderr
    for opt in ("-c", "-n", "-t", "-D", "-d", "-q", "-v"):
        assert opt in out, f"-h output does not mention {opt}: {out}"


def test_unknown_option_fails_with_usage():
    r = run(["--no-such-option"])
    assert r.returncode != 0
    assert r.stderr.strip(), "no message on stderr for an unknown option"


def test_syntax_check_ok(identity, tree, workbase):
    s = Server(identity, tree, workbase)
    r = run(["-t", "-c", s.conf], identity)
    assert r.returncode == 0, f"-t on a good config: rc={r.returncode} stderr={r.stderr}"
    assert "Syntax OK" in r.stdout + r.stderr
    assert not s.pidfile.exists(), "-t must not start a server"
    assert not pids_with_cmdline(str(s.conf).encode())


def test_syntax_check_bad_file_names_file_and_line(identity, tree, workbase):
    s = Server(identity, tree, workbase, extra=["Bogus directive"])
    line = s.conf.read_text().splitlines().index("Bogus directive") + 1
    r = run(["-t", "-c", s.conf], identity)
    assert r.returncode != 0
    assert f"{s.conf}:{line}:" in r.stderr, r.stderr
    assert "Syntax OK" not in r.stdout + r.stderr


def test_syntax_check_missing_file(workbase):
    missing = workbase / "does-not-exist.conf"
    r = run(["-t", "-c", missing])
    assert r.returncode != 0
    assert str(missing) in r.stderr, r.stderr


def test_define_selects_ifdefine_blocks(identity, tree, workbase):
    s = Server(identity, tree, workbase,
               extra=["<IfDefine BROKEN>", "Bogus directive", "</IfDefine>"])
    line = s.conf.read_text().splitlines().index("Bogus directive") + 1
    r = run(["-t", "-c", s.conf], identity)
    assert r.returncode == 0, f"without -D the block is skipped: {r.stderr}"
    r = run(["-t", "-D", "BROKEN", "-c", s.conf], identity)
    assert r.returncode != 0, "with -D BROKEN the bogus line must be read"
    assert f"{s.conf}:{line}:" in r.stderr, r.stderr


def test_define_changes_running_server(server_factory):
    s = server_factory(start=False, ident=None,
                       extra=["<IfDefine SPECIAL>", 'ServerIdent on "Special ident"', "</IfDefine>",
                              "<IfDefine !SPECIAL>", 'ServerIdent on "Plain ident"', "</IfDefine>"])
    s.start(extra_args=["-D", "SPECIAL"])
    code, text = s.greeting()
    assert code == 220 and "Special ident" in text, text


def test_debug_and_quiet_options_accepted(server_factory):
    s = server_factory(args=["-d", "3", "-q"])
    with s.login() as ftp:
        assert ftp.sendcmd("NOOP").startswith("200")


def test_daemon_mode_returns_once_listening(server_factory):
    s = server_factory(start=False)
    s.start(daemon=True, wait=False)
    # The launcher returned 0: a connection right now must succeed.
    with Ctl(s.port) as c:
        code, text = c.reply()
        assert code == 220, text
        c.login()
    pid = s.read_pidfile()
    assert pid and pid != s.popen.pid, "PidFile must name the daemon, not the launcher"
    assert pid_alive(pid)
    exe = os.readlink(f"/proc/{pid}/exe")
    assert os.path.samefile(exe, POOLFTPD), exe


def _listening_socket(port):
    ls = socket.socket()
    ls.bind(("127.0.0.1", port))
    ls.listen(1)
    return ls


@pytest.mark.parametrize("daemon", [False, True], ids=["foreground", "daemon"])
def test_bind_failure_exits_nonzero(identity, tree, workbase, daemon):
    s = Server(identity, tree, workbase)
    ls = _listening_socket(s.port)
    try:
        try:
            r = subprocess.run(s.command(daemon=daemon), capture_output=True, text=True,
                               timeout=20, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            pytest.fail("poolftpd kept running although its port was taken")
        assert r.returncode != 0
        err = r.stderr.lower()
        assert "in use" in err or str(s.port) in err, f"no reason on stderr: {r.stderr!r}"
    finally:
        ls.close()
        left = pids_with_cmdline(str(s.conf).encode())
        for pid in left:
            kill_quietly(pid)
    assert not left, f"processes left after a failed start: {sorted(left)}"
    assert not s.pidfile.exists() or not pid_alive(s.read_pidfile() or 0)


@pytest.mark.parametrize("daemon", [False, True], ids=["foreground", "daemon"])
def test_config_error_at_start_exits_nonzero(identity, tree, workbase, daemon):
    s = Server(identity, tree, workbase, extra=["MaxClients lots"])
    line = s.conf.read_text().splitlines().index("MaxClients lots") + 1
    try:
        r = subprocess.run(s.command(daemon=daemon), capture_output=True, text=True,
                           timeout=20, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail("poolftpd kept running with a broken config")
    finally:
        left = pids_with_cmdline(str(s.conf).encode())
        for pid in left:
            kill_quietly(pid)
    assert r.returncode != 0
    assert f"{s.conf}:{line}:" in r.stderr, r.stderr
    assert not left
    # Nothing is listening.
    with socket.socket() as c:
        c.settimeout(2)
        assert c.connect_ex(("127.0.0.1", s.port)) != 0


def test_second_master_on_live_scoreboard_refused(server_factory, identity, tree, workbase):
    first = server_factory()
    second = Server(identity, tree, workbase)
    second.scoreboard = first.scoreboard
    second.write_config()
    try:
        r = subprocess.run(second.command(), capture_output=True, text=True, timeout=20,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail("a second master started on a scoreboard whose master is alive")
    finally:
        left = pids_with_cmdline(str(second.conf).encode())
        for pid in left:
            kill_quietly(pid)
    assert r.returncode != 0
    assert str(first.master_pid) in r.stderr, r.stderr
    assert first.probe(), "the first server was disturbed"
