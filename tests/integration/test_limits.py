"""Connection limits and timeouts: MaxClients, MaxClientsPerHost, pool
growth and shrinkage, TimeoutLogin, TimeoutIdle, MaxLoginAttempts; and what
happens at each resource cap (README, "Limits"): the PassivePorts range
exhausted, a data listener nobody connects to, 10,000 idle control
connections, a 1 MB command line. Each ends with an RFC reply code and a
SystemLog line, and other sessions go on unaffected."""

import ftplib
import json
import os
import resource
import selectors
import socket
import time

import pytest

from helpers import (FTPCOUNT, FTPWHO, IS_ROOT, Ctl, ftp_close, json_dicts, parse_epsv, parse_pasv,
                     pick_pasv_range, port_is_free, retr, run_tool, sha256, wait_until)


def open_session(port, src=None):
    """A logged-in raw session, or ("refused", code, text) when the server
    answers 421 at any point before the login completes."""
    c = Ctl(port, src=src)
    try:
        code, text = c.reply()
        if code == 421:
            c.close()
            return ("refused", code, text)
        assert code == 220, text
        code, text = c.cmd("USER anonymous")
        if code == 421:
            c.close()
            return ("refused", code, text)
        assert code == 331, text
        code, text = c.cmd("PASS x@example.com")
        if code == 421:
            c.close()
            return ("refused", code, text)
        assert code == 230, text
        return c
    except (EOFError, ConnectionResetError):
        c.close()
        return ("closed", None, "")
    except BaseException:
        c.close()
        raise


def accepted_session(port, src=None, timeout=10):
    """Retries until a session is accepted (earlier sessions may still be
    winding down) and returns it."""
    def attempt():
        r = open_session(port, src)
        return r if isinstance(r, Ctl) else None
    return wait_until(attempt, timeout, interval=0.1, what="an accepted session")


def log_lines(s, fragment):
    return [l for l in s.syslog_text().splitlines() if fragment in l]


def test_max_clients(server_factory):
    s = server_factory(settings={"MaxClients": "2", "StartServers": "1", "MinSpareServers": "1",
                                 "MaxSpareServers": "1"})
    first = accepted_session(s.port)
    second = accepted_session(s.port)
    try:
        third = open_session(s.port)
        if isinstance(third, Ctl):
            third.close()
            pytest.fail("a third session was accepted with MaxClients 2")
        assert third[0] == "refused" and third[1] == 421, third
        assert "maximum number of clients (2)" in third[2], third
        wait_until(lambda: log_lines(s, "Connection refused (MaxClients 2)"), 10,
                   what="the MaxClients refusal in the SystemLog")
        assert all("127.0.0.1" in l for l in log_lines(s, "Connection refused (MaxClients 2)"))
        assert first.cmd("NOOP")[0] == 200 and second.cmd("NOOP")[0] == 200
        first.cmd("QUIT")
        first.close()
        again = accepted_session(s.port)
        again.close()
    finally:
        first.close()
        second.close()


def test_max_clients_per_host(server_factory):
    s = server_factory(settings={"MaxClientsPerHost": "1"})
    first = accepted_session(s.port)
    try:
        second = open_session(s.port)
        if isinstance(second, Ctl):
            second.close()
            pytest.fail("a second session from 127.0.0.1 was accepted with MaxClientsPerHost 1")
        assert second[0] == "refused" and second[1] == 421, second
        assert "maximum number of clients (1) from your host" in second[2], second
        wait_until(lambda: log_lines(s, "Connection refused (MaxClientsPerHost 1)"), 10,
                   what="the MaxClientsPerHost refusal in the SystemLog")
        other = open_session(s.port, src="127.0.0.2")
        assert isinstance(other, Ctl), f"127.0.0.2 was refused: {other}"
        assert other.cmd("NOOP")[0] == 200
        other.close()
        assert first.cmd("NOOP")[0] == 200
    finally:
        first.close()


def test_pool_grows_and_shrinks(server_factory):
    s = server_factory(settings={"MaxClientsPerHost": None, "StartServers": "2",
                                 "MinSpareServers": "1", "MaxSpareServers": "3"})
    sessions = []
    try:
        for _ in range(12):
            r = open_session(s.port)
            assert isinstance(r, Ctl), f"session {len(sessions) + 1} of 12 refused: {r}"
            sessions.append(r)
        for c in sessions:
            assert c.cmd("NOOP")[0] == 200
        assert len(s.children()) >= 12
    finally:
        for c in sessions:
            c.close()
    wait_until(lambda: len(s.children()) <= 3, 20,
               what="the pool to shrink to MaxSpareServers once idle")
    assert s.probe()


