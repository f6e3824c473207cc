// `homesipd --check-config` holds (issue 15 part 4): a config it accepts starts, and every setting
// of the core and of every shipped plugin with a wrong value is refused by --check-config and at
// start alike, with the same exit code and the same message naming file, line and key.
//
// The keys come from `homesipd --describe-plugin NAME`: a setting added without a row in the tables
// below fails the test, so a new setting cannot slip past the check.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace homesip::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string homesipctl() { return HOMESIP_TEST_HOMESIPCTL; }

// A config as ordered key -> YAML value: the core's dotted keys, each plugin's settings.
struct PluginBlock {
  std::string name;
  std::vector<std::pair<std::string, std::string>> settings;
};
struct ConfigSpec {
  std::map<std::string, std::string> core;  // sorted: keys of one block stay together
  std::vector<PluginBlock> plugins;

  void set_core(const std::string& key, const std::string& value) { core[key] = value; }
  void set_plugin(size_t index, const std::string& key, const std::string& value) {
    auto& settings = plugins.at(index).settings;
    for (auto& [k, v] : settings)
      if (k == key) {
        v = value;
        return;
      }
    settings.emplace_back(key, value);
  }
};

// The YAML text and the line (1-based) of each key: "server.listen", "plugins[1].top".
struct WrittenConfig {
  std::string text;
  std::map<std::string, int> lines;
};

std::vector<std::string> split_dots(const std::string& key) {
  std::vector<std::string> parts;
  std::stringstream in(key);
  for (std::string part; std::getline(in, part, '.');) parts.push_back(part);
  return parts;
}

WrittenConfig write_config(const ConfigSpec& spec) {
  WrittenConfig out;
  int line = 0;
  const auto add = [&](const std::string& text) {
    out.text += text + "\n";
    ++line;
  };
  std::vector<std::string> open;
  for (const auto& [key, value] : spec.core) {
    std::vector<std::string> parts = split_dots(key);
    const std::string leaf = parts.back();
    parts.pop_back();
    size_t common = 0;
    while (common < open.size() && common < parts.size() && open[common] == parts[common]) ++common;
    for (size_t i = common; i < parts.size(); ++i) add(std::string(2 * i, ' ') + parts[i] + ":");
    open = parts;
    add(std::string(2 * parts.size(), ' ') + leaf + ": " + value);
    out.lines[key] = line;
  }
  add("plugins:");
  for (size_t i = 0; i < spec.plugins.size(); ++i) {
    add("  - plugin: " + spec.plugins[i].name);
    for (const auto& [key, value] : spec.plugins[i].settings) {
      add("    " + key + ": " + value);
      out.lines["plugins[" + std::to_string(i) + "]." + key] = line;
    }
  }
  return out;
}

// The settings `homesipd --describe-plugin NAME` lists: "  key: default    # help" lines after
// the header, up to the first line that is not indented.
std::vector<std::string> described_keys(const std::string& name, const fs::path& config) {
  std::string out;
  EXPECT_EQ(run({homesipd_path(), "--describe-plugin", name, "--config", config.string()}, &out, 10s), 0)
      << out;
  std::vector<std::string> keys;
  std::stringstream in(out);
  std::string line;
  bool in_settings = false;
  while (std::getline(in, line)) {
    if (!in_settings) {
      in_settings = line.starts_with("  file: ");
      continue;
    }
    if (!line.starts_with("  ")) break;
    keys.push_back(line.substr(2, line.find(':') - 2));
  }
  return keys;
}

// One wrong value: set `key` to `value` (plus `also`), expect a refusal naming `expected_key`.
struct WrongValue {
  using Edits = std::vector<std::pair<std::string, std::string>>;
  WrongValue(std::string k, std::string v, std::string expected = "", Edits with = {})
      : key(std::move(k)), value(std::move(v)), expected_key(std::move(expected)), also(std::move(with)) {}
  std::string key;
  std::string value;
  std::string expected_key;  // "": `key` itself
  Edits also;                // other keys set with it
};

