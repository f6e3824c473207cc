// The hub from several loops at once, as `server.loops: N` drives it:
// requests arrive on loops of their own threads, a device reports from its
// own thread, and the main loop turns on the test's thread. Exact counts at
// the end: every request answered once, on its own loop; every change
// notified once to every watcher, in CSeq order; providers called on the
// main loop only.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "homesip/appliance.hpp"
#include "homesip/testkit/testkit.hpp"

extern "C" const homesip::PluginDescriptor* homesip_plugin_descriptor();

namespace {

using namespace homesip;
using namespace homesip::testkit;
using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kLight = "light.kitchen";
constexpr const char* kDoor = "binary_sensor.door";

// A lamp that toggles at once and reports it; counts its calls and those
// made off the main loop (the hub promises providers the main loop).
class ToggleLamp final : public ApplianceProvider {
 public:
  ToggleLamp(ApplianceHub& hub, EventLoop& main) : hub_(hub), main_(main) {}
  std::vector<EntityInfo> entities() const override { return {{kLight, "Kitchen light", {"toggle"}}}; }
  void call_service(const ServiceCall&, ServiceDone done) override {
    ++calls;
    if (!main_.on_loop_thread()) ++calls_off_main;
    on_ = !on_;
    const EntityState state{kLight, on_ ? "on" : "off", "{}", 0};
    hub_.report_state(state);
    done(ServiceResult{200, "", "", state});
  }
  std::atomic<int> calls{0};
  std::atomic<int> calls_off_main{0};

 private:
  ApplianceHub& hub_;
  EventLoop& main_;
  bool on_ = false;
};

// A door sensor: no services; its state comes from the device thread.
class DoorSensor final : public ApplianceProvider {
 public:
  std::vector<EntityInfo> entities() const override { return {{kDoor, "Front door", {}}}; }
  void call_service(const ServiceCall&, ServiceDone done) override {
    done(ServiceResult{400, "unknown_service", "", {}});
  }
};

RequestBuilder subscribe(const std::string& entity, const std::string& call_id) {
  RequestBuilder builder;
  builder.method(Method::kSubscribe)
      .uri("sip:" + entity + "@C1.D1.H1")
      .from("sip:U1@C1.D1.H1", call_id + "-from")
      .to("sip:" + entity + "@C1.D1.H1")
      .call_id(call_id)
      .event("homesip-entity")
      .contact("<sip:u1@127.0.0.3:5999>")
      .source("udp", "127.0.0.3", 5999)
      .expires(600);
  return builder;
}

RequestBuilder toggle(const std::string& call_id) {
  RequestBuilder builder;
  builder.method(Method::kMessage)
      .uri(std::string("sip:") + kLight + "@C1.D1.H1")
      .from("sip:U1@C1.D1.H1", call_id + "-from")
      .to(std::string("sip:") + kLight + "@C1.D1.H1")
      .call_id(call_id)
      .cseq(1)
      .body("application/json", R"({"service": "toggle"})");
  return builder;
}

// One receiving loop on a thread of its own: hands its requests to the
// handler in order, turns until each is answered, then until told to stop
// (what the hub posts back after an answer still runs). `meanwhile` runs
// after each request (reads of the hub from this thread).
class LoopThread {
 public:
  LoopThread(
      RequestHandler& handler, std::vector<RequestBuilder> requests, std::atomic<int>& answered_all,
      const std::atomic<bool>& stop, std::function<void()> meanwhile = [] {})
      : thread_([this, &handler, requests = std::move(requests), &answered_all, &stop, meanwhile] {
          loop_ = std::make_unique<ManualLoop>();  // its thread is this one
          for (const RequestBuilder& builder : requests) {
            std::unique_ptr<FakeRequest> request = builder.build();
            const std::string to_tag = "tag-" + std::string(request->call_id());
            incoming_.push_back(std::make_unique<FakeIncomingRequest>(std::move(request), *loop_, to_tag));
            dispositions_.push_back(handler.on_request(*incoming_.back()));
            meanwhile();
          }
          all_answered_ = loop_->run_until([this] { return every_request_answered(); }, 20s);
          ++answered_all;
          loop_->run_until([&stop] { return stop.load(); }, 30s);
        }) {}
  ~LoopThread() { join(); }
  void join() {
    if (thread_.joinable()) thread_.join();
  }

  // After join().
  bool all_answered() const { return all_answered_; }
  const std::vector<std::unique_ptr<FakeIncomingRequest>>& incoming() const { return incoming_; }
  const std::vector<Disposition>& dispositions() const { return dispositions_; }

 private:
  bool every_request_answered() const {
    for (const auto& request : incoming_)
      if (request->replies().empty()) return false;
    return true;
  }

