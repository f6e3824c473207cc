// The test kit's PluginContext: everything the core lends a plugin, with no
// server. Settings are validated against the plugin's declarations like the
// core does; services, commands and metrics are checked against the
// descriptor; what the plugin registers is recorded for the test to drive.
//
//   extern "C" const homesip::PluginDescriptor* homesip_plugin_descriptor();
//   testkit::FakePluginContext context(*homesip_plugin_descriptor(), {{"min_expires", 60}});
//   context.add_service<homesip::LocationStore>(store);
//   auto plugin = context.create_plugin();
//   testkit::FakeIncomingRequest incoming(RequestBuilder().build(), context.manual_loop());
//   context.handlers().at(0).handler->on_request(incoming);
//
// Header-only; part of the installed SDK (target homesip::sdk_testkit).
#pragma once

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "homesip/context.hpp"
#include "homesip/plugin.hpp"
#include "homesip/setting_table.hpp"
#include "homesip/testkit/manual_loop.hpp"
#include "homesip/testkit/request_builder.hpp"

namespace homesip::testkit {

// A value given to a setting, as a test writes it: text (converted to the
// declared type as the core converts YAML scalars), a number, a boolean or a list.
class SettingValue {
 public:
  SettingValue(const char* text) : value_(std::string(text)) {}
  SettingValue(std::string text) : value_(std::move(text)) {}
  SettingValue(int number) : value_(static_cast<int64_t>(number)) {}
  SettingValue(int64_t number) : value_(number) {}
  SettingValue(bool flag) : value_(flag) {}
  SettingValue(std::vector<std::string> items) : value_(std::move(items)) {}
  SettingValue(std::initializer_list<const char*> items)
      : value_(std::vector<std::string>(items.begin(), items.end())) {}
  const std::variant<std::string, int64_t, bool, std::vector<std::string>>& value() const { return value_; }

 private:
  std::variant<std::string, int64_t, bool, std::vector<std::string>> value_;
};

using SettingValues = std::map<std::string, SettingValue, std::less<>>;

// Settings validated like the core's: unknown keys, missing required keys and
// values of the wrong type throw ConfigError naming the key.
class FakeSettings final : public SettingTable {
 public:
  FakeSettings(StaticList<SettingSpec> specs, const SettingValues& given) {
    for (const auto& [key, value] : given)
      if (std::none_of(specs.begin(), specs.end(), [&](const SettingSpec& s) { return key == s.key; }))
        throw ConfigError(key, "unknown key '" + key + "'");
    for (const SettingSpec& spec : specs) {
      SettingEntry entry{spec.type, {}, false, "test settings: " + std::string(spec.key)};
      if (const auto it = given.find(spec.key); it != given.end()) {
        entry.items = convert(spec, it->second);
        entry.explicitly_set = true;
      } else if (!spec.default_value) {
        throw ConfigError(spec.key, std::string(spec.key) + ": missing (" + spec.help + ")");
      } else {
        entry.items = default_items(spec);
      }
      entries.emplace(spec.key, std::move(entry));
    }
  }

 private:
  static std::vector<std::string> convert(const SettingSpec& spec, const SettingValue& given) {
    const std::string key = spec.key;
    const auto& v = given.value();
    if (spec.type == SettingType::kStringList) {
      if (const auto* list = std::get_if<std::vector<std::string>>(&v)) return *list;
      if (const auto* text = std::get_if<std::string>(&v)) return {*text};  // a scalar is a list of one
      throw ConfigError(key, key + ": expected a list of strings");
    }
    if (std::holds_alternative<std::vector<std::string>>(v))
      throw ConfigError(key, key + ": expected a single value, not a list");
    std::string text;
    if (const auto* s = std::get_if<std::string>(&v)) text = *s;
    if (const auto* n = std::get_if<int64_t>(&v)) text = std::to_string(*n);
    if (const auto* b = std::get_if<bool>(&v)) text = *b ? "true" : "false";
    return {scalar_of(spec, text)};
  }

  // Converts the textual form of a scalar with the core's own conversion.
  static std::string scalar_of(const SettingSpec& spec, const std::string& text) {
    std::string problem;
    std::optional<std::string> canonical = canonical_setting_text(spec.type, text, problem);
    if (!canonical) throw ConfigError(spec.key, std::string(spec.key) + ": " + problem);
    return *canonical;
  }