def test_timeout_login(server_factory):
    s = server_factory(settings={"TimeoutLogin": "1"})
    with Ctl(s.port, read_greeting=True) as c:
        assert c.greeting[0] == 220
        replies = c.wait_closed(10)
        assert replies and replies[-1][0] == 421, replies
    assert s.probe()


def test_timeout_login_after_user_command(server_factory):
    s = server_factory(settings={"TimeoutLogin": "1"})
    with Ctl(s.port, read_greeting=True) as c:
        c.cmd("USER bob")
        replies = c.wait_closed(10)
        assert replies and replies[-1][0] == 421, replies


def test_timeout_idle(server_factory):
    s = server_factory(settings={"TimeoutIdle": "1"})
    with Ctl(s.port, read_greeting=True) as c:
        c.login()
        assert c.cmd("NOOP")[0] == 200
        replies = c.wait_closed(10)
        assert replies and replies[-1][0] == 421, replies
    assert s.probe()


def test_max_login_attempts_configured(server_factory):
    s = server_factory(settings={"MaxLoginAttempts": "2"})
    with Ctl(s.port, read_greeting=True) as c:
        for _ in range(2):
            assert c.cmd("USER bob")[0] == 331
            assert c.cmd("PASS nope")[0] == 530
        replies = c.wait_closed(5)
        assert all(code >= 400 for code, _ in replies), replies
    assert s.probe()


# ---- PassivePorts: one listener per session, exhaustion, recovery ----------

def passive_server(server_factory, ports, settings=None):
    """A started server whose PassivePorts range holds `ports` ports."""
    s = server_factory(start=False, settings=settings)
    s.pasv = pick_pasv_range(width=ports - 1)
    s.write_config()
    s.start()
    return s


def test_pasv_after_pasv_keeps_one_port(server_factory, tree):
    """Each new PASV/EPSV of a session releases its previous listener: with a
    one-port range, ten PASVs in a row all get that port, and the last one
    carries a download."""
    s = passive_server(server_factory, 1)
    port = s.pasv[0]
    f = s.login()
    try:
        for i in range(10):
            resp = f.sendcmd("PASV")
            assert parse_pasv(resp)[1] == port, f"PASV {i + 1}: {resp}"
        assert parse_epsv(f.sendcmd("EPSV")) == port
        assert retr(f, "random1m.bin") == tree.files["random1m.bin"]
    finally:
        ftp_close(f)
    # The port is free again for the next session.
    g = wait_until(lambda: s.login(), 10, what="a new session")
    try:
        assert retr(g, "small.txt") == tree.files["small.txt"]
    finally:
        ftp_close(g)


def test_passive_range_exhausted_then_recovers(server_factory, tree):
    """Three sessions hold the three ports of the range: a fourth gets 425
    for PASV and EPSV with a SystemLog line naming the range, goes on (active
    mode still downloads), and gets a port as soon as a holder leaves."""
    s = passive_server(server_factory, 3)
    lo, hi = s.pasv
    holders = [s.login() for _ in range(3)]
    late = s.login()
    try:
        got = {parse_pasv(h.sendcmd("PASV"))[1] for h in holders}
        assert got == set(range(lo, hi + 1)), got
        for verb in ("PASV", "EPSV"):
            with pytest.raises(ftplib.error_temp) as e:
                late.sendcmd(verb)
            assert str(e.value).startswith("425 "), e.value
            want = f"{verb}: no free port in the passive port range {lo}-{hi} (3 ports, all in use)"
            wait_until(lambda: log_lines(s, want), 10, what=f"the {verb} refusal in the SystemLog")
        # Nothing else is affected: the late session downloads in active mode,
        # a holder through its own (re-made) listener.
        assert late.sendcmd("NOOP").startswith("200")
        assert retr(late, "small.txt", mode="port") == tree.files["small.txt"]
        assert retr(holders[1], "sub/b.bin") == tree.files["sub/b.bin"]
        ftp_close(holders.pop(0))
        resp = wait_until(lambda: late.sendcmd("PASV"), 10, what="PASV to work once a holder left")
        assert lo <= parse_pasv(resp)[1] <= hi
        assert retr(late, "random1m.bin") == tree.files["random1m.bin"]
    finally:
        for f in holders + [late]:
            ftp_close(f)


# ---- data listeners nobody connects to (data timeout) ----------------------

