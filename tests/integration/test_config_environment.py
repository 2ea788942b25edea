"""What a configuration needs from the machine: `poolftpd -t`, the start and a
reload check that the User and Group workers switch to exist (only when the
server runs as root: an unprivileged server ignores them, as `make run` and
the suite's "nobody" servers rely on) and that the anonymous root is a
directory. Each error names the file and line that set the value and the
exit status is 1, so `systemctl start` (ExecStartPre=poolftpd -t) and the
init script report it instead of a server that starts and cannot serve."""

import grp
import pwd
import signal
import subprocess

import pytest

from helpers import ANON_PASS, POOLFTPD, Server, ftp_close, ftp_open, pids_with_cmdline, retr, \
    wait_until

NO_USER = "poolftpd-no-such-user"
NO_GROUP = "poolftpd-no-such-group"


@pytest.fixture(scope="module", autouse=True)
def names_are_unknown():
    for look, name in ((pwd.getpwnam, NO_USER), (grp.getgrnam, NO_GROUP)):
        try:
            look(name)
            pytest.skip(f"{name} exists on this system")
        except KeyError:
            pass


def check(identity, conf):
    return subprocess.run(identity.prefix + [str(POOLFTPD), "-t", "-c", str(conf)],
                          capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)


def lineno(s, prefix):
    """1-based number of the config line starting with `prefix`."""
    lines = s.conf.read_text().splitlines()
    return next(i for i, l in enumerate(lines) if l.startswith(prefix)) + 1


def with_anon(s, user=None, group=None, root=None):
    text = s.config_text()
    ident = s.identity
    if user is not None:
        text = text.replace(f"\n  User {ident.anon_user}\n", f"\n  User {user}\n")
    if group is not None:
        text = text.replace(f"\n  Group {ident.anon_group}\n", f"\n  Group {group}\n")
    if root is not None:
        text = text.replace(f"\n<Anonymous {s.tree.root}>\n", f"\n<Anonymous {root}>\n")
    s.write_config(text)


def assert_refused(r, message):
    out = f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    assert r.returncode == 1, out
    assert f"poolftpd: {message}" in r.stderr.splitlines(), out
    assert "Syntax OK" not in r.stdout, out


@pytest.mark.parametrize("what", ["User", "Group"])
def test_missing_account(identity, tree, workbase, what):
    s = Server(identity, tree, workbase)
    if what == "User":
        with_anon(s, user=NO_USER)
        line = lineno(s, f"  User {NO_USER}")
        message = f'{s.conf}:{line}: User "{NO_USER}": no such user on this system'
    else:
        with_anon(s, group=NO_GROUP)
        line = lineno(s, f"  Group {NO_GROUP}")
        message = f'{s.conf}:{line}: Group "{NO_GROUP}": no such group on this system'
    r = check(identity, s.conf)
    if identity.privileged:
        assert_refused(r, message)
    else:
        # Unprivileged, workers keep the caller's identity: User/Group unused.
        assert r.returncode == 0 and "Syntax OK" in r.stdout, r.stderr


def test_root_as_worker_user_is_refused(identity, tree, workbase):
    s = Server(identity, tree, workbase)
    with_anon(s, user="root")
    r = check(identity, s.conf)
    if identity.privileged:
        line = lineno(s, "  User root")
        assert_refused(r, f'{s.conf}:{line}: User "root" is root: refusing to run workers as root')
    else:
        assert r.returncode == 0, r.stderr


def test_missing_anonymous_root(identity, tree, workbase):
    s = Server(identity, tree, workbase)
    missing = s.dir / "no-such-tree"
    with_anon(s, root=missing)
    line = lineno(s, "<Anonymous ")
    assert_refused(check(identity, s.conf),
                   f"{s.conf}:{line}: <Anonymous {missing}>: the directory does not exist")


def test_anonymous_root_that_is_a_file(identity, tree, workbase):
    s = Server(identity, tree, workbase)
    path = tree.root / "small.txt"
    with_anon(s, root=path)
    line = lineno(s, "<Anonymous ")
    assert_refused(check(identity, s.conf), f"{s.conf}:{line}: <Anonymous {path}>: not a directory")


def test_error_names_the_included_file(identity, tree, workbase):
    """The location is the line that set the value, in whichever file."""
    s = Server(identity, tree, workbase)
    inc = s.dir / "anon.conf"
    missing = s.dir / "gone"
    inc.write_text(f"# the tree\n<Anonymous {missing}>\n  User nobody\n  Group nogroup\n"
                   "</Anonymous>\n")
    inc.chmod(0o644)
    text = s.config_text()
    head = text[:text.index("<Anonymous ")]
    s.write_config(head + f"Include {inc}\n")
    assert_refused(check(identity, s.conf),
                   f"{inc}:2: <Anonymous {missing}>: the directory does not exist")


@pytest.mark.parametrize("daemon", [False, True], ids=["foreground", "daemon"])
def test_start_is_refused_with_the_same_message(identity, tree, workbase, daemon):
    s = Server(identity, tree, workbase)
    if identity.privileged:
        with_anon(s, user=NO_USER)
        message = f'{s.conf}:{lineno(s, "  User ")}: User "{NO_USER}": no such user on this system'
    else:
        missing = s.dir / "no-such-tree"
        with_anon(s, root=missing)
        message = f"{s.conf}:{lineno(s, '<Anonymous ')}: <Anonymous {missing}>: the directory does not exist"
    r = subprocess.run(s.command(daemon=daemon), capture_output=True, text=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    out = f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    assert r.returncode == 1, out
    assert f"poolftpd: {message}" in r.stderr.splitlines(), out
    assert not s.pidfile.exists()
    assert not pids_with_cmdline(str(s.conf).encode())


def test_reload_with_a_missing_anonymous_root_keeps_serving(server_factory, workbase):
    s = server_factory()
    good = s.conf.read_text()
    missing = s.dir / "vanished"
    with_anon(s, root=missing)
    line = lineno(s, "<Anonymous ")
    s.signal(signal.SIGHUP)
    expected = (f"{s.conf}:{line}: <Anonymous {missing}>: the directory does not exist "
                "(reload failed; still running on the old configuration)")
    wait_until(lambda: expected in s.syslog_text(), 10, what="the reload error in the SystemLog")
    ftp = ftp_open(s.port, password=ANON_PASS)
    try:
        assert retr(ftp, "small.txt") == b"hello world\n"
        assert ftp.voidcmd("NOOP").startswith("200")
    finally:
        ftp_close(ftp)
    s.write_config(good)