  // A declared default: "[a, b]" or "[]" for lists; "" leaves a path unset.
  static std::vector<std::string> default_items(const SettingSpec& spec) {
    std::string_view text = spec.default_value;
    if (spec.type == SettingType::kStringList) {
      text = detail::trim(text);
      if (text.empty() || text == "~" || text == "null") return {};
      if (text.front() != '[') return {std::string(text)};
      text = text.substr(1, text.size() >= 2 ? text.size() - 2 : 0);
      std::vector<std::string> items;
      for (std::string_view item : detail::split_values(text)) {
        if (item.size() >= 2 && (item.front() == '"' || item.front() == '\''))
          item = item.substr(1, item.size() - 2);
        items.emplace_back(item);
      }
      return items;
    }
    if (spec.type == SettingType::kPath && text.empty()) return {};
    return {scalar_of(spec, std::string(text))};
  }
};

// A Logger that keeps every line ("info: bound u1@C1.D1.H1").
// Safe from any thread, as the core's logger is (a test may drive a plugin
// from several loop threads).
class FakeLogger final : public Logger {
 public:
  bool enabled(LogLevel level) const override { return level >= threshold; }
  void write(LogLevel level, std::string_view message) override {
    static constexpr const char* kNames[] = {"trace", "debug", "info", "warn", "error"};
    std::lock_guard lock(mutex_);
    lines_.push_back(std::string(kNames[static_cast<int>(level)]) + ": " + std::string(message));
  }
  // Not while other threads write: read lines once they are done (count() is safe meanwhile).
  const std::vector<std::string>& lines() const { return lines_; }
  // True when some line contains `text`.
  bool contains(std::string_view text) const { return count(text) > 0; }
  // How many lines contain `text`.
  size_t count(std::string_view text) const {
    std::lock_guard lock(mutex_);
    return static_cast<size_t>(std::count_if(lines_.begin(), lines_.end(),
                                             [&](const std::string& l) { return l.find(text) != l.npos; }));
  }
  LogLevel threshold = LogLevel::kDebug;

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
};

// A SipClient that sends nothing: it records each request and the test
// answers it with answer(i, response) -- on the loop thread, as the core would.
class FakeClient final : public SipClient {
 public:
  struct Sent {
    OutgoingRequest request;
    std::string call_id;
    uint32_t cseq;
    ResponseDone done;
    std::shared_ptr<bool> wanted;  // false once the ClientTransaction is destroyed
    bool answered = false;
  };

  std::unique_ptr<ClientTransaction> send(const OutgoingRequest& request, ResponseDone done) override {
    if (request.method.empty() || request.method.find_first_of(" \t\r\n") != std::string::npos)
      throw std::invalid_argument("bad method '" + request.method + "'");
    if (!parse_uri(request.request_uri))
      throw std::invalid_argument("bad request URI '" + request.request_uri + "'");
    if (!request.next_hop.empty() && !parse_uri(request.next_hop))
      throw std::invalid_argument("bad next hop '" + request.next_hop + "'");
    auto wanted = std::make_shared<bool>(true);
    Sent sent{
        request,
        request.call_id.empty() ? "testkit-client-" + std::to_string(sent_.size() + 1) : request.call_id,
        request.cseq ? request.cseq : 1, std::move(done), wanted};
    sent_.push_back(std::move(sent));
    return std::make_unique<Transaction>(sent_.back().call_id, sent_.back().cseq, std::move(wanted));
  }

  const std::vector<Sent>& sent() const { return sent_; }
  // Delivers `response` to request `index`'s callback. False when the
  // plugin dropped the transaction (nothing is called) or it was answered.
  bool answer(size_t index, const SipResponse& response) {
    Sent& sent = sent_.at(index);
    if (sent.answered || !*sent.wanted) return false;
    sent.answered = true;
    sent.done(response);
    return true;
  }
  // The core's own answer when nothing came back: a local 408.
  bool time_out(size_t index) {
    return answer(index, *ResponseBuilder(408, "Request Timeout").local().build());
  }

 private:
  class Transaction final : public ClientTransaction {
   public:
    Transaction(std::string call_id, uint32_t cseq, std::shared_ptr<bool> wanted)
        : call_id_(std::move(call_id)), cseq_(cseq), wanted_(std::move(wanted)) {}
    ~Transaction() override { *wanted_ = false; }
    std::string_view call_id() const override { return call_id_; }
    uint32_t cseq() const override { return cseq_; }

   private:
    std::string call_id_;
    uint32_t cseq_;
    std::shared_ptr<bool> wanted_;
  };

  std::vector<Sent> sent_;
};

// What a command answered: ok and the JSON text, or not ok and the problem.
struct CommandResult {
  bool answered = false;
  bool ok = false;
  std::string text;
};

class FakePluginContext final : public PluginContext {
 public:
  struct RecordedHandler {
    RequestHandler* handler;
    HandlerPlacement placement;  // phase and order (its name is in `name`)
    std::string name;            // placement.name, or the plugin's name
  };

