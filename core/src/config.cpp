#include "config.hpp"

#include <arpa/inet.h>
#include <fnmatch.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>

namespace homesip::core {
namespace {

using T = SettingType;

// The core's keys, grouped by block (write_core_defaults relies on it).
// HttpSettings::commands' default, as the table shows it (config_test compares the two).
constexpr const char* kHttpReadOnlyCommands =
    "[help, stats, plugins, bindings, \"*.tree\", \"*.locate\", \"*.users\", \"*.user-list\", "
    "\"*.entities\", "
    "\"*.state\"]";

constexpr CoreSetting kCoreSettings[] = {
    {{"server.listen", T::kStringList, nullptr,
      "addresses served: udp:, tcp: or tls:HOST:PORT (at least one)"},
     true,
     "[udp:127.0.0.1:5060]"},
    {{"server.plugin_dirs", T::kStringList, "[]",
      "directories searched for NAME.so; empty: ../lib/homesip/plugins next to homesipd, then the install "
      "prefix"},
     false,
     nullptr},
    {{"server.tls_certificates", T::kString, "",
      "directory with agent.pem (key and chain) and cafile.pem; needed by tls: listeners"},
     false,
     nullptr},
    {{"server.tls_verify_clients", T::kString, "optional",
      "tls: listeners ask clients for a certificate: none, optional (verified against cafile.pem when "
      "given) or required"},
     false,
     nullptr},
    {{"server.tls_verify_servers", T::kBoolean, "true",
      "outgoing TLS checks the server's certificate against cafile.pem and that it names the URI's host"},
     false,
     nullptr},
    {{"server.admin_socket", T::kString, "", "Unix socket homesipctl talks to; empty: none"}, false, nullptr},
    {{"server.loops", T::kInteger, "1",
      "event loops serving UDP, TCP and TLS, each on its own thread with its own socket per listener "
      "(SO_REUSEPORT), 0..256 (0: one per CPU core)"},
     false,
     nullptr},
    {{"server.udp_buffer_bytes", T::kInteger, "4194304",
      "UDP socket buffers (capped by net.core.rmem_max), >= 0"},
     false,
     nullptr},
    {{"server.udp_coalesce_us", T::kInteger, "4000",
      "a loop woken by datagrams more often than once in this many microseconds reads them once per "
      "window: less CPU per request, answers up to this much later; 0..10000 (0: every datagram at once)"},
     false,
     nullptr},
    {{"server.limits.max_message_bytes", T::kInteger, "65535",
      "largest message, 1024..1048576 (513 beyond; TCP/TLS: closed after the answer)"},
     false,
     nullptr},
    {{"server.limits.max_headers", T::kInteger, "100", "header fields in one message, 10..1000 (400 beyond)"},
     false,
     nullptr},
    {{"server.limits.max_header_values", T::kInteger, "64",
      "comma-separated values in one header field, 4..1000 (400 beyond)"},
     false,
     nullptr},
    {{"server.limits.max_contacts", T::kInteger, "32", "Contact values in one message, 1..1000 (400 beyond)"},
     false,
     nullptr},
    {{"server.limits.udp_amplification", T::kInteger, "3",
      "a UDP response to a request without an authenticated identity is not sent when longer than this "
      "many times the request, 0..100 (0: no bound)"},
     false,
     nullptr},
    {{"server.connections.max", T::kInteger, nullptr,
      "TCP/TLS connections held, 1..1000000; unset: the descriptor limit (ulimit -n) minus 128"},
     false,
     "1000"},
    {{"server.connections.idle_timeout_s", T::kInteger, "300",
      "a connection without a byte in or out for this long is closed, 1..86400"},
     false,
     nullptr},
    {{"server.connections.message_timeout_s", T::kInteger, "20",
      "a message must arrive whole within this (slowloris), 1..3600"},
     false,
     nullptr},
    {{"server.connections.max_output_bytes", T::kInteger, "1048576",
      "a peer that does not read its responses is dropped once this much waits, 65536..67108864"},
     false,
     nullptr},
    {{"server.rate_limit.requests_per_second", T::kInteger, "100",
      "messages per second one source address (an IPv6 /64) may send, checked before parsing, "
      "0..1000000 (0: no limit)"},
     false,
     nullptr},
    {{"server.rate_limit.burst", T::kInteger, "200",
      "messages a quiet source may send at once above that rate, 1..1000000"},
     false,
     nullptr},
    {{"server.rate_limit.action", T::kString, "drop",
      "what a message over its source's rate gets: drop (nothing) or 503 (with Retry-After)"},
     false,
     nullptr},
    {{"server.rate_limit.sources", T::kInteger, "65536",
      "source addresses tracked, 16..10000000; the one seen longest ago makes room"},
     false,
     nullptr},
    {{"server.rate_limit.exempt", T::kStringList, "[127.0.0.0/8, \"::1/128\"]",
      "addresses or blocks (ADDRESS/PREFIX) never limited"},
     false,
     nullptr},
    {{"server.overload.max_pending", T::kInteger, "10000",
      "requests waiting on a store or plugin beyond which new requests get 503, 0..10000000 (0: not "
      "watched)"},
     false,
     nullptr},
    {{"server.overload.max_loop_lag_ms", T::kInteger, "1000",
      "event loop lag beyond which new requests get 503, 0..60000 (0: not watched; else at least ten "
      "server.udp_coalesce_us windows)"},
     false,
     nullptr},
    {{"server.overload.max_queue_delay_ms", T::kInteger, "1000",
      "time a datagram waited in its socket's queue beyond which it gets 503, 0..60000 (0: not watched; "
      "else at least ten server.udp_coalesce_us windows)"},
     false,
     nullptr},
    {{"server.overload.retry_after_min_s", T::kInteger, "5",
      "shortest Retry-After of a 503 for overload or a rate limit, 1..3600"},
     false,
     nullptr},
    {{"server.overload.retry_after_max_s", T::kInteger, "10",
      "longest Retry-After (each 503 gets a random one between the two), retry_after_min_s..3600"},
     false,
     nullptr},
    {{"server.http.listen", T::kString, "",
      "HTTP listener for /metrics, /api/ and plugins' pages: IPV4:PORT or [IPV6]:PORT; empty: none"},
     false,
     nullptr},
    {{"server.http.token_file", T::kString, "",
      "file (mode 0600 or 0400) whose first line is the token HTTP requests bring; required unless "
      "listen is a loopback address; empty: none"},
     false,
     nullptr},
    {{"server.http.commands", T::kStringList, kHttpReadOnlyCommands,
      "the admin commands /api/ runs, names or patterns with * (the default: those that only read; "
      "a command that changes something, such as auth-digest.user-put, stays with homesipctl)"},
     false,
     nullptr},
    {{"log.level", T::kString, "info", "trace, debug, info, warn or error"}, false, nullptr},
    {{"log.sink", T::kString, "stderr", "stderr, or a file path (SIGHUP reopens it: logrotate)"},
     false,
     nullptr},
    {{"log.format", T::kString, "text",
      "text, or json: one JSON object per line (time, level, logger, message)"},
     false,
     nullptr},
    {{"log.sofia_level", T::kInteger, "0", "sofia-sip's own debug output, 0..9"}, false, nullptr},
};

std::string where_in(const std::string& file, const YAML::Node& node) {
  const auto mark = node.Mark();
  if (mark.line < 0) return file;
  return file + ":" + std::to_string(mark.line + 1);
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t dot = path.find('.', start);
    const size_t end = dot == std::string::npos ? path.size() : dot;
    parts.push_back(path.substr(start, end - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

bool parse_index(const std::string& text, size_t& index) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), index);
  return ec == std::errc() && ptr == text.data() + text.size();
}

// Records where each overridden value came from, keyed by its canonical key
// ("server.listen", "plugins[1].min_expires").
using OverrideOrigins = std::map<std::string, std::string>;

// Applies one "a.b.c=value" override to the tree. Plugins are addressed by
// name ("plugins.registrar.min_expires") or by position ("plugins.1.…").
void apply_override(YAML::Node root, const std::string& text, OverrideOrigins& origins) {
  const auto eq = text.find('=');
  const std::string origin = "--set " + text;
  if (eq == std::string::npos || eq == 0) throw ConfigFileError(origin + ": expected key.path=value");
  const auto parts = split_path(text.substr(0, eq));
  if (std::any_of(parts.begin(), parts.end(), [](const auto& p) { return p.empty(); }))
    throw ConfigFileError(origin + ": empty key segment");
  YAML::Node value;
  try {
    value = YAML::Load(text.substr(eq + 1));
  } catch (const YAML::Exception& e) {
    throw ConfigFileError(origin + ": value is not valid YAML: " + e.msg);
  }
  if (!value.IsDefined() || value.IsNull()) value = YAML::Node(std::string());

  std::vector<YAML::Node> chain{root};
  std::string canonical;
  size_t i = 0;
  if (parts[0] == "plugins") {
    if (parts.size() < 3) throw ConfigFileError(origin + ": use plugins.<name or index>.<setting>");
    YAML::Node list = root["plugins"];
    if (!list.IsSequence()) throw ConfigFileError(origin + ": the config has no plugins list");
    size_t index = 0;
    bool found = parse_index(parts[1], index) && index < list.size();
    for (size_t k = 0; !found && k < list.size(); ++k) {
      if (list[k]["plugin"] && list[k]["plugin"].as<std::string>("") == parts[1]) {
        index = k;
        found = true;
      }
    }
    if (!found) throw ConfigFileError(origin + ": no plugin '" + parts[1] + "' in the config");
    chain.push_back(list[index]);
    canonical = "plugins[" + std::to_string(index) + "]";
    i = 2;
  }
  for (; i < parts.size(); ++i) {
    YAML::Node parent = chain.back();
    if (!parent.IsMap() && !parent.IsNull() && parent.IsDefined())
      throw ConfigFileError(origin + ": '" + parts[i - 1] + "' is not a map");
    canonical += (canonical.empty() ? "" : ".") + parts[i];
    if (i + 1 == parts.size()) {
      parent[parts[i]] = value;
    } else {
      if (!parent[parts[i]]) parent[parts[i]] = YAML::Node(YAML::NodeType::Map);
      chain.push_back(parent[parts[i]]);
    }
  }
  origins[canonical] = origin;
}

// True when `path` is a key of core_settings() or a block holding some.
bool declared(const std::string& path) {
  return std::any_of(std::begin(kCoreSettings), std::end(kCoreSettings), [&](const CoreSetting& s) {
    const std::string_view key = s.spec.key;
    return key == path || (key.starts_with(path) && key[path.size()] == '.');
  });
}

class Reader {
 public:
  Reader(std::string file, const OverrideOrigins& origins) : file_(std::move(file)), origins_(origins) {}

