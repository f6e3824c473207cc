// The daemon's configuration: a YAML file plus --set overrides, validated
// against the core's own keys. Plugin settings are kept as YAML here and
// validated by the plugin host against each plugin's declared settings.
#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "homesip/settings.hpp"
#include "message_limits.hpp"
#include "overload_guard.hpp"
#include "source_limiter.hpp"

namespace homesip::core {

// A config problem, already located: "family.yaml:12: server.listen: ...".
class ConfigFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ListenAddress {
  std::string transport;  // udp, tcp or tls
  std::string host;
  uint16_t port = 0;
  std::string text() const { return transport + ":" + host + ":" + std::to_string(port); }
  // "sip:NAME@host:port" (with ;transport=tcp, or sips: for tls); "sip:host:port" for no user.
  std::string contact_for(const std::string& user) const;
};

// Bounds on each TCP/TLS connection (server.connections).
struct StreamLimits {
  size_t max_connections = 0;                // 0: derived from RLIMIT_NOFILE at start
  std::chrono::seconds idle_timeout{300};    // no byte in or out for this long: closed
  std::chrono::seconds message_timeout{20};  // a message (or the first one) must arrive within this
  size_t max_output_bytes = 1024 * 1024;     // responses a peer does not read: closed beyond
  size_t max_message_bytes = 65535;          // from server.limits
};

// The default for server.connections.max: what the descriptor limit leaves
// after `reserved` for listeners, stores, plugins and the log.
size_t default_max_connections(size_t reserved = 128);

// Whether a tls: listener asks its clients for a certificate
// (server.tls_verify_clients): never; optional (asked for, verified against
// cafile.pem when given, the handshake refused when it is invalid); required
// (a client without a valid certificate is refused).
enum class TlsClientVerification { kNone, kOptional, kRequired };

// server.http: the HTTP listener for /metrics, /api/ and plugins' pages.
struct HttpSettings {
  std::string host;  // "127.0.0.1" or "::1"; empty: no listener
  uint16_t port = 0;
  std::string token_file;  // empty: no token asked for (a loopback listener only)
  std::string token;       // the token_file's first line, read while the config is checked
  // The admin commands /api/ runs (names, or patterns with '*'): a GET must not
  // change anything, so commands that write (user-put, user-del) are not in the default.
  std::vector<std::string> commands = {"help",     "stats",   "plugins",     "bindings",   "*.tree",
                                       "*.locate", "*.users", "*.user-list", "*.entities", "*.state"};
  // True when `command` matches one of `commands`.
  bool serves_command(const std::string& command) const;
  bool enabled() const { return !host.empty(); }
};

// The core's own keys. Where the server stands in the management network
// (name, domain, top, upward registration) is the tree plugin's block.
struct ServerConfig {
  std::vector<ListenAddress> listen;
  std::vector<std::string> plugin_dirs;
  std::string tls_certificates;  // directory with agent.pem and cafile.pem, for tls: listeners
  TlsClientVerification tls_verify_clients = TlsClientVerification::kOptional;
  // Outgoing TLS checks the server's certificate against cafile.pem and that
  // it names the host of the URI.
  bool tls_verify_servers = true;
  std::string admin_socket;  // Unix socket homesipctl talks to; empty: none
  int64_t udp_buffer_bytes = 4 * 1024 * 1024;
  // server.udp_coalesce_us: a loop woken by datagrams more often than once
  // per this window reads them once per window (wake_coalescer.hpp); 0: off.
  std::chrono::microseconds udp_coalesce{4000};
  // server.loops: event loops serving UDP (0: one per CPU core). Each has its
  // own thread and its own SO_REUSEPORT socket on every UDP listener; the
  // first is the main loop, which also serves TCP/TLS, nta and the admin.
  uint32_t loops = 1;
  MessageLimits limits;      // server.limits
  StreamLimits connections;  // server.connections
  // server.limits.udp_amplification: a UDP response to a request without an
  // authenticated identity is not sent when longer than this many times the
  // request (0: no bound).
  uint32_t udp_amplification = 3;
  RateLimitSettings rate_limit;  // server.rate_limit
  OverloadSettings overload;     // server.overload
  HttpSettings http;             // server.http
};

struct LogConfig {
  std::string level = "info";   // trace, debug, info, warn, error
  std::string sink = "stderr";  // stderr, or a file path
  std::string format = "text";  // text, or json (one object per line, for log shippers)
  int sofia_level = 0;          // sofia-sip's own debug level, 0..9
};

// Where a value came from, for error messages.
struct Located {
  std::string where;  // "family.yaml:12" or "--set plugins.registrar.min_expires"
  std::string key;    // "plugins[1].min_expires"
  std::string describe(const std::string& problem) const { return where + ": " + key + ": " + problem; }
};

struct PluginEntry {
  std::string name;
  YAML::Node settings;  // the entry's map; its "plugin" key is the name, not a setting
  std::string key;      // "plugins[1]"
  std::string where;    // "family.yaml:14"
  // Setting key -> origin, for the settings that came from --set.
  std::vector<std::pair<std::string, std::string>> overridden;
};

struct Config {
  std::string file;
  ServerConfig server;
  LogConfig log;
  std::vector<PluginEntry> plugins;
};

// One of the core's own keys, declared like a plugin's setting so that both
// are described the same way (--describe-plugin server, --dump-default). The
// key is the whole dotted path ("server.limits.max_headers").
struct CoreSetting {
  SettingSpec spec;     // spec.default_value: nullptr when the key has no default
  bool required;        // the config must give it
  const char* example;  // for a key without default: what --dump-default shows
};

// Every key of the server: and log: blocks, in config order. The config's
// validation takes the keys it accepts from this table.
std::span<const CoreSetting> core_settings();

// What --describe-plugin shows as a setting's default.
std::string describe_default(const SettingSpec& spec, bool required);

// A setting's value as YAML text: "" for an empty string, lists as given.
std::string yaml_value(const SettingSpec& spec, const char* value);

// Writes one setting of a --dump-default config: its help as a comment line,
// then "key: value", both after `indent` (which may itself comment them out:
// "  #   "); `commented` comments out the value line alone.
void write_setting(std::ostream& out, const std::string& indent, const std::string& key,
                   const std::string& value, const std::string& help, bool commented);

// Writes the server: and log: blocks with every key of core_settings(): its
// value in `values` (YAML text by key), else its default, else its example
// (commented out unless the key is required).
void write_core_defaults(std::ostream& out, const std::map<std::string, std::string>& values = {});

// Reads `file`, applies `overrides` ("key.path=value", value parsed as YAML)
// and validates the core's keys. Throws ConfigFileError.
Config load_config(const std::string& file, const std::vector<std::string>& overrides);

// Parses "udp:127.0.0.1:5060" (also "[::1]"). Throws std::invalid_argument.
ListenAddress parse_listen_address(const std::string& text);

}  // namespace homesip::core
