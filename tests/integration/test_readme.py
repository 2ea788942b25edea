"""The README says what the build and the server really do: its SystemLog
example has the field order of a real SystemLog line, and its `make all` row
names every program `make all` builds."""

import re
from pathlib import Path

from helpers import ANON_PASS, BUILD, IS_ROOT, Ctl, Identity, Server, wait_until

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()
# TIME IDENT[PID] HOST (name[ip]): message -- log.cc FormatSystemLine.
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} poolftpd\[\d+\] [^\s\[\]]+ "
                  r"\(\S+\[[0-9a-fA-F.:]+\]\): \S")


def test_systemlog_example_has_the_real_field_order(tree, workbase):
    block = re.search(r"SystemLog lines look like ProFTPD's:\n\n```\n(.*?)```", README, re.S)
    assert block, "the README's SystemLog example is gone"
    example = block.group(1).splitlines()
    assert example and all(LINE.match(l) for l in example), example
    s = Server(Identity("root" if IS_ROOT else "nobody"), tree, workbase)
    s.start()
    try:
        with Ctl(s.port, read_greeting=True) as c:
            c.cmd("USER bob")
            c.cmd("PASS wrong")
        wait_until(lambda: "no such user found" in s.syslog_text(), 10, what="the failed login")
    finally:
        assert s.stop() == []
    real = next(l for l in s.syslog_text().splitlines() if "no such user found" in l)
    assert LINE.match(real), real
    # The same message text after the prefix as in the example.
    assert real.split("): ", 1)[1].split(" from ")[0] == example[0].split("): ", 1)[1].split(" from ")[0]


def test_make_all_row_names_every_program():
    row = next(l for l in README.splitlines() if l.startswith("| `make` / `make all` |"))
    named = set(re.findall(r"`build/([\w-]+)`", row))
    built = {"poolftpd"} | {p.parent.name for p in (REPO / "tools").glob("ftp*/main.cc")}
    assert named == built, (named, built)
    for name in built:
        assert (BUILD / name).is_file(), f"make all did not build {name}"
    assert "five tools" in row and len(built) == 6
