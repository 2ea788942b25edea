"""`make install`: every file lands where its consumer reads it, whatever
PREFIX is (init script in /etc/init.d, the unit in a directory systemd
searches, logrotate and fail2ban under /etc), with its paths rewritten to that
PREFIX and with the right modes; DESTDIR is honoured and leaves the host's
accounts alone. The installed fail2ban filter is checked the way fail2ban
reads it (by name, beside the real common.conf) against a real server's
failed logins, and the installed jail is disabled until a .local enables it.

As root, a real `make install` with no DESTDIR runs in a private world
(world.py: copies of /etc, empty /srv, /usr/local, /var/log, /run, loopback
only): it creates the ftp account and /srv/ftp (contrib/ftp-account.sh,
idempotent, never touching an existing account), the installed sample
configuration passes -t and starts through the installed init script, and
the README's fail2ban check works as written. The host is unchanged after."""

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from helpers import ANON_PASS, BUILD, IS_ROOT, POOLFTPD, Ctl, Identity, Server, ftp_close, \
    ftp_open, listing, wait_until
from world import run_world, unshare_works

REPO = Path(__file__).resolve().parents[2]
HOST_FILES = ("/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow")


def make_env():
    env = dict(os.environ)
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"):
        env.pop(k, None)
    return env


def host_snapshot():
    snap = {}
    for f in HOST_FILES + ("/srv",):
        p = Path(f)
        if p.is_dir():
            snap[f] = sorted(os.listdir(p))
        elif p.exists():
            snap[f] = p.read_bytes()
    return snap


def pkg_unitdir():
    if shutil.which("pkg-config"):
        r = subprocess.run(["pkg-config", "--variable=systemdsystemunitdir", "systemd"],
                           capture_output=True, text=True)
        if r.returncode == 0 and r.stdout.strip():
            return r.stdout.strip()
    return "/usr/lib/systemd/system"