struct Outcome {
  int code;
  std::string error;  // the "homesipd: ..." line
};

std::string error_line(const std::string& output) {
  std::stringstream in(output);
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("homesipd: ")) return line;
  return "(no homesipd: line in) " + output;
}

class CheckConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string out;
    ASSERT_EQ(run({homesipctl(), "pki", "init", (dir_ / "pki").string()}, &out, 30s), 0) << out;
    ASSERT_EQ(run({homesipctl(), "pki", "issue", (dir_ / "pki").string(), "H1@C1.D1", "--ip", "127.0.0.1",
                   "--out", (dir_ / "tls").string()},
                  &out, 30s),
              0)
        << out;
    fs::create_directories(dir_ / "empty");
    write_secret("tree.password", "tree-secret\n");
    write_secret("ldap.password", "ldap-secret\n");
    write_file(dir_ / "open.password", "everyone-reads-this\n");
    fs::permissions(dir_ / "open.password", fs::perms::owner_read | fs::perms::owner_write |
                                                fs::perms::group_read | fs::perms::others_read);
  }

  void write_secret(const std::string& name, const std::string& text) {
    write_file(dir_ / name, text);
    fs::permissions(dir_ / name, fs::perms::owner_read | fs::perms::owner_write);
  }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // Every core key given, at a valid value.
  void base_core(ConfigSpec& spec) const {
    spec.core = {
        {"server.listen",
         "[udp:127.0.0.1:" + std::to_string(port_) + ", tls:127.0.0.1:" + std::to_string(tls_port_) + "]"},
        {"server.plugin_dirs",
         "[" + plugin_dir() + ", " + std::string(HOMESIP_TEST_EXAMPLE_PLUGIN_DIR) + "]"},
        {"server.tls_certificates", path("tls")},
        {"server.tls_verify_clients", "optional"},
        {"server.tls_verify_servers", "true"},
        {"server.admin_socket", path("h1.sock")},
        {"server.loops", "2"},
        {"server.udp_buffer_bytes", "1048576"},
        {"server.udp_coalesce_us", "500"},
        {"server.limits.max_message_bytes", "65535"},
        {"server.limits.max_headers", "100"},
        {"server.limits.max_header_values", "64"},
        {"server.limits.max_contacts", "32"},
        {"server.limits.udp_amplification", "3"},
        {"server.connections.max", "1000"},
        {"server.connections.idle_timeout_s", "300"},
        {"server.connections.message_timeout_s", "20"},
        {"server.connections.max_output_bytes", "1048576"},
        {"server.rate_limit.requests_per_second", "100"},
        {"server.rate_limit.burst", "200"},
        {"server.rate_limit.action", "drop"},
        {"server.rate_limit.sources", "65536"},
        {"server.rate_limit.exempt", "[127.0.0.0/8]"},
        {"server.overload.max_pending", "10000"},
        {"server.overload.max_loop_lag_ms", "1000"},
        {"server.overload.max_queue_delay_ms", "1000"},
        {"server.overload.retry_after_min_s", "5"},
        {"server.overload.retry_after_max_s", "10"},
        {"log.level", "info"},
        {"log.sink", path("homesipd.log")},
        {"log.sofia_level", "0"},
    };
  }

  // A family server H1@C1.D1 with every shipped plugin but location-ldap, every setting given.
  ConfigSpec family_config() const {
    ConfigSpec spec;
    base_core(spec);
    spec.plugins = {
        {"location-sqlite",
         {{"path", path("h1.sqlite")},
          {"synchronous", "full"},
          {"busy_timeout_ms", "5000"},
          {"sweep_interval_s", "60"},
          {"max_batch", "1024"},
          {"retry_interval_ms", "1000"},
          {"commit_window_us", "8000"},
          {"commit_batch", "16"}}},
        {"tree",
         {{"name", "H1"},
          {"domain", "C1.D1"},
          {"top", "sip:127.0.0.1:" + std::to_string(top_port_)},
          {"register_expires", "120"},
          {"contact", "\"\""},
          {"keepalive_interval", "5"},
          {"keepalive_misses", "3"},
          {"redirect_methods", "[INVITE, MESSAGE]"},
          {"resolver_cache_entries", "1024"},
          {"resolver_cache_seconds", "60"},
          {"password_file", path("tree.password")}}},
        {"auth-tls", {{"role", "server"}}},
        {"auth-digest",
         {{"realm", "\"\""},
          {"algorithms", "[SHA-256, MD5]"},
          {"secret_file", path("nonce.secret")},
          {"nonce_lifetime", "300"},
          {"replay_window_entries", "100000"},
          {"proxy_auth", "true"},
          {"ban_after_failures", "10"},
          {"ban_window", "60"},
          {"ban_seconds", "600"}}},
        {"policy",
         {{"domain", "\"\""},
          {"register", "[owner, member]"},
          {"call", "[owner, member]"},
          {"calls_from_outside", "true"},
          {"appliances", "[lamp]"},
          {"control", "[owner]"},
          {"watch", "[owner, member]"},
          {"grants", "[\"U3@C1.D1.H1 control lamp\"]"},
          {"binding_lookups", "[owner, server]"}}},
        {"registrar",
         {{"min_expires", "60"},
          {"max_expires", "86400"},
          {"default_expires", "3600"},
          {"max_bindings_per_aor", "10"},
          {"max_contact_bytes", "512"},
          {"retry_after_s", "5"},
          {"domains", "[]"}}},
        {"virtual-lamp",
         {{"device", "lamp"},
          {"domain", "\"\""},
          {"initial_state", "off"},
          {"owner", "U1@C1.D1.H1"},
          {"require_identity", "false"}}},
    };
    return spec;
  }

  // location-ldap (its directory need not answer for the settings to be judged) and a registrar.
  ConfigSpec ldap_config() const {
    ConfigSpec spec;
    base_core(spec);
    spec.plugins = {
        {"location-ldap",
         {{"uri", "ldap://127.0.0.1:" + std::to_string(top_port_)},
          {"base_dn", "o=homesip"},
          {"bindings_dn", "\"\""},
          {"users_dn", "ou=users,o=homesip"},
          {"bind_dn", "cn=admin,o=homesip"},
          {"bind_password", "\"\""},
          {"password_file", path("ldap.password")},
          {"sasl_mech", "\"\""},
          {"starttls", "false"},
          {"tls_ca_file", path("tls/cafile.pem")},
          {"tls_verify", "true"},
          {"timeout_ms", "2000"},
          {"cache_ms", "1000"},
          {"reconnect_min_ms", "500"},
          {"reconnect_max_ms", "30000"}}},
        {"registrar", {{"domains", "[C1.D1.H1]"}}},
    };
    return spec;
  }

  // The appliance plugins and the status page on a server without the tree (the hub's own
  // domain), the bridge's broker a port nobody answers (it reconnects; the config still starts).
  // The bridge's password and TLS files are left out: an empty path is not one.
  ConfigSpec appliances_config() const {
    ConfigSpec spec;
    base_core(spec);
    spec.plugins = {
        {"appliance-hub",
         {{"domain", "C1.D1.H1"},
          {"min_expires", "60"},
          {"max_expires", "3600"},
          {"default_expires", "600"},
          {"publish_expires", "3600"},
          {"max_subscriptions", "1000"},
          {"max_subscriptions_per_entity", "100"},
          {"max_publications", "1000"},
          {"published", "[sensor.door]"}}},
        {"appliances-virtual", {{"entities", "[\"light.kitchen name='Kitchen light'\"]"}}},
        {"mqtt-bridge",
         {{"host", "127.0.0.1"},
          {"port", std::to_string(top_port_)},
          {"base_topic", "zigbee2mqtt"},
          {"client_id", "h1"},
          {"username", "\"\""},
          {"keepalive_s", "30"},
          {"reconnect_min_s", "1"},
          {"reconnect_max_s", "30"},
          {"answer_timeout_ms", "3000"},
          {"devices", "[\"lamp light.lamp\"]"}}},
        {"status-page", {{"title", "H1"}, {"refresh_ms", "2000"}}},
    };
    return spec;
  }

  fs::path write(const ConfigSpec& spec, WrittenConfig* written = nullptr) {
    const WrittenConfig config = write_config(spec);
    const fs::path file = dir_ / "check.yaml";
    write_file(file, config.text);
    if (written) *written = config;
    return file;
  }

  Outcome check(const fs::path& file) {
    std::string out;
    const int code = run({homesipd_path(), "--config", file.string(), "--check-config"}, &out, 10s);
    return {code, out};
  }

  // A wrong config must not start: homesipd exits at once (a bound, never a wait for a stop).
  Outcome start_refused(const fs::path& file) {
    std::string out;
    const int code = run({homesipd_path(), "--config", file.string()}, &out, 10s);
    return {code, out};
  }

  // The config starts: it answers an OPTIONS over UDP; stopped by its PID.
  void expect_starts(const fs::path& file) {
    Process server({homesipd_path(), "--config", file.string()}, dir_ / "start.out");
    const std::string options = "OPTIONS sip:127.0.0.1:" + std::to_string(port_) +
                                " SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:$PORT$;branch=z9hG4bK-check\n"
                                "From: <sip:probe@127.0.0.1>;tag=1\nTo: <sip:127.0.0.1>\n"
                                "Call-ID: check-config-start\nCSeq: 1 OPTIONS\nContent-Length: 0\n\n";
    int status = 0;
    EXPECT_TRUE(eventually(
        [&] {
          status = server.running() ? status_of(udp_exchange(port_, options, 300ms)) : -1;
          return status != 0;
        },
        10s))
        << read_file(dir_ / "start.out");
    EXPECT_GT(status, 0) << "homesipd exited:\n" << read_file(dir_ / "start.out");
    EXPECT_TRUE(server.running()) << read_file(dir_ / "start.out");
    EXPECT_EQ(server.stop(), 0) << read_file(dir_ / "start.out");
  }

  void expect_base_holds(const ConfigSpec& spec) {
    const fs::path file = write(spec);
    const Outcome checked = check(file);
    ASSERT_EQ(checked.code, 0) << checked.error;
    EXPECT_EQ(checked.error, file.string() + ": ok (" + std::to_string(spec.plugins.size()) + " plugins)\n");
    expect_starts(file);
  }

  // Both ways refuse `file` with the same code and line, naming `key` (at its line when the file gives it).
  void expect_refused_alike(const fs::path& file, const WrittenConfig& written, const std::string& key,
                            const std::string& row) {
    const Outcome checked = check(file);
    const Outcome started = start_refused(file);
    EXPECT_TRUE(checked.code == 2 || checked.code == 3)
        << row << ": --check-config exits " << checked.code << ":\n"
        << checked.error;
    EXPECT_EQ(started.code, checked.code) << row << ": start exits " << started.code << ":\n"
                                          << started.error;
    const std::string line = error_line(checked.error);
    EXPECT_EQ(error_line(started.error), line) << row;
    const auto at = written.lines.find(key);
    const std::string expected =
        at == written.lines.end() ? key : file.string() + ":" + std::to_string(at->second) + ": " + key + ":";
    EXPECT_NE(line.find(expected), std::string::npos)
        << row << ": expected '" << expected << "' in: " << line;
  }

  // Every described key of `plugin` (config entry `index`) has a row (unless only `some` rows are
  // given); each row is refused alike.
  enum class Rows { kEveryKey, kSome };
  void run_plugin_table(const ConfigSpec& base, size_t index, const std::vector<WrongValue>& rows,
                        Rows coverage = Rows::kEveryKey) {
    const std::string& plugin = base.plugins.at(index).name;
    const auto keys = described_keys(plugin, write(base));
    ASSERT_FALSE(keys.empty()) << plugin;
    for (const std::string& key : coverage == Rows::kEveryKey ? keys : std::vector<std::string>{})
      EXPECT_TRUE(std::any_of(rows.begin(), rows.end(), [&](const WrongValue& r) { return r.key == key; }))
          << plugin << "." << key << " has no wrong value in the table";
    for (const WrongValue& row : rows) {
      EXPECT_NE(std::find(keys.begin(), keys.end(), row.key), keys.end())
          << plugin << " describes no setting " << row.key;
      ConfigSpec spec = base;
      spec.set_plugin(index, row.key, row.value);
      for (const auto& [key, value] : row.also) spec.set_plugin(index, key, value);
      WrittenConfig written;
      const fs::path file = write(spec, &written);
      const std::string name =
          "plugins[" + std::to_string(index) + "]." + (row.expected_key.empty() ? row.key : row.expected_key);
      expect_refused_alike(file, written, name, plugin + "." + row.key + ": " + row.value);
    }
  }

  TempDir dir_;
  uint16_t port_ = free_port();
  uint16_t tls_port_ = free_port();
  uint16_t top_port_ = free_port();  // nobody answers there: the tree's top, the LDAP directory
};

