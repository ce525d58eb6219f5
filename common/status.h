#pragma once
// Errors as values (STYLE.md): fallible functions return Status or Result<T>, both
// [[nodiscard]]. An Error carries an errno-style code (0 when none applies) and a message that
// names the operation and its object, e.g. "open netns /run/netns/x: No such file or directory".

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <variant>

namespace ambit {

struct Error {
  int code = 0;  // errno value, or 0 for logical errors
  std::string message;

  // Prefixes the message with more context: "while X: <message>".
  Error context(std::string_view what) const {
    return Error{code, fmt::format("{}: {}", what, message)};
  }
};

// Builds an Error from the current errno: "<op>: <strerror>".
inline Error errnoError(std::string_view op, int err = errno) {
  return Error{err, fmt::format("{}: {}", op, std::strerror(err))};
}

template <typename... Args>
Error makeError(fmt::format_string<Args...> f, Args&&... args) {
  return Error{0, fmt::format(f, std::forward<Args>(args)...)};
}

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error e) : error_(std::move(e)), ok_(false) {}  // NOLINT: implicit by design
  static Status ok() { return Status(); }

  bool isOk() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }
  const std::string& message() const { return error_.message; }

 private:
  Error error_;
  bool ok_ = true;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error e) : v_(std::move(e)) {}      // NOLINT
  Result(Status s) : v_(s.error()) {}        // NOLINT: only from a failed Status

  bool isOk() const { return v_.index() == 0; }
  explicit operator bool() const { return isOk(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }
  Status status() const { return isOk() ? Status() : Status(error()); }

 private:
  std::variant<T, Error> v_;
};

}  // namespace ambit

// Returns early from the enclosing function on failure: AMBIT_TRY(doThing());
// Works for Status and Result<T>, inside functions returning Status or any Result<U>.
#define AMBIT_TRY(expr)          \
  do {                           \
    auto&& ambit_try_ = (expr);  \
    if (!ambit_try_) {           \
      return ambit_try_.error(); \
    }                            \
  } while (0)

// AMBIT_TRY for coroutines: co_returns the error. The expression may itself co_await:
// AMBIT_CO_TRY(co_await step());
#define AMBIT_CO_TRY(expr)          \
  do {                              \
    auto&& ambit_try_ = (expr);     \
    if (!ambit_try_) {              \
      co_return ambit_try_.error(); \
    }                               \
  } while (0)