  Located locate(const std::string& key, const YAML::Node& node) const {
    auto it = origins_.find(key);
    // A block no line of the file holds was made by an override of a key
    // inside it ("--set nope.x=1" made "nope"): that override is where.
    if (it == origins_.end() && node.Mark().line < 0) {
      it = origins_.lower_bound(key + ".");
      if (it != origins_.end() && !it->first.starts_with(key + ".")) it = origins_.end();
    }
    if (it != origins_.end()) return {it->second, key};
    return {where_in(file_, node), key};
  }

  [[noreturn]] void fail(const std::string& key, const YAML::Node& node, const std::string& problem) const {
    throw ConfigFileError(locate(key, node).describe(problem));
  }

  void require_map(const std::string& key, const YAML::Node& node) const {
    if (!node.IsMap()) fail(key, node, "expected a map");
  }

  // Fails on a key of `map` that core_settings() has no key under `prefix`
  // ("server.") for, unless it is one of `extra`.
  void reject_unknown(const std::string& prefix, const YAML::Node& map,
                      std::initializer_list<const char*> extra = {}) const {
    for (const auto& kv : map) {
      const auto name = kv.first.as<std::string>();
      const bool is_extra = std::any_of(extra.begin(), extra.end(), [&](const char* k) { return name == k; });
      if (!is_extra && !declared(prefix + name)) fail(prefix + name, kv.first, "unknown key");
    }
  }

