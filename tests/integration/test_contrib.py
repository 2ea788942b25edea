"""contrib/: the init.d script driving the real build/poolftpd through the real
start-stop-daemon (both start modes), the systemd unit (systemd-analyze
verify; its capability set and syscall filter checked against the real
server), the launchd plist, the logrotate rules (a real rotation and log
reopening), and the fail2ban filter and jail (fail2ban-regex and
fail2ban-client against a SystemLog written by a real server).

Tests that start servers as root or use system tools skip when those are
missing; nothing is installed outside the test's temporary directories."""

import os
import plistlib
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from helpers import (ANON_PASS, BUILD, IS_ROOT, NOBODY_UID, POOLFTPD, Ctl, Identity, Server,
                     ftp_close, ftp_open, listing, pid_alive, pids_with_cmdline, proc_status,
                     retr, wait_until)

REPO = Path(__file__).resolve().parents[2]
CONTRIB = REPO / "contrib"
INIT = CONTRIB / "poolftpd.init"
UNIT = CONTRIB / "poolftpd.service"
PLIST = CONTRIB / "org.poolftpd.poolftpd.plist"
LOGROTATE = CONTRIB / "poolftpd.logrotate"
F2B_FILTER = CONTRIB / "fail2ban" / "filter.d" / "poolftpd.conf"
F2B_JAIL = CONTRIB / "fail2ban" / "jail.d" / "poolftpd.conf"
FTPDCTL = BUILD / "ftpdctl"

needs_root = pytest.mark.skipif(not IS_ROOT, reason="starts poolftpd as root like a service manager")


def which_or_skip(tool):
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed")
    return path


@pytest.fixture
def make_server(tree, workbase):
    """Servers started or driven by the test; torn down (our PIDs only)."""
    servers = []

    def make(identity=None, **kw):
        ident = identity or Identity("root" if IS_ROOT else "nobody")
        s = Server(ident, tree, workbase, **kw)
        servers.append(s)
        return s

    yield make
    problems = []
    for s in servers:
        problems.extend(s.stop())
    if problems:
        pytest.fail("server teardown: " + "; ".join(problems), pytrace=False)


# --------------------------------------------------------------------------
# init.d script
# --------------------------------------------------------------------------

