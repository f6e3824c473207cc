// The tree plugin's one block: defaults, and every wrong value refused with
// a ConfigError naming its key (through the descriptor, as the core checks).
#include "tree_settings.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "homesip/testkit/testkit.hpp"

using namespace homesip;
using namespace homesip::testkit;
using namespace std::chrono_literals;

extern "C" const PluginDescriptor* homesip_plugin_descriptor();

namespace {

SettingValues family() { return {{"name", "H1"}, {"domain", "C1.D1"}, {"top", "sip:127.0.0.1:5110"}}; }

// The key of the ConfigError that checking `values` throws; "" when none.
std::string refused_key(const SettingValues& values) {
  try {
    FakePluginContext context(*homesip_plugin_descriptor(), values);
  } catch (const ConfigError& e) {
    return e.key();
  }
  return "";
}

SettingValues family_with(const std::string& key, SettingValue value) {
  SettingValues values = family();
  values.insert_or_assign(key, std::move(value));
  return values;
}

}  // namespace

TEST(TreeSettings, DefaultsOfAFamilyServer) {
  FakePluginContext context(*homesip_plugin_descriptor(), family());
  const tree::TreeSettings s = tree::read_tree_settings(context.settings());
  EXPECT_EQ(s.me.aor(), "H1@C1.D1");
  EXPECT_EQ(s.me.child_domain(), "C1.D1.H1");
  EXPECT_FALSE(s.is_top());
  EXPECT_EQ(s.top, "sip:127.0.0.1:5110");
  EXPECT_EQ(s.register_expires, 120u);
  EXPECT_EQ(s.contact, "");
  EXPECT_EQ(s.keepalive_interval, 5s);
  EXPECT_EQ(s.keepalive_misses, 3);
  EXPECT_EQ(s.redirect_methods, (std::vector<std::string>{"INVITE", "MESSAGE", "SUBSCRIBE", "OPTIONS"}));
  EXPECT_EQ(s.resolver_cache_entries, 1024u);
  EXPECT_EQ(s.resolver_cache_seconds, 60s);
  EXPECT_EQ(s.password_file, "");
  EXPECT_EQ(s.password, "");
}

TEST(TreeSettings, TheTopHasNoDomainAndNoTop) {
  FakePluginContext context(*homesip_plugin_descriptor(), {{"name", "C1"}});
  EXPECT_TRUE(tree::read_tree_settings(context.settings()).is_top());
  EXPECT_EQ(refused_key({{"name", "C1"}, {"top", "sip:127.0.0.1:5110"}}), "top");  // given at the top
  EXPECT_EQ(refused_key({{"name", "H1"}, {"domain", "C1.D1"}}), "top");            // missing below it
}

TEST(TreeSettings, WrongValuesAreRefusedByKey) {
  EXPECT_EQ(refused_key({{"domain", "C1"}, {"top", "sip:127.0.0.1:5110"}}), "name");  // required
  EXPECT_EQ(refused_key(family_with("name", "H.1")), "name");
  EXPECT_EQ(refused_key(family_with("name", "")), "name");
  EXPECT_EQ(refused_key(family_with("domain", "C1..D1")), "domain");
  EXPECT_EQ(refused_key(family_with("domain", "C1.D 1")), "domain");
  EXPECT_EQ(refused_key(family_with("top", "127.0.0.1:5110")), "top");
  EXPECT_EQ(refused_key(family_with("top", "mailto:c1@example.org")), "top");
  EXPECT_EQ(refused_key(family_with("register_expires", 9)), "register_expires");
  EXPECT_EQ(refused_key(family_with("register_expires", 86401)), "register_expires");
  EXPECT_EQ(refused_key(family_with("contact", "H1@192.0.2.5")), "contact");
  EXPECT_EQ(refused_key(family_with("keepalive_interval", -1)), "keepalive_interval");
  EXPECT_EQ(refused_key(family_with("keepalive_interval", 3601)), "keepalive_interval");
  EXPECT_EQ(refused_key(family_with("keepalive_misses", 0)), "keepalive_misses");
  EXPECT_EQ(refused_key(family_with("redirect_methods", {"INVITE", "BYE"})), "redirect_methods");
  EXPECT_EQ(refused_key(family_with("redirect_methods", {"IN VITE"})), "redirect_methods");
  EXPECT_EQ(refused_key(family_with("resolver_cache_entries", 0)), "resolver_cache_entries");
  EXPECT_EQ(refused_key(family_with("resolver_cache_seconds", 86401)), "resolver_cache_seconds");
  EXPECT_EQ(refused_key(family_with("parent_contact", "sip:C1@192.0.2.1")), "parent_contact");  // gone
}