def refuses_connections(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=3).close()
    except ConnectionRefusedError:
        return True
    return False


def test_unused_passive_listener_closes_after_the_data_timeout(server_factory, tree):
    """PASV or EPSV and then no transfer command: the listener closes after
    the data timeout (TimeoutStalled, at most 30 s) with a SystemLog line and
    no reply (none is owed); the next transfer needs a new PASV (425)."""
    s = server_factory(settings={"TimeoutStalled": "1"})
    f = s.login()
    other = s.login()
    try:
        for verb in ("PASV", "EPSV"):
            resp = f.sendcmd(verb)
            port = parse_pasv(resp)[1] if verb == "PASV" else parse_epsv(resp)
            assert not port_is_free(port), f"{verb} port {port} is not listening"
            wait_until(lambda: port_is_free(port), 10, what=f"the unused {verb} listener to close")
            assert refuses_connections(port)
            want = f"no transfer command within 1 seconds; passive port {port} closed"
            wait_until(lambda: log_lines(s, want), 10, what="the closed listener in the SystemLog")
            # No unsolicited reply came: the next reply is the NOOP's.
            assert f.sendcmd("NOOP").startswith("200")
            with pytest.raises(ftplib.error_temp) as e:
                f.sendcmd("RETR small.txt")
            assert str(e.value).startswith("425 ") and "PASV" in str(e.value), e.value
        # The session and the others go on.
        assert retr(f, "small.txt") == tree.files["small.txt"]
        assert retr(other, "random1m.bin") == tree.files["random1m.bin"]
    finally:
        ftp_close(f)
        ftp_close(other)


def test_transfer_waiting_for_a_passive_connection_times_out(server_factory, tree):
    """RETR after PASV, and the client never connects: 150, then 425 after
    the data timeout with a SystemLog line; the port is closed and the
    session goes on."""
    s = server_factory(settings={"TimeoutStalled": "1"})
    other = s.login()
    try:
        with Ctl(s.port, read_greeting=True) as c:
            c.login()
            code, text = c.cmd("PASV")
            assert code == 227, text
            port = parse_pasv(text)[1]
            code, text = c.cmd("RETR small.txt")
            assert code == 150, text
            code, text = c.reply()  # within the client's 10 s timeout
            assert code == 425 and "timed out" in text, text
            assert refuses_connections(port)
            wait_until(lambda: log_lines(s, "Data connection timeout: the client did not connect "
                                            "within 1 seconds; passive listener closed"),
                       10, what="the data timeout in the SystemLog")
            assert c.cmd("NOOP")[0] == 200
        assert retr(other, "random1m.bin") == tree.files["random1m.bin"]
    finally:
        ftp_close(other)
    assert s.probe()


# ---- a 1 MB command line --------------------------------------------------

def test_megabyte_line_without_newline(server_factory, tree):
    """1 MiB without a line end, before and after login: 500 as soon as the
    line passes 4096 bytes (RFC 959: "command line too long" is a 500), a
    SystemLog line; the rest of the line up to its LF is dropped and the
    session goes on; other sessions are unaffected."""
    s = server_factory()
    other = s.login()
    try:
        for logged_in in (False, True):
            with Ctl(s.port, read_greeting=True) as c:
                if logged_in:
                    c.login()
                before = len(log_lines(s, "command line too long (over 4096 bytes), discarded"))
                c.send(b"A" * (1 << 20))
                code, text = c.reply()  # no LF sent: the reply must not wait for one
                assert code == 500 and "too long" in text, text
                wait_until(lambda: len(log_lines(s, "command line too long (over 4096 bytes), "
                                                    "discarded")) == before + 1,
                           10, what="the overlong line in the SystemLog")
                assert retr(other, "small.txt") == tree.files["small.txt"]
                # The line ends later: nothing more is answered for it.
                c.send(b"B" * 1000 + b"\r\n")
                assert c.cmd("SYST")[0] == 215
                if not logged_in:
                    c.login()
                assert c.cmd("PWD")[0] == 257
    finally:
        ftp_close(other)
    assert s.probe()


# ---- 10,000 control connections that never send anything -----------------

FLOOD = 10_000


def raise_nofile(need):
    """Raises this process's RLIMIT_NOFILE to `need`; returns the old limits."""
    old = resource.getrlimit(resource.RLIMIT_NOFILE)
    soft, hard = old
    if soft >= need:
        return old
    if hard < need and not IS_ROOT:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {need} and not root")
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, max(hard, need)))
    return old