def run_init(s, action, mode="auto", timeout=90, **env_extra):
    """Runs the init script for server `s` with its overrides; no installed
    file (/etc/default/poolftpd) is read."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "TERM": "dumb",
        "POOLFTPD_DEFAULTS": "/dev/null",
        "POOLFTPD_DAEMON": str(POOLFTPD),
        "POOLFTPD_CONFIG": str(s.conf),
        "POOLFTPD_START_MODE": mode,
        "POOLFTPD_NOTIFY_TIMEOUT": "20",
        "POOLFTPD_STOP_TIMEOUT": "10",
    }
    env.update(s.environment_for_sanitizers())
    env.update({k: str(v) for k, v in env_extra.items()})
    return subprocess.run(["/bin/sh", str(INIT), action], capture_output=True, text=True,
                          env=env, timeout=timeout, stdin=subprocess.DEVNULL)


def out(r):
    return f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"


def ssd_status(s):
    return subprocess.run(["start-stop-daemon", "--status", "--pidfile", str(s.pidfile),
                           "--exec", str(POOLFTPD)], timeout=30).returncode


def cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().split(b"\0")


def ssd_has_notify():
    r = subprocess.run(["start-stop-daemon", "--help"], capture_output=True, text=True)
    return "--notify-await" in r.stdout + r.stderr


def test_init_script_is_posix_sh_with_lsb_header():
    r = subprocess.run(["sh", "-n", str(INIT)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    if shutil.which("dash"):
        r = subprocess.run(["dash", "-n", str(INIT)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    text = INIT.read_text()
    assert text.startswith("#!/bin/sh\n")
    assert os.access(INIT, os.X_OK), "contrib/poolftpd.init is not executable"
    header = re.search(r"^### BEGIN INIT INFO\n(.*?)^### END INIT INFO", text, re.M | re.S)
    assert header, "no LSB header"
    fields = dict(re.findall(r"^# ([\w-]+):\s+(.*)$", header.group(1), re.M))
    for key in ("Provides", "Required-Start", "Required-Stop", "Default-Start", "Default-Stop",
                "Short-Description"):
        assert key in fields, f"LSB header lacks {key}"
    assert fields["Provides"] == "poolftpd"
    assert "$network" in fields["Required-Start"] and "$remote_fs" in fields["Required-Start"]
    assert fields["Default-Start"].split() == ["2", "3", "4", "5"]
    assert fields["Default-Stop"].split() == ["0", "1", "6"]


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_init_script_shellcheck():
    r = subprocess.run(["shellcheck", "-s", "sh", str(INIT)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_init_script_usage_and_missing_binary(make_server, tmp_path):
    s = make_server()
    r = run_init(s, "frobnicate")
    assert r.returncode == 2 and "Usage:" in r.stderr, out(r)
    r = run_init(s, "start", POOLFTPD_DAEMON=tmp_path / "no-such-poolftpd")
    assert r.returncode == 5 and "not installed" in r.stdout + r.stderr, out(r)
    # status must still answer (not running) when nothing is installed.
    r = run_init(s, "status", POOLFTPD_DAEMON=tmp_path / "no-such-poolftpd")
    assert r.returncode == 3, out(r)


def test_init_script_status_of_a_dead_pidfile(make_server):
    s = make_server()
    assert run_init(s, "status").returncode == 3
    # A PidFile naming a PID that is not running: LSB 1.
    p = subprocess.Popen(["true"])
    p.wait()
    s.pidfile.write_text(f"{p.pid}\n")
    try:
        r = run_init(s, "status")
        assert r.returncode == 1 and "not running" in r.stdout + r.stderr, out(r)
        r = run_init(s, "reload")
        assert r.returncode == 7, out(r)
        r = run_init(s, "force-reload")
        assert r.returncode == 0, out(r)
    finally:
        s.pidfile.unlink()


def test_init_script_configtest(make_server):
    s = make_server()
    r = run_init(s, "configtest")
    assert r.returncode == 0 and "Syntax OK" in r.stdout, out(r)
    s.write_config(s.config_text() + "NoSuchDirective 1\n")
    r = run_init(s, "configtest")
    assert r.returncode == 1 and "NoSuchDirective" in r.stderr, out(r)


START_MODES = ["notify", "daemon"]


@needs_root
@pytest.mark.parametrize("mode", START_MODES)
def test_init_script_lifecycle(make_server, mode):
    if mode == "notify" and not ssd_has_notify():
        pytest.skip("this start-stop-daemon has no --notify-await")
    s = make_server(ident="Started by the init script")
    assert run_init(s, "status", mode).returncode == 3

    r = run_init(s, "start", mode)
    assert r.returncode == 0, out(r)
    master = s.read_pidfile()
    s.master_pid = master  # teardown ends it if the test fails below
    # Ready when start returns: no waiting, no retry.
    assert s.probe(), "start returned before the server accepted connections"
    assert ssd_status(s) == 0
    assert master and pid_alive(master)
    args = cmdline(master)
    assert str(s.conf).encode() in args
    if mode == "notify":
        assert b"-n" in args, "notify mode runs the server in the foreground"
    else:
        assert b"-n" not in args, "daemon mode lets the server daemonize"
    r = run_init(s, "status", mode)
    assert r.returncode == 0 and f"running (PID {master})" in r.stdout, out(r)

    # start again: LSB says success, and nothing new is started.
    r = run_init(s, "start", mode)
    assert r.returncode == 0 and "already running" in r.stdout, out(r)
    assert s.read_pidfile() == master

    # reload: -t check, then HUP; same master, new configuration served.
    s.ident = "Reloaded by the init script"
    s.write_config()
    r = run_init(s, "reload", mode)
    assert r.returncode == 0, out(r)
    wait_until(lambda: "Reloaded by the init script" in s.greeting()[1], 10,
               what="the reloaded greeting")
    assert s.read_pidfile() == master and pid_alive(master)

    # A broken configuration is refused before any signal: old one still served.
    good = s.config_text()
    s.write_config(good + "NoSuchDirective 1\n")
    r = run_init(s, "reload", mode)
    assert r.returncode == 6, out(r)
    assert re.search(rf"{re.escape(s.conf.name)}:\d+: .*NoSuchDirective", r.stderr), out(r)
    assert "Reloaded by the init script" in s.greeting()[1]
    # restart refuses too, and leaves the server running.
    r = run_init(s, "restart", mode)
    assert r.returncode == 6, out(r)
    assert s.read_pidfile() == master and s.probe()
    s.write_config(good)

    # reopen-logs: the log moved away is recreated and written to.
    moved = s.syslog.with_name("system.log.old")
    os.rename(s.syslog, moved)
    r = run_init(s, "reopen-logs", mode)
    assert r.returncode == 0, out(r)
    wait_until(lambda: s.probe() and "session opened" in s.syslog_text(), 10,
               what="a session line in the reopened SystemLog")

    # restart: a new master, ready when the script returns.
    r = run_init(s, "restart", mode)
    assert r.returncode == 0, out(r)
    assert s.probe(), "restart returned before the server accepted connections"
    new_master = s.read_pidfile()
    assert new_master and new_master != master and not pid_alive(master)
    s.master_pid = new_master

    # stop: TERM (KILL only after the retry schedule), exit 0, nothing left.
    r = run_init(s, "stop", mode)
    assert r.returncode == 0, out(r)
    assert not pid_alive(new_master)
    assert not s.pidfile.exists(), "the PidFile outlived the server"
    assert not pids_with_cmdline(str(s.conf).encode()), "server processes left after stop"
    r = run_init(s, "status", mode)
    assert r.returncode == 3 and "not running" in r.stdout + r.stderr, out(r)
    assert ssd_status(s) == 3
    # stop again: not running is success for stop.
    r = run_init(s, "stop", mode)
    assert r.returncode == 0 and "not running" in r.stdout, out(r)


@needs_root
def test_init_script_graceful_stop_waits_for_sessions(make_server):
    s = make_server(settings={"GracefulStopTimeout": "30"})
    r = run_init(s, "start")
    assert r.returncode == 0, out(r)
    s.master_pid = s.read_pidfile()
    ftp = ftp_open(s.port, password=ANON_PASS)
    try:
        assert b"small.txt" in listing(ftp, "NLST")
        proc = subprocess.Popen(["/bin/sh", str(INIT), "graceful-stop"], env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TERM": "dumb",
            "POOLFTPD_DEFAULTS": "/dev/null", "POOLFTPD_DAEMON": str(POOLFTPD),
            "POOLFTPD_CONFIG": str(s.conf), **s.environment_for_sanitizers()},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        # New connections are refused once the master stopped listening ...
        def refused():
            try:
                with Ctl(s.port, timeout=2):
                    return False
            except ConnectionRefusedError:
                return True
        wait_until(refused, 10, what="the listener to close")
        # ... while the running session still works.
        assert proc.poll() is None, "graceful-stop returned while a session was running"
        assert retr(ftp, "small.txt") == b"hello world\n"
    finally:
        ftp_close(ftp)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, f"{stdout}\n{stderr}"
    assert not pid_alive(s.master_pid)
    assert run_init(s, "status").returncode == 3


@needs_root
@pytest.mark.parametrize("mode", START_MODES)
def test_init_script_start_failure(make_server, mode):
    if mode == "notify" and not ssd_has_notify():
        pytest.skip("this start-stop-daemon has no --notify-await")
    s = make_server()
    s.write_config(s.config_text() + "MaxClients many\n")
    started = time.monotonic()
    r = run_init(s, "start", mode)
    assert r.returncode == 1, out(r)
    assert "MaxClients" in r.stderr, out(r)
    assert time.monotonic() - started < 15, "a broken config must fail at once, not time out"
    assert run_init(s, "status", mode).returncode == 3
    assert not pids_with_cmdline(str(s.conf).encode())


# --------------------------------------------------------------------------
# systemd unit
# --------------------------------------------------------------------------

def unit_settings():
    """[Service] key -> list of values (in order) of contrib/poolftpd.service."""
    settings, section = {}, None
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        settings.setdefault((section, key), []).append(value)
    return settings


def test_unit_settings():
    u = unit_settings()
    svc = lambda k: u.get(("Service", k), [])  # noqa: E731
    assert svc("Type") == ["notify"]
    assert svc("ExecStart") and " -n " in svc("ExecStart")[0] and "-c ${POOLFTPD_CONFIG}" in svc("ExecStart")[0]
    assert svc("ExecStartPre") and " -t " in svc("ExecStartPre")[0]
    reload = svc("ExecReload")
    assert len(reload) == 2 and " -t " in reload[0] and reload[1] == "/bin/kill -HUP $MAINPID", \
        "reload must check the configuration first, then send HUP"
    assert svc("KillMode") == ["mixed"]
    assert svc("NoNewPrivileges") == ["yes"]
    assert svc("RuntimeDirectory") == ["poolftpd"] and svc("LogsDirectory") == ["poolftpd"]
    assert svc("ProtectSystem") == ["strict"]
    assert set(svc("RestrictAddressFamilies")[0].split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    caps = set(svc("CapabilityBoundingSet")[0].split())
    # The privilege model: bind :21, change identity, chroot, drop the
    # bounding set (CAP_SETPCAP) and signal workers of another uid.
    for cap in ("CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SETGID", "CAP_SYS_CHROOT",
                "CAP_SETPCAP", "CAP_KILL"):
        assert cap in caps, f"CapabilityBoundingSet lacks {cap}"
    assert "CAP_SYS_ADMIN" not in caps and "CAP_SYS_PTRACE" not in caps
    assert u.get(("Install", "WantedBy")) == ["multi-user.target"]


def test_unit_verifies(tmp_path):
    analyze = which_or_skip("systemd-analyze")
    # The installed paths, as `make install` rewrites them, must exist.
    unit = tmp_path / "poolftpd.service"
    unit.write_text(UNIT.read_text().replace("/usr/sbin/poolftpd", str(POOLFTPD)))
    # Documentation=man: links resolve against our pages.
    for page in (REPO / "man").iterdir():
        d = tmp_path / "man" / f"man{page.name.rsplit('.', 1)[1]}"
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(page, d / page.name)
    env = dict(os.environ, MANPATH=str(tmp_path / "man"), SYSTEMD_LOG_LEVEL="notice")
    r = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, env=env,
                       cwd=tmp_path, timeout=120)
    mine = [l for l in (r.stdout + r.stderr).splitlines() if "poolftpd" in l]
    assert r.returncode == 0 and not mine, "systemd-analyze verify:\n" + r.stdout + r.stderr


def unit_capabilities():
    return unit_settings()[("Service", "CapabilityBoundingSet")][0].split()


@needs_root
def test_unit_capabilities_suffice(make_server):
    """The master started as the unit starts it (root, only the unit's
    bounding set, no_new_privs) serves, drops workers to nobody, reloads,
    reopens logs and stops cleanly."""
    which_or_skip("setpriv")
    caps = unit_capabilities()
    bounding = "-all," + ",".join("+" + c[4:].lower() for c in caps)
    ident = Identity("root")
    ident.prefix = ["setpriv", f"--bounding-set={bounding}", "--inh-caps=-all", "--no-new-privs",
                    "--"]
    s = make_server(identity=ident)
    s.start()
    status = proc_status(s.master_pid)
    assert status["NoNewPrivs"] == "1"
    eff = int(status["CapEff"], 16)
    bnd = int(status["CapBnd"], 16)
    assert eff == bnd and bnd != 0, status
    ftp = ftp_open(s.port, password=ANON_PASS)
    try:
        assert retr(ftp, "small.txt") == b"hello world\n"
        worker = s.worker_for(ftp.sock)
        w = proc_status(worker)
        assert w["Uid"].split()[0] == str(NOBODY_UID)
        assert int(w["CapEff"], 16) == 0 and int(w["CapBnd"], 16) == 0
    finally:
        ftp_close(ftp)
    s.ident = "Reloaded under the unit's capabilities"
    s.write_config()
    s.signal(signal.SIGHUP)
    wait_until(lambda: "unit's capabilities" in s.greeting()[1], 10, what="the reload")
    s.signal(signal.SIGUSR1)
    wait_until(s.probe, 10, what="serving after USR1")
    # TERM: the master must be able to end its workers (CAP_KILL: they run
    # under another uid).
    assert s.stop() == [], "the server did not stop cleanly"
    assert "failed" not in s.syslog_text().lower(), s.syslog_text()


def expand_syscall_filter(analyze, groups):
    r = subprocess.run([analyze, "syscall-filter"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    sets, current = {}, None
    for line in r.stdout.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if not line[0].isspace() and s.startswith("@"):
            current = s
            sets[current] = []
        elif current:
            sets[current].append(s)

    def expand(name, seen=()):
        if not name.startswith("@"):
            return {name}
        assert name in sets, f"unknown syscall group {name}"
        out = set()
        for item in sets[name]:
            if item not in seen:
                out |= expand(item, seen + (name,))
        return out

    allowed = set()
    for g in groups:
        allowed |= expand(g)
    return allowed


@needs_root
def test_unit_syscall_filter_covers_the_server(make_server, tmp_path):
    """Every system call the server makes (start as root, sessions with
    transfers and listings, a failed login, reload, log reopening, stop) and
    `poolftpd -t` (ExecStartPre, ExecReload) makes is in the unit's
    SystemCallFilter."""
    analyze = which_or_skip("systemd-analyze")
    strace = which_or_skip("strace")
    filters = unit_settings()[("Service", "SystemCallFilter")]
    assert all(not f.startswith("~") for f in filters), "only allow-lists are checked here"
    allowed = expand_syscall_filter(analyze, " ".join(filters).split())
    trace = tmp_path / "trace"
    ident = Identity("root")
    ident.prefix = [strace, "-f", "-qq", "-o", str(trace)]
    s = make_server(identity=ident)
    # LeakSanitizer stops the world through ptrace, which a traced process
    # cannot do (the leak check then fails and reports that): no leak check
    # for this server only. Every other sanitizer check stays on.
    s.san_options["detect_leaks"] = 0
    s.start()
    s.master_pid = s.read_pidfile()  # strace is the direct child
    ftp = ftp_open(s.port, password=ANON_PASS)
    try:
        retr(ftp, "random1m.bin", "pasv")
        retr(ftp, "text.txt", "port", type_="A")
        listing(ftp, "LIST")
        listing(ftp, "MLSD", mode="epsv")
    finally:
        ftp_close(ftp)
    with Ctl(s.port, read_greeting=True) as c:
        c.cmd("USER bob")
        c.cmd("PASS wrong")
    s.signal(signal.SIGHUP)
    wait_until(lambda: "reparsing" in s.syslog_text(), 10, what="the reload")
    s.signal(signal.SIGUSR1)
    wait_until(s.probe, 10)
    assert s.stop() == []
    check = tmp_path / "check-trace"
    r = subprocess.run([strace, "-f", "-qq", "-o", str(check), str(POOLFTPD), "-t", "-q", "-c",
                        str(s.conf)], capture_output=True, text=True, timeout=60,
                       env=s.environment())  # traced too: no leak check
    assert r.returncode == 0, r.stderr
    used = set()
    for path in (trace, check):
        for line in path.read_text(errors="replace").splitlines():
            m = re.match(r"\d+\s+(?:<\.\.\. )?([a-z_0-9]+)[( ]", line)
            if m:
                used.add(m.group(1))
    assert {"chroot", "setresuid", "accept4"} <= used, sorted(used)
    missing = sorted(used - allowed)
    assert not missing, f"system calls outside SystemCallFilter={' '.join(filters)}: {missing}"


# --------------------------------------------------------------------------
# launchd
# --------------------------------------------------------------------------

def test_launchd_plist():
    with open(PLIST, "rb") as f:
        job = plistlib.load(f)
    assert job["Label"] == "org.poolftpd.poolftpd"
    args = job["ProgramArguments"]
    assert args[0].endswith("/sbin/poolftpd")
    assert "-n" in args, "launchd supervises a foreground process"
    assert args[args.index("-c") + 1].endswith("/poolftpd.conf")
    assert job["RunAtLoad"] is True
    assert job["KeepAlive"] in (True, {"SuccessfulExit": False})
    if shutil.which("plutil"):
        r = subprocess.run(["plutil", "-lint", str(PLIST)], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr


# --------------------------------------------------------------------------
# logrotate
# --------------------------------------------------------------------------

def logrotate_conf(tmp_path, s, via="pidfile"):
    """contrib/poolftpd.logrotate with the server's paths. via="pidfile":
    ftpdctl is not installed, so the PidFile fallback reopens the logs;
    via="ftpdctl": the built ftpdctl does, and the fallback cannot."""
    text = LOGROTATE.read_text()
    assert "/var/log/poolftpd/" in text and "/run/poolftpd/poolftpd.pid" in text
    assert "/usr/bin/ftpdctl reopen-logs" in text
    text = text.replace("/var/log/poolftpd", str(s.log_dir))
    if via == "ftpdctl":
        text = (text.replace("/usr/bin/ftpdctl", f"{FTPDCTL} -c {s.conf}")
                    .replace("/run/poolftpd/poolftpd.pid", str(tmp_path / "no-such.pid")))
    else:
        text = (text.replace("/run/poolftpd/poolftpd.pid", str(s.pidfile))
                    .replace("/usr/bin/ftpdctl", str(tmp_path / "no-such-ftpdctl")))
    conf = tmp_path / "logrotate.conf"
    conf.write_text(text)
    os.chmod(conf, 0o644)
    return conf


def test_logrotate_accepts_the_rules(make_server, tmp_path):
    logrotate = which_or_skip("logrotate")
    s = make_server()
    s.syslog.write_text("x\n")
    conf = logrotate_conf(tmp_path, s)
    r = subprocess.run([logrotate, "-d", "-s", str(tmp_path / "state"), str(conf)],
                       capture_output=True, text=True, timeout=60)
    text = r.stdout + r.stderr
    assert r.returncode == 0, text
    assert "error" not in text.lower(), text
    assert str(s.syslog) in text


@needs_root
@pytest.mark.parametrize("via", ["pidfile", "ftpdctl"])
def test_logrotate_rotates_and_the_server_reopens(make_server, tmp_path, via):
    logrotate = which_or_skip("logrotate")
    if via == "ftpdctl" and not os.access(FTPDCTL, os.X_OK):
        pytest.skip(f"{FTPDCTL} is not built")
    s = make_server()
    s.start()
    ftp = ftp_open(s.port, password=ANON_PASS)
    try:
        retr(ftp, "small.txt")
    finally:
        ftp_close(ftp)
    wait_until(lambda: s.xferlog_lines(), 5, what="a TransferLog line")
    conf = logrotate_conf(tmp_path, s, via)
    state = tmp_path / "state"

    def rotate():
        r = subprocess.run([logrotate, "-f", "-s", str(state), str(conf)], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr

    rotate()
    old_sys = s.log_dir / "system.log.1"
    old_xfer = s.log_dir / "xfer.log.1"
    assert old_sys.exists() and old_xfer.exists(), sorted(p.name for p in s.log_dir.iterdir())
    assert "FTP session opened" in old_sys.read_text()
    # The server reopened (USR1 from the postrotate fallback): new sessions
    # and transfers go to the new files.
    wait_until(lambda: s.probe() and "session opened" in s.syslog_text(), 10,
               what="the reopened SystemLog")
    ftp = ftp_open(s.port, password=ANON_PASS)
    try:
        retr(ftp, "sub/a.txt")
    finally:
        ftp_close(ftp)
    wait_until(lambda: any("sub/a.txt" in l for l in s.xferlog_lines()), 10,
               what="the reopened TransferLog")
    # A second rotation compresses the first one (delaycompress).
    rotate()
    assert (s.log_dir / "system.log.2.gz").exists(), sorted(p.name for p in s.log_dir.iterdir())
    assert s.probe()


# --------------------------------------------------------------------------
# fail2ban
# --------------------------------------------------------------------------

def f2b_filter_dir(tmp_path):
    """Our filter next to fail2ban's common.conf, as when installed."""
    common = Path("/etc/fail2ban/filter.d/common.conf")
    if not common.exists():
        pytest.skip("fail2ban's common.conf is not installed")
    d = tmp_path / "filter.d"
    d.mkdir()
    shutil.copy(common, d / "common.conf")
    shutil.copy(F2B_FILTER, d / "poolftpd.conf")
    return d / "poolftpd.conf"


