#include "options.h"

#include <charconv>
#include <cmath>

namespace poolftpd::ftpbench {

namespace {

// Longest path/user/password we put on a command line; the server's line
// limit is 4 KiB including the verb.
constexpr std::size_t kMaxArgument = 4000;

Error Usage(std::string message) { return Error(ErrorCode::kInvalid, std::move(message)); }

template <class T>
std::optional<T> ParseInteger(std::string_view s, T min, T max) {
  T v{};
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || end != s.data() + s.size() || v < min || v > max) {
    return std::nullopt;
  }
  return v;
}

std::optional<double> ParseSeconds(std::string_view s, bool allow_zero) {
  double v = 0;
  const auto [end, ec] =
      std::from_chars(s.data(), s.data() + s.size(), v, std::chars_format::fixed);
  if (s.empty() || ec != std::errc{} || end != s.data() + s.size() || !std::isfinite(v) || v < 0 ||
      (v == 0 && !allow_zero) || v > kMaxSeconds) {
    return std::nullopt;
  }
  return v;
}

// A value that goes on an FTP command line.
bool IsSafeArgument(std::string_view s) {
  return s.size() <= kMaxArgument && s.find_first_of(std::string_view("\r\n\0", 3)) == s.npos;
}

struct Spec {
  char short_name;  // 0: long only
  std::string_view long_name;
  bool takes_value;
};

constexpr Spec kSpecs[] = {
    {'H', "host", true},     {'p', "port", true},     {'c', "clients", true},
    {'d', "duration", true}, {'u', "user", true},     {'P', "password", true},
    {'f', "file", true},     {'s', "size", true},     {'D', "dir", true},
    {'e', "entries", true},  {'n', "sessions", true}, {'t', "hold", true},
    {'r', "repeat", true},   {0, "server-pid", true}, {0, "json", false},
    {0, "timeout", true},    {0, "rcvlowat", true},   {'h', "help", false},
};

std::string OptionName(const Spec& spec) {
  std::string name = "--" + std::string(spec.long_name);
  if (spec.short_name != 0) name = std::string("-") + spec.short_name + "/" + name;
  return name;
}

Result<void> Apply(const Spec& spec, std::string_view value, Options* o) {
  const auto bad = [&](std::string_view what) {
    return Usage("invalid value '" + std::string(value) + "' for " + OptionName(spec) + ": " +
                 std::string(what));
  };
  const std::string_view name = spec.long_name;
  if (name == "host") {
    if (value.empty()) return bad("empty");
    o->host = value;
  } else if (name == "port") {
    auto v = ParseInteger<int>(value, 1, 65535);
    if (!v) return bad("expected 1-65535");
    o->port = static_cast<uint16_t>(*v);
  } else if (name == "clients") {
    auto v = ParseInteger<int>(value, 1, kMaxClients);
    if (!v) return bad("expected 1-" + std::to_string(kMaxClients));
    o->clients = *v;
  } else if (name == "duration") {
    auto v = ParseSeconds(value, false);
    if (!v) return bad("expected seconds > 0");
    o->duration_s = *v;
  } else if (name == "user" || name == "password" || name == "file" || name == "dir") {
    if (!IsSafeArgument(value)) return bad("contains CR, LF or NUL, or is too long");
    if (name == "user") {
      if (value.empty()) return bad("empty");
      o->user = value;
    } else if (name == "password") {
      o->password = value;
    } else if (name == "file") {
      if (value.empty()) return bad("empty");
      o->file = value;
    } else {
      o->dir = value;
    }
  } else if (name == "size" || name == "entries") {
    auto v = ParseInteger<uint64_t>(value, 0, UINT64_MAX / 2);
    if (!v) return bad("expected a number >= 0");
    (name == "size" ? o->size : o->entries) = *v;
  } else if (name == "sessions") {
    auto v = ParseInteger<int>(value, 1, kMaxClients);
    if (!v) return bad("expected 1-" + std::to_string(kMaxClients));
    o->sessions = *v;
  } else if (name == "hold") {
    auto v = ParseSeconds(value, true);
    if (!v) return bad("expected seconds >= 0");
    o->hold_s = *v;
  } else if (name == "repeat") {
    auto v = ParseInteger<int>(value, 1, 1'000'000);
    if (!v) return bad("expected 1-1000000");
    o->repeat = *v;
  } else if (name == "server-pid") {
    auto v = ParseInteger<int>(value, 1, 1 << 30);
    if (!v) return bad("expected a process id");
    o->server_pid = *v;
  } else if (name == "rcvlowat") {
    auto v = ParseInteger<int>(value, 1, kMaxRcvLowat);
    if (!v) return bad("expected 1-" + std::to_string(kMaxRcvLowat) + " bytes");
    o->rcvlowat = *v;
  } else if (name == "timeout") {
    auto v = ParseSeconds(value, false);
    if (!v) return bad("expected seconds > 0");
    o->timeout_s = *v;
  } else if (name == "json") {
    o->json = true;
  } else if (name == "help") {
    o->help = true;
  }
  return Ok();
}

}  // namespace

