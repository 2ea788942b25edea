"""The FTP command set on the control connection: login, gating before login,
reply codes of RFC 959/2389/2428/3659, navigation, refused write commands,
bad input (long lines, Telnet IAC, NUL, pipelining)."""

import ftplib
import re

import pytest

from helpers import ANON_PASS, DEFAULT_IDENT, Ctl, ftp_close, parse_epsv, parse_pasv


@pytest.fixture
def ctl(server):
    """A raw, not yet logged-in control connection (greeting read)."""
    c = Ctl(server.port, read_greeting=True)
    yield c
    c.close()


@pytest.fixture
def logged(server):
    """A raw, logged-in control connection."""
    c = Ctl(server.port, read_greeting=True)
    c.login()
    yield c
    c.close()


def assert_alive(server, c=None):
    """The session `c` (if still open) answers NOOP, and a new session works."""
    if c is not None:
        code, text = c.cmd("NOOP")
        assert code == 200, f"NOOP after bad input -> {text}"
    with Ctl(server.port, read_greeting=True) as n:
        assert n.greeting[0] == 220
        n.login()
        assert n.cmd("NOOP")[0] == 200


# ---------------------------------------------------------------- greeting, login

def test_greeting_shows_server_ident(ctl):
    code, text = ctl.greeting
    assert code == 220
    assert DEFAULT_IDENT in text


@pytest.mark.parametrize("user", ["anonymous", "ftp"])
def test_anonymous_login(server, user):
    with Ctl(server.port, read_greeting=True) as c:
        code, text = c.cmd(f"USER {user}")
        assert code == 331, text
        code, text = c.cmd("PASS anything-at-all")
        assert code == 230, text
        assert c.cmd("NOOP")[0] == 200


def test_other_user_is_refused(ctl, server):
    code, text = ctl.cmd("USER bob")
    assert code == 331, text
    code, text = ctl.cmd("PASS secret")
    assert code == 530, text
    # Still allowed to retry on the same session.
    ctl.login()
    assert_alive(server, ctl)


def test_max_login_attempts_ends_session(ctl, server):
    for attempt in range(1, 4):
        code, text = ctl.cmd("USER bob")
        assert code == 331, f"attempt {attempt}: USER -> {text}"
        code, text = ctl.cmd("PASS wrong")
        assert code == 530, f"attempt {attempt}: PASS -> {text}"
    extra = ctl.wait_closed()
    assert all(code >= 400 for code, _ in extra), f"after 3 failures: {extra}"
    assert_alive(server)


def test_quit(ctl):
    code, text = ctl.cmd("QUIT")
    assert code == 221, text
    assert ctl.wait_closed() == []


# ---------------------------------------------------------------- before login

PRELOGIN_REFUSED = [
    "NOOP", "PWD", "XPWD", "CWD /", "XCWD /", "CDUP", "XCUP", "LIST", "NLST", "MLSD",
    "MLST small.txt", "RETR small.txt", "SIZE small.txt", "MDTM small.txt", "PASV", "EPSV",
    "PORT 127,0,0,1,100,100", "EPRT |1|127.0.0.1|25700|", "TYPE I", "MODE S", "STRU F",
    "REST 0", "STAT", "ALLO 100", "STOR x.txt", "DELE small.txt", "MKD newdir", "RMD sub",
    "RNFR small.txt", "OPTS MLST type;size;", "ABOR", "SITE HELP",
]


@pytest.mark.parametrize("line", PRELOGIN_REFUSED)
def test_refused_before_login(ctl, server, line):
    code, text = ctl.cmd(line)
    assert code == 530, f"{line} before login -> {text}"
    assert ctl.cmd("SYST")[0] == 215
    ctl.login()
    assert_alive(server, ctl)


@pytest.mark.parametrize("line,codes", [
    ("SYST", {215}),
    ("FEAT", {211}),
    ("HELP", {214}),
    ("OPTS UTF8 ON", {200}),  # lftp sends it before USER
])
def test_allowed_before_login(ctl, line, codes):
    code, text = ctl.cmd(line)
    assert code in codes, f"{line} before login -> {text}"


def test_auth_before_login_is_not_530(ctl, server):
    code, text = ctl.cmd("AUTH TLS")
    assert code != 530, text
    if code // 100 == 2:
        pytest.skip("server speaks TLS; a TLS handshake is not part of this suite")
    ctl.login()
    assert_alive(server, ctl)


# ---------------------------------------------------------------- basic replies

def test_syst(logged):
    code, text = logged.cmd("SYST")
    assert code == 215 and "UNIX" in text.upper(), text


