"""Lifecycle signals: HUP reload during a long download, HUP with a broken
config, TERM, a worker killed with SIGKILL, signals sent to a worker, USR1."""

import ftplib
import json
import os
import signal

import pytest

from helpers import (FTPWHO, Ctl, SlowDownload, ftp_close, json_dicts, json_pids, pid_alive, proc_stat,
                     retr, run_tool, wait_until)


def test_hup_keeps_running_download_and_reloads(server_factory, huge):
    s = server_factory()
    f = s.login()
    dl = SlowDownload(f, huge.huge_name)
    try:
        dl.read_some(1 << 20)
        wpid = s.worker_for(f.sock)
        wstart = proc_stat(wpid)[2]
        s.ident = "Reloaded ident text"
        s.write_config()
        s.signal(signal.SIGHUP)

        def new_ident():
            dl.read_some(8 * 1024)  # the download keeps crawling meanwhile
            code, text = s.greeting()
            return code == 220 and "Reloaded ident text" in text
        wait_until(new_ident, 15, what="a new session to see the reloaded ServerIdent")
        assert pid_alive(wpid, wstart), "the busy worker was killed by the reload"
        assert dl.received < huge.huge_size, "download finished before the reload was seen"
        digest, size, resp = dl.finish()
        assert resp.startswith("226"), resp
        assert size == huge.huge_size
        assert digest == huge.huge_sha, "download corrupted across HUP"
        assert f.sendcmd("NOOP").startswith("200")
    finally:
        dl.close()
        ftp_close(f)
    # The new generation logs in and transfers.
    g = s.login()
    try:
        assert retr(g, "small.txt") == huge.files["small.txt"]
    finally:
        ftp_close(g)


def test_hup_replaces_idle_workers(server_factory):
    s = server_factory(settings={"StartServers": "2", "MinSpareServers": "2",
                                 "MaxSpareServers": "4"})
    before = wait_until(lambda: len(s.children()) >= 2 and s.children(), 5,
                        what="two idle workers")
    s.signal(signal.SIGHUP)
    wait_until(lambda: not any(pid_alive(p, st) for p, st in before.items()), 10,
               what="old idle workers to exit after HUP")
    wait_until(lambda: len(s.children()) >= 2, 10, what="a new pool after HUP")
    assert s.probe()


def test_hup_with_broken_config_keeps_serving(server_factory):
    s = server_factory()
    master = s.master_pid
    text = s.config_text() + "Bogus directive\n"
    line = text.splitlines().index("Bogus directive") + 1
    s.write_config(text)
    s.signal(signal.SIGHUP)
    wait_until(lambda: f"{s.conf}:{line}:" in s.syslog_text(), 10,
               what=f"SystemLog to report {s.conf}:{line}:")
    logline = next(l for l in s.syslog_text().splitlines() if f"{s.conf}:{line}:" in l)
    assert logline.split(f"{s.conf}:{line}:", 1)[1].strip(), f"no reason in {logline!r}"
    assert pid_alive(master), "master died on a broken reload"
    code, greeting = s.greeting()
    assert code == 220 and "Test server ready" in greeting
    f = s.login()
    try:
        assert f.sendcmd("NOOP").startswith("200")
    finally:
        ftp_close(f)
    # A fixed config is picked up by the next HUP.
    s.ident = "Fixed ident"
    s.write_config()
    s.signal(signal.SIGHUP)
    wait_until(lambda: "Fixed ident" in s.greeting()[1], 10, what="the fixed config")


def test_term_stops_everything(server_factory):
    s = server_factory()
    session = Ctl(s.port, read_greeting=True)
    session.login()
    try:
        wait_until(lambda: len(s.children()) >= 2, 5, what="workers")
        pids = {s.master_pid: proc_stat(s.master_pid)[2]}
        pids.update(s.children())
        assert s.read_pidfile() == s.master_pid
        s.signal(signal.SIGTERM)
        wait_until(lambda: not any(pid_alive(p, st) for p, st in pids.items())
                   and not s.pidfile.exists(), 5,
                   what="every server process to exit and the PidFile to go")
        assert s.popen.wait(timeout=5) == 0, "master exit status after TERM"
        replies = session.wait_closed(5)
        assert all(code == 421 for code, _ in replies), replies
    finally:
        session.close()