  std::string scalar(const std::string& key, const YAML::Node& node) const {
    if (!node.IsScalar()) fail(key, node, "expected a string");
    return node.Scalar();
  }

  bool boolean(const std::string& key, const YAML::Node& node) const {
    bool v = false;
    if (!node.IsScalar() || !YAML::convert<bool>::decode(node, v)) fail(key, node, "expected true or false");
    return v;
  }

  int64_t integer(const std::string& key, const YAML::Node& node) const {
    int64_t v = 0;
    if (!node.IsScalar() || !YAML::convert<int64_t>::decode(node, v)) fail(key, node, "expected an integer");
    return v;
  }

  std::vector<std::string> scalar_list(const std::string& key, const YAML::Node& node) const {
    if (node.IsScalar()) return {node.Scalar()};
    if (!node.IsSequence()) fail(key, node, "expected a list of strings");
    std::vector<std::string> out;
    for (size_t i = 0; i < node.size(); ++i) out.push_back(scalar(key, node[i]));
    return out;
  }

  const std::string& file() const { return file_; }
  const OverrideOrigins& origins() const { return origins_; }

 private:
  std::string file_;
  const OverrideOrigins& origins_;
};

bool valid_token(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '_' || c == '.';
  });
}

// An integer key of `node` in [low, high] into `out`, when present.
template <typename T>
void read_bounded(const Reader& r, const YAML::Node& node, const std::string& prefix, const char* key,
                  int64_t low, int64_t high, T& out) {
  if (!node[key]) return;
  const std::string name = prefix + key;
  const int64_t value = r.integer(name, node[key]);
  if (value < low || value > high)
    r.fail(name, node[key],
           "must be " + std::to_string(low) + ".." + std::to_string(high) + ", not " + std::to_string(value));
  out = static_cast<T>(value);
}

void read_limits(const Reader& r, const YAML::Node& node, MessageLimits& limits) {
  r.require_map("server.limits", node);
  r.reject_unknown("server.limits.", node);
  const std::string p = "server.limits.";
  read_bounded(r, node, p, "max_message_bytes", 1024, 1024 * 1024, limits.max_message_bytes);
  read_bounded(r, node, p, "max_headers", 10, 1000, limits.max_headers);
  read_bounded(r, node, p, "max_header_values", 4, 1000, limits.max_header_values);
  read_bounded(r, node, p, "max_contacts", 1, 1000, limits.max_contacts);
}