def test_feat_lists_extensions(logged):
    code, text = logged.cmd("FEAT")
    assert code == 211, text
    lines = text.splitlines()
    assert lines[0].startswith("211-") and lines[-1].startswith("211 ")
    feats = {l.strip().split(" ")[0].upper() for l in lines[1:-1]}
    for f in ("EPSV", "MDTM", "SIZE", "MLST", "REST", "UTF8"):
        assert f in feats, f"FEAT lacks {f}: {text}"
    for l in lines[1:-1]:
        assert l.startswith(" "), f"feature line without leading space: {l!r}"
    mlst = next(l for l in lines if l.strip().upper().startswith("MLST"))
    for fact in ("type", "size", "modify", "perm"):
        assert fact in mlst.lower(), mlst
    assert any(re.match(r"\s*REST STREAM", l, re.I) for l in lines), text


def test_opts(logged):
    assert logged.cmd("OPTS UTF8 ON")[0] == 200
    code, text = logged.cmd("OPTS MLST type;size;modify;")
    assert code == 200, text
    code, _ = logged.cmd("OPTS NOSUCHOPTION")
    assert 500 <= code < 600


def test_help(logged):
    code, text = logged.cmd("HELP")
    assert code == 214, text
    assert "RETR" in text.upper()


def test_stat_without_argument(logged):
    code, text = logged.cmd("STAT")
    assert code == 211, text


def test_stat_of_a_directory_lists_it_on_the_control_connection(logged, tree):
    """STAT DIR: a multi-line 213 with one ls line per entry, sorted."""
    code, text = logged.cmd("STAT /")
    assert code == 213, text
    lines = text.splitlines()
    assert lines[0].startswith("213-"), text
    assert lines[-1] == "213 End of status", text
    names = [ln.split(None, 8)[8] for ln in lines[1:-1]]
    assert "small.txt" in names and "sub" in names, text
    assert names == sorted(names, key=lambda n: n.encode()), names
    code, text = logged.cmd("STAT /no/such/dir")
    assert code == 550, text
    assert logged.cmd("NOOP")[0] == 200


def test_noop_allo_acct(logged):
    assert logged.cmd("NOOP")[0] == 200
    code, text = logged.cmd("ALLO 1000")
    assert code in (200, 202), text
    code, text = logged.cmd("ACCT whatever")
    assert 200 <= code < 300, text


def test_unknown_command(logged, server):
    code, text = logged.cmd("XYZZY foo")
    assert code == 500, text
    assert_alive(server, logged)


@pytest.mark.parametrize("verb", ["RETR", "SIZE", "MDTM", "REST", "TYPE", "MODE", "STRU",
                                  "PORT", "EPRT"])
def test_missing_argument(logged, server, verb):
    code, text = logged.cmd(verb)
    assert code == 501, f"{verb} without argument -> {text}"
    assert_alive(server, logged)


# ---------------------------------------------------------------- TYPE MODE STRU

@pytest.mark.parametrize("line,ok", [
    ("TYPE A", True), ("TYPE I", True), ("TYPE L 8", True), ("TYPE A N", True),
    ("TYPE X", False), ("TYPE L 7", False),
    ("MODE S", True), ("MODE B", False), ("MODE Z", False),
    ("STRU F", True), ("STRU R", False), ("STRU P", False),
])
def test_type_mode_stru(logged, server, line, ok):
    code, text = logged.cmd(line)
    if ok:
        assert code == 200, f"{line} -> {text}"
    else:
        assert code in (501, 504), f"{line} -> {text}"
        assert_alive(server, logged)


# ---------------------------------------------------------------- navigation

def pwd_of(c):
    code, text = c.cmd("PWD")
    assert code == 257, text
    m = re.match(r'257 "((?:[^"]|"")*)"', text)
    assert m, text
    return m.group(1).replace('""', '"')


def test_pwd_cwd_cdup(logged):
    assert pwd_of(logged) == "/"
    code, text = logged.cmd("CWD sub")
    assert code == 250, text
    assert pwd_of(logged) == "/sub"
    assert logged.cmd("CWD deeper")[0] == 250
    assert pwd_of(logged) == "/sub/deeper"
    code, text = logged.cmd("CDUP")
    assert code in (200, 250), text
    assert pwd_of(logged) == "/sub"
    assert logged.cmd("CWD /sub/deeper/../..")[0] == 250
    assert pwd_of(logged) == "/"
    assert logged.cmd("CWD empty dir")[0] == 250
    assert pwd_of(logged) == "/empty dir"
    assert logged.cmd("CWD /")[0] == 250


