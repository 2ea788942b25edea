"""File names with CR/LF never forge listing entries or reply lines (issue 9
item 1), and MLSD/MLST facts tell the truth (item 5: perm as this session
may act, UNIX.mode/owner/group/ownername/groupname).

The tree is this module's own anonymous root, so the hostile names do not
change what other modules list. Every check runs with ftplib, lftp and curl
against servers started as root (chrooted workers as nobody) and as nobody.
"""

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from helpers import ANON_PASS, Ctl, Server, ftp_close, ftp_open, listing, parse_pasv, recv_all

FORGED_MLSD = "mlsdevil\r\ntype=file;size=999;modify=20200101000000;perm=r; FAKE-MLSD"
FORGED_LS = "lsevil\r\n-rw-r--r--   1 0        0             999 Jan  1  2020 FAKE-LS"
FORGED_DIR = "direvil\r\ndrwxr-xr-x   2 0        0            4096 Jan  1  2020 FAKE-DIR"
FORGED_LF = "lfevil\n-rw-r--r--   1 0        0             999 Jan  1  2020 FAKE-LF"
EVIL_FILES = ["cr\rname", "lf\nname", "crlf\r\nname", FORGED_MLSD, FORGED_LS, FORGED_LF, "plain.txt"]
EVIL_DIRS = [FORGED_DIR]
EVIL_LINK = ("link", "plain.txt\r\n-rw-r--r--   1 0        0             999 Jan  1  2020 FAKE-LINK")
EVIL_ALL = EVIL_FILES + EVIL_DIRS + [EVIL_LINK[0]]
# Names with LF but no CR: on the control connection they need no CR at all.
LF_ONLY = ["a\nb", "stat\n213 End of status", "mlst\n250 End of list"]


def shown(name):
    """A name as the data channel shows it: CR and LF as '?'."""
    return name.replace("\r", "?").replace("\n", "?")


class NamesTree:
    """The anonymous root of this module (Server only needs `.root`)."""

    def __init__(self, base):
        self.root = Path(base)
        evil = self.root / "evil"
        perm = self.root / "perm"
        for d in (self.root, evil, perm):
            d.mkdir(parents=True, exist_ok=True)
            os.chmod(d, 0o755)
        for n in EVIL_FILES:
            (evil / n).write_bytes(b"content of a file with a hostile name\n")
            os.chmod(evil / n, 0o644)
        for n in EVIL_DIRS:
            (evil / n).mkdir()
            os.chmod(evil / n, 0o755)
        os.symlink(EVIL_LINK[1], evil / EVIL_LINK[0])
        lfonly = self.root / "lfonly"
        lfonly.mkdir()
        os.chmod(lfonly, 0o755)
        for n in LF_ONLY:
            (lfonly / n).write_bytes(b"x\n")
            os.chmod(lfonly / n, 0o644)
        (self.root / "cr\rdir").mkdir()
        os.chmod(self.root / "cr\rdir", 0o755)
        # Modes for perm: owned by whoever runs the tests; the workers run as
        # nobody, so only the "other" bits count for them (when we are root).
        for name, mode in (("d000", 0o000), ("d711", 0o711), ("d755", 0o755)):
            (perm / name).mkdir()
            (perm / name / "inside.txt").write_bytes(b"inside\n")
            os.chmod(perm / name / "inside.txt", 0o644)
            os.chmod(perm / name, mode)
        for name, mode in (("f600", 0o600), ("f644", 0o644)):
            (perm / name).write_bytes(b"data\n")
            os.chmod(perm / name, mode)


@pytest.fixture(scope="module")
def names_tree(workbase):
    t = NamesTree(workbase / "names-root")
    yield t
    # Gone with the module's last test: pytest may set this fixture up again
    # (once per identity) when the module runs on its own.
    os.chmod(t.root / "perm" / "d000", 0o755)
    shutil.rmtree(t.root)


@pytest.fixture(scope="module")
def nserver(identity, names_tree, workbase):
    s = Server(identity, names_tree, workbase)
    s.start()
    yield s
    problems = s.stop()
    assert not problems, problems


@pytest.fixture
def ftp(nserver):
    f = ftp_open(nserver.port)
    yield f
    ftp_close(f)


