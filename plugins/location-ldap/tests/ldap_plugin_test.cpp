// The plugin as the core sees it, on the SDK test kit against a real slapd:
// its `aors` gauge counts the directory's AORs with unexpired bindings, as
// location-sqlite's counts its own, refreshed every 30 s.
#include <gtest/gtest.h>

#include <memory>
#include <optional>

#include "homesip/homesip.hpp"
#include "homesip/testkit/store_harness.hpp"
#include "homesip/testkit/testkit.hpp"
#include "slapd_fixture.hpp"

extern "C" const homesip::PluginDescriptor* homesip_plugin_descriptor();

namespace homesip::location_ldap::testing {
namespace {

using testkit::FakePluginContext;
using testkit::make_binding;
using testkit::put;

struct LdapPluginTest : ::testing::Test {
  Slapd slapd;
  std::unique_ptr<FakePluginContext> context = std::make_unique<FakePluginContext>(
      *homesip_plugin_descriptor(), testkit::SettingValues{{"uri", slapd.uri()},
                                                           {"base_dn", std::string(kBaseDn)},
                                                           {"bind_dn", std::string(kAdminDn)},
                                                           {"bind_password", std::string(kAdminPassword)}});
  std::unique_ptr<Plugin> plugin = context->create_plugin();

  ~LdapPluginTest() override {
    plugin->stop();
    plugin.reset();
    context->manual_loop().run_pending();
  }
  StoreStatus update(const std::string& aor, BindingEditor edit) {
    auto status = std::make_shared<std::optional<StoreStatus>>();
    context->require<LocationStore>().update(aor, std::move(edit),
                                             [status](StoreStatus s, const BindingList&) { *status = s; });
    EXPECT_TRUE(
        context->manual_loop().run_until([&] { return status->has_value(); }, std::chrono::seconds(10)));
    return status->value_or(StoreStatus::kError);
  }
  // The gauge once the loop has run the count the timer asked for.
  bool gauge_reaches(int64_t value) {
    context->manual_loop().advance(std::chrono::seconds(30));
    return context->manual_loop().run_until([&] { return context->gauge_value("aors") == value; },
                                            std::chrono::seconds(10));
  }
};

TEST_F(LdapPluginTest, AorsGaugeCountsTheDirectorysAorsWithBindings) {
  ASSERT_EQ(update("u1@C1.D1.H1", put(make_binding("sip:u1@192.0.2.7", 600))), StoreStatus::kOk);
  ASSERT_EQ(update("u2@C1.D1.H1", put(make_binding("sip:u2@192.0.2.8", 600))), StoreStatus::kOk);
  ASSERT_EQ(update("u2@C1.D1.H1", put(make_binding("sip:u2@192.0.2.9", 600))), StoreStatus::kOk);
  // Another server's domain in the same directory counts too: the gauge is the directory's.
  ASSERT_EQ(update("x1@C9.D9.H9", put(make_binding("sip:x1@192.0.2.10", 600))), StoreStatus::kOk);
  // The count at start ran before these writes (the worker runs in order).
  EXPECT_EQ(context->gauge_value("aors"), 0) << "refreshed by the timer, not yet";
  EXPECT_TRUE(gauge_reaches(3)) << context->gauge_value("aors").value_or(-1);

  ASSERT_EQ(update("u2@C1.D1.H1",
                   [](BindingList& bindings) {
                     bindings.clear();
                     return true;
                   }),
            StoreStatus::kOk);
  EXPECT_TRUE(gauge_reaches(2)) << context->gauge_value("aors").value_or(-1);
}

TEST_F(LdapPluginTest, AorsGaugeKeepsItsValueWhileTheDirectoryIsDown) {
  ASSERT_EQ(update("u1@C1.D1.H1", put(make_binding("sip:u1@192.0.2.7", 600))), StoreStatus::kOk);
  ASSERT_TRUE(gauge_reaches(1));
  slapd.kill9();
  context->manual_loop().advance(std::chrono::seconds(30));
  // The count fails on the worker and leaves the gauge alone. An update queued
  // behind it answers once the count is done: 503 from the outage, not from the count.
  EXPECT_EQ(update("u2@C1.D1.H1", put(make_binding("sip:u2@192.0.2.8", 600))), StoreStatus::kUnavailable);
  context->manual_loop().run_pending();
  EXPECT_EQ(context->gauge_value("aors"), 1);
}

}  // namespace
}  // namespace homesip::location_ldap::testing
