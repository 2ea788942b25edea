"""`make run` (contrib/make-run.sh) while its demo already runs: it says so,
with the PID, the address the demo listens on and how to stop it, exits
non-zero and changes nothing (the running server's configuration file stays
byte for byte what it runs on, and it keeps serving). A stale PidFile (a dead
PID, or one reused by another program) does not block a new demo."""

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from helpers import ANON_PASS, BUILD, ftp_close, ftp_open, free_port, kill_quietly, pid_alive, \
    retr, wait_until

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "contrib" / "make-run.sh"
BANNER = "poolftpd demo: serving"


def env_with(port):
    env = dict(os.environ, PORT=str(port))
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"):
        env.pop(k, None)
    return env


class Demo:
    """One demo started exactly as `make run`'s last step starts it."""

    def __init__(self, run_dir, port):
        self.run_dir, self.port = run_dir, port
        self.out = run_dir.parent / f"demo-{port}.out"
        with open(self.out, "wb") as f:
            # sh execs poolftpd: this PID is the demo's master.
            self.popen = subprocess.Popen(["sh", str(SCRIPT), str(BUILD), str(run_dir)],
                                          env=env_with(port), stdout=f, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, start_new_session=True)
        wait_until(self.answers, 20, what=f"the demo on port {port}")

    @property
    def pid(self):
        return self.popen.pid

    def answers(self):
        if self.popen.poll() is not None:
            raise AssertionError(f"the demo exited {self.popen.returncode}:\n{self.out.read_text()}")
        try:
            ftp = ftp_open(self.port, password=ANON_PASS)
        except OSError:
            return False
        try:
            return retr(ftp, "pub/README.txt").startswith(b"This is the poolftpd demo tree")
        finally:
            ftp_close(ftp)

    def stop(self):
        if self.popen.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                kill_quietly(self.pid)
                self.popen.wait(timeout=5)


@pytest.fixture
def demos():
    started = []
    yield started
    for d in started:
        d.stop()


def second_run(cmd, port):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env_with(port),
                          stdin=subprocess.DEVNULL)


def test_second_make_run_reports_the_running_demo_and_changes_nothing(tmp_path, demos):
    run_dir = tmp_path / "run"
    port = free_port()
    demo = Demo(run_dir, port)
    demos.append(demo)
    assert BANNER in demo.out.read_text()
    conf = run_dir / "poolftpd.conf"
    before, mtime = conf.read_bytes(), conf.stat().st_mtime_ns
    assert re.search(rf"^Port\s+{port}$", before.decode(), re.M)
    assert (run_dir / "poolftpd.pid").read_text().strip() == str(demo.pid)

    expected = (f"make run: the demo is already running (PID {demo.pid}, 127.0.0.1:{port}); "
                f"stop it with: kill {demo.pid}")
    other = free_port()
    runs = {
        "script": ["sh", str(SCRIPT), str(BUILD), str(run_dir)],
        # The real target: it checks before building anything.
        "make run": ["make", "-s", "-C", str(REPO), "run", f"BUILD={BUILD}",
                     f"RUN_DIR={run_dir}"],
    }
    for name, cmd in runs.items():
        r = second_run(cmd, other)
        out = f"{name}: exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
        assert r.returncode != 0, out
        assert expected in r.stderr.splitlines(), out
        assert BANNER not in r.stdout + r.stderr, out
        assert conf.read_bytes() == before and conf.stat().st_mtime_ns == mtime, \
            f"{name} rewrote the running demo's configuration"
        assert demo.answers(), f"the demo stopped answering after {name}"
        assert pid_alive(demo.pid)
    assert r.returncode == 2 and "Error 1" in r.stderr  # make's report of the failed step

    # The other way to stop it the message names works on the demo config.
    ctl = re.search(r"or: (\S+ftpdctl -c \S+ stop)\)", second_run(runs["script"], other).stderr)
    assert ctl, "no ftpdctl command in the message"
    r = subprocess.run(ctl.group(1).split(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    demo.popen.wait(timeout=15)
    assert not (run_dir / "poolftpd.pid").exists()


@pytest.mark.parametrize("stale", ["dead-pid", "other-program"])
def test_stale_pidfile_does_not_block_a_new_demo(tmp_path, demos, stale):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    if stale == "dead-pid":
        p = subprocess.Popen(["true"])
        p.wait()
        other = None
    else:
        other = subprocess.Popen(["sleep", "120"])
        p = other
    try:
        (run_dir / "poolftpd.pid").write_text(f"{p.pid}\n")
        port = free_port()
        demo = Demo(run_dir, port)
        demos.append(demo)
        assert BANNER in demo.out.read_text()
        assert (run_dir / "poolftpd.pid").read_text().strip() == str(demo.pid)
        assert re.search(rf"^Port\s+{port}$", (run_dir / "poolftpd.conf").read_text(), re.M)
    finally:
        if other is not None:
            other.kill()
            other.wait()