TEST_F(CheckConfigTest, TheFamilyConfigWithEverySettingPassesAndStarts) {
  expect_base_holds(family_config());
}

TEST_F(CheckConfigTest, TheLdapConfigWithEverySettingPassesAndStarts) { expect_base_holds(ldap_config()); }

TEST_F(CheckConfigTest, TheAppliancesConfigWithEverySettingPassesAndStarts) {
  expect_base_holds(appliances_config());
}

// A shipped plugin without a table here fails: every plugin the build makes is one of these.
TEST_F(CheckConfigTest, EveryShippedPluginHasATable) {
  const std::set<std::string> tabled{"location-sqlite",    "location-ldap", "tree",       "auth-tls",
                                     "auth-digest",        "policy",        "registrar",  "appliance-hub",
                                     "appliances-virtual", "mqtt-bridge",   "status-page"};
  std::set<std::string> built;
  for (const auto& entry : fs::directory_iterator(plugin_dir()))
    if (entry.path().extension() == ".so") built.insert(entry.path().stem().string());
  built.erase("redirect");  // a library older builds left behind; no source makes it any more
  for (const std::string& plugin : built)
    EXPECT_TRUE(tabled.count(plugin)) << plugin << " has no table of wrong values in this test";
}

TEST_F(CheckConfigTest, EveryCoreKeyWithAWrongValueIsRefusedAlike) {
  const std::string nowhere = "/nonexistent-homesip-dir";
  const std::vector<WrongValue> rows = {
      {"server.listen", "[udp:127.0.0.1:0]"},
      {"server.plugin_dirs", "[" + nowhere + "]"},
      {"server.tls_certificates", path("empty")},
      {"server.tls_verify_clients", "maybe"},
      {"server.tls_verify_servers", "perhaps"},
      {"server.admin_socket", nowhere + "/h1.sock"},
      {"server.loops", "257"},
      {"server.udp_buffer_bytes", "-1"},
      {"server.udp_coalesce_us", "10001"},
      {"server.limits.max_message_bytes", "100"},
      {"server.limits.max_headers", "5"},
      {"server.limits.max_header_values", "1"},
      {"server.limits.max_contacts", "0"},
      {"server.limits.udp_amplification", "101"},
      {"server.connections.max", "0"},
      {"server.connections.idle_timeout_s", "0"},
      {"server.connections.message_timeout_s", "0"},
      {"server.connections.max_output_bytes", "10"},
      {"server.rate_limit.requests_per_second", "-1"},
      {"server.rate_limit.burst", "0"},
      {"server.rate_limit.action", "reject"},
      {"server.rate_limit.sources", "1"},
      {"server.rate_limit.exempt", "[not-an-address]"},
      {"server.overload.max_pending", "-1"},
      {"server.overload.max_loop_lag_ms", "70000"},
      {"server.overload.max_queue_delay_ms", "-5"},
      {"server.overload.retry_after_min_s", "0"},
      {"server.overload.retry_after_max_s", "1"},  // below retry_after_min_s
      {"server.http.listen", "not-an-address"},
      {"server.http.token_file", nowhere + "/token", "", {{"server.http.listen", "127.0.0.1:18080"}}},
      {"server.http.commands", "[\"stats; reboot\"]"},
      {"log.level", "loud"},
      {"log.sink", nowhere + "/homesipd.log"},
      {"log.format", "xml"},
      {"log.sofia_level", "10"},
  };
  ConfigSpec base = family_config();
  const auto keys = described_keys("server", write(base));
  ASSERT_GT(keys.size(), 20u);
  for (const std::string& key : keys)
    EXPECT_TRUE(std::any_of(rows.begin(), rows.end(), [&](const WrongValue& r) { return r.key == key; }))
        << key << " has no wrong value in the table";
  for (const WrongValue& row : rows) {
    if (std::find(keys.begin(), keys.end(), row.key) == keys.end()) {
      ADD_FAILURE() << "homesipd describes no key " << row.key << ": a row for a key that went";
      continue;
    }
    ConfigSpec spec = base;
    spec.set_core(row.key, row.value);
    for (const auto& [key, value] : row.also) spec.set_core(key, value);
    WrittenConfig written;
    const fs::path file = write(spec, &written);
    expect_refused_alike(file, written, row.expected_key.empty() ? row.key : row.expected_key,
                         row.key + ": " + row.value);
  }
}