  std::unique_ptr<ManualLoop> loop_;
  std::vector<std::unique_ptr<FakeIncomingRequest>> incoming_;
  std::vector<Disposition> dispositions_;
  bool all_answered_ = false;
  std::thread thread_;  // last: starts once the members it uses exist
};

class HubThreadsTest : public ::testing::Test {
 protected:
  HubThreadsTest()
      : context_(*homesip_plugin_descriptor(), {{"domain", "C1.D1.H1"}, {"min_expires", 10}}),
        plugin_(context_.create_plugin()),
        hub_(*static_cast<ApplianceHub*>(context_.find_service(ApplianceHub::kServiceName))),
        lamp_(hub_, context_.loop()) {
    hub_.add_provider(lamp_);
    hub_.add_provider(door_);
  }
  ~HubThreadsTest() override {
    hub_.remove_provider(door_);
    hub_.remove_provider(lamp_);
  }

  RequestHandler& handler() { return *context_.handlers().at(0).handler; }

  // Turns the main loop, its timers too, until `done` (bounded: 30 s). A
  // task that throws (a request answered off its loop) fails the test here,
  // so the threads are still stopped and joined.
  bool turn_main_until(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    try {
      while (std::chrono::steady_clock::now() < deadline) {
        if (context_.manual_loop().run_until(done, 10ms)) return true;
        context_.manual_loop().advance(100ms);  // the hub's sweep runs beside the requests
      }
    } catch (const std::exception& e) {
      ADD_FAILURE() << "the main loop: " << e.what();
    }
    return false;
  }

  // Every NOTIFY sent so far, by Call-ID, in the order sent.
  std::map<std::string, std::vector<const FakeClient::Sent*>> notifies_by_dialog() {
    std::map<std::string, std::vector<const FakeClient::Sent*>> out;
    for (const auto& sent : context_.fake_client().sent())
      if (sent.request.method == "NOTIFY") out[sent.request.call_id].push_back(&sent);
    return out;
  }
  size_t notify_count() {
    size_t n = 0;
    for (const auto& [call_id, sent] : notifies_by_dialog()) n += sent.size();
    return n;
  }

