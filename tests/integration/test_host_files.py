"""The suite never depends on the host's files (issue 11, found today 4).

A stale /etc/shutmsg on the machine made every test fail at its first
connection: the suite's servers named no ShutdownFile, so they read the
compiled-in default, the host's file. Every server the tests start now names
its own PidFile, ScoreboardFile, ShutdownFile, SystemLog and TransferLog in
its test directory (helpers.Server; the `make run` demo and `make bench`
configurations name theirs under their run directory), every tool is run
with the server's config or scoreboard (-c / -f), and the private worlds of
world.py start without the host's poolftpd files in their copy of /etc.

The proof never touches the host's /etc: it runs in a private world
(world.py: mount, PID and network namespaces over a copy of /etc), which
gets a shutdown in force at the default path /etc/shutmsg. There a server
whose config has no ShutdownFile line must refuse logins (so the planted file
really is read at the default path, and the check can fail); then real
modules of this suite run in the same world and must pass."""

import json
import os
from pathlib import Path

import pytest

from helpers import BUILD, POOLFTPD, Identity, Server
from world import run_world, unshare_works

HERE = Path(__file__).resolve().parent
DEFAULT_SHUTMSG = Path("/etc/shutmsg")  # include/poolftpd/config/config.h
# A shutdown that began long ago, logins denied and sessions cut from then on
# (ProFTPD's format: time, deny and disconnect offsets, the message).
STALE_SHUTMSG = "2001 1 1 0 0 0 0000 0000\nstale shutdown file left on the host\n"
# Modules of the suite that start servers and tools in every way (pool,
# inetd, ftpshut, ftpwho/ftpcount, config errors) and run in about a minute.
MODULES = ["test_ftpshut.py", "test_tools.py", "test_inetd.py", "test_protocol_nits.py",
           "test_config_errors.py"]

needs_world = pytest.mark.skipif(
    not unshare_works(), reason="needs root and unshare (a private mount namespace)")

# Run inside the world: starts poolftpd on CONF in the foreground, waits for
# MARKER in its SystemLog (the master has read the shutdown file, or has
# started: it reads the file right after the STARTUP line), reads the greeting
# of one connection and stops the server; prints {"greeting", "log"}.
PROBE = r'''
import json, signal, socket, subprocess, sys, time
conf, port, binary, syslog, marker = sys.argv[1:6]
p = subprocess.Popen([binary, "-n", "-c", conf], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
def log():
    try:
        with open(syslog, errors="replace") as f:
            return f.read()
    except OSError:
        return ""
greeting, deadline = None, time.monotonic() + 15
while marker not in log() and time.monotonic() < deadline and p.poll() is None:
    time.sleep(0.02)
while marker in log() and greeting is None and time.monotonic() < deadline:
    try:
        with socket.create_connection(("127.0.0.1", int(port)), timeout=5) as s:
            greeting = s.makefile("rb").readline().decode("utf-8", "replace").rstrip()
    except OSError:
        time.sleep(0.02)
p.send_signal(signal.SIGTERM)
try:
    p.wait(timeout=10)
except subprocess.TimeoutExpired:
    p.kill()
print(json.dumps({"greeting": greeting, "log": log()}))
'''


def host_state():
    try:
        return DEFAULT_SHUTMSG.read_bytes()
    except FileNotFoundError:
        return None


def show(res):
    return "\n".join(f"$ {r['cmd']}\nrc={r['rc']}\n{r['out'][-4000:]}\n{r['err'][-4000:]}"
                     for r in res)


@needs_world
def test_suite_passes_with_a_stale_shutmsg_at_the_default_path(tree, workbase, tmp_path):
    before = host_state()
    # The control: the suite's own server config without its ShutdownFile
    # line, so the compiled-in default applies.
    s = Server(Identity("root"), tree, workbase)
    lines = [l for l in s.config_text().splitlines() if not l.startswith("ShutdownFile ")]
    default_log = s.log_dir / "default-shutmsg.log"
    lines = [f"SystemLog {default_log}" if l.startswith("SystemLog ") else l for l in lines]
    default_conf = s.dir / "default-shutmsg.conf"
    default_conf.write_text("\n".join(lines) + "\n")
    os.chmod(default_conf, 0o644)
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    stale = tmp_path / "stale.shutmsg"
    stale.write_text(STALE_SHUTMSG)
    steps = [
        f"!install -m 0644 {stale} {DEFAULT_SHUTMSG}",
        f"/usr/bin/python3 {probe} {default_conf} {s.port} {POOLFTPD} {default_log} "
        f"'shutdown pending (ShutdownFile {DEFAULT_SHUTMSG})'",
        f"/usr/bin/python3 {probe} {s.conf} {s.port} {POOLFTPD} {s.syslog} 'mode STARTUP'",
        f"cd {HERE} && /usr/bin/python3 -m pytest -q -p no:cacheprovider {' '.join(MODULES)}",
        f"cat {DEFAULT_SHUTMSG}",
    ]
    res = run_world(tmp_path / "world", steps, drop_ftp=False,
                    env={"POOLFTPD_BUILD": str(BUILD)}, timeout=900, step_timeout=800)
    assert host_state() == before, "the world's /etc/shutmsg reached the host"
    assert len(res) == len(steps), show(res)
    default = json.loads(res[1]["out"].splitlines()[-1])
    assert default["greeting"] and default["greeting"].startswith("421 "), \
        f"without a ShutdownFile line the stale {DEFAULT_SHUTMSG} must refuse: {default}"
    own = json.loads(res[2]["out"].splitlines()[-1])
    assert own["greeting"] and own["greeting"].startswith("220 "), \
        f"the suite's server config read {DEFAULT_SHUTMSG}: {own}"
    assert str(DEFAULT_SHUTMSG) not in own["log"], own["log"]
    assert res[3]["rc"] == 0, "the suite failed with a stale /etc/shutmsg:\n" + show(res[3:4])
    assert res[4]["out"] == STALE_SHUTMSG, "the shutdown file changed during the run: " + show(res[4:])
