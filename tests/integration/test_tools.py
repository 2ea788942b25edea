"""ftpwho and ftpcount against a live, a stopped and a broken scoreboard."""

import json
import os
import re
import signal
import struct

import pytest

from helpers import (FTPCOUNT, FTPWHO, SlowDownload, ftp_close, json_connection, json_dicts,
                     kill_quietly, pid_alive, run_tool, wait_until)

PCT_RE = re.compile(r"\d{1,3}(\.\d+)?\s*%")


@pytest.fixture(autouse=True)
def _need_tools(tools):
    pass


@pytest.fixture
def downloading(server, huge):
    """A logged-in session with a slow RETR of the 200 MiB file running."""
    f = server.login()
    dl = None
    try:
        dl = SlowDownload(f, huge.huge_name)
        dl.read_some(512 * 1024)
        wpid = server.worker_for(f.sock)
        yield f, dl, wpid
    finally:
        if dl:
            dl.close()
        ftp_close(f)


def test_ftpwho_shows_running_download(server, identity, huge, downloading):
    _f, dl, wpid = downloading
    state = {}

    def shows_it():
        dl.read_some(16 * 1024)  # keep the transfer moving
        r = run_tool(FTPWHO, "-f", server.scoreboard)
        state["out"] = r
        if r.returncode != 0:
            return False
        for line in r.stdout.splitlines():
            if (re.search(rf"\b{wpid}\b", line) and "RETR" in line and huge.huge_name in line
                    and PCT_RE.search(line)
                    and any(re.search(rf"\b{re.escape(u)}\b", line) for u in identity.session_users)):
                return line
        return False
    try:
        wait_until(shows_it, 10, what="ftpwho to show the download")
    except AssertionError:
        r = state.get("out")
        pytest.fail(f"ftpwho never showed PID {wpid}, user, RETR {huge.huge_name} and a "
                    f"percentage on one line; last rc={r and r.returncode} "
                    f"stdout={r and r.stdout!r} stderr={r and r.stderr!r}")
    r = state["out"]
    assert str(server.master_pid) in r.stdout, f"master PID not shown: {r.stdout}"


@pytest.mark.parametrize("flag", [["--json"], ["-o", "json"]], ids=["--json", "-o json"])
def test_ftpwho_json(server, identity, downloading, flag):
    _f, dl, wpid = downloading
    state = {}

    def has_progress():
        dl.read_some(16 * 1024)
        r = run_tool(FTPWHO, "-f", server.scoreboard, *flag)
        assert r.returncode == 0, f"ftpwho {flag}: rc={r.returncode} {r.stderr}"
        data = json.loads(r.stdout)
        state["data"] = data
        conn = json_connection(data, wpid)
        return conn and (conn.get("transfer") or {}).get("bytes_done", 0) > 0 and conn
    try:
        conn = wait_until(has_progress, 10, what="ftpwho JSON with transfer progress")
    except AssertionError as exc:
        pytest.fail(f"{exc}; last JSON: {json.dumps(state.get('data'))[:2000]}")
    assert conn["user"] in identity.session_users, conn
    assert str(conn["command"]).upper().startswith("RETR"), conn
    assert conn["transfer"]["bytes_done"] >= 512 * 1024, conn


def _count_values(data):
    keys = ("session", "connection", "user", "count", "client", "active", "total")
    vals = []
    for d in json_dicts(data):
        for k, v in d.items():
            if isinstance(v, int) and not isinstance(v, bool) and any(x in k.lower() for x in keys):
                vals.append((k, v))
    return vals


def test_ftpcount(server):
    sessions = [server.login() for _ in range(3)]
    try:
        def counted():
            r = run_tool(FTPCOUNT, "-f", server.scoreboard)
            assert r.returncode == 0, f"ftpcount: rc={r.returncode} {r.stderr}"
            m = re.findall(r"(\d+)\s+users?\b", r.stdout)
            return r if m and int(m[-1]) == 3 else False
        wait_until(counted, 5, what="ftpcount to count 3 users")
        r = run_tool(FTPCOUNT, "-f", server.scoreboard, "--json")
        assert r.returncode == 0, r.stderr
        data = json.loads(r.stdout)
        assert any(v == 3 for _k, v in _count_values(data)), \
            f"no session count of 3 in ftpcount --json: {r.stdout}"
    finally:
        for f in sessions:
            ftp_close(f)


def test_ftpwho_without_sessions(server):
    def no_sessions():
        r = run_tool(FTPWHO, "-f", server.scoreboard, "--json")
        assert r.returncode == 0, r.stderr
        data = json.loads(r.stdout)
        return not any("user" in d for d in json_dicts(data))
    # Sessions of earlier tests may still be closing.
    wait_until(no_sessions, 5, what="ftpwho --json to list no session")


@pytest.mark.parametrize("tool", [FTPWHO, FTPCOUNT], ids=["ftpwho", "ftpcount"])
@pytest.mark.parametrize("json_flag", [[], ["--json"]], ids=["text", "json"])
def test_missing_scoreboard(tool, json_flag, tmp_path):
    missing = tmp_path / "no-such.scoreboard"
    r = run_tool(tool, "-f", missing, *json_flag)
    assert r.returncode > 0, f"rc={r.returncode}"
    assert str(missing) in r.stderr or "no such file" in r.stderr.lower(), r.stderr


@pytest.mark.parametrize("tool", [FTPWHO, FTPCOUNT], ids=["ftpwho", "ftpcount"])
@pytest.mark.parametrize("content", [b"", b"garbage" * 100, os.urandom(1 << 16)],
                         ids=["empty", "text", "random"])
