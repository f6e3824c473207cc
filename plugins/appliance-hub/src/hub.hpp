// The appliance hub: all the SIP of entities (docs/appliances.md). It keeps
// the entities appliance plugins declare (and those devices PUBLISH), their
// last state, the subscriptions of watchers and the publications of devices,
// and answers MESSAGE, SUBSCRIBE and PUBLISH addressed to an entity of this
// server's domain.
//
// Threads: the main loop owns every table. A request another loop received
// is suspended there and served on the main loop (relayed_request.hpp), its
// answer posted back; report_state() from another thread is posted to the
// main loop; providers are called, NOTIFYs sent and their answers taken on
// the main loop. So nothing but state() reads a table off the main loop, and
// that one read takes entities_mutex_.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "homesip/appliance.hpp"
#include "homesip/context.hpp"

namespace homesip::appliance_hub {

inline constexpr const char* kEventPackage = "homesip-entity";

struct HubSettings {
  std::string domain;  // the served domain: entities are <entity_id>@domain
  int64_t min_expires = 60;
  int64_t max_expires = 3600;
  int64_t default_expires = 600;
  int64_t publish_expires = 3600;  // a PUBLISH's Expires when it has none
  int64_t max_subscriptions = 1000;
  int64_t max_subscriptions_per_entity = 100;
  int64_t max_publications = 1000;
  std::vector<std::string> published;  // entities devices PUBLISH; empty: any no provider serves
};

class Hub final : public ApplianceHub, public RequestHandler {
 public:
  Hub(PluginContext& context, HubSettings settings);
  ~Hub() override;
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  // Tells every watcher its subscription ends (reason=deactivated): RFC 6665
  // 4.1.3, so it subscribes again after a restart.
  void stop();

  // ApplianceHub
  void add_provider(ApplianceProvider& provider) override;
  void remove_provider(ApplianceProvider& provider) override;
  void entities_changed(ApplianceProvider& provider) override;
  void report_state(const EntityState& state) override;
  EntityState state(std::string_view entity_id) const override;

  // RequestHandler: on any loop.
  Disposition on_request(IncomingRequest& incoming) override;

  // `homesipctl entities`: a JSON array.
  std::string entities_json() const;

 private:
  struct Entity {
    ApplianceProvider* provider = nullptr;  // nullptr: a published entity
    std::string friendly_name;
    std::vector<std::string> services;
    EntityState state;
    uint64_t state_event = 0;     // the state_events_ number of what set `state`
    std::set<uint64_t> watchers;  // subscription ids
  };
  struct Subscription {
    uint64_t id = 0;
    std::string entity_id;
    std::string call_id;
    std::string our_tag;     // the To-tag of our 200, the From-tag of our NOTIFYs
    std::string subscriber;  // the SUBSCRIBE's From, with its tag: our NOTIFYs' To
    std::string target;      // the subscriber's Contact
    std::string watcher;     // the authenticated AOR, or From's when none
    uint32_t cseq = 0;
    int64_t expires_at = 0;  // unix seconds
  };
  struct Publication {
    std::string entity_id;
    int64_t expires_at = 0;
  };
  // The answer to a request, kept so a retransmission gets it again instead of
  // a second call; a request still waiting for its provider collects its
  // retransmissions and answers them all.
  struct Recent {
    bool done = false;
    Reply reply;
    std::vector<std::unique_ptr<SuspendedRequest>> waiting;
  };

  bool is_entity_uri(const UriView& uri) const;
  // Takes a request another loop received to the main loop.
  void relay(IncomingRequest& incoming);
  // Answers an entity's request; main loop.
  Disposition serve(IncomingRequest& incoming);
  // Runs `task` on the main loop after `incoming`'s answer left its loop (a
  // SUBSCRIBE's first NOTIFY comes after its 200).
  void after_answer(IncomingRequest& incoming, std::function<void()> task);
  Disposition on_message(IncomingRequest& incoming, const std::string& key);
  // What follows a SUBSCRIBE's 200: a NOTIFY of the state, or the last one (a fetch, an unsubscribe).
  struct Followup {
    uint64_t subscription = 0;
    bool ends = false;
  };
  Reply on_subscribe(IncomingRequest& incoming, std::optional<Followup>& followup);
  Reply on_publish(IncomingRequest& incoming);
  Reply refresh_subscription(IncomingRequest& incoming, int64_t expires, std::optional<Followup>& followup);

  void remember(const std::string& key, Reply reply);
  void finish_call(const std::string& key, const std::string& entity_id, uint64_t call_event,
                   ServiceResult result, std::chrono::steady_clock::time_point started);

  // A state reported or published: the newest there is.
  void apply_state(EntityState state);
  // Stores `state` and notifies the watchers when it differs from the stored one.
  void store_state(Entity& entity, EntityState state);
  Reply state_reply(const Entity& entity) const;
  static Reply error_reply(int status, std::string_view code, std::string_view message);
  static Reply bad_event_reply();

  void send_notify(Subscription& subscription, const std::string& subscription_state);
  void notify_active(uint64_t id);
  // Sends the final NOTIFY with `reason` and forgets the subscription.
  void terminate(uint64_t id, std::string_view reason);
  // Forgets the subscription without telling the subscriber (its NOTIFY failed).
  void forget(uint64_t id);
  void forget_publication(const std::string& etag);
  // False when max_publications entities made by PUBLISH exist and none is
  // stale (unpublished and unwatched) to forget.
  bool make_room_for_published_entity();
  void sweep();
  void add_entities(ApplianceProvider& provider, const std::vector<EntityInfo>& infos);
  void remove_entity(const std::string& entity_id);
  std::string new_etag();
  int64_t now_ms() const;

  PluginContext& context_;
  Logger& log_;
  const HubSettings settings_;
  const std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  Counter service_calls_;
  Counter notifies_;
  Gauge subscriptions_gauge_;
  Gauge publications_gauge_;
  Histogram service_call_seconds_;

  // The main loop writes entities_ and an entity's `state` under this lock,
  // and reads them without it; state() from another thread reads under it.
  mutable std::mutex entities_mutex_;
  std::map<std::string, Entity, std::less<>> entities_;
  std::map<uint64_t, Subscription> subscriptions_;
  std::map<std::string, uint64_t> dialogs_;          // call-id + "\n" + our tag -> subscription
  std::set<std::pair<int64_t, uint64_t>> expiries_;  // (expires_at, subscription)
  std::map<std::string, Publication> publications_;  // by etag
  std::set<std::pair<int64_t, std::string>> publication_expiries_;
  size_t published_entities_ = 0;            // entities a PUBLISH made (not configured ones)
  std::deque<std::string> stale_published_;  // of those, the ones unpublished, oldest first
  std::unordered_map<std::string, Recent> recent_;
  std::deque<std::string> recent_order_;
  std::map<uint64_t, std::unique_ptr<ClientTransaction>> notifies_in_flight_;
  uint64_t next_id_ = 1;
  // Numbers, in order, every call begun and every state reported: a call's answer, which may come after
  // a later call's or a report (calls overlap, finish in any order), sets the state only if it is newer.
  uint64_t state_events_ = 0;
  uint64_t etag_seed_;
  std::unique_ptr<Timer> sweeper_;
};

}  // namespace homesip::appliance_hub
