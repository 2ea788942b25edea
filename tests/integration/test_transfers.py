"""Downloads and listings: RETR in every data mode verified by sha256, REST,
ASCII conversion, listings and metadata against os.stat, ABOR mid-transfer,
and the real clients curl and lftp."""

import ftplib
import os
import re
import stat
import subprocess
import threading
import time
import urllib.parse

import pytest

from helpers import (ANON_PASS, ftp_close, listing, open_data, retr, sha256,
                     sha256_file)

MODES = ["pasv", "epsv", "port", "eprt"]


@pytest.fixture
def ftp(server):
    f = server.login()
    yield f
    ftp_close(f)


def utc(ts):
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(ts))


# ---------------------------------------------------------------- RETR

@pytest.mark.parametrize("mode", MODES)
def test_retr_every_mode(ftp, tree, mode):
    data = retr(ftp, "random1m.bin", mode)
    assert sha256(data) == sha256(tree.files["random1m.bin"])


def test_retr_active_with_ftplib(ftp, tree):
    ftp.set_pasv(False)
    chunks = []
    resp = ftp.retrbinary("RETR big10m.bin", chunks.append)
    assert resp.startswith("226"), resp
    assert sha256(b"".join(chunks)) == sha256(tree.files["big10m.bin"])


def test_retr_passive_with_ftplib(ftp, tree):
    chunks = []
    resp = ftp.retrbinary("RETR big10m.bin", chunks.append)
    assert resp.startswith("226"), resp
    assert sha256(b"".join(chunks)) == sha256(tree.files["big10m.bin"])


@pytest.mark.parametrize("name", ["small.txt", "empty.txt", "h\u00e9llo.txt", "name with spaces.txt",
                                  "\u65e5\u672c\u8a9e.txt", "sub/a.txt", "sub/b.bin",
                                  "sub/deeper/c.txt", "/sub/deeper/c.txt", "sub/../small.txt"])
def test_retr_names(ftp, tree, name):
    key = os.path.normpath(name.lstrip("/"))
    assert retr(ftp, name, "epsv") == tree.files[key]


def test_retr_relative_to_cwd(ftp, tree):
    ftp.cwd("sub/deeper")
    assert retr(ftp, "c.txt") == tree.files["sub/deeper/c.txt"]
    assert retr(ftp, "../a.txt") == tree.files["sub/a.txt"]
    assert retr(ftp, "/small.txt") == tree.files["small.txt"]


def test_many_transfers_on_one_session(ftp, tree):
    for i in range(12):
        mode = MODES[i % len(MODES)]
        assert retr(ftp, "sub/b.bin", mode) == tree.files["sub/b.bin"]
    assert ftp.sendcmd("NOOP").startswith("200")


@pytest.mark.parametrize("name", ["nonexistent.bin", "sub", "sub/deeper", "/", "sub/nonexistent"])
def test_retr_missing_or_directory(ftp, name):
    ftp.voidcmd("TYPE I")
    with pytest.raises(ftplib.error_perm) as exc:
        s = open_data(ftp, "pasv", f"RETR {name}")
        s.close()
    assert str(exc.value).startswith("550"), str(exc.value)
    assert ftp.sendcmd("NOOP").startswith("200")


def test_concurrent_downloads(server, tree):
    results = {}

    def worker(i):
        f = server.login()
        try:
            results[i] = sha256(retr(f, "big10m.bin", MODES[i % 2]))
        except Exception as exc:  # reported below
            results[i] = repr(exc)
        finally:
            ftp_close(f)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    want = sha256(tree.files["big10m.bin"])
    assert results == {i: want for i in range(4)}


# ---------------------------------------------------------------- REST

@pytest.mark.parametrize("offset", [1, 4096, 123457, (1 << 20) - 1])
@pytest.mark.parametrize("mode", ["pasv", "port"])
def test_rest_gives_the_tail(ftp, tree, offset, mode):
    data = retr(ftp, "random1m.bin", mode, rest=offset)
    assert sha256(data) == sha256(tree.files["random1m.bin"][offset:])


def test_rest_is_reset_after_transfer(ftp, tree):
    retr(ftp, "small.txt", rest=3)
    assert retr(ftp, "small.txt") == tree.files["small.txt"]


