// The directive table of poolftpd.conf, in nginx's ngx_command_t spirit: one
// row per directive {name, contexts, arity, setter}. Used by the config parser
// only (master, `-t`). Block tags (<Anonymous>, <Directory>, <Limit>, <IfDefine>) and
// Include are handled by the parser, not here.
#pragma once

#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "poolftpd/config/config.h"
#include "poolftpd/util/result.h"

namespace poolftpd::config::internal {

// Where a directive may appear (bit set).
enum ContextBits : unsigned {
  kServerContext = 1u << 0,  // top level
  kAnonContext = 1u << 1,    // directly inside <Anonymous>
  kLimitContext = 1u << 2,   // directly inside <Limit>
  kDirContext = 1u << 3,     // directly inside <Directory> (no directive yet)
};

// What a setter may touch: the config, and the block it sits in (if any).
struct SetterState {
  Config* config = nullptr;
  Anonymous* anonymous = nullptr;  // innermost open <Anonymous>, or null
  Limit* limit = nullptr;          // innermost open <Limit>, or null
  ContextBits context = kServerContext;
  std::string_view directive;  // canonical name of the directive being set
  std::string at;              // "file:line" of the directive being set
};

// A setter returns Error(kInvalid, "reason"); the parser adds "file:line: ".
using Setter = Result<void> (*)(SetterState& state, const std::vector<std::string>& args);

struct DirectiveSpec {
  std::string_view name;  // canonical spelling, used in messages
  unsigned contexts;      // ContextBits
  int min_args;
  int max_args;  // -1: no upper bound
  Setter set;
};

// The row for `name` (case-insensitive), or nullptr.
const DirectiveSpec* FindDirective(std::string_view name);

// Every row, for tests and documentation checks.
std::span<const DirectiveSpec> AllDirectives();

// Where each directive was last set, keyed by canonical name.
struct Location {
  std::string file;
  int line = 0;
  long sequence = 0;  // increases with every directive parsed, across files
};
using LocationMap = std::map<std::string, Location, std::less<>>;

// Checks that span several directives (MinSpareServers <= MaxSpareServers,
// ...). Errors come back complete: "file:line: reason", naming the directive
// (of those involved, the last one set) that made the set inconsistent.
Result<void> CrossCheck(const Config& config, const LocationMap& where);

// Shared value parsers (also used for block arguments by the parser).
// "abc" -> `NAME: "abc" is not a number`; 70000 -> `NAME: 70000 is out of
// range (1-65535)`.
Result<long long> ParseNumber(std::string_view directive, std::string_view text, long long min,
                              long long max);

}  // namespace poolftpd::config::internal
