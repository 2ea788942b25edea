// PidFile: written atomically (temp file + rename) by the master, removed by
// the same process only (fork-safe owner check). Master process only.
#pragma once

#include <sys/types.h>

#include <string>

#include "poolftpd/util/result.h"

namespace poolftpd::master {

class PidFile {
 public:
  PidFile() = default;
  PidFile(const PidFile&) = delete;
  PidFile& operator=(const PidFile&) = delete;
  ~PidFile() { Remove(); }

  // Refuses (kExists) when the file names a live poolftpd, and (as root,
  // kPermission) a directory that group or others may write to; a stale file
  // (dead PID, or a PID now used by another program) is replaced and
  // described in note().
  Result<void> Write(const std::string& path);
  const std::string& note() const { return note_; }
  // Unlinks the file if this process wrote it; no-op elsewhere (a worker).
  void Remove();

 private:
  std::string path_;
  std::string note_;
  pid_t owner_pid_ = 0;
};

}  // namespace poolftpd::master
