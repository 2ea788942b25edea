"""The master killed with SIGKILL while downloads run (issue 11, found
today 5): its workers close their listener copies at once, so a new master
binds the same port while the old downloads still run; those downloads end
intact (226, same SHA-256), then their sessions end with 421; a session
between commands gets the 421 at once; the orphans never show in the new
master's scoreboard, and every one of them exits after its session."""

import ftplib
import json
import os
import signal
import socket

import pytest

from helpers import (FTPWHO, Ctl, SlowDownload, json_pids, pid_alive, run_tool, sha256, wait_until)

RESTART_TEXT = "server restarting"


def bindable(port):
    """Whether a listener could bind the port now, as poolftpd's does
    (SO_REUSEADDR: the old sessions' connections do not count, a listening
    socket does)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_master_sigkill_frees_the_port_while_downloads_run(server_factory, tree):
    s = server_factory(settings={"StartServers": 4, "MinSpareServers": 2, "MaxSpareServers": 6})
    name = "big10m.bin"
    want = (sha256(tree.files[name]), len(tree.files[name]))
    downloads = []
    idle = None
    try:
        for _ in range(3):
            f = s.login()
            dl = SlowDownload(f, name)
            # Well short of the end: more than the socket buffers hold is left.
            dl.read_some(1 << 20)
            downloads.append((f, dl, s.worker_for(f.sock)))
        idle = Ctl(s.port, read_greeting=True)
        idle.login()
        idle_worker = s.worker_for(idle.sock)
        old_workers = set(s.children())
        assert {w for _, _, w in downloads} | {idle_worker} <= old_workers

        os.kill(s.master_pid, signal.SIGKILL)
        s.popen.wait(timeout=5)
        wait_until(lambda: bindable(s.port), 5, what="the port to be free after the master's SIGKILL")
        # Free while the old downloads still run: their workers are alive,
        # in the middle of the file.
        busy = [w for _, _, w in downloads if pid_alive(w)]
        assert len(busy) == 3, "a download's worker was gone by the time the port was free"

        # The session between commands is told at once.
        code, text = idle.reply()
        assert code == 421 and RESTART_TEXT in text, text
        wait_until(lambda: not pid_alive(idle_worker), 5, what="the idle session's worker to exit")

        # A new master starts on the same configuration and port.
        s.start()
        assert s.probe()
        new_workers = set(s.children())

        for f, dl, worker in downloads:
            digest, size, resp = dl.finish()
            assert resp.startswith("226"), resp
            assert (digest, size) == want, "a download was damaged by the master's death"
            # Then the session ends.
            with pytest.raises(ftplib.error_temp, match=RESTART_TEXT):
                f.getresp()
            wait_until(lambda: not pid_alive(worker), 5, what=f"worker {worker} to exit after its session")
        # Every worker of the old master is gone, and none ever appeared in
        # the new master's scoreboard.
        wait_until(lambda: not any(pid_alive(p) for p in old_workers), 5,
                   what="every worker of the killed master to exit")
        r = run_tool(FTPWHO, "-f", s.scoreboard, "--json")
        assert r.returncode == 0, r.stderr
        assert not (json_pids(json.loads(r.stdout)) & old_workers), r.stdout
        assert not (old_workers & new_workers)
        # The workers said why in the SystemLog (the log file is shared).
        lines = [l for l in s.syslog_text().splitlines() if "is gone: listeners closed" in l]
        assert sum("the running transfer is finished" in l for l in lines) == 3, lines
        assert s.probe()
    finally:
        for f, dl, _ in downloads:
            dl.close()
            try:
                f.close()
            except OSError:
                pass
        if idle is not None:
            idle.close()


def test_forged_master_gone_signal_is_ignored(server_factory):
    """The death signal is only a wake-up: sent by someone else while the
    master lives, it changes nothing."""
    s = server_factory()
    c = Ctl(s.port, read_greeting=True)
    try:
        c.login()
        worker = s.worker_for(c.sock)
        os.kill(worker, signal.SIGRTMIN + 2)
        assert c.cmd("NOOP")[0] == 200
        assert pid_alive(worker)
        assert s.probe()
        assert "is gone: listeners closed" not in s.syslog_text()
    finally:
        c.close()