def assert_healthy(port):
    with Ctl(port, read_greeting=True) as c:
        c.login()
        assert c.cmd("NOOP")[0] == 200


# ---------------------------------------------------------------- ftplib

def test_ftplib_mlsd_sees_exactly_the_real_entries(ftp, nserver):
    entries = list(ftp.mlsd("evil"))
    names = [n for n, facts in entries if facts.get("type") not in ("cdir", "pdir")]
    assert sorted(names) == sorted(shown(n) for n in EVIL_ALL)
    assert "FAKE-MLSD" not in names
    assert all(facts.get("size") != "999" for _, facts in entries)
    assert ftp.voidcmd("NOOP").startswith("200")


def test_ftplib_nlst_and_list(ftp, nserver):
    assert sorted(ftp.nlst("evil")) == sorted(shown(n) for n in EVIL_ALL)
    lines = []
    ftp.retrlines("LIST evil", lines.append)
    assert len(lines) == len(EVIL_ALL), lines
    assert not [l for l in lines if "FAKE" in l.split(" ", 1)[0] or l.startswith(("-rw-r--r--   1 0", "drwxr-xr-x   2 0"))]
    link = [l for l in lines if l.startswith("l")]
    assert len(link) == 1 and link[0].endswith("link -> " + shown(EVIL_LINK[1])), link
    assert ftp.voidcmd("NOOP").startswith("200")


def test_ftplib_facts_of_a_forged_name_are_its_own(ftp, names_tree):
    facts = dict(ftp.mlsd("evil"))
    f = facts[shown(FORGED_MLSD)]
    assert f["type"] == "file" and f["size"] == str(os.path.getsize(names_tree.root / "evil" / FORGED_MLSD)), f
    # '?' is also the wildcard that finds the file again.
    lines = []
    ftp.retrlines("LIST evil/cr?name", lines.append)
    assert len(lines) == 1 and lines[0].endswith(" cr?name"), lines


def test_ftplib_stat_and_mlst_with_lf_names(ftp):
    """LF goes out as NUL: ftplib (which splits on CR and LF) sees exactly the
    real reply lines, and no forged end line."""
    resp = ftp.sendcmd("STAT lfonly")
    lines = resp.split("\n")
    assert len(lines) == len(LF_ONLY) + 2, lines
    assert lines[0] == "213-Status of lfonly:" and lines[-1] == "213 End of status", lines
    want = sorted(n.replace("\n", "\x00") for n in LF_ONLY)
    got = sorted(l for l in lines[1:-1] if l.startswith(" -rw-r--r--"))
    assert len(got) == len(LF_ONLY), lines
    assert [any(g.endswith(" " + w) for g in got) for w in want] == [True] * len(want), (want, got)
    resp = ftp.sendcmd("MLST lfonly")
    assert len(resp.split("\n")) == 3, resp
    assert ftp.voidcmd("NOOP").startswith("200")


def test_raw_listings_have_one_line_per_entry(ftp):
    for cmd, extra in (("LIST evil", 0), ("NLST evil", 0), ("MLSD evil", 2)):
        data = listing(ftp, cmd)
        lines = data.split(b"\r\n")
        assert lines[-1] == b"", data
        assert len(lines) - 1 == len(EVIL_ALL) + extra, (cmd, data)
        assert b"\n" not in data.replace(b"\r\n", b""), (cmd, data)
        assert b"\r" not in data.replace(b"\r\n", b""), (cmd, data)
    assert ftp.voidcmd("NOOP").startswith("200")


# ------------------------------------------------------- control connection

