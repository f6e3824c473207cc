// What the server counts about itself and how it shows it: requests by
// method and final status with how long their answer took (atomics in a
// fixed table, nothing allocated on the request path), and the Prometheus
// text exposition (version 0.0.4) of those, the admin `stats` counters and
// every plugin's metrics, for the HTTP listener's /metrics.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <string>
#include <string_view>

#include "homesip/admin.hpp"

namespace homesip::core {

struct AdminSources;

// "counter", "gauge" or "histogram": one name for `stats`, `plugins`,
// --describe-plugin and # TYPE lines.
const char* metric_type_name(MetricType type);

class RequestMetrics {
 public:
  // What became of a request beside a final status 100..699.
  static constexpr int kUnanswered = 0;  // dropped or discarded: status="none"
  static constexpr int kForwarded = 1;   // sent on statelessly: status="forwarded"

  // `method_name` as on the request line; any thread. `took`: from receipt to
  // the answer (or the forward, or the drop).
  void record(std::string_view method_name, int status, std::chrono::nanoseconds took);

  // Appends homesip_requests_total and homesip_request_duration_seconds.
  void render(std::string& out) const;

  // The count of one cell, for tests: `status` as record() takes it.
  uint64_t count(std::string_view method_name, int status) const;

 private:
  // INVITE ... PRACK, then one row for every other method.
  static constexpr size_t kMethods = 15;
  static constexpr size_t kStatuses = 602;  // 100..699, then none and forwarded
  static size_t method_row(std::string_view name);
  static size_t status_column(int status);

  std::array<std::array<std::atomic<uint64_t>, kStatuses>, kMethods> counts_{};
  std::array<HistogramValues, kMethods> durations_{};
};

// Appends one histogram in the exposition format: its buckets cumulative,
// _sum in seconds and _count. `labels` ("method=\"REGISTER\"") may be empty.
void render_histogram(std::string& out, const std::string& name, const std::string& labels,
                      const HistogramValues& values);

// The whole /metrics page.
std::string render_metrics(const AdminSources& sources);

}  // namespace homesip::core