std::string_view ModeName(Mode mode) {
  switch (mode) {
    case Mode::kLogin:
      return "login";
    case Mode::kSmall:
      return "small";
    case Mode::kBig:
      return "big";
    case Mode::kList:
      return "list";
    case Mode::kIdle:
      return "idle";
  }
  return "?";
}

Result<Options> ParseOptions(const std::vector<std::string_view>& args) {
  Options o;
  std::optional<std::string_view> mode;
  bool options_done = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (options_done || arg.size() < 2 || arg[0] != '-') {
      if (mode) return Usage("unexpected argument '" + std::string(arg) + "'");
      mode = arg;
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    const Spec* spec = nullptr;
    std::optional<std::string_view> value;
    if (arg[1] == '-') {
      std::string_view name = arg.substr(2);
      const std::size_t eq = name.find('=');
      if (eq != std::string_view::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      for (const Spec& s : kSpecs) {
        if (s.long_name == name) spec = &s;
      }
      if (spec == nullptr) return Usage("unknown option '--" + std::string(name) + "'");
      if (!spec->takes_value && value) {
        return Usage("option '--" + std::string(name) + "' takes no value");
      }
    } else {
      for (const Spec& s : kSpecs) {
        if (s.short_name != 0 && s.short_name == arg[1]) spec = &s;
      }
      if (spec == nullptr) return Usage("unknown option '" + std::string(arg.substr(0, 2)) + "'");
      if (arg.size() > 2) {
        if (!spec->takes_value) return Usage("unknown option '" + std::string(arg) + "'");
        value = arg.substr(2);
      }
    }
    if (spec->takes_value && !value) {
      if (i + 1 >= args.size()) return Usage("option " + OptionName(*spec) + " needs a value");
      value = args[++i];
    }
    auto applied = Apply(*spec, value.value_or(""), &o);
    if (!applied) return applied.error();
  }
  if (o.help) return o;
  if (!mode) return Usage("no MODE given (login, small, big, list or idle)");
  if (*mode == "login") {
    o.mode = Mode::kLogin;
  } else if (*mode == "small") {
    o.mode = Mode::kSmall;
  } else if (*mode == "big") {
    o.mode = Mode::kBig;
  } else if (*mode == "list") {
    o.mode = Mode::kList;
  } else if (*mode == "idle") {
    o.mode = Mode::kIdle;
  } else {
    return Usage("unknown MODE '" + std::string(*mode) + "' (login, small, big, list or idle)");
  }
  if ((o.mode == Mode::kSmall || o.mode == Mode::kBig) && o.file.empty()) {
    return Usage(std::string(ModeName(o.mode)) + " mode needs -f PATH");
  }
  if (o.mode == Mode::kList) o.clients = 1;
  return o;
}

std::string HelpText() {
  return "usage: ftpbench [options] MODE          MODE: login | small | big | list | idle\n"
         "An FTP load generator: one process, one epoll loop, many clients.\n"
         "\n"
         "  -H, --host ADDR          server address (default 127.0.0.1)\n"
         "  -p, --port PORT          control port (default 21)\n"
         "  -c, --clients N          concurrent clients (default 32)\n"
         "  -d, --duration SECONDS   run time for login/small (default 10; fractional allowed)\n"
         "  -u, --user NAME          (default anonymous)\n"
         "  -P, --password TEXT      (default ftpbench@example.org)\n"
         "  -f, --file PATH          remote file for small/big (RETR PATH)\n"
         "  -s, --size BYTES         expected size of that file; every download is checked\n"
         "  -D, --dir PATH           remote directory for list mode\n"
         "  -e, --entries N          expected number of entries in list mode (checked if given)\n"
         "  -n, --sessions N         idle mode: sessions to open and hold (default 1000)\n"
         "  -t, --hold SECONDS       idle mode: how long to hold them after all are in (default "
         "2)\n"
         "  -r, --repeat N           list mode: repetitions (median reported),\n"
         "                           big mode: RETRs per client (default 1)\n"
         "      --server-pid PID     measure the server: CPU time of PID and its descendants,\n"
         "                           and in idle mode their memory (Rss, Pss, USS)\n"
         "      --json               one JSON object on stdout\n"
         "      --timeout SECONDS    per-operation timeout (default 10)\n"
         "      --rcvlowat BYTES     SO_RCVLOWAT on data connections: wake for that many\n"
         "                           bytes (or the end), not for every segment\n"
         "  -h, --help               this help\n"
         "\n"
         "Modes:\n"
         "  login  clients loop connect, USER, PASS, QUIT for -d seconds\n"
         "  small  the same plus TYPE I, EPSV and RETR -f of a small file\n"
         "  big    each client logs in and RETRs -f -r times; aggregate MB/s (10^6 bytes)\n"
         "  list   one client times LIST and MLSD of -D (median of -r runs), counts entries\n"
         "  idle   opens -n sessions (-c connecting at once), holds them -t seconds, QUITs\n"
         "\n"
         "The per-operation timeout bounds each reply wait and each stall of a data\n"
         "transfer. Exit status: 0 no failures, 1 any failure, 2 usage error.\n";
}

}  // namespace poolftpd::ftpbench