def test_garbage_scoreboard(tool, content, tmp_path):
    bad = tmp_path / "bad.scoreboard"
    bad.write_bytes(content)
    r = run_tool(tool, "-f", bad)
    assert r.returncode > 0, f"rc={r.returncode} (negative = killed by a signal)"
    assert r.stderr.strip(), "no message for an invalid scoreboard"


def _assert_reports_stopped(s):
    for tool in (FTPWHO, FTPCOUNT):
        for flag in ([], ["--json"]):
            r = run_tool(tool, "-f", s.scoreboard, *flag)
            assert r.returncode > 0, f"{tool.name} {flag} on a stopped server: rc={r.returncode}"
            msg = (r.stderr + r.stdout).lower()
            if s.scoreboard.exists():
                assert "not running" in msg or "stale" in msg, \
                    f"{tool.name} {flag}: {r.stdout!r} {r.stderr!r}"
            else:
                assert r.stderr.strip()


def test_stale_after_term(server_factory):
    s = server_factory()
    assert run_tool(FTPWHO, "-f", s.scoreboard).returncode == 0
    problems = s.stop()
    assert not problems, problems
    _assert_reports_stopped(s)


def test_stale_after_master_killed(server_factory):
    s = server_factory()
    workers = wait_until(s.children, 5, what="workers")
    master = s.master_pid
    os.kill(master, signal.SIGKILL)
    s.popen.wait(timeout=5)
    try:
        # Idle workers notice the dead master and exit (PR_SET_PDEATHSIG).
        wait_until(lambda: not any(pid_alive(p, st) for p, st in workers.items()), 5,
                   what="idle workers to exit after the master died")
    finally:
        for p, st in workers.items():
            if pid_alive(p, st):
                kill_quietly(p)
    _assert_reports_stopped(s)


def _slot_mark(scoreboard):
    """(slot_hwm, features) from the scoreboard header (FORMAT.md offsets 704, 708)."""
    with open(scoreboard, "rb") as f:
        head = f.read(768)
    return struct.unpack_from("<II", head, 704)


def test_slots_stay_dense(server_factory):
    """The master gives each worker the lowest free slot, so after rounds of
    sessions (workers spawned and retired) the live slots stay at the bottom
    and the high-water mark ftpwho scans to stays near the peak worker count,
    far below the slot count."""
    s = server_factory(settings={"MaxClients": "200", "MaxSpareServers": "3"})
    wait_until(s.children, 5, what="workers")
    peak = 0
    for _round in range(3):
        sessions = [s.login() for _ in range(6)]
        try:
            peak = max(peak, len(s.children()))
            r = run_tool(FTPCOUNT, "-f", s.scoreboard)
            assert r.returncode == 0, r.stderr
        finally:
            for f in sessions:
                ftp_close(f)
        # Idle workers above MaxSpareServers retire; the next round respawns.
        wait_until(lambda: len(s.children()) <= 4, 10, what="extra idle workers to retire")
    hwm, features = _slot_mark(s.scoreboard)
    assert features & 1, f"features {features:#x}: no high-water mark"
    # Peak workers seen plus spawns racing the count; a round-robin choice
    # would have walked on by about 3 slots per round.
    assert 1 <= hwm <= peak + 3, f"slot_hwm {hwm} after a peak of {peak} workers"
    r = run_tool(FTPWHO, "-f", s.scoreboard, "-v")
    assert r.returncode == 0, r.stderr
    assert "203 slots" in r.stdout, r.stdout


def _tool_config(tmp_path, directive, real, bogus):
    """A config setting `directive` to `real` in an Included file and to
    `bogus` inside <IfDefine BOGUS> after the Include."""
    inc = tmp_path / "paths.conf"
    inc.write_text(f"{directive} {real}\n")
    conf = tmp_path / "tools.conf"
    conf.write_text(f'ServerName "tools"\nInclude {inc}\n'
                    f"<IfDefine BOGUS>\n{directive} {bogus}\n</IfDefine>\n")
    return conf


@pytest.mark.parametrize("tool", [FTPWHO, FTPCOUNT], ids=["ftpwho", "ftpcount"])
def test_config_include_and_ifdefine(server, tool, tmp_path):
    bogus = tmp_path / "bogus.scoreboard"
    conf = _tool_config(tmp_path, "ScoreboardFile", server.scoreboard, bogus)
    # The Included ScoreboardFile is found; the false <IfDefine> is ignored.
    r = run_tool(tool, "-c", conf, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)
    # -D BOGUS (and --define) makes the block true: its file is used.
    for flag in (["-D", "BOGUS"], ["--define", "BOGUS"], ["--define=BOGUS"]):
        r = run_tool(tool, "-c", conf, *flag)
        assert r.returncode == 1, f"{flag}: rc={r.returncode}"
        assert f"no scoreboard at {bogus}" in r.stderr, r.stderr
    r = run_tool(tool, "-c", conf, "-D", "OTHER")
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("tool", [FTPWHO, FTPCOUNT], ids=["ftpwho", "ftpcount"])
def test_broken_config_names_file_and_line(tool, tmp_path):
    conf = tmp_path / "broken.conf"
    conf.write_text('ServerName "x"\nScoreboardFile relative/path\n')
    r = run_tool(tool, "-c", conf)
    assert r.returncode == 1, f"rc={r.returncode}"
    assert r.stderr.startswith(f"{tool.name}: {conf}:2: "), r.stderr
    # -f does not read the config at all.
    r = run_tool(tool, "-c", conf, "-f", tmp_path / "none.sb")
    assert "no scoreboard at" in r.stderr, r.stderr