# ---------------------------------------------------------------- ASCII

def test_ascii_converts_lf_to_crlf(ftp, tree):
    data = retr(ftp, "text.txt", "pasv", type_="A")
    assert data == tree.files["text.txt"].replace(b"\n", b"\r\n")


def test_binary_after_ascii_is_exact(ftp, tree):
    retr(ftp, "text.txt", type_="A")
    assert retr(ftp, "text.txt", type_="I") == tree.files["text.txt"]


# ---------------------------------------------------------------- metadata

def test_size_and_mdtm_of_every_file(ftp, tree):
    ftp.voidcmd("TYPE I")
    for rel in tree.files:
        st = os.stat(tree.path(rel))
        assert ftp.sendcmd(f"SIZE {rel}") == f"213 {st.st_size}", rel
        resp = ftp.sendcmd(f"MDTM {rel}")
        m = re.fullmatch(r"213 (\d{14})(\.\d+)?", resp)
        assert m, f"MDTM {rel} -> {resp}"
        assert m.group(1) == utc(st.st_mtime), f"MDTM {rel}: {resp} vs {utc(st.st_mtime)}"


def parse_mlsx_facts(facts):
    out = {}
    for f in facts.split(";"):
        if f:
            k, _, v = f.partition("=")
            out[k.lower()] = v
    return out


def parse_mlsd(data):
    entries = {}
    for line in data.decode("utf-8").splitlines():
        if not line:
            continue
        facts, sep, name = line.partition(" ")
        assert sep, f"MLSD line without a space: {line!r}"
        entries[name] = parse_mlsx_facts(facts)
    return entries


def check_facts(name, facts, path):
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode):
        assert facts.get("type", "").lower() == "dir", (name, facts)
        assert "e" in facts.get("perm", "") and "l" in facts.get("perm", ""), (name, facts)
    else:
        assert facts.get("type", "").lower() == "file", (name, facts)
        assert facts.get("size") == str(st.st_size), (name, facts, st.st_size)
        assert "r" in facts.get("perm", ""), (name, facts)
    assert facts.get("modify", "")[:14] == utc(st.st_mtime), (name, facts)
    assert "unique" in facts, (name, facts)
    assert int(facts.get("unix.mode", "-1"), 8) == stat.S_IMODE(st.st_mode), (name, facts)


@pytest.mark.parametrize("d", ["", "sub"])
def test_mlsd_matches_stat(ftp, tree, d):
    ftp.sendcmd("OPTS UTF8 ON")
    entries = parse_mlsd(listing(ftp, f"MLSD {d}".strip()))
    real = {n: e for n, e in entries.items()
            if e.get("type", "").lower() not in ("cdir", "pdir")}
    assert set(real) == set(os.listdir(tree.root / d)), sorted(real)
    for name, facts in real.items():
        check_facts(name, facts, tree.root / d / name)


def test_mlst_matches_stat(ftp, tree):
    for rel in ["small.txt", "h\u00e9llo.txt", "name with spaces.txt", "sub/b.bin", "sub"]:
        resp = ftp.sendcmd(f"MLST {rel}")
        lines = resp.splitlines()
        assert lines[0].startswith("250-") and lines[-1].startswith("250 "), resp
        fact_lines = [l for l in lines[1:-1] if l.startswith(" ")]
        assert len(fact_lines) == 1, resp
        facts, _, name = fact_lines[0][1:].partition(" ")
        assert name.endswith(rel.split("/")[-1]), resp
        f = parse_mlsx_facts(facts)
        if rel == "sub" and f.get("type", "").lower() == "cdir":
            f["type"] = "dir"
        check_facts(rel, f, tree.root / rel)


def parse_list(data):
    out = {}
    for line in data.decode("utf-8").splitlines():
        if not line or line.startswith("total "):
            continue
        parts = line.split(None, 8)
        assert len(parts) == 9, f"LIST line not in ls -l form: {line!r}"
        out[parts[8]] = parts
    return out


