#pragma once
// Whole-file reads and writes for tests.

#include <filesystem>
#include <string>

namespace ambit::test {

// The file's bytes; empty when it does not exist or cannot be read (e.g. /proc/<pid>/stat of a
// process that is gone).
std::string readFile(const std::filesystem::path& path);

// Replaces the file's content; throws std::runtime_error naming the path when it cannot.
void writeFile(const std::filesystem::path& path, const std::string& content);

// Writes `.<name>.tmp` beside `path` and renames it over `path`, so a watcher of the directory
// never sees a torn file. Throws std::runtime_error naming the path when it cannot.
void writeFileAtomically(const std::filesystem::path& path, const std::string& content);

}  // namespace ambit::test
