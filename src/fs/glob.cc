// GlobMatch / HasGlob: our own bounded matcher for LIST/NLST wildcards.
// SECURITY (S3): patterns come from clients; fnmatch(3) backtracks without bound,
// this matcher gives up after limits::kGlobStepBudget steps.
#include <cstddef>
#include <string_view>

#include "poolftpd/fs/listing.h"
#include "poolftpd/util/limits.h"

namespace poolftpd::fs {
namespace {

enum class ClassResult { kMatch, kNoMatch, kMalformed };

// Matches byte `c` against the bracket expression starting at pattern[pos]
// ('['). On kMatch/kNoMatch, *next is the index after the closing ']'.
// Adds the bytes it scanned to *steps.
ClassResult MatchClass(std::string_view pat, std::size_t pos, unsigned char c, std::size_t* next,
                       std::size_t* steps) {
  std::size_t i = pos + 1;
  bool negate = false;
  if (i < pat.size() && (pat[i] == '!' || pat[i] == '^')) {
    negate = true;
    ++i;
  }
  bool matched = false;
  bool first = true;
  while (i < pat.size()) {
    ++*steps;
    if (pat[i] == ']' && !first) {
      *next = i + 1;
      return matched != negate ? ClassResult::kMatch : ClassResult::kNoMatch;
    }
    first = false;
    unsigned char lo;
    if (pat[i] == '\\' && i + 1 < pat.size()) {
      lo = static_cast<unsigned char>(pat[i + 1]);
      i += 2;
    } else {
      lo = static_cast<unsigned char>(pat[i]);
      i += 1;
    }
    unsigned char hi = lo;
    if (i + 1 < pat.size() && pat[i] == '-' && pat[i + 1] != ']') {
      if (pat[i + 1] == '\\' && i + 2 < pat.size()) {
        hi = static_cast<unsigned char>(pat[i + 2]);
        i += 3;
      } else {
        hi = static_cast<unsigned char>(pat[i + 1]);
        i += 2;
      }
    }
    if (lo <= c && c <= hi) matched = true;
  }
  return ClassResult::kMalformed;  // no closing ']': '[' is a literal
}

}  // namespace

bool GlobMatch(std::string_view pat, std::string_view name) {
  constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  std::size_t steps = 0;
  std::size_t p = 0;
  std::size_t n = 0;
  // Single backtrack point: the last '*' seen and the name position it was
  // tried at. Later stars subsume earlier ones, so this is complete and
  // costs at most O(|pattern| * |name|) steps.
  std::size_t star_p = kNone;
  std::size_t star_n = 0;
  while (n < name.size()) {
    if (++steps > limits::kGlobStepBudget) return false;
    if (p < pat.size()) {
      const char pc = pat[p];
      if (pc == '*') {
        star_p = ++p;
        star_n = n;
        continue;
      }
      if (pc == '?') {
        ++p;
        ++n;
        continue;
      }
      bool literal = true;
      if (pc == '[') {
        std::size_t next = 0;
        const ClassResult r =
            MatchClass(pat, p, static_cast<unsigned char>(name[n]), &next, &steps);
        if (r == ClassResult::kMatch) {
          p = next;
          ++n;
          continue;
        }
        literal = (r == ClassResult::kMalformed);
      }
      if (literal) {
        char want = pc;
        std::size_t len = 1;
        if (pc == '\\' && p + 1 < pat.size()) {
          want = pat[p + 1];
          len = 2;
        }
        if (want == name[n]) {
          p += len;
          ++n;
          continue;
        }
      }
    }
    if (star_p == kNone) return false;
    p = star_p;
    n = ++star_n;
  }
  while (p < pat.size() && pat[p] == '*') ++p;
  return p == pat.size() && steps <= limits::kGlobStepBudget;
}

bool HasGlob(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\\') {
      ++i;
      continue;
    }
    if (c == '*' || c == '?' || c == '[') return true;
  }
  return false;
}

}  // namespace poolftpd::fs
