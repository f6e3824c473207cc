// The hub through its descriptor on the SDK test kit, with a provider of the
// test's own: MESSAGE, SUBSCRIBE/NOTIFY and PUBLISH as docs/appliances.md says.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "entity_json.hpp"
#include "homesip/appliance.hpp"
#include "homesip/testkit/testkit.hpp"

extern "C" const homesip::PluginDescriptor* homesip_plugin_descriptor();

namespace {

using namespace homesip;
using namespace homesip::testkit;
using nlohmann::json;

// A lamp with on/off: every call counted, every change reported; with `hold`
// it answers later, when the test calls its `held` answers.
class TestLamp final : public ApplianceProvider {
 public:
  explicit TestLamp(ApplianceHub& hub) : hub_(hub) {}
  std::vector<EntityInfo> entities() const override {
    return {{"light.kitchen", "Kitchen light", {"turn_on", "turn_off", "toggle"}}};
  }
  void call_service(const ServiceCall& call, ServiceDone done) override {
    ++calls;
    last_caller = call.caller;
    if (hold) {
      held.push_back(std::move(done));
      return;
    }
    if (call.service == "toggle") on = !on;
    if (call.service == "turn_on") on = true;
    if (call.service == "turn_off") on = false;
    const EntityState state{"light.kitchen", on ? "on" : "off", "{}", 0};
    hub_.report_state(state);
    done(ServiceResult{200, "", "", state});
  }
  ApplianceHub& hub_;
  bool on = false;
  bool hold = false;
  std::vector<ServiceDone> held;
  int calls = 0;
  std::string last_caller;
};

class HubTest : public ::testing::Test {
 protected:
  explicit HubTest(SettingValues values = {{"domain", "C1.D1.H1"}, {"min_expires", 10}})
      : context_(*homesip_plugin_descriptor(), values), plugin_(context_.create_plugin()) {
    hub_ = static_cast<ApplianceHub*>(context_.find_service(ApplianceHub::kServiceName));
    lamp_ = std::make_unique<TestLamp>(*hub_);
    hub_->add_provider(*lamp_);
  }
  ~HubTest() override { hub_->remove_provider(*lamp_); }

  RequestHandler& handler() { return *context_.handlers().at(0).handler; }

  static RequestBuilder message(const std::string& body, const std::string& call_id = "m1",
                                uint32_t cseq = 1) {
    RequestBuilder builder;
    builder.method(Method::kMessage)
        .uri("sip:light.kitchen@C1.D1.H1")
        .from("sip:U1@C1.D1.H1", "u1tag")
        .to("sip:light.kitchen@C1.D1.H1")
        .call_id(call_id)
        .cseq(cseq)
        .body("application/json", body);
    return builder;
  }
  // From U1 at `transport`:`ip`:5999, its Contact `contact`.
  static RequestBuilder subscribe(const std::string& call_id, uint32_t expires,
                                  const std::string& to_tag = "",
                                  const std::string& contact = "<sip:u1@127.0.0.3:5999>",
                                  const std::string& transport = "udp", const std::string& ip = "127.0.0.3") {
    RequestBuilder builder;
    builder.method(Method::kSubscribe)
        .uri("sip:light.kitchen@C1.D1.H1")
        .from("sip:U1@C1.D1.H1", "sub-from")
        .to("sip:light.kitchen@C1.D1.H1", to_tag)
        .call_id(call_id)
        .event("homesip-entity")
        .contact(contact)
        .source(transport, ip, 5999)
        .expires(expires);
    return builder;
  }
  // Hands `builder`'s request to the hub; what the loop has to do after it waits.
  std::unique_ptr<FakeIncomingRequest> start(const RequestBuilder& builder,
                                             Disposition* disposition = nullptr,
                                             const std::string& to_tag = "hub-tag-1") {
    auto incoming = std::make_unique<FakeIncomingRequest>(builder.build(), context_.manual_loop(), to_tag);
    const Disposition d = handler().on_request(*incoming);
    if (disposition) *disposition = d;
    return incoming;
  }
  // Runs `builder`'s request and the loop after it; the record of what happened.
  std::unique_ptr<FakeIncomingRequest> run(const RequestBuilder& builder, Disposition* disposition = nullptr,
                                           const std::string& to_tag = "hub-tag-1") {
    auto incoming = start(builder, disposition, to_tag);
    context_.manual_loop().run_pending();
    return incoming;
  }
  std::vector<std::string> notified_states() {
    std::vector<std::string> states;
    for (const FakeClient::Sent* sent : notifies())
      states.push_back(json::parse(sent->request.body)["state"]);
    return states;
  }
  json body_of(const FakeIncomingRequest& incoming) {
    return incoming.last_reply() ? json::parse(incoming.last_reply()->body, nullptr, false) : json();
  }
  std::vector<const FakeClient::Sent*> notifies() {
    std::vector<const FakeClient::Sent*> out;
    for (const auto& sent : context_.fake_client().sent())
      if (sent.request.method == "NOTIFY") out.push_back(&sent);
    return out;
  }
  static std::string header(const OutgoingRequest& request, const std::string& name) {
    for (const auto& [n, v] : request.headers)
      if (n == name) return v;
    return "";
  }