@pytest.mark.parametrize("d", ["", "sub"])
def test_list_matches_stat(ftp, tree, d):
    entries = parse_list(listing(ftp, f"LIST {d}".strip()))
    assert set(entries) == set(os.listdir(tree.root / d)), sorted(entries)
    for name, parts in entries.items():
        st = os.lstat(tree.root / d / name)
        assert parts[0][:10] == stat.filemode(st.st_mode), (name, parts)
        if stat.S_ISREG(st.st_mode):
            assert int(parts[4]) == st.st_size, (name, parts)


def test_list_of_a_file(ftp, tree):
    entries = parse_list(listing(ftp, "LIST sub/b.bin"))
    assert len(entries) == 1
    (name, parts), = entries.items()
    assert name.endswith("b.bin") and int(parts[4]) == len(tree.files["sub/b.bin"])


@pytest.mark.parametrize("d", ["", "sub", "empty dir"])
def test_nlst_names(ftp, tree, d):
    data = listing(ftp, f"NLST {d}".strip(), mode="epsv")
    names = {n.rsplit("/", 1)[-1] for n in data.decode("utf-8").splitlines() if n}
    assert names == set(os.listdir(tree.root / d))


def test_listing_over_port(ftp, tree):
    data = listing(ftp, "NLST", mode="port")
    names = {n.rsplit("/", 1)[-1] for n in data.decode("utf-8").splitlines() if n}
    assert names == set(os.listdir(tree.root))


def test_list_missing_dir(ftp):
    with pytest.raises(ftplib.error_perm) as exc:
        listing(ftp, "MLSD nonexistent")
    assert str(exc.value).startswith("550")
    assert ftp.sendcmd("NOOP").startswith("200")


def test_mlsd_of_a_file_is_refused(ftp):
    with pytest.raises(ftplib.error_perm) as exc:
        listing(ftp, "MLSD small.txt")
    assert str(exc.value).startswith("501") or str(exc.value).startswith("550")


# ---------------------------------------------------------------- ABOR

def _start_big_download(ftp, huge):
    ftp.voidcmd("TYPE I")
    s = open_data(ftp, "pasv", f"RETR {huge.huge_name}", rcvbuf=32768)
    got = 0
    while got < 256 * 1024:
        b = s.recv(65536)
        assert b, "download ended early"
        got += len(b)
    return s


def test_abor_mid_transfer_ftplib(ftp, huge, tree):
    s = _start_big_download(ftp, huge)
    try:
        resp = ftp.abort()  # ABOR sent as urgent data, as ftplib does it
        assert resp.startswith("426"), resp
        resp = ftp.getmultiline()
        assert resp.startswith("226"), f"after 426: {resp}"
    finally:
        s.close()
    assert ftp.sendcmd("NOOP").startswith("200")
    assert sha256(retr(ftp, "random1m.bin")) == sha256(tree.files["random1m.bin"])


def test_abor_mid_transfer_telnet_ip_dm(ftp, huge, tree):
    s = _start_big_download(ftp, huge)
    try:
        ftp.sock.sendall(b"\xff\xf4\xff\xf2ABOR\r\n")
        resp = ftp.getmultiline()
        assert resp.startswith("426"), resp
        resp = ftp.getmultiline()
        assert resp.startswith("226"), f"after 426: {resp}"
    finally:
        s.close()
    assert ftp.sendcmd("NOOP").startswith("200")
    assert retr(ftp, "sub/a.txt", "epsv") == tree.files["sub/a.txt"]


def test_client_closes_data_connection_mid_transfer(ftp, huge, tree):
    s = _start_big_download(ftp, huge)
    s.close()
    resp = ftp.getmultiline()
    assert resp[:3] in ("426", "451", "226"), resp
    assert ftp.sendcmd("NOOP").startswith("200")
    assert retr(ftp, "small.txt") == tree.files["small.txt"]


# ---------------------------------------------------------------- curl

def curl(*args):
    r = subprocess.run(["curl", "-s", "-S", "--max-time", "60"] + [str(a) for a in args],
                       capture_output=True, timeout=90, stdin=subprocess.DEVNULL)
    return r


def url(server, rel):
    return f"ftp://127.0.0.1:{server.port}/" + urllib.parse.quote(rel)


