// Test-only temporary files: a file under $TMPDIR (else /tmp) holding
// `content`, open for reading and writing, removed when the object goes.
#pragma once

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>

#include "poolftpd/util/io.h"
#include "poolftpd/util/unique_fd.h"

namespace poolftpd::testing_files {

class TempFile {
 public:
  // `prefix` names the test binary in the file name (data_test.XXXXXX).
  TempFile(const std::string& content, const std::string& prefix) {
    const char* tmp = ::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/" + prefix + ".XXXXXX";
    fd_.reset(::mkostemp(tmpl.data(), O_CLOEXEC));
    path_ = tmpl;
    if (fd_) (void)util::WriteAll(fd_.get(), content);
  }
  ~TempFile() { ::unlink(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  int fd() const { return fd_.get(); }

 private:
  UniqueFd fd_;
  std::string path_;
};

}  // namespace poolftpd::testing_files
