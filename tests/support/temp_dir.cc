#include "tests/support/temp_dir.h"

#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "tests/support/files.h"

namespace ambit::test {

TempDir::TempDir(std::string_view prefix) {
  std::string tmpl =
      (std::filesystem::temp_directory_path() / (std::string(prefix) + "-XXXXXX")).string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    throw std::runtime_error("mkdtemp " + tmpl + ": " + std::strerror(errno));
  }
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::file(std::string_view relative) const { return (path_ / relative).string(); }

std::filesystem::path TempDir::write(std::string_view relative, const std::string& content) const {
  const auto target = path_ / relative;
  std::filesystem::create_directories(target.parent_path());
  writeFileAtomically(target, content);
  return target;
}

}  // namespace ambit::test