  // For a plugin with a descriptor (what HOMESIP_PLUGIN defines): settings,
  // services, commands and metrics are checked against it, and check_settings runs.
  explicit FakePluginContext(const PluginDescriptor& descriptor, const SettingValues& values = {})
      : descriptor_(&descriptor), settings_(descriptor.settings, values) {
    if (descriptor.check_settings) descriptor.check_settings(settings_);
  }
  // For code with only its settings declared: any service, command or metric name goes.
  explicit FakePluginContext(StaticList<SettingSpec> specs, const SettingValues& values = {})
      : settings_(specs, values) {}

  // The server's one listener, as contact_uri() and addresses_me() see it
  // (default: udp 127.0.0.1:5130). `transport`: "udp", "tcp" or "tls".
  void set_listener(std::string transport, std::string host, uint16_t port) {
    listener_transport_ = std::move(transport);
    listener_host_ = std::move(host);
    listener_port_ = port;
  }

  // Creates the descriptor's plugin on this context (throws what its factory throws).
  std::unique_ptr<Plugin> create_plugin() {
    if (!descriptor_) throw std::logic_error("FakePluginContext made without a descriptor");
    return std::unique_ptr<Plugin>(descriptor_->create(*this));
  }

  // PluginContext
  const Settings& settings() const override { return settings_; }
  Logger& logger() override { return logger_; }
  EventLoop& loop() override { return loop_; }
  EventLoop& current_loop() override { return loop_; }
  std::string contact_uri(std::string_view user) const override {
    std::string uri = listener_transport_ == "tls" ? "sips:" : "sip:";
    if (!user.empty()) uri.append(user).append("@");
    uri.append(listener_host_).append(":").append(std::to_string(listener_port_));
    if (listener_transport_ == "tcp") uri.append(";transport=tcp");
    return uri;
  }
  bool addresses_me(const UriView& uri) const override {
    uint16_t port = uri.scheme == "sips" ? 5061 : 5060;
    if (!uri.port.empty()) {
      const auto [end, error] = std::from_chars(uri.port.data(), uri.port.data() + uri.port.size(), port);
      if (error != std::errc() || end != uri.port.data() + uri.port.size()) return false;
    }
    return uri.host == listener_host_ && port == listener_port_;
  }
  void add_request_handler(RequestHandler& handler, HandlerPlacement placement) override {
    std::string name(placement.name.empty() && descriptor_ ? std::string_view(descriptor_->name)
                                                           : placement.name);
    placement.name = {};  // the caller's view may not outlive the call: `name` keeps it
    handlers_.push_back(RecordedHandler{&handler, placement, std::move(name)});
  }
  void provide_service(std::string_view name, void* service) override {
    if (descriptor_ && !listed(descriptor_->provides, name))
      throw std::logic_error("service " + std::string(name) + " is not in the descriptor's provides");
    if (services_.count(name)) throw std::logic_error("service " + std::string(name) + " is provided twice");
    services_.emplace(std::string(name), service);
  }
  void* find_service(std::string_view name) override {
    if (descriptor_ && !listed(descriptor_->requires_services, name) && !listed(descriptor_->uses, name) &&
        !listed(descriptor_->provides, name))
      throw std::logic_error("service " + std::string(name) +
                             " is not in the descriptor's requires_services or uses");
    const auto it = services_.find(name);
    return it == services_.end() ? nullptr : it->second;
  }
  SipClient& client() override { return client_; }
  void on_command(std::string_view name, CommandHandler handler) override {
    if (descriptor_ && std::none_of(descriptor_->commands.begin(), descriptor_->commands.end(),
                                    [&](const CommandSpec& c) { return name == c.name; }))
      throw std::logic_error("command " + std::string(name) + " is not declared");
    commands_[std::string(name)] = std::move(handler);
  }
  Counter counter(std::string_view name) override {
    return Counter(&counters_[checked(name, MetricType::kCounter)]);
  }
  Gauge gauge(std::string_view name) override { return Gauge(&gauges_[checked(name, MetricType::kGauge)]); }
  Histogram histogram(std::string_view name) override {
    return Histogram(&histograms_[checked(name, MetricType::kHistogram)]);
  }
  void on_http(std::string_view path, HttpHandler handler) override {
    if (http_.count(path)) throw std::logic_error("HTTP path " + std::string(path) + " is claimed twice");
    http_[std::string(path)] = std::move(handler);
  }