TEST(TreeSettings, AcceptedEdges) {
  EXPECT_EQ(refused_key(family_with("register_expires", 10)), "");
  EXPECT_EQ(refused_key(family_with("keepalive_interval", 0)), "");
  EXPECT_EQ(refused_key(family_with("contact", "sip:H1@192.0.2.5:5060;transport=tcp")), "");
  EXPECT_EQ(refused_key(family_with("top", "sips:c1.example.org")), "");
}

namespace {

// A file in a directory of its own, removed with it.
struct PasswordFile {
  std::filesystem::path dir;
  std::filesystem::path path;
  PasswordFile(const std::string& text, std::filesystem::perms mode) {
    char pattern[] = "/tmp/tree-password-XXXXXX";
    dir = ::mkdtemp(pattern);
    path = dir / "H1.password";
    std::ofstream(path) << text;
    std::filesystem::permissions(path, mode);
  }
  ~PasswordFile() { std::filesystem::remove_all(dir); }
};

constexpr auto kOwnerOnly = std::filesystem::perms::owner_read | std::filesystem::perms::owner_write;

}  // namespace

TEST(TreeSettings, ThePasswordIsTheFirstLineOfAnOwnerOnlyFile) {
  PasswordFile file("s3cret word\nsecond line ignored\n", kOwnerOnly);
  FakePluginContext context(*homesip_plugin_descriptor(), family_with("password_file", file.path.string()));
  const tree::TreeSettings s = tree::read_tree_settings(context.settings());
  EXPECT_EQ(s.password_file, file.path.string());
  EXPECT_EQ(s.password, "s3cret word");
  PasswordFile crlf("pw\r\n", kOwnerOnly);
  FakePluginContext windows(*homesip_plugin_descriptor(), family_with("password_file", crlf.path.string()));
  EXPECT_EQ(tree::read_tree_settings(windows.settings()).password, "pw");
}

TEST(TreeSettings, APasswordFileOthersCanReadOrNoneAtAllIsRefused) {
  using std::filesystem::perms;
  PasswordFile group_readable("pw\n", kOwnerOnly | perms::group_read);
  EXPECT_EQ(refused_key(family_with("password_file", group_readable.path.string())), "password_file");
  PasswordFile world_readable("pw\n", kOwnerOnly | perms::others_read);
  EXPECT_EQ(refused_key(family_with("password_file", world_readable.path.string())), "password_file");
  try {
    FakePluginContext context(*homesip_plugin_descriptor(),
                              family_with("password_file", world_readable.path.string()));
    ADD_FAILURE() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("chmod 600"), std::string::npos) << e.what();
  }
  PasswordFile empty("\n", kOwnerOnly);
  EXPECT_EQ(refused_key(family_with("password_file", empty.path.string())), "password_file");
  EXPECT_EQ(refused_key(family_with("password_file", (empty.dir / "missing").string())), "password_file");
  EXPECT_EQ(refused_key(family_with("password_file", empty.dir.string())), "password_file");  // a directory
  // The top registers nowhere: a password there is a mistake.
  PasswordFile top("pw\n", kOwnerOnly);
  EXPECT_EQ(refused_key({{"name", "C1"}, {"password_file", top.path.string()}}), "password_file");
}