def systemd_unit_paths():
    """The directories systemd searches for system units, or None."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return None
    r = subprocess.run([analyze, "unit-paths", "--system"], capture_output=True, text=True,
                       timeout=60)
    return r.stdout.split() if r.returncode == 0 else None


# PREFIX, extra make variables, and where things must land.
LAYOUTS = {
    "usr-local": dict(prefix="/usr/local", vars=[], sbin="/usr/local/sbin",
                      bin="/usr/local/bin", sysconf="/usr/local/etc",
                      unitdir="/usr/local/lib/systemd/system", run="/run/poolftpd",
                      log="/var/log/poolftpd"),
    "usr": dict(prefix="/usr", vars=[], sbin="/usr/sbin", bin="/usr/bin", sysconf="/etc",
                unitdir=pkg_unitdir(), run="/run/poolftpd", log="/var/log/poolftpd"),
    # A private prefix systemd does not search: the unit goes to /etc.
    "opt": dict(prefix="/opt/poolftpd", vars=["RUNDIR=/run/pf", "LOGDIR=/var/log/pf"],
                sbin="/opt/poolftpd/sbin", bin="/opt/poolftpd/bin", sysconf="/opt/poolftpd/etc",
                unitdir="/etc/systemd/system", run="/run/pf", log="/var/log/pf"),
}


@pytest.fixture(scope="module", params=sorted(LAYOUTS))
def installed(request, tmp_path_factory):
    lay = dict(LAYOUTS[request.param], name=request.param)
    dest = tmp_path_factory.mktemp(f"destdir-{request.param}")
    before = host_snapshot()
    r = subprocess.run(["make", "-C", str(REPO), "install", f"DESTDIR={dest}",
                        f"PREFIX={lay['prefix']}", f"BUILD={BUILD}"] + lay["vars"],
                       capture_output=True, text=True, timeout=600, env=make_env(),
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    assert host_snapshot() == before, "make install with DESTDIR changed the host's accounts or /srv"
    lay["dest"], lay["output"] = dest, r.stdout + r.stderr
    return lay


def at(lay, path):
    return lay["dest"] / path.lstrip("/")


def mode(p):
    return stat.S_IMODE(os.stat(p).st_mode)


def test_files_land_where_their_consumers_read_them(installed):
    lay = installed
    expect = {
        f"{lay['sbin']}/poolftpd": 0o755,
        f"{lay['sysconf']}/poolftpd.conf": 0o644,
        "/etc/init.d/poolftpd": 0o755,
        f"{lay['unitdir']}/poolftpd.service": 0o644,
        "/etc/logrotate.d/poolftpd": 0o644,
        "/etc/fail2ban/filter.d/poolftpd.conf": 0o644,
        "/etc/fail2ban/jail.d/poolftpd.conf": 0o644,
    }
    for tool in ("ftpwho", "ftpcount", "ftpshut", "ftpdctl", "ftpbench"):
        expect[f"{lay['bin']}/{tool}"] = 0o755
    for path, m in expect.items():
        p = at(lay, path)
        assert p.is_file(), f"{path} not installed; DESTDIR holds {sorted(str(x) for x in lay['dest'].rglob('*'))}"
        assert mode(p) == m, f"{path}: mode {oct(mode(p))}, want {oct(m)}"
    assert at(lay, lay["log"]).is_dir(), "the log directory of the sample configuration"
    # Nothing where no consumer looks.
    for wrong in (f"{lay['sysconf']}/init.d", f"{lay['sysconf']}/fail2ban",
                  f"{lay['sysconf']}/logrotate.d"):
        if lay["sysconf"] != "/etc":
            assert not at(lay, wrong).exists(), f"{wrong} is read by nothing"
    # No account was created, and the output says what a packager must do.
    assert not at(lay, "/etc/passwd").exists()
    assert "DESTDIR is set" in lay["output"] and "user ftp" in lay["output"], lay["output"]


def test_unit_directory_is_searched_by_systemd(installed):
    paths = systemd_unit_paths()
    if paths is None:
        pytest.skip("systemd-analyze is not installed")
    assert installed["unitdir"] in paths, (installed["unitdir"], paths)


def test_paths_are_rewritten_for_the_prefix(installed):
    lay = installed
    init = at(lay, "/etc/init.d/poolftpd").read_text()
    unit = at(lay, f"{lay['unitdir']}/poolftpd.service").read_text()
    rot = at(lay, "/etc/logrotate.d/poolftpd").read_text()
    jail = at(lay, "/etc/fail2ban/jail.d/poolftpd.conf").read_text()
    conf = at(lay, f"{lay['sysconf']}/poolftpd.conf").read_text()
    assert f"DAEMON=${{POOLFTPD_DAEMON:-{lay['sbin']}/poolftpd}}" in init
    assert f"CONFIG=${{POOLFTPD_CONFIG:-{lay['sysconf']}/poolftpd.conf}}" in init
    assert f"PIDFILE=${{PIDFILE:-{lay['run']}/poolftpd.pid}}" in init
    assert f"ExecStart={lay['sbin']}/poolftpd -n -q -c ${{POOLFTPD_CONFIG}}" in unit
    assert f"Environment=POOLFTPD_CONFIG={lay['sysconf']}/poolftpd.conf " in unit
    assert f"{lay['bin']}/ftpdctl reopen-logs" in rot
    assert f"{lay['log']}/*.log {lay['log']}/xferlog {{" in rot
    assert f"cat {lay['run']}/poolftpd.pid" in rot
    assert f"logpath  = {lay['log']}/poolftpd.log" in jail
    # The installed sample names the same PidFile and logs as the scripts.
    assert f"PidFile {lay['run']}/poolftpd.pid" in conf
    assert f"SystemLog {lay['log']}/poolftpd.log" in conf
    if lay["prefix"] != "/usr":
        for text in (init, unit, rot):
            assert "/usr/sbin/poolftpd" not in text and "/usr/bin/ftpdctl" not in text
            assert not re.search(r"(?<![\w/])/etc/poolftpd\.conf", text), text


def test_installed_jail_is_disabled(installed):
    jail = at(installed, "/etc/fail2ban/jail.d/poolftpd.conf").read_text()
    assert re.search(r"^enabled\s*=\s*false$", jail, re.M), jail


def test_installed_unit_verifies(installed, tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    lay = installed
    # The unit as installed, with ExecStart pointing at this DESTDIR's binary
    # (the host has none at SBINDIR); the world test verifies it in place.
    unit = tmp_path / "poolftpd.service"
    text = at(lay, f"{lay['unitdir']}/poolftpd.service").read_text()
    unit.write_text(text.replace(f"{lay['sbin']}/poolftpd", str(at(lay, f"{lay['sbin']}/poolftpd"))))
    env = dict(os.environ, MANPATH=str(at(lay, f"{lay['prefix']}/share/man")),
               SYSTEMD_LOG_LEVEL="notice")
    r = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, env=env,
                       cwd=tmp_path, timeout=120)
    mine = [l for l in (r.stdout + r.stderr).splitlines() if "poolftpd" in l]
    assert r.returncode == 0 and not mine, r.stdout + r.stderr


# --------------------------------------------------------------------------
# fail2ban, as fail2ban itself reads the installed files
# --------------------------------------------------------------------------

def fail2ban_conf_with(installed, tmp_path):
    """A copy of the host's /etc/fail2ban with the DESTDIR's files laid over
    it: what fail2ban reads after the install, without touching /etc."""
    if not Path("/etc/fail2ban/filter.d/common.conf").exists():
        pytest.skip("fail2ban is not installed")
    conf = tmp_path / "fail2ban"
    shutil.copytree("/etc/fail2ban", conf, symlinks=True)
    # Only our jail: the distribution's enabled jails want their own logs.
    for p in (conf / "jail.d").iterdir():
        p.unlink()
    src = at(installed, "/etc/fail2ban")
    for p in src.rglob("*"):
        if p.is_file():
            shutil.copy(p, conf / p.relative_to(src))
    return conf


@pytest.fixture
def failed_logins(tree, workbase):
    """A real server's SystemLog with 3 failed logins and the
    "Maximum login attempts" line, plus a successful anonymous session."""
    s = Server(Identity("root" if IS_ROOT else "nobody"), tree, workbase)
    s.start()
    try:
        with Ctl(s.port, read_greeting=True) as c:
            for _ in range(3):
                c.cmd("USER bob")
                c.cmd("PASS wrong")
            c.wait_closed()
        ftp = ftp_open(s.port, password=ANON_PASS)
        try:
            listing(ftp, "NLST")
        finally:
            ftp_close(ftp)
        wait_until(lambda: "Maximum login attempts (3) exceeded" in s.syslog_text()
                   and s.syslog_text().count("FTP session closed") >= 2, 10,
                   what="the failed-login lines")
    finally:
        assert s.stop() == []
    return s.syslog


def test_installed_filter_matches_real_failed_logins_by_name(installed, tmp_path, failed_logins):
    if installed["name"] != "usr-local":
        pytest.skip("the fail2ban files do not depend on PREFIX; checked once")
    if shutil.which("fail2ban-regex") is None:
        pytest.skip("fail2ban-regex is not installed")
    conf = fail2ban_conf_with(installed, tmp_path)
    # By name, as the README says: fail2ban finds filter.d/poolftpd.conf and
    # the common.conf it includes in its configuration directory.
    r = subprocess.run(["fail2ban-regex", "-c", str(conf), "-o", "ip", str(failed_logins),
                        "poolftpd"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    ips = r.stdout.split()
    assert ips == ["127.0.0.1"] * 4, (r.stdout, failed_logins.read_text())


def test_installed_jail_is_enabled_by_a_local_file(installed, tmp_path, failed_logins):
    if installed["name"] != "usr-local":
        pytest.skip("the fail2ban files do not depend on PREFIX; checked once")
    client = shutil.which("fail2ban-client")
    if client is None:
        pytest.skip("fail2ban-client is not installed")
    conf = fail2ban_conf_with(installed, tmp_path)

    def dump():
        r = subprocess.run([client, "-c", str(conf), "-d"], capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout

    assert "'poolftpd'" not in dump(), "the installed jail must not be active by itself"
    # The README's way to enable it (and to point it at this log).
    (conf / "jail.d" / "poolftpd.local").write_text(
        f"[poolftpd]\nenabled = true\nlogpath = {failed_logins}\n")
    d = dump()
    assert "['add', 'poolftpd'," in d and f"'addlogpath', '{failed_logins}'" in d, d
    assert "49152:65534" in d


# --------------------------------------------------------------------------
# A real `make install` as root, in a private world
# --------------------------------------------------------------------------

needs_world = pytest.mark.skipif(not (IS_ROOT and unshare_works()),
                                 reason="needs root and unshare (mount, net, pid namespaces)")


def by_cmd(results):
    return {r["cmd"]: r for r in results}


def show(r):
    return f"$ {r['cmd']}\nexit {r['rc']}\n{r['out']}{r['err']}"


@needs_world
def test_make_install_on_stock_debian_then_start_and_fail2ban(tmp_path):
    before = host_snapshot()
    sample = REPO / "conf" / "poolftpd.conf"
    user_line = next(i for i, l in enumerate(sample.read_text().splitlines(), 1)
                     if l.strip() == "User ftp")
    login = ("/usr/bin/python3 -c 'import ftplib,sys\n"
             "f=ftplib.FTP(); f.connect(\"127.0.0.1\", 21, timeout=10)\n"
             "f.login(\"anonymous\", \"me@example.org\"); print(f.pwd()); f.quit()'")
    bad = ("/usr/bin/python3 -c 'import ftplib\n"
           "f=ftplib.FTP(); f.connect(\"127.0.0.1\", 21, timeout=10)\n"
           "for _ in range(3):\n"
           "  f.sendcmd(\"USER bob\")\n"
           "  try: f.sendcmd(\"PASS wrong\")\n"
           "  except ftplib.error_perm as e: print(e)\n'")
    steps = [
        "getent passwd ftp",                                       # 0: stock: none
        f"{POOLFTPD} -t -c {sample}",                              # 1: the reported failure
        f"!make -C {REPO} install BUILD={BUILD}",                  # 2
        "getent passwd ftp; getent group ftp",                     # 3
        "stat -c '%U:%G %a %F' /srv/ftp",                          # 4
        "/usr/local/sbin/poolftpd -t",                             # 5: compiled-in default config
        "!/etc/init.d/poolftpd start",                             # 6
        login,                                                     # 7
        bad,                                                       # 8
        # The README's check, word for word.
        "command -v fail2ban-regex >/dev/null || exit 77; "
        "fail2ban-regex /var/log/poolftpd/poolftpd.log poolftpd",  # 9
        "command -v systemd-analyze >/dev/null || exit 77; "
        "systemd-analyze verify /usr/local/lib/systemd/system/poolftpd.service",  # 10
        "/etc/init.d/poolftpd stop",                               # 11
        # Again: idempotent, the account and the tree are left alone.
        "md5sum /etc/passwd /etc/group /etc/shadow",
        f"make -C {REPO} install BUILD={BUILD}",
        "md5sum /etc/passwd /etc/group /etc/shadow",
    ]
    res = run_world(tmp_path / "world", steps, drop_ftp=True)
    assert host_snapshot() == before, "the world leaked into the host"
    assert len(res) == len(steps), show(res[-1])
    assert res[0]["rc"] == 2, show(res[0])  # getent: not found
    assert res[1]["rc"] == 1, show(res[1])
    assert f'poolftpd: {sample}:{user_line}: User "ftp": no such user on this system' \
        in res[1]["err"].splitlines(), show(res[1])
    out = res[2]["out"]
    assert "ftp-account: created system group ftp" in out, show(res[2])
    assert "ftp-account: created system user ftp" in out and "created /srv/ftp" in out, show(res[2])
    pw, gr = res[3]["out"].splitlines()
    f = pw.split(":")
    assert f[0] == "ftp" and int(f[2]) < 1000 and f[5] == "/srv/ftp" and f[6].endswith("nologin"), pw
    assert gr.split(":")[0] == "ftp" and gr.split(":")[2] == f[3], (pw, gr)
    assert res[4]["out"].strip() == "root:root 755 directory", show(res[4])
    assert res[5]["rc"] == 0 and "Syntax OK" in res[5]["out"], show(res[5])
    assert res[6]["rc"] == 0, show(res[6])
    assert res[7]["rc"] == 0 and res[7]["out"].strip() == "/", show(res[7])
    assert res[8]["out"].count("530") == 3, show(res[8])
    if res[9]["rc"] != 77:  # 77: fail2ban is not installed
        assert res[9]["rc"] == 0, show(res[9])
        m = re.search(r"^Lines: \d+ lines, \d+ ignored, (\d+) matched", res[9]["out"], re.M)
        assert m and int(m.group(1)) == 4, show(res[9])
    if res[10]["rc"] != 77:
        mine = [l for l in (res[10]["out"] + res[10]["err"]).splitlines() if "poolftpd" in l]
        assert res[10]["rc"] == 0 and not mine, show(res[10])
    assert res[11]["rc"] == 0, show(res[11])
    assert res[12]["out"] == res[14]["out"], "a second make install changed the accounts"
    assert res[13]["rc"] == 0, show(res[13])
    assert "ftp-account: user ftp exists (/srv/ftp); left alone" in res[13]["out"], show(res[13])
    assert "ftp-account: /srv/ftp exists; left alone" in res[13]["out"], show(res[13])


@needs_world
def test_ftp_account_never_touches_an_existing_account(tmp_path):
    """A box that already has an ftp user (another FTP server's, with its own
    home): the script changes no account and only adds /srv/ftp."""
    before = host_snapshot()
    script = REPO / "contrib" / "ftp-account.sh"
    steps = [
        "!useradd --system --home-dir /home/other --no-create-home --shell /bin/false ftp",
        "md5sum /etc/passwd /etc/group /etc/shadow /etc/gshadow",
        f"sh {script}",
        "md5sum /etc/passwd /etc/group /etc/shadow /etc/gshadow",
        "getent passwd ftp | cut -d: -f6,7; stat -c '%U:%G %a' /srv/ftp",
        # A /srv/ftp that exists (here: owned by ftp, 0775) is left as it is.
        "chown ftp /srv/ftp && chmod 0775 /srv/ftp",
        f"sh {script}",
        "stat -c '%U %a' /srv/ftp",
    ]
    res = run_world(tmp_path / "world", steps, drop_ftp=True)
    assert host_snapshot() == before
    assert len(res) == len(steps), show(res[-1])
    assert res[2]["rc"] == 0, show(res[2])
    assert "user ftp exists (/home/other); left alone" in res[2]["out"], show(res[2])
    assert res[1]["out"] == res[3]["out"], "an existing account was modified"
    assert res[4]["out"].split() == ["/home/other:/bin/false", "root:root", "755"], show(res[4])
    assert res[6]["rc"] == 0 and "/srv/ftp exists; left alone" in res[6]["out"], show(res[6])
    assert "warning: /srv/ftp (owner ftp, mode 775) is writable by more than root" in res[6]["err"], \
        show(res[6])
    assert "warning" not in res[2]["err"], show(res[2])
    assert res[7]["out"].split() == ["ftp", "775"], show(res[7])
