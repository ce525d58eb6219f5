#include "common/discovery/snapshot_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <sstream>

#include "common/unique_fd.h"

namespace ambit::discovery {
namespace {

constexpr std::string_view kMagic = "ambit-mesh-snapshot";
constexpr std::string_view kFormatVersion = "v1";

uint64_t checksum(std::string_view bytes) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

Status writeAll(int fd, std::string_view data, const std::string& what) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errnoError(fmt::format("write {}", what));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::ok();
}

template <typename T>
bool parseNumber(std::string_view text, T& out, int base = 10) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out, base);
  return ec == std::errc() && ptr == text.data() + text.size();
}

}  // namespace

Status writeSnapshotFile(const std::filesystem::path& file, const v1::MeshSnapshot& snapshot,
                         std::chrono::system_clock::time_point now) {
  std::string payload;
  if (!snapshot.SerializeToString(&payload)) {
    return makeError("persist snapshot {}: serialization failed", file.string());
  }
  auto written_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::string header = fmt::format("{} {} {} {:016x} {}\n", kMagic, kFormatVersion, written_ms,
                                   checksum(payload), payload.size());
  std::error_code ec;
  if (file.has_parent_path()) {
    std::filesystem::create_directories(file.parent_path(), ec);
    if (ec) return makeError("create {}: {}", file.parent_path().string(), ec.message());
  }
  std::filesystem::path tmp = file;
  tmp += ".tmp";
  {
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd) return errnoError(fmt::format("create {}", tmp.string()));
    AMBIT_TRY(writeAll(fd.get(), header, tmp.string()));
    AMBIT_TRY(writeAll(fd.get(), payload, tmp.string()));
    if (::fsync(fd.get()) != 0) return errnoError(fmt::format("fsync {}", tmp.string()));
  }
  if (::rename(tmp.c_str(), file.c_str()) != 0) {
    return errnoError(fmt::format("rename {} to {}", tmp.string(), file.string()));
  }
  std::filesystem::path dir = file.has_parent_path() ? file.parent_path() : ".";
  UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd || ::fsync(dir_fd.get()) != 0) {
    return errnoError(fmt::format("fsync directory {}", dir.string()));
  }
  return Status::ok();
}

Result<PersistedSnapshot> readSnapshotFile(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) {
    return Error{ENOENT, fmt::format("no persisted snapshot {}", file.string())};
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) return errnoError(fmt::format("read persisted snapshot {}", file.string()));
  std::ostringstream content_stream;
  content_stream << in.rdbuf();
  std::string content = content_stream.str();
  auto corrupt = [&](std::string_view why) {
    return makeError("persisted snapshot {} is corrupt ({}); ignoring it", file.string(), why);
  };
  size_t eol = content.find('\n');
  if (eol == std::string::npos) return corrupt("no header line");
  std::istringstream header(content.substr(0, eol));
  std::string magic, version, written_text, sum_text, length_text, extra;
  header >> magic >> version >> written_text >> sum_text >> length_text;
  if (magic != kMagic) return corrupt("not an ambit mesh snapshot file");
  if (version != kFormatVersion)
    return corrupt(fmt::format("format {} is not {}", version, kFormatVersion));
  int64_t written_ms = 0;
  uint64_t sum = 0;
  size_t length = 0;
  if (!parseNumber(written_text, written_ms) || !parseNumber(sum_text, sum, 16) ||
      !parseNumber(length_text, length) || (header >> extra)) {
    return corrupt("malformed header");
  }
  std::string_view payload = std::string_view(content).substr(eol + 1);
  if (payload.size() != length) {
    return corrupt(fmt::format("{} bytes of snapshot, header says {}", payload.size(), length));
  }
  if (checksum(payload) != sum) return corrupt("checksum mismatch");
  PersistedSnapshot out;
  if (!out.snapshot.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return corrupt("the snapshot does not parse");
  }
  out.written_at = std::chrono::system_clock::time_point(std::chrono::milliseconds(written_ms));
  return out;
}

}  // namespace ambit::discovery
