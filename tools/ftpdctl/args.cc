// ftpdctl's command-line parser; see args.h.
#include "args.h"

#include <signal.h>
#include <strings.h>

#include <charconv>

#include "poolftpd/util/debug_signal.h"

namespace poolftpd::ftpdctl {

namespace {

struct CommandEntry {
  const char* name;
  Command command;
};
constexpr CommandEntry kCommands[] = {
    {"status", Command::kStatus},
    {"reload", Command::kReload},
    {"stop", Command::kStop},
    {"graceful-stop", Command::kGracefulStop},
    {"reopen-logs", Command::kReopenLogs},
    {"kick", Command::kKick},
    {"kill", Command::kKill},
    {"debug", Command::kDebug},
};

struct SignalEntry {
  const char* name;
  int signo;
};
// The signals an operator sends a daemon by name.
constexpr SignalEntry kSignals[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"ABRT", SIGABRT},
    {"KILL", SIGKILL}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"TERM", SIGTERM},
    {"CONT", SIGCONT}, {"STOP", SIGSTOP}, {"TSTP", SIGTSTP}, {"WINCH", SIGWINCH},
};

std::optional<int> ParseInt(std::string_view s, int lo, int hi) {
  int v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || end != s.data() + s.size() || v < lo || v > hi) {
    return std::nullopt;
  }
  return v;
}

// Operator text quoted in an error: printable ASCII kept, the rest escaped.
std::string Quote(std::string_view s) {
  std::string out = "'";
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out + "'";
}

Error Usage(std::string message) { return Error(ErrorCode::kInvalid, std::move(message)); }

}  // namespace

std::optional<int> ParseSignal(std::string_view text) {
  if (!text.empty() && text.front() >= '0' && text.front() <= '9') {
    return ParseInt(text, 1, SIGRTMAX);
  }
  if (text.size() > 3 && ::strncasecmp(text.data(), "SIG", 3) == 0) text.remove_prefix(3);
  for (const SignalEntry& e : kSignals) {
    if (text.size() == std::char_traits<char>::length(e.name) &&
        ::strncasecmp(text.data(), e.name, text.size()) == 0) {
      return e.signo;
    }
  }
  return std::nullopt;
}

std::string SignalName(int signo) {
  for (const SignalEntry& e : kSignals) {
    if (e.signo == signo) return e.name;
  }
  if (signo >= SIGRTMIN && signo <= SIGRTMAX) return "RTMIN+" + std::to_string(signo - SIGRTMIN);
  return std::to_string(signo);
}

const char* CommandName(Command command) {
  for (const CommandEntry& e : kCommands) {
    if (e.command == command) return e.name;
  }
  return "?";
}

int DefaultTimeout(Command command) {
  switch (command) {
    case Command::kReload:
      return 5;
    case Command::kStop:
      return 10;
    default:
      return 0;
  }
}

