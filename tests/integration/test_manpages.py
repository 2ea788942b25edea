"""The manual pages in man/: each renders with man(1) and groff without a
single warning, has the sections a reader looks for, and documents every
option the built binaries print in --help, every directive of the config
parser's table, every signal and exit status. The example configuration in
poolftpd.conf(5) is checked with `poolftpd -t`."""

import os
import pwd
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import BUILD, POOLFTPD

REPO = Path(__file__).resolve().parents[2]
MAN = REPO / "man"
PAGES = {
    "poolftpd.8": ("poolftpd", "8"),
    "poolftpd.conf.5": ("poolftpd.conf", "5"),
    "ftpwho.1": ("ftpwho", "1"),
    "ftpcount.1": ("ftpcount", "1"),
    "ftpshut.8": ("ftpshut", "8"),
    "ftpdctl.8": ("ftpdctl", "8"),
    "ftpbench.1": ("ftpbench", "1"),
}
# The binary each page documents (its --help lists the options).
BINARIES = {
    "poolftpd.8": POOLFTPD,
    "ftpwho.1": BUILD / "ftpwho",
    "ftpcount.1": BUILD / "ftpcount",
    "ftpshut.8": BUILD / "ftpshut",
    "ftpdctl.8": BUILD / "ftpdctl",
    "ftpbench.1": BUILD / "ftpbench",
}
COMMAND_PAGES = [p for p in PAGES if p != "poolftpd.conf.5"]

needs_man = pytest.mark.skipif(shutil.which("man") is None, reason="man (man-db) is not installed")
needs_groff = pytest.mark.skipif(shutil.which("groff") is None, reason="groff is not installed")


def man_env():
    env = dict(os.environ)
    env.update(MANWIDTH="80", LANG="C.UTF-8", LC_ALL="C.UTF-8", MANPAGER="cat", PAGER="cat")
    env.pop("MAN_KEEP_FORMATTING", None)
    return env


_rendered = {}


def render(page):
    """The page as man(1) shows it, as plain text (bold/underline overstrikes
    removed, Unicode hyphens and quotes folded to ASCII)."""
    if page not in _rendered:
        r = subprocess.run(["man", "-l", str(MAN / page)], capture_output=True, env=man_env(),
                           timeout=60, stdin=subprocess.DEVNULL)
        assert r.returncode == 0, f"man -l {page} failed: {r.stderr.decode(errors='replace')}"
        text = r.stdout.decode("utf-8", "replace")
        text = re.sub(r".\x08", "", text)
        for u, a in (("\u2010", "-"), ("\u2011", "-"), ("\u2212", "-"), ("\u2018", "'"),
                     ("\u2019", "'"), ("\u201c", '"'), ("\u201d", '"'), ("\u2013", "-")):
            text = text.replace(u, a)
        _rendered[page] = text
    return _rendered[page]


def section(text, name):
    """The body of section NAME (up to the next heading) of a rendered page."""
    m = re.search(rf"^{re.escape(name)}\n(.*?)(?=^\S|\Z)", text, re.M | re.S)
    assert m, f"no {name} section"
    return m.group(1)


def words(text):
    """Rendered text with runs of blanks collapsed (justification spreads words)."""
    return re.sub(r"\s+", " ", text)


def test_every_page_is_present():
    missing = [p for p in PAGES if not (MAN / p).is_file()]
    assert not missing, f"missing man pages: {missing}"
    extra = sorted(p.name for p in MAN.iterdir() if p.name not in PAGES)
    assert not extra, f"pages not covered by this test: {extra}"


