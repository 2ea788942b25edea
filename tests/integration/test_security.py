"""Trust boundaries: PORT/EPRT bounce protection, PASV connection theft,
path traversal and hostile symlinks, and (as root) the worker's chroot, uid
and capabilities."""

import ftplib
import os
import socket

import pytest

from helpers import (NOBODY_UID, NOGROUP_GID, Ctl, ftp_close, listing, open_data, parse_pasv,
                     parse_epsv, proc_status, recv_all, retr, wait_until)


@pytest.fixture
def ftp(server):
    f = server.login()
    yield f
    ftp_close(f)


def assert_alive(server, ftp=None):
    if ftp is not None:
        assert ftp.sendcmd("NOOP").startswith("200")
    f = server.login()
    try:
        assert f.sendcmd("NOOP").startswith("200")
    finally:
        ftp_close(f)


# ---------------------------------------------------------------- active mode

@pytest.mark.parametrize("line", [
    "PORT 127,0,0,2,100,100",           # another address than the client's
    "PORT 10,0,0,1,100,100",
    "PORT 127,0,0,1,0,21",              # privileged port
    "PORT 127,0,0,1,3,255",             # 1023
    "PORT 127,0,0,1,300,1",             # malformed
    "PORT 127,0,0,1,100",               # too few fields
    "EPRT |1|127.0.0.2|25700|",
    "EPRT |1|127.0.0.1|80|",
    "EPRT |1|127.0.0.1|0|",
    "EPRT |2|::1|25700|",
    "EPRT |1|127.0.0.1|99999|",
    "EPRT garbage",
])
def test_port_eprt_refused(ftp, server, line):
    with pytest.raises(ftplib.error_perm) as exc:
        ftp.sendcmd(line)
    code = str(exc.value)[:3]
    assert code in ("500", "501", "522"), f"{line} -> {exc.value}"
    # No transfer may follow on that address.
    ftp.putcmd("RETR small.txt")
    resp = ftp.getmultiline()
    while resp.startswith("1"):
        resp = ftp.getmultiline()
    assert resp[:1] in ("4", "5"), f"RETR after a refused {line} -> {resp}"
    assert_alive(server, ftp)


def test_port_to_client_address_works(ftp, tree):
    assert retr(ftp, "small.txt", "port") == tree.files["small.txt"]


def _steal(ftp, cmd, mode):
    """Opens the passive port from 127.0.0.2 while the control connection is
    from 127.0.0.1; returns (final reply, data the thief got)."""
    if mode == "pasv":
        _h, port = parse_pasv(ftp.sendcmd("PASV"))
    else:
        port = parse_epsv(ftp.sendcmd("EPSV"))
    thief = socket.socket()
    thief.settimeout(10)
    thief.bind(("127.0.0.2", 0))
    thief.connect(("127.0.0.1", port))
    try:
        ftp.putcmd(cmd)
        resp = ftp.getmultiline()
        while resp.startswith("1"):
            resp = ftp.getmultiline()
        try:
            stolen = recv_all(thief)
        except ConnectionResetError:
            stolen = b""
        return resp, stolen
    finally:
        thief.close()


@pytest.mark.parametrize("mode", ["pasv", "epsv"])
@pytest.mark.parametrize("cmd", ["RETR small.txt", "LIST", "NLST"])
def test_foreign_data_connection_refused(ftp, server, tree, mode, cmd):
    resp, stolen = _steal(ftp, cmd, mode)
    assert resp.startswith("425"), f"{cmd} with a foreign data peer -> {resp}"
    assert stolen == b"", f"the foreign peer received {stolen[:80]!r}"
    assert_alive(server, ftp)
    assert retr(ftp, "small.txt", mode) == tree.files["small.txt"]


def test_foreign_data_connection_allowed_when_configured(server_factory, tree):
    s = server_factory(settings={"AllowForeignAddress": "on"})
    f = s.login()
    try:
        f.voidcmd("TYPE I")
        resp, got = _steal(f, "RETR small.txt", "pasv")
        assert resp.startswith("226"), resp
        assert got == tree.files["small.txt"]
    finally:
        ftp_close(f)


# ---------------------------------------------------------------- path traversal

def _secret_leaked(data, tree):
    with open("/etc/passwd", "rb") as f:
        passwd = f.read()
    return tree.outside_secret.strip() in data or data == passwd or b"root:x:0:0" in data


def test_cwd_above_root_stays_inside(ftp, tree):
    for target in ("../../..", "/../../..", "sub/../../../.."):
        try:
            ftp.cwd(target)
        except ftplib.error_perm as exc:
            assert str(exc).startswith("550")
        assert ftp.pwd() == "/", f"after CWD {target}"
        names = set(ftp.nlst())
        assert names == set(os.listdir(tree.root)), names
    assert retr(ftp, "small.txt") == tree.files["small.txt"]


