#include "lexer.h"

#include <utility>

namespace poolftpd::config::internal {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r'; }

Error LexError(std::string_view file, int line, std::string_view reason) {
  std::string ctx(file);
  ctx += ":";
  ctx += std::to_string(line);
  ctx += ": ";
  ctx += reason;
  return Error(ErrorCode::kInvalid, std::move(ctx));
}

// Splits one logical line into words. Returns false on an unterminated quote.
bool SplitWords(std::string_view text, std::vector<std::string>* words) {
  size_t i = 0;
  const size_t n = text.size();
  while (true) {
    while (i < n && IsBlank(text[i])) ++i;
    if (i >= n || text[i] == '#') return true;  // end, or a comment word
    std::string word;
    while (i < n && !IsBlank(text[i])) {
      if (text[i] != '"') {
        word += text[i++];
        continue;
      }
      ++i;  // opening quote
      bool closed = false;
      while (i < n) {
        const char c = text[i++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\' && i < n && (text[i] == '"' || text[i] == '\\')) {
          word += text[i++];
          continue;
        }
        word += c;
      }
      if (!closed) return false;
    }
    words->push_back(std::move(word));
  }
}

}  // namespace

Result<LexedFile> Lex(std::string_view text, std::string_view file_name) {
  LexedFile out;
  std::string logical;
  int logical_start = 0;  // 0: no logical line in progress
  int number = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    const bool last = eol == std::string_view::npos;
    if (last) eol = text.size();
    std::string_view phys = text.substr(pos, eol - pos);
    pos = last ? text.size() : eol + 1;
    ++number;
    if (phys.find('\0') != std::string_view::npos)
      return LexError(file_name, number, "NUL byte in configuration file");
    if (!phys.empty() && phys.back() == '\r') phys.remove_suffix(1);

    if (logical_start == 0) {
      size_t first = 0;
      while (first < phys.size() && IsBlank(phys[first])) ++first;
      if (first == phys.size() || phys[first] == '#') continue;  // blank or comment
      logical_start = number;
    }
    const bool continues = !phys.empty() && phys.back() == '\\';
    if (continues) phys.remove_suffix(1);
    logical.append(phys);
    if (continues && !last) continue;

    LogicalLine line;
    line.line = logical_start;
    if (!SplitWords(logical, &line.words))
      return LexError(file_name, logical_start, "unterminated quoted string");
    if (!line.words.empty()) out.lines.push_back(std::move(line));
    logical.clear();
    logical_start = 0;
  }
  if (logical_start != 0) {  // a continuation ran into the end of the text
    LogicalLine line;
    line.line = logical_start;
    if (!SplitWords(logical, &line.words))
      return LexError(file_name, logical_start, "unterminated quoted string");
    if (!line.words.empty()) out.lines.push_back(std::move(line));
  }
  out.physical_lines = number;
  return out;
}

}  // namespace poolftpd::config::internal