void read_connections(const Reader& r, const YAML::Node& node, StreamLimits& limits) {
  r.require_map("server.connections", node);
  r.reject_unknown("server.connections.", node);
  const std::string p = "server.connections.";
  read_bounded(r, node, p, "max", 1, 1000000, limits.max_connections);
  int64_t idle = limits.idle_timeout.count(), message = limits.message_timeout.count();
  read_bounded(r, node, p, "idle_timeout_s", 1, 86400, idle);
  read_bounded(r, node, p, "message_timeout_s", 1, 3600, message);
  limits.idle_timeout = std::chrono::seconds(idle);
  limits.message_timeout = std::chrono::seconds(message);
  read_bounded(r, node, p, "max_output_bytes", 65536, 64 * 1024 * 1024, limits.max_output_bytes);
}

void read_rate_limit(const Reader& r, const YAML::Node& node, RateLimitSettings& limit) {
  r.require_map("server.rate_limit", node);
  r.reject_unknown("server.rate_limit.", node);
  const std::string p = "server.rate_limit.";
  read_bounded(r, node, p, "requests_per_second", 0, 1000000, limit.requests_per_second);
  read_bounded(r, node, p, "burst", 1, 1000000, limit.burst);
  read_bounded(r, node, p, "sources", 16, 10000000, limit.sources);
  if (node["action"]) {
    const std::string action = r.scalar(p + "action", node["action"]);
    if (action != "drop" && action != "503") r.fail(p + "action", node["action"], "must be drop or 503");
    limit.action = action == "drop" ? RateLimitSettings::Action::kDrop : RateLimitSettings::Action::kReply503;
  }
  if (node["exempt"]) {
    limit.exempt = r.scalar_list(p + "exempt", node["exempt"]);
    for (const auto& block : limit.exempt) try {
        parse_address_block(block);
      } catch (const std::invalid_argument& e) {
        r.fail(p + "exempt", node["exempt"], e.what());
      }
  }
}

void read_overload(const Reader& r, const YAML::Node& node, OverloadSettings& overload) {
  r.require_map("server.overload", node);
  r.reject_unknown("server.overload.", node);
  const std::string p = "server.overload.";
  read_bounded(r, node, p, "max_pending", 0, 10000000, overload.max_pending);
  int64_t lag = overload.max_loop_lag.count();
  read_bounded(r, node, p, "max_loop_lag_ms", 0, 60000, lag);
  overload.max_loop_lag = std::chrono::milliseconds(lag);
  int64_t queued = overload.max_queue_delay.count();
  read_bounded(r, node, p, "max_queue_delay_ms", 0, 60000, queued);
  overload.max_queue_delay = std::chrono::milliseconds(queued);
  read_bounded(r, node, p, "retry_after_min_s", 1, 3600, overload.retry_after_min_s);
  read_bounded(r, node, p, "retry_after_max_s", overload.retry_after_min_s, 3600, overload.retry_after_max_s);
}

// server.limits.udp_amplification, server.rate_limit and server.overload.
void read_flood_protection(const Reader& r, const YAML::Node& node, ServerConfig& server) {
  if (node["limits"] && node["limits"].IsMap())
    read_bounded(r, node["limits"], "server.limits.", "udp_amplification", 0, 100, server.udp_amplification);
  if (node["rate_limit"]) read_rate_limit(r, node["rate_limit"], server.rate_limit);
  if (node["overload"]) read_overload(r, node["overload"], server.overload);
}

// A loop that coalesces pauses up to server.udp_coalesce_us with datagrams
// waiting in its sockets and its overload tick held back: overload thresholds
// within ten windows would shed the requests of an idle server.
void check_overload_against_coalescing(const Reader& r, const YAML::Node& node, const ServerConfig& server) {
  const auto floor = std::chrono::ceil<std::chrono::milliseconds>(server.udp_coalesce * 10);
  const std::pair<const char*, std::chrono::milliseconds> thresholds[] = {
      {"max_loop_lag_ms", server.overload.max_loop_lag},
      {"max_queue_delay_ms", server.overload.max_queue_delay}};
  for (const auto& [key, value] : thresholds) {
    if (value.count() == 0 || value >= floor) continue;
    // Below ten windows means set: the defaults are far above the largest window.
    r.fail(std::string("server.overload.") + key, node["overload"][key],
           "must be 0 or at least ten windows of server.udp_coalesce_us (" + std::to_string(floor.count()) +
               " ms), not " + std::to_string(value.count()));
  }
}