TEST_F(CheckConfigTest, EveryLocationSqliteSettingWithAWrongValueIsRefusedAlike) {
  run_plugin_table(family_config(), 0,
                   {{"path", "/nonexistent-homesip-dir/h1.sqlite"},
                    {"synchronous", "fulll"},
                    {"busy_timeout_ms", "-1"},
                    {"sweep_interval_s", "0"},
                    {"max_batch", "0"},
                    {"retry_interval_ms", "5"},
                    {"commit_window_us", "100001"},
                    {"commit_batch", "0"}});
}

TEST_F(CheckConfigTest, EveryTreeSettingWithAWrongValueIsRefusedAlike) {
  run_plugin_table(family_config(), 1,
                   {{"name", "\"H 1\""},
                    {"domain", "C1..D1"},
                    {"domain", "\"\"", "top"},  // the top server has no top to register at
                    {"top", "not-a-uri"},
                    {"register_expires", "5"},
                    {"contact", "not-a-uri"},
                    {"keepalive_interval", "-1"},
                    {"keepalive_misses", "0"},
                    {"redirect_methods", "[REGISTER]"},
                    {"resolver_cache_entries", "0"},
                    {"resolver_cache_seconds", "-1"},
                    {"password_file", path("open.password")}});
}

TEST_F(CheckConfigTest, EveryAuthTlsSettingWithAWrongValueIsRefusedAlike) {
  run_plugin_table(family_config(), 2, {{"role", "admin"}});
}