@needs_man
@pytest.mark.parametrize("page", sorted(PAGES))
def test_man_renders_without_warnings(page):
    r = subprocess.run(["man", "--warnings", "-l", str(MAN / page)], capture_output=True,
                       env=man_env(), timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    assert r.stderr == b"", f"man --warnings -l {page}:\n{r.stderr.decode(errors='replace')}"
    assert len(r.stdout) > 500, f"{page} rendered to almost nothing"


@needs_groff
@pytest.mark.parametrize("page", sorted(PAGES))
@pytest.mark.parametrize("device", ["utf8", "ascii"])
def test_groff_all_warnings(page, device):
    r = subprocess.run(["groff", "-man", "-ww", "-z", f"-T{device}", str(MAN / page)],
                       capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0 and r.stderr == b"", \
        f"groff -man -ww -z -T{device} {page}:\n{r.stderr.decode(errors='replace')}"


@pytest.mark.parametrize("page", sorted(PAGES))
def test_title_line_and_name(page):
    name, sect = PAGES[page]
    src = (MAN / page).read_text()
    th = re.search(r"^\.TH\s+(\S+)\s+(\S+)", src, re.M)
    assert th, f"{page} has no .TH line"
    assert th.group(1) == name.upper() and th.group(2) == sect, th.group(0)
    name_sec = re.search(r"^\.SH NAME\n(.+?)\n\.SH", src, re.M | re.S)
    assert name_sec, f"{page} has no NAME section"
    # whatis/apropos need "name \- description" on the NAME line.
    assert re.match(rf"{re.escape(name)} \\- \S", name_sec.group(1)), name_sec.group(1)


@pytest.mark.skipif(shutil.which("lexgrog") is None, reason="lexgrog (man-db) is not installed")
@pytest.mark.parametrize("page", sorted(PAGES))
def test_mandb_can_index(page):
    r = subprocess.run(["lexgrog", str(MAN / page)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f'"{PAGES[page][0]} - ' in r.stdout, r.stdout


@needs_man
@pytest.mark.parametrize("page", sorted(PAGES))
def test_sections(page):
    text = render(page)
    want = ["NAME", "SYNOPSIS", "DESCRIPTION", "FILES", "SEE ALSO"]
    if page in COMMAND_PAGES:
        want += ["OPTIONS", "EXIT STATUS"]
    for s in want:
        assert re.search(rf"^{s}$", text, re.M), f"{page} has no {s} section"


@needs_man
@pytest.mark.parametrize("page", sorted(PAGES))
def test_see_also_names_existing_pages(page):
    """Cross references inside the suite point to pages that exist."""
    refs = re.findall(r"([\w.-]+)\((\d)\)", section(render(page), "SEE ALSO"))
    ours = {(n, s) for n, s in PAGES.values()}
    assert refs, f"{page}: SEE ALSO is empty"
    for name, sect in refs:
        if name.startswith(("poolftpd", "ftpwho", "ftpcount", "ftpshut", "ftpdctl", "ftpbench")):
            assert (name, sect) in ours, f"{page} refers to {name}({sect}), which does not exist"


def help_options(binary):
    """Every option a binary's --help names (-x and --long forms)."""
    r = subprocess.run([str(binary), "--help"], capture_output=True, text=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, f"{binary} --help exited {r.returncode}: {r.stderr}"
    opts = set(re.findall(r"(?:^|[\s\[,|(])(--?[A-Za-z][A-Za-z0-9-]*)", r.stdout, re.M))
    assert opts, f"no options found in {binary} --help:\n{r.stdout}"
    return opts


@needs_man
@pytest.mark.parametrize("page", sorted(BINARIES))
def test_every_help_option_is_documented(page):
    binary = BINARIES[page]
    if not os.access(binary, os.X_OK):
        pytest.skip(f"{binary} is not built")
    rendered = render(page)
    # Options in OPTIONS; a command's own arguments may be described with it.
    text = words(section(rendered, "OPTIONS"))
    if re.search(r"^COMMANDS$", rendered, re.M):
        text += " " + words(section(rendered, "COMMANDS"))
    missing = sorted(o for o in help_options(binary)
                     if not re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", text))
    assert not missing, f"{page} does not document {missing} (from {binary.name} --help)"


@needs_man
def test_poolftpd_page_contents():
    text = words(render("poolftpd.8"))
    for opt in ["-h, --help", "-n, --nodaemon", "-q, --quiet", "-d, --debug level",
                "-D, --define name", "-c, --config file", "-l, --list", "-t, --configtest",
                "-v, --version", "-vv, --version-status"]:
        assert opt in text, f"poolftpd.8 lacks the option entry {opt!r}"
    sig = words(section(render("poolftpd.8"), "SIGNALS"))
    for s in ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "GracefulStopTimeout"]:
        assert s in sig, f"SIGNALS does not mention {s}"
    notify = words(section(render("poolftpd.8"), "READINESS NOTIFICATION"))
    for m in ["READY=1", "RELOADING=1", "MONOTONIC_USEC=", "STOPPING=1", "STATUS=", "NOTIFY_SOCKET"]:
        assert m in notify, f"READINESS NOTIFICATION does not mention {m}"
    status = words(section(render("poolftpd.8"), "EXIT STATUS"))
    for code in ("0", "1", "2"):
        assert re.search(rf"(?:^| ){code} ", status), f"exit status {code} is not described"
    assert "Syntax OK" in text


def parser_directives():
    """Directive names from the config parser's table (src/config/directives.cc)."""
    src = (REPO / "src/config/directives.cc").read_text()
    table = re.search(r"kDirectives\[\]\s*=\s*\{(.*?)\n\};", src, re.S)
    assert table, "cannot find the kDirectives table in src/config/directives.cc"
    names = re.findall(r'\{"([A-Za-z]+)",', table.group(1))
    assert len(names) > 20, names
    return names


@needs_man
def test_conf_page_documents_every_directive():
    text = render("poolftpd.conf.5")
    directives = section(text, "DIRECTIVES")
    # Each directive has an entry: its name at the start of a tagged paragraph.
    entries = set(re.findall(r"^ {7}([A-Z][A-Za-z]+)\b", directives, re.M))
    missing = sorted(set(parser_directives()) - entries)
    assert not missing, f"poolftpd.conf.5 has no DIRECTIVES entry for {missing}"
    unknown = sorted(entries - set(parser_directives()) - {"Context"})
    assert not unknown, f"poolftpd.conf.5 documents directives the parser does not know: {unknown}"
    blocks = words(section(text, "BLOCKS"))
    for b in ["Include pattern", "<IfDefine name>", "<IfDefine !name>", "<Anonymous dir>",
              "<Limit verb|group ...>", "READ", "WRITE", "DIRS", "LOGIN", "ALL",
              "Order allow,deny", "Order deny,allow"]:
        assert b in blocks, f"BLOCKS does not describe {b!r}"


@needs_man
def test_conf_page_covers_the_sample_config():
    """Every directive the annotated sample uses (also in comments) is documented."""
    text = words(render("poolftpd.conf.5"))
    used = set()
    for line in (REPO / "conf/poolftpd.conf").read_text().splitlines():
        m = re.match(r"\s*#?\s*<?/?([A-Z][A-Za-z]+)\b", line)
        if m and m.group(1) in set(parser_directives()) | {"Include", "IfDefine", "Anonymous", "Limit"}:
            used.add(m.group(1))
    assert len(used) > 20, used
    for d in sorted(used):
        assert d in text, f"the sample uses {d}, which poolftpd.conf.5 does not mention"


def test_conf_page_example_is_a_valid_config(tmp_path):
    src = (MAN / "poolftpd.conf.5").read_text()
    ex = re.search(r"^\.SH EXAMPLES\n.*?^\.EX\n(.*?)^\.EE", src, re.M | re.S)
    assert ex, "poolftpd.conf.5 has no example configuration"
    conf = ex.group(1).replace("\\-", "-").replace("\\e", "\\")
    anon = tmp_path / "ftp"
    anon.mkdir()
    assert "/srv/ftp" in conf
    conf = conf.replace("/srv/ftp", str(anon))
    # As root, -t also checks that the worker account exists (stock Debian has
    # no "ftp" until `make install` creates it): stand in an account that does.
    if os.geteuid() == 0 and "User ftp" in conf:
        try:
            pwd.getpwnam("ftp")
        except KeyError:
            conf = conf.replace("User ftp", "User nobody")
    path = tmp_path / "poolftpd.conf"
    path.write_text(conf)
    r = subprocess.run([str(POOLFTPD), "-t", "-c", str(path)], capture_output=True, text=True,
                       timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 0 and "Syntax OK" in r.stdout, \
        f"the example in poolftpd.conf.5 is rejected:\n{r.stderr}\n{conf}"


@needs_man
def test_tool_pages_contents():
    who = words(render("ftpwho.1"))
    for s in ["-c, --config file", "-f, --file scoreboard", "-o, --outform form", "--json",
              "-v, --verbose", "oneline", "stale"]:
        assert s in who, f"ftpwho.1 lacks {s!r}"
    count = words(render("ftpcount.1"))
    for s in ["-c, --config file", "-f, --file scoreboard", "-S, --server name", "--json"]:
        assert s in count, f"ftpcount.1 lacks {s!r}"
    shut = words(render("ftpshut.8"))
    for s in ["-l min", "-d min", "-R", "now", "+minutes", "HHMM", "/etc/shutmsg", "ShutdownFile",
              "%s", "%r", "%d", "%T", "%L", "%R", "%U", "%C", "%V", "%%"]:
        assert s in shut, f"ftpshut.8 lacks {s!r}"
    ctl = render("ftpdctl.8")
    cmds = words(section(ctl, "COMMANDS"))
    for c in ["status", "reload", "stop", "graceful-stop", "reopen-logs", "kick", "kill", "debug"]:
        assert re.search(rf"(?:^| ){re.escape(c)}(?: |$)", cmds), f"ftpdctl.8 does not describe {c}"
    status = words(section(ctl, "EXIT STATUS"))
    for code in ("0", "1", "3", "4"):
        assert re.search(rf"(?:^| ){code} ", status), f"ftpdctl.8: LSB status {code} missing"