// Keys of the server: block that moved out of the core with issue 12: where
// a server stands in the tree is the tree plugin's business now. A config
// still using one is refused with the key's new place, not as "unknown".
constexpr std::pair<const char*, const char*> kRetiredServerKeys[] = {
    {"name", "moved to the tree plugin's block: - plugin: tree with name, domain and top"},
    {"domain", "moved to the tree plugin's block: - plugin: tree with name, domain and top"},
    {"parent",
     "moved to the tree plugin's block: - plugin: tree with name, domain and top (the top server's "
     "address; the parent is learned from it)"},
    {"contact", "moved to the tree plugin's block: - plugin: tree, setting contact"},
    {"register_expires", "moved to the tree plugin's block: - plugin: tree, setting register_expires"},
};
constexpr const char* kSeeTreeDocs = " (docs/management-network.md)";

void reject_retired(const Reader& r, const YAML::Node& server) {
  for (const auto& entry : server) {
    const auto name = entry.first.as<std::string>();
    for (const auto& [key, where] : kRetiredServerKeys)  // at the key's line: an empty value has none
      if (name == key) r.fail("server." + name, entry.first, std::string(where) + kSeeTreeDocs);
  }
}

void read_tls_verification(const Reader& r, const YAML::Node& node, ServerConfig& server) {
  if (const YAML::Node clients = node["tls_verify_clients"]) {
    static const std::map<std::string, TlsClientVerification> kModes{
        {"none", TlsClientVerification::kNone},
        {"optional", TlsClientVerification::kOptional},
        {"required", TlsClientVerification::kRequired}};
    const auto mode = kModes.find(r.scalar("server.tls_verify_clients", clients));
    if (mode == kModes.end())
      r.fail("server.tls_verify_clients", clients, "must be none, optional or required");
    server.tls_verify_clients = mode->second;
  }
  if (node["tls_verify_servers"])
    server.tls_verify_servers = r.boolean("server.tls_verify_servers", node["tls_verify_servers"]);
}

// "127.0.0.1:8080" or "[::1]:8080" into host and port; "" when it is neither.
std::string split_http_listen(const std::string& text, HttpSettings& http) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos) return "expected IPV4:PORT or [IPV6]:PORT, not '" + text + "'";
  std::string host = text.substr(0, colon);
  const bool bracketed = host.size() > 2 && host.front() == '[' && host.back() == ']';
  if (bracketed) host = host.substr(1, host.size() - 2);
  unsigned char address[16];
  const bool v4 = !bracketed && ::inet_pton(AF_INET, host.c_str(), address) == 1;
  const bool v6 = bracketed && ::inet_pton(AF_INET6, host.c_str(), address) == 1;
  if (!v4 && !v6) return "expected IPV4:PORT or [IPV6]:PORT (an address, not a name), not '" + text + "'";
  const std::string port = text.substr(colon + 1);
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || ptr != port.data() + port.size() || value == 0 || value > 65535)
    return "'" + text + "': port must be 1..65535";
  http.host = host;
  http.port = static_cast<uint16_t>(value);
  return {};
}

// The token's first line, from a regular file only its owner may read: like
// every other secret of the server.
std::string read_token(const std::string& path, std::string& problem) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    problem = "cannot read " + path + ": " + std::strerror(errno);
    return {};
  }
  if (!S_ISREG(info.st_mode)) {
    problem = path + " is not a file";
    return {};
  }
  if ((info.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%03o", static_cast<unsigned>(info.st_mode & 0777));
    problem = path + " is open to group or others (mode " + mode + "): chmod 600 " + path;
    return {};
  }
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) problem = "cannot read " + path + " (empty?)";
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (problem.empty() && line.size() < 16) problem = path + ": the token must be at least 16 characters";
  return line;
}

bool loopback(const std::string& host) {
  unsigned char address[16];
  if (::inet_pton(AF_INET, host.c_str(), address) == 1) return address[0] == 127;
  return ::inet_pton(AF_INET6, host.c_str(), address) == 1 && IN6_IS_ADDR_LOOPBACK(address);
}

}  // namespace

bool HttpSettings::serves_command(const std::string& command) const {
  return std::any_of(commands.begin(), commands.end(), [&](const std::string& pattern) {
    return ::fnmatch(pattern.c_str(), command.c_str(), 0) == 0;
  });
}

