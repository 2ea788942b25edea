// Config lexer: turns the bytes of one configuration file into logical lines
// of words (ProFTPD/Apache syntax: comments, double quotes, backslash line
// continuation). Used by the config parser only, in the master and `-t`.
// Knows nothing about directives, blocks or files on disk.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "poolftpd/util/result.h"

namespace poolftpd::config::internal {

// One directive's words; `line` is the 1-based line where it starts.
struct LogicalLine {
  int line = 0;
  std::vector<std::string> words;
};

struct LexedFile {
  std::vector<LogicalLine> lines;  // blank and comment lines dropped
  int physical_lines = 0;          // line count, for "not closed at EOF" errors
};

// Rules:
//  - a line whose first non-blank character is '#' is a comment (and never
//    continues onto the next line);
//  - a line ending in '\' (after an optional '\r') continues on the next one;
//    the backslash is removed and the lines are joined as they are;
//  - words are split on blanks; a '#' that starts a word outside quotes
//    starts a comment running to the end of the logical line;
//  - "..." is one word (\" and \\ are escapes, other backslashes are kept);
//    quoted and unquoted parts written without blanks between them join;
//  - a NUL byte or an unterminated quote is an error "FILE:LINE: reason".
Result<LexedFile> Lex(std::string_view text, std::string_view file_name);

}  // namespace poolftpd::config::internal
