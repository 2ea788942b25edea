"""`poolftpd -t`: every configuration error is reported as FILE:LINE: reason
with a non-zero exit, and a config using every directive the suite relies on
passes."""

import subprocess

import pytest

from helpers import POOLFTPD, Server


def check(identity, conf, *defines):
    args = [str(POOLFTPD), "-t"]
    for d in defines:
        args += ["-D", d]
    args += ["-c", str(conf)]
    return subprocess.run(identity.prefix + args, capture_output=True, text=True, timeout=20,
                          stdin=subprocess.DEVNULL)


def base_lines(identity, tree, workbase):
    s = Server(identity, tree, workbase)
    return s, s.conf.read_text().splitlines()


def anon_open(lines):
    return next(i for i, l in enumerate(lines) if l.startswith("<Anonymous "))


def write(s, lines):
    s.write_config("\n".join(lines) + "\n")


# Each case: (id, transform). transform(lines) mutates the list and returns the
# 0-based indexes at which the error may be reported.
def _insert_before_anon(text):
    def f(lines):
        i = anon_open(lines)
        lines.insert(i, text)
        return [i]
    return f


def _stray_close(lines):
    lines.append("</Anonymous>")
    return [len(lines) - 1]


def _unclosed_anon(lines):
    i = anon_open(lines)
    lines.remove("</Anonymous>")
    return [i, len(lines) - 1, len(lines)]


def _inside_anon(text):
    def f(lines):
        i = anon_open(lines) + 1
        lines.insert(i, "  " + text)
        return [i]
    return f


def _unclosed_ifdefine(lines):
    i = anon_open(lines)
    lines.insert(i, "<IfDefine NOTDEFINED>")
    lines.insert(i + 1, "MaxClients 5")
    return [i, len(lines) - 1, len(lines)]


def _anon_without_dir(lines):
    i = anon_open(lines)
    lines[i] = "<Anonymous>"
    return [i]


def _error_after_comments(lines):
    i = anon_open(lines)
    lines[i:i] = ["# a comment", "", "   # indented comment", "Bogus directive here"]
    return [i + 3]


CASES = [
    ("unknown-directive", _insert_before_anon("Bogus directive")),
    ("port-not-a-number", _insert_before_anon("Port abc")),
    ("port-out-of-range", _insert_before_anon("Port 70000")),
    ("port-missing-arg", _insert_before_anon("Port")),
    ("maxclients-negative", _insert_before_anon("MaxClients -5")),
    ("maxclients-word", _insert_before_anon("MaxClients lots")),
    ("passiveports-reversed", _insert_before_anon("PassivePorts 50100 50000")),
    ("timeoutidle-word", _insert_before_anon("TimeoutIdle soon")),
    ("maxcommandrate-word", _insert_before_anon("MaxCommandRate fast")),
    ("maxcommandrate-zero-secs", _insert_before_anon("MaxCommandRate 200 0")),
    ("maxcommandrate-three-args", _insert_before_anon("MaxCommandRate 200 1 2")),
    ("maxcommandrate-inside-anonymous", _inside_anon("MaxCommandRate 200")),
    ("serverident-bad-flag", _insert_before_anon('ServerIdent maybe "x"')),
    ("allowforeign-bad-flag", _insert_before_anon("AllowForeignAddress perhaps")),
    ("useralias-one-arg", _insert_before_anon("UserAlias lonely")),
    ("stray-close-tag", _stray_close),
    ("unclosed-anonymous", _unclosed_anon),
    ("unclosed-ifdefine", _unclosed_ifdefine),
    ("anonymous-without-dir", _anon_without_dir),
    ("server-directive-inside-anonymous", _inside_anon("Port 2121")),
    ("unknown-directive-inside-anonymous", _inside_anon("Frobnicate yes")),
    ("line-count-includes-comments", _error_after_comments),
]


@pytest.mark.parametrize("case", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_error_reported_with_file_and_line(identity, tree, workbase, case):
    s, lines = base_lines(identity, tree, workbase)
    where = case(lines)
    write(s, lines)
    r = check(identity, s.conf)
    assert r.returncode != 0, f"-t accepted a broken config:\n{s.conf.read_text()}"
    assert "Syntax OK" not in r.stdout + r.stderr
    expected = [f"{s.conf}:{i + 1}:" for i in where]
    assert any(e in r.stderr for e in expected), \
        f"stderr {r.stderr!r} names none of {expected}"
    # A reason follows the location.
    line = next(l for l in r.stderr.splitlines() if any(e in l for e in expected))
    reason = line.split(":", 2)[2] if line.count(":") >= 2 else ""
    assert reason.strip(), f"no reason after FILE:LINE in {line!r}"


def test_error_in_included_file_names_that_file(identity, tree, workbase):
    s, lines = base_lines(identity, tree, workbase)
    inc = s.dir / "included.conf"
    inc.write_text("# included\nMaxClients nope\n")
    inc.chmod(0o644)
    i = anon_open(lines)
    lines.insert(i, f"Include {inc}")
    write(s, lines)
    r = check(identity, s.conf)
    assert r.returncode != 0
    assert f"{inc}:2:" in r.stderr, r.stderr


def test_include_of_missing_file(identity, tree, workbase):
    s, lines = base_lines(identity, tree, workbase)
    missing = s.dir / "missing.conf"
    lines.insert(anon_open(lines), f"Include {missing}")
    write(s, lines)
    r = check(identity, s.conf)
    assert r.returncode != 0
    assert str(missing) in r.stderr, r.stderr


def test_full_config_passes(identity, tree, workbase):
    s, lines = base_lines(identity, tree, workbase)
    inc = s.dir / "good-include.conf"
    inc.write_text("# included file\nTimeoutNoTransfer 300\n")
    inc.chmod(0o644)
    extra = [
        "# every directive the integration suite uses",
        "",
        "TimeoutLogin 30",
        "TimeoutIdle 60",
        "TimeoutStalled 600",
        "MaxLoginAttempts 3",
        "MaxCommandRate 500 2",
        "AllowForeignAddress off",
        f"Include {inc}",
        "<IfDefine SOMETHING>",
        "  MaxClients 5",
        "</IfDefine>",
        "<IfDefine !SOMETHING>",
        "  MaxClients 7",
        "</IfDefine>",
    ]
    i = anon_open(lines)
    lines[i:i] = extra
    write(s, lines)
    for defines in ((), ("SOMETHING",)):
        r = check(identity, s.conf, *defines)
        assert r.returncode == 0, f"-t {defines}: {r.stderr}"
        assert "Syntax OK" in r.stdout + r.stderr
