"""Sanitizer reports are collected, never lost (issue 11): every process the
tests start writes its report into a directory of the test's own, and a
report fails the test (helpers.py, "sanitizer reports"; conftest.py,
sanitizer_reports_of_the_test). The tests that need a sanitizer build run
under `make SAN=... integration` and are skipped otherwise; the planted
report checks the teardown in every build."""

import os
import subprocess

import pytest

from helpers import (ANON_PASS, BUILD, IS_ROOT, LIVE_SERVERS, SAN, Identity, Server, ftp_close,
                     ftp_open, sanitizer_reports, wait_until)

PROBE = BUILD / "tests" / "san_probe"


def needs_san(kind):
    return pytest.mark.skipif(kind not in SAN.split(","),
                              reason=f"needs a SAN={kind} build (make SAN=... integration)")


def run_probe(what):
    assert os.access(PROBE, os.X_OK), f"missing {PROBE} (make integration builds it)"
    return subprocess.run([str(PROBE), what], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def take_reports(log_dir):
    """The reports in `log_dir`, removed (so this test's own teardown, which
    would fail on them, passes)."""
    problems = sanitizer_reports(log_dir)
    for name in os.listdir(log_dir):
        os.unlink(os.path.join(log_dir, name))
    return "\n".join(problems)


def test_a_report_fails_the_server_teardown(identity, tree, workbase):
    s = Server(identity, tree, workbase)
    s.start()
    try:
        (s.san_dir / "san.999999").write_text("")  # a worker's file, no report in it
        (s.san_dir / "san.999998").write_text(
            "==999998==ERROR: AddressSanitizer: planted report\n")
    finally:
        problems = s.stop()
    assert s not in LIVE_SERVERS
    assert len(problems) == 1, problems
    assert "san.999998" in problems[0] and "planted report" in problems[0], problems


def test_no_report_from_a_clean_process(sanitizer_reports_of_the_test):
    r = run_probe("none")
    assert r.returncode == 0, r.stderr
    assert take_reports(sanitizer_reports_of_the_test) == ""


@needs_san("undefined")
def test_undefined_behaviour_is_reported_and_stops(sanitizer_reports_of_the_test):
    r = run_probe("overflow")
    assert r.returncode != 0, "UBSan did not halt at its report"
    text = take_reports(sanitizer_reports_of_the_test)
    assert "signed integer overflow" in text and "san_probe.cc" in text, text
    assert r.stderr == "", "the report went to stderr, not to the log directory"


@needs_san("address")
def test_memory_errors_and_leaks_are_reported(sanitizer_reports_of_the_test):
    r = run_probe("heap")
    assert r.returncode != 0
    text = take_reports(sanitizer_reports_of_the_test)
    assert "heap-use-after-free" in text, text
    r = run_probe("leak")
    assert r.returncode != 0
    text = take_reports(sanitizer_reports_of_the_test)
    assert "detected memory leaks" in text, text


@needs_san("thread")
def test_data_races_are_reported(sanitizer_reports_of_the_test):
    r = run_probe("race")
    assert r.returncode != 0
    text = take_reports(sanitizer_reports_of_the_test)
    assert "data race" in text, text


@pytest.mark.skipif(not SAN, reason="needs a sanitizer build (make SAN=... integration)")
@pytest.mark.skipif(not IS_ROOT, reason="workers chroot only when the server starts as root")
def test_chrooted_workers_have_their_report_file(tree, workbase):
    """A worker opens its report file before it chroots (the log path is
    outside the new root), so a report it makes later is not lost."""
    s = Server(Identity("root"), tree, workbase)
    s.start()
    try:
        ftp = ftp_open(s.port, password=ANON_PASS)
        ftp.voidcmd("NOOP")
        ftp_close(ftp)
        workers = set(s.children())
        assert workers

        def files():
            have = {int(n.split(".")[-1]) for n in os.listdir(s.san_dir)
                    if n.startswith("san.") or n.startswith("ubsan.")}
            return workers <= have and have
        wait_until(files, 10, what=f"a report file of each worker {sorted(workers)}")
    finally:
        problems = s.stop()
    assert problems == []
