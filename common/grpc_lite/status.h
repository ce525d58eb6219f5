#pragma once
// gRPC status codes and a call's final status, without the gRPC runtime. The numbers are
// gRPC's (grpc/status.h, doc/statuscodes.md): they travel as `grpc-status` trailers and are
// what callers map to their own errors (identity/certificate_fetcher.h) or log.

#include <string>
#include <string_view>

namespace ambit::grpc_lite {

enum class StatusCode : int {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};

// "UNAVAILABLE", "PERMISSION_DENIED"...; "CODE_<n>" for a number outside the list.
std::string codeName(StatusCode code);

struct CallStatus {
  StatusCode code = StatusCode::kOk;
  std::string message;

  bool ok() const { return code == StatusCode::kOk; }
  int number() const { return static_cast<int>(code); }
};

}  // namespace ambit::grpc_lite