ROW = re.compile(r"\['([^']*)',\s*[^,]+,\s*\{(.*)\}\],?$")


def f2b_matches(log, filt, logtype=None):
    """(ip, user or None) for each line fail2ban-regex matches in `log`."""
    target = f"{filt}[logtype={logtype}]" if logtype else str(filt)
    r = subprocess.run(["fail2ban-regex", "-o", "row", str(log), target], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    rows = []
    for line in r.stdout.splitlines():
        m = ROW.match(line.strip())
        if m:
            user = re.search(r"'user': '(.*?)'(?:,|$)", m.group(2))
            rows.append((m.group(1), user.group(1) if user else None))
    return rows


def test_fail2ban_filter_matches_real_failed_logins(make_server, tmp_path):
    which_or_skip("fail2ban-regex")
    filt = f2b_filter_dir(tmp_path)
    s = make_server()
    s.start()
    # Three failed logins end the session with "Maximum login attempts".
    with Ctl(s.port, read_greeting=True) as c:
        for _ in range(3):
            c.cmd("USER bob")
            c.cmd("PASS wrong")
        c.wait_closed()
    # A name crafted to look like another client's prefix changes nothing.
    with Ctl(s.port, read_greeting=True) as c:
        c.cmd("USER x (evil[203.0.113.9]): USER y")
        c.cmd("PASS wrong")
    # Successful anonymous sessions must not count.
    ftp = ftp_open(s.port, password=ANON_PASS)
    try:
        listing(ftp, "LIST")
    finally:
        ftp_close(ftp)
    wait_until(lambda: s.syslog_text().count("no such user found") == 4
               and "Maximum login attempts (3) exceeded" in s.syslog_text()
               and s.syslog_text().count("FTP session closed") >= 3, 10,
               what="the failed-login lines")
    rows = f2b_matches(s.syslog, filt)
    failures = [l for l in s.syslog_text().splitlines()
                if "no such user found" in l or "Maximum login attempts" in l]
    assert len(rows) == len(failures) == 5, (rows, s.syslog_text())
    assert {ip for ip, _ in rows} == {"127.0.0.1"}, rows
    users = [u for _, u in rows]
    assert users.count("bob") == 3 and users.count(None) == 1, rows
    # The crafted name is only a user name; the address is the connection's.
    assert ("127.0.0.1", "x (evil[203.0.113.9]): USER y") in rows, rows


def test_fail2ban_filter_matches_syslog_and_journal_forms(make_server, tmp_path):
    """The same lines as they appear through syslog(3) and in the journal
    (server under systemd with -n and no SystemLog: stderr)."""
    which_or_skip("fail2ban-regex")
    filt = f2b_filter_dir(tmp_path)
    host = "myhost"
    syslog = tmp_path / "syslog"
    syslog.write_text(
        f"Nov 21 12:05:19 {host} poolftpd[17621]: {host} (c.example[192.0.2.7]): "
        "USER bob (Login failed): Incorrect password.\n"
        f"Nov 21 12:05:20 {host} poolftpd[17621]: {host} (c.example[2001:db8::7]): "
        "USER eve (Login failed): Limit access denies login\n"
        f"Nov 21 12:05:21 {host} poolftpd[17621]: {host} (c.example[192.0.2.7]): "
        "Maximum login attempts (3) exceeded\n"
        f"Nov 21 12:05:22 {host} poolftpd[17621]: {host} (c.example[192.0.2.8]): "
        "ANON ftp: Login successful.\n"
        f"Nov 21 12:05:23 {host} poolftpd[17621]: {host} (c.example[192.0.2.8]): "
        "USER ftp (Login failed): anonymous root unavailable\n")
    rows = f2b_matches(syslog, filt)
    assert rows == [("192.0.2.7", "bob"), ("2001:db8::7", "eve"), ("192.0.2.7", None)], rows
    journal = tmp_path / "journal"
    journal.write_text(
        f"{host} poolftpd[17621]: 2026-11-21 12:05:19,257 poolftpd[17621] {host} "
        "(c[192.0.2.9]): USER bob: no such user found from c [192.0.2.9] to 192.0.2.1:21\n"
        f"{host} poolftpd[17621]: {host} (c[192.0.2.10]): Maximum login attempts (3) exceeded\n")
    rows = f2b_matches(journal, filt, logtype="journal")
    assert rows == [("192.0.2.9", "bob"), ("192.0.2.10", None)], rows


def test_fail2ban_jail_example(make_server, tmp_path):
    client = which_or_skip("fail2ban-client")
    if not Path("/etc/fail2ban/jail.conf").exists():
        pytest.skip("fail2ban's configuration is not installed")
    s = make_server()
    s.syslog.write_text("")
    conf = tmp_path / "fail2ban"
    shutil.copytree("/etc/fail2ban", conf, symlinks=True)
    # Only our jail: the distribution's enabled jails want their own logs.
    for p in (conf / "jail.d").iterdir():
        p.unlink()
    shutil.copy(F2B_FILTER, conf / "filter.d" / "poolftpd.conf")
    jail = F2B_JAIL.read_text()
    assert "logpath  = /var/log/poolftpd/poolftpd.log" in jail
    # Shipped disabled; the README enables it with a .local file.
    assert re.search(r"^enabled\s*=\s*false$", jail, re.M), jail
    (conf / "jail.d" / "poolftpd.conf").write_text(
        jail.replace("/var/log/poolftpd/poolftpd.log", str(s.syslog)))
    (conf / "jail.d" / "poolftpd.local").write_text("[poolftpd]\nenabled = true\n")
    r = subprocess.run([client, "-c", str(conf), "-t"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "OK" in r.stdout + r.stderr, r.stdout + r.stderr
    r = subprocess.run([client, "-c", str(conf), "-d"], capture_output=True, text=True, timeout=120)
    dump = r.stdout
    assert "['add', 'poolftpd'," in dump and f"'addlogpath', '{s.syslog}'" in dump, dump
    assert "49152:65534" in dump
