#pragma once
// The Prometheus text exposition format (version 0.0.4) as tests read it from /metrics: every
// sample with its labels, lookups of one series and sums over the series that carry some labels.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ambit::test {

using Labels = std::map<std::string, std::string>;

struct Sample {
  std::string name;
  Labels labels;  // values unescaped (\\, \", \n)
  double value = 0;
};

class PrometheusText {
 public:
  // Parses `exposition`: comments and blank lines are skipped; any other line must be
  // `name[{label="value",...}] value [timestamp]`. An error names the line and what is wrong.
  static Result<PrometheusText> parse(std::string_view exposition);

  const std::vector<Sample>& samples() const { return samples_; }
  // Sum of the samples of `name` whose labels include every pair of `match`; 0 when none.
  double sum(std::string_view name, const Labels& match = {}) const;
  // The sample of `name` with exactly `labels`; nullopt when there is none.
  std::optional<double> value(std::string_view name, const Labels& labels = {}) const;

 private:
  std::vector<Sample> samples_;
};

// Shorthands for a scraped body. A body that does not parse fails the test (ADD_FAILURE with the
// parser's reason) and has no samples; an empty body (nothing answered) has none either.
double metricSum(const std::string& exposition, std::string_view name, const Labels& match = {});
std::optional<double> metricValue(const std::string& exposition, std::string_view name,
                                  const Labels& labels = {});

}  // namespace ambit::test