def silent_flood(port, n, timeout=180.0, connecting=256):
    """Opens `n` connections that never send a byte (at most `connecting`
    handshakes in flight) and reads each until the server closes it; all
    stay open on this side until the end. Returns the bytes each received
    and the number the server had not closed by the deadline."""
    sel = selectors.DefaultSelector()
    done = []
    closed = []  # ended by the server, kept open here until all are done
    started = in_flight = 0
    deadline = time.monotonic() + timeout
    try:
        while (started < n or sel.get_map()) and time.monotonic() < deadline:
            while started < n and in_flight < connecting:
                sock = socket.socket()
                sock.setblocking(False)
                sock.connect_ex(("127.0.0.1", port))
                sel.register(sock, selectors.EVENT_WRITE, [bytearray(), False])
                started += 1
                in_flight += 1
            for key, _ in sel.select(timeout=0.5):
                sock, (buf, connected) = key.fileobj, key.data
                if not connected:
                    in_flight -= 1
                    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        done.append(f"<connect error {err}>".encode())
                        sel.unregister(sock)
                        closed.append(sock)
                    else:
                        key.data[1] = True
                        sel.modify(sock, selectors.EVENT_READ, key.data)
                    continue
                try:
                    chunk = sock.recv(4096)
                except ConnectionResetError:
                    chunk = None
                if chunk:
                    buf += chunk
                    continue
                done.append(bytes(buf) + (b"<reset>" if chunk is None else b""))
                sel.unregister(sock)
                closed.append(sock)
        left = len(sel.get_map())
    finally:
        for key in list(sel.get_map().values()):
            key.fileobj.close()
        sel.close()
        for sock in closed:
            sock.close()
    return done, left


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_ten_thousand_silent_connections(server_factory, tree):
    """10,000 connections that never send anything, MaxClients 50: the ones
    a worker serves are greeted and closed with 421 after TimeoutLogin, each
    with a SystemLog line; the master answers the rest with 421 itself, each
    logged too. Afterwards a client logs in and downloads intact, the
    master's fd count is back where it started and no slot is left over."""
    s = server_factory(settings={"MaxClients": "50", "MaxClientsPerHost": None,
                                 "StartServers": "5", "MinSpareServers": "5",
                                 "MaxSpareServers": "10", "TimeoutLogin": "1"})
    master = s.master_pid
    wait_until(lambda: len(s.children()) >= 5, 15, what="the initial pool")
    fds_before = fd_count(master)
    old = raise_nofile(FLOOD + 1024)
    try:
        got, left = silent_flood(s.port, FLOOD)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, old)
    assert left == 0 and len(got) == FLOOD, f"{left} connections still open, {len(got)} closed"
    served = refused = 0
    odd = []
    for data in got:
        lines = data.decode("utf-8", "replace").split("\r\n")
        if lines and lines[-1] == "":
            lines.pop()
        if len(lines) == 2 and lines[0].startswith("220 ") and \
                lines[1] == "421 Login timeout (1 seconds): closing control connection":
            served += 1
        elif len(lines) == 1 and lines[0].startswith("421 Sorry, the maximum number of clients (50)"):
            refused += 1
        else:
            odd.append(data[:300])
    assert not odd, f"{len(odd)} connections ended otherwise, e.g. {odd[:3]}"
    assert served >= 50 and refused > 0, (served, refused)
    assert len(log_lines(s, "Login timeout (1 seconds), disconnected")) == served
    assert len(log_lines(s, "Connection refused (MaxClients 50)")) == refused
    # A normal client is served as before.
    f = wait_until(lambda: s.login(), 15, what="a login after the flood")
    try:
        assert sha256(retr(f, "big10m.bin")) == sha256(tree.files["big10m.bin"])
    finally:
        ftp_close(f)
    wait_until(lambda: fd_count(master) == fds_before, 15,
               what=f"the master's fd count to return to {fds_before}")

    def no_stale_slot():
        r = run_tool(FTPWHO, "-f", s.scoreboard, "--json")
        assert r.returncode == 0, r.stderr
        listed = [d for d in json_dicts(json.loads(r.stdout))
                  if "user" in d and isinstance(d.get("pid"), int)]
        c = run_tool(FTPCOUNT, "-f", s.scoreboard, "--json")
        assert c.returncode == 0, c.stderr
        return not listed and json.loads(c.stdout)["sessions"] == 0
    wait_until(no_stale_slot, 15, what="ftpwho and ftpcount to show no session left")