def test_stat_and_mlst_reply_lines(nserver):
    with Ctl(nserver.port, read_greeting=True) as c:
        c.login()
        code, text = c.cmd("STAT evil")
        assert code == 213, text
        lines = text.split("\n")
        # "213-Status of evil:", one line per entry, "213 End of status".
        assert len(lines) == len(EVIL_ALL) + 2, lines
        assert lines[-1] == "213 End of status"
        assert not [l for l in lines[1:-1] if not l.startswith(" ")], lines
        assert "\r\x00" in text and "\x00" in text  # RFC 959 CR NUL, LF as NUL
        # MLST of a name with CR, sent as CR NUL: exactly three lines.
        code, text = c.cmd(b"MLST evil/cr\r\x00name")
        assert code == 250, text
        lines = text.split("\n")
        assert len(lines) == 3, lines
        assert lines[1].startswith(" type=file;") and lines[1].endswith("; /evil/cr\r\x00name"), lines
        assert lines[2] == "250 End of list"
        # STAT of one file with CR: the status line, one ls line, the end.
        code, text = c.cmd(b"STAT evil/cr\r\x00name")
        assert code == 213 and len(text.split("\n")) == 3, text
        assert text.split("\n")[1].endswith(" cr\r\x00name"), repr(text)
        # CWD into a directory with CR in its name, then PWD: one line.
        code, text = c.cmd(b"CWD /cr\r\x00dir")
        assert code == 250, text
        code, text = c.cmd("PWD")
        assert code == 257 and text == '257 "/cr\r\x00dir" is the current directory', repr(text)
        code, text = c.cmd(b"RETR /evil/cr\r\x00name-missing")
        assert code == 550 and "\n" not in text, text
        assert c.cmd("NOOP")[0] == 200


def test_retr_and_cwd_by_cr_nul(nserver):
    """RFC 959: the client sends a CR in a pathname as CR NUL (ftplib cannot:
    it refuses CR in commands), and the server finds the file."""
    with Ctl(nserver.port, read_greeting=True) as c:
        c.login()
        assert c.cmd("TYPE I")[0] == 200
        code, text = c.cmd("PASV")
        assert code == 227, text
        _host, port = parse_pasv(text)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as d:
            code, text = c.cmd(b"RETR evil/cr\r\x00name")
            assert code == 150, text
            assert recv_all(d) == b"content of a file with a hostile name\n"
        assert c.reply()[0] == 226
        assert c.cmd("NOOP")[0] == 200


# ---------------------------------------------------------------- lftp

