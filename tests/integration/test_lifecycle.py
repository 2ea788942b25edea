"""Operations-level lifecycle: QUIT graceful stop with a long download,
GracefulStopTimeout, the master killed with SIGKILL, readiness over
$NOTIFY_SOCKET, and PidFile safety."""

import os
import signal
import socket
import subprocess
import time

import pytest

from helpers import (POOLFTPD, Ctl, SlowDownload, children_of, ftp_close, pid_alive, port_is_free,
                     wait_until)


def test_quit_lets_a_200mib_download_finish_intact(server_factory, huge):
    s = server_factory()
    f = s.login()
    dl = SlowDownload(f, huge.huge_name)
    try:
        dl.read_some(1 << 20)
        s.signal(signal.SIGQUIT)

        def refused():
            try:
                with Ctl(s.port, timeout=1) as n:
                    return n.reply()[0] != 220
            except (OSError, EOFError):
                return True
        wait_until(refused, 5, what="new connections refused after QUIT")
        assert pid_alive(s.master_pid)
        digest, size, resp = dl.finish()
        assert resp.startswith("226"), resp
        assert (digest, size) == (huge.huge_sha, huge.huge_size), "download damaged by the graceful stop"
        assert f.sendcmd("QUIT").startswith("221")
    finally:
        dl.close()
        try:
            f.close()
        except OSError:
            pass
    wait_until(lambda: not pid_alive(s.master_pid) and not s.pidfile.exists(), 10,
               what="the master to exit once the download's session ended")


def test_graceful_stop_timeout_ends_lingering_sessions(server_factory):
    s = server_factory(settings={"GracefulStopTimeout": 1})
    c = Ctl(s.port, read_greeting=True)
    try:
        c.login()
        s.signal(signal.SIGQUIT)
        code, text = c.reply()  # the server speaks first: 421 at the timeout
        assert code == 421, text
        c.wait_closed()
    finally:
        c.close()
    wait_until(lambda: not pid_alive(s.master_pid), 10, what="the master to exit after GracefulStopTimeout")
    assert "GracefulStopTimeout" in s.syslog_text()


def test_master_sigkill_leaves_no_worker_and_restart_binds(server_factory):
    s = server_factory()
    busy = Ctl(s.port, read_greeting=True)
    busy.login()
    workers = set(children_of(s.master_pid))
    assert workers
    os.kill(s.master_pid, signal.SIGKILL)
    try:
        # Busy sessions end with 421; idle workers go at once.
        code, _ = busy.reply()
        assert code == 421
    except (OSError, EOFError):
        pass
    finally:
        busy.close()
    wait_until(lambda: not any(pid_alive(p) for p in workers), 2.5,
               what="every worker to exit within 2 s of the master's SIGKILL")
    s.popen.wait(timeout=5)
    # A restart binds the same port at once.
    s.start()
    assert s.probe()


@pytest.fixture
def notify_socket(workbase):
    path = str(workbase / f"notify-{os.getpid()}-{time.monotonic_ns()}.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    os.chmod(path, 0o777)  # the unprivileged variant must reach it too
    sock.settimeout(10)
    yield path, sock
    sock.close()
    os.unlink(path)


def test_readiness_over_notify_socket(server_factory, notify_socket):
    path, sock = notify_socket
    os.environ["NOTIFY_SOCKET"] = path
    try:
        s = server_factory(start=False)
        s.start(wait=False)
    finally:
        del os.environ["NOTIFY_SOCKET"]
    msgs = []

    def until(word):
        while True:
            m = sock.recv(4096).decode()
            msgs.append(m)
            if word in m:
                return m
    ready = until("READY=1")
    assert s.probe(), "READY=1 came before the server listened"
    assert f"MAINPID={s.master_pid}" in ready
    s.signal(signal.SIGHUP)
    reloading = until("RELOADING=1")
    assert "MONOTONIC_USEC=" in reloading
    until("READY=1")
    s.signal(signal.SIGTERM)
    until("STOPPING=1")
    wait_until(lambda: not pid_alive(s.master_pid), 5, what="the master to stop")


def test_second_start_on_a_live_pidfile_is_refused(server_factory):
    s = server_factory()
    other = server_factory(start=False)
    other.pidfile = s.pidfile
    other.write_config(other.config_text().replace(str(other.run_dir / "poolftpd.pid"), str(s.pidfile)))
    out = subprocess.run(other.command(), capture_output=True, text=True, timeout=20)
    assert out.returncode != 0
    assert "already running" in out.stderr and str(s.master_pid) in out.stderr, out.stderr
    assert s.read_pidfile() == s.master_pid, "the live master's PidFile was touched"
    assert s.probe()


def test_stale_pidfile_is_replaced_with_a_log_line(server_factory):
    s = server_factory(start=False)
    # A PID that is surely not running.
    s.pidfile.write_text("4000000\n")
    s.start()
    assert s.read_pidfile() == s.master_pid
    assert "stale PidFile" in s.syslog_text()


def test_pidfile_directory_writable_by_others_is_refused(server_factory, identity):
    if not identity.privileged:
        pytest.skip("the check applies to a master started as root")
    s = server_factory(start=False)
    os.chmod(s.run_dir, 0o777)
    out = subprocess.run(s.command(), capture_output=True, text=True, timeout=20)
    assert out.returncode != 0
    assert "writable by group or others" in out.stderr, out.stderr
