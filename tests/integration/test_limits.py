"""Connection limits and timeouts: MaxClients, MaxClientsPerHost, pool
growth and shrinkage, TimeoutLogin, TimeoutIdle, MaxLoginAttempts."""

import pytest

from helpers import Ctl, wait_until


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