def test_x_variants(logged):
    code, text = logged.cmd("XCWD sub")
    assert code == 250, text
    code, text = logged.cmd("XPWD")
    assert code == 257 and '"/sub"' in text, text
    code, text = logged.cmd("XCUP")
    assert code in (200, 250), text
    code, text = logged.cmd("XPWD")
    assert code == 257 and '"/"' in text, text


def test_cwd_utf8_dir_and_errors(logged):
    for bad in ("nonexistent", "small.txt", "sub/nonexistent"):
        code, text = logged.cmd(f"CWD {bad}")
        assert code == 550, f"CWD {bad} -> {text}"
        assert pwd_of(logged) == "/"


def test_cdup_at_root_stays_at_root(logged):
    code, _ = logged.cmd("CDUP")
    assert code in (200, 250, 550)
    assert pwd_of(logged) == "/"


# ---------------------------------------------------------------- data channel setup

def test_pasv_reply_and_range(logged, server):
    code, text = logged.cmd("PASV")
    assert code == 227, text
    assert "Entering Passive Mode" in text
    host, port = parse_pasv(text)
    assert host == "127.0.0.1"
    assert server.pasv[0] <= port <= server.pasv[1], (port, server.pasv)


def test_epsv_reply_and_range(logged, server):
    code, text = logged.cmd("EPSV")
    assert code == 229, text
    port = parse_epsv(text)
    assert server.pasv[0] <= port <= server.pasv[1], (port, server.pasv)
    code, text = logged.cmd("EPSV 1")
    assert code == 229, text
    code, text = logged.cmd("EPSV 2")
    assert code == 522 or code == 501, f"EPSV 2 on an IPv4 connection -> {text}"


def test_epsv_all_locks_out_other_modes(logged):
    code, text = logged.cmd("EPSV ALL")
    assert code == 200, text
    for line in ("PASV", "PORT 127,0,0,1,100,100", "EPRT |1|127.0.0.1|25700|"):
        code, text = logged.cmd(line)
        assert code == 501, f"{line} after EPSV ALL -> {text}"
    code, text = logged.cmd("EPSV")
    assert code == 229, text


def test_rest(logged, server):
    code, text = logged.cmd("REST 100")
    assert code == 350, text
    for bad in ("REST abc", "REST -5", "REST 99999999999999999999999999"):
        code, text = logged.cmd(bad)
        assert code == 501, f"{bad} -> {text}"
    assert_alive(server, logged)


# ---------------------------------------------------------------- SIZE MDTM MLST

def test_size_and_errors(logged, tree):
    logged.cmd("TYPE I")
    code, text = logged.cmd("SIZE random1m.bin")
    assert code == 213 and text == f"213 {len(tree.files['random1m.bin'])}", text
    for bad in ("nonexistent", "sub"):
        code, text = logged.cmd(f"SIZE {bad}")
        assert code == 550, f"SIZE {bad} -> {text}"


def test_mdtm_missing(logged):
    code, text = logged.cmd("MDTM nonexistent")
    assert code == 550, text


def test_mlst_file(logged, tree):
    code, text = logged.cmd("MLST sub/a.txt")
    assert code == 250, text
    lines = text.splitlines()
    assert lines[0].startswith("250-") and lines[-1].startswith("250")
    facts = [l for l in lines[1:-1] if l.startswith(" ")]
    assert len(facts) == 1, text
    assert "type=file;" in facts[0].lower()
    assert f"size={len(tree.files['sub/a.txt'])};" in facts[0].lower()
    assert facts[0].rstrip().endswith("a.txt")


def test_mlst_dir_and_missing(logged):
    code, text = logged.cmd("MLST sub")
    assert code == 250, text
    fact = next(l for l in text.splitlines()[1:] if l.startswith(" "))
    assert re.search(r"type=(dir|cdir);", fact, re.I), fact
    code, text = logged.cmd("MLST nonexistent")
    assert code == 550, text


# ---------------------------------------------------------------- write commands refused

@pytest.mark.parametrize("line", [
    "DELE small.txt", "MKD newdir", "XMKD newdir2", "RMD empty dir", "XRMD sub/deeper",
    "RNFR small.txt", "RNTO renamed.txt", "SITE CHMOD 777 small.txt",
])
def test_write_commands_refused(logged, tree, line):
    before = sorted(p.name for p in tree.root.iterdir())
    code, text = logged.cmd(line)
    if line.startswith("RNTO"):
        assert code in (550, 503), f"{line} -> {text}"
    else:
        assert code == 550, f"{line} -> {text}"
    assert sorted(p.name for p in tree.root.iterdir()) == before
    assert (tree.root / "small.txt").stat().st_mode & 0o777 == 0o644
    assert logged.cmd("NOOP")[0] == 200