namespace {

void read_http(const Reader& r, const YAML::Node& node, HttpSettings& http) {
  r.require_map("server.http", node);
  r.reject_unknown("server.http.", node);
  const std::string p = "server.http.";
  if (node["token_file"] && !node["token_file"].IsNull()) {
    http.token_file = r.scalar(p + "token_file", node["token_file"]);
    if (!http.token_file.empty()) {
      std::string problem;
      http.token = read_token(http.token_file, problem);
      if (!problem.empty()) r.fail(p + "token_file", node["token_file"], problem);
    }
  }
  if (node["commands"]) {
    http.commands = r.scalar_list(p + "commands", node["commands"]);
    for (const std::string& name : http.commands)
      if (name.empty() ||
          name.find_first_not_of("abcdefghijklmnopqrstuvwxyz"
                                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_*") != std::string::npos)
        r.fail(p + "commands", node["commands"],
               "'" + name + "' is not a command name or pattern (letters, digits, '.', '-', '_' and '*')");
  }
  if (!node["listen"] || node["listen"].IsNull()) return;
  const std::string listen = r.scalar(p + "listen", node["listen"]);
  if (listen.empty()) return;
  const std::string problem = split_http_listen(listen, http);
  if (!problem.empty()) r.fail(p + "listen", node["listen"], problem);
  if (!loopback(http.host) && http.token_file.empty())
    r.fail(p + "token_file", node["listen"],
           "required: " + listen + " is not a loopback address, and /api/ runs admin commands");
}

// A PEM file holding at least one certificate (and, with `key`, the key that
// goes with the first one), as the TLS code will load it; "" when it does.
std::string pem_problem(const std::string& file, bool key) {
  std::unique_ptr<BIO, decltype(&BIO_free)> in(BIO_new_file(file.c_str(), "r"), &BIO_free);
  if (!in) return "cannot read " + file + ": " + std::strerror(errno);
  std::unique_ptr<X509, decltype(&X509_free)> certificate(
      PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr), &X509_free);
  if (!certificate) return file + " holds no PEM certificate";
  if (!key) return {};
  BIO_reset(in.get());
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> private_key(
      PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
  if (!private_key) return file + " holds no PEM private key";
  if (X509_check_private_key(certificate.get(), private_key.get()) != 1)
    return "the key in " + file + " does not match its certificate";
  return {};
}

// What the server opens at start, checked when the config is read, so that
// --check-config refuses it too: the certificate directory and what its tls:
// listeners load from it, the plugin dirs, the admin socket's directory.
void check_server_files(const Reader& r, const YAML::Node& node, const ServerConfig& server, bool wants_tls) {
  namespace fs = std::filesystem;
  std::error_code error;
  // The key's own line when the config gives it, else the server: block's.
  const auto at = [&node](const char* key) { return node[key] ? node[key] : node; };
  if (!server.tls_certificates.empty()) {
    const std::string key = "server.tls_certificates";
    if (!fs::is_directory(server.tls_certificates, error))
      r.fail(key, at("tls_certificates"), "'" + server.tls_certificates + "' is not a directory");
    const std::string agent = server.tls_certificates + "/agent.pem";
    const std::string cafile = server.tls_certificates + "/cafile.pem";
    if (wants_tls)
      if (const std::string problem = pem_problem(agent, true); !problem.empty())
        r.fail(key, at("tls_certificates"), problem + " (agent.pem: the key and certificate chain)");
    if (fs::exists(cafile, error)) {
      if (const std::string problem = pem_problem(cafile, false); !problem.empty())
        r.fail(key, at("tls_certificates"), problem);
    } else if (wants_tls && server.tls_verify_clients == TlsClientVerification::kRequired) {
      r.fail("server.tls_verify_clients", at("tls_verify_clients"),
             "required needs the CA certificates in " + cafile);
    }
  }
  for (const std::string& dir : server.plugin_dirs)
    if (!fs::is_directory(dir, error))
      r.fail("server.plugin_dirs", at("plugin_dirs"), "'" + dir + "' is not a directory");
  if (!server.admin_socket.empty()) {
    const fs::path socket(server.admin_socket);
    const std::string directory = socket.has_parent_path() ? socket.parent_path().string() : ".";
    if (server.admin_socket.size() > 107)
      r.fail("server.admin_socket", at("admin_socket"), "a Unix socket path has at most 107 characters");
    if (!fs::is_directory(directory, error))
      r.fail("server.admin_socket", at("admin_socket"), "its directory " + directory + " does not exist");
    if (fs::exists(socket, error) && !fs::is_socket(socket, error))
      r.fail("server.admin_socket", at("admin_socket"),
             "'" + server.admin_socket + "' exists and is no socket");
  }
}

void read_server(const Reader& r, const YAML::Node& node, ServerConfig& server) {
  r.require_map("server", node);
  reject_retired(r, node);
  r.reject_unknown("server.", node);
  if (!node["listen"]) r.fail("server.listen", node, "missing (e.g. [udp:127.0.0.1:5060])");
  for (const auto& text : r.scalar_list("server.listen", node["listen"])) {
    try {
      server.listen.push_back(parse_listen_address(text));
    } catch (const std::invalid_argument& e) {
      r.fail("server.listen", node["listen"], e.what());
    }
  }
  if (server.listen.empty()) r.fail("server.listen", node["listen"], "needs at least one address");
  if (node["plugin_dirs"]) server.plugin_dirs = r.scalar_list("server.plugin_dirs", node["plugin_dirs"]);
  if (node["tls_certificates"])
    server.tls_certificates = r.scalar("server.tls_certificates", node["tls_certificates"]);
  read_tls_verification(r, node, server);
  if (node["admin_socket"] && !node["admin_socket"].IsNull())
    server.admin_socket = r.scalar("server.admin_socket", node["admin_socket"]);
  read_bounded(r, node, "server.", "loops", 0, 256, server.loops);
  int64_t coalesce_us = server.udp_coalesce.count();
  read_bounded(r, node, "server.", "udp_coalesce_us", 0, 10000, coalesce_us);
  server.udp_coalesce = std::chrono::microseconds(coalesce_us);
  if (node["udp_buffer_bytes"]) {
    server.udp_buffer_bytes = r.integer("server.udp_buffer_bytes", node["udp_buffer_bytes"]);
    if (server.udp_buffer_bytes < 0)
      r.fail("server.udp_buffer_bytes", node["udp_buffer_bytes"], "must be >= 0");
  }
  const bool wants_tls = std::any_of(server.listen.begin(), server.listen.end(),
                                     [](const auto& l) { return l.transport == "tls"; });
  if (wants_tls && server.tls_certificates.empty())
    r.fail("server.tls_certificates", node, "a tls: listener needs a certificate directory");
  check_server_files(r, node, server, wants_tls);
  if (node["limits"]) read_limits(r, node["limits"], server.limits);
  if (node["connections"]) read_connections(r, node["connections"], server.connections);
  read_flood_protection(r, node, server);
  check_overload_against_coalescing(r, node, server);
  if (node["http"]) read_http(r, node["http"], server.http);
  server.connections.max_message_bytes = server.limits.max_message_bytes;
  if (server.connections.max_connections == 0) server.connections.max_connections = default_max_connections();
}

void read_log(const Reader& r, const YAML::Node& node, LogConfig& log) {
  r.require_map("log", node);
  r.reject_unknown("log.", node);
  if (node["level"]) {
    log.level = r.scalar("log.level", node["level"]);
    static const std::set<std::string> levels{"trace", "debug", "info", "warn", "error"};
    if (!levels.count(log.level))
      r.fail("log.level", node["level"], "must be trace, debug, info, warn or error");
  }
  if (node["sink"]) log.sink = r.scalar("log.sink", node["sink"]);
  if (log.sink.empty()) r.fail("log.sink", node["sink"], "must be stderr or a file path");
  if (log.sink != "stderr") {  // opened for appending at start: the file, or its directory, writable
    const std::filesystem::path file(log.sink);
    const std::string directory = file.has_parent_path() ? file.parent_path().string() : ".";
    const bool exists = ::access(log.sink.c_str(), F_OK) == 0;
    if (::access(exists ? log.sink.c_str() : directory.c_str(), exists ? W_OK : W_OK | X_OK) != 0)
      r.fail("log.sink", node["sink"],
             "cannot write " + (exists ? log.sink : "a file in " + directory) + ": " + std::strerror(errno));
  }
  if (node["format"]) {
    log.format = r.scalar("log.format", node["format"]);
    if (log.format != "text" && log.format != "json")
      r.fail("log.format", node["format"], "must be text or json");
  }
  if (node["sofia_level"]) {
    log.sofia_level = static_cast<int>(r.integer("log.sofia_level", node["sofia_level"]));
    if (log.sofia_level < 0 || log.sofia_level > 9)
      r.fail("log.sofia_level", node["sofia_level"], "must be 0..9");
  }
}

void read_plugins(const Reader& r, const YAML::Node& node, std::vector<PluginEntry>& plugins) {
  if (node.IsNull()) return;  // "plugins:" with nothing: a server that only answers OPTIONS
  if (!node.IsSequence()) r.fail("plugins", node, "expected a list of {plugin: NAME, ...settings}");
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string key = "plugins[" + std::to_string(i) + "]";
    const YAML::Node entry = node[i];
    r.require_map(key, entry);
    if (!entry["plugin"]) r.fail(key + ".plugin", entry, "missing (the plugin's name)");
    PluginEntry plugin;
    plugin.name = r.scalar(key + ".plugin", entry["plugin"]);
    if (!valid_token(plugin.name)) r.fail(key + ".plugin", entry["plugin"], "not a plugin name");
    if (plugin.name == "redirect")
      r.fail(key + ".plugin", entry["plugin"],
             std::string("the redirect plugin is now `tree`; its parent_contact is gone: the parent is "
                         "learned from the top; give the tree block name, domain and top") +
                 kSeeTreeDocs);
    plugin.key = key;
    plugin.where = where_in(r.file(), entry);
    plugin.settings = entry;  // keeps the marks (lines) of every setting
    for (const auto& kv : entry) {
      const auto name = kv.first.as<std::string>();
      if (name == "plugin") continue;
      auto it = r.origins().find(key + "." + name);
      if (it != r.origins().end()) plugin.overridden.emplace_back(name, it->second);
    }
    plugins.push_back(std::move(plugin));
  }
}

// Writes the block headers ("server:", "  limits:") `blocks` needs beyond
// those already `open`; a blank line before each top-level block but the first.
void open_blocks(std::ostream& out, std::vector<std::string>& open, const std::vector<std::string>& blocks) {
  size_t common = 0;
  while (common < open.size() && common < blocks.size() && open[common] == blocks[common]) ++common;
  if (common == 0 && !open.empty()) out << "\n";
  for (size_t i = common; i < blocks.size(); ++i) out << std::string(2 * i, ' ') << blocks[i] << ":\n";
  open = blocks;
}

// A key with a default is written with it; a required one with its example;
// any other shows its example commented out.
// `given` (YAML text) replaces the default.
void write_core_setting(std::ostream& out, const CoreSetting& setting, const std::string& indent,
                        const std::string& leaf, const char* given) {
  const auto& spec = setting.spec;
  const char* value = spec.default_value ? spec.default_value : setting.example;
  const std::string help = std::string(spec.help) + (setting.required ? " (required)" : "");
  write_setting(out, indent, leaf, given ? given : yaml_value(spec, value), help,
                !given && !spec.default_value && !setting.required);
}

}  // namespace

size_t default_max_connections(size_t reserved) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 10000;
  const size_t descriptors = static_cast<size_t>(limit.rlim_cur);
  return descriptors > reserved + 16 ? descriptors - reserved : 16;
}

