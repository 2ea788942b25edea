// <Directory> matching and the policy lookup over the config tree (the
// rules are in config.h, from ProFTPD's mod_core and Directory howto).
#include <algorithm>
#include <string>
#include <string_view>

#include "poolftpd/config/config.h"

namespace poolftpd::config {
namespace {

// The next component of `path` from `*pos` (skipping slashes); false at the end.
bool NextComponent(std::string_view path, size_t* pos, std::string_view* out) {
  size_t i = *pos;
  while (i < path.size() && path[i] == '/') ++i;
  if (i >= path.size()) {
    *pos = i;
    return false;
  }
  size_t end = path.find('/', i);
  if (end == std::string_view::npos) end = path.size();
  *out = path.substr(i, end - i);
  *pos = end;
  return true;
}

// A "[...]" set at pat[*pi] against `c`; advances *pi past it. A malformed
// set (no closing bracket) matches a literal '['.
bool MatchSet(std::string_view pat, size_t* pi, char c) {
  size_t i = *pi + 1;
  bool negate = false;
  if (i < pat.size() && (pat[i] == '!' || pat[i] == '^')) {
    negate = true;
    ++i;
  }
  const size_t start = i;
  bool hit = false;
  for (; i < pat.size() && (pat[i] != ']' || i == start); ++i) {
    if (i + 2 < pat.size() && pat[i + 1] == '-' && pat[i + 2] != ']') {
      if (pat[i] <= c && c <= pat[i + 2]) hit = true;
      i += 2;
    } else if (pat[i] == c) {
      hit = true;
    }
  }
  if (i >= pat.size()) {  // unterminated: a literal '['
    ++*pi;
    return c == '[';
  }
  *pi = i + 1;
  return hit != negate;
}

// fnmatch(3)-style match of one component: '*', '?', '[...]'; no '/' can
// occur in either argument. Iterative with one backtrack point (linear for
// the short patterns of a config file).
bool MatchComponent(std::string_view pat, std::string_view s) {
  size_t p = 0, i = 0, star_p = std::string_view::npos, star_i = 0;
  while (i < s.size()) {
    if (p < pat.size() && pat[p] == '*') {
      star_p = ++p;
      star_i = i;
      continue;
    }
    if (p < pat.size()) {
      size_t np = p;
      bool ok;
      if (pat[p] == '?') {
        ok = true;
        np = p + 1;
      } else if (pat[p] == '[') {
        ok = MatchSet(pat, &np, s[i]);
      } else {
        ok = pat[p] == s[i];
        np = p + 1;
      }
      if (ok) {
        p = np;
        ++i;
        continue;
      }
    }
    if (star_p == std::string_view::npos) return false;
    p = star_p;
    i = ++star_i;
  }
  while (p < pat.size() && pat[p] == '*') ++p;
  return p == pat.size();
}

bool HasWildcard(std::string_view s) { return s.find_first_of("*?[") != std::string_view::npos; }

// Matches the components of `pattern` as a prefix of those of `path`.
// *components gets the pattern's component count, *literal its count of
// non-wildcard characters (a tie-breaker: /pub/private is closer than /pub/*).
bool MatchPrefix(std::string_view pattern, std::string_view path, bool contents_only,
                 long* components, long* literal) {
  size_t pp = 0, sp = 0;
  std::string_view pc, sc;
  long n = 0, lit = 0;
  while (NextComponent(pattern, &pp, &pc)) {
    if (!NextComponent(path, &sp, &sc)) return false;
    if (!MatchComponent(pc, sc)) return false;
    ++n;
    lit += HasWildcard(pc) ? 0 : static_cast<long>(pc.size());
  }
  if (contents_only && !NextComponent(path, &sp, &sc)) return false;  // the directory itself
  *components = n;
  *literal = lit;
  return true;
}

// Keeps `d` in `policy` ordered closest first (the closest kMaxDirectories).
void Insert(Policy* policy, std::array<long, Policy::kMaxDirectories>* ranks, const Directory* d,
            long rank) {
  size_t at = policy->directory_count;
  while (at > 0 && (*ranks)[at - 1] < rank) --at;
  if (at >= Policy::kMaxDirectories) return;
  size_t last = std::min(policy->directory_count, Policy::kMaxDirectories - 1);
  for (size_t i = last; i > at; --i) {
    policy->directories[i] = policy->directories[i - 1];
    (*ranks)[i] = (*ranks)[i - 1];
  }
  policy->directories[at] = d;
  (*ranks)[at] = rank;
  if (policy->directory_count < Policy::kMaxDirectories) ++policy->directory_count;
}

}  // namespace

bool DirectoryMatches(const Directory& d, std::string_view home, std::string_view path,
                      long* rank) {
  long components = 0, literal = 0;
  bool ok;
  if (d.home) {
    // "~" and "~/sub": home's components, then the pattern's. Rare (server
    // level only), so a string is built.
    std::string full(home);
    full += '/';
    full += d.pattern;
    ok = MatchPrefix(full, path, d.contents_only, &components, &literal);
  } else {
    ok = MatchPrefix(d.pattern, path, d.contents_only, &components, &literal);
  }
  if (!ok) return false;
  // A "/*" block counts one component deeper than its directory: it is the
  // closer match for what is inside (ProFTPD: "such wildcard matches take
  // precedence over non-wildcard <Directory> blocks").
  if (rank != nullptr) *rank = (components + (d.contents_only ? 1 : 0)) * 65536 + literal;
  return true;
}

Policy BasePolicy(const Config& cfg, const Anonymous* anon) {
  Policy p;
  p.anonymous = anon;
  p.server = &cfg;
  return p;
}

Policy FindPolicy(const Config& cfg, const Anonymous* anon, std::string_view home,
                  std::string_view vpath, std::string* scratch) {
  Policy p = BasePolicy(cfg, anon);
  if (cfg.directories.empty() && (anon == nullptr || anon->directories.empty())) return p;
  // The real path the session sees at `vpath`.
  scratch->assign(home == "/" ? std::string_view() : home);
  if (vpath != "/" || scratch->empty()) scratch->append(vpath);
  std::array<long, Policy::kMaxDirectories> ranks{};
  // The <Anonymous> blocks first: on equal rank the inner context wins.
  if (anon != nullptr) {
    for (const auto& d : anon->directories) {
      long rank = 0;
      if (DirectoryMatches(d, home, *scratch, &rank)) Insert(&p, &ranks, &d, rank);
    }
  }
  for (const auto& d : cfg.directories) {
    long rank = 0;
    if (DirectoryMatches(d, home, *scratch, &rank)) Insert(&p, &ranks, &d, rank);
  }
  return p;
}

}  // namespace poolftpd::config
