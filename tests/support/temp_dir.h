#pragma once
// A fresh directory under $TMPDIR (or /tmp), removed with everything in it when the object goes
// away: also after a failed ASSERT, which returns from the test body.

#include <filesystem>
#include <string>
#include <string_view>

namespace ambit::test {

class TempDir {
 public:
  // Creates <tmp>/<prefix>-XXXXXX; throws std::runtime_error when it cannot.
  explicit TempDir(std::string_view prefix = "ambit-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // <dir>/<relative>, as a string (for argv and C APIs).
  std::string file(std::string_view relative) const;
  // Writes <dir>/<relative> atomically (temp file + rename), creating parent directories, so a
  // watcher never sees a torn file. Returns the file's path.
  std::filesystem::path write(std::string_view relative, const std::string& content) const;

 private:
  std::filesystem::path path_;
};

}  // namespace ambit::test