@pytest.mark.parametrize("opts", [
    [], ["--ftp-pasv"], ["--ftp-pasv", "--disable-epsv"], ["-P", "127.0.0.1"],
    ["-P", "127.0.0.1", "--disable-eprt"],
], ids=["default", "pasv-epsv", "pasv-only", "active-eprt", "active-port"])
def test_curl_download(server, tree, tmp_path, opts):
    out = tmp_path / "out.bin"
    r = curl(*opts, url(server, "big10m.bin"), "-o", out)
    assert r.returncode == 0, r.stderr
    assert sha256_file(out) == sha256(tree.files["big10m.bin"])


def test_curl_resume(server, tree, tmp_path):
    out = tmp_path / "partial.bin"
    data = tree.files["random1m.bin"]
    out.write_bytes(data[:300000])
    r = curl("-C", "-", url(server, "random1m.bin"), "-o", out)
    assert r.returncode == 0, r.stderr
    assert sha256_file(out) == sha256(data)


@pytest.mark.parametrize("name", ["h\u00e9llo.txt", "name with spaces.txt", "sub/deeper/c.txt"])
def test_curl_names(server, tree, tmp_path, name):
    out = tmp_path / "out"
    r = curl(url(server, name), "-o", out)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == tree.files[name]


def test_curl_listing_and_missing(server, tree):
    r = curl("--list-only", url(server, "sub/"))
    assert r.returncode == 0, r.stderr
    assert set(r.stdout.decode().split()) == set(os.listdir(tree.root / "sub"))
    r = curl(url(server, "sub/"))
    assert r.returncode == 0, r.stderr
    assert "a.txt" in r.stdout.decode() and "deeper" in r.stdout.decode()
    r = curl(url(server, "nonexistent.bin"))
    assert r.returncode != 0


# ---------------------------------------------------------------- lftp

def lftp(server, script, tmp_path, passive=True):
    env = dict(os.environ, HOME=str(tmp_path), LC_ALL="C.UTF-8")
    cmds = (f"set ftp:passive-mode {'on' if passive else 'off'}; set ftp:ssl-allow no; "
            "set net:max-retries 2; set net:timeout 15; set net:reconnect-interval-base 1; "
            "set cmd:fail-exit yes; set xfer:clobber on; "
            f"{script}; bye")
    return subprocess.run(["lftp", "-e", cmds, "-u", f"anonymous,{ANON_PASS}",
                           f"ftp://127.0.0.1:{server.port}"],
                          capture_output=True, timeout=120, env=env, cwd=tmp_path,
                          stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("passive", [True, False], ids=["passive", "active"])
def test_lftp_get(server, tree, tmp_path, passive):
    out = tmp_path / "got.bin"
    r = lftp(server, f"get big10m.bin -o {out}", tmp_path, passive)
    assert r.returncode == 0, r.stderr
    assert sha256_file(out) == sha256(tree.files["big10m.bin"])


def test_lftp_get_utf8_and_spaces(server, tree, tmp_path):
    r = lftp(server, f'get "name with spaces.txt" -o {tmp_path}/a; '
                     f'get "h\u00e9llo.txt" -o {tmp_path}/b', tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "a").read_bytes() == tree.files["name with spaces.txt"]
    assert (tmp_path / "b").read_bytes() == tree.files["h\u00e9llo.txt"]


def test_lftp_mirror(server, tree, tmp_path):
    dest = tmp_path / "mirror"
    r = lftp(server, f"mirror sub {dest}", tmp_path)
    assert r.returncode == 0, r.stderr
    got = {}
    for dirpath, _dirs, files in os.walk(dest):
        for fn in files:
            p = os.path.join(dirpath, fn)
            got["sub/" + os.path.relpath(p, dest)] = open(p, "rb").read()
    want = {k: v for k, v in tree.files.items() if k.startswith("sub/")}
    assert got == want


def test_lftp_pget(server, tree, tmp_path):
    out = tmp_path / "pget.bin"
    r = lftp(server, f"pget -n 3 big10m.bin -o {out}", tmp_path)
    assert r.returncode == 0, r.stderr
    assert sha256_file(out) == sha256(tree.files["big10m.bin"])