TEST_F(CheckConfigTest, EveryAuthDigestSettingWithAWrongValueIsRefusedAlike) {
  run_plugin_table(family_config(), 3,
                   {{"realm", "C1.D1.H1"},  // the tree gives it
                    {"algorithms", "[SHA-1]"},
                    {"secret_file", "/nonexistent-homesip-dir/nonce.secret"},
                    {"secret_file", path("open.password")},  // others may read it
                    {"nonce_lifetime", "5"},
                    {"replay_window_entries", "10"},
                    {"proxy_auth", "perhaps"},
                    {"ban_after_failures", "-1"},
                    {"ban_window", "0"},
                    {"ban_seconds", "0"}});
}

TEST_F(CheckConfigTest, EveryPolicySettingWithAWrongValueIsRefusedAlike) {
  run_plugin_table(family_config(), 4,
                   {{"domain", "C1.D1.H1"},  // the tree gives it
                    {"register", "[server]"},
                    {"call", "[outside]"},
                    {"calls_from_outside", "perhaps"},
                    {"appliances", "[\"\"]"},
                    {"control", "[king]"},
                    {"watch", "[king]"},
                    {"grants", "[nonsense]"},
                    {"binding_lookups", "[king]"}});
}

TEST_F(CheckConfigTest, EveryRegistrarSettingWithAWrongValueIsRefusedAlike) {
  run_plugin_table(family_config(), 5,
                   {{"min_expires", "0"},
                    {"min_expires", "100000", "max_expires"},  // above max_expires
                    {"max_expires", "10"},
                    {"default_expires", "30"},
                    {"max_bindings_per_aor", "0"},
                    {"max_contact_bytes", "10"},
                    {"retry_after_s", "0"},
                    {"domains", "[C1.D1.H1]"}});  // the tree gives it
  ConfigSpec without_tree = ldap_config();
  run_plugin_table(without_tree, 1, {{"domains", "[\"not a domain\"]"}}, Rows::kSome);
}

