#include "secured_tree.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>

namespace homesip::test {
namespace {

// Children register upward within a few keepalive rounds; slow machines need the margin.
constexpr auto kOnlineWithin = std::chrono::seconds(30);

}  // namespace

SecuredTree::SecuredTree(const TempDir& dir, std::string homesipctl)
    : dir_(dir), homesipctl_(std::move(homesipctl)) {}

void SecuredTree::start(const std::string& family_plugins, const std::vector<std::string>& family_arguments) {
  // Top down, each parent holding its child's credentials before the child starts.
  province = make("C1", "");
  province->start();
  ASSERT_EQ(add_user("C1", "D1@C1", "server", kD1Password), 0);
  community = make("D1", "C1", password_file("d1.password", kD1Password));
  community->start();
  ASSERT_EQ(add_user("D1", "H1@C1.D1", "server", kH1Password), 0);
  family = make("H1", "C1.D1", password_file("h1.password", kH1Password), family_plugins);
  family->set_extra_arguments(family_arguments);
  family->start();
  ASSERT_TRUE(eventually([&] { return child_online("C1", "D1@C1") && child_online("D1", "H1@C1.D1"); },
                         kOnlineWithin))
      << logs();
}

std::unique_ptr<HomesipServer> SecuredTree::start_family(const std::string& name, const std::string& password,
                                                         const std::string& plugins,
                                                         const std::string& own_ip) {
  const std::string aor = name + "@C1.D1";
  EXPECT_EQ(add_user("D1", aor, "server", password), 0);
  auto server = make(name, "C1.D1", password_file(name + ".password", password), plugins);
  if (!own_ip.empty()) {
    const std::string port = std::to_string(server->port());
    server->set_extra_arguments({"--set", "server.listen=[udp:" + own_ip + ":" + port +
                                              ", udp:127.0.0.1:" + port + ", tcp:127.0.0.1:" + port + "]"});
  }
  server->start();
  const bool online = eventually([&] { return child_online("D1", aor); }, kOnlineWithin);
  EXPECT_TRUE(online) << read_file(server->log());
  return online ? std::move(server) : nullptr;
}

std::unique_ptr<HomesipServer> SecuredTree::make(const std::string& name, const std::string& domain,
                                                 const std::string& password_file,
                                                 const std::string& more) const {
  std::string tree_settings = "    keepalive_interval: 1\n    keepalive_misses: 2\n";
  if (!password_file.empty()) tree_settings += "    password_file: " + password_file + "\n";
  const std::string plugins =
      "  - plugin: location-sqlite\n    path: " + (dir_ / (name + ".sqlite")).string() + "\n" +
      tree_plugin_yaml(name, domain, domain.empty() ? "" : top(), tree_settings) +
      "  - plugin: auth-digest\n    secret_file: " + (dir_ / (name + ".secret")).string() +
      "\n  - plugin: policy\n  - plugin: registrar\n" + more;
  return std::make_unique<HomesipServer>(
      dir_, ServerOptions{name, domain, plugins, "  admin_socket: " + socket_of(name) + "\n"});
}

std::string SecuredTree::top() const { return "sip:127.0.0.1:" + std::to_string(province->port()); }

std::string SecuredTree::socket_of(const std::string& name) const {
  return (dir_ / (name + ".sock")).string();
}

std::string SecuredTree::password_file(const std::string& name, const std::string& text) const {
  const auto path = dir_ / name;
  write_file(path, text + "\n");
  std::filesystem::permissions(path,
                               std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  return path.string();
}

int SecuredTree::ctl(const std::string& server, const std::vector<std::string>& arguments,
                     std::string* out) const {
  std::vector<std::string> argv{homesipctl_, "--socket", socket_of(server)};
  argv.insert(argv.end(), arguments.begin(), arguments.end());
  std::string ignored;
  return run(argv, out ? out : &ignored, std::chrono::seconds(10));
}

int SecuredTree::add_user(const std::string& server, const std::string& aor, const std::string& role,
                          const std::string& password) const {
  std::string out;
  const int status = ctl(
      server, {"user", "add", aor, "--role", role, "--password-file", password_file(aor + ".pw", password)},
      &out);
  EXPECT_EQ(status, 0) << out;
  return status;
}

bool SecuredTree::child_online(const std::string& parent, const std::string& aor) const {
  std::string out;
  if (ctl(parent, {"--json", "tree"}, &out) != 0) return false;
  const nlohmann::json tree = nlohmann::json::parse(out, nullptr, false);
  if (!tree.is_object() || !tree.contains("children")) return false;
  for (const auto& child : tree["children"])
    if (child.value("aor", "") == aor) return child.value("online", false);
  return false;
}

std::string SecuredTree::logs() const {
  std::string out;
  for (const auto* server : {&province, &community, &family})
    if (*server) out += read_file((*server)->log());
  return out;
}

}  // namespace homesip::test