def lftp(server, script, home):
    env = dict(os.environ, HOME=str(home), LC_ALL="C.UTF-8")
    cmds = ("set ftp:passive-mode on; set ftp:ssl-allow no; set net:max-retries 2; "
            "set net:timeout 15; set net:reconnect-interval-base 1; set cmd:fail-exit yes; "
            f"{script}; bye")
    r = subprocess.run(["lftp", "-e", cmds, "-u", f"anonymous,{ANON_PASS}",
                        f"ftp://127.0.0.1:{server.port}"],
                       capture_output=True, timeout=120, env=env, cwd=home, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode("utf-8", "replace")


@pytest.mark.parametrize("cmd", ["cls -l evil", "cls evil", "ls evil", "set ftp:use-mlsd off; cls -l evil"])
def test_lftp_lists_exactly_the_real_entries(nserver, tmp_path, cmd):
    out = lftp(nserver, cmd, tmp_path)
    lines = [l for l in out.split("\n") if l]
    assert len(lines) == len(EVIL_ALL), out
    if cmd == "ls evil":  # the raw LIST lines
        names = [l.split(None, 8)[8] for l in lines]
        names = [n.split(" -> ")[0] if n.startswith("link -> ") else n for n in names]
    else:  # "evil/name", with "/" after directories and "@" after links
        names = [l.split("evil/", 1)[1].split(" -> ")[0].rstrip("/@") for l in lines]
    assert sorted(names) == sorted(shown(n) for n in EVIL_ALL), out
    assert_healthy(nserver.port)


# ---------------------------------------------------------------- curl

def curl(*args):
    return subprocess.run(["curl", "-s", "-S", "--max-time", "60"] + [str(a) for a in args],
                          capture_output=True, timeout=90, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("opts", [[], ["--list-only"]], ids=["LIST", "NLST"])
def test_curl_lists_exactly_the_real_entries(nserver, opts):
    r = curl(*opts, f"ftp://127.0.0.1:{nserver.port}/evil/")
    assert r.returncode == 0, r.stderr
    # curl writes the listing with LF line ends (ASCII mode).
    assert b"\r" not in r.stdout, r.stdout
    lines = r.stdout.split(b"\n")
    assert lines[-1] == b""
    assert len(lines) - 1 == len(EVIL_ALL), r.stdout
    if opts:
        assert sorted(l.decode() for l in lines[:-1]) == sorted(shown(n) for n in EVIL_ALL)
    assert_healthy(nserver.port)


# ------------------------------------------------- item 5: truthful facts

def facts_of(ftp, path):
    return {n: f for n, f in ftp.mlsd(path) if f.get("type") not in ("cdir", "pdir")}


def list_columns(ftp, path):
    """name -> (owner, group) as LIST shows them."""
    lines = []
    ftp.retrlines(f"LIST {path}", lines.append)
    out = {}
    for l in lines:
        parts = l.split(None, 8)
        out[parts[8]] = (parts[2], parts[3])
    return out


def test_mlsd_perm_is_what_the_session_may_do(ftp, nserver):
    facts = facts_of(ftp, "perm")
    # Workers run as nobody; the tree belongs to the test user (root here).
    as_other = os.geteuid() != 65534
    if not as_other:
        pytest.skip("the tree must belong to another user than the workers'")
    assert facts["d000"]["perm"] == ""
    assert facts["d711"]["perm"] == "e"
    assert facts["d755"]["perm"] == "el"
    assert facts["f600"]["perm"] == ""
    assert facts["f644"]["perm"] == "r"
    # And the commands agree with the facts.
    with pytest.raises(Exception) as e:
        ftp.cwd("/perm/d000")
    assert str(e.value).startswith("550"), e.value
    assert ftp.cwd("/perm/d711").startswith("250")
    with pytest.raises(Exception) as e:
        ftp.retrlines("LIST", lambda _l: None)
    assert str(e.value).startswith("550"), e.value
    assert ftp.cwd("/perm/d755").startswith("250")
    assert ftp.nlst() == ["inside.txt"]
    ftp.cwd("/perm")
    with pytest.raises(Exception) as e:
        ftp.retrbinary("RETR f600", lambda _b: None)
    assert str(e.value).startswith("550"), e.value
    got = []
    ftp.retrbinary("RETR f644", got.append)
    assert b"".join(got) == b"data\n"
    assert ftp.voidcmd("NOOP").startswith("200")


def test_mlsd_and_mlst_unix_facts(ftp, nserver, names_tree):
    facts = facts_of(ftp, "perm")
    cols = list_columns(ftp, "perm")
    for name in ("d000", "d711", "d755", "f600", "f644"):
        st = os.lstat(names_tree.root / "perm" / name)
        f = facts[name]
        assert f["unix.mode"] == "0%03o" % (st.st_mode & 0o7777), f
        assert f["unix.owner"] == str(st.st_uid) and f["unix.group"] == str(st.st_gid), f
        # The names are those LIST shows (a name, or the number if unknown).
        assert (f["unix.ownername"], f["unix.groupname"]) == cols[name], (f, cols[name])
    feat = ftp.sendcmd("FEAT")
    assert "UNIX.mode*;UNIX.owner*;UNIX.group*;UNIX.ownername*;UNIX.groupname*;" in feat, feat
    # OPTS MLST selects them like the other facts.
    assert ftp.sendcmd("OPTS MLST type;UNIX.mode;UNIX.ownername;").startswith("200")
    resp = ftp.sendcmd("MLST /perm/d711")
    lines = resp.split("\n")
    assert len(lines) == 3, resp
    assert lines[1] == " type=dir;UNIX.mode=0711;UNIX.ownername=%s; /perm/d711" % cols["d711"][0], resp
    assert ftp.sendcmd("OPTS MLST type;perm;").startswith("200")
    assert ftp.sendcmd("MLST /perm/d000").split("\n")[1] == " type=dir;perm=; /perm/d000"


def test_lftp_cls_l_shows_the_owner(nserver, tmp_path, names_tree):
    """lftp's MLSD parser takes UNIX.owner/UNIX.group as the owner columns
    (it does not read UNIX.ownername): with ProFTPD's numeric values it shows
    the uid and gid, where it showed nothing before."""
    out = lftp(nserver, "cls -l perm", tmp_path)
    lines = {l.rsplit(" ", 1)[-1].rstrip("/").rsplit("/", 1)[-1]: l.split() for l in out.split("\n") if l}
    assert set(lines) == {"d000", "d711", "d755", "f600", "f644"}, out
    for name, cols in lines.items():
        st = os.lstat(names_tree.root / "perm" / name)
        assert cols[1:3] == [str(st.st_uid), str(st.st_gid)], (name, cols, out)
    assert_healthy(nserver.port)