@pytest.mark.parametrize("path", [
    "../../etc/passwd", "/../../etc/passwd", "/etc/passwd", "../../../../../../etc/passwd",
    "sub/../../../etc/passwd", "../outside.txt", "../../outside.txt", "%2e%2e/outside.txt",
    "..\\..\\outside.txt",
])
def test_retr_outside_root_refused(ftp, server, tree, path):
    ftp.voidcmd("TYPE I")
    with pytest.raises(ftplib.error_perm) as exc:
        s = open_data(ftp, "pasv", f"RETR {path}")
        data = recv_all(s)
        s.close()
        ftp.voidresp()
        assert not _secret_leaked(data, tree), f"RETR {path} leaked outside content"
        raise ftplib.error_perm("550 (served an in-root file)")
    assert str(exc.value).startswith("550"), str(exc.value)
    for cmd in ("SIZE", "MDTM"):
        with pytest.raises(ftplib.error_perm):
            ftp.sendcmd(f"{cmd} {path}")
    assert_alive(server, ftp)


@pytest.mark.parametrize("link", ["evil/passwd", "evil/outside", "evil/abs_outside",
                                  "evil/outdir/secret.txt", "evil/rootlink/etc/passwd",
                                  "evil/rootlink/../outside.txt"])
def test_symlink_escape_never_serves_outside_content(ftp, server, tree, link):
    ftp.voidcmd("TYPE I")
    try:
        s = open_data(ftp, "pasv", f"RETR {link}")
    except ftplib.error_perm as exc:
        assert str(exc).startswith("550"), str(exc)
    else:
        data = recv_all(s)
        s.close()
        ftp.voidresp()
        assert not _secret_leaked(data, tree), f"RETR {link} served outside content"
    assert_alive(server, ftp)


def test_symlinked_dirs_do_not_leave_root(ftp, tree):
    try:
        ftp.cwd("evil/outdir")
    except ftplib.error_perm:
        pass
    else:
        names = set(ftp.nlst())
        assert "secret.txt" not in names, names
        ftp.cwd("/")
    try:
        ftp.cwd("evil/rootlink")
    except ftplib.error_perm:
        pass
    else:
        # "/" inside the session is the anonymous root.
        names = set(ftp.nlst())
        assert names <= set(os.listdir(tree.root)) | {".", ".."}, names
        assert "etc" not in names and "proc" not in names
        ftp.cwd("/")
    for d in ("evil", "evil/rootlink", "evil/outdir"):
        try:
            data = listing(ftp, f"LIST {d}")
        except ftplib.error_perm:
            continue
        assert b"secret.txt" not in data and not _secret_leaked(data, tree)


def test_mlst_and_size_through_escaping_symlinks(ftp, tree):
    outside_size = str(len(tree.outside_secret))
    for link in ("evil/outside", "evil/abs_outside"):
        try:
            resp = ftp.sendcmd(f"SIZE {link}")
        except ftplib.error_perm:
            continue
        assert resp != f"213 {outside_size}", f"SIZE {link} measured the outside file"


# ---------------------------------------------------------------- privileges

def _check_worker(pid, tree):
    st = proc_status(pid)
    uids = st["Uid"].split()
    gids = st["Gid"].split()
    assert uids == [str(NOBODY_UID)] * 4, f"worker {pid} Uid: {st['Uid']}"
    assert gids == [str(NOGROUP_GID)] * 4, f"worker {pid} Gid: {st['Gid']}"
    assert st["CapEff"] == "0000000000000000", f"worker {pid} CapEff {st['CapEff']}"
    assert st["CapPrm"] == "0000000000000000", f"worker {pid} CapPrm {st['CapPrm']}"
    assert st.get("NoNewPrivs") == "1", f"worker {pid} NoNewPrivs {st.get('NoNewPrivs')}"
    assert st["Groups"].split() in ([], [str(NOGROUP_GID)]), f"worker {pid} Groups {st['Groups']}"
    assert os.readlink(f"/proc/{pid}/root") == str(tree.root), f"worker {pid} not chrooted"


def test_root_workers_are_chrooted_and_unprivileged(identity, server, tree):
    if not identity.privileged:
        pytest.skip("only a server started as root chroots and drops privileges")
    # A logged-in session, a session that has not logged in, and idle workers.
    f = server.login()
    pre = Ctl(server.port, read_greeting=True)
    try:
        _check_worker(server.worker_for(f.sock), tree)
        _check_worker(server.worker_for(pre.sock), tree)

        def all_dropped():
            kids = server.children()
            for pid in kids:
                st = proc_status(pid)
                if st["Uid"].split()[0] != str(NOBODY_UID):
                    return False
            return kids
        for pid in wait_until(all_dropped, 5, what="every worker to run as nobody"):
            try:
                _check_worker(pid, tree)
            except FileNotFoundError:
                pass  # exited meanwhile
        # The master keeps root (for reload and binding).
        assert proc_status(server.master_pid)["Uid"].split()[0] == "0"
    finally:
        pre.close()
        ftp_close(f)


def test_unprivileged_server_runs_as_nobody(identity, server):
    if identity.privileged or os.geteuid() != 0:
        pytest.skip("the unprivileged variant as started by root only")
    assert proc_status(server.master_pid)["Uid"].split() == [str(NOBODY_UID)] * 4
    for pid in server.children():
        assert proc_status(pid)["Uid"].split() == [str(NOBODY_UID)] * 4
