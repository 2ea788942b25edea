"""bench/run_bench.py, the harness behind `make bench`: --baseline DIR starts
a second poolftpd from another build directory beside this build's, each with
its own run directory and port, and a --baseline without the binaries is a
usage error that names the missing path. Only --check runs here (set-up and
one RETR per server), over a stand-in fixture: the real one is 1 GiB."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from helpers import BUILD

HERE = os.path.dirname(os.path.abspath(__file__))
RUN_BENCH = os.path.join(HERE, "..", "..", "bench", "run_bench.py")
TOOLS = ("poolftpd", "ftpwho", "ftpcount")


def run_bench(args, timeout=180):
    return subprocess.run([sys.executable, RUN_BENCH, *[str(a) for a in args]],
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def build_copy(tmp_path_factory):
    """A build directory whose binaries are this build's (symlinks) and whose
    bench fixture is already there: a sparse 1 GiB file and the 100,000
    empty files, which the harness keeps because size and count match. On
    tmpfs when there is one: 100,000 files on disk take half a minute."""
    shm = "/dev/shm"
    if os.path.isdir(shm) and os.access(shm, os.W_OK):
        d = Path(tempfile.mkdtemp(prefix="poolftpd-bench-test-", dir=shm))
        os.chmod(d, 0o755)
        yield from fill_build(d)
        shutil.rmtree(d, ignore_errors=True)
    else:
        yield from fill_build(tmp_path_factory.mktemp("benchbuild"))


def fill_build(d):
    for tool in TOOLS:
        os.symlink(BUILD / tool, d / tool)
    tree = d / "bench" / "tree"
    tree.mkdir(parents=True)
    (tree / "4k.bin").write_bytes(os.urandom(4096))
    with open(tree / "1g.bin", "wb") as f:
        f.truncate(1 << 30)
    big_dir = tree / "dir100k"
    big_dir.mkdir()
    for i in range(100_000):
        os.close(os.open(big_dir / f"f{i:06d}", os.O_WRONLY | os.O_CREAT, 0o644))
    for p in (tree, big_dir):
        p.chmod(0o755)
    yield d


def test_check_with_baseline_serves_both_builds(build_copy):
    r = run_bench(["--build", build_copy, "--servers", "poolftpd", "--check",
                   "--baseline", BUILD])
    assert r.returncode == 0, r.stderr[-3000:]
    out = r.stdout + r.stderr
    serving = {line.split()[1]: line.split("127.0.0.1:")[1].split()[0]
               for line in out.splitlines() if " serving on 127.0.0.1:" in line}
    assert set(serving) == {"poolftpd", "poolftpd-base"}, out[-3000:]
    assert serving["poolftpd"] != serving["poolftpd-base"]
    run_dir = build_copy / "bench" / "run"
    # Each build has its own configuration, pid file and scoreboard.
    base_conf = (run_dir / "poolftpd-base" / "poolftpd.conf").read_text()
    assert re.search(rf"^Port\s+{serving['poolftpd-base']}$", base_conf, re.M), base_conf
    assert str(run_dir / "poolftpd-base" / "poolftpd.scoreboard") in base_conf
    assert str(run_dir / "poolftpd.scoreboard") in (run_dir / "poolftpd.conf").read_text()
    assert "every available server serves the fixture" in out


@pytest.mark.parametrize("layout", ["empty", "source-tree-without-build", "no-ftpwho"])
def test_baseline_without_binaries_is_a_usage_error(tmp_path, layout):
    base = tmp_path / "base"
    base.mkdir()
    if layout == "source-tree-without-build":
        (base / "Makefile").write_text("all:\n")
        missing = [base / "poolftpd", base / "build" / "poolftpd"]
    elif layout == "no-ftpwho":
        os.symlink(BUILD / "poolftpd", base / "poolftpd")
        missing = [base / "ftpwho"]
    else:
        missing = [base / "poolftpd"]
    r = run_bench(["--build", BUILD, "--check", "--baseline", base], timeout=30)
    assert r.returncode == 2, r.stderr
    for path in missing:
        assert f"{path}" in r.stderr, r.stderr
    assert "--baseline" in r.stderr
    # Nothing was set up: the error comes before the fixture and the servers.
    assert "serving on" not in r.stdout + r.stderr


def test_baseline_that_is_the_build_itself_is_refused():
    r = run_bench(["--build", BUILD, "--check", "--baseline", BUILD], timeout=30)
    assert r.returncode == 2, r.stderr
    assert "is the build directory itself" in r.stderr
