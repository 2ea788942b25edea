// String helpers over std::string_view: strict number parsing, case folding,
// escaping of untrusted bytes for logs and slots. No allocation unless the
// function returns a std::string. Usable by every process.
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace poolftpd::util {

// Whole-string unsigned parse: no sign, no spaces, no trailing bytes, <= max.
template <class T>
std::optional<T> ParseUnsigned(std::string_view s, T max) {
  T v{};
  if (s.empty()) return std::nullopt;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || v > max) return std::nullopt;
  return v;
}

std::string ToUpper(std::string_view s);
std::string ToLower(std::string_view s);
bool EqualsIgnoreCase(std::string_view a, std::string_view b);
std::string_view Trim(std::string_view s);
std::vector<std::string_view> Split(std::string_view s, char sep);

// Replaces control bytes (< 0x20, 0x7f) with '?' so client data cannot forge
// log lines or terminal escapes. UTF-8 bytes >= 0x80 pass unchanged.
std::string EscapeControl(std::string_view s);

// Copies at most n-1 bytes of s into dst[n] and NUL-terminates.
void CopyTruncated(char* dst, std::size_t n, std::string_view s);

}  // namespace poolftpd::util