Result<Options> ParseArgs(const std::vector<std::string>& args) {
  Options o;
  std::optional<Command> command;
  bool options_done = false;
  std::vector<std::string> positional;  // after the command

  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    // "debug -1": a level out of range, not an option.
    const bool negative_level = command && *command == Command::kDebug && arg.size() >= 2 &&
                                arg[0] == '-' && arg[1] >= '0' && arg[1] <= '9';
    if (options_done || arg.size() < 2 || arg[0] != '-' || negative_level) {
      if (!command) {
        for (const CommandEntry& e : kCommands) {
          if (arg == e.name) command = e.command;
        }
        if (!command) return Usage("unknown command " + Quote(arg));
      } else {
        positional.push_back(arg);
      }
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    // Split "--name=value" and "-xVALUE".
    std::string name = arg;
    std::optional<std::string> inline_value;
    if (arg.rfind("--", 0) == 0) {
      if (const size_t eq = arg.find('='); eq != std::string::npos) {
        name = arg.substr(0, eq);
        inline_value = arg.substr(eq + 1);
      }
    } else if (arg.size() > 2) {
      name = arg.substr(0, 2);
      inline_value = arg.substr(2);
    }
    auto value = [&]() -> Result<std::string> {
      if (inline_value) return *inline_value;
      if (i + 1 >= args.size()) return Usage("option " + Quote(name) + " needs an argument");
      return args[++i];
    };
    auto no_value = [&]() -> Result<void> {
      if (inline_value) return Usage("option " + Quote(name) + " takes no argument");
      return Ok();
    };

    if (name == "-h" || name == "--help") {
      if (auto r = no_value(); !r) return r.error();
      o.help = true;
    } else if (name == "-V" || name == "--version") {
      if (auto r = no_value(); !r) return r.error();
      o.version = true;
    } else if (name == "--json") {
      if (auto r = no_value(); !r) return r.error();
      o.json = true;
    } else if (name == "-c" || name == "--config" || name == "-p" || name == "--pidfile" ||
               name == "-f" || name == "--file") {
      auto v = value();
      if (!v) return v.error();
      if (v->empty()) return Usage("option " + Quote(name) + " needs a file name");
      std::optional<std::string>& slot = (name == "-c" || name == "--config")    ? o.config
                                         : (name == "-p" || name == "--pidfile") ? o.pidfile
                                                                                 : o.scoreboard;
      slot = *v;
    } else if (name == "-D" || name == "--define") {
      auto v = value();
      if (!v) return v.error();
      if (v->empty()) return Usage("option " + Quote(name) + " needs a name");
      o.defines.push_back(*v);
    } else if (name == "--timeout") {
      auto v = value();
      if (!v) return v.error();
      auto secs = ParseInt(*v, 0, kMaxTimeoutSeconds);
      if (!secs) {
        return Usage("bad --timeout " + Quote(*v) + " (seconds, 0.." +
                     std::to_string(kMaxTimeoutSeconds) + ")");
      }
      o.timeout_s = *secs;
    } else if (name == "--pid" || name == "--user" || name == "--host") {
      auto v = value();
      if (!v) return v.error();
      if (!command || *command != Command::kKick) {
        return Usage("option " + Quote(name) + " belongs to the kick command");
      }
      if (name == "--pid") {
        auto pid = ParseInt(*v, 1, INT32_MAX);
        if (!pid) return Usage("bad --pid " + Quote(*v) + " (a worker PID)");
        o.kick.pid = *pid;
      } else if (v->empty()) {
        return Usage("option " + Quote(name) + " needs a value");
      } else if (name == "--user") {
        o.kick.user = *v;
      } else {
        o.kick.host = *v;
      }
    } else if (name == "--signal" || name == "--who") {
      auto v = value();
      if (!v) return v.error();
      if (!command || *command != Command::kKill) {
        return Usage("option " + Quote(name) + " belongs to the kill command");
      }
      if (name == "--who") {
        if (*v == "main") {
          o.who = Who::kMain;
        } else if (*v == "workers") {
          o.who = Who::kWorkers;
        } else if (*v == "all") {
          o.who = Who::kAll;
        } else {
          return Usage("bad --who " + Quote(*v) + " (main, workers or all)");
        }
      } else {
        auto sig = ParseSignal(*v);
        if (!sig) return Usage("unknown signal " + Quote(*v));
        o.signal = *sig;
      }
    } else {
      return Usage("unknown option " + Quote(name));
    }
  }

  if (o.help || o.version) return o;
  if (!command)
    return Usage(
        "no command given (status, reload, stop, graceful-stop, "
        "reopen-logs, kick, kill or debug)");
  o.command = *command;

  if (o.command == Command::kKick) {
    // The man page's positional forms: "kick PID", "kick user NAME",
    // "kick host ADDR".
    for (size_t k = 0; k < positional.size(); ++k) {
      const std::string& p = positional[k];
      if (p == "user" || p == "host") {
        if (k + 1 >= positional.size()) return Usage("kick " + p + " needs a value");
        const std::string& v = positional[++k];
        if (v.empty()) return Usage("kick " + p + " needs a value");
        (p == "user" ? o.kick.user : o.kick.host) = v;
      } else if (auto pid = ParseInt(p, 1, INT32_MAX)) {
        o.kick.pid = *pid;
      } else {
        return Usage("unexpected argument " + Quote(p) + " for kick");
      }
    }
    if (o.kick.empty()) return Usage("kick needs --pid N, --user NAME or --host ADDR");
    return o;
  }
  if (o.command == Command::kDebug) {
    const std::string range =
        std::to_string(util::kMinDebugLevel) + "-" + std::to_string(util::kMaxDebugLevel);
    if (positional.empty()) return Usage("debug needs a level (" + range + ")");
    if (positional.size() > 1)
      return Usage("unexpected argument " + Quote(positional[1]) + " for debug");
    auto level = ParseInt(positional[0], util::kMinDebugLevel, util::kMaxDebugLevel);
    if (!level) return Usage("bad debug level " + Quote(positional[0]) + " (" + range + ")");
    o.debug_level = *level;
    return o;
  }
  if (!positional.empty()) {
    return Usage("unexpected argument " + Quote(positional.front()) + " for " +
                 CommandName(o.command));
  }
  return o;
}

}  // namespace poolftpd::ftpdctl
