"""bench/sendpath, the loopback send-path instrument behind `make
bench-sendpath`: a real run over loopback reports every method with sane
figures, and every bad input is a usage error (2) or a clear failure (1)."""

import re
import subprocess

import pytest

from helpers import BUILD

SENDPATH = BUILD / "sendpath"
METHODS = ("sendfile-whole", "sendfile-1m", "splice-1m")


def run(args, timeout=60):
    return subprocess.run([str(SENDPATH)] + [str(a) for a in args], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def four_mib(tmp_path_factory):
    p = tmp_path_factory.mktemp("sendpath") / "f.bin"
    p.write_bytes(bytes(range(256)) * (4 * 4096))
    return p


def medians(out):
    """{method: (MB/s, send ms/GB, recv ms/GB, wake-ups/GiB)} from the summary."""
    tail = out.split("medians of", 1)[1]
    rows = {}
    for line in tail.splitlines()[1:]:
        m = re.match(r"(\S+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+\(send CPU", line)
        if m:
            rows[m.group(1)] = tuple(float(x) for x in m.groups()[1:])
    return rows


@pytest.mark.parametrize("extra", [[], ["--rcvlowat", "262144"], ["--same-cpu"]])
def test_every_method_is_measured(four_mib, extra):
    r = run(["-r", "2", *extra, four_mib])
    assert r.returncode == 0, r.stderr
    per_run = [l for l in r.stdout.splitlines() if l.split()[:1] and l.split()[0] in METHODS]
    assert len(per_run) == 2 * 3 + 3, r.stdout      # 2 runs of 3 methods, then 3 medians
    rows = medians(r.stdout)
    assert set(rows) == set(METHODS), r.stdout
    for method, (mb_s, send_cpu, recv_cpu, wakeups) in rows.items():
        assert mb_s > 0 and send_cpu >= 0 and recv_cpu >= 0 and wakeups >= 0, (method, r.stdout)
    if extra:
        assert ("SO_RCVLOWAT 262144" in r.stdout) == (extra[0] == "--rcvlowat"), r.stdout


@pytest.mark.parametrize("args, message", [
    ([], "no FILE given"),
    (["-r", "0", "f"], "invalid value '0' for -r"),
    (["-r", "x", "f"], "invalid value 'x' for -r"),
    # The end pointer strtol leaves is read after the call: it must point into
    # a string still alive (ASan caught a destroyed temporary here).
    (["-r", "3x", "f"], "invalid value '3x' for -r"),
    (["-r", "99999999999999999999", "f"], "invalid value '99999999999999999999' for -r"),
    (["-r"], "-r needs a value"),
    (["--rcvlowat", "0", "f"], "invalid value '0' for --rcvlowat"),
    (["--rcvlowat", "67108865", "f"], "invalid value '67108865' for --rcvlowat"),
    (["--bogus", "f"], "unknown option '--bogus'"),
    (["a", "b"], "unexpected argument 'b'"),
])
def test_usage_errors(args, message):
    r = run(args)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert message in r.stderr and "usage: sendpath" in r.stderr, r.stderr
    assert r.stdout == ""


def test_missing_and_too_small_files(tmp_path):
    r = run([tmp_path / "nope"])
    assert r.returncode == 1
    assert f"{tmp_path / 'nope'}: No such file or directory" in r.stderr, r.stderr
    small = tmp_path / "small"
    small.write_bytes(b"x" * 1000)
    r = run([small])
    assert r.returncode == 1
    assert "need a file of at least 1 MiB" in r.stderr, r.stderr