  FakePluginContext context_;
  std::unique_ptr<Plugin> plugin_;
  ApplianceHub& hub_;
  ToggleLamp lamp_;
  DoorSensor door_;
};

// Each request answered exactly once, with `status`.
void expect_answered_once(const LoopThread& loop, int status) {
  ASSERT_TRUE(loop.all_answered());
  for (const auto& request : loop.incoming()) {
    ASSERT_EQ(request->replies().size(), 1u) << request->fake_request().call_id();
    EXPECT_EQ(request->last_reply()->status, status) << request->fake_request().call_id();
    EXPECT_FALSE(request->dropped());
  }
  for (Disposition d : loop.dispositions()) EXPECT_EQ(d, Disposition::kSuspended);
}

TEST_F(HubThreadsTest, TwoLoopsAndADeviceThreadAtOnce) {
  constexpr int kLightWatchersPerLoop = 10;
  constexpr int kDoorWatchers = 5;
  constexpr int kTogglesA = 101;  // odd in all: the lamp ends on
  constexpr int kTogglesB = 100;
  constexpr int kCrossRetransmissions = 50;  // A's toggles B receives too
  constexpr int kDoorReports = 100;          // on, off, on, ...: the door ends off

  // Phase 1: watchers subscribe on two loops at once (B sends each SUBSCRIBE twice).
  {
    std::vector<RequestBuilder> a, b;
    for (int i = 0; i < kLightWatchersPerLoop; ++i)
      a.push_back(subscribe(kLight, "a-light-" + std::to_string(i)));
    for (int i = 0; i < kDoorWatchers; ++i) a.push_back(subscribe(kDoor, "a-door-" + std::to_string(i)));
    for (int i = 0; i < kLightWatchersPerLoop; ++i) {
      b.push_back(subscribe(kLight, "b-light-" + std::to_string(i)));
      b.push_back(subscribe(kLight, "b-light-" + std::to_string(i)));  // a retransmission
    }
    std::atomic<int> answered{0};
    std::atomic<bool> stop{false};
    LoopThread loop_a(handler(), a, answered, stop);
    LoopThread loop_b(handler(), b, answered, stop);
    const bool turned = turn_main_until([&] { return answered == 2; });
    stop = true;
    loop_a.join();
    loop_b.join();
    ASSERT_TRUE(turned);
    context_.manual_loop().run_pending();  // the NOTIFYs the loops passed back after their 200s
    expect_answered_once(loop_a, 200);
    expect_answered_once(loop_b, 200);
    for (size_t i = 0; i < loop_b.incoming().size(); i += 2)
      EXPECT_EQ(loop_b.incoming()[i]->last_reply()->to_tag, loop_b.incoming()[i + 1]->last_reply()->to_tag);
  }
  const int watchers = 2 * kLightWatchersPerLoop + kDoorWatchers;
  EXPECT_EQ(context_.gauge_value("subscriptions"), watchers);
  ASSERT_EQ(notify_count(), static_cast<size_t>(watchers));

  // Phase 2: toggles on both loops (some of A's arrive on B too), the door's
  // device reporting from its thread, and B reading states from its thread.
  std::atomic<int> odd_states{0};
  {
    std::vector<RequestBuilder> a, b;
    for (int i = 0; i < kTogglesA; ++i) a.push_back(toggle("a-toggle-" + std::to_string(i)));
    for (int i = 0; i < kTogglesB; ++i) {
      b.push_back(toggle("b-toggle-" + std::to_string(i)));
      if (i < kCrossRetransmissions) b.push_back(toggle("a-toggle-" + std::to_string(i)));
    }
    std::atomic<int> answered{0};
    std::atomic<bool> stop{false};
    std::atomic<bool> device_done{false};
    const auto read_states = [&] {
      for (const char* entity : {kLight, kDoor})
        if (const std::string state = hub_.state(entity).state;
            state != "unknown" && state != "on" && state != "off")
          ++odd_states;
    };
    LoopThread loop_a(handler(), a, answered, stop);
    LoopThread loop_b(handler(), b, answered, stop, read_states);
    std::thread device([&] {
      for (int i = 0; i < kDoorReports; ++i)
        hub_.report_state(EntityState{kDoor, i % 2 ? "off" : "on", "{}", 0});
      device_done = true;
    });
    const bool turned = turn_main_until([&] { return answered == 2 && device_done; });
    stop = true;
    loop_a.join();
    loop_b.join();
    device.join();
    ASSERT_TRUE(turned);
    context_.manual_loop().run_pending();  // the device's last reports
    expect_answered_once(loop_a, 200);
    expect_answered_once(loop_b, 200);
    // A toggle B received as well got the same answer on both loops.
    std::map<std::string, std::string> answered_state;
    for (const auto& request : loop_a.incoming())
      answered_state[std::string(request->fake_request().call_id())] =
          json::parse(request->last_reply()->body)["state"];
    int cross = 0;
    for (const auto& request : loop_b.incoming()) {
      const std::string call_id(request->fake_request().call_id());
      if (call_id.rfind("a-", 0) != 0) continue;
      ++cross;
      EXPECT_EQ(json::parse(request->last_reply()->body)["state"], answered_state.at(call_id)) << call_id;
    }
    EXPECT_EQ(cross, kCrossRetransmissions);
  }

  EXPECT_EQ(odd_states, 0);
  EXPECT_EQ(lamp_.calls, kTogglesA + kTogglesB);  // a retransmission never calls again
  EXPECT_EQ(lamp_.calls_off_main, 0);
  EXPECT_EQ(hub_.state(kLight).state, "on");
  EXPECT_EQ(hub_.state(kDoor).state, "off");
  EXPECT_EQ(context_.counter_value("service_calls_total"), static_cast<uint64_t>(kTogglesA + kTogglesB));

  // Every change reached every watcher once, each dialog's NOTIFYs in CSeq
  // order with the states in the order they happened.
  const auto dialogs = notifies_by_dialog();
  ASSERT_EQ(dialogs.size(), static_cast<size_t>(watchers));
  size_t total = 0;
  for (const auto& [call_id, sent] : dialogs) {
    const bool light = call_id.find("-light-") != std::string::npos;
    const size_t changes = light ? kTogglesA + kTogglesB : kDoorReports;
    ASSERT_EQ(sent.size(), 1 + changes) << call_id;
    for (size_t i = 0; i < sent.size(); ++i) {
      EXPECT_EQ(sent[i]->request.cseq, i + 1) << call_id;
      const std::string state = json::parse(sent[i]->request.body)["state"];
      // Light: unknown, on, off, ...; door: unknown, on, off, ...
      const std::string expected = i == 0 ? "unknown" : (i % 2 ? "on" : "off");
      ASSERT_EQ(state, expected) << call_id << " NOTIFY " << i;
    }
    total += sent.size();
  }
  EXPECT_EQ(total, static_cast<size_t>(watchers + 2 * kLightWatchersPerLoop * (kTogglesA + kTogglesB) +
                                       kDoorWatchers * kDoorReports));
  EXPECT_EQ(context_.counter_value("notifies_total"), total);
}

}  // namespace
