#include "poolftpd/protocol/session.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "poolftpd/auth/auth.h"
#include "poolftpd/config/verbs.h"
#include "poolftpd/log/log.h"
#include "poolftpd/protocol/reply.h"
#include "poolftpd/util/io.h"
#include "poolftpd/util/limits.h"
#include "poolftpd/util/strings.h"

namespace poolftpd::protocol {
namespace {

// How long a client may take to open the data connection after 150.
constexpr int kDataConnectTimeoutMs = 30000;
// Delay after a failed login, to slow password guessing.
constexpr int kFailedLoginDelayMs = 500;
// DisplayLogin files are shown up to this size.
constexpr size_t kMaxDisplayFile = 16 * 1024;

using S = Session;

// The command table: verb -> handler. Flags, <Limit> groups and HELP text
// are the verb registry's (config/verbs.h); one gate (Dispatch) applies
// them and handlers assume them. The registry's write verbs have no handler:
// the read-only gate refuses them (uploads plug in here).
constexpr std::array kCommands = {
    CommandSpec{"USER", &S::DoUser},    CommandSpec{"PASS", &S::DoPass},
    CommandSpec{"ACCT", &S::DoAcct},    CommandSpec{"QUIT", &S::DoQuit},
    CommandSpec{"NOOP", &S::DoNoop},    CommandSpec{"SYST", &S::DoSyst},
    CommandSpec{"FEAT", &S::DoFeat},    CommandSpec{"OPTS", &S::DoOpts},
    CommandSpec{"HELP", &S::DoHelp},    CommandSpec{"STAT", &S::DoStat},
    CommandSpec{"PWD", &S::DoPwd},      CommandSpec{"XPWD", &S::DoPwd},
    CommandSpec{"CWD", &S::DoCwd},      CommandSpec{"XCWD", &S::DoCwd},
    CommandSpec{"CDUP", &S::DoCwd},     CommandSpec{"XCUP", &S::DoCwd},
    CommandSpec{"TYPE", &S::DoType},    CommandSpec{"MODE", &S::DoMode},
    CommandSpec{"STRU", &S::DoStru},    CommandSpec{"PASV", &S::DoPasv},
    CommandSpec{"EPSV", &S::DoEpsv},    CommandSpec{"PORT", &S::DoPort},
    CommandSpec{"EPRT", &S::DoEprt},    CommandSpec{"LIST", &S::DoList},
    CommandSpec{"NLST", &S::DoNlst},    CommandSpec{"MLSD", &S::DoMlsd},
    CommandSpec{"MLST", &S::DoMlst},    CommandSpec{"SIZE", &S::DoSize},
    CommandSpec{"MDTM", &S::DoMdtm},    CommandSpec{"REST", &S::DoRest},
    CommandSpec{"RETR", &S::DoRetr},    CommandSpec{"ABOR", &S::DoAbor},
    CommandSpec{"ALLO", &S::DoAllo},    CommandSpec{"AUTH", &S::DoAuth},
    CommandSpec{"PBSZ", &S::DoAuth},    CommandSpec{"PROT", &S::DoAuth},
    CommandSpec{"CCC", &S::DoAuth},     CommandSpec{"SITE", &S::DoSite},
    CommandSpec{"REIN", &S::DoNotImpl}, CommandSpec{"SMNT", &S::DoNotImpl},
};

// The registry entry of a verb the client may send (SITE subcommands are
// reached through SITE only), or nullptr.
const config::Verb* FindClientVerb(std::string_view verb) {
  const config::Verb* v = config::FindVerb(verb);
  return v != nullptr && !(v->flags & config::kSiteSub) ? v : nullptr;
}

std::string Timestamp14(time_t t) {
  struct tm tm;
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d%02d%02d%02d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

}  // namespace

std::span<const CommandSpec> Commands() { return kCommands; }

namespace {
// A path (or a client's argument) in reply text: the control-connection
// encoding of names, so no path can add a reply line.
std::string PathText(std::string_view path) {
  return fs::EncodeName(path, fs::NameCoding::kControl);
}
}  // namespace

const CommandSpec* FindCommand(std::string_view verb) {
  for (const auto& c : kCommands)
    if (c.verb == verb) return &c;
  return nullptr;
}

namespace {

// Debug level 5, in ProFTPD's shape ("dispatching CMD command 'PASS
// (hidden)'"). SECURITY: the argument of a kSecret command never reaches the
// log, nor does a line that merely starts like PASS ("PASS\tsecret" and
// "PASSsecret" are 500s, but still passwords); client bytes are escaped.
[[gnu::cold, gnu::noinline]] void DebugCommand(std::string_view line, std::string_view when) {
  const std::string verb = util::ToUpper(line.substr(0, line.find(' ')));
  const config::Verb* spec = FindClientVerb(verb);
  std::string shown;
  if (spec != nullptr && (spec->flags & config::kSecret))
    shown = std::string(spec->name) + " (hidden)";
  else if (verb.starts_with("PASS"))
    shown = "PASS (hidden)";
  else
    shown = util::EscapeControl(line);
  log::DebugJoin(5, "dispatching command '", shown, "'", when);
}

}  // namespace

Session::Session(const SessionEnv& env, net::Stream& control, const net::Endpoint& local,
                 const net::Endpoint& peer, std::string peer_name)
    : env_(env),
      cfg_(*env.config),
      ctl_(control,
           ControlTimeouts{cfg_.timeout_login, cfg_.timeout_idle, cfg_.timeout_no_transfer},
           env.wait_mask, env.stop_requested),
      local_(local),
      peer_(peer),
      peer_name_(std::move(peer_name)),
      rate_(static_cast<uint32_t>(cfg_.max_command_rate),
            static_cast<uint32_t>(cfg_.max_command_interval)) {}

void Session::Refuse(net::Stream& control, int code, std::string_view text) {
  ControlChannel::Refuse(control, code, text);
}

void Session::Publish(sb::SlotState state) {
  if (env_.record == nullptr) return;
  env_.record->state = state;
  env_.record->last_activity_ns = util::RealtimeNs();
  if (env_.scoreboard) env_.scoreboard->Publish(env_.slot, *env_.record);
}

void Session::SetCommand(std::string_view verb, std::string_view arg) {
  if (env_.record == nullptr) return;
  util::CopyTruncated(env_.record->cmd, sizeof env_.record->cmd, verb);
  util::CopyTruncated(env_.record->arg, sizeof env_.record->arg, util::EscapeControl(arg));
}

void Session::Reply(int code, std::string_view text) {
  if (!ctl_.Reply(code, text)) {
    done_ = true;
    end_ = SessionEnd::kClientGone;
  }
}

void Session::EndWith(SessionEnd how, int code, std::string_view text) {
  if (code) Reply(code, text);
  done_ = true;
  end_ = how;
}

void Session::EndStopped() {
  std::string text = env_.stop_text ? env_.stop_text(logged_in_ ? user_ : "", cwd_) : std::string();
  if (text.empty()) text = "Service not available, closing control connection";
  log::Info("session ended by the server: " + text);
  EndWith(SessionEnd::kStopped, 421, text);
}

SessionEnd Session::Run() {
  // Pool workers get sockets already set up (accept4 SOCK_NONBLOCK, options
  // inherited from the listener); inetd's socket is set here.
  if (!env_.socket_ready) ctl_.stream().PrepareControl();
  ctl_.Started();
  Publish(sb::SlotState::kConnected);
  log::Info("FTP session opened.");

  std::string greeting;
  if (!cfg_.server_ident_on) {
    greeting = local_.addr.ToString() + " FTP server ready";
  } else if (!cfg_.server_ident_text.empty()) {
    greeting = cfg_.server_ident_text;
  } else {
    greeting = "poolftpd " POOLFTPD_VERSION " Server (" + cfg_.server_name + ") [" +
               local_.addr.ToString() + "]";
  }
  // A pending ftpshut shows as leading 220- lines.
  Reply(220, env_.greeting_warning.empty() ? greeting : env_.greeting_warning + "\n" + greeting);

  std::string line;
  while (!done_) {
    Publish(logged_in_ ? sb::SlotState::kIdle : sb::SlotState::kConnected);
    switch (ctl_.ReadLine(&line, logged_in_)) {
      case Read::kLine:
        if (!AdmitCommand()) break;
        ctl_.CommandReceived();
        Dispatch(line);
        break;
      case Read::kTooLong:
        if (!AdmitCommand()) break;
        ctl_.CommandReceived();
        log::Warn("command line too long (over " + std::to_string(limits::kMaxCommandLine) +
                  " bytes), discarded");
        Reply(500, "Command line too long");
        break;
      case Read::kEof:
        done_ = true;
        end_ = SessionEnd::kClientGone;
        break;
      case Read::kStop:
        EndStopped();
        break;
      case Read::kTimeout:
        EndTimedOut();
        break;
    }
  }
  Publish(sb::SlotState::kClosing);
  data_.Reset();
  if (end_ != SessionEnd::kClientGone) ctl_.LingeringClose();
  log::Info("FTP session closed.");
  return end_;
}

void Session::EndTimedOut() {
  const std::string msg = ctl_.TimeoutText(logged_in_);
  log::Info(msg + ", disconnected");
  EndWith(SessionEnd::kTimeout, 421, msg + ": closing control connection");
}

bool Session::AdmitCommand() {
  // SECURITY: before login the client is anonymous and costs us a reply per
  // line; bound the lines (limits.h says why the number) instead of serving
  // a pipelined flood until TimeoutLogin. Every line counts, USER and PASS
  // too, and each allowed login attempt adds room for its USER/PASS pair, so
  // MaxLoginAttempts still decides for clients that only try passwords.
  if (!logged_in_) {
    const int allowed = limits::kMaxPreLoginCommands + 2 * std::max(cfg_.max_login_attempts, 0);
    if (++prelogin_commands_ > allowed) {
      log::Info("Maximum commands before login (" + std::to_string(allowed) +
                ") exceeded, disconnected");
      EndWith(SessionEnd::kPreLoginFlood, 421,
              "Too many commands before login: closing control connection");
      return false;
    }
  }
  if (!rate_.enabled()) return true;
  // SECURITY: MaxCommandRate throttles a flooding client by delaying its
  // commands (none is dropped, replies stay in order). Logged once per
  // burst, so the flood cannot flood the log.
  const int64_t now_ns = util::MonotonicNs();
  const auto d = rate_.Admit(now_ns);
  if (d.delay_ns <= 0) return true;
  if (d.burst_start) {
    const int secs = cfg_.max_command_interval;
    log::Info("MaxCommandRate (" + std::to_string(cfg_.max_command_rate) + " cmds/" +
              std::to_string(secs) + (secs == 1 ? " sec" : " secs") +
              ") exceeded, injecting processing delays (logged once per burst)");
  }
  return PauseUntil(now_ns + d.delay_ns);
}

bool Session::PauseUntil(int64_t until_ns) {
  for (;;) {
    // The delay is the server's doing, not idle time (the command clock is
    // set after it), but it must not stretch the time allowed to log in.
    int64_t end = until_ns;
    const int64_t login_end = ctl_.LoginDeadlineNs();
    const bool login_bound = !logged_in_ && login_end < end;
    if (login_bound) end = login_end;
    const int64_t left = end - util::MonotonicNs();
    if (left <= 0) {
      if (!login_bound) return true;
      EndTimedOut();
      return false;
    }
    // TERM and USR2 (kick) are unblocked only inside this wait: they end a
    // delayed session at once.
    if (!ctl_.SleepUntil(end)) {
      EndStopped();
      return false;
    }
  }
}

void Session::Dispatch(const std::string& line) {
  if (log::DebugEnabled(5)) [[unlikely]]
    DebugCommand(line, "");
  std::string_view l = line;
  const size_t sp = l.find(' ');
  const std::string verb = util::ToUpper(l.substr(0, sp));
  std::string_view arg = sp == std::string_view::npos ? std::string_view() : l.substr(sp + 1);
  const config::Verb* info = FindClientVerb(verb);
  if (verb.empty() || info == nullptr) {
    Reply(500, util::EscapeControl(verb.substr(0, 32)) + " not understood");
    return;
  }
  const unsigned flags = info->flags;
  if (!logged_in_ && !(flags & config::kPreLogin)) {
    Reply(530, "Please login with USER and PASS");
    return;
  }
  if (!logged_in_ && (arg.size() > limits::kMaxUserName + limits::kMaxPassword)) {
    Reply(501, "Argument too long");
    return;
  }
  if ((flags & config::kNeedsArg) && arg.empty()) {
    Reply(501, verb + ": Invalid number of parameters");
    return;
  }
  if ((flags & config::kNoArg) && !util::Trim(arg).empty()) {
    Reply(501, verb + ": Invalid number of parameters");
    return;
  }
  SetCommand(verb, (flags & config::kSecret) ? std::string_view("(hidden)") : arg);
  Command cmd;
  cmd.verb = verb;
  cmd.arg = arg;
  cmd.info = info;
  cmd.policy = cwd_policy_;
  bool path_ok = true;
  if (logged_in_) {
    Publish(sb::SlotState::kLoggedIn);
    // The path is normalised once, here, and its policy found (the closest
    // <Directory>, then <Anonymous>, then the server).
    path_ok = ResolveCommandPath(&cmd);
    // SECURITY: <Limit> blocks are the operator's per-command access policy
    // (QUIT always works, so a client can leave).
    if (verb != "QUIT" && !auth::CommandAllowed(cmd.policy, verb, peer_.addr)) {
      log::Info(verb + " denied by <Limit>");
      Reply(550, verb + ": Permission denied");
      return;
    }
  }
  const CommandSpec* spec = FindCommand(verb);
  if ((flags & config::kWrite) && (cmd.policy.read_only() || spec == nullptr)) {
    // SECURITY: anonymous sessions are read-only whatever the file modes say.
    Reply(550, verb + ": Permission denied");
    return;
  }
  if (!path_ok) {
    if (flags & config::kTransfer) rest_ = 0;  // as a transfer that failed
    Reply(550, PathText(std::string_view(cmd.path).substr(0, 256)) + ": Invalid path");
    return;
  }
  if (spec == nullptr) {  // a registry verb without handler (a test checks there is none)
    Reply(502, "Command not implemented");
    return;
  }
  (this->*(spec->handler))(cmd);
}

bool Session::ResolveCommandPath(Command* cmd) {
  std::string_view text;
  switch (cmd->info->path) {
    case config::PathArg::kNone:
      return true;
    case config::PathArg::kArg:
      text = cmd->arg;
      break;
    case config::PathArg::kArgOrRoot:
      text = cmd->arg.empty() ? std::string_view("/") : cmd->arg;
      break;
    case config::PathArg::kParent:
      text = "..";
      break;
    case config::PathArg::kStatArgs:
      if (cmd->arg.empty()) return true;
      [[fallthrough]];
    case config::PathArg::kListArgs:
      if (cmd->info->path == config::PathArg::kListArgs) cmd->list.long_form = cmd->verb != "NLST";
      fs::ParseListArgs(cmd->arg, &cmd->list, &cmd->path);
      break;
  }
  if (cmd->info->path != config::PathArg::kListArgs &&
      cmd->info->path != config::PathArg::kStatArgs)
    cmd->path.assign(text);
  auto p = fs::Normalize(cwd_, cmd->path);
  if (!p) return false;
  cmd->vpath = std::move(*p);
  cmd->has_path = true;
  cmd->policy = config::FindPolicy(cfg_, anon_, home_, cmd->vpath, &policy_scratch_);
  return true;
}

// --- login -----------------------------------------------------------------

void Session::DoUser(const Command& cmd) {
  const std::string_view arg = cmd.arg;
  if (logged_in_) {
    Reply(503, "You are already logged in");
    return;
  }
  if (arg.size() > limits::kMaxUserName) {
    Reply(501, "User name too long");
    return;
  }
  user_ = std::string(arg);
  user_given_ = true;
  util::CopyTruncated(env_.record->user, sizeof env_.record->user, util::EscapeControl(user_));
  if (auth::IsAnonymousName(cfg_, user_))
    Reply(331, "Anonymous login ok, send your complete email address as your password");
  else
    Reply(331, "Password required for " + util::EscapeControl(user_));
}

void Session::LoginFailed(std::string_view log_text) {
  log::Info(log_text);
  ++failed_logins_;
  user_given_ = false;
  util::CopyTruncated(env_.record->user, sizeof env_.record->user, "");
  // Slow down guessing; the wait still honours TERM, and other signals (a
  // debug-level change) do not cut it short.
  (void)ctl_.SleepUntil(util::MonotonicNs() + kFailedLoginDelayMs * 1000000LL);
  if (cfg_.max_login_attempts > 0 && failed_logins_ >= cfg_.max_login_attempts) {
    log::Info("Maximum login attempts (" + std::to_string(cfg_.max_login_attempts) + ") exceeded");
    EndWith(SessionEnd::kLoginFailures, 530, "Login incorrect.");
    return;
  }
  Reply(530, "Login incorrect.");
}

void Session::DoPass(const Command& cmd) {
  const std::string_view arg = cmd.arg;
  if (logged_in_) {
    Reply(503, "You are already logged in");
    return;
  }
  if (!user_given_) {
    Reply(503, "Login with USER first");
    return;
  }
  const std::string user = util::EscapeControl(user_);
  const auto d = auth::CheckLogin(cfg_, user_, peer_.addr);
  switch (d.result) {
    case auth::LoginResult::kNoSuchUser:
      LoginFailed("USER " + user + ": no such user found from " +
                  (peer_name_.empty() ? peer_.addr.ToString() : peer_name_) + " [" +
                  peer_.addr.ToString() + "] to " + local_.ToString());
      return;
    case auth::LoginResult::kLimitDenied:
      LoginFailed("USER " + user + " (Login failed): Limit access denies login");
      return;
    case auth::LoginResult::kAnonymous:
      break;
  }
  if (env_.anon_root == nullptr || !env_.anon_root->valid()) {
    LoginFailed("USER " + user + " (Login failed): anonymous root unavailable");
    return;
  }
  anon_ = d.anonymous;
  root_ = env_.anon_root;
  real_root_ = env_.anon_real_root;
  home_ = anon_->root;
  cwd_policy_ = config::FindPolicy(cfg_, anon_, home_, "/", &policy_scratch_);
  anon_pass_ = util::EscapeControl(arg.substr(0, limits::kMaxPassword));
  logged_in_ = true;
  cwd_ = "/";
  ctl_.TransferEnded();
  util::CopyTruncated(env_.record->cwd, sizeof env_.record->cwd, cwd_);
  log::Info("ANON " + user + ": Login successful.");

  std::string text;
  const std::string& display =
      !anon_->display_login.empty() ? anon_->display_login : cfg_.display_login;
  if (!display.empty()) {
    auto fd = root_->Open(display, O_RDONLY);
    if (fd) {
      std::string buf(kMaxDisplayFile, '\0');
      const ssize_t n = ::read(fd->get(), buf.data(), buf.size());
      if (n > 0) {
        buf.resize(static_cast<size_t>(n));
        while (!buf.empty() && (buf.back() == '\n' || buf.back() == '\r')) buf.pop_back();
        for (char& c : buf)
          if (c == '\r') c = ' ';
        text = buf + "\n";
      }
    }
  }
  text += "Anonymous access granted, restrictions apply";
  Reply(230, text);
}

void Session::DoAcct(const Command&) {
  Reply(202, "ACCT command ignored: not needed at this site");
}

void Session::DoQuit(const Command&) { EndWith(SessionEnd::kQuit, 221, "Goodbye."); }

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
  // SECURITY: EXDEV/ELOOP from RESOLVE_IN_ROOT mean "escapes the root";
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
  util::CopyTruncated(env_.record->cwd, sizeof env_.record->cwd, util::EscapeControl(cwd_));
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

// --- data connection set-up --------------------------------------------------

void Session::DoPasv(const Command&) {
  if (epsv_all_) {
    Reply(501, "PASV not allowed after EPSV ALL");
    return;
  }
  if (!local_.addr.is_v4()) {
    Reply(501, "PASV not possible over IPv6: use EPSV");
    return;
  }
  auto port = data_.Listen(local_.addr, cfg_.passive_ports);
  if (!port) {
    log::Warn("PASV: " + port.error().message());
    Reply(425, "Unable to build data connection: no free port");
    return;
  }
  net::IpAddress shown = local_.addr;
  if (cfg_.masquerade_address && cfg_.masquerade_address->is_v4()) shown = *cfg_.masquerade_address;
  Reply(227, data::FormatPasv(shown, *port));
}

void Session::DoEpsv(const Command& cmd) {
  const std::string_view arg = cmd.arg;
  const std::string a = util::ToUpper(util::Trim(arg));
  if (a == "ALL") {
    epsv_all_ = true;
    Reply(200, "EPSV ALL command successful");
    return;
  }
  if (!a.empty()) {
    const bool want_v4 = a == "1", want_v6 = a == "2";
    if (!want_v4 && !want_v6) {
      Reply(522, "Network protocol not supported, use (1,2)");
      return;
    }
    if (want_v4 != local_.addr.is_v4()) {
      Reply(522, std::string("Network protocol not supported, use (") +
                     (local_.addr.is_v4() ? "1" : "2") + ")");
      return;
    }
  }
  auto port = data_.Listen(local_.addr, cfg_.passive_ports);
  if (!port) {
    log::Warn("EPSV: " + port.error().message());
    Reply(425, "Unable to build data connection: no free port");
    return;
  }
  Reply(229, "Entering Extended Passive Mode (|||" + std::to_string(*port) + "|)");
}

void Session::DoPort(const Command& cmd) {
  const std::string_view arg = cmd.arg;
  if (epsv_all_) {
    Reply(501, "PORT not allowed after EPSV ALL");
    return;
  }
  auto ep = data::ParsePort(util::Trim(arg));
  if (!ep) {
    Reply(501, "Illegal PORT command");
    return;
  }
  // SECURITY: the target must be the client itself (no FTP bounce) and not a
  // privileged port; the client controls every byte of the argument.
  if (!(ep->addr == peer_.addr) || ep->port < 1024) {
    log::Warn("Refused PORT " + ep->ToString() + " (address or port not allowed)");
    Reply(500, "Illegal PORT command");
    return;
  }
  data_.SetActive(*ep, local_.addr);
  Reply(200, "PORT command successful");
}

void Session::DoEprt(const Command& cmd) {
  const std::string_view arg = cmd.arg;
  if (epsv_all_) {
    Reply(501, "EPRT not allowed after EPSV ALL");
    return;
  }
  auto ep = data::ParseEprt(util::Trim(arg));
  if (!ep) {
    if (ep.error().code() == ErrorCode::kNotFound)
      Reply(522, "Network protocol not supported, use (1,2)");
    else
      Reply(501, "Illegal EPRT command");
    return;
  }
  // SECURITY: as for PORT.
  if (!(ep->addr == peer_.addr) || ep->port < 1024) {
    log::Warn("Refused EPRT " + ep->ToString() + " (address or port not allowed)");
    Reply(500, "Illegal EPRT command");
    return;
  }
  data_.SetActive(*ep, local_.addr);
  Reply(200, "EPRT command successful");
}

// --- transfers -------------------------------------------------------------

data::ControlAction Session::OnControlDuringTransfer() {
  if (!ctl_.ReadDuringTransfer()) {
    done_ = true;
    end_ = SessionEnd::kClientGone;
    return data::ControlAction::kAbort;
  }
  std::string line;
  for (;;) {
    const auto next = ctl_.PopLine(&line);
    if (next == LineReader::Next::kNeedMore) break;
    if (next == LineReader::Next::kTooLong) {
      Reply(500, "Command line too long");
      continue;
    }
    const std::string verb = util::ToUpper(util::Trim(line).substr(0, line.find(' ')));
    // Lines queued for afterwards are logged when they are dispatched.
    if (log::DebugEnabled(5) && (verb == "ABOR" || verb == "STAT" || verb == "NOOP"))
      DebugCommand(line, " during a transfer");
    if (verb == "ABOR") {
      abort_seen_ = true;
      return data::ControlAction::kAbort;
    }
    // SECURITY: over MaxCommandRate, NOOP and STAT wait in the queue like
    // any other command (and are delayed after the transfer) instead of
    // being answered at once; ABOR is never delayed.
    const bool stat = verb == "STAT" && util::Trim(line).size() == 4;
    if ((stat || verb == "NOOP") && rate_.enabled()) {
      const int64_t now_ns = util::MonotonicNs();
      if (rate_.WouldDelay(now_ns)) {
        if (ctl_.Queue(line)) return data::ControlAction::kIgnore;
        continue;
      }
      (void)rate_.Admit(now_ns);
    }
    if (stat) {
      Reply(213, "Status: transfer of " +
                     util::EscapeControl(env_.record ? env_.record->xfer_path : "") +
                     " in progress");
      continue;
    }
    if (verb == "NOOP") {
      Reply(200, "NOOP command successful");
      continue;
    }
    if (ctl_.Queue(std::move(line))) return data::ControlAction::kIgnore;
  }
  return ctl_.reader_full() ? data::ControlAction::kIgnore : data::ControlAction::kContinue;
}

data::Hooks Session::MakeHooks() {
  data::Hooks h;
  h.control = &ctl_.stream();
  h.wait_mask = env_.wait_mask;
  h.stop_requested = env_.stop_requested;
  h.on_control = [this] { return OnControlDuringTransfer(); };
  h.stall_timeout_ms = cfg_.timeout_stalled > 0 ? cfg_.timeout_stalled * 1000 : 0;
  return h;
}

bool Session::RunTransfer(std::string_view opening, sb::XferDir dir, std::string_view vpath,
                          uint64_t size, const SendFn& transfer, uint64_t* sent,
                          data::Status* status) {
  *sent = 0;
  if (!data_.configured()) {
    Reply(425, "Unable to build data connection: use PORT, EPRT, PASV or EPSV first");
    *status = data::Status::kNoData;
    return false;
  }
  data::Hooks hooks = MakeHooks();
  UniqueFd sock;
  std::string detail;
  data::Status st = data::Status::kOk;
  const bool active = data_.active();
  if (active) {
    // PORT/EPRT: connect before the 150, so a refused or unreachable client
    // port is a plain 425 (RFC 959: "Can't open data connection") and not a
    // 150 followed by 426. Passive mode must send 150 first: the client may
    // connect only after it.
    st = data_.Open(peer_.addr, cfg_.allow_foreign_address, kDataConnectTimeoutMs, hooks, &sock,
                    &detail);
    if (st != data::Status::kOk) {
      *status = data::Status::kNoData;  // no transfer took place
      switch (st) {
        case data::Status::kStopped:
          EndStopped();
          break;
        case data::Status::kAborted:
          if (done_) break;  // control connection gone
          Reply(426, "Transfer aborted. Data connection closed.");
          Reply(226, "Abort successful");
          break;
        case data::Status::kTimeout:
          Reply(425, "Can't open data connection: Connection timed out");
          break;
        default:
          Reply(425, "Can't open data connection");
          break;
      }
      return false;
    }
  }
  Reply(150, opening);
  abort_seen_ = false;
  auto* rec = env_.record;
  rec->xfer_dir = dir;
  util::CopyTruncated(rec->xfer_path, sizeof rec->xfer_path, util::EscapeControl(vpath));
  rec->xfer_size = size;
  rec->xfer_offset = dir == sb::XferDir::kRetr ? rest_ : 0;
  rec->xfer_start_ns = util::RealtimeNs();
  if (env_.scoreboard) env_.scoreboard->SetBytesDone(env_.slot, 0);
  Publish(sb::SlotState::kTransferring);
  POOLFTPD_DEBUG(7, "transfer start: ", dir == sb::XferDir::kRetr ? "RETR " : "listing of ",
                 util::EscapeControl(vpath), " (size ", size, ", offset ", rec->xfer_offset, ", ",
                 ascii_ ? "TYPE A" : "TYPE I", ", ", active ? "active" : "passive", ")");

  uint64_t counted = 0;  // bytes of this transfer already in the header's total_bytes
  if (!active)
    st = data_.Open(peer_.addr, cfg_.allow_foreign_address, kDataConnectTimeoutMs, hooks, &sock,
                    &detail);
  if (st == data::Status::kOk) {
    // Each step's bytes go into the header as they move (one relaxed
    // fetch_add per step), so a rate read from total_bytes is smooth over a
    // long transfer; `counted` is what the header already has.
    hooks.progress = [this, &counted](uint64_t b) {
      if (!env_.scoreboard) return;
      env_.scoreboard->SetBytesDone(env_.slot, b);
      if (b > counted) env_.scoreboard->AddTotalBytes(b - counted);
      counted = b;
    };
    net::TcpStream stream(std::move(sock));
    st = transfer(stream, hooks, sent);
    // Orderly close so the client reads to EOF.
    if (st == data::Status::kOk) stream.Shutdown();
  }
  // Bytes a loop sent without reporting them (none today: every loop reports
  // after each send) still count once.
  if (env_.scoreboard && *sent > counted) env_.scoreboard->AddTotalBytes(*sent - counted);
  rec->xfer_dir = sb::XferDir::kNone;
  rec->xfer_path[0] = '\0';
  rec->xfer_size = 0;
  ctl_.TransferEnded();
  POOLFTPD_DEBUG(7, "transfer end: ", data::StatusName(st), ", ", *sent, " bytes in ",
                 (util::RealtimeNs() - rec->xfer_start_ns) / 1000000, " ms",
                 detail.empty() ? std::string() : " (" + util::EscapeControl(detail) + ")");
  *status = st;
  switch (st) {
    case data::Status::kOk:
      Reply(226, "Transfer complete");
      return true;
    case data::Status::kAborted:
      if (done_) return false;  // control connection gone
      Reply(426, "Transfer aborted. Data connection closed.");
      Reply(226, "Abort successful");
      return false;
    case data::Status::kForeign:
      log::Warn("SECURITY VIOLATION: data connection from foreign address " + detail + " refused");
      Reply(425, "Unable to build data connection: connection from foreign address refused");
      return false;
    case data::Status::kTimeout:
      Reply(425, "Unable to build data connection: Connection timed out");
      return false;
    case data::Status::kNoData:
      Reply(425, "Unable to build data connection");
      return false;
    case data::Status::kPeerClosed:
      Reply(426, "Data connection closed; transfer aborted");
      return false;
    case data::Status::kLocalError:
      Reply(451, "Transfer aborted: local error in processing");
      return false;
    case data::Status::kStalled:
      log::Info("Data transfer stall timeout: " + std::to_string(cfg_.timeout_stalled) +
                " seconds");
      EndWith(SessionEnd::kTimeout, 421,
              "Data transfer stall timeout: " + std::to_string(cfg_.timeout_stalled) + " seconds");
      return false;
    case data::Status::kStopped:
      EndStopped();
      return false;
  }
  return false;
}

void Session::DoRetr(const Command& cmd) {
  const std::string_view arg = cmd.arg;
  const uint64_t offset = rest_;
  rest_ = 0;
  const std::string& vpath = cmd.vpath;
  auto fd = root_->Open(vpath, O_RDONLY | O_NOCTTY | O_NONBLOCK);
  if (!fd) {
    Reply(550, ErrnoText(arg, fd.error().sys_errno()));
    return;
  }
  struct stat st;
  if (::fstat(fd->get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    Reply(550, PathText(arg.substr(0, 512)) + ": Not a regular file");
    return;
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (offset > size) {
    Reply(554, "Invalid REST parameter: offset " + std::to_string(offset) + " beyond file size " +
                   std::to_string(size));
    return;
  }
  ::posix_fadvise(fd->get(), static_cast<off_t>(offset), 0, POSIX_FADV_SEQUENTIAL);
  const std::string opening = std::string("Opening ") + (ascii_ ? "ASCII" : "BINARY") +
                              " mode data connection for " + PathText(arg.substr(0, 512)) + " (" +
                              std::to_string(size - offset) + " bytes)";
  const int file_fd = fd->get();
  const bool ascii = ascii_;
  const bool use_sendfile = cfg_.use_sendfile;
  uint64_t sent = 0;
  data::Status status;
  const int64_t t0 = util::MonotonicMs();
  RunTransfer(
      opening, sb::XferDir::kRetr, vpath, size,
      [&](net::Stream& out, const data::Hooks& h, uint64_t* n) {
        return ascii ? data::SendAscii(out, file_fd, offset, h, n)
                     : data::SendFile(out, file_fd, offset, size, use_sendfile, h, n);
      },
      &sent, &status);
  if (status == data::Status::kNoData) return;
  log::XferRecord x;
  x.now_s = util::RealtimeNs() / 1000000000;
  const int64_t ms = util::MonotonicMs() - t0;
  x.seconds = (ms + 500) / 1000;
  if (x.seconds == 0 && sent > 0) x.seconds = 1;
  x.remote_host = peer_name_.empty() ? peer_.addr.ToString() : peer_name_;
  x.bytes = sent;
  x.filename = real_root_ == "/" ? vpath : std::string(real_root_) + vpath;
  x.ascii = ascii;
  x.direction = 'o';
  x.access_mode = 'a';
  x.username = anon_pass_.empty() ? user_ : anon_pass_;
  x.complete = status == data::Status::kOk;
  log::WriteXfer(x);
}

namespace {

// Hands a directory listing to the data socket piece by piece as Emit formats
// it (the client receives while the rest is formatted).
data::Status StreamListing(fs::DirListing& listing, const fs::EmitOptions& opts, net::Stream& out,
                           const data::Hooks& hooks, uint64_t* sent) {
  *sent = 0;
  data::Status status = data::Status::kOk;
  data::Hooks h = hooks;
  const bool emitted = listing.Emit(opts, [&](std::string_view text) {
    const uint64_t base = *sent;
    if (hooks.progress) h.progress = [&hooks, base](uint64_t b) { hooks.progress(base + b); };
    uint64_t n = 0;
    status = data::SendBuffer(out, text, h, &n);
    *sent += n;
    return status == data::Status::kOk;
  });
  if (!emitted && status == data::Status::kOk) return data::Status::kLocalError;
  return status;
}

}  // namespace

std::string Session::LsLines(const std::vector<fs::Entry>& entries, fs::NameCoding coding) const {
  std::string out;
  out.reserve(entries.size() * 72);
  const std::time_t now = std::time(nullptr);
  for (const auto& e : entries) {
    out += fs::FormatLsLine(e, now, env_.names, coding);
    out += "\r\n";
  }
  return out;
}

bool Session::SendListing(std::string_view what, const std::string& text, std::string_view vpath) {
  uint64_t sent = 0;
  data::Status status;
  return RunTransfer(
      std::string("Opening ASCII mode data connection for ") + std::string(what),
      sb::XferDir::kList, vpath, text.size(),
      [&](net::Stream& out, const data::Hooks& h, uint64_t* n) {
        return data::SendBuffer(out, text, h, n);
      },
      &sent, &status);
}

void Session::DoList(const Command& cmd) { SendDirListing(cmd, /*nlst=*/false); }
void Session::DoNlst(const Command& cmd) { SendDirListing(cmd, /*nlst=*/true); }

// LIST and NLST: options, an optional wildcard in the last component, a file
// or a directory; long form for LIST (and NLST -l), names for NLST.
// The gate parsed the options (cmd.list) and resolved the path.
void Session::SendDirListing(const Command& cmd, bool nlst) {
  rest_ = 0;
  const fs::ListOptions& opts = cmd.list;
  const std::string& path = cmd.path;
  std::string vpath = cmd.vpath;
  std::string pattern;
  auto target = fs::StatEntry(*root_, vpath);
  if (!target && fs::HasGlob(path)) {
    // A wildcard in the last component: list matching names of its directory.
    const size_t slash = vpath.rfind('/');
    pattern = vpath.substr(slash + 1);
    vpath = slash == 0 ? "/" : vpath.substr(0, slash);
    target = fs::StatEntry(*root_, vpath);
  }
  if (!target) {
    Reply(550, ErrnoText(path.empty() ? "." : path, target.error().sys_errno()));
    return;
  }
  const bool is_dir = S_ISDIR(target->st.st_mode) ||
                      (target->is_link && target->target_ok && S_ISDIR(target->target_st.st_mode));
  if (!is_dir || opts.directory) {
    SendListing(
        "file list",
        opts.long_form
            ? LsLines({*target}, fs::NameCoding::kData)
            : fs::EncodeName(path.empty() ? target->name : path, fs::NameCoding::kData) + "\r\n",
        vpath);
    return;
  }
  // Read (and 550 on failure) before 150; the text is streamed after it.
  auto listing = fs::DirListing::Read(*root_, vpath, opts.all, pattern);
  if (!listing) {
    Reply(550, ErrnoText(path.empty() ? "." : path, listing.error().sys_errno()));
    return;
  }
  if (listing->cut())
    log::Warn("listing of " + util::EscapeControl(vpath) + " cut at " +
              std::to_string(limits::kMaxListEntries) + " entries");
  fs::EmitOptions eo;
  eo.style = opts.long_form ? fs::ListStyle::kLs : fs::ListStyle::kNames;
  eo.now = std::time(nullptr);
  eo.names = &env_.names;
  eo.skip_dot_dirs = nlst;
  uint64_t sent = 0;
  data::Status status;
  RunTransfer(
      "Opening ASCII mode data connection for file list", sb::XferDir::kList, vpath, 0,
      [&](net::Stream& out, const data::Hooks& h, uint64_t* n) {
        return StreamListing(*listing, eo, out, h, n);
      },
      &sent, &status);
}

void Session::DoMlsd(const Command& cmd) {
  const std::string_view arg = cmd.arg;
  rest_ = 0;
  const std::string& vpath = cmd.vpath;
  auto target = fs::StatEntry(*root_, vpath);
  if (!target) {
    Reply(550, ErrnoText(arg.empty() ? "." : arg, target.error().sys_errno()));
    return;
  }
  const bool is_dir = S_ISDIR(target->st.st_mode) ||
                      (target->is_link && target->target_ok && S_ISDIR(target->target_st.st_mode));
  if (!is_dir) {
    Reply(501, PathText(arg.substr(0, 512)) + ": Not a directory");
    return;
  }
  auto listing = fs::DirListing::Read(*root_, vpath, true);
  if (!listing) {
    Reply(550, ErrnoText(arg.empty() ? "." : arg, listing.error().sys_errno()));
    return;
  }
  if (listing->cut())
    log::Warn("listing of " + util::EscapeControl(vpath) + " cut at " +
              std::to_string(limits::kMaxListEntries) + " entries");
  fs::EmitOptions eo;
  eo.style = fs::ListStyle::kFacts;
  eo.facts = mlst_facts_;
  eo.names = &env_.names;
  uint64_t sent = 0;
  data::Status status;
  RunTransfer(
      "Opening ASCII mode data connection for MLSD", sb::XferDir::kList, vpath, 0,
      [&](net::Stream& out, const data::Hooks& h, uint64_t* n) {
        return StreamListing(*listing, eo, out, h, n);
      },
      &sent, &status);
}

void Session::DoMlst(const Command& cmd) {
  const std::string_view arg = cmd.arg;
  const std::string& vpath = cmd.vpath;
  auto e = fs::StatEntry(*root_, vpath);
  if (!e) {
    Reply(550, ErrnoText(arg.empty() ? "." : arg, e.error().sys_errno()));
    return;
  }
  e->name = vpath;
  // SECURITY: a file name with CR/LF must not forge reply lines: names are
  // encoded for the control connection (CR NUL, LF as NUL).
  Reply(250, "Start of list for " + PathText(vpath) + "\n" +
                 fs::FormatFacts(*e, mlst_facts_, fs::Access::OfProcess(), env_.names, "",
                                 fs::NameCoding::kControl) +
                 "\nEnd of list");
}

void Session::DoStat(const Command& cmd) {
  if (!cmd.has_path) {
    std::string t = "Status of '" + cfg_.server_name + "'\n";
    t += "Connected from " + peer_.addr.ToString() + " (" + peer_.addr.ToString() + ")\n";
    t += "Logged in as " + util::EscapeControl(user_) + "\n";
    t +=
        std::string("TYPE: ") + (ascii_ ? "ASCII" : "BINARY") + ", STRUcture: File, Mode: Stream\n";
    t += data_.configured() ? "Data connection ready\n" : "No data connection\n";
    t += "End of status";
    Reply(211, t);
    return;
  }
  const fs::ListOptions& opts = cmd.list;
  const std::string& path = cmd.path;
  const std::string& vpath = cmd.vpath;
  auto target = fs::StatEntry(*root_, vpath);
  if (!target) {
    Reply(550, ErrnoText(path, target.error().sys_errno()));
    return;
  }
  std::string lines;
  if (S_ISDIR(target->st.st_mode) && !opts.directory) {
    auto listing = fs::DirListing::Read(*root_, vpath, opts.all);
    if (!listing) {
      Reply(550, ErrnoText(path, listing.error().sys_errno()));
      return;
    }
    fs::EmitOptions eo;
    eo.style = fs::ListStyle::kLs;
    eo.now = std::time(nullptr);
    eo.names = &env_.names;
    eo.coding = fs::NameCoding::kControl;
    listing->Emit(eo, [&lines](std::string_view text) {
      lines.append(text);
      return true;
    });
  } else {
    lines = LsLines({*target}, fs::NameCoding::kControl);
  }
  // Multi-line reply: one ls line per reply line.
  std::string t = "Status of " + PathText(path) + ":\n";
  for (size_t pos = 0; pos < lines.size();) {
    const size_t nl = lines.find("\r\n", pos);
    // SECURITY: names in `lines` are encoded for the control connection (a
    // CR only as CR NUL, no LF), so CRLF ends exactly one ls line.
    t += std::string_view(lines).substr(pos, nl - pos);
    t += '\n';
    pos = nl + 2;
  }
  t += "End of status";
  Reply(213, t);
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
  const config::Verb* c = FindSiteCommand(sub);
  if (c == nullptr) {
    Reply(500, "'SITE " + util::EscapeControl(sub.substr(0, 32)) + "' not understood");
    return;
  }
  // SECURITY: SITE is a gate of its own for its subcommands: <Limit
  // SITE_CHMOD> (and the WRITE group, which names SITE_CHMOD and SITE_CHGRP)
  // govern the subcommand as in ProFTPD, under the policy of the current
  // directory the main gate found.
  const std::string_view limit_verb = c->name;
  if (!auth::CommandAllowed(cmd.policy, limit_verb, peer_.addr)) {
    log::Info(std::string(limit_verb) + " denied by <Limit>");
    Reply(550, "SITE " + sub + ": Permission denied");
    return;
  }
  if (c->flags & config::kWrite) {  // no write subcommand has a handler yet
    // SECURITY: anonymous sessions are read-only whatever the file modes say.
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
