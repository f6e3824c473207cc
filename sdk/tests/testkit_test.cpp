// The test kit's own tests: the manual loop, the builders' views, the fake
// request's record, the fake context's checks, and both conformance suites
// run against a small in-memory store (which shows the suites can pass, and
// that they fail a store that breaks them).
#include "homesip/testkit/testkit.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <map>

#include "homesip/homesip.hpp"
#include "homesip/testkit/location_store_conformance.hpp"
#include "homesip/testkit/user_store_conformance.hpp"

namespace homesip::testkit {
namespace {

using namespace std::chrono_literals;

// ---- ManualLoop

TEST(ManualLoop, PostedTasksRunOnlyWhenAsked) {
  ManualLoop loop;
  std::vector<int> ran;
  loop.post([&] {
    ran.push_back(1);
    loop.post([&] { ran.push_back(2); });
  });
  EXPECT_TRUE(ran.empty());
  EXPECT_EQ(loop.run_pending(), 2u);
  EXPECT_EQ(ran, (std::vector<int>{1, 2}));
}

TEST(ManualLoop, TasksThatPostForeverAreStopped) {
  ManualLoop loop;
  std::function<void()> again = [&] { loop.post(again); };
  loop.post(again);
  EXPECT_THROW(loop.run_pending(100), std::runtime_error);
}

TEST(ManualLoop, AdvanceFiresDueTimersAndRearmsRepeatingOnes) {
  ManualLoop loop;
  int once = 0, every = 0;
  auto single = loop.start_timer(1000ms, false, [&] { ++once; });
  auto repeating = loop.start_timer(300ms, true, [&] { ++every; });
  loop.advance(299ms);
  EXPECT_EQ(every, 0);
  loop.advance(1ms);
  EXPECT_EQ(every, 1);
  loop.advance(1000ms);  // now at 1300 ms: ticks at 600, 900, 1200
  EXPECT_EQ(every, 4);
  EXPECT_EQ(once, 1);
  loop.advance(10s);
  EXPECT_EQ(once, 1) << "a one-shot timer fires once";
  repeating.reset();
  loop.advance(10s);
  EXPECT_EQ(every, 37) << "a destroyed timer stops";
  EXPECT_EQ(loop.active_timers(), 0u);
}

TEST(ManualLoop, UnixTimeMovesWithAdvanceAndBySetting) {
  ManualLoop loop;
  loop.set_unix_now(1'000'000);
  loop.advance(1500ms);
  EXPECT_EQ(loop.unix_now(), 1'000'001);
  loop.advance(500ms);
  EXPECT_EQ(loop.unix_now(), 1'000'002);
  EXPECT_EQ(loop.steady_now(), 2000ms);
}

TEST(ManualLoop, KnowsItsThreadAndTakesPostsFromOthers) {
  ManualLoop loop;
  EXPECT_TRUE(loop.on_loop_thread());
  bool other_thread_sees_loop = true;
  bool ran = false;
  std::thread worker([&] {
    other_thread_sees_loop = loop.on_loop_thread();
    loop.post([&] { ran = true; });
  });
  EXPECT_TRUE(loop.run_until([&] { return ran; }, 5s));
  worker.join();
  EXPECT_FALSE(other_thread_sees_loop);
}

// ---- RequestBuilder and FakeRequest

TEST(RequestBuilder, RegisterCarriesEveryHeaderView) {
  auto request = RequestBuilder::registration("u1@C1.D1.H1")
                     .call_id("abc@192.0.2.7")
                     .cseq(7)
                     .contact("<sip:u1@192.0.2.7:5060>;expires=600;q=0.5;+sip.instance=\"<urn:uuid:1>\"")
                     .add_header("m", "<sip:u1@192.0.2.8>;expires=x, *")
                     .expires(3600)
                     .max_forwards(12)
                     .via("SIP/2.0/TCP 192.0.2.7:5070;branch=z9hG4bK-a;received=198.51.100.1;rport=5071")
                     .add_header("v", "SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK-b")
                     .user_agent("phone/1.0")
                     .source("tcp", "192.0.2.7", 5070)
                     .build();
  EXPECT_EQ(request->method(), Method::kRegister);
  EXPECT_EQ(request->method_name(), "REGISTER");
  EXPECT_EQ(request->request_uri().host, "C1.D1.H1");
  EXPECT_EQ(request->from_uri().user, "u1");
  EXPECT_EQ(request->from_tag(), "from-tag-1");
  EXPECT_EQ(request->to_tag(), "");
  EXPECT_EQ(request->call_id(), "abc@192.0.2.7");
  EXPECT_EQ(request->cseq(), 7u);
  EXPECT_EQ(request->header("cseq"), "7 REGISTER");
  EXPECT_EQ(request->expires_header(), 3600u);
  EXPECT_FALSE(request->expires_header_invalid());
  EXPECT_EQ(request->max_forwards(), 12u);
  EXPECT_EQ(request->user_agent(), "phone/1.0");

  const auto contacts = request->contacts();
  ASSERT_EQ(contacts.size(), 3u);
  EXPECT_EQ(contacts[0].uri, "sip:u1@192.0.2.7:5060");
  EXPECT_EQ(contacts[0].expires, 600u);
  EXPECT_EQ(contacts[0].q_millis, 500u);
  EXPECT_EQ(contacts[0].instance, "\"<urn:uuid:1>\"");
  EXPECT_EQ(contacts[1].uri, "sip:u1@192.0.2.8");
  EXPECT_TRUE(contacts[1].expires_invalid);
  EXPECT_TRUE(contacts[2].wildcard);
  EXPECT_EQ(request->headers("Contact").size(), 2u) << "two lines, one with two values";

  const auto vias = request->vias();
  ASSERT_EQ(vias.size(), 2u);
  EXPECT_EQ(vias[0].transport, "TCP");
  EXPECT_EQ(vias[0].host, "192.0.2.7");
  EXPECT_EQ(vias[0].port, "5070");
  EXPECT_EQ(vias[0].branch, "z9hG4bK-a");
  EXPECT_EQ(vias[0].received, "198.51.100.1");
  EXPECT_EQ(vias[0].rport, "5071");
  EXPECT_EQ(vias[1].host, "[2001:db8::1]");
  EXPECT_EQ(vias[1].port, "5060");

  const SourceAddress source = request->source();
  EXPECT_EQ(source.transport, "tcp");
  EXPECT_EQ(source.ip, "192.0.2.7");
  EXPECT_EQ(source.port, 5070);
}

TEST(RequestBuilder, HeadersAreCaseInsensitiveKeepEveryLineAndKnowCompactForms) {
  auto request = RequestBuilder()
                     .method("MESSAGE")
                     .add_header("Authorization", "Digest username=\"a\"")
                     .add_header("authorization", "Digest username=\"b\"")
                     .header("o", "presence;id=1")
                     .body("text/plain", std::string("a\0b", 3))
                     .build();
  EXPECT_EQ(request->method(), Method::kMessage);
  EXPECT_EQ(request->headers("AUTHORIZATION"),
            (std::vector<std::string_view>{"Digest username=\"a\"", "Digest username=\"b\""}));
  EXPECT_EQ(request->event(), "presence");
  EXPECT_EQ(request->header("Event"), "presence;id=1");
  EXPECT_EQ(request->header("i"), "testkit-call-1@192.0.2.7") << "compact Call-ID";
  EXPECT_EQ(request->body(), std::string_view("a\0b", 3));
  EXPECT_EQ(request->content_type(), "text/plain");
  EXPECT_EQ(request->max_forwards(), 70u) << "70 when absent";
  EXPECT_FALSE(request->header("Subject").has_value());
}

TEST(RequestBuilder, BadExpiresIsInvalidNotAbsent) {
  auto request = RequestBuilder().header("Expires", "soon").build();
  EXPECT_FALSE(request->expires_header().has_value());
  EXPECT_TRUE(request->expires_header_invalid());
}

TEST(ResponseBuilder, MakesAResponseWithHeaders) {
  auto response = ResponseBuilder(200, "OK")
                      .header("To", "<sip:u1@C1.D1.H1>;tag=t9")
                      .contact("<sip:u1@192.0.2.7>;expires=60")
                      .build();
  EXPECT_EQ(response->status(), 200);
  EXPECT_EQ(response->reason(), "OK");
  EXPECT_FALSE(response->local());
  EXPECT_EQ(response->to_tag(), "t9");
  ASSERT_EQ(response->contacts().size(), 1u);
  EXPECT_EQ(response->contacts()[0].expires, 60u);
}

// ---- FakeIncomingRequest

struct Step {
  int status;
};
constexpr AttributeKey<Step> kStep{"testkit.step"};

TEST(FakeIncomingRequest, RecordsRepliesAttributesAndTag) {
  ManualLoop loop;
  FakeIncomingRequest incoming(RequestBuilder().build(), loop, "tag-42");
  incoming.attributes().set(kStep, Step{3});
  ASSERT_NE(incoming.attributes().get(kStep), nullptr);
  EXPECT_EQ(incoming.attributes().get(kStep)->status, 3);
  EXPECT_EQ(incoming.attributes().get(AttributeKey<int>{"testkit.step"}), nullptr) << "another type";
  EXPECT_EQ(incoming.reply_to_tag(), "tag-42");
  EXPECT_EQ(incoming.last_reply(), nullptr);
  incoming.reply(Reply(404));
  ASSERT_NE(incoming.last_reply(), nullptr);
  EXPECT_EQ(incoming.last_reply()->status, 404);
}

TEST(FakeIncomingRequest, SuspensionResumesOrAnswersLater) {
  ManualLoop loop;
  FakeIncomingRequest resumed(RequestBuilder().build(), loop);
  std::unique_ptr<SuspendedRequest> first = resumed.suspend();
  loop.post([&] { first->resume(); });
  EXPECT_FALSE(resumed.resumed());
  loop.run_pending();
  EXPECT_TRUE(resumed.resumed());
  EXPECT_TRUE(first->finished());
  EXPECT_THROW(first->reply(Reply(200)), std::logic_error) << "at most one of resume and reply";

  FakeIncomingRequest answered(RequestBuilder().build(), loop);
  auto second = answered.suspend();
  EXPECT_EQ(second->request().method(), Method::kOptions);
  second->reply(Reply(200));
  EXPECT_FALSE(answered.resumed());
  EXPECT_EQ(answered.last_reply()->status, 200);
}

TEST(FakeIncomingRequest, DroppedSuspensionIsRecordedAs500) {
  ManualLoop loop;
  FakeIncomingRequest incoming(RequestBuilder().build(), loop);
  incoming.suspend().reset();
  EXPECT_TRUE(incoming.dropped());
  ASSERT_NE(incoming.last_reply(), nullptr);
  EXPECT_EQ(incoming.last_reply()->status, 500);
}

// ---- FakePluginContext, with a plugin declared like any other

const SettingSpec kEchoSettings[] = {
    {"greeting", SettingType::kString, "hello", "what to say"},
    {"times", SettingType::kInteger, "1", "how often"},
    {"loud", SettingType::kBoolean, "false", "shout"},
    {"peers", SettingType::kStringList, "[a, b]", "who"},
    {"limit", SettingType::kInteger, nullptr, "required"},
};
const char* const kEchoProvides[] = {"testkit.echo/1"};
const char* const kEchoRequires[] = {LocationStore::kServiceName};
const CommandSpec kEchoCommands[] = {{"say", "[WORD]", "says a word"}};
const MetricSpec kEchoMetrics[] = {{"echoes_total", MetricType::kCounter, "echoes"},
                                   {"pending", MetricType::kGauge, "in flight"}};

void check_echo(const Settings& settings) { integer_in_range(settings, "times", 1, 5); }

class Echo final : public Plugin, public RequestHandler {
 public:
  static constexpr const char* kServiceName = "testkit.echo/1";
  explicit Echo(PluginContext& context)
      : context_(context),
        store_(context.require<LocationStore>()),
        echoes_(context.counter("echoes_total")),
        pending_(context.gauge("pending")) {
    context.add_request_handler(*this, {Phase::kLocalServices, 5, "echo-handler"});
    context.provide(*this);
    context.on_command("say", [this](const std::vector<std::string>& args, CommandDone done) {
      context_.loop().post(
          [args, done] { done(true, "\"" + (args.empty() ? std::string("?") : args[0]) + "\""); });
    });
  }
  Disposition on_request(IncomingRequest& request) override {
    echoes_.add();
    pending_.add(1);
    OutgoingRequest message("MESSAGE", "sip:" + std::string(request.request().from_uri().host));
    message.body = context_.settings().get_string("greeting");
    auto suspended = std::shared_ptr<SuspendedRequest>(request.suspend());
    transaction_ = context_.client().send(message, [this, suspended](const SipResponse& response) {
      pending_.add(-1);
      suspended->reply(Reply(response.status()));
    });
    return Disposition::kSuspended;
  }