  FakePluginContext context_;
  std::unique_ptr<Plugin> plugin_;
  ApplianceHub* hub_ = nullptr;
  std::unique_ptr<TestLamp> lamp_;
};

TEST_F(HubTest, TurnOnAnswersTheNewStateAsJson) {
  auto incoming = run(message(R"({"service": "turn_on"})"));
  ASSERT_NE(incoming->last_reply(), nullptr);
  EXPECT_EQ(incoming->last_reply()->status, 200);
  EXPECT_EQ(incoming->last_reply()->content_type, "application/json");
  const json state = body_of(*incoming);
  EXPECT_EQ(state["entity_id"], "light.kitchen");
  EXPECT_EQ(state["state"], "on");
  EXPECT_EQ(state["attributes"]["friendly_name"], "Kitchen light");
  EXPECT_TRUE(state["last_changed"].is_string());
  EXPECT_EQ(context_.counter_value("service_calls_total"), 1u);
  EXPECT_EQ(context_.histogram_count("service_call_seconds"), 1u);
}

TEST_F(HubTest, EmptyObjectReadsTheStateWithoutACall) {
  auto incoming = run(message("{}"));
  EXPECT_EQ(incoming->last_reply()->status, 200);
  EXPECT_EQ(body_of(*incoming)["state"], "unknown");
  EXPECT_EQ(lamp_->calls, 0);
}

TEST_F(HubTest, BadBodiesAndTargetsGetJsonErrors) {
  auto malformed = run(message("{not json", "m-bad"));
  EXPECT_EQ(malformed->last_reply()->status, 400);
  EXPECT_EQ(body_of(*malformed)["error"], "invalid_json");
  auto not_object = run(message("[1]", "m-array"));
  EXPECT_EQ(body_of(*not_object)["error"], "invalid_json");
  auto data_not_object = run(message(R"({"service":"turn_on","data":3})", "m-data"));
  EXPECT_EQ(data_not_object->last_reply()->status, 400);
  auto unknown_service = run(message(R"({"service":"fly"})", "m-fly"));
  EXPECT_EQ(unknown_service->last_reply()->status, 400);
  EXPECT_EQ(body_of(*unknown_service)["error"], "unknown_service");
  auto unknown_entity = run(message("{}", "m-404").uri("sip:light.garage@C1.D1.H1"));
  EXPECT_EQ(unknown_entity->last_reply()->status, 404);
  EXPECT_EQ(body_of(*unknown_entity)["error"], "unknown_entity");
  auto text = run(message("on", "m-text").body("text/plain", "on"));
  EXPECT_EQ(text->last_reply()->status, 415);
  EXPECT_EQ(lamp_->calls, 0);
}

TEST_F(HubTest, OtherDomainsAndUsersContinue) {
  Disposition d;
  run(message("{}").uri("sip:light.kitchen@C1.D1.H2"), &d);
  EXPECT_EQ(d, Disposition::kContinue);
  run(message("{}").uri("sip:U1@C1.D1.H1"), &d);
  EXPECT_EQ(d, Disposition::kContinue);
  run(message("{}").method(Method::kInvite), &d);
  EXPECT_EQ(d, Disposition::kContinue);
}

TEST_F(HubTest, RetransmittedToggleTogglesOnce) {
  auto first = run(message(R"({"service":"toggle"})", "t1", 7));
  auto again = run(message(R"({"service":"toggle"})", "t1", 7));
  EXPECT_EQ(lamp_->calls, 1);
  EXPECT_EQ(body_of(*first)["state"], "on");
  EXPECT_EQ(body_of(*again)["state"], "on");
  auto next = run(message(R"({"service":"toggle"})", "t1", 8));
  EXPECT_EQ(body_of(*next)["state"], "off");
  EXPECT_EQ(lamp_->calls, 2);
}

TEST_F(HubTest, RetransmissionWhileTheCallIsPendingGetsTheSameAnswer) {
  lamp_->hold = true;
  Disposition d;
  auto first = run(message(R"({"service":"turn_on"})", "p1"), &d);
  EXPECT_EQ(d, Disposition::kSuspended);
  auto again = run(message(R"({"service":"turn_on"})", "p1"), &d);
  EXPECT_EQ(d, Disposition::kSuspended);
  EXPECT_EQ(lamp_->calls, 1);
  ASSERT_EQ(lamp_->held.size(), 1u);
  lamp_->held[0](ServiceResult{503, "unavailable", "the device is offline", {}});
  context_.manual_loop().run_pending();
  EXPECT_EQ(first->last_reply()->status, 503);
  EXPECT_EQ(again->last_reply()->status, 503);
  EXPECT_EQ(body_of(*again)["error"], "unavailable");
}

// The bench's bug: a call's answer applied after a newer state (two overlapping
// calls finishing in the other order) notified an old state and kept it.
TEST_F(HubTest, AnOlderCallsAnswerNeverOverwritesANewerState) {
  run(subscribe("s-order", 600));
  lamp_->hold = true;
  auto older = start(message(R"({"service":"turn_on"})", "older"));
  auto newer = start(message(R"({"service":"turn_off"})", "newer"));
  ASSERT_EQ(lamp_->held.size(), 2u);
  lamp_->held[1](ServiceResult{200, "", "", EntityState{"light.kitchen", "off", "{}", 0}});
  context_.manual_loop().run_pending();
  lamp_->held[0](ServiceResult{200, "", "", EntityState{"light.kitchen", "on", "{}", 0}});
  context_.manual_loop().run_pending();
  EXPECT_EQ(notified_states(), (std::vector<std::string>{"unknown", "off"}));
  EXPECT_EQ(hub_->state("light.kitchen").state, "off");
  ASSERT_NE(newer->last_reply(), nullptr);
  EXPECT_EQ(body_of(*newer)["state"], "off");
  ASSERT_NE(older->last_reply(), nullptr);
  EXPECT_EQ(older->last_reply()->status, 200);
  EXPECT_EQ(body_of(*older)["state"], "off");  // the state now, not the one that was
  lamp_->hold = false;
  EXPECT_EQ(body_of(*run(message("{}", "read")))["state"], "off");

  // Finishing in the order they began, both answers are news.
  lamp_->hold = true;
  lamp_->held.clear();
  start(message(R"({"service":"turn_on"})", "first"));
  start(message(R"({"service":"turn_off"})", "second"));
  ASSERT_EQ(lamp_->held.size(), 2u);
  lamp_->held[0](ServiceResult{200, "", "", EntityState{"light.kitchen", "on", "{}", 0}});
  context_.manual_loop().run_pending();
  lamp_->held[1](ServiceResult{200, "", "", EntityState{"light.kitchen", "off", "{}", 0}});
  context_.manual_loop().run_pending();
  EXPECT_EQ(notified_states(), (std::vector<std::string>{"unknown", "off", "on", "off"}));
  EXPECT_EQ(hub_->state("light.kitchen").state, "off");
}

// The bench's case: the lamp reports each toggle at once and answers through
// the loop, so two toggles in one loop turn both answer after both reports.
TEST_F(HubTest, OverlappingReportedTogglesNotifyEachChangeOnce) {
  run(subscribe("s-toggles", 600));
  auto first = start(message(R"({"service":"toggle"})", "toggle-1"));
  auto second = start(message(R"({"service":"toggle"})", "toggle-2"));
  context_.manual_loop().run_pending();
  EXPECT_EQ(lamp_->calls, 2);
  EXPECT_EQ(notified_states(), (std::vector<std::string>{"unknown", "on", "off"}));
  EXPECT_EQ(hub_->state("light.kitchen").state, "off");
  EXPECT_EQ(body_of(*first)["state"], "off");
  EXPECT_EQ(body_of(*second)["state"], "off");
}

TEST_F(HubTest, SubscribeNotifiesAtOnceOnChangeRefreshAndUnsubscribe) {
  auto subscribed = run(subscribe("s1", 600));
  ASSERT_EQ(subscribed->last_reply()->status, 200);
  EXPECT_EQ(subscribed->last_reply()->to_tag, "hub-tag-1");
  ASSERT_EQ(notifies().size(), 1u);
  const OutgoingRequest& first = notifies()[0]->request;
  EXPECT_EQ(first.request_uri, "sip:u1@127.0.0.3:5999");
  EXPECT_EQ(first.call_id, "s1");
  EXPECT_EQ(first.from, "<sip:light.kitchen@C1.D1.H1>;tag=hub-tag-1");
  EXPECT_EQ(first.to, "<sip:U1@C1.D1.H1>;tag=sub-from");
  EXPECT_EQ(header(first, "Event"), "homesip-entity");
  EXPECT_EQ(header(first, "Subscription-State"), "active;expires=600");
  EXPECT_EQ(json::parse(first.body)["state"], "unknown");

  run(message(R"({"service":"turn_on"})", "change"));
  ASSERT_EQ(notifies().size(), 2u);
  EXPECT_EQ(json::parse(notifies()[1]->request.body)["state"], "on");
  EXPECT_EQ(notifies()[1]->request.cseq, notifies()[0]->request.cseq + 1);

  auto refreshed = run(subscribe("s1", 300, "hub-tag-1").cseq(2));
  EXPECT_EQ(refreshed->last_reply()->status, 200);
  ASSERT_EQ(notifies().size(), 3u);
  EXPECT_EQ(header(notifies()[2]->request, "Subscription-State"), "active;expires=300");

  auto ended = run(subscribe("s1", 0, "hub-tag-1").cseq(3));
  EXPECT_EQ(ended->last_reply()->status, 200);
  ASSERT_EQ(notifies().size(), 4u);
  EXPECT_EQ(header(notifies()[3]->request, "Subscription-State"), "terminated;reason=timeout");
  EXPECT_EQ(context_.gauge_value("subscriptions"), 0);
  auto gone = run(subscribe("s1", 300, "hub-tag-1").cseq(4));
  EXPECT_EQ(gone->last_reply()->status, 481);
}

TEST_F(HubTest, RetransmittedSubscribeMakesOneSubscription) {
  run(subscribe("s2", 600));
  run(subscribe("s2", 600));
  EXPECT_EQ(context_.gauge_value("subscriptions"), 1);
  EXPECT_EQ(notifies().size(), 1u);
}

TEST_F(HubTest, ExpiryWithoutRefreshTerminates) {
  run(subscribe("s3", 20));
  context_.manual_loop().advance(std::chrono::seconds(21));
  ASSERT_EQ(notifies().size(), 2u);
  EXPECT_EQ(header(notifies()[1]->request, "Subscription-State"), "terminated;reason=timeout");
  EXPECT_EQ(context_.gauge_value("subscriptions"), 0);
}

TEST_F(HubTest, RefusesBadEventsShortExpiresAndUnknownEntities) {
  auto bad_event = run(subscribe("s4", 600).event("presence"));
  EXPECT_EQ(bad_event->last_reply()->status, 489);
  const auto& h = bad_event->last_reply()->headers;
  EXPECT_NE(
      std::find(h.begin(), h.end(), std::pair<std::string, std::string>{"Allow-Events", "homesip-entity"}),
      h.end());
  auto brief = run(subscribe("s5", 5));
  EXPECT_EQ(brief->last_reply()->status, 423);
  auto unknown = run(subscribe("s6", 600).uri("sip:light.nowhere@C1.D1.H1"));
  EXPECT_EQ(unknown->last_reply()->status, 404);
  EXPECT_EQ(notifies().size(), 0u);
}

TEST_F(HubTest, ANotifyAnswered481EndsTheSubscription) {
  run(subscribe("s7", 600));
  ASSERT_EQ(notifies().size(), 1u);
  context_.fake_client().answer(0, *ResponseBuilder(481).build());
  context_.manual_loop().run_pending();
  EXPECT_EQ(context_.gauge_value("subscriptions"), 0);
  run(message(R"({"service":"turn_on"})", "after-481"));
  EXPECT_EQ(notifies().size(), 1u);
}

TEST_F(HubTest, StopTellsEveryWatcherDeactivated) {
  run(subscribe("s8", 600));
  plugin_->stop();
  ASSERT_EQ(notifies().size(), 2u);
  EXPECT_EQ(header(notifies()[1]->request, "Subscription-State"), "terminated;reason=deactivated");
}

TEST_F(HubTest, PublishWithEtagsRefreshModifyExpiry) {
  auto publish = [](const std::string& call_id, uint32_t expires, const std::string& body,
                    const std::string& etag = "") {
    RequestBuilder builder;
    builder.method(Method::kPublish)
        .uri("sip:binary_sensor.door@C1.D1.H1")
        .from("sip:door@C1.D1.H1", "door")
        .to("sip:binary_sensor.door@C1.D1.H1")
        .call_id(call_id)
        .event("homesip-entity")
        .expires(expires);
    if (!body.empty()) builder.body("application/json", body);
    if (!etag.empty()) builder.header("SIP-If-Match", etag);
    return builder;
  };
  auto etag_of = [](const FakeIncomingRequest& incoming) {
    for (const auto& [name, value] : incoming.last_reply()->headers)
      if (name == "SIP-ETag") return value;
    return std::string();
  };
  auto first = run(publish("p1", 30, R"({"state":"on","attributes":{"device_class":"door"}})"));
  ASSERT_EQ(first->last_reply()->status, 200);
  const std::string etag = etag_of(*first);
  ASSERT_FALSE(etag.empty());
  EXPECT_EQ(hub_->state("binary_sensor.door").state, "on");

  auto refreshed = run(publish("p2", 30, "", etag));
  ASSERT_EQ(refreshed->last_reply()->status, 200);
  const std::string etag2 = etag_of(*refreshed);
  EXPECT_NE(etag2, etag);
  auto stale = run(publish("p3", 30, R"({"state":"off"})", etag));
  EXPECT_EQ(stale->last_reply()->status, 412);
  EXPECT_EQ(hub_->state("binary_sensor.door").state, "on");
  auto modified = run(publish("p4", 30, R"({"state":"off"})", etag2));
  ASSERT_EQ(modified->last_reply()->status, 200);
  EXPECT_EQ(hub_->state("binary_sensor.door").state, "off");
  EXPECT_EQ(context_.gauge_value("publications"), 1);
  context_.manual_loop().advance(std::chrono::seconds(31));
  EXPECT_EQ(hub_->state("binary_sensor.door").state, "unavailable");
  EXPECT_EQ(context_.gauge_value("publications"), 0);

  auto to_provider = run(publish("p5", 30, R"({"state":"on"})").uri("sip:light.kitchen@C1.D1.H1"));
  EXPECT_EQ(to_provider->last_reply()->status, 403);
  auto bad_event = run(publish("p6", 30, R"({"state":"on"})").event("presence"));
  EXPECT_EQ(bad_event->last_reply()->status, 489);
}

// PUBLISHes for ever new names: at most max_publications entities made so,
// the oldest unpublished and unwatched one forgotten for a new one; an
// expired one keeps no attributes.
class TwoPublicationsHubTest : public HubTest {
 protected:
  TwoPublicationsHubTest()
      : HubTest({{"domain", "C1.D1.H1"}, {"min_expires", 10}, {"max_publications", 2}}) {}
  std::unique_ptr<FakeIncomingRequest> publish(const std::string& entity, const std::string& body) {
    RequestBuilder builder;
    builder.method(Method::kPublish)
        .uri("sip:" + entity + "@C1.D1.H1")
        .from("sip:door@C1.D1.H1", "door")
        .to("sip:" + entity + "@C1.D1.H1")
        .call_id("publish-" + entity + "-" + std::to_string(++publishes_))
        .event("homesip-entity")
        .expires(10)
        .body("application/json", body);
    return run(builder);
  }
  int publishes_ = 0;
  std::vector<std::string> entity_ids() {
    std::vector<std::string> ids;
    for (const auto& entity : json::parse(context_.run_command("entities").text))
      ids.push_back(entity["entity_id"]);
    return ids;
  }
};

TEST_F(TwoPublicationsHubTest, EntitiesMadeByPublishAreBoundedByMaxPublications) {
  const std::string big = R"({"state":"on","attributes":{"blob":")" + std::string(20000, 'x') + R"("}})";
  ASSERT_EQ(publish("sensor.a", big)->last_reply()->status, 200);
  ASSERT_EQ(publish("sensor.b", big)->last_reply()->status, 200);
  context_.manual_loop().advance(std::chrono::seconds(11));
  EXPECT_EQ(hub_->state("sensor.a").state, "unavailable");
  EXPECT_EQ(hub_->state("sensor.a").attributes_json, "{}");
  // Watched, sensor.b stays whatever comes.
  RequestBuilder watch = subscribe("watch-b", 600);
  run(watch.uri("sip:sensor.b@C1.D1.H1").to("sip:sensor.b@C1.D1.H1"));
  ASSERT_EQ(publish("sensor.c", big)->last_reply()->status, 200);  // sensor.a goes
  EXPECT_EQ(entity_ids(), (std::vector<std::string>{"light.kitchen", "sensor.b", "sensor.c"}));
  const auto refused = publish("sensor.d", big);
  EXPECT_EQ(refused->last_reply()->status, 503);
  EXPECT_EQ(body_of(*refused)["error"], "too_many_entities");
  context_.manual_loop().advance(std::chrono::seconds(11));  // sensor.c unpublished: it may go
  EXPECT_EQ(publish("sensor.d", big)->last_reply()->status, 200);
  EXPECT_EQ(entity_ids(), (std::vector<std::string>{"light.kitchen", "sensor.b", "sensor.d"}));
  // Its watcher gone, sensor.b makes room in turn (it stayed in line while watched).
  RequestBuilder unwatch = subscribe("watch-b", 0, "hub-tag-1");
  run(unwatch.cseq(2).uri("sip:sensor.b@C1.D1.H1").to("sip:sensor.b@C1.D1.H1", "hub-tag-1"));
  context_.manual_loop().advance(std::chrono::seconds(11));
  EXPECT_EQ(publish("sensor.e", big)->last_reply()->status, 200);
  EXPECT_EQ(entity_ids(), (std::vector<std::string>{"light.kitchen", "sensor.d", "sensor.e"}));
}

// Over UDP the NOTIFYs would go to whatever Contact a SUBSCRIBE names: one
// naming another host than its source is refused, so the hub reflects
// nothing at a third party; over TLS a listener of the watcher's own is usual.
TEST_F(HubTest, AUdpSubscribeWhoseContactIsElsewhereIsRefused) {
  const auto subscription = [](const std::string& call_id, const std::string& contact,
                               const std::string& transport, const std::string& ip,
                               const std::string& to_tag = "", uint32_t cseq = 1) {
    return subscribe(call_id, 600, to_tag, contact, transport, ip).cseq(cseq);
  };
  const auto refused = run(subscription("reflect", "<sip:victim@127.0.0.20:5997>", "udp", "127.0.0.66"));
  EXPECT_EQ(refused->last_reply()->status, 403);
  EXPECT_EQ(body_of(*refused)["error"], "contact_not_source");
  EXPECT_EQ(run(subscription("maddr", "<sip:u1@127.0.0.66:5999;MADDR=127.0.0.20>", "udp", "127.0.0.66"))
                ->last_reply()
                ->status,
            403);
  EXPECT_TRUE(notifies().empty());
  EXPECT_EQ(run(subscription("tls", "<sips:u1@127.0.0.20:5997>", "tls", "127.0.0.66"))->last_reply()->status,
            200);
  // A refresh naming another host keeps the subscription's old target.
  const auto first =
      run(subscription("moves", "<sip:u1@127.0.0.3:5999>", "udp", "127.0.0.3"), nullptr, "hub-tag-9");
  ASSERT_EQ(first->last_reply()->status, 200);
  EXPECT_EQ(notifies().back()->request.request_uri, "sip:u1@127.0.0.3:5999");
  const size_t before = notifies().size();
  EXPECT_EQ(run(subscription("moves", "<sip:victim@127.0.0.20:5997>", "udp", "127.0.0.3", "hub-tag-9", 2))
                ->last_reply()
                ->status,
            200);
  ASSERT_GT(notifies().size(), before);
  EXPECT_EQ(notifies().back()->request.request_uri, "sip:u1@127.0.0.3:5999");
}

TEST_F(HubTest, EntitiesCommandListsStatesAndWatchers) {
  run(message(R"({"service":"turn_on"})", "e1"));
  run(subscribe("e2", 600));
  const CommandResult result = context_.run_command("entities");
  ASSERT_TRUE(result.ok) << result.text;
  const json list = json::parse(result.text);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["entity_id"], "light.kitchen");
  EXPECT_EQ(list[0]["friendly_name"], "Kitchen light");
  EXPECT_EQ(list[0]["state"], "on");
  EXPECT_EQ(list[0]["watchers"], json::array({"U1@C1.D1.H1"}));
}

