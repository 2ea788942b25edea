#include "poolftpd/protocol/reply.h"

#include <vector>

namespace poolftpd::protocol {
namespace {

// SECURITY (S2): nothing inside a line may end it. A CR goes out as CR NUL (RFC
// 959; a CR already followed by NUL is such a pair, from fs::EncodeName);
// NUL is kept (it stands for LF in encoded names). Lines are split on LF
// before this, so no LF reaches here.
void AppendClean(std::string* out, std::string_view line) {
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    out->push_back(c);
    if (c == '\r') {
      out->push_back('\0');
      if (i + 1 < line.size() && line[i + 1] == '\0') ++i;
    }
  }
}

}  // namespace

std::string FormatReply(int code, std::string_view text) {
  const std::string num = std::to_string(code);
  std::vector<std::string_view> lines;
  size_t start = 0;
  for (;;) {
    const size_t nl = text.find('\n', start);
    std::string_view line =
        text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    // CRLF in the text (a message file with DOS line ends) is a line break
    // like LF; an encoded name never holds CRLF (fs::EncodeName).
    if (nl != std::string_view::npos && !line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  std::string out;
  out.reserve(text.size() + lines.size() * 6 + 8);
  if (lines.size() == 1) {
    out += num;
    out += ' ';
    AppendClean(&out, lines[0]);
    out += "\r\n";
    return out;
  }
  out += num;
  out += '-';
  AppendClean(&out, lines.front());
  out += "\r\n";
  for (size_t i = 1; i + 1 < lines.size(); ++i) {
    out += ' ';
    AppendClean(&out, lines[i]);
    out += "\r\n";
  }
  out += num;
  out += ' ';
  AppendClean(&out, lines.back());
  out += "\r\n";
  return out;
}

std::string QuotePath(std::string_view path) {
  std::string out = "\"";
  for (char c : path) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace poolftpd::protocol
