"""ftpdctl against a real poolftpd: status (text, JSON, LSB codes, numbers as
ftpwho reports them), reload, kick by user/PID/host, kill --who workers,
stop; and forgeries that must never reach an unrelated process: a
scoreboard slot and a PidFile naming a `sleep` the test started.

ftpdctl trusts a PidFile or scoreboard only when root or the caller owns
it, so it runs as the server's identity (setpriv to nobody for the
"nobody" servers)."""

import ftplib
import json
import os
import struct
import subprocess
import time

import pytest

from helpers import (BUILD, FTPWHO, IS_ROOT, ftp_close, json_connection, pid_alive, proc_stat,
                     run_tool, wait_until)

FTPDCTL = BUILD / "ftpdctl"

# scoreboard/FORMAT.md, layout version 2.
SB_VERSION = 2
HEADER_SIZE = 768
SLOT_SIZE = 1088
SLOT_FIELDS = {"seq": (0, "<I"), "pid": (4, "<i"), "generation": (8, "<I"), "state": (12, "<B"),
               "session_start_ns": (16, "<q"), "last_activity_ns": (24, "<q")}
SLOT_TEXT = {"user": (80, 64), "client_addr": (144, 64), "server_addr": (208, 64),
             "protocol": (272, 8), "cwd": (296, 256)}
STATE_IDLE = 5


@pytest.fixture(autouse=True)
def _need_ftpdctl(tools):
    if not os.access(FTPDCTL, os.X_OK):
        pytest.fail(f"missing {FTPDCTL} (run `make all`)")


