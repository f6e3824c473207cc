// Liveness of the child servers (issue 12, 4): a parent notices a dead child
// before its binding expires. Every `interval` it sends OPTIONS to each direct
// child server -- a binding in its child domain whose User-Agent starts with
// "homesipd", learned from the location store and from the REGISTERs the
// handler sees. A probe still unanswered at the next round, or answered by
// the core's own 408/503 (timeout, unreachable), is a miss; after `misses`
// in a row the child is offline and the redirect answers 404 Next Server
// Offline for its subtree at once. Any answer from the child, or a new
// REGISTER from it, brings it back.
//
// Threads: probes, rounds and the store's answers on the main loop;
// on_register() and offline() from any loop thread (the handler's), so the
// table is behind a mutex. A probe's transaction is destroyed after the mutex
// is released, never under it: its destructor is the client's code.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "homesip/admin.hpp"
#include "homesip/client.hpp"
#include "homesip/location_store.hpp"
#include "homesip/log.hpp"
#include "homesip/loop.hpp"

namespace homesip::tree {

struct ChildStatus {
  std::string aor;      // "D1@C1"
  std::string contact;  // where it is probed
  bool online = true;
  int64_t since = 0;  // unix seconds of the last change between online and offline
  int misses = 0;     // unanswered probes in a row
};

struct MonitorSettings {
  std::string child_domain;          // "C1": where direct children live
  std::string from;                  // From of the probes: "sip:C1@" or "sip:D1@C1"
  std::chrono::seconds interval{5};  // 0: no probes (children stay as registered)
  int misses = 3;
};

struct MonitorMetrics {
  Gauge children_online;
  Counter keepalive_failures;
};

// True for the User-Agent of a homesipd's upward REGISTER.
bool is_server_user_agent(std::string_view user_agent);

class ChildMonitor {
 public:
  // All references must outlive this object; `loop` is the main loop.
  ChildMonitor(SipClient& client, EventLoop& loop, LocationStore& store, MonitorSettings settings,
               Logger& log, MonitorMetrics metrics = {});
  ~ChildMonitor();
  ChildMonitor(const ChildMonitor&) = delete;
  ChildMonitor& operator=(const ChildMonitor&) = delete;

  // Starts the rounds (main loop); stop() ends them and drops probes in flight.
  void start();
  void stop();
  // One round now: learn children from the store, count unanswered probes,
  // probe everyone. The timer calls it every interval.
  void round();

  // A REGISTER of the direct child server `aor` passed on to the registrar:
  // `contact` is where it asks to be reached; `expires` 0 removes it (a
  // graceful stop). Any loop thread.
  void on_register(const std::string& aor, const std::string& contact, uint32_t expires, int64_t now);
  // True when `aor` is a known child server that is offline. Any loop thread.
  bool offline(std::string_view aor) const;
  std::vector<ChildStatus> children() const;

 private:
  struct Child {
    ChildStatus status;
    uint64_t generation = 0;                   // when it was last learned (a round's or a REGISTER's number)
    std::unique_ptr<ClientTransaction> probe;  // main loop only
  };
  struct Alive {};

  void learn_from_store(uint64_t generation);
  void learned(const std::string& aor, const std::string& contact, uint64_t generation);
  void forget_absent(const std::vector<std::string>& present, uint64_t generation);
  void probe_all();
  void send_probe(Child& child);
  void on_probe_answer(const std::string& aor, const SipResponse& response);
  void missed(Child& child, int64_t now, std::string_view why);
  void set_online(Child& child, bool online, int64_t now, std::string_view why);
  void publish_online_count();
  static std::string key(std::string_view aor);

  SipClient& client_;
  EventLoop& loop_;
  LocationStore& store_;
  MonitorSettings settings_;
  Logger& log_;
  MonitorMetrics metrics_;
  mutable std::mutex mutex_;
  std::map<std::string, Child> children_;  // by lower-case AOR
  uint64_t generation_ = 0;
  std::unique_ptr<Timer> timer_;
  std::shared_ptr<Alive> alive_ = std::make_shared<Alive>();  // guards store callbacks
};

}  // namespace homesip::tree
