// The status-page plugin through its descriptor on the SDK test kit: what it
// serves at each path, and the settings it refuses.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "homesip/plugin.hpp"
#include "homesip/testkit/fake_context.hpp"
#include "homesip/tree.hpp"

extern "C" const homesip::PluginDescriptor* homesip_plugin_descriptor();

namespace {

using homesip::ConfigError;
using homesip::testkit::FakePluginContext;

class FixedTree final : public homesip::TreeService {
 public:
  explicit FixedTree(homesip::ServerIdentity me) : me_(std::move(me)) {}
  const homesip::ServerIdentity& self() const override { return me_; }

 private:
  homesip::ServerIdentity me_;
};

TEST(StatusPage, RootServesTheHtmlPageNamingItsScript) {
  FakePluginContext context(*homesip_plugin_descriptor());
  auto plugin = context.create_plugin();
  const auto page = context.get_http("/");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(page.body.rfind("<!doctype html>", 0), 0u) << page.body.substr(0, 80);
  EXPECT_NE(page.body.find("<script src=\"/status/app.js\" defer></script>"), std::string::npos);
  EXPECT_NE(page.body.find("<link rel=\"stylesheet\" href=\"/status/style.css\">"), std::string::npos);
  // CSP default-src 'self': no inline script, no outside address.
  EXPECT_EQ(page.body.find("<script>"), std::string::npos);
  EXPECT_EQ(page.body.find("http://"), std::string::npos);
  EXPECT_EQ(page.body.find("https://"), std::string::npos);
  EXPECT_EQ(context.get_http("/status/").body, page.body);
}

TEST(StatusPage, ServesItsScriptAndStyle) {
  FakePluginContext context(*homesip_plugin_descriptor());
  auto plugin = context.create_plugin();
  const auto script = context.get_http("/status/app.js");
  EXPECT_EQ(script.status, 200);
  EXPECT_EQ(script.content_type, "text/javascript; charset=utf-8");
  EXPECT_NE(script.body.find("\n'use strict';\n"), std::string::npos);
  EXPECT_NE(script.body.find("fetch(path, { credentials: 'same-origin'"), std::string::npos);
  EXPECT_NE(script.body.find("getJson('/api/stats')"), std::string::npos);
  const auto style = context.get_http("/status/style.css");
  EXPECT_EQ(style.status, 200);
  EXPECT_EQ(style.content_type, "text/css; charset=utf-8");
  EXPECT_NE(style.body.find(".badge.offline"), std::string::npos);
}

TEST(StatusPage, UnknownPathsAre404) {
  FakePluginContext context(*homesip_plugin_descriptor());
  auto plugin = context.create_plugin();
  for (const char* path : {"/status/nothing.js", "/status/app.js.map", "/favicon.ico", "/status/../app.js",
                           "/index.html", "/status/index.htm"}) {
    const auto answer = context.get_http(path);
    EXPECT_EQ(answer.status, 404) << path;
    EXPECT_EQ(answer.content_type, "text/plain; charset=utf-8") << path;
  }
}

TEST(StatusPage, ConfigJsonCarriesTitleAndRefresh) {
  FakePluginContext context(*homesip_plugin_descriptor(), {{"title", "Family H1"}, {"refresh_ms", 5000}});
  auto plugin = context.create_plugin();
  const auto config = context.get_http("/status/config.json");
  EXPECT_EQ(config.status, 200);
  EXPECT_EQ(config.content_type, "application/json");
  EXPECT_EQ(config.body, R"({"title":"Family H1","refresh_ms":5000})");
}

TEST(StatusPage, TitleDefaultsToTheTreeNameThenTheFirstListener) {
  {
    FakePluginContext context(*homesip_plugin_descriptor());
    FixedTree tree({"H1", "C1.D1"});
    context.add_service<homesip::TreeService>(tree);
    auto plugin = context.create_plugin();
    EXPECT_EQ(context.get_http("/status/config.json").body, R"({"title":"H1@C1.D1","refresh_ms":2000})");
  }
  {
    FakePluginContext context(*homesip_plugin_descriptor());
    FixedTree top({"C1", ""});
    context.add_service<homesip::TreeService>(top);
    auto plugin = context.create_plugin();
    EXPECT_EQ(context.get_http("/status/config.json").body, R"({"title":"C1","refresh_ms":2000})");
  }
  {
    FakePluginContext context(*homesip_plugin_descriptor());
    context.set_listener("udp", "127.0.0.1", 6130);
    auto plugin = context.create_plugin();
    EXPECT_EQ(context.get_http("/status/config.json").body,
              R"({"title":"127.0.0.1:6130","refresh_ms":2000})");
  }
}

TEST(StatusPage, TitleIsJsonEscaped) {
  FakePluginContext context(*homesip_plugin_descriptor(), {{"title", "a \"b\" </script>"}});
  auto plugin = context.create_plugin();
  const auto config = nlohmann::json::parse(context.get_http("/status/config.json").body);
  EXPECT_EQ(config["title"], "a \"b\" </script>");
}

// check_settings runs when the context is made, as `homesipd --check-config` runs it.
TEST(StatusPage, RefreshOutsideItsRangeIsRefusedNamingTheKey) {
  for (int wrong : {0, 499, 60001, -5}) {
    try {
      FakePluginContext context(*homesip_plugin_descriptor(), {{"refresh_ms", wrong}});
      ADD_FAILURE() << "refresh_ms " << wrong << " accepted";
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.key(), "refresh_ms");
      EXPECT_EQ(std::string(e.what()),
                "refresh_ms must be between 500 and 60000, not " + std::to_string(wrong));
    }
  }
  for (int right : {500, 60000})
    EXPECT_NO_THROW(FakePluginContext(*homesip_plugin_descriptor(), {{"refresh_ms", right}}));
}

TEST(StatusPage, RefreshThatIsNoNumberIsRefusedNamingTheKey) {
  try {
    FakePluginContext context(*homesip_plugin_descriptor(), {{"refresh_ms", "fast"}});
    ADD_FAILURE() << "refresh_ms: fast accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key(), "refresh_ms");
  }
}

TEST(StatusPage, DescriptorDeclaresItsSettingsAndUsesTheTree) {
  const auto& d = *homesip_plugin_descriptor();
  EXPECT_STREQ(d.name, "status-page");
  ASSERT_EQ(d.settings.size(), 2u);
  EXPECT_STREQ(d.settings.items[0].key, "title");
  EXPECT_STREQ(d.settings.items[1].key, "refresh_ms");
  ASSERT_EQ(d.uses.size(), 1u);
  EXPECT_STREQ(d.uses.items[0], homesip::TreeService::kServiceName);
  EXPECT_NE(d.check_settings, nullptr);
}

}  // namespace