TEST_F(HubTest, AProviderMayNotTakeAnotherProvidersEntity) {
  TestLamp other(*hub_);
  EXPECT_THROW(hub_->add_provider(other), std::logic_error);
}

TEST(EntityJson, ParsesAndWritesTheProtocolBodies) {
  using namespace homesip::appliance_hub;
  EXPECT_TRUE(valid_entity_id("light.kitchen"));
  EXPECT_FALSE(valid_entity_id("lamp"));
  EXPECT_FALSE(valid_entity_id("Light.kitchen"));
  EXPECT_FALSE(valid_entity_id("light."));
  EXPECT_EQ(iso8601_ms(1764472800123), "2025-11-30T03:20:00.123Z");
  EXPECT_TRUE(is_json_content_type("Application/JSON; charset=utf-8"));
  EXPECT_FALSE(is_json_content_type("text/plain"));
  EXPECT_TRUE(accepts_json("text/plain, application/json;q=0.5"));
  EXPECT_FALSE(accepts_json("text/plain"));
  std::string problem;
  EXPECT_FALSE(parse_message_body(R"({"service": 1})", problem));
  const auto body = parse_message_body(R"({"service":"turn_on","data":{"brightness":128}})", problem);
  ASSERT_TRUE(body);
  EXPECT_EQ(body->data_json, R"({"brightness":128})");
  EXPECT_EQ(error_json("invalid_json", "no"), R"({"error":"invalid_json","message":"no"})");
}

}  // namespace