@pytest.mark.parametrize("verb", ["STOR", "APPE", "STOU"])
def test_uploads_refused(server, tree, verb):
    ftp = server.login()
    try:
        ftp.voidcmd("TYPE I")
        with pytest.raises(ftplib.error_perm) as exc:
            conn = ftp.transfercmd(f"{verb} upload-{verb}.bin" if verb != "STOU" else "STOU")
            conn.sendall(b"x" * 1000)
            conn.close()
            ftp.voidresp()
        assert str(exc.value).startswith("550"), str(exc.value)
        assert not any(p.name.startswith("upload") for p in tree.root.iterdir())
        assert ftp.sendcmd("NOOP").startswith("200")
    finally:
        ftp_close(ftp)


# ---------------------------------------------------------------- bad input

def test_line_too_long(server):
    other = Ctl(server.port, read_greeting=True)
    other.login()
    c = Ctl(server.port, read_greeting=True)
    try:
        c.login()
        c.send(b"NOOP " + b"A" * 5000 + b"\r\n")
        try:
            code, text = c.reply()
        except (EOFError, ConnectionResetError):
            code = None  # the session ended cleanly: allowed
        if code is not None:
            assert code in (500, 421), f"over-long line -> {text}"
            if code == 500:
                assert_alive(server, c)
        assert other.cmd("NOOP")[0] == 200, "another session was affected"
        assert_alive(server)
    finally:
        c.close()
        other.close()


def test_long_but_legal_line(logged, server):
    code, text = logged.cmd("SIZE " + "a" * 3000)
    assert code == 550, text
    assert_alive(server, logged)


def test_long_path_components(logged, server):
    for arg in ("/".join(["x" * 255] * 12), "a" * 300):
        code, text = logged.cmd(f"CWD {arg}")
        assert code in (550, 501), f"CWD of {len(arg)} chars -> {text}"
    code, text = logged.cmd("CWD " + "../" * 1000 + "sub")
    assert code == 250, text
    assert pwd_of(logged) == "/sub"
    assert_alive(server, logged)


def test_telnet_ip_dm_then_command(logged):
    logged.send(b"\xff\xf4\xff\xf2NOOP\r\n")
    code, text = logged.reply()
    assert code == 200, text


def test_telnet_ip_dm_abor_without_transfer(logged, server):
    logged.send(b"\xff\xf4\xff\xf2ABOR\r\n")
    code, text = logged.reply()
    assert code in (225, 226), text
    assert_alive(server, logged)


def test_telnet_iac_iac_is_a_data_byte(logged, server, tree):
    # IAC IAC on the wire is one 0xff byte of the path.
    logged.cmd("TYPE I")
    logged.send(b"SIZE bytes/caf\xff\xff.txt\r\n")
    code, text = logged.reply()
    assert code == 213 and text == f"213 {len(tree.iac_content)}", text
    logged.send(b"SIZE no\xff\xffsuch\r\n")
    code, text = logged.reply()
    assert code == 550, text
    assert_alive(server, logged)


def test_nul_byte_in_command(logged, server):
    logged.send(b"RETR small\x00.txt\r\n")
    code, text = logged.reply()
    assert 500 <= code < 600, text
    assert_alive(server, logged)


def test_invalid_utf8_path(logged, server):
    logged.send(b"SIZE \xc3\x28\xa0\xa1.txt\r\n")
    code, text = logged.reply()
    assert 500 <= code < 600, text
    assert_alive(server, logged)


def test_utf8_and_odd_arguments(logged, server):
    for arg in ("ééé", "*", "?", "[", "-la", "~", "~root", "%s%s%n", "a\tb", " "):
        code, text = logged.cmd(f"SIZE {arg}")
        assert 500 <= code < 600, f"SIZE {arg!r} -> {text}"
    assert_alive(server, logged)


def test_pipelined_commands(logged):
    logged.send(b"NOOP\r\n" * 20 + b"PWD\r\n")
    for i in range(20):
        code, text = logged.reply()
        assert code == 200, f"pipelined NOOP #{i} -> {text}"
    assert logged.reply()[0] == 257


def test_bare_lf_line_ending(logged):
    logged.send(b"NOOP\n")
    code, text = logged.reply()
    assert code == 200, text


def test_client_disconnect_mid_line(server):
    c = Ctl(server.port, read_greeting=True)
    c.login()
    c.send(b"RETR half-a-comm")
    c.close()
    assert_alive(server)


def test_login_with_ftplib_uses_anonymous_password(server):
    ftp = server.login(password=ANON_PASS)
    try:
        assert ftp.pwd() == "/"
    finally:
        ftp_close(ftp)