  // The test's side.
  ManualLoop& manual_loop() { return loop_; }
  FakeLogger& fake_logger() { return logger_; }
  const std::vector<std::string>& log_lines() const { return logger_.lines(); }
  FakeClient& fake_client() { return client_; }
  const std::vector<RecordedHandler>& handlers() const { return handlers_; }
  // Offers a service as another plugin would (no declaration needed).
  template <class Service>
  void add_service(Service& service) {
    services_[Service::kServiceName] = static_cast<void*>(&service);
  }
  // Runs command `name` as homesipctl would, then the loop until it answers
  // (bounded: a command that never answers gives answered == false).
  CommandResult run_command(std::string_view name, std::vector<std::string> arguments = {}) {
    const auto it = commands_.find(name);
    if (it == commands_.end()) return CommandResult{true, false, "no command " + std::string(name)};
    auto result = std::make_shared<CommandResult>();
    it->second(arguments, [result](bool ok, std::string text) {
      if (result->answered) return;  // the core, too, takes the first answer only
      *result = CommandResult{true, ok, std::move(text)};
    });
    loop_.run_until([&] { return result->answered; }, std::chrono::seconds(5));
    return *result;
  }
  bool has_command(std::string_view name) const { return commands_.count(name) > 0; }
  // GETs `path` from the handler that claimed it exactly (or the longest
  // claimed prefix ending in '/'), then runs the loop until it answers
  // (bounded: no answer gives status 0).
  HttpResponse get_http(std::string path, std::map<std::string, std::string, std::less<>> query = {}) {
    const HttpHandler* handler = nullptr;
    size_t claimed = 0;
    for (const auto& [prefix, h] : http_)
      if (prefix == path || (prefix.back() == '/' && path.starts_with(prefix) && prefix.size() > claimed)) {
        handler = &h;
        claimed = prefix == path ? path.size() + 1 : prefix.size();
      }
    if (!handler) return HttpResponse{404, "text/plain", "no handler for " + path};
    auto answer = std::make_shared<std::optional<HttpResponse>>();
    (*handler)(HttpRequest{"GET", std::move(path), std::move(query)}, [answer](HttpResponse response) {
      if (!*answer) *answer = std::move(response);
    });
    loop_.run_until([&] { return answer->has_value(); }, std::chrono::seconds(5));
    return answer->value_or(HttpResponse{0, "", ""});
  }
  // The metric's value; nullopt when the plugin never asked for it.
  std::optional<uint64_t> counter_value(std::string_view name) const {
    const auto it = counters_.find(name);
    return it == counters_.end() ? std::nullopt : std::optional<uint64_t>(it->second.load());
  }
  std::optional<int64_t> gauge_value(std::string_view name) const {
    const auto it = gauges_.find(name);
    return it == gauges_.end() ? std::nullopt : std::optional<int64_t>(it->second.load());
  }
  // How many durations the histogram observed; nullopt when never asked for.
  std::optional<uint64_t> histogram_count(std::string_view name) const {
    const auto it = histograms_.find(name);
    return it == histograms_.end() ? std::nullopt : std::optional<uint64_t>(it->second.count.load());
  }

 private:
  static bool listed(StaticList<const char*> names, std::string_view name) {
    return std::any_of(names.begin(), names.end(), [&](const char* n) { return name == n; });
  }
  std::string checked(std::string_view name, MetricType type) const {
    if (descriptor_ && std::none_of(descriptor_->metrics.begin(), descriptor_->metrics.end(),
                                    [&](const MetricSpec& m) { return name == m.name && m.type == type; }))
      throw std::logic_error("metric " + std::string(name) + " is not declared with that type");
    return std::string(name);
  }

  const PluginDescriptor* descriptor_ = nullptr;
  FakeSettings settings_;
  std::string listener_transport_ = "udp";
  std::string listener_host_ = "127.0.0.1";
  uint16_t listener_port_ = 5130;
  FakeLogger logger_;
  ManualLoop loop_;
  FakeClient client_;
  std::vector<RecordedHandler> handlers_;
  std::map<std::string, void*, std::less<>> services_;
  std::map<std::string, CommandHandler, std::less<>> commands_;
  // std::map never moves its values: the atomics' addresses stay valid.
  std::map<std::string, std::atomic<uint64_t>, std::less<>> counters_;
  std::map<std::string, std::atomic<int64_t>, std::less<>> gauges_;
  std::map<std::string, HistogramValues, std::less<>> histograms_;
  std::map<std::string, HttpHandler, std::less<>> http_;
};

}  // namespace homesip::testkit
