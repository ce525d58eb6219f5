#pragma once
// Configuration problems as values. Translation never stops at the first problem: every
// problem found in every file is collected so `ambitctl config validate` can list them all.

#include <cstdint>
#include <string>
#include <vector>

namespace ambit::config {

// One problem in one resource. `line`/`column` are 1-based; 0 when unknown (e.g. unreadable
// file). `object` is "<Kind> <namespace>/<name>" ("<Kind> <name>" for cluster-scoped kinds),
// empty when the problem precedes identifying the object (unparsable YAML).
struct ConfigError {
  std::string file;
  int line = 0;
  int column = 0;
  std::string object;
  std::string reason;

  // "dir/vs.yaml:7: VirtualService default/my-app: route weights sum to 90, must be 100"
  std::string toString() const;
};

using ConfigErrors = std::vector<ConfigError>;

// Logs each problem of a rejected version as an error, saying that the last good
// configuration stays in force.
void logRejected(const ConfigErrors& errors);

}  // namespace ambit::config