TEST_F(CheckConfigTest, EveryVirtualLampSettingWithAWrongValueIsRefusedAlike) {
  run_plugin_table(family_config(), 6,
                   {{"device", "\"\""},
                    {"domain", "C1.D1.H1"},  // the tree gives it
                    {"initial_state", "dim"},
                    {"owner", "\"not an aor\""},
                    {"require_identity", "perhaps"}});
}

TEST_F(CheckConfigTest, EveryLocationLdapSettingWithAWrongValueIsRefusedAlike) {
  run_plugin_table(ldap_config(), 0,
                   {{"uri", "http://127.0.0.1:389"},
                    {"base_dn", "\"\""},
                    {"bindings_dn", "not-a-dn"},
                    {"users_dn", "=users"},
                    {"bind_dn", "admin"},
                    {"bind_password", "secret", "password_file"},  // and a password_file
                    {"password_file", path("open.password")},
                    {"sasl_mech", "PLAIN"},
                    {"starttls", "perhaps"},
                    {"tls_ca_file", "/nonexistent-homesip-dir/ca.pem"},
                    {"tls_verify", "perhaps"},
                    {"timeout_ms", "0"},
                    {"cache_ms", "-1"},
                    {"reconnect_min_ms", "0"},
                    {"reconnect_max_ms", "100"}});  // below reconnect_min_ms
}

