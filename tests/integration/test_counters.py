"""The scoreboard header's counters as the tools show them: total_bytes moves
while a long download runs (not only when it ends), and the number of open
sessions matches the sessions connected, also after a worker was SIGKILLed
mid-session (scoreboard/FORMAT.md, "Counters")."""

import json
import struct
import subprocess

import pytest

from helpers import (BUILD, FTPCOUNT, FTPWHO, SlowDownload, ftp_close, json_dicts, kill_quietly,
                     open_data, pid_alive, run_tool, wait_until)

FTPDCTL = BUILD / "ftpdctl"
RESERVED1_OFFSET = 72  # the word that once was active_sessions (FORMAT.md)


@pytest.fixture(autouse=True)
def _need_tools(tools):
    pass


def who_json(server):
    r = run_tool(FTPWHO, "-f", server.scoreboard, "--json")
    assert r.returncode == 0, f"ftpwho: rc={r.returncode} {r.stderr}"
    return json.loads(r.stdout)


def total_bytes(server):
    return who_json(server)["server"]["total_bytes"]


def status_sessions(server):
    prefix = server.identity.prefix
    r = subprocess.run(prefix + [str(FTPDCTL), "-c", str(server.conf), "--json", "status"],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, f"ftpdctl status: rc={r.returncode} {r.stdout} {r.stderr}"
    return json.loads(r.stdout)["sessions"]


def counts(server):
    """(ftpdctl status sessions, ftpwho connections, ftpcount --json total)."""
    who = len(who_json(server)["connections"])
    r = run_tool(FTPCOUNT, "-f", server.scoreboard, "--json")
    assert r.returncode == 0, f"ftpcount: rc={r.returncode} {r.stderr}"
    data = json.loads(r.stdout)
    sessions = [v for d in json_dicts(data) for k, v in d.items()
                if k == "sessions" and isinstance(v, int)]
    return status_sessions(server), who, sessions


def agree(server, n):
    status, who, ftpcount = counts(server)
    return status == who == n and n in ftpcount


def test_total_bytes_grows_while_a_download_runs(server, huge):
    f = server.login()
    dl = None
    try:
        before = total_bytes(server)
        dl = SlowDownload(f, huge.huge_name)
        dl.read_some(512 * 1024)
        seen = [before]

        def grew_twice():
            dl.read_some(256 * 1024)  # let the worker complete sendfile steps
            t = total_bytes(server)
            if t > seen[-1]:
                seen.append(t)
            return len(seen) >= 3
        wait_until(grew_twice, 20, interval=0.05,
                   what="the header's total_bytes to grow twice during the download")
        assert dl.received < huge.huge_size, "the download ended before the check"
        assert seen[-1] - before <= dl.received + 16 * 1024 * 1024, \
            f"total_bytes ran ahead of the bytes sent: {seen}, client has {dl.received}"
        digest, received, resp = dl.finish()
        dl = None
        assert resp.startswith("226"), resp
        assert received == huge.huge_size
        # Every byte counted exactly once, none added again at the end.
        wait_until(lambda: total_bytes(server) - before == huge.huge_size, 5,
                   what=f"total_bytes to grow by exactly {huge.huge_size}")
    finally:
        if dl:
            dl.close()
        ftp_close(f)


def test_open_sessions_follow_the_slots_after_a_sigkill(server):
    first = server.login()
    victim = server.worker_for(first.sock)  # while it is the only session
    others = [server.login(), server.login()]
    try:
        wait_until(lambda: agree(server, 3), 10,
                   what="ftpdctl status, ftpwho and ftpcount to count 3 sessions")
        kill_quietly(victim)
        wait_until(lambda: not pid_alive(victim), 10, what=f"worker {victim} to die")
        state = {}

        def two():
            state["c"] = counts(server)
            return agree(server, 2)
        try:
            wait_until(two, 10, what="the counts to drop to 2 after the SIGKILL")
        except AssertionError as exc:
            pytest.fail(f"{exc}; last (status, ftpwho, ftpcount): {state.get('c')}")
        with open(server.scoreboard, "rb") as fh:
            fh.seek(RESERVED1_OFFSET)
            assert struct.unpack("<Q", fh.read(8))[0] == 0, "reserved header word not zero"
    finally:
        ftp_close(first)
        for f in others:
            ftp_close(f)
    wait_until(lambda: agree(server, 0), 10, what="no session counted after QUIT")


def test_a_resumed_download_shows_its_offset(server, huge):
    """REST then RETR: ftpwho shows where the download started and counts the
    skipped part as done (percent), as ProFTPD's ftpwho does."""
    offset = 8 * 1024 * 1024
    f = server.login()
    sock = None
    try:
        f.voidcmd("TYPE I")
        sock = open_data(f, "pasv", f"RETR {huge.huge_name}", rest=offset, rcvbuf=32768)
        sock.recv(65536)

        def transfer():
            for c in who_json(server)["connections"]:
                if c.get("transfer"):
                    return c["transfer"]
            return None
        t = wait_until(transfer, 10, what="ftpwho --json to show the transfer")
        assert t["offset"] == offset, t
        assert t["size"] == huge.huge_size, t
        assert t["percent"] >= offset * 100 // huge.huge_size, t
    finally:
        if sock:
            sock.close()
        ftp_close(f)
