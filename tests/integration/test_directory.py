"""<Directory> blocks with the <Limit>s inside them, through a real client
(ftplib): the gate finds the closest <Directory> of the path a command names
and applies its <Limit>s; everything outside the block is untouched."""

import ftplib

import pytest

from helpers import ftp_close, ftp_open, listing, retr


def deny(block_path, what, where="anon"):
    """Config lines: <Directory block_path> with <Limit what> DenyAll."""
    lines = [f"<Directory {block_path}>", f"  <Limit {what}>", "    DenyAll",
             "  </Limit>", "</Directory>"]
    return {"anon_extra": lines} if where == "anon" else {"extra": lines}


@pytest.mark.parametrize("how", ["relative", "tilde", "absolute", "server-tilde"])
def test_limit_retr_in_directory(server_factory, tree, how):
    path = {"relative": "sub/deeper", "tilde": "~/sub/deeper",
            "absolute": str(tree.root / "sub" / "deeper"), "server-tilde": "~/sub/deeper"}[how]
    s = server_factory(**deny(path, "RETR", "server" if how == "server-tilde" else "anon"))
    ftp = ftp_open(s.port)
    try:
        with pytest.raises(ftplib.error_perm, match=r"^550 RETR: Permission denied"):
            ftp.retrbinary("RETR sub/deeper/c.txt", lambda b: None)
        # Outside the block, RETR works as before.
        assert retr(ftp, "sub/a.txt") == tree.files["sub/a.txt"]
        assert retr(ftp, "small.txt") == tree.files["small.txt"]
        # The same file named relative to the current directory is still inside.
        ftp.cwd("/sub")
        with pytest.raises(ftplib.error_perm, match=r"^550"):
            ftp.retrbinary("RETR deeper/c.txt", lambda b: None)
        ftp.cwd("deeper")
        with pytest.raises(ftplib.error_perm, match=r"^550"):
            ftp.retrbinary("RETR c.txt", lambda b: None)
        # SIZE is READ, not RETR: not limited by <Limit RETR>.
        ftp.voidcmd("TYPE I")
        assert ftp.size("c.txt") == len(tree.files["sub/deeper/c.txt"])
        assert ftp.voidcmd("NOOP").startswith("200")
    finally:
        ftp_close(ftp)
    assert "RETR denied by <Limit>" in s.syslog.read_text()


def test_limit_dirs_in_directory_denies_listing_and_cwd(server_factory, tree):
    s = server_factory(**deny("sub/deeper", "DIRS"))
    ftp = ftp_open(s.port)
    try:
        for cmd in ("LIST sub/deeper", "NLST sub/deeper", "MLSD sub/deeper"):
            with pytest.raises(ftplib.error_perm, match=r"^550"):
                listing(ftp, cmd)
        with pytest.raises(ftplib.error_perm, match=r"^550 CWD: Permission denied"):
            ftp.cwd("sub/deeper")
        # The parent lists, and shows the denied directory as an entry.
        assert "deeper" in listing(ftp, "NLST sub").decode().split()
        assert "a.txt" in listing(ftp, "LIST sub").decode()
        # RETR is not in DIRS.
        assert retr(ftp, "sub/deeper/c.txt") == tree.files["sub/deeper/c.txt"]
    finally:
        ftp_close(ftp)


def test_contents_only_block(server_factory, tree):
    # "sub/*": what is inside sub, not sub itself.
    s = server_factory(**deny("sub/*", "DIRS"))
    ftp = ftp_open(s.port)
    try:
        assert "a.txt" in listing(ftp, "NLST sub").decode().split()
        ftp.cwd("sub")
        with pytest.raises(ftplib.error_perm, match=r"^550"):
            ftp.cwd("deeper")
    finally:
        ftp_close(ftp)


def test_closest_directory_wins(server_factory, tree):
    lines = ["<Directory sub>", "  <Limit RETR>", "    DenyAll", "  </Limit>", "</Directory>",
             "<Directory sub/deeper>", "  <Limit RETR>", "    AllowAll", "  </Limit>",
             "</Directory>"]
    s = server_factory(anon_extra=lines)
    ftp = ftp_open(s.port)
    try:
        with pytest.raises(ftplib.error_perm, match=r"^550"):
            ftp.retrbinary("RETR sub/a.txt", lambda b: None)
        assert retr(ftp, "sub/deeper/c.txt") == tree.files["sub/deeper/c.txt"]
    finally:
        ftp_close(ftp)


def test_write_commands_answer_as_before_inside_directory(server_factory):
    s = server_factory(**deny("sub", "RETR"))
    ftp = ftp_open(s.port)
    try:
        for cmd in ("STOR sub/x", "DELE sub/a.txt", "MKD sub/new", "RNFR sub/a.txt"):
            with pytest.raises(ftplib.error_perm) as e:
                ftp.sendcmd(cmd)
            verb = cmd.split()[0]
            assert str(e.value) == f"550 {verb}: Permission denied"
    finally:
        ftp_close(ftp)


def test_directive_not_allowed_in_directory_is_refused(server_factory):
    s = server_factory(start=False, anon_extra=["<Directory sub>", "  MaxClients 3",
                                                "</Directory>"])
    r = s.check_config() if hasattr(s, "check_config") else None
    if r is None:
        import subprocess
        r = subprocess.run(s.command("-t"), capture_output=True, text=True, timeout=20)
    assert r.returncode != 0
    assert f"{s.conf}:" in r.stderr and "not allowed inside <Directory>" in r.stderr, r.stderr