TEST_F(CheckConfigTest, EveryApplianceHubSettingWithAWrongValueIsRefusedAlike) {
  run_plugin_table(appliances_config(), 0,
                   {{"domain", "not_a_domain!"},
                    {"min_expires", "0"},
                    {"max_expires", "10"},
                    {"default_expires", "5000"},
                    {"publish_expires", "0"},
                    {"max_subscriptions", "-1"},
                    {"max_subscriptions_per_entity", "-1"},
                    {"max_publications", "-1"},
                    {"published", "[not-an-entity]"}});
}

TEST_F(CheckConfigTest, EveryVirtualApplianceSettingWithAWrongValueIsRefusedAlike) {
  run_plugin_table(appliances_config(), 1, {{"entities", "[\"light.kitchen brightness=300\"]"}});
}

TEST_F(CheckConfigTest, EveryMqttBridgeSettingWithAWrongValueIsRefusedAlike) {
  run_plugin_table(appliances_config(), 2,
                   {{"host", "\"\""},
                    {"port", "70000"},
                    {"base_topic", "a/#"},
                    {"client_id", "{a: 1}"},
                    {"username", "{a: 1}"},
                    {"password_file", path("tree.password")},  // without a username
                    {"tls_cafile", "/nonexistent-homesip-dir/ca.pem"},
                    {"tls_certfile", "/nonexistent-homesip-dir/cert.pem"},
                    {"tls_keyfile", "/nonexistent-homesip-dir/key.pem"},
                    {"keepalive_s", "1"},
                    {"reconnect_min_s", "0"},
                    {"reconnect_max_s", "0"},
                    {"answer_timeout_ms", "10"},
                    {"devices", "[\"lamp notanentity\"]"}});
}

TEST_F(CheckConfigTest, EveryStatusPageSettingWithAWrongValueIsRefusedAlike) {
  run_plugin_table(appliances_config(), 3, {{"title", "{a: 1}"}, {"refresh_ms", "100"}});
}

}  // namespace
}  // namespace homesip::test