def ctl(server, *args, as_root=False, timeout=30):
    """Runs ftpdctl -c <the server's config> ARGS as the server's identity."""
    prefix = [] if as_root else server.identity.prefix
    return subprocess.run(prefix + [str(FTPDCTL), "-c", str(server.conf)] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def status_json(server):
    r = ctl(server, "--json", "status")
    assert r.returncode == 0, f"status: rc={r.returncode} {r.stdout} {r.stderr}"
    return json.loads(r.stdout)


def who_json(server):
    r = run_tool(FTPWHO, "-f", server.scoreboard, "--json")
    assert r.returncode == 0, f"ftpwho: rc={r.returncode} {r.stderr}"
    return json.loads(r.stdout)


def sessions_of(who):
    return who["connections"]


def wait_sessions(server, n):
    return wait_until(lambda: len(sessions_of(who_json(server))) == n and who_json(server), 10,
                      what=f"ftpwho to list {n} session(s)")


def expect_kicked(ftp, timeout=10.0):
    """The session gets 421 and is closed. A command the client sent as the
    kick arrived may still be answered first, so keep asking (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            resp = ftp.sendcmd("NOOP")
        except ftplib.error_temp as exc:
            assert str(exc).startswith("421"), exc
            break
        except (EOFError, ConnectionError):
            break
        assert resp.startswith("200"), resp
        assert time.monotonic() < deadline, "the kicked session is still open"
        time.sleep(0.05)
    with pytest.raises((EOFError, ConnectionError, OSError, ftplib.Error)):
        ftp.sendcmd("NOOP")


def alive_untouched(ftp):
    assert ftp.sendcmd("NOOP").startswith("200")


# --------------------------------------------------------------------------
# status


def test_status_matches_ftpwho(server):
    sessions = [server.login(), server.login()]
    try:
        wait_sessions(server, 2)

        def agree():
            before = who_json(server)
            st = status_json(server)
            after = who_json(server)
            if before["server"] != after["server"] or \
                    len(before["connections"]) != len(after["connections"]):
                return False  # the pool moved meanwhile: read again
            idle = sum(w["idle"] for w in st["workers"])
            busy = sum(w["busy"] for w in st["workers"])
            ok = (st["sessions"] == len(after["connections"]) == 2 and
                  idle == after["server"]["idle_workers"] and busy == 2 and
                  st["generation"] == after["server"]["generation"])
            return (st, after) if ok else False
        st, who = wait_until(agree, 10, what="ftpdctl status and ftpwho to agree")
        assert st["running"] is True and st["state"] == "running"
        assert st["master_pid"] == server.master_pid == who["server"]["pid"]
        assert isinstance(st["uptime_s"], int) and st["uptime_s"] >= 0
        assert st["config_file"] == os.path.realpath(server.conf)
        assert st["shutdown"] is None
        assert st["pidfile"] == str(server.pidfile)
        assert st["scoreboard"] == str(server.scoreboard)
        for w in st["workers"]:
            assert set(w) >= {"generation", "idle", "busy"}, w

        r = ctl(server, "status")
        assert r.returncode == 0, r.stderr
        assert f"poolftpd is running: master PID {server.master_pid}" in r.stdout, r.stdout
        assert "sessions:" in r.stdout and os.path.realpath(server.conf) in r.stdout, r.stdout
    finally:
        for f in sessions:
            ftp_close(f)


def test_status_and_ftpwho_print_the_shutdown_in_one_shape(server_factory):
    """ftpshut's published state: ftpdctl status --json's "shutdown" and
    ftpwho --json's server.shutdown are the same object (tools::ShutdownJson);
    ftpwho adds its first keys ("time", "deny", "disconnect") with the same
    values."""
    s = server_factory()  # its ShutdownFile is s.shutmsg
    r = run_tool(BUILD / "ftpshut", "-c", s.conf, "-l", "5", "-d", "2", "+10", "maintenance")
    assert r.returncode == 0, r.stderr
    who = wait_until(lambda: (w := who_json(s))["server"]["shutdown"] and w, 15,
                     what="ftpwho to show the shutdown")
    st = status_json(s)
    shut, ctl_shut = who["server"]["shutdown"], st["shutdown"]
    keys = ["shutdown_time", "deny_time", "disconnect_time", "message"]
    assert list(ctl_shut) == keys, ctl_shut
    assert list(shut) == keys + ["time", "deny", "disconnect"], shut
    assert {k: shut[k] for k in keys} == ctl_shut
    assert (shut["time"], shut["deny"], shut["disconnect"]) == \
        (shut["shutdown_time"], shut["deny_time"], shut["disconnect_time"])
    assert shut["deny_time"] == shut["shutdown_time"] - 5 * 60
    assert shut["disconnect_time"] == shut["shutdown_time"] - 2 * 60
    assert shut["message"] == "maintenance"
    run_tool(BUILD / "ftpshut", "-c", s.conf, "-R")


@pytest.mark.skipif(not IS_ROOT, reason="needs root to compare callers")
def test_status_refuses_files_of_another_user(server, identity):
    if identity.name != "nobody":
        pytest.skip("the files belong to root here")
    # The files belong to nobody: root does not take their word for a PID.
    r = ctl(server, "status", as_root=True)
    assert r.returncode == 4, f"rc={r.returncode} {r.stdout} {r.stderr}"
    assert f"refusing PidFile {server.pidfile}" in r.stderr, r.stderr
    assert "owned by uid" in r.stderr
    r = ctl(server, "stop", as_root=True)
    assert r.returncode == 1 and "refusing PidFile" in r.stderr, r.stderr
    assert pid_alive(server.master_pid)


# --------------------------------------------------------------------------
# reload


def test_reload_bumps_generation(server_factory):
    s = server_factory()
    before = status_json(s)["generation"]
    r = ctl(s, "reload")
    assert r.returncode == 0, f"rc={r.returncode} {r.stdout} {r.stderr}"
    assert f"generation {before + 1}" in r.stdout, r.stdout
    assert status_json(s)["generation"] == before + 1
    wait_until(lambda: who_json(s)["server"]["generation"] == before + 1, 5,
               what="ftpwho to show the new generation")
    assert s.probe()

    # A broken configuration: no new generation, exit 1, still serving.
    good = s.config_text()
    s.write_config(good + "NoSuchDirective on\n")
    try:
        r = ctl(s, "reload", "--timeout", "2")
        assert r.returncode == 1, f"rc={r.returncode} {r.stdout} {r.stderr}"
        assert "did not start a new generation" in r.stderr, r.stderr
        # ftpdctl read the config with the server's parser: it names the line.
        assert f"{s.conf}:" in r.stderr and "NoSuchDirective" in r.stderr, r.stderr
        assert status_json(s)["generation"] == before + 1
        assert s.probe()
    finally:
        s.write_config(good)


# --------------------------------------------------------------------------
# kick


@pytest.mark.parametrize("how", ["user", "pid", "host", "user-positional"])
def test_kick_ends_only_the_matching_session(server, how):
    # The victim logs in as "ftp" from 127.0.0.2, the bystander as
    # "anonymous" from 127.0.0.1.
    bystander = server.login()
    victim = None
    try:
        victim = server.login(user="ftp" if how.startswith("user") else "anonymous",
                              src="127.0.0.2" if how == "host" else None)
        victim_pid = server.worker_for(victim.sock)
        bystander_pid = server.worker_for(bystander.sock)
        conn = wait_until(lambda: json_connection(who_json(server), victim_pid), 5,
                          what="the victim in ftpwho")
        if how.startswith("user"):
            assert conn["user"] == "ftp", conn
        args = {"user": ["kick", "--user", "ftp"],
                "user-positional": ["kick", "user", "ftp"],
                "pid": ["kick", "--pid", victim_pid],
                "host": ["kick", "--host", "127.0.0.2"]}[how]
        r = ctl(server, *args)
        assert r.returncode == 0, f"rc={r.returncode} {r.stdout} {r.stderr}"
        assert f"kicked the session of worker {victim_pid}" in r.stdout, r.stdout
        assert str(bystander_pid) not in r.stdout
        expect_kicked(victim)
        alive_untouched(bystander)
        wait_until(lambda: "Session terminated by the administrator" in server.syslog_text(), 5,
                   what="the kick in the SystemLog")
        # The worker stays in the pool: kick ends sessions, not workers.
        assert pid_alive(victim_pid)
    finally:
        ftp_close(bystander)
        if victim is not None:
            victim.close()


def test_kick_without_match_fails_and_is_harmless(server):
    # As pkill(1): nothing matched is exit 1, with the reason on stderr.
    f = server.login()
    try:
        wait_sessions(server, 1)
        r = ctl(server, "kick", "--user", "nobody-logged-in-as-this")
        assert r.returncode == 1, f"rc={r.returncode} {r.stdout} {r.stderr}"
        assert "no session matches" in r.stderr, r.stderr
        assert r.stdout == "", r.stdout
        r = ctl(server, "--json", "kick", "--user", "nobody-logged-in-as-this")
        assert r.returncode == 1, r.stderr
        out = json.loads(r.stdout)
        assert out["ok"] is False and out["signalled"] == [], out
        assert out["errors"] == ["no session matches"], out
        alive_untouched(f)
    finally:
        ftp_close(f)


# --------------------------------------------------------------------------
# kill, stop


def test_kill_workers_replaces_them(server_factory):
    s = server_factory()
    old = wait_until(lambda: len(s.children()) >= 2 and dict(s.children()), 10,
                     what="two workers")
    master_start = proc_stat(s.master_pid)[2]
    r = ctl(s, "--json", "kill", "--who", "workers")
    assert r.returncode == 0, f"rc={r.returncode} {r.stdout} {r.stderr}"
    out = json.loads(r.stdout)
    assert {d["pid"] for d in out["signalled"]} >= set(old), out
    assert all(d["role"] == "worker" for d in out["signalled"]), out
    assert out["signal"] == "TERM"
    wait_until(lambda: not any(pid_alive(p, st) for p, st in old.items()), 10,
               what="the old workers to exit")
    wait_until(lambda: set(s.children()) - set(old), 10, what="replacement workers")
    assert pid_alive(s.master_pid, master_start)
    assert s.probe()


def test_stop_then_status_says_not_running(server_factory):
    s = server_factory()
    master = s.master_pid
    r = ctl(s, "stop")
    assert r.returncode == 0, f"rc={r.returncode} {r.stdout} {r.stderr}"
    assert f"master {master} exited" in r.stdout, r.stdout
    s.popen.wait(timeout=10)
    assert not pid_alive(master)
    r = ctl(s, "status")
    assert r.returncode == 3, f"rc={r.returncode} {r.stdout} {r.stderr}"
    assert "not running" in r.stdout
    r = ctl(s, "--json", "status")
    assert r.returncode == 3
    assert json.loads(r.stdout)["running"] is False
    r = ctl(s, "reload")
    assert r.returncode == 1 and "not running" in r.stderr, r.stderr


# --------------------------------------------------------------------------
# forgeries


def _forge_slot(path, index, pid, user):
    with open(path, "r+b") as f:
        head = f.read(32)
        assert struct.unpack_from("<I", head, 8)[0] == SB_VERSION
        assert struct.unpack_from("<I", head, 12)[0] == HEADER_SIZE
        assert struct.unpack_from("<I", head, 16)[0] == SLOT_SIZE
        count = struct.unpack_from("<I", head, 20)[0]
        assert 0 <= index < count
        base = HEADER_SIZE + index * SLOT_SIZE
        f.seek(base)
        slot = bytearray(f.read(SLOT_SIZE))
        seq = struct.unpack_from("<I", slot, 0)[0]
        assert seq % 2 == 0, "slot being written"
        # Like every slot writer (FORMAT.md, "High-water mark"): readers scan
        # only below the header's slot_hwm, so raise it over the slot first.
        f.seek(704)
        hwm = struct.unpack("<I", f.read(4))[0]
        if hwm < index + 1:
            f.seek(704)
            f.write(struct.pack("<I", index + 1))
            f.flush()
        now = time.time_ns()
        for name, value in (("pid", pid), ("generation", 1), ("state", STATE_IDLE),
                            ("session_start_ns", now), ("last_activity_ns", now)):
            off, fmt = SLOT_FIELDS[name]
            struct.pack_into(fmt, slot, off, value)
        for name, value in (("user", user), ("client_addr", "127.0.0.1"),
                            ("server_addr", "127.0.0.1:21"), ("protocol", "ftp"), ("cwd", "/")):
            off, size = SLOT_TEXT[name]
            data = value.encode()[:size - 1]
            slot[off:off + size] = data + b"\0" * (size - len(data))
        # The seqlock writer's order: odd, the record, the next even value.
        f.seek(base)
        f.write(struct.pack("<I", seq + 1))
        f.flush()
        f.seek(base + 4)
        f.write(slot[4:])
        f.flush()
        f.seek(base)
        f.write(struct.pack("<I", seq + 2))
    return count


def _clear_slot(path, index):
    with open(path, "r+b") as f:
        base = HEADER_SIZE + index * SLOT_SIZE
        f.seek(base)
        seq = struct.unpack("<I", f.read(4))[0]
        f.seek(base)
        f.write(struct.pack("<I", seq + 1))
        f.flush()
        f.write(b"\0" * (SLOT_SIZE - 4))
        f.flush()
        f.seek(base)
        f.write(struct.pack("<I", seq + 2))


@pytest.fixture
def stranger():
    """An unrelated process (not poolftpd, not a child of the master)."""
    p = subprocess.Popen(["sleep", "60"], stdin=subprocess.DEVNULL)
    yield p
    p.kill()
    p.wait(timeout=5)


def test_forged_slot_is_never_signalled(server_factory, stranger):
    s = server_factory()
    old = wait_until(lambda: len(s.children()) >= 2 and dict(s.children()), 10,
                     what="two workers")
    with open(s.scoreboard, "rb") as f:
        count = struct.unpack_from("<I", f.read(32), 20)[0]
    index = count - 1  # the master fills slots from the bottom
    _forge_slot(s.scoreboard, index, stranger.pid, "forged")
    try:
        # The forgery is visible to readers...
        wait_until(lambda: json_connection(who_json(s), stranger.pid), 5,
                   what="ftpwho to show the forged slot")
        # ...but ftpdctl never signals it.
        for args in (["kick", "--pid", stranger.pid], ["kick", "--user", "forged"],
                     ["kill", "--who", "workers"],
                     ["kill", "--who", "all", "--signal", "CONT"]):
            r = ctl(s, *args)
            assert r.returncode == 1, f"{args}: rc={r.returncode} {r.stdout} {r.stderr}"
            assert f"refusing to signal PID {stranger.pid}" in r.stderr, r.stderr
            assert "is not a worker of master" in r.stderr, r.stderr
            assert stranger.poll() is None, f"{args} signalled the unrelated process"
        assert pid_alive(s.master_pid)
        # The real workers did get TERM and were replaced.
        wait_until(lambda: not any(pid_alive(p, st) for p, st in old.items()), 10,
                   what="the real workers to exit")
        wait_until(lambda: set(s.children()) - set(old), 10, what="replacement workers")
        assert s.probe()
    finally:
        _clear_slot(s.scoreboard, index)
    assert stranger.poll() is None


def test_forged_pidfile_is_refused(server_factory, stranger):
    s = server_factory()
    master = s.master_pid
    real = s.pidfile.read_text()
    forged = s.pidfile.with_name("forged.pid")
    forged.write_text(f"{stranger.pid}\n")
    os.chmod(forged, 0o644)
    os.replace(forged, s.pidfile)
    try:
        for args in (["stop"], ["reload"], ["graceful-stop"], ["reopen-logs"],
                     ["kill", "--signal", "KILL"], ["kill", "--who", "all"]):
            r = ctl(s, *args)
            assert r.returncode == 1, f"{args}: rc={r.returncode} {r.stdout} {r.stderr}"
            assert f"refusing to signal PID {stranger.pid}" in r.stderr, r.stderr
            assert stranger.poll() is None, f"{args} signalled the unrelated process"
        r = ctl(s, "status")
        assert r.returncode == 4, f"rc={r.returncode} {r.stdout} {r.stderr}"
        assert pid_alive(master)
        assert s.probe()
        # A PidFile anyone could have written is not read at all.
        os.chmod(s.pidfile, 0o666)
        r = ctl(s, "stop")
        assert r.returncode == 1 and "writable by group or others" in r.stderr, r.stderr
        r = ctl(s, "status")
        assert r.returncode == 4 and str(s.pidfile) in r.stderr, r.stderr
    finally:
        s.pidfile.write_text(real)
        os.chmod(s.pidfile, 0o644)
    assert stranger.poll() is None
    assert pid_alive(master)


def test_config_include_and_ifdefine(server):
    """PidFile and ScoreboardFile through Include and <IfDefine>, as the
    server reads them."""
    d = server.dir  # readable to the server's identity, which runs ftpdctl
    inc = d / "tools-paths.conf"
    inc.write_text(f"PidFile {server.pidfile}\nScoreboardFile {server.scoreboard}\n")
    conf = d / "tools.conf"
    conf.write_text(f'ServerName "tools"\nInclude {inc}\n<IfDefine BOGUS>\n'
                    f"PidFile {d / 'bogus.pid'}\n"
                    f"ScoreboardFile {d / 'bogus.sb'}\n</IfDefine>\n")
    for f in (inc, conf):
        os.chmod(f, 0o644)

    def run(*args):
        return subprocess.run(server.identity.prefix + [str(FTPDCTL)] + [str(a) for a in args],
                              capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL)
    r = run("-c", conf, "--json", "status")
    assert r.returncode == 0, f"rc={r.returncode} {r.stdout} {r.stderr}"
    assert json.loads(r.stdout)["master_pid"] == server.master_pid
    r = run("-c", conf, "-D", "BOGUS", "status")
    assert r.returncode == 3, f"rc={r.returncode} {r.stdout} {r.stderr}"
    conf.write_text('ServerName "tools"\n<IfDefine BOGUS>\n')
    r = run("-c", conf, "status")
    assert r.returncode != 0
    assert f"{conf}:2: " in r.stderr, r.stderr
