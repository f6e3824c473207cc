// The plugin as the core sees it, on the SDK test kit: created through its
// descriptor, it provides both services, checks its settings before it
// exists, keeps the file owner-only, and answers its `users` command.
#include <sys/stat.h>

#include "homesip/homesip.hpp"
#include "homesip/testkit/testkit.hpp"
#include "test_support.hpp"

extern "C" const homesip::PluginDescriptor* homesip_plugin_descriptor();

namespace homesip::location_sqlite::testing {
namespace {

using testkit::FakePluginContext;

struct PluginTest : ::testing::Test {
  ScratchDirectory directory;
  std::string path = directory.file("h1.sqlite");
  std::unique_ptr<FakePluginContext> context = std::make_unique<FakePluginContext>(
      *homesip_plugin_descriptor(), testkit::SettingValues{{"path", path}});
  std::unique_ptr<Plugin> plugin = context->create_plugin();

  ~PluginTest() override {
    plugin->stop();
    plugin.reset();
    context->manual_loop().run_pending();
  }
  StoreStatus put(const UserRecord& user) {
    auto status = std::make_shared<std::optional<StoreStatus>>();
    context->require<UserStore>().put_user(user, [status](StoreStatus s) { *status = s; });
    EXPECT_TRUE(
        context->manual_loop().run_until([&] { return status->has_value(); }, std::chrono::seconds(5)));
    return status->value_or(StoreStatus::kError);
  }
};

TEST_F(PluginTest, ProvidesLocationAndUserStores) {
  EXPECT_NE(context->find<LocationStore>(), nullptr);
  EXPECT_NE(context->find<UserStore>(), nullptr);
}

TEST_F(PluginTest, FileIsOwnerOnly) {
  struct stat status {};
  ASSERT_EQ(stat(path.c_str(), &status), 0);
  EXPECT_EQ(status.st_mode & 0777, 0600u);
}

TEST_F(PluginTest, UsersCommandListsTheGivenDomainWithoutSecrets) {
  ASSERT_EQ(put(UserRecord{"U1@C1.D1.H1", "C1.D1.H1", "owner", {{"C1.D1.H1", "MD5", std::string(32, 'f')}}}),
            StoreStatus::kOk);
  ASSERT_EQ(put(UserRecord{"X1@C9", "C9", "member", {}}), StoreStatus::kOk);

  const testkit::CommandResult mine = context->run_command("users", {"C1.D1.H1"});
  ASSERT_TRUE(mine.answered);
  EXPECT_TRUE(mine.ok);
  EXPECT_EQ(
      mine.text,
      R"([{"aor":"U1@C1.D1.H1","role":"owner","credentials":[{"realm":"C1.D1.H1","algorithm":"MD5"}]}])");
  EXPECT_EQ(mine.text.find("ffff"), std::string::npos) << "never the HA1";

  const testkit::CommandResult other = context->run_command("users", {"C9"});
  EXPECT_EQ(other.text, R"([{"aor":"X1@C9","role":"member","credentials":[]}])");
  EXPECT_FALSE(context->run_command("users", {"a", "b"}).ok);
}

TEST_F(PluginTest, UsersCommandWithoutDomainSaysHowToAsk) {
  const testkit::CommandResult bare = context->run_command("users");
  ASSERT_TRUE(bare.answered);
  EXPECT_FALSE(bare.ok);
  EXPECT_EQ(bare.text, "usage: users DOMAIN (e.g. users C1.D1.H1)");
}

TEST_F(PluginTest, AorsGaugeFollowsTheStore) {
  auto confirmed = std::make_shared<bool>(false);
  context->require<LocationStore>().update(
      "u1@C1.D1.H1", testkit::put(make_binding("sip:u1@192.0.2.7", 600)),
      [confirmed](StoreStatus, const BindingList&) { *confirmed = true; });
  ASSERT_TRUE(context->manual_loop().run_until([&] { return *confirmed; }, std::chrono::seconds(5)));
  EXPECT_EQ(context->gauge_value("aors"), 0) << "refreshed by the timer, not yet";
  context->manual_loop().advance(std::chrono::seconds(5));
  EXPECT_EQ(context->gauge_value("aors"), 1);
}

TEST(PluginSettings, CheckSettingsRefusesBadValuesBeforeOpeningAnything) {
  try {
    FakePluginContext bad(*homesip_plugin_descriptor(), {{"synchronous", "sometimes"}});
    ADD_FAILURE() << "synchronous: sometimes accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key(), "synchronous");
  }
  EXPECT_THROW(FakePluginContext(*homesip_plugin_descriptor(), {{"max_batch", 0}}), ConfigError);
}

}  // namespace
}  // namespace homesip::location_sqlite::testing