std::span<const CoreSetting> core_settings() { return kCoreSettings; }

std::string describe_default(const SettingSpec& spec, bool required) {
  if (spec.default_value) return yaml_value(spec, spec.default_value);
  return required ? "(required)" : "(unset)";
}

std::string yaml_value(const SettingSpec& spec, const char* value) {
  if (!value) return {};
  if (spec.type != SettingType::kString && spec.type != SettingType::kPath) return value;
  YAML::Emitter text;
  text << std::string(value);  // quoted when YAML needs it, "" when empty
  return text.c_str();
}

void write_setting(std::ostream& out, const std::string& indent, const std::string& key,
                   const std::string& value, const std::string& help, bool commented) {
  out << indent << "# " << help << "\n" << indent << (commented ? "# " : "") << key << ":";
  out << (value.empty() ? "" : " " + value) << "\n";
}

void write_core_defaults(std::ostream& out, const std::map<std::string, std::string>& values) {
  std::vector<std::string> open;  // the blocks the previous key was in
  for (const auto& setting : kCoreSettings) {
    auto blocks = split_path(setting.spec.key);
    const std::string leaf = blocks.back();
    blocks.pop_back();
    open_blocks(out, open, blocks);
    const auto given = values.find(setting.spec.key);
    write_core_setting(out, setting, std::string(2 * blocks.size(), ' '), leaf,
                       given == values.end() ? nullptr : given->second.c_str());
  }
}

