// What a plugin shows operators: admin commands (`homesipctl <plugin>.<name>
// ARG...`, answered with JSON) and metrics (counters and gauges the core
// exports with its own). Both are declared in the plugin's descriptor, so
// `homesipd --describe-plugin` lists them, and bound to code through
// PluginContext while the plugin is created.
#pragma once

#include <atomic>
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

}  // namespace homesip
