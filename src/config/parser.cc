#include "parser.h"

#include <glob.h>
#include <pwd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <utility>

#include "poolftpd/util/limits.h"
#include "text.h"

namespace poolftpd::config::internal {
namespace {

std::string ErrnoText(int err) {
  char buf[128];
  return ::strerror_r(err, buf, sizeof buf);
}

Error Invalid(std::string context) { return Error(ErrorCode::kInvalid, std::move(context)); }

Error At(const std::string& file, int line, std::string_view reason) {
  return Invalid(file + ":" + std::to_string(line) + ": " + std::string(reason));
}

std::string Plural(int n, std::string_view word) {
  return std::to_string(n) + " " + std::string(word) + (n == 1 ? "" : "s");
}

// "expected 1 argument, got 2", "expected 1 to 2 arguments, got 0", ...
std::string ArityMessage(int min, int max, int got) {
  std::string want;
  if (max < 0) {
    want = "at least " + Plural(min, "argument");
  } else if (min == max) {
    want = min == 0 ? std::string("no arguments") : Plural(min, "argument");
  } else {
    want = std::to_string(min) + " to " + Plural(max, "argument");
  }
  return "expected " + want + ", got " + std::to_string(got);
}

std::string DirName(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return "";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string JoinPath(const std::string& dir, const std::string& rel) {
  if (rel.empty() || rel.front() == '/' || dir.empty()) return rel;
  if (dir.back() == '/') return dir + rel;
  return dir + "/" + rel;
}

// Collapses repeated slashes and drops a trailing one ("/srv//ftp/" -> "/srv/ftp").
std::string TidyPath(std::string_view p) {
  std::string out;
  for (char c : p) {
    if (c == '/' && !out.empty() && out.back() == '/') continue;
    out += c;
  }
  if (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

// The canonical name of a file, to recognise include loops; the path itself
// when it cannot be resolved (the read that follows reports why).
std::string Identity(const std::string& path) {
  std::unique_ptr<char, decltype(&std::free)> real(::realpath(path.c_str(), nullptr), &std::free);
  return real ? std::string(real.get()) : path;
}

// Reads a whole config file, refusing anything above kMaxConfigFileSize.
// Errors are "PATH: reason".
Result<std::string> ReadConfigFile(const std::string& path) {
  std::unique_ptr<FILE, decltype(&std::fclose)> f(std::fopen(path.c_str(), "re"), &std::fclose);
  if (!f) return Invalid(path + ": " + ErrnoText(errno));
  std::string text;
  char buf[65536];
  while (true) {
    const size_t n = std::fread(buf, 1, sizeof buf, f.get());
    text.append(buf, n);
    if (text.size() > limits::kMaxConfigFileSize)
      return Invalid(path + ": file is larger than " + std::to_string(limits::kMaxConfigFileSize) +
                     " bytes");
    if (n < sizeof buf) {
      if (std::ferror(f.get())) return Invalid(path + ": " + ErrnoText(errno));
      break;
    }
  }
  return text;
}

bool HasWildcard(std::string_view s) { return s.find_first_of("*?[") != std::string_view::npos; }

// Expands `pattern` with glob(3), files only, in byte order. No match is an
// empty list.
// SECURITY (S9): the pattern comes from the operator's own config (trusted); glob
// is never used on client input.
Result<std::vector<std::string>> GlobFiles(const std::string& pattern) {
  glob_t g{};
  const int rc = ::glob(pattern.c_str(), GLOB_MARK, nullptr, &g);
  std::unique_ptr<glob_t, decltype(&::globfree)> guard(&g, &::globfree);
  std::vector<std::string> out;
  if (rc == GLOB_NOMATCH) return out;
  if (rc == GLOB_NOSPACE) return Invalid("Include: out of memory expanding " + Quote(pattern));
  if (rc != 0) return Invalid("Include: cannot read the directories of " + Quote(pattern));
  for (size_t i = 0; i < g.gl_pathc; ++i) {
    std::string p = g.gl_pathv[i];
    if (!p.empty() && p.back() == '/') continue;  // GLOB_MARK: a directory
    out.push_back(std::move(p));
  }
  std::sort(out.begin(), out.end());
  return out;
}

// "~user" or "~user/sub" -> home of user (+ "/sub"); paths must be absolute.
// `block` names the tag in messages.
Result<std::string> ExpandUserPath(const std::string& arg, std::string_view block) {
  const std::string tag = "<" + std::string(block) + ">";
  std::string path = arg;
  if (!arg.empty() && arg.front() == '~') {
    const auto slash = arg.find('/');
    const std::string user =
        arg.substr(1, slash == std::string::npos ? std::string::npos : slash - 1);
    if (user.empty()) return Invalid(tag + ": " + Quote(arg) + " needs a user name after ~");
    std::vector<char> buf(16384);
    passwd pw{};
    passwd* found = nullptr;
    int rc;
    while ((rc = ::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found)) == ERANGE &&
           buf.size() < (1u << 20))
      buf.resize(buf.size() * 2);
    if (rc != 0) return Invalid(tag + ": looking up user " + Quote(user) + ": " + ErrnoText(rc));
    if (!found) return Invalid(tag + ": unknown user " + Quote(user));
    path = pw.pw_dir;
    if (path.empty() || path.front() != '/')
      return Invalid(tag + ": home directory of " + Quote(user) + " (" + Quote(path) +
                     ") is not absolute");
    if (slash != std::string::npos) path += arg.substr(slash);
  }
  if (path.empty() || path.front() != '/')
    return Invalid(tag + ": " + Quote(arg) + " is not an absolute path");
  return TidyPath(path);
}

Result<std::string> ExpandAnonymousRoot(const std::string& arg) {
  return ExpandUserPath(arg, "Anonymous");
}

// The <Directory> argument as a Directory (rules in config.h): a trailing
// "/*" sets contents_only; "~" and "~/sub" are home-relative (inside
// <Anonymous>: the anonymous root `anon_root`), "~user" is expanded, and a
// relative path is allowed inside <Anonymous> only.
Result<Directory> ParseDirectoryPath(const std::string& arg, const Anonymous* anon) {
  Directory d;
  d.path = arg;
  std::string p = arg;
  if (p.empty()) return Invalid("<Directory>: the path is empty");
  if (p.find('\0') != std::string::npos) return Invalid("<Directory>: the path contains NUL");
  if (p == "*" || (p.size() >= 2 && p.compare(p.size() - 2, 2, "/*") == 0)) {
    d.contents_only = true;
    p.erase(p.size() - (p == "*" ? 1 : 2));
    if (p.empty() && arg != "*") p = "/";
  }
  if (p == "~" || p.starts_with("~/")) {
    const std::string rest = p.size() > 1 ? p.substr(2) : std::string();
    if (anon != nullptr) {
      d.pattern = TidyPath(anon->root + "/" + rest);
    } else {
      d.home = true;
      d.pattern = TidyPath(rest);
    }
    return d;
  }
  if (!p.empty() && p.front() == '~') {
    auto expanded = ExpandUserPath(p, "Directory");
    if (!expanded) return expanded.error();
    d.pattern = *expanded;
    return d;
  }
  if (p.empty() || p.front() != '/') {
    if (anon == nullptr)
      return Invalid(
          "<Directory>: " + Quote(arg) +
          " is not an absolute path (relative paths are allowed inside <Anonymous> only)");
    d.pattern = TidyPath(anon->root + "/" + p);
    return d;
  }
  d.pattern = TidyPath(p);
  return d;
}

// A <Limit> argument: an FTP verb, SITE_<cmd>, or a group name.
bool ValidLimitWord(std::string_view w) {
  if (w.empty() || w.size() > 32 || w.front() == '_') return false;
  return std::all_of(w.begin(), w.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
  });
}

struct Tag {
  std::string name;
  std::vector<std::string> args;
};

// Splits "<Name arg ... >" / "</Name>" into name and arguments.
Result<Tag> ParseTag(const std::vector<std::string>& words, bool closing) {
  Tag t;
  std::string first = words[0].substr(closing ? 2 : 1);
  t.args.assign(words.begin() + 1, words.end());
  if (!t.args.empty() && first.find('>') != std::string::npos) {
    first.erase(first.find('>'));
    return Invalid("text after \">\" in <" + first + "> tag");
  }
  std::string& last = t.args.empty() ? first : t.args.back();
  if (last.empty() || last.back() != '>')
    return Invalid(std::string(closing ? "</" : "<") + first + "> is missing its closing \">\"");
  last.pop_back();
  if (!t.args.empty() && t.args.back().empty()) t.args.pop_back();
  if (first.empty() || first.find('>') != std::string::npos)
    return Invalid("malformed block tag " + Quote(words[0]));
  t.name = std::move(first);
  return t;
}

const char* BlockName(std::string_view tag) {
  if (EqualsIgnoreCase(tag, "Anonymous")) return "Anonymous";
  if (EqualsIgnoreCase(tag, "Limit")) return "Limit";
  if (EqualsIgnoreCase(tag, "Directory")) return "Directory";
  if (EqualsIgnoreCase(tag, "Global")) return "Global";
  if (EqualsIgnoreCase(tag, "VirtualHost")) return "VirtualHost";
  if (EqualsIgnoreCase(tag, "IfDefine")) return "IfDefine";
  return nullptr;
}

}  // namespace

Parser::Parser(std::vector<std::string> defines) : defines_(std::move(defines)) {}

Result<void> Parser::ParseTopFile(const std::string& path) {
  auto text = ReadConfigFile(path);
  if (!text) return text.error();
  return ParseText(*text, path, 0);
}

Result<void> Parser::ParseTopText(std::string_view text, const std::string& name) {
  if (text.size() > limits::kMaxConfigFileSize)
    return Invalid(name + ": file is larger than " + std::to_string(limits::kMaxConfigFileSize) +
                   " bytes");
  return ParseText(text, name, 0);
}

Result<void> Parser::ParseText(std::string_view text, const std::string& name, int depth) {
  auto lexed = Lex(text, name);
  if (!lexed) return lexed.error();
  FileContext fc{&name, DirName(name), depth, stack_.size()};
  file_identities_.push_back(Identity(name));
  for (const auto& line : lexed->lines) {
    auto r = HandleLine(fc, line);
    if (!r) return r;
  }
  file_identities_.pop_back();
  if (stack_.size() > fc.stack_base) {
    const Frame& open = stack_.back();
    return At(name, std::max(lexed->physical_lines, 1),
              "<" + open.tag + "> opened at line " + std::to_string(open.line) + " is not closed");
  }
  return Ok();
}

bool Parser::Skipping() const {
  return std::any_of(stack_.begin(), stack_.end(), [](const Frame& f) { return f.skip; });
}

Parser::Frame* Parser::InnermostBlock() {
  for (auto it = stack_.rbegin(); it != stack_.rend(); ++it)
    if (it->kind == FrameKind::kAnonymous || it->kind == FrameKind::kDirectory ||
        it->kind == FrameKind::kLimit)
      return &*it;
  return nullptr;
}

Parser::Frame* Parser::InnermostOf(FrameKind kind) {
  for (auto it = stack_.rbegin(); it != stack_.rend(); ++it)
    if (it->kind == kind) return &*it;
  return nullptr;
}

Result<void> Parser::HandleLine(FileContext& fc, const LogicalLine& line) {
  const std::string& w0 = line.words[0];
  const bool closing = w0.size() >= 2 && w0[0] == '<' && w0[1] == '/';
  if (closing || (!w0.empty() && w0[0] == '<')) {
    auto tag = ParseTag(line.words, closing);
    if (!tag) return At(*fc.name, line.line, tag.error().context());
    if (closing) return HandleClose(fc, line, tag->name, tag->args);
    return HandleOpen(fc, line, tag->name, std::move(tag->args));
  }
  if (Skipping()) return Ok();  // <IfDefine> false: only tags are checked
  if (EqualsIgnoreCase(w0, "Include")) return HandleInclude(fc, line);
  return HandleDirective(fc, line);
}

Result<void> Parser::HandleOpen(FileContext& fc, const LogicalLine& line, const std::string& tag,
                                std::vector<std::string> args) {
  const std::string& file = *fc.name;
  Frame frame;
  frame.tag = tag;
  frame.file = file;
  frame.line = line.line;
  if (Skipping()) {  // balance only
    stack_.push_back(std::move(frame));
    return Ok();
  }
  const char* block = BlockName(tag);
  if (!block) return At(file, line.line, "unknown directive " + Quote("<" + tag + ">"));
  const std::string name = block;
  frame.tag = name;
  const int argc = static_cast<int>(args.size());
  Frame* outer = InnermostBlock();

  if (name == "IfDefine") {
    if (argc != 1) return At(file, line.line, "<IfDefine>: " + ArityMessage(1, 1, argc));
    std::string_view def = args[0];
    const bool negate = !def.empty() && def.front() == '!';
    if (negate) def.remove_prefix(1);
    if (def.empty()) return At(file, line.line, "<IfDefine>: empty define name");
    const bool defined = std::find(defines_.begin(), defines_.end(), def) != defines_.end();
    frame.kind = FrameKind::kIfDefine;
    frame.skip = defined == negate;
    stack_.push_back(std::move(frame));
    return Ok();
  }

  if (name == "Anonymous") {
    if (config_.anonymous || InnermostOf(FrameKind::kAnonymous))
      return At(file, line.line, "only one <Anonymous> block is supported");
    if (outer) return At(file, line.line, "<Anonymous> is not allowed inside <" + outer->tag + ">");
    if (argc != 1) return At(file, line.line, "<Anonymous>: " + ArityMessage(1, 1, argc));
    auto root = ExpandAnonymousRoot(args[0]);
    if (!root) return At(file, line.line, root.error().context());
    frame.kind = FrameKind::kAnonymous;
    frame.anonymous.root = *root;
    frame.anonymous.file = file;
    frame.anonymous.line = line.line;
    stack_.push_back(std::move(frame));
    return Ok();
  }

  // The tree has a place for these (config.h ContextKind); the parser does
  // not fill it yet.
  if (name == "Global" || name == "VirtualHost")
    return At(file, line.line, "<" + name + "> is not supported yet");

  if (name == "Directory") {
    // ProFTPD: <Directory> blocks do not nest (their relation follows from
    // their paths); they sit at server level or inside <Anonymous>.
    if (outer && outer->kind != FrameKind::kAnonymous)
      return At(file, line.line, "<Directory> is not allowed inside <" + outer->tag + ">");
    if (argc != 1) return At(file, line.line, "<Directory>: " + ArityMessage(1, 1, argc));
    auto dir = ParseDirectoryPath(args[0], outer ? &outer->anonymous : nullptr);
    if (!dir) return At(file, line.line, dir.error().context());
    frame.kind = FrameKind::kDirectory;
    frame.directory = std::move(*dir);
    frame.directory.file = file;
    frame.directory.line = line.line;
    stack_.push_back(std::move(frame));
    return Ok();
  }

  // <Limit CMD|GROUP ...> at server level, in <Anonymous> or in <Directory>;
  // words split on blanks and commas.
  if (outer && outer->kind != FrameKind::kAnonymous && outer->kind != FrameKind::kDirectory)
    return At(file, line.line, "<Limit> is not allowed inside <" + outer->tag + ">");
  frame.kind = FrameKind::kLimit;
  for (const auto& a : args) {
    size_t pos = 0;
    while (pos <= a.size()) {
      size_t comma = a.find(',', pos);
      if (comma == std::string::npos) comma = a.size();
      std::string word = a.substr(pos, comma - pos);
      pos = comma + 1;
      if (word.empty()) continue;
      if (!ValidLimitWord(word))
        return At(file, line.line,
                  "<Limit>: " + Quote(word) + " is not an FTP command or command group");
      for (char& c : word) c = AsciiUpper(c);
      frame.limit.commands.push_back(std::move(word));
    }
  }
  if (frame.limit.commands.empty())
    return At(file, line.line, "<Limit>: expected at least 1 command, got 0");
  frame.limit.file = file;
  frame.limit.line = line.line;
  stack_.push_back(std::move(frame));
  return Ok();
}

Result<void> Parser::HandleClose(FileContext& fc, const LogicalLine& line, const std::string& tag,
                                 const std::vector<std::string>& args) {
  const std::string& file = *fc.name;
  if (!args.empty()) return At(file, line.line, "</" + tag + "> takes no arguments");
  if (stack_.size() <= fc.stack_base)
    return At(file, line.line, "</" + tag + "> without matching <" + tag + ">");
  Frame& top = stack_.back();
  if (!EqualsIgnoreCase(top.tag, tag))
    return At(file, line.line,
              "</" + tag + "> does not match <" + top.tag + "> opened at line " +
                  std::to_string(top.line));
  Frame frame = std::move(top);
  stack_.pop_back();
  if (frame.kind == FrameKind::kAnonymous) {
    if (frame.anonymous.user.empty())
      return At(
          file, line.line,
          "<Anonymous> opened at line " + std::to_string(frame.line) + " has no User directive");
    if (frame.anonymous.group.empty())
      return At(
          file, line.line,
          "<Anonymous> opened at line " + std::to_string(frame.line) + " has no Group directive");
    config_.anonymous = std::move(frame.anonymous);
  } else if (frame.kind == FrameKind::kDirectory) {
    if (Frame* anon = InnermostOf(FrameKind::kAnonymous)) {
      anon->anonymous.directories.push_back(std::move(frame.directory));
    } else {
      config_.directories.push_back(std::move(frame.directory));
    }
  } else if (frame.kind == FrameKind::kLimit) {
    if (Frame* dir = InnermostOf(FrameKind::kDirectory)) {
      dir->directory.limits.push_back(std::move(frame.limit));
    } else if (Frame* anon = InnermostOf(FrameKind::kAnonymous)) {
      anon->anonymous.limits.push_back(std::move(frame.limit));
    } else {
      config_.limits.push_back(std::move(frame.limit));
    }
  }
  return Ok();
}

Result<void> Parser::HandleInclude(FileContext& fc, const LogicalLine& line) {
  const std::string& file = *fc.name;
  const int argc = static_cast<int>(line.words.size()) - 1;
  if (argc != 1) return At(file, line.line, "Include: " + ArityMessage(1, 1, argc));
  const std::string& arg = line.words[1];
  if (arg.empty()) return At(file, line.line, "Include: the path is empty");
  const std::string resolved = JoinPath(fc.dir, arg);
  // A pattern that matches nothing is fine (an empty conf.d); a plain path
  // that does not exist is an error.
  if (!HasWildcard(resolved)) return IncludeOne(fc, line, resolved);
  auto files = GlobFiles(resolved);
  if (!files) return At(file, line.line, files.error().context());
  for (const auto& f : *files) {
    auto r = IncludeOne(fc, line, f);
    if (!r) return r;
  }
  return Ok();
}

Result<void> Parser::IncludeOne(FileContext& fc, const LogicalLine& line, const std::string& path) {
  const std::string& file = *fc.name;
  if (fc.depth + 1 > limits::kMaxIncludeDepth)
    return At(
        file, line.line,
        "Include: nested more than " + std::to_string(limits::kMaxIncludeDepth) + " levels deep");
  if (++included_files_ > limits::kMaxIncludedFiles)
    return At(
        file, line.line,
        "Include: more than " + std::to_string(limits::kMaxIncludedFiles) + " included files");
  const std::string id = Identity(path);
  if (std::find(file_identities_.begin(), file_identities_.end(), id) != file_identities_.end())
    return At(file, line.line, "Include: " + Quote(path) + " includes itself (include loop)");
  auto text = ReadConfigFile(path);
  if (!text) return At(file, line.line, text.error().context());
  return ParseText(*text, path, fc.depth + 1);
}

Result<void> Parser::HandleDirective(FileContext& fc, const LogicalLine& line) {
  const std::string& file = *fc.name;
  const std::string& w0 = line.words[0];
  const DirectiveSpec* spec = FindDirective(w0);
  if (!spec) return At(file, line.line, "unknown directive " + Quote(w0));

  Frame* block = InnermostBlock();
  ContextBits ctx = kServerContext;
  if (block) {
    ctx = block->kind == FrameKind::kLimit       ? kLimitContext
          : block->kind == FrameKind::kDirectory ? kDirContext
                                                 : kAnonContext;
  }
  if (!(spec->contexts & ctx)) {
    const std::string name(spec->name);
    if (spec->contexts == kLimitContext)
      return At(file, line.line, Quote(name) + " is only allowed inside <Limit>");
    if (ctx == kServerContext)
      return At(file, line.line, "directive " + Quote(name) + " is not allowed at server level");
    return At(file, line.line,
              "directive " + Quote(name) + " is not allowed inside <" + block->tag + ">");
  }

  const std::vector<std::string> args(line.words.begin() + 1, line.words.end());
  const int argc = static_cast<int>(args.size());
  if (argc < spec->min_args || (spec->max_args >= 0 && argc > spec->max_args))
    return At(file, line.line,
              std::string(spec->name) + ": " + ArityMessage(spec->min_args, spec->max_args, argc));

  SetterState st;
  st.config = &config_;
  st.context = ctx;
  st.directive = spec->name;
  st.at = file + ":" + std::to_string(line.line);
  if (Frame* anon = InnermostOf(FrameKind::kAnonymous)) st.anonymous = &anon->anonymous;
  if (Frame* limit = InnermostOf(FrameKind::kLimit)) st.limit = &limit->limit;
  auto r = spec->set(st, args);
  if (!r) return At(file, line.line, r.error().context());
  where_[std::string(spec->name)] = Location{file, line.line, ++sequence_};
  return Ok();
}

Result<Config> Parser::Finish() {
  if (!stack_.empty()) {  // ParseText reports this first; kept as a guard
    const Frame& open = stack_.back();
    return At(open.file, open.line, "<" + open.tag + "> is not closed");
  }
  auto r = CrossCheck(config_, where_);
  if (!r) return r.error();
  return std::move(config_);
}

}  // namespace poolftpd::config::internal
