"""A private world for tests that must change what root changes: accounts,
/etc, /srv, /usr/local. `run_world()` starts this file under
`unshare --mount --net --pid --fork --kill-child --mount-proc`; inside, it
bind-mounts a copy of the host's /etc over /etc (optionally without the
"ftp" account, as on stock Debian), mounts empty tmpfs over /srv, /var/log,
/run and /usr/local, brings up loopback (the only interface of the new
network namespace), runs the given shell steps in order and prints their
results as JSON. The real tools (useradd, make install, start-stop-daemon,
fail2ban-regex) really run and really change that world; nothing reaches the
host, and every process started inside dies with the PID namespace."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TMPFS = ("/srv", "/var/log", "/run", "/usr/local")
ACCOUNT_FILES = ("passwd", "group", "shadow", "gshadow")
# What poolftpd and its scripts read from /etc: a world starts without the
# host's copies (a stale /etc/shutmsg would refuse every login in it).
POOLFTPD_ETC_FILES = ("shutmsg", "poolftpd.conf", "default/poolftpd")


def unshare_works():
    """Whether this process may make the namespaces (root, not forbidden)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    r = subprocess.run(["unshare", "--mount", "--net", "--pid", "--fork", "--kill-child",
                        "--mount-proc", "true"], capture_output=True, timeout=30)
    return r.returncode == 0


def run_world(workdir, steps, drop_ftp=True, env=None, timeout=600, step_timeout=300):
    """Runs `steps` (shell command strings) in a fresh world; returns a list
    of {"cmd", "rc", "out", "err"}, one per step run (it stops after a step
    whose command starts with "!" fails, the "!" being stripped). Each step
    may take `step_timeout` seconds."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    spec = workdir / "world.json"
    spec.write_text(json.dumps({"workdir": str(workdir), "steps": steps, "drop_ftp": drop_ftp,
                                "env": env or {}, "step_timeout": step_timeout}))
    r = subprocess.run(["unshare", "--mount", "--net", "--pid", "--fork", "--kill-child",
                        "--mount-proc", sys.executable, str(HERE / "world.py"), str(spec)],
                       capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, f"world setup failed: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    return json.loads(r.stdout.splitlines()[-1])


def _setup(workdir, drop_ftp):
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)  # noqa: E731
    # Nothing mounted here propagates to the host.
    run("mount", "--make-rprivate", "/")
    etc = Path(workdir) / "etc"
    if etc.exists():
        shutil.rmtree(etc)
    run("cp", "-a", "/etc", str(etc))
    for name in POOLFTPD_ETC_FILES:
        (etc / name).unlink(missing_ok=True)
    if drop_ftp:
        for name in ACCOUNT_FILES:
            p = etc / name
            if p.exists():
                lines = p.read_text().splitlines(keepends=True)
                p.write_text("".join(l for l in lines if not l.startswith("ftp:")))
    run("mount", "--bind", str(etc), "/etc")
    for d in TMPFS:
        run("mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", d)
    run("ip", "link", "set", "lo", "up")


def _main(spec_path):
    spec = json.loads(Path(spec_path).read_text())
    _setup(spec["workdir"], spec["drop_ftp"])
    env = dict(os.environ)
    # A make started from `make test` must not inherit its jobserver.
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"):
        env.pop(k, None)
    env.update(spec["env"])
    results = []
    for cmd in spec["steps"]:
        must = cmd.startswith("!")
        if must:
            cmd = cmd[1:]
        r = subprocess.run(["/bin/sh", "-c", cmd], capture_output=True, text=True, env=env,
                           timeout=spec.get("step_timeout", 300), stdin=subprocess.DEVNULL)
        results.append({"cmd": cmd, "rc": r.returncode, "out": r.stdout, "err": r.stderr})
        if must and r.returncode != 0:
            break
    print(json.dumps(results))


if __name__ == "__main__":
    _main(sys.argv[1])
