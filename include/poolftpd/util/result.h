// Result<T> and Error: the error vocabulary of every poolftpd module and tool.
// Header-only so the tools can use it without linking server code. Used by
// every process; holds no global state.
#pragma once

#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace poolftpd {

enum class ErrorCode : int {
  kOk = 0,
  kSystem,      // a system call failed; sys_errno says why
  kInvalid,     // bad input (config value, client argument, file contents)
  kNotFound,    // a named thing does not exist
  kPermission,  // policy refused it
  kExists,      // already there (a live master on the scoreboard)
  kStale,       // left behind by a dead process
  kVersion,     // another layout or format version
  kLimit,       // a named limit was hit
  kInternal,    // an invariant broke
};

// An error with a code, the errno (0 when none) and a context string (a path,
// an address, or "file:line: reason" for config errors).
class Error {
 public:
  Error() = default;
  Error(ErrorCode code, std::string context, int sys_errno = 0)
      : code_(code), sys_errno_(sys_errno), context_(std::move(context)) {}

  // The errno-carrying constructor, in nginx's "call(args) failed" shape.
  static Error FromErrno(int sys_errno, std::string_view call, std::string_view what = {}) {
    std::string ctx(call);
    if (!what.empty()) {
      ctx += "(";
      ctx += what;
      ctx += ")";
    }
    ctx += " failed";
    return Error(ErrorCode::kSystem, std::move(ctx), sys_errno);
  }

  ErrorCode code() const { return code_; }
  int sys_errno() const { return sys_errno_; }
  const std::string& context() const { return context_; }

  // "context: strerror" or just "context".
  std::string message() const {
    if (sys_errno_ == 0) return context_;
    char buf[128];
    const char* s = ::strerror_r(sys_errno_, buf, sizeof buf);
    return context_ + ": " + s;
  }

 private:
  ErrorCode code_ = ErrorCode::kInternal;
  int sys_errno_ = 0;
  std::string context_;
};

// std::expected spelling over a variant (C++23's header is unavailable at -std=c++20).
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit like std::expected
  Result(Error error) : v_(std::move(error)) {}  // NOLINT

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool has_value() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

inline Result<void> Ok() { return Result<void>(); }

}  // namespace poolftpd
