// The command table and the gate: every command line goes through
// Session::Dispatch, which checks it once (registry flags, login, arity,
// path, <Limit>, read-only) and hands the handler a Command.
#include <array>

#include "poolftpd/auth/auth.h"
#include "poolftpd/config/verbs.h"
#include "poolftpd/log/log.h"
#include "poolftpd/protocol/session.h"
#include "poolftpd/util/limits.h"
#include "poolftpd/util/strings.h"
#include "session_internal.h"

namespace poolftpd::protocol {
namespace {

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

}  // namespace

const config::Verb* FindClientVerb(std::string_view verb) {
  const config::Verb* v = config::FindVerb(verb);
  return v != nullptr && !(v->flags & config::kSiteSub) ? v : nullptr;
}

std::span<const CommandSpec> Commands() { return kCommands; }

const CommandSpec* FindCommand(std::string_view verb) {
  for (const auto& c : kCommands)
    if (c.verb == verb) return &c;
  return nullptr;
}

void DebugCommand(std::string_view line, std::string_view when) {
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
  status_.Command(verb, (flags & config::kSecret) ? std::string_view("(hidden)") : arg);
  Command cmd;
  cmd.verb = verb;
  cmd.arg = arg;
  cmd.info = info;
  cmd.policy = cwd_policy_;
  bool path_ok = true;
  if (logged_in_) {
    status_.State(sb::SlotState::kLoggedIn);
    // The path is normalised once, here, and its policy found (the closest
    // <Directory>, then <Anonymous>, then the server).
    path_ok = ResolveCommandPath(&cmd);
    // SECURITY (S6): <Limit> blocks are the operator's per-command access policy
    // (QUIT always works, so a client can leave).
    if (verb != "QUIT" && !auth::CommandAllowed(cmd.policy, verb, peer_.addr)) {
      log::Info(verb + " denied by <Limit>");
      Reply(550, verb + ": Permission denied");
      return;
    }
  }
  const CommandSpec* spec = FindCommand(verb);
  if ((flags & config::kWrite) && (cmd.policy.read_only() || spec == nullptr)) {
    // SECURITY (S6): anonymous sessions are read-only whatever the file modes say.
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

}  // namespace poolftpd::protocol
