// What a plugin shows operators: admin commands (`homesipctl <plugin>.<name>
// ARG...`, answered with JSON) and metrics (counters, gauges and latency
// histograms the core exports with its own, at `homesipctl stats` and on the
// HTTP listener's /metrics). Both are declared in the plugin's descriptor, so
// `homesipd --describe-plugin` lists them, and bound to code through
// PluginContext while the plugin is created.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace homesip {

// Plain data in the plugin's read-only memory. Layout frozen.
struct CommandSpec {
  const char* name;       // "users": run as "<plugin>.users"
  const char* arguments;  // usage of the arguments, e.g. "[DOMAIN]"; "" for none
  const char* help;       // one line
};

enum class MetricType : uint32_t {
  kCounter = 0,  // only goes up (Prometheus counter)
  kGauge = 1,    // goes up and down
  // Since SDK 3.2: durations (a store's write, a lookup), exported as a
  // Prometheus histogram in seconds with the fixed buckets below.
  kHistogram = 2,
};

struct MetricSpec {
  const char* name;  // "registrations_total": exported as homesip_<plugin>_<name>
  MetricType type;
  const char* help;  // one line
};

// Answers a command once: `ok` with `text` holding a JSON value, or not ok
// with `text` saying what is wrong (shown to the operator). Any thread.
using CommandDone = std::function<void(bool ok, std::string text)>;
// Runs on the main loop thread with the arguments after the command name.
using CommandHandler = std::function<void(const std::vector<std::string>& arguments, CommandDone done)>;

// Handles to the core's metric values: cheap to copy, safe from any thread,
// valid until the plugin is destroyed. A default-constructed handle does nothing.
class Counter {
 public:
  Counter() = default;
  explicit Counter(std::atomic<uint64_t>* value) : value_(value) {}
  void add(uint64_t n = 1) const {
    if (value_) value_->fetch_add(n, std::memory_order_relaxed);
  }
  uint64_t value() const { return value_ ? value_->load(std::memory_order_relaxed) : 0; }

 private:
  std::atomic<uint64_t>* value_ = nullptr;
};

class Gauge {
 public:
  Gauge() = default;
  explicit Gauge(std::atomic<int64_t>* value) : value_(value) {}
  void set(int64_t v) const {
    if (value_) value_->store(v, std::memory_order_relaxed);
  }
  void add(int64_t n) const {
    if (value_) value_->fetch_add(n, std::memory_order_relaxed);
  }
  int64_t value() const { return value_ ? value_->load(std::memory_order_relaxed) : 0; }

 private:
  std::atomic<int64_t>* value_ = nullptr;
};

// The upper bounds (seconds, Prometheus' "le") of every histogram's buckets,
// fixed so that a histogram's storage is plain data: 100 µs to 5 s, then +Inf.
inline constexpr double kHistogramBounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                              0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   5.0};
inline constexpr size_t kHistogramBucketCount = sizeof(kHistogramBounds) / sizeof(kHistogramBounds[0]);

// A histogram's values, owned by the core (or the test kit). Layout frozen.
struct HistogramValues {
  // Observations per bucket, not cumulative; the last one is "+Inf".
  std::atomic<uint64_t> buckets[kHistogramBucketCount + 1] = {};
  std::atomic<uint64_t> count{0};
  std::atomic<uint64_t> sum_ns{0};  // the sum of all observations, in nanoseconds
};

// Handle to a histogram: cheap to copy, safe from any thread, valid until the
// plugin is destroyed. A default-constructed handle does nothing.
class Histogram {
 public:
  Histogram() = default;
  explicit Histogram(HistogramValues* values) : values_(values) {}
  void observe(std::chrono::nanoseconds duration) const {
    if (!values_) return;
    const double seconds = static_cast<double>(duration.count()) / 1e9;
    size_t bucket = 0;
    while (bucket < kHistogramBucketCount && seconds > kHistogramBounds[bucket]) ++bucket;
    values_->buckets[bucket].fetch_add(1, std::memory_order_relaxed);
    values_->sum_ns.fetch_add(duration.count() > 0 ? static_cast<uint64_t>(duration.count()) : 0,
                              std::memory_order_relaxed);
    values_->count.fetch_add(1, std::memory_order_relaxed);
  }
  uint64_t count() const { return values_ ? values_->count.load(std::memory_order_relaxed) : 0; }

 private:
  HistogramValues* values_ = nullptr;
};

}  // namespace homesip
