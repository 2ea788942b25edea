"""The worker's before-accept privilege stage with the real binary
(docs/SECURITY.md, "S1 privilege stages"): what an anonymous-only worker
holds while it waits for clients, and what happens when the drop fails. The
failure is real, not simulated: the server runs in a user namespace whose
uid_map has the single line "0 0 1" (gids 0-65535 are mapped), so the
worker's setresuid(65534) gets EINVAL after its chroot, setgroups and
setresgid worked."""

import os
import sys

import pytest

from helpers import IS_ROOT, Ctl, Identity, Server, wait_until

# Runs argv[1:] in a new user and mount namespace (uid 0 -> 0 only). The map
# for another process needs root in the parent namespace: a child of the
# wrapper writes it, then the wrapper execs (its PID is the server's).
USERNS_WRAPPER = r"""
import ctypes, os, sys
CLONE_NEWUSER, CLONE_NEWNS = 0x10000000, 0x00020000
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(w)
    ok = os.read(r, 1) == b"u"
    try:
        if ok:
            for name, text in (("uid_map", "0 0 1\n"), ("gid_map", "0 0 65536\n")):
                with open(f"/proc/{os.getppid()}/{name}", "w") as f:
                    f.write(text)
    except OSError:
        ok = False
    os._exit(0 if ok else 1)
os.close(r)
libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0:
    sys.exit("unshare: " + os.strerror(ctypes.get_errno()))
os.write(w, b"u")
_, status = os.waitpid(pid, 0)
if status != 0:
    sys.exit("could not write the uid/gid maps")
os.execv(sys.argv[1], sys.argv[1:])
"""


def userns_works():
    if not IS_ROOT:
        return False
    import subprocess
    r = subprocess.run([sys.executable, "-c", USERNS_WRAPPER, "/bin/cat", "/proc/self/uid_map"],
                       capture_output=True, text=True)
    return r.returncode == 0 and r.stdout.split() == ["0", "0", "1"]


class OneUidNamespace(Identity):
    """Started as (namespace) root, like Identity("root"), in a user
    namespace where only uid 0 exists: the workers' uid switch to nobody
    fails."""

    def __init__(self):
        super().__init__("root")
        self.prefix = [sys.executable, "-c", USERNS_WRAPPER]


def status_of(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def log_lines(s, fragment):
    return [l for l in s.syslog_text().splitlines() if fragment in l]


@pytest.mark.skipif(not IS_ROOT, reason="the privilege drop happens only when started as root")
def test_anonymous_worker_holds_nothing_while_it_waits(tree, workbase):
    s = Server(Identity("root"), tree, workbase, settings={"StartServers": 1, "MinSpareServers": 1})
    try:
        s.start()
        wait_until(lambda: s.children(), 10, what="a worker")
        for pid in s.children():
            st = status_of(pid)
            nobody = st["Uid"].split()
            assert len(set(nobody)) == 1 and nobody[0] != "0", st["Uid"]
            assert len(set(st["Gid"].split())) == 1 and st["Gid"].split()[0] != "0", st["Gid"]
            for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
                assert int(st[key], 16) == 0, f"worker {pid} {key} {st[key]}"
            assert st["NoNewPrivs"] == "1"
            # Chrooted before accept: its root is the <Anonymous> root.
            assert os.readlink(f"/proc/{pid}/root") == str(tree.root)
    finally:
        problems = s.stop()
        assert not problems, problems


@pytest.mark.skipif(not userns_works(), reason="needs root and user namespaces with a written uid_map")
def test_failed_drop_serves_nobody_logs_errno_and_pauses_spawning(tree, workbase):
    s = Server(OneUidNamespace(), tree, workbase, settings={"StartServers": 2, "MinSpareServers": 1})
    try:
        s.start(wait=False)
        wait_until(lambda: log_lines(s, "worker privilege drop failed"), 15,
                   what="the failed drop to be logged")
        failed = log_lines(s, "worker privilege drop failed")
        assert "setresuid(65534) failed: Invalid argument (errno 22)" in failed[0], failed[0]
        # The master treats the worker's exit status 2 (kFatal) as a worker
        # that cannot start: spawning pauses at once, without ten crashes.
        wait_until(lambda: log_lines(s, "spawning paused for"), 15, what="the spawn pause")
        paused = log_lines(s, "spawning paused for")
        assert "a worker could not start (exit status 2)" in paused[0], paused[0]
        # No client is greeted by a worker that kept root: the master itself
        # refuses with 421 (no worker available).
        for _ in range(3):
            with Ctl(s.port, timeout=10) as c:
                code, text = c.reply()
            assert code == 421, text
        assert log_lines(s, "Connection refused (no worker available")
        assert os.path.exists(f"/proc/{s.master_pid}")
    finally:
        problems = s.stop()
        assert not problems, problems