std::string ListenAddress::contact_for(const std::string& user) const {
  const std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  const std::string hostport = (user.empty() ? "" : user + "@") + h + ":" + std::to_string(port);
  if (transport == "tls") return "sips:" + hostport;
  return "sip:" + hostport + (transport == "tcp" ? ";transport=tcp" : "");
}

ListenAddress parse_listen_address(const std::string& text) {
  const auto colon = text.find(':');
  const auto last = text.rfind(':');
  if (colon == std::string::npos || last == colon)
    throw std::invalid_argument("'" + text + "' is not transport:host:port");
  ListenAddress a;
  a.transport = text.substr(0, colon);
  if (a.transport != "udp" && a.transport != "tcp" && a.transport != "tls")
    throw std::invalid_argument("'" + text + "': transport must be udp, tcp or tls");
  a.host = text.substr(colon + 1, last - colon - 1);
  if (a.host.size() > 2 && a.host.front() == '[' && a.host.back() == ']')
    a.host = a.host.substr(1, a.host.size() - 2);
  if (a.host.empty()) throw std::invalid_argument("'" + text + "': empty host");
  const std::string port = text.substr(last + 1);
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || ptr != port.data() + port.size() || value == 0 || value > 65535)
    throw std::invalid_argument("'" + text + "': port must be 1..65535");
  a.port = static_cast<uint16_t>(value);
  return a;
}

Config load_config(const std::string& file, const std::vector<std::string>& overrides) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(file);
  } catch (const YAML::BadFile&) {
    throw ConfigFileError(file + ": cannot read the file");
  } catch (const YAML::ParserException& e) {
    throw ConfigFileError(file + ":" + std::to_string(e.mark.line + 1) + ": not valid YAML: " + e.msg);
  }
  if (!root.IsMap()) throw ConfigFileError(file + ": expected a map with server:, log: and plugins:");

  OverrideOrigins origins;
  for (const auto& o : overrides) apply_override(root, o, origins);

  const Reader r(file, origins);
  r.reject_unknown("", root, {"plugins"});
  Config config;
  config.file = file;
  if (!root["server"]) r.fail("server", root, "missing");
  read_server(r, root["server"], config.server);
  if (root["log"]) read_log(r, root["log"], config.log);
  if (root["plugins"]) read_plugins(r, root["plugins"], config.plugins);
  return config;
}

}  // namespace homesip::core
