"""Protocol nits of issue 9 item 8, with real clients: OPTS UTF8 before
login, PORT/EPRT to a closed port (425 before any 150), SITE HELP and the
SITE dispatcher, HELP's stars for unimplemented verbs."""

import ftplib
import socket

import pytest

from helpers import Ctl, ftp_close, ftp_open


def closed_port():
    """A loopback port with nothing listening on it."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_opts_utf8_before_login(server):
    with Ctl(server.port, read_greeting=True) as c:
        code, text = c.cmd("OPTS UTF8 ON")
        assert code == 200, text
        code, text = c.cmd("OPTS MLST type;")
        assert code == 530, f"other OPTS still need a login: {text}"
        c.login()
        assert c.cmd("OPTS MLST type;size;")[0] == 200
        assert c.cmd("NOOP")[0] == 200


@pytest.mark.parametrize("how", ["PORT", "EPRT"])
@pytest.mark.parametrize("command", ["RETR small.txt", "LIST", "NLST", "MLSD"])
def test_active_mode_to_a_closed_port_is_425_without_150(server, how, command):
    ftp = ftp_open(server.port)
    try:
        port = closed_port()
        if how == "PORT":
            ftp.voidcmd("PORT 127,0,0,1,%d,%d" % (port >> 8, port & 255))
        else:
            ftp.voidcmd(f"EPRT |1|127.0.0.1|{port}|")
        ftp.voidcmd("TYPE I")
        logged = len(server.xferlog_lines())
        # ftplib raises error_temp on a 4xx final reply; a 150 would have
        # come back as a string here.
        with pytest.raises(ftplib.error_temp) as e:
            ftp.sendcmd(command)
        assert str(e.value).startswith("425 Can't open data connection"), e.value
        # No late 426 is left in the stream: the next reply is NOOP's.
        assert ftp.voidcmd("NOOP").startswith("200")
        assert len(server.xferlog_lines()) == logged, "no transfer took place"
        # And ftplib's own active mode still works on the same session.
        ftp.set_pasv(False)
        assert "a.txt" in " ".join(ftp.nlst("sub"))
    finally:
        ftp_close(ftp)


def test_site_help_and_dispatch(server):
    ftp = ftp_open(server.port)
    try:
        text = ftp.sendcmd("SITE HELP")
        lines = text.splitlines()
        assert lines[0] == "214-The following SITE commands are recognized (* =>'s unimplemented)"
        assert lines[-1].startswith("214 ")
        assert {l.strip() for l in lines[1:-1]} == {"HELP", "CHGRP", "CHMOD"}, text
        assert ftp.sendcmd("SITE HELP CHMOD") == "214 Syntax: SITE CHMOD <sp> mode <sp> pathname"
        with pytest.raises(ftplib.error_perm, match=r"^502 Unknown command 'SITE FROB'"):
            ftp.sendcmd("SITE HELP FROB")
        with pytest.raises(ftplib.error_perm, match=r"^500 'SITE FROB' not understood"):
            ftp.sendcmd("SITE FROB")
        with pytest.raises(ftplib.error_perm, match=r"^550"):
            ftp.sendcmd("SITE CHMOD 777 small.txt")
        with pytest.raises(ftplib.error_perm, match=r"^550"):
            ftp.sendcmd("SITE CHGRP nogroup small.txt")
        assert ftp.voidcmd("NOOP").startswith("200")
    finally:
        ftp_close(ftp)


def test_site_help_reachable_under_limit_write(server_factory):
    s = server_factory(anon_extra=["<Limit WRITE>", "  DenyAll", "</Limit>"])
    ftp = ftp_open(s.port)
    try:
        assert ftp.sendcmd("SITE HELP").startswith("214-")
        with pytest.raises(ftplib.error_perm, match=r"^550"):
            ftp.sendcmd("SITE CHMOD 644 small.txt")
    finally:
        ftp_close(ftp)


def test_help_stars_unimplemented_commands(server):
    ftp = ftp_open(server.port, login=False)
    try:
        text = ftp.sendcmd("HELP")
        lines = text.splitlines()
        assert "(* =>'s unimplemented)" in lines[0], lines[0]
        words = {w for l in lines[1:-1] for w in l.split()}
        starred = {w[:-1] for w in words if w.endswith("*")}
        assert {"AUTH", "PBSZ", "PROT", "CCC"} <= starred, text
        assert {"RETR", "LIST", "SITE", "OPTS"} <= words, text
        for verb in sorted(starred):
            h = ftp.sendcmd(f"HELP {verb}")
            assert h.startswith("214 ") and "not implemented" in h, h
        assert "not implemented" not in ftp.sendcmd("HELP RETR")
        for cmd in ("AUTH TLS", "PBSZ 0", "PROT P", "CCC"):
            with pytest.raises(ftplib.error_perm, match=r"^502"):
                ftp.sendcmd(cmd)
        ftp.login()
        assert ftp.voidcmd("NOOP").startswith("200")
    finally:
        ftp_close(ftp)
