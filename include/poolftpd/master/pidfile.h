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

  Result<void> Write(const std::string& path);
  // Unlinks the file if this process wrote it; no-op elsewhere (a worker).
  void Remove();

 private:
  std::string path_;
  pid_t owner_pid_ = 0;
};

}  // namespace poolftpd::master