def test_killed_worker_is_replaced(server_factory):
    s = server_factory(settings={"StartServers": "2", "MinSpareServers": "2",
                                 "MaxSpareServers": "4"})
    f = s.login()
    wpid = s.worker_for(f.sock)
    wait_until(lambda: any(d.get("pid") == wpid for d in _who(s)), 5,
               what="ftpwho to list the session")
    os.kill(wpid, signal.SIGKILL)
    answered = True
    try:
        f.sendcmd("NOOP")
    except (OSError, EOFError, ftplib.Error):
        answered = False
    ftp_close(f)
    assert not answered, "the killed worker's session still answered"
    wait_until(lambda: wpid not in s.children() and len(s.children()) >= 2, 10,
               what="the pool to be back at MinSpareServers")
    g = s.login()
    try:
        assert g.sendcmd("NOOP").startswith("200")
    finally:
        ftp_close(g)
    wait_until(lambda: wpid not in json_pids(_who_raw(s)), 5,
               what=f"the slot of dead worker {wpid} to leave ftpwho --json")


def _who_raw(s):
    r = run_tool(FTPWHO, "-f", s.scoreboard, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _who(s):
    return list(json_dicts(_who_raw(s)))


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGQUIT], ids=["HUP", "QUIT"])
def test_hup_or_quit_sent_to_a_worker_is_ignored(server_factory, sig):
    s = server_factory()
    f = s.login()
    try:
        wpid = s.worker_for(f.sock)
        wstart = proc_stat(wpid)[2]
        os.kill(wpid, sig)
        assert f.sendcmd("NOOP").startswith("200")
        assert pid_alive(wpid, wstart)
        assert f.pwd() == "/"
    finally:
        ftp_close(f)


def test_usr1_reopens_logs(server_factory):
    s = server_factory()
    assert s.probe()
    wait_until(lambda: s.syslog.exists() and s.syslog.stat().st_size > 0, 5,
               what="SystemLog to be written")
    rotated = s.syslog.with_suffix(".1")
    os.rename(s.syslog, rotated)
    s.signal(signal.SIGUSR1)

    def new_log_written():
        s.probe()
        return s.syslog.exists() and s.syslog.stat().st_size > 0
    wait_until(new_log_written, 10, what="a new SystemLog after USR1")
    assert pid_alive(s.master_pid)


def test_term_cuts_running_transfer(server_factory, huge):
    s = server_factory()
    f = s.login()
    dl = SlowDownload(f, huge.huge_name)
    try:
        dl.read_some(1 << 20)
        pids = {s.master_pid: proc_stat(s.master_pid)[2]}
        pids.update(s.children())
        s.signal(signal.SIGTERM)
        wait_until(lambda: not any(pid_alive(p, st) for p, st in pids.items())
                   and not s.pidfile.exists(), 5,
                   what="every server process to exit and the PidFile to go")
        # The client sees the end: the data connection closes short, the
        # control connection gets 421/426 or just closes.
        f.sock.settimeout(5)
        replies = []
        try:
            while True:
                line = f.getline()
                if not line:
                    break
                replies.append(line)
        except (OSError, EOFError):
            pass
        assert all(r[:3] in ("421", "426", "451") or not r[:3].isdigit() for r in replies), replies
        dl.read_some(huge.huge_size)
        assert dl.received < huge.huge_size
    finally:
        dl.close()
        f.close()


def test_quit_signal_stops_gracefully(server_factory):
    s = server_factory()
    c = Ctl(s.port, read_greeting=True)
    try:
        c.login()
        wait_until(lambda: s.children(), 5, what="workers")
        s.signal(signal.SIGQUIT)

        def refuses_new():
            # Refused, told 421, or simply never served (a busy worker may
            # still hold the inherited listener): anything but a 220.
            try:
                with Ctl(s.port, timeout=1) as n:
                    code, _ = n.reply()
                    return code != 220
            except (OSError, EOFError):
                return True
        wait_until(refuses_new, 5, what="new connections not to be served after QUIT")
        # The running session is not cut.
        assert c.cmd("NOOP")[0] == 200
        assert c.cmd("PWD")[0] == 257
        assert pid_alive(s.master_pid)
        assert c.cmd("QUIT")[0] == 221
        c.wait_closed()
        wait_until(lambda: not pid_alive(s.master_pid) and not s.pidfile.exists(), 5,
                   what="the master to exit once the last session ended")
    finally:
        c.close()
