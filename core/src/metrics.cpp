#include "metrics.hpp"

#include <charconv>

#include "admin_commands.hpp"
#include "plugin_host.hpp"
#include "sip_server.hpp"

namespace homesip::core {
namespace {

constexpr const char* kMethodNames[] = {"INVITE",  "ACK",     "BYE",       "CANCEL", "REGISTER",
                                        "OPTIONS", "MESSAGE", "SUBSCRIBE", "NOTIFY", "PUBLISH",
                                        "INFO",    "REFER",   "UPDATE",    "PRACK",  "OTHER"};

// The shortest text that reads back as `value`, never in exponent form ("0.0001", "5").
std::string number(double value) {
  char text[400];  // fixed form of a double may be long (1e300)
  const auto result = std::to_chars(text, text + sizeof text, value, std::chars_format::fixed);
  return std::string(text, result.ptr);
}

// # HELP text: a backslash and a line break escaped, as the format wants.
std::string help_text(std::string_view help) {
  std::string text;
  for (char c : help) {
    if (c == '\\')
      text += "\\\\";
    else if (c == '\n')
      text += "\\n";
    else
      text += c;
  }
  return text;
}

// A label value: backslash, quote and line break escaped.
std::string label_value(std::string_view value) {
  std::string text;
  for (char c : value) {
    if (c == '\\' || c == '"') text += '\\';
    text += c == '\n' ? 'n' : c;
  }
  return text;
}

void header(std::string& out, const std::string& name, const char* type, std::string_view help) {
  out += "# HELP " + name + " " + help_text(help) + "\n# TYPE " + name + " " + type + "\n";
}

void sample(std::string& out, const std::string& name, const std::string& value) {
  out += name + " " + value + "\n";
}

void core_metrics(std::string& out, const AdminSources& sources) {
  const auto uptime = std::chrono::steady_clock::now() - sources.started;
  header(out, "homesip_uptime_seconds", "gauge", "seconds since this server started");
  sample(out, "homesip_uptime_seconds",
         std::to_string(std::chrono::duration_cast<std::chrono::seconds>(uptime).count()));
  header(out, "homesip_tcp_tls_connections", "gauge", "open TCP and TLS connections");
  sample(out, "homesip_tcp_tls_connections", std::to_string(sources.server.connection_count()));
  header(out, "homesip_answers_pending", "gauge", "requests a handler suspended, not answered yet");
  sample(out, "homesip_answers_pending", std::to_string(sources.server.suspended_pending()));
  header(out, "homesip_rate_limited_sources", "gauge", "source addresses the rate limit tracks");
  sample(out, "homesip_rate_limited_sources", std::to_string(sources.server.rate_limited_sources()));
  header(out, "homesip_loop_lag_seconds", "gauge", "how late the event loop ran its last overload tick");
  sample(out, "homesip_loop_lag_seconds",
         number(static_cast<double>(sources.server.loop_lag().count()) / 1e3));
  header(out, "homesip_loop_messages_total", "counter",
         "SIP messages each event loop received (server.loops; loop 0 is the main one)");
  const auto loops = sources.server.loop_figures();
  for (size_t i = 0; i < loops.size(); ++i)
    sample(out, "homesip_loop_messages_total{loop=\"" + std::to_string(i) + "\"}",
           std::to_string(loops[i].messages));
  header(out, "homesip_loop_pauses_total", "counter",
         "times each event loop waited for more datagrams before reading (server.udp_coalesce_us)");
  for (size_t i = 0; i < loops.size(); ++i)
    sample(out, "homesip_loop_pauses_total{loop=\"" + std::to_string(i) + "\"}",
           std::to_string(loops[i].pauses));
  header(out, "homesip_loop_retransmissions_absorbed_total", "counter",
         "UDP retransmissions each event loop dropped because the request was still waiting for its "
         "answer (a store's commit, a plugin)");
  for (size_t i = 0; i < loops.size(); ++i)
    sample(out, "homesip_loop_retransmissions_absorbed_total{loop=\"" + std::to_string(i) + "\"}",
           std::to_string(loops[i].absorbed));
  header(out, "homesip_limits_hit_total", "counter",
         "messages over a limit (server.limits, server.connections, server.rate_limit, server.overload)");
  for (const auto& [limit, count] : sources.server.limit_hits())
    sample(out, "homesip_limits_hit_total{limit=\"" + label_value(limit) + "\"}", std::to_string(count));
  sources.server.request_metrics().render(out);
}

void plugin_metrics(std::string& out, const PluginHost& host) {
  for (const auto& plugin : host.plugins())
    for (const PluginMetric& m : plugin.metrics) {
      const std::string name = metric_name(plugin.name, m.spec->name);
      header(out, name, metric_type_name(m.spec->type), m.spec->help);
      if (m.spec->type == MetricType::kCounter)
        sample(out, name, std::to_string(m.count.load(std::memory_order_relaxed)));
      else if (m.spec->type == MetricType::kGauge)
        sample(out, name, std::to_string(m.level.load(std::memory_order_relaxed)));
      else
        render_histogram(out, name, "", m.histogram);
    }
}

}  // namespace

const char* metric_type_name(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

size_t RequestMetrics::method_row(std::string_view name) {
  for (size_t row = 0; row + 1 < kMethods; ++row)
    if (name == kMethodNames[row]) return row;
  return kMethods - 1;
}

size_t RequestMetrics::status_column(int status) {
  if (status >= 100 && status <= 699) return static_cast<size_t>(status - 100);
  return status == kForwarded ? kStatuses - 1 : kStatuses - 2;
}

void RequestMetrics::record(std::string_view method_name, int status, std::chrono::nanoseconds took) {
  const size_t row = method_row(method_name);
  counts_[row][status_column(status)].fetch_add(1, std::memory_order_relaxed);
  Histogram(&durations_[row]).observe(took);
}

uint64_t RequestMetrics::count(std::string_view method_name, int status) const {
  return counts_[method_row(method_name)][status_column(status)].load(std::memory_order_relaxed);
}

void RequestMetrics::render(std::string& out) const {
  header(out, "homesip_requests_total", "counter",
         "requests by method and the final status this server answered (none: dropped or discarded; "
         "forwarded: sent on)");
  for (size_t row = 0; row < kMethods; ++row)
    for (size_t column = 0; column < kStatuses; ++column) {
      const uint64_t n = counts_[row][column].load(std::memory_order_relaxed);
      if (n == 0) continue;
      const std::string status = column == kStatuses - 1   ? "forwarded"
                                 : column == kStatuses - 2 ? "none"
                                                           : std::to_string(column + 100);
      sample(out,
             std::string("homesip_requests_total{method=\"") + kMethodNames[row] + "\",status=\"" + status +
                 "\"}",
             std::to_string(n));
    }
  header(out, "homesip_request_duration_seconds", "histogram",
         "from a request's receipt to its final answer (or forward, or drop), by method");
  for (size_t row = 0; row < kMethods; ++row)
    if (durations_[row].count.load(std::memory_order_relaxed) > 0)
      render_histogram(out, "homesip_request_duration_seconds",
                       std::string("method=\"") + kMethodNames[row] + "\"", durations_[row]);
}

void render_histogram(std::string& out, const std::string& name, const std::string& labels,
                      const HistogramValues& values) {
  const std::string prefix = labels.empty() ? "" : labels + ",";
  // Buckets are read once each; a count read after them may be ahead of
  // their sum by observations made meanwhile, so the count is the sum.
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= kHistogramBucketCount; ++i) {
    cumulative += values.buckets[i].load(std::memory_order_relaxed);
    const std::string le = i < kHistogramBucketCount ? number(kHistogramBounds[i]) : "+Inf";
    sample(out, name + "_bucket{" + prefix + "le=\"" + le + "\"}", std::to_string(cumulative));
  }
  const std::string braces = labels.empty() ? "" : "{" + labels + "}";
  const double sum = static_cast<double>(values.sum_ns.load(std::memory_order_relaxed)) / 1e9;
  sample(out, name + "_sum" + braces, number(sum));
  sample(out, name + "_count" + braces, std::to_string(cumulative));
}

std::string render_metrics(const AdminSources& sources) {
  std::string out;
  core_metrics(out, sources);
  plugin_metrics(out, sources.plugins);
  return out;
}

}  // namespace homesip::core
