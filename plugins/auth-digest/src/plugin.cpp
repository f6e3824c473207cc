// The auth-digest plugin: settings, descriptor and wiring; the handler is in
// authenticator.cpp, the secret in secret.cpp, the commands in user_commands.cpp.
#include "homesip/plugin.hpp"

#include <optional>
#include <string>
#include <vector>

#include "authenticator.hpp"
#include "homesip/tree.hpp"
#include "homesip/user_store.hpp"
#include "secret.hpp"
#include "user_commands.hpp"

namespace {

using homesip::auth_digest::Authenticator;
using homesip::auth_digest::AuthSettings;
using homesip::auth_digest::UserCommands;

const homesip::SettingSpec kSettings[] = {
    {"realm", homesip::SettingType::kString, "",
     "the digest realm and the domain whose REGISTERs need credentials; with the tree plugin its child "
     "domain (e.g. C1.D1.H1), required without it"},
    {"algorithms", homesip::SettingType::kStringList, "[SHA-256, MD5]",
     "algorithms challenged with, in this order (SHA-256, MD5)"},
    {"secret_file", homesip::SettingType::kPath, nullptr,
     "the nonce HMAC secret; created with 32 random bytes (mode 0600) when missing, refused when others "
     "may read it"},
    {"nonce_lifetime", homesip::SettingType::kInteger, "300", "seconds a nonce is valid (then stale=true)"},
    {"replay_window_entries", homesip::SettingType::kInteger, "100000",
     "nonces whose counts are remembered against replay (older ones are answered stale)"},
    {"proxy_auth", homesip::SettingType::kBoolean, "true",
     "challenge (407) requests phones send through this server as outbound proxy"},
    {"ban_after_failures", homesip::SettingType::kInteger, "10",
     "failed authentications (wrong password, unknown user) from one IP within ban_window that ban it; "
     "0: never ban"},
    {"ban_window", homesip::SettingType::kInteger, "60", "seconds in which ban_after_failures must happen"},
    {"ban_seconds", homesip::SettingType::kInteger, "600",
     "seconds a banned IP's requests are dropped without an answer"},
};
const char* const kRequires[] = {homesip::UserStore::kServiceName};
const char* const kUses[] = {homesip::TreeService::kServiceName};
const homesip::CommandSpec kCommands[] = {
    {"user-put", "AOR ROLE ALG:HA1 [ALG:HA1...]",
     "creates or replaces a user (role owner, member, guest or server) with its HA1 values"},
    {"user-del", "AOR", "removes a user"},
    {"user-list", "[DOMAIN]", "users of DOMAIN (default: the realm): AOR, role, algorithms"},
};
const homesip::MetricSpec kMetrics[] = {
    {"auth_ok_total", homesip::MetricType::kCounter, "requests whose credentials were accepted"},
    {"auth_failed_total", homesip::MetricType::kCounter, "requests refused for their credentials (logged)"},
    {"challenges_total", homesip::MetricType::kCounter, "401 and 407 challenges sent"},
    {"bans_total", homesip::MetricType::kCounter, "source IPs banned after repeated failures (logged)"},
    {"banned_requests_total", homesip::MetricType::kCounter, "requests of banned sources, ended unanswered"},
};

void check_realm(const std::string& realm) {
  for (const char c : realm)
    if (static_cast<unsigned char>(c) <= 0x20 || c == '"' || c == '\\' || c == ',' || c == 0x7f)
      throw homesip::ConfigError("realm", "realm '" + realm + "' must be a domain such as C1.D1.H1");
}

std::vector<homesip::digest::Algorithm> read_algorithms(const homesip::Settings& s) {
  std::vector<homesip::digest::Algorithm> algorithms;
  for (const std::string& name : s.get_string_list("algorithms")) {
    const auto algorithm = homesip::digest::parse_algorithm(name);
    if (!algorithm)
      throw homesip::ConfigError("algorithms", "algorithms: '" + name + "' is not SHA-256 or MD5");
    for (const auto a : algorithms)
      if (a == *algorithm)
        throw homesip::ConfigError("algorithms", "algorithms: " + name + " is listed twice");
    algorithms.push_back(*algorithm);
  }
  if (algorithms.empty())
    throw homesip::ConfigError("algorithms", "algorithms: name at least one (SHA-256, MD5)");
  return algorithms;
}

// `homesipd --check-config` runs this: everything that needs only the settings.
void check_settings(const homesip::Settings& s) {
  check_realm(s.get_string("realm"));
  read_algorithms(s);
  homesip::integer_in_range(s, "nonce_lifetime", 10, 86400);
  homesip::integer_in_range(s, "replay_window_entries", 100, 100'000'000);
  homesip::integer_in_range(s, "ban_after_failures", 0, 1'000'000);
  homesip::integer_in_range(s, "ban_window", 1, 86400);
  homesip::integer_in_range(s, "ban_seconds", 1, 30 * 86400);
  if (s.get_string("secret_file").empty())
    throw homesip::ConfigError("secret_file", "secret_file: a path is required");
  homesip::auth_digest::check_secret_file(s.get_string("secret_file"));
  homesip::check_served_domain(s, "realm");  // the tree's child domain, or given without it
}

// The realm: the tree's child domain when there is a tree (where REGISTERs
// for this server's own users land), else the setting, which is then required.
std::string realm_of(homesip::PluginContext& context) {
  const std::string configured = context.settings().get_string("realm");
  const auto* tree = context.find<homesip::TreeService>();
  if (!tree) {
    if (configured.empty())
      throw homesip::ConfigError("realm", "realm: required without the tree plugin (e.g. C1.D1.H1)");
    return configured;
  }
  const std::string derived = tree->self().child_domain();
  if (!configured.empty())
    throw homesip::ConfigError("realm", "realm comes from the tree plugin (" + derived + "): remove it");
  return derived;
}

class AuthDigestPlugin final : public homesip::Plugin {
 public:
  explicit AuthDigestPlugin(homesip::PluginContext& context) {
    const auto& s = context.settings();
    check_settings(s);
    AuthSettings settings;
    settings.realm = realm_of(context);
    settings.algorithms = read_algorithms(s);
    settings.nonce_lifetime_s = s.get_int("nonce_lifetime");
    settings.replay_window_entries = static_cast<size_t>(s.get_int("replay_window_entries"));
    settings.proxy_auth = s.get_bool("proxy_auth");
    settings.bans.after = s.get_int("ban_after_failures");
    settings.bans.window_s = s.get_int("ban_window");
    settings.bans.ban_s = s.get_int("ban_seconds");
    std::string secret = homesip::auth_digest::load_or_create_secret(s.get_string("secret_file"));
    homesip::UserStore& users = context.require<homesip::UserStore>();
    const std::string realm = settings.realm;
    authenticator_.emplace(users, context.logger(), std::move(settings), std::move(secret),
                           homesip::auth_digest::AuthMetrics{
                               context.counter("auth_ok_total"), context.counter("auth_failed_total"),
                               context.counter("challenges_total"), context.counter("bans_total"),
                               context.counter("banned_requests_total")});
    commands_.emplace(users, realm);
    context.add_request_handler(*authenticator_, {homesip::Phase::kAuthenticate, 0, "auth-digest"});
    context.on_command("user-put", [this](const std::vector<std::string>& a, homesip::CommandDone done) {
      commands_->put(a, std::move(done));
    });
    context.on_command("user-del", [this](const std::vector<std::string>& a, homesip::CommandDone done) {
      commands_->del(a, std::move(done));
    });
    context.on_command("user-list", [this](const std::vector<std::string>& a, homesip::CommandDone done) {
      commands_->list(a, std::move(done));
    });
    context.logger().info("digest realm ", realm, ", nonces valid ", s.get_int("nonce_lifetime"), " s");
  }

 private:
  std::optional<Authenticator> authenticator_;
  std::optional<UserCommands> commands_;
};

}  // namespace

HOMESIP_PLUGIN(AuthDigestPlugin, .name = "auth-digest", .version = "1.0.0",
               .summary = "Digest authentication (SHA-256, MD5) of REGISTERs and routed requests",
               .settings = kSettings, .requires_services = kRequires, .uses = kUses, .commands = kCommands,
               .metrics = kMetrics, .check_settings = &check_settings)
