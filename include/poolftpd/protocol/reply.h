// FTP reply formatting (RFC 959 section 4.2): single and multi-line replies.
// Pure functions; worker process only.
#pragma once

#include <string>
#include <string_view>

namespace poolftpd::protocol {

// "250 text\r\n", or for text with '\n' inside a multi-line reply:
// "250-first\r\n inner\r\n250 last\r\n". Inner lines are indented by one space
// so none can be taken for the closing line. A CR inside a line is sent as
// CR NUL (RFC 959), NUL as it is: no text can add a line. Paths in `text`
// must be encoded with fs::EncodeName(kControl) first, which turns their LF
// into NUL (a LF, or CRLF, left in `text` is a line break).
std::string FormatReply(int code, std::string_view text);

// 257 "dir" quoting: doubles '"' (RFC 959 appendix II).
std::string QuotePath(std::string_view path);

}  // namespace poolftpd::protocol
