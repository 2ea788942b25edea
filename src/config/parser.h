// Config parser: files, Include, <IfDefine>, block structure (<Anonymous>,
// <Directory>, <Limit>) and dispatch of directives to the table in directives.h. Used by
// config::Load()/LoadFromString() only (master, `-t`). Reads files and
// expands globs and ~user; does no network I/O.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "directives.h"
#include "lexer.h"
#include "poolftpd/config/config.h"
#include "poolftpd/util/result.h"

namespace poolftpd::config::internal {

class Parser final {
 public:
  explicit Parser(std::vector<std::string> defines);
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  // Parse the top-level file. An unreadable file is "PATH: strerror".
  Result<void> ParseTopFile(const std::string& path);
  // Parse text in memory as if it were the file `name`.
  Result<void> ParseTopText(std::string_view text, const std::string& name);
  // Cross-checks, then hands the config over. Call once, after a Parse*.
  Result<Config> Finish();
  // After a failed Parse* or Finish(): what the directives parsed so far set.
  Config TakePartial() { return std::move(config_); }

 private:
  enum class FrameKind { kAnonymous, kDirectory, kLimit, kIfDefine, kSkipped };
  struct Frame {
    FrameKind kind = FrameKind::kSkipped;
    std::string tag;  // block name without brackets, as written
    std::string file;
    int line = 0;
    bool skip = false;  // an <IfDefine> whose condition is false
    Anonymous anonymous;
    Directory directory;
    Limit limit;
  };
  // The file being parsed.
  struct FileContext {
    const std::string* name;  // path as given or resolved; used in messages
    std::string dir;          // base for relative Include paths ("" = cwd)
    int depth;                // 0 = top-level file
    size_t stack_base;        // frames below this index belong to includers
  };

  Result<void> ParseText(std::string_view text, const std::string& name, int depth);
  Result<void> HandleLine(FileContext& fc, const LogicalLine& line);
  Result<void> HandleOpen(FileContext& fc, const LogicalLine& line, const std::string& tag,
                          std::vector<std::string> args);
  Result<void> HandleClose(FileContext& fc, const LogicalLine& line, const std::string& tag,
                           const std::vector<std::string>& args);
  Result<void> HandleInclude(FileContext& fc, const LogicalLine& line);
  Result<void> IncludeOne(FileContext& fc, const LogicalLine& line, const std::string& path);
  Result<void> HandleDirective(FileContext& fc, const LogicalLine& line);

  bool Skipping() const;
  // Innermost <Anonymous>/<Directory>/<Limit> frame, or null at server level.
  Frame* InnermostBlock();
  Frame* InnermostOf(FrameKind kind);

  std::vector<std::string> defines_;
  Config config_;
  std::vector<Frame> stack_;
  std::vector<std::string> file_identities_;  // realpaths of files being parsed
  LocationMap where_;
  long sequence_ = 0;
  int included_files_ = 0;
};

}  // namespace poolftpd::config::internal