 private:
  PluginContext& context_;
  LocationStore& store_;
  Counter echoes_;
  Gauge pending_;
  std::unique_ptr<ClientTransaction> transaction_;
};

}  // namespace
}  // namespace homesip::testkit

// At global scope, as in a plugin's plugin.cpp.
namespace echo = homesip::testkit;
HOMESIP_PLUGIN(echo::Echo, .name = "echo", .version = "1.0.0", .summary = "test kit's own plugin",
               .settings = echo::kEchoSettings, .provides = echo::kEchoProvides,
               .requires_services = echo::kEchoRequires, .commands = echo::kEchoCommands,
               .metrics = echo::kEchoMetrics, .check_settings = &echo::check_echo)

namespace homesip::testkit {
namespace {

class NoStore final : public LocationStore {
  void update(std::string_view, BindingEditor, UpdateDone) override {}
  void lookup(std::string_view, LookupDone) override {}
  void list_aors(std::string_view, ListDone) override {}
};

TEST(FakeSettings, DefaultsTypesAndRequiredKeysAreCheckedLikeTheCore) {
  const PluginDescriptor& d = *homesip_plugin_descriptor();
  FakePluginContext context(d, {{"limit", "7"}, {"loud", "yes"}});
  const Settings& s = context.settings();
  EXPECT_EQ(s.get_string("greeting"), "hello");
  EXPECT_EQ(s.get_int("limit"), 7);
  EXPECT_TRUE(s.get_bool("loud"));
  EXPECT_EQ(s.get_string_list("peers"), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(s.is_set("limit"));
  EXPECT_FALSE(s.is_set("times"));
  EXPECT_THROW(s.get_int("greeting"), ConfigError) << "wrong type";
  EXPECT_THROW(s.get_string("nothing"), ConfigError) << "undeclared";

  EXPECT_THROW(FakePluginContext(d, {}), ConfigError) << "limit is required";
  EXPECT_THROW(FakePluginContext(d, {{"limit", "x"}}), ConfigError) << "not an integer";
  EXPECT_THROW(FakePluginContext(d, {{"limit", 1}, {"loud", "maybe"}}), ConfigError) << "not a boolean";
  EXPECT_THROW(FakePluginContext(d, {{"limit", 1}, {"colour", "red"}}), ConfigError) << "unknown key";
  try {
    FakePluginContext(d, {{"limit", 1}, {"times", 9}});
    ADD_FAILURE() << "check_settings must refuse times: 9";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key(), "times");
  }
}

TEST(FakePluginContext, DrivesAPluginThroughSuspendClientCommandAndMetrics) {
  NoStore store;
  FakePluginContext context(*homesip_plugin_descriptor(), {{"limit", 1}});
  EXPECT_THROW(context.create_plugin(), std::logic_error) << "no LocationStore yet";
  context.add_service<LocationStore>(store);
  auto plugin = context.create_plugin();

  ASSERT_EQ(context.handlers().size(), 1u);
  EXPECT_EQ(context.handlers()[0].placement.phase, Phase::kLocalServices);
  EXPECT_EQ(context.handlers()[0].placement.order, 5);
  EXPECT_EQ(context.handlers()[0].name, "echo-handler");
  EXPECT_EQ(context.find_service(Echo::kServiceName), static_cast<void*>(static_cast<Echo*>(plugin.get())));

  FakeIncomingRequest incoming(RequestBuilder().from("sip:alice@192.0.2.9").build(), context.manual_loop());
  EXPECT_EQ(context.handlers()[0].handler->on_request(incoming), Disposition::kSuspended);
  ASSERT_EQ(context.fake_client().sent().size(), 1u);
  EXPECT_EQ(context.fake_client().sent()[0].request.method, "MESSAGE");
  EXPECT_EQ(context.fake_client().sent()[0].request.request_uri, "sip:192.0.2.9");
  EXPECT_EQ(context.fake_client().sent()[0].request.body, "hello");
  EXPECT_EQ(context.gauge_value("pending"), 1);
  EXPECT_EQ(incoming.last_reply(), nullptr);

  EXPECT_TRUE(context.fake_client().answer(0, *ResponseBuilder(202).build()));
  ASSERT_NE(incoming.last_reply(), nullptr);
  EXPECT_EQ(incoming.last_reply()->status, 202);
  EXPECT_FALSE(context.fake_client().answer(0, *ResponseBuilder(200).build())) << "answered once";
  EXPECT_EQ(context.counter_value("echoes_total"), 1u);
  EXPECT_EQ(context.gauge_value("pending"), 0);

  const CommandResult said = context.run_command("say", {"hi"});
  EXPECT_TRUE(said.answered);
  EXPECT_TRUE(said.ok);
  EXPECT_EQ(said.text, "\"hi\"");
  EXPECT_FALSE(context.run_command("shout").ok);
  EXPECT_THROW(context.on_command("shout", {}), std::logic_error);
  EXPECT_THROW(context.counter("pending"), std::logic_error) << "declared as a gauge";
  EXPECT_THROW(context.provide_service("other/1", nullptr), std::logic_error);
}

TEST(FakeClient, RefusesBadRequestsAndDropsCallbacksOfDestroyedTransactions) {
  FakeClient client;
  EXPECT_THROW(client.send(OutgoingRequest("MESSAGE", "mailto:x"), [](const SipResponse&) {}),
               std::invalid_argument);
  bool called = false;
  auto transaction =
      client.send(OutgoingRequest("OPTIONS", "sip:192.0.2.1"), [&](const SipResponse&) { called = true; });
  EXPECT_FALSE(transaction->call_id().empty());
  transaction.reset();
  EXPECT_FALSE(client.time_out(0));
  EXPECT_FALSE(called);
}

// ---- The conformance suites against an in-memory store

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The simplest store that passes both suites: answers inline, from maps.
class MemoryStore final : public LocationStore, public UserStore {
 public:
  void update(std::string_view aor, BindingEditor edit, UpdateDone done) override {
    BindingList bindings = current(aor);
    if (edit(bindings)) bindings_[std::string(aor)] = bindings;
    BindingList now = current(aor);
    done(StoreStatus::kOk, now);
  }
  void lookup(std::string_view aor, LookupDone done) override { done(StoreStatus::kOk, current(aor)); }
  void list_aors(std::string_view domain, ListDone done) override {
    std::vector<std::string> aors;
    for (const auto& [aor, list] : bindings_)
      if (domain_of(aor) == domain && !current(aor).empty()) aors.push_back(aor);
    done(StoreStatus::kOk, aors);
  }
  void find_user(std::string_view aor, UserDone done) override {
    const auto it = users_.find(lower(aor));
    done(StoreStatus::kOk, it == users_.end() ? std::nullopt : std::optional<UserRecord>(it->second));
  }
  void list_users(std::string_view domain, UserListDone done) override {
    std::vector<UserRecord> out;
    for (const auto& [key, user] : users_)
      if (user.domain == domain) out.push_back(user);
    done(StoreStatus::kOk, out);
  }
  void put_user(const UserRecord& user, UserWriteDone done) override {
    users_[lower(user.aor)] = user;
    done(StoreStatus::kOk);
  }
  void remove_user(std::string_view aor, UserWriteDone done) override {
    users_.erase(lower(aor));
    done(StoreStatus::kOk);
  }

 private:
  BindingList current(std::string_view aor) const {
    const auto it = bindings_.find(aor);
    if (it == bindings_.end()) return {};
    BindingList list = it->second;
    drop_expired(list, unix_now());
    sort_for_lookup(list);
    return list;
  }
  std::map<std::string, BindingList, std::less<>> bindings_;
  std::map<std::string, UserRecord> users_;
};

class MemoryHarness final : public StoreHarness {
 public:
  LocationStore& store() override { return store_; }
  UserStore& users() override { return store_; }
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) override {
    return loop_.run_until(done, timeout);
  }

 private:
  ManualLoop loop_;
  MemoryStore store_;
};

const StoreFactory kMemory{"memory", [] { return std::make_unique<MemoryHarness>(); }};

INSTANTIATE_TEST_SUITE_P(Memory, LocationStoreConformance, ::testing::Values(kMemory), factory_name);
INSTANTIATE_TEST_SUITE_P(Memory, UserStoreConformance, ::testing::Values(kMemory), factory_name);

}  // namespace
}  // namespace homesip::testkit
