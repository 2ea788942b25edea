// The commands that need no data connection and list nothing: session
// settings (TYPE, MODE, STRU, OPTS, REST), the current directory (PWD,
// CWD), file facts (SIZE, MDTM), help (HELP, FEAT, SITE HELP) and the rest.
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "poolftpd/auth/auth.h"
#include "poolftpd/config/verbs.h"
#include "poolftpd/log/log.h"
#include "poolftpd/protocol/reply.h"
#include "poolftpd/protocol/session.h"
#include "poolftpd/util/strings.h"
#include "session_internal.h"

namespace poolftpd::protocol {
namespace {

std::string Timestamp14(time_t t) {
  struct tm tm;
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d%02d%02d%02d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

}  // namespace

void Session::DoNoop(const Command&) { Reply(200, "NOOP command successful"); }
void Session::DoSyst(const Command&) { Reply(215, "UNIX Type: L8"); }

void Session::DoFeat(const Command&) {
  std::string t = "Features:\n";
  t += "EPRT\nEPSV\nMDTM\n";
  t += "MLST " + fs::FeatFactList(mlst_facts_) + "\n";
  t += "REST STREAM\nSIZE\nTVFS\nUTF8\n";
  t += "End";
  Reply(211, t);
}

void Session::DoOpts(const Command& cmd) {
  const std::string_view arg = cmd.arg;
  const size_t sp = arg.find(' ');
  const std::string what = util::ToUpper(arg.substr(0, sp));
  const std::string_view rest =
      sp == std::string_view::npos ? std::string_view() : arg.substr(sp + 1);
  if (what == "UTF8") {
    const std::string v = util::ToUpper(util::Trim(rest));
    if (v == "ON" || v.empty()) Reply(200, "UTF8 set to on");
    else if (v == "OFF")
      Reply(200, "UTF8 set to off");
    else
      Reply(501, "OPTS UTF8: invalid option");
    return;
  }
  // RFC 2389 leaves OPTS before login open; UTF8 is a session setting that
  // lftp and others send before USER, every other OPTS names a command that
  // needs a login (MLST), so it needs one too.
  if (!logged_in_) {
    Reply(530, "Please login with USER and PASS");
    return;
  }
  if (what == "MLST") {
    mlst_facts_ = fs::ParseFactList(util::Trim(rest));
    std::string list = fs::FeatFactList(mlst_facts_);
    // Reply with the enabled facts only, without stars (RFC 3659 7.9).
    std::string enabled;
    for (auto f : util::Split(list, ';'))
      if (!f.empty() && f.back() == '*') {
        enabled += f.substr(0, f.size() - 1);
        enabled += ';';
      }
    Reply(200, "MLST OPTS " + enabled);
    return;
  }
  Reply(501, "OPTS " + util::EscapeControl(what.substr(0, 32)) + " not understood");
}

void Session::DoHelp(const Command& cmd) {
  const std::string_view arg = cmd.arg;
  const std::string verb = util::ToUpper(util::Trim(arg));
  if (!verb.empty()) {
    const config::Verb* c = FindClientVerb(verb);
    if (c == nullptr) {
      Reply(502, "Unknown command " + util::EscapeControl(verb.substr(0, 32)));
      return;
    }
    std::string t = "Syntax: " + std::string(c->name) + " " + std::string(c->help);
    if (c->flags & config::kNotImpl) t += " (not implemented on this server)";
    Reply(214, t);
    return;
  }
  std::string t = "The following commands are recognized (* =>'s unimplemented):\n";
  int col = 0;
  for (const auto& c : config::Verbs()) {
    if (c.flags & config::kSiteSub) continue;
    std::string v(c.name);
    if (c.flags & config::kNotImpl) v += '*';
    v.resize(8, ' ');
    t += v;
    if (++col == 8) {
      t += '\n';
      col = 0;
    }
  }
  if (col) t += '\n';
  t += "Direct comments to the server administrator";
  Reply(214, t);
}

// --- navigation ---------------------------------------------------------------

std::string Session::ErrnoText(std::string_view what, int err) const {
  std::string t = PathText(what.substr(0, 512));
  t += ": ";
  // SECURITY (S3): EXDEV/ELOOP from RESOLVE_IN_ROOT mean "escapes the root";
  // the client just sees "No such file or directory".
  if (err == EXDEV || err == ELOOP || err == ENOENT || err == ENOTDIR)
    t += "No such file or directory";
  else if (err == EACCES || err == EPERM)
    t += "Permission denied";
  else
    t += std::strerror(err);
  return t;
}

void Session::DoPwd(const Command&) {
  Reply(257, QuotePath(PathText(cwd_)) + " is the current directory");
}

// CWD, XCWD, and CDUP/XCUP (the gate resolved "..").
void Session::DoCwd(const Command& cmd) {
  const std::string& vpath = cmd.vpath;
  // Entering needs search permission only (a 0711 directory can be entered,
  // not listed), as the perm fact of MLSD says.
  auto fd = root_->EnterDir(vpath);
  if (!fd) {
    const int err = fd.error().sys_errno();
    Reply(550, ErrnoText(cmd.arg.empty() ? std::string_view(cmd.path) : cmd.arg,
                         err == ENOTDIR ? ENOTDIR : err));
    return;
  }
  cwd_ = vpath;
  cwd_policy_ = cmd.policy;
  status_.Cwd(cwd_);
  Reply(250, "CWD command successful");
}

void Session::DoType(const Command& cmd) {
  const std::string_view arg = cmd.arg;
  const std::string a = util::ToUpper(util::Trim(arg));
  if (a == "I" || a == "L 8" || a == "L8") {
    ascii_ = false;
    Reply(200, a == "I" ? "Type set to I" : "Type set to L (byte size 8)");
  } else if (a == "A" || a == "A N") {
    ascii_ = true;
    Reply(200, "Type set to A");
  } else if (a == "A T" || a == "A C" || a == "E" || a.rfind("E ", 0) == 0 ||
             a.rfind("L ", 0) == 0) {
    Reply(504, "TYPE " + util::EscapeControl(a) + " not implemented for that parameter");
  } else {
    Reply(501, "TYPE: Invalid argument");
  }
}

void Session::DoMode(const Command& cmd) {
  const std::string_view arg = cmd.arg;
  const std::string a = util::ToUpper(util::Trim(arg));
  if (a == "S") Reply(200, "Mode set to S");
  else if (a == "B" || a == "C" || a == "Z")
    Reply(504, "MODE " + a + " not implemented");
  else
    Reply(501, "MODE: Invalid argument");
}

void Session::DoStru(const Command& cmd) {
  const std::string_view arg = cmd.arg;
  const std::string a = util::ToUpper(util::Trim(arg));
  if (a == "F") Reply(200, "Structure set to F");
  else if (a == "R" || a == "P")
    Reply(504, "STRU " + a + " not implemented");
  else
    Reply(501, "STRU: Invalid argument");
}

void Session::DoSize(const Command& cmd) {
  const std::string_view arg = cmd.arg;
  const std::string& vpath = cmd.vpath;
  auto st = root_->Stat(vpath);
  if (!st) {
    Reply(550, ErrnoText(arg, st.error().sys_errno()));
    return;
  }
  if (!S_ISREG(st->st_mode)) {
    Reply(550, PathText(arg.substr(0, 512)) + ": not a regular file");
    return;
  }
  if (ascii_) {
    Reply(550, "SIZE not allowed in ASCII mode");
    return;
  }
  Reply(213, std::to_string(st->st_size));
}

void Session::DoMdtm(const Command& cmd) {
  const std::string_view arg = cmd.arg;
  const std::string& vpath = cmd.vpath;
  auto st = root_->Stat(vpath);
  if (!st) {
    Reply(550, ErrnoText(arg, st.error().sys_errno()));
    return;
  }
  Reply(213, Timestamp14(st->st_mtime));
}

void Session::DoRest(const Command& cmd) {
  const std::string_view arg = cmd.arg;
  auto v = util::ParseUnsigned<uint64_t>(util::Trim(arg), UINT64_MAX / 2);
  if (!v) {
    Reply(501, "REST requires a non-negative byte count");
    return;
  }
  rest_ = *v;
  Reply(350,
        "Restarting at " + std::to_string(*v) + ". Send STORE or RETRIEVE to initiate transfer");
}

void Session::DoAbor(const Command&) {
  data_.Reset();
  rest_ = 0;
  Reply(226, "ABOR command successful");
}

void Session::DoAllo(const Command&) { Reply(202, "No storage allocation necessary"); }

void Session::DoAuth(const Command&) { Reply(502, "TLS is not available on this server"); }

namespace {

// A SITE subcommand's registry entry ("CHMOD" -> SITE_CHMOD), or nullptr.
const config::Verb* FindSiteCommand(std::string_view sub) {
  for (const auto& v : config::Verbs())
    if ((v.flags & config::kSiteSub) && v.name.substr(5) == sub) return &v;
  return nullptr;
}

}  // namespace

void Session::DoSite(const Command& cmd) {
  const std::string_view arg = cmd.arg;
  const std::string_view a = util::Trim(arg);
  const size_t sp = a.find(' ');
  const std::string sub = util::ToUpper(a.substr(0, sp));
  const std::string_view rest =
      sp == std::string_view::npos ? std::string_view() : util::Trim(a.substr(sp + 1));
#ifdef POOLFTPD_SECCOMP_TEST
  // Test builds only (make POOLFTPD_SECCOMP_TEST=1; docs/SECURITY.md, "S14
  // seccomp"): a call outside the workers' allowlist. personality(0xffffffff)
  // only queries, so without the filter (Seccomp off) nothing changes.
  if (sub == "SECCOMPTEST") {
    const long persona = ::syscall(SYS_personality, 0xffffffffUL);
    Reply(200, "SECCOMPTEST: personality() returned " + std::to_string(persona) +
                   ": no seccomp filter stopped it");
    return;
  }
#endif
  const config::Verb* c = FindSiteCommand(sub);
  if (c == nullptr) {
    Reply(500, "'SITE " + util::EscapeControl(sub.substr(0, 32)) + "' not understood");
    return;
  }
  // SECURITY (S6): SITE is a gate of its own for its subcommands: <Limit
  // SITE_CHMOD> (and the WRITE group, which names SITE_CHMOD and SITE_CHGRP)
  // govern the subcommand as in ProFTPD, under the policy of the current
  // directory the main gate found.
  const std::string_view limit_verb = c->name;
  if (!auth::CommandAllowed(cmd.policy, limit_verb, peer_.addr)) {
    log::Info(std::string(limit_verb) + " denied by <Limit>");
    Reply(550, "SITE " + sub + ": Permission denied");
    return;
  }
  if (c->flags & config::kWrite) {  // write subcommands have no handler
    // SECURITY (S6): anonymous sessions are read-only whatever the file modes say.
    Reply(550, "SITE " + sub + ": Permission denied");
    return;
  }
  SiteHelp(rest);  // HELP: the one subcommand that is not a write
}

void Session::SiteHelp(std::string_view arg) {
  const std::string verb = util::ToUpper(util::Trim(arg));
  if (!verb.empty()) {
    const config::Verb* c = FindSiteCommand(verb);
    if (c == nullptr) {
      Reply(502, "Unknown command 'SITE " + util::EscapeControl(verb.substr(0, 32)) + "'");
      return;
    }
    Reply(214, "Syntax: SITE " + std::string(c->name.substr(5)) + " " + std::string(c->help));
    return;
  }
  std::string t = "The following SITE commands are recognized (* =>'s unimplemented)\n";
  for (const auto& c : config::Verbs()) {
    if (!(c.flags & config::kSiteSub)) continue;
    t += c.name.substr(5);
    t += '\n';
  }
  t += "Direct comments to the server administrator";
  Reply(214, t);
}

void Session::DoNotImpl(const Command&) { Reply(502, "Command not implemented"); }

}  // namespace poolftpd::protocol
