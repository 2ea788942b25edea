// Listings of paths: LIST and NLST (streamed from the directory as it is
// formatted), MLSD, and the control-connection listings MLST and STAT.
#include <sys/stat.h>

#include <ctime>

#include "poolftpd/log/log.h"
#include "poolftpd/protocol/session.h"
#include "poolftpd/util/limits.h"
#include "poolftpd/util/strings.h"
#include "session_internal.h"

namespace poolftpd::protocol {

namespace {

// Hands a directory listing to the data socket piece by piece as Emit formats
// it (the client receives while the rest is formatted).
data::Status StreamListing(fs::DirListing& listing, const fs::EmitOptions& opts, net::Stream& out,
                           const data::Hooks& hooks, uint64_t* sent) {
  *sent = 0;
  data::Status status = data::Status::kOk;
  data::Hooks h = hooks;
  const bool emitted = listing.Emit(opts, [&](std::string_view text) {
    const uint64_t base = *sent;
    if (hooks.progress) h.progress = [&hooks, base](uint64_t b) { hooks.progress(base + b); };
    uint64_t n = 0;
    status = data::SendBuffer(out, text, h, &n);
    *sent += n;
    return status == data::Status::kOk;
  });
  if (!emitted && status == data::Status::kOk) return data::Status::kLocalError;
  return status;
}

}  // namespace

std::string Session::LsLines(const std::vector<fs::Entry>& entries, fs::NameCoding coding) const {
  std::string out;
  out.reserve(entries.size() * 72);
  const std::time_t now = std::time(nullptr);
  for (const auto& e : entries) {
    out += fs::FormatLsLine(e, now, env_.names, coding);
    out += "\r\n";
  }
  return out;
}

bool Session::SendListing(std::string_view what, const std::string& text, std::string_view vpath) {
  uint64_t sent = 0;
  data::Status status;
  return RunTransfer(
      std::string("Opening ASCII mode data connection for ") + std::string(what),
      sb::XferDir::kList, vpath, text.size(), 0,
      [&](net::Stream& out, const data::Hooks& h, uint64_t* n) {
        return data::SendBuffer(out, text, h, n);
      },
      &sent, &status);
}

void Session::DoList(const Command& cmd) { SendDirListing(cmd, /*nlst=*/false); }
void Session::DoNlst(const Command& cmd) { SendDirListing(cmd, /*nlst=*/true); }

// LIST and NLST: options, an optional wildcard in the last component, a file
// or a directory; long form for LIST (and NLST -l), names for NLST.
// The gate parsed the options (cmd.list) and resolved the path.
void Session::SendDirListing(const Command& cmd, bool nlst) {
  rest_ = 0;
  const fs::ListOptions& opts = cmd.list;
  const std::string& path = cmd.path;
  std::string vpath = cmd.vpath;
  std::string pattern;
  auto target = fs::StatEntry(*root_, vpath);
  if (!target && fs::HasGlob(path)) {
    // A wildcard in the last component: list matching names of its directory.
    const size_t slash = vpath.rfind('/');
    pattern = vpath.substr(slash + 1);
    vpath = slash == 0 ? "/" : vpath.substr(0, slash);
    target = fs::StatEntry(*root_, vpath);
  }
  if (!target) {
    Reply(550, ErrnoText(path.empty() ? "." : path, target.error().sys_errno()));
    return;
  }
  const bool is_dir = S_ISDIR(target->st.st_mode) ||
                      (target->is_link && target->target_ok && S_ISDIR(target->target_st.st_mode));
  if (!is_dir || opts.directory) {
    SendListing(
        "file list",
        opts.long_form
            ? LsLines({*target}, fs::NameCoding::kData)
            : fs::EncodeName(path.empty() ? target->name : path, fs::NameCoding::kData) + "\r\n",
        vpath);
    return;
  }
  // Read (and 550 on failure) before 150; the text is streamed after it.
  auto listing = fs::DirListing::Read(*root_, vpath, opts.all, pattern);
  if (!listing) {
    Reply(550, ErrnoText(path.empty() ? "." : path, listing.error().sys_errno()));
    return;
  }
  if (listing->cut())
    log::Warn("listing of " + util::EscapeControl(vpath) + " cut at " +
              std::to_string(limits::kMaxListEntries) + " entries");
  fs::EmitOptions eo;
  eo.style = opts.long_form ? fs::ListStyle::kLs : fs::ListStyle::kNames;
  eo.now = std::time(nullptr);
  eo.names = &env_.names;
  eo.skip_dot_dirs = nlst;
  uint64_t sent = 0;
  data::Status status;
  RunTransfer(
      "Opening ASCII mode data connection for file list", sb::XferDir::kList, vpath, 0, 0,
      [&](net::Stream& out, const data::Hooks& h, uint64_t* n) {
        return StreamListing(*listing, eo, out, h, n);
      },
      &sent, &status);
}

void Session::DoMlsd(const Command& cmd) {
  const std::string_view arg = cmd.arg;
  rest_ = 0;
  const std::string& vpath = cmd.vpath;
  auto target = fs::StatEntry(*root_, vpath);
  if (!target) {
    Reply(550, ErrnoText(arg.empty() ? "." : arg, target.error().sys_errno()));
    return;
  }
  const bool is_dir = S_ISDIR(target->st.st_mode) ||
                      (target->is_link && target->target_ok && S_ISDIR(target->target_st.st_mode));
  if (!is_dir) {
    Reply(501, PathText(arg.substr(0, 512)) + ": Not a directory");
    return;
  }
  auto listing = fs::DirListing::Read(*root_, vpath, true);
  if (!listing) {
    Reply(550, ErrnoText(arg.empty() ? "." : arg, listing.error().sys_errno()));
    return;
  }
  if (listing->cut())
    log::Warn("listing of " + util::EscapeControl(vpath) + " cut at " +
              std::to_string(limits::kMaxListEntries) + " entries");
  fs::EmitOptions eo;
  eo.style = fs::ListStyle::kFacts;
  eo.facts = mlst_facts_;
  eo.names = &env_.names;
  uint64_t sent = 0;
  data::Status status;
  RunTransfer(
      "Opening ASCII mode data connection for MLSD", sb::XferDir::kList, vpath, 0, 0,
      [&](net::Stream& out, const data::Hooks& h, uint64_t* n) {
        return StreamListing(*listing, eo, out, h, n);
      },
      &sent, &status);
}

void Session::DoMlst(const Command& cmd) {
  const std::string_view arg = cmd.arg;
  const std::string& vpath = cmd.vpath;
  auto e = fs::StatEntry(*root_, vpath);
  if (!e) {
    Reply(550, ErrnoText(arg.empty() ? "." : arg, e.error().sys_errno()));
    return;
  }
  e->name = vpath;
  // SECURITY (S4): a file name with CR/LF must not forge reply lines: names are
  // encoded for the control connection (CR NUL, LF as NUL).
  Reply(250, "Start of list for " + PathText(vpath) + "\n" +
                 fs::FormatFacts(*e, mlst_facts_, fs::Access::OfProcess(), env_.names, "",
                                 fs::NameCoding::kControl) +
                 "\nEnd of list");
}

void Session::DoStat(const Command& cmd) {
  if (!cmd.has_path) {
    std::string t = "Status of '" + cfg_.server_name + "'\n";
    t += "Connected from " + peer_.addr.ToString() + " (" + peer_.addr.ToString() + ")\n";
    t += "Logged in as " + util::EscapeControl(user_) + "\n";
    t +=
        std::string("TYPE: ") + (ascii_ ? "ASCII" : "BINARY") + ", STRUcture: File, Mode: Stream\n";
    t += data_.configured() ? "Data connection ready\n" : "No data connection\n";
    t += "End of status";
    Reply(211, t);
    return;
  }
  const fs::ListOptions& opts = cmd.list;
  const std::string& path = cmd.path;
  const std::string& vpath = cmd.vpath;
  auto target = fs::StatEntry(*root_, vpath);
  if (!target) {
    Reply(550, ErrnoText(path, target.error().sys_errno()));
    return;
  }
  std::string lines;
  if (S_ISDIR(target->st.st_mode) && !opts.directory) {
    auto listing = fs::DirListing::Read(*root_, vpath, opts.all);
    if (!listing) {
      Reply(550, ErrnoText(path, listing.error().sys_errno()));
      return;
    }
    fs::EmitOptions eo;
    eo.style = fs::ListStyle::kLs;
    eo.now = std::time(nullptr);
    eo.names = &env_.names;
    eo.coding = fs::NameCoding::kControl;
    listing->Emit(eo, [&lines](std::string_view text) {
      lines.append(text);
      return true;
    });
  } else {
    lines = LsLines({*target}, fs::NameCoding::kControl);
  }
  // Multi-line reply: one ls line per reply line.
  std::string t = "Status of " + PathText(path) + ":\n";
  for (size_t pos = 0; pos < lines.size();) {
    const size_t nl = lines.find("\r\n", pos);
    // SECURITY (S4): names in `lines` are encoded for the control connection (a
    // CR only as CR NUL, no LF), so CRLF ends exactly one ls line.
    t += std::string_view(lines).substr(pos, nl - pos);
    t += '\n';
    pos = nl + 2;
  }
  t += "End of status";
  Reply(213, t);
}

}  // namespace poolftpd::protocol
