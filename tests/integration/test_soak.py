"""The soak harness (tests/soak/soak.py, `make soak`) as part of the suite:
a short run with every fault kind must pass with its summary, and a run
with a planted violation (a served file changed under the server, a worker
killed without being recorded, a scoreboard slot no worker owns) must fail
naming it, so the harness's checks are known to bite."""

import re
import subprocess

import pytest

from helpers import BUILD, HERE

SOAK = HERE.parent / "soak" / "soak.py"


def soak(*args, timeout=240):
    return subprocess.run(["/usr/bin/python3", str(SOAK), "--build", str(BUILD), *args],
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def counted(out, label):
    m = re.search(rf"^\s+{re.escape(label)}\s+(\d+)$", out, re.MULTILINE)
    assert m, f"no {label!r} line in:\n{out}"
    return int(m.group(1))


def test_short_soak_passes_with_every_fault(workbase):
    r = soak("--seconds", "20", "--sessions", "60", "--loris", "30", "--kill-every", "2",
             "--vanish-rate", "0.3", "--seed", "11")
    out = r.stdout
    assert r.returncode == 0, out + r.stderr
    assert "no violations" in out
    for kind in ("SIGHUP to the master", "SIGKILL of a busy worker", "client vanished mid-transfer",
                 "SIGKILL of the master (then a restart)"):
        assert counted(out, kind) >= 1, out
    assert counted(out, "downloads verified") > 0
    assert counted(out, "listings verified") > 0
    assert counted(out, "downloads NOT matching") == 0
    assert "UNEXPLAINED" not in out
    assert re.search(r"master restart: greeting after [\d.]+ s", out), out


@pytest.mark.parametrize("plant, expect", [
    ("corrupt-file", r"RETR k64\.bin: \d+ bytes, sha256"),
    ("unrecorded-kill", r"failed with no injected cause"),
    ("stale-slot", r"stale scoreboard slot"),
])
def test_planted_violation_fails_the_soak(workbase, plant, expect):
    r = soak("--seconds", "8", "--sessions", "30", "--loris", "5", "--kill-every", "1.5",
             "--master-kill-at", "0", "--plant", plant, "--seed", "7")
    out = r.stdout
    assert r.returncode == 1, out + r.stderr
    assert "VIOLATIONS" in out
    assert re.search(expect, out), out
