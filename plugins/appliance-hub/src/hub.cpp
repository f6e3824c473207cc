#include "hub.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>

#include "entity_json.hpp"
#include "homesip/attributes.hpp"
#include "relayed_request.hpp"

namespace homesip::appliance_hub {

namespace {

constexpr size_t kRecentRequests = 1024;  // answers kept for retransmissions (T1*64 = 32 s of them)

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if ((a[i] | 0x20) != (b[i] | 0x20)) return false;
  return true;
}

std::string request_key(const SipRequest& request) {
  std::string key(request.method_name());
  key.append(" ").append(request.call_id()).append(" ").append(std::to_string(request.cseq()));
  key.append(" ").append(request.from_tag());
  return key;
}

// Who asked: the identity an authenticator proved; the From AOR only to name
// a watcher in `entities` when nobody authenticated it.
std::string caller_of(IncomingRequest& incoming) {
  if (const auto* identity = incoming.attributes().get(kAuthenticatedIdentity)) return identity->aor;
  return "";
}

std::string from_aor(const UriView& uri) { return std::string(uri.user) + "@" + std::string(uri.host); }

// Over UDP the NOTIFYs go where the SUBSCRIBE's Contact says, and anyone can
// write any Contact (and, unauthenticated, any source): a Contact host other
// than the address the SUBSCRIBE came from would make the hub a reflector (a
// small SUBSCRIBE, large NOTIFYs and their retransmissions to a third party).
// Over TCP and TLS the sender is a connection, and a listener of its own is
// usual (homesip-ua watch --listen); a server of the tree relays for others.
bool contact_elsewhere(IncomingRequest& incoming, const std::string& contact) {
  const SipRequest& request = incoming.request();
  if (request.source().transport != "udp") return false;
  if (const auto* identity = incoming.attributes().get(kAuthenticatedIdentity);
      identity && identity->role == "server")
    return false;
  const std::optional<UriView> uri = parse_uri(contact);
  if (!uri) return true;
  // maddr sends the request elsewhere than the host (RFC 3261 19.1.1).
  if (uri_param(uri->params, "maddr")) return true;
  std::string_view host = uri->host;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return !equal_ignoring_case(host, request.source().ip);
}

}  // namespace

Hub::Hub(PluginContext& context, HubSettings settings)
    : context_(context),
      log_(context.logger()),
      settings_(std::move(settings)),
      service_calls_(context.counter("service_calls_total")),
      notifies_(context.counter("notifies_total")),
      subscriptions_gauge_(context.gauge("subscriptions")),
      publications_gauge_(context.gauge("publications")),
      service_call_seconds_(context.histogram("service_call_seconds")),
      etag_seed_(std::random_device{}()) {
  for (const std::string& id : settings_.published) {
    Entity& entity = entities_[id];
    entity.state = EntityState{id, "unknown", "{}", 0};
  }
  // One timer for every expiry: the sets are sorted by time, so a tick looks at their fronts only.
  sweeper_ = context_.loop().start_timer(std::chrono::seconds(1), true, [this] { sweep(); });
}

Hub::~Hub() { *alive_ = false; }

void Hub::stop() {
  std::vector<uint64_t> ids;
  for (const auto& [id, subscription] : subscriptions_) ids.push_back(id);
  for (uint64_t id : ids) terminate(id, "deactivated");
  sweeper_.reset();
  // A call still waiting for its device is answered now, while the loops its requests came on still turn.
  std::vector<std::string> waiting;
  for (const auto& [key, recent] : recent_)
    if (!recent.done) waiting.push_back(key);
  Reply stopping = error_reply(503, "unavailable", "the appliance hub is stopping");
  stopping.header("Retry-After", "5");  // as the core answers the requests it holds at shutdown
  for (const std::string& key : waiting) remember(key, stopping);
}

// ---- providers and states ----

void Hub::add_entities(ApplianceProvider& provider, const std::vector<EntityInfo>& infos) {
  for (const EntityInfo& info : infos) {
    if (!valid_entity_id(info.entity_id))
      throw std::logic_error("entity id '" + info.entity_id + "' is not <domain>.<object_id>");
    const auto it = entities_.find(info.entity_id);
    if (it != entities_.end() && it->second.provider != &provider)
      throw std::logic_error(
          "entity " + info.entity_id +
          (it->second.provider ? " is served by another provider" : " is a published entity"));
  }
  const std::lock_guard lock(entities_mutex_);
  for (const EntityInfo& info : infos) {
    Entity& entity = entities_[info.entity_id];
    const bool is_new = entity.provider == nullptr;
    entity.provider = &provider;
    entity.friendly_name = info.friendly_name;
    entity.services = info.services;
    if (is_new) {
      entity.state = EntityState{info.entity_id, "unknown", "{}", 0};
      entity.state_event = ++state_events_;  // older calls' answers are not about this entity
    }
  }
}

void Hub::add_provider(ApplianceProvider& provider) {
  add_entities(provider, provider.entities());
  log_.info("appliance provider added: ", entities_.size(), " entities");
}

void Hub::remove_entity(const std::string& entity_id) {
  const auto it = entities_.find(entity_id);
  if (it == entities_.end()) return;
  const std::set<uint64_t> watchers = it->second.watchers;
  for (uint64_t id : watchers) terminate(id, "noresource");
  const std::lock_guard lock(entities_mutex_);
  entities_.erase(entity_id);
}

void Hub::remove_provider(ApplianceProvider& provider) {
  std::vector<std::string> ids;
  for (const auto& [id, entity] : entities_)
    if (entity.provider == &provider) ids.push_back(id);
  for (const std::string& id : ids) remove_entity(id);
}

void Hub::entities_changed(ApplianceProvider& provider) {
  const std::vector<EntityInfo> infos = provider.entities();
  std::vector<std::string> gone;
  for (const auto& [id, entity] : entities_)
    if (entity.provider == &provider &&
        std::none_of(infos.begin(), infos.end(), [&](const EntityInfo& i) { return i.entity_id == id; }))
      gone.push_back(id);
  for (const std::string& id : gone) remove_entity(id);
  add_entities(provider, infos);
}

void Hub::report_state(const EntityState& state) {
  if (context_.loop().on_loop_thread()) return apply_state(state);
  context_.loop().post([this, alive = alive_, state] {
    if (*alive) apply_state(state);
  });
}

void Hub::apply_state(EntityState state) {
  const auto it = entities_.find(state.entity_id);
  if (it == entities_.end()) {
    log_.debug("state of unknown entity ", state.entity_id, " ignored");
    return;
  }
  it->second.state_event = ++state_events_;
  store_state(it->second, std::move(state));
}

void Hub::store_state(Entity& entity, EntityState state) {
  if (state.attributes_json.empty()) state.attributes_json = "{}";
  const bool state_changed = state.state != entity.state.state;
  if (!state_changed && same_attributes(state.attributes_json, entity.state.attributes_json)) return;
  if (state.last_changed_ms == 0)
    state.last_changed_ms = state_changed ? now_ms() : entity.state.last_changed_ms;
  {
    const std::lock_guard lock(entities_mutex_);
    entity.state = std::move(state);
  }
  for (uint64_t id : entity.watchers) notify_active(id);
}

EntityState Hub::state(std::string_view entity_id) const {
  std::unique_lock lock(entities_mutex_, std::defer_lock);
  if (!context_.loop().on_loop_thread()) lock.lock();  // the main loop is the only writer
  const auto it = entities_.find(entity_id);
  if (it == entities_.end()) return EntityState{std::string(entity_id), "unknown", "{}", 0};
  return it->second.state;
}

int64_t Hub::now_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ---- requests ----

bool Hub::is_entity_uri(const UriView& uri) const {
  // Requests inside a subscription's dialog come to its Contact: this server's own address.
  return valid_entity_id(uri.user) &&
         (equal_ignoring_case(uri.host, settings_.domain) || context_.addresses_me(uri));
}

// 489 to a SUBSCRIBE or PUBLISH of another event package (RFC 6665 8.3.2).
Reply Hub::bad_event_reply() {
  Reply reply = error_reply(489, "bad_event", "the event package is homesip-entity");
  reply.header("Allow-Events", kEventPackage);
  return reply;
}

Reply Hub::error_reply(int status, std::string_view code, std::string_view message) {
  Reply reply(status);
  reply.content_type = "application/json";
  reply.body = error_json(code, message);
  return reply;
}

Reply Hub::state_reply(const Entity& entity) const {
  Reply reply(200);
  reply.content_type = "application/json";
  reply.body = state_json(entity.state, entity.friendly_name);
  return reply;
}

void Hub::remember(const std::string& key, Reply reply) {
  if (!recent_.count(key)) recent_order_.push_back(key);
  Recent& recent = recent_[key];
  recent.done = true;
  recent.reply = std::move(reply);
  for (auto& waiting : recent.waiting) waiting->reply(recent.reply);
  recent.waiting.clear();
  // Bounded: the oldest answered requests go first (one still waiting for its provider stays).
  while (recent_order_.size() > kRecentRequests) {
    const auto oldest = recent_.find(recent_order_.front());
    if (oldest != recent_.end() && !oldest->second.done) break;
    if (oldest != recent_.end()) recent_.erase(oldest);
    recent_order_.pop_front();
  }
}

Disposition Hub::on_request(IncomingRequest& incoming) {
  const SipRequest& request = incoming.request();
  const Method method = request.method();
  if (method != Method::kMessage && method != Method::kSubscribe && method != Method::kPublish)
    return Disposition::kContinue;
  if (!is_entity_uri(request.request_uri())) return Disposition::kContinue;
  if (context_.loop().on_loop_thread()) return serve(incoming);
  relay(incoming);
  return Disposition::kSuspended;
}

void Hub::relay(IncomingRequest& incoming) {
  std::string to_tag(incoming.reply_to_tag());
  std::shared_ptr<SuspendedRequest> suspended = incoming.suspend();
  context_.loop().post(
      [this, alive = alive_, suspended = std::move(suspended), to_tag = std::move(to_tag)]() mutable {
        // Moved out of this task, which ends here: every reference now ends on the request's loop.
        RelayedRequest relayed(std::move(suspended), std::move(to_tag));  // unanswered: dropped there (a 500)
        if (!*alive) return;
        const std::string method(relayed.request().method_name());
        try {
          serve(relayed);
        } catch (const std::exception& e) {  // what the chain does for a handler that throws
          log_.error("appliance-hub failed on a ", method, ": ", e.what());
        }
      });
}

void Hub::after_answer(IncomingRequest& incoming, std::function<void()> task) {
  EventLoop& main = context_.loop();
  // A loop sends the answers its handlers and tasks gave once it has run what
  // is at hand, before it waits again; what a task posts to its own loop runs
  // after that. So on the main loop, posting is enough. On another loop, the
  // answer was posted there: a task posted after it, which posts once more,
  // runs after the answer left.
  if (&incoming.loop() == &main) return main.post(std::move(task));
  EventLoop& origin = incoming.loop();
  origin.post([&origin, &main, task = std::move(task)] { origin.post([&main, task] { main.post(task); }); });
}

Disposition Hub::serve(IncomingRequest& incoming) {
  const SipRequest& request = incoming.request();
  const Method method = request.method();
  const std::string key = request_key(request);
  if (const auto it = recent_.find(key); it != recent_.end()) {
    // A retransmission: the first answer again, or wait with the first for its provider.
    if (it->second.done) {
      incoming.reply(it->second.reply);
      return Disposition::kHandled;
    }
    it->second.waiting.push_back(incoming.suspend());
    return Disposition::kSuspended;
  }
  if (method == Method::kMessage) return on_message(incoming, key);
  if (method == Method::kPublish) {
    Reply reply = on_publish(incoming);
    incoming.reply(reply);
    remember(key, std::move(reply));
    return Disposition::kHandled;
  }
  std::optional<Followup> followup;
  Reply reply = on_subscribe(incoming, followup);
  incoming.reply(reply);
  remember(key, std::move(reply));
  // The NOTIFYs leave after the 200 is on its way, so the subscriber sees them in that order.
  if (followup)
    after_answer(incoming, [this, alive = alive_, followup = *followup] {
      if (!*alive) return;
      if (followup.ends) return terminate(followup.subscription, "timeout");
      notify_active(followup.subscription);
    });
  return Disposition::kHandled;
}

Disposition Hub::on_message(IncomingRequest& incoming, const std::string& key) {
  const SipRequest& request = incoming.request();
  const std::string entity_id(request.request_uri().user);
  auto answer = [&](Reply reply) {
    incoming.reply(reply);
    remember(key, std::move(reply));
    return Disposition::kHandled;
  };
  if (!request.body().empty() && !is_json_content_type(request.content_type())) {
    Reply reply = error_reply(415, "unsupported_media_type", "the body must be application/json");
    reply.header("Accept", "application/json");
    return answer(std::move(reply));
  }
  std::string problem;
  const std::optional<MessageBody> body = parse_message_body(request.body(), problem);
  if (!body) return answer(error_reply(400, "invalid_json", problem));
  const auto it = entities_.find(entity_id);
  if (it == entities_.end())
    return answer(error_reply(404, "unknown_entity", "no entity " + entity_id + " here"));
  Entity& entity = it->second;
  if (body->service.empty()) return answer(state_reply(entity));
  if (!entity.provider ||
      std::find(entity.services.begin(), entity.services.end(), body->service) == entity.services.end())
    return answer(error_reply(400, "unknown_service", entity_id + " has no service " + body->service));

  ServiceCall call{entity_id, body->service, body->data_json, caller_of(incoming)};
  service_calls_.add();
  recent_[key].waiting.push_back(incoming.suspend());
  recent_order_.push_back(key);
  const auto started = std::chrono::steady_clock::now();
  const uint64_t call_event = ++state_events_;
  // The provider answers once, maybe at once, maybe from its own thread: back to the main loop.
  ServiceDone done = [this, alive = alive_, key, entity_id, call_event, started](ServiceResult result) {
    context_.loop().post(
        [this, alive, key, entity_id, call_event, started, result = std::move(result)]() mutable {
          if (*alive) finish_call(key, entity_id, call_event, std::move(result), started);
        });
  };
  try {
    entity.provider->call_service(call, std::move(done));
  } catch (const std::exception& e) {
    log_.warn("service ", call.service, " of ", entity_id, " failed: ", e.what());
    remember(key, error_reply(500, "internal", "the device plugin failed"));
  }
  return Disposition::kSuspended;
}

void Hub::finish_call(const std::string& key, const std::string& entity_id, uint64_t call_event,
                      ServiceResult result, std::chrono::steady_clock::time_point started) {
  const auto pending = recent_.find(key);
  if (pending == recent_.end() || pending->second.done) return;  // answered once only
  service_call_seconds_.observe(std::chrono::steady_clock::now() - started);
  const auto it = entities_.find(entity_id);
  if (result.status != 200) {
    const std::string code = result.error.empty() ? "error" : result.error;
    Reply reply = error_reply(result.status, code, result.message.empty() ? code : result.message);
    if (result.status == 503) reply.header("Retry-After", "30");
    return remember(key, std::move(reply));
  }
  if (it == entities_.end())
    return remember(key, error_reply(404, "unknown_entity", "no entity " + entity_id));
  // The provider reported the change already; a state it answers with but did not report is taken too,
  // unless a report or a later call's answer set the state since this call began: that one is newer.
  Entity& entity = it->second;
  if (result.state.entity_id == entity_id && call_event > entity.state_event) {
    entity.state_event = call_event;
    store_state(entity, std::move(result.state));
  }
  remember(key, state_reply(entity));
}

Reply Hub::on_subscribe(IncomingRequest& incoming, std::optional<Followup>& followup) {
  const SipRequest& request = incoming.request();
  if (request.event() != kEventPackage) return bad_event_reply();
  const std::string entity_id(request.request_uri().user);
  const auto entity = entities_.find(entity_id);
  if (entity == entities_.end())
    return error_reply(404, "unknown_entity", "no entity " + entity_id + " here");
  if (const auto accept = request.header("Accept"); accept && !accepts_json(*accept)) {
    Reply reply = error_reply(406, "not_acceptable", "NOTIFY bodies are application/json");
    reply.header("Accept", "application/json");
    return reply;
  }
  if (request.expires_header_invalid()) return error_reply(400, "invalid_expires", "Expires is not a number");
  const int64_t expires = request.expires_header().value_or(static_cast<uint32_t>(settings_.default_expires));
  if (expires != 0 && expires < settings_.min_expires) {
    Reply reply = error_reply(423, "interval_too_brief", "Expires is below Min-Expires");
    reply.header("Min-Expires", std::to_string(settings_.min_expires));
    return reply;
  }
  if (!request.to_tag().empty()) return refresh_subscription(incoming, expires, followup);

  const std::vector<ContactView> contacts = request.contacts();
  if (contacts.empty() || contacts.front().wildcard)
    return error_reply(400, "missing_contact", "a SUBSCRIBE needs a Contact");
  if (contact_elsewhere(incoming, contacts.front().uri))
    return error_reply(403, "contact_not_source",
                       "over UDP the Contact must be the address the SUBSCRIBE came from");
  if (expires != 0 &&
      (static_cast<int64_t>(subscriptions_.size()) >= settings_.max_subscriptions ||
       static_cast<int64_t>(entity->second.watchers.size()) >= settings_.max_subscriptions_per_entity)) {
    Reply reply = error_reply(503, "too_many_subscriptions", "no more watchers here");
    reply.header("Retry-After", "60");
    return reply;
  }
  Subscription subscription;
  subscription.id = next_id_++;
  subscription.entity_id = entity_id;
  subscription.call_id = std::string(request.call_id());
  subscription.our_tag = std::string(incoming.reply_to_tag());
  subscription.subscriber = std::string(request.header("From").value_or(""));
  subscription.target = contacts.front().uri;
  const std::string caller = caller_of(incoming);
  subscription.watcher = caller.empty() ? from_aor(request.from_uri()) : caller;
  const int64_t granted = std::min<int64_t>(expires, settings_.max_expires);
  subscription.expires_at = context_.loop().unix_now() + granted;

  Reply reply(200);
  reply.to_tag = subscription.our_tag;
  reply.header("Expires", std::to_string(granted));
  reply.contacts.push_back(ReplyContact{context_.contact_uri(entity_id), std::nullopt, std::nullopt});

  const uint64_t id = subscription.id;
  subscriptions_.emplace(id, std::move(subscription));
  Subscription& stored = subscriptions_.at(id);
  dialogs_[stored.call_id + "\n" + stored.our_tag] = id;
  entity->second.watchers.insert(id);
  expiries_.emplace(stored.expires_at, id);
  subscriptions_gauge_.set(static_cast<int64_t>(subscriptions_.size()));
  // A fetch (RFC 6665 4.4.3): the state once, and no subscription.
  followup = Followup{id, granted == 0};
  if (granted != 0) log_.info("subscribed ", stored.watcher, " to ", entity_id, " for ", granted, " s");
  return reply;
}

Reply Hub::refresh_subscription(IncomingRequest& incoming, int64_t expires,
                                std::optional<Followup>& followup) {
  const SipRequest& request = incoming.request();
  const auto dialog = dialogs_.find(std::string(request.call_id()) + "\n" + std::string(request.to_tag()));
  if (dialog == dialogs_.end())
    return error_reply(481, "no_subscription", "no such subscription (it ended or never was)");
  Subscription& subscription = subscriptions_.at(dialog->second);
  const uint64_t id = subscription.id;
  const int64_t granted = std::min<int64_t>(expires, settings_.max_expires);
  Reply reply(200);
  reply.header("Expires", std::to_string(granted));
  reply.contacts.push_back(
      ReplyContact{context_.contact_uri(subscription.entity_id), std::nullopt, std::nullopt});
  if (const std::vector<ContactView> contacts = request.contacts();
      !contacts.empty() && !contacts.front().wildcard && !contact_elsewhere(incoming, contacts.front().uri))
    subscription.target = contacts.front().uri;  // one elsewhere keeps the old target
  followup = Followup{id, granted == 0};
  if (granted == 0) return reply;
  expiries_.erase({subscription.expires_at, id});
  subscription.expires_at = context_.loop().unix_now() + granted;
  expiries_.emplace(subscription.expires_at, id);
  return reply;
}

Reply Hub::on_publish(IncomingRequest& incoming) {
  const SipRequest& request = incoming.request();
  if (request.event() != kEventPackage) return bad_event_reply();
  const std::string entity_id(request.request_uri().user);
  const auto entity = entities_.find(entity_id);
  if (entity != entities_.end() && entity->second.provider)
    return error_reply(403, "provider_entity",
                       entity_id + " belongs to a device plugin, which reports its state");
  if (entity == entities_.end() && !settings_.published.empty())
    return error_reply(404, "unknown_entity", entity_id + " is not among the hub's published entities");
  if (request.expires_header_invalid()) return error_reply(400, "invalid_expires", "Expires is not a number");
  const int64_t expires = std::min<int64_t>(
      request.expires_header().value_or(static_cast<uint32_t>(settings_.publish_expires)), 86400);
  if (expires != 0 && expires < settings_.min_expires) {
    Reply reply = error_reply(423, "interval_too_brief", "Expires is below Min-Expires");
    reply.header("Min-Expires", std::to_string(settings_.min_expires));
    return reply;
  }
  std::optional<PublishBody> body;
  if (!request.body().empty()) {
    if (!is_json_content_type(request.content_type())) {
      Reply reply = error_reply(415, "unsupported_media_type", "the body must be application/json");
      reply.header("Accept", "application/json");
      return reply;
    }
    std::string problem;
    body = parse_publish_body(request.body(), problem);
    if (!body) return error_reply(400, "invalid_json", problem);
  }

  const std::optional<std::string_view> if_match = request.header("SIP-If-Match");
  if (if_match) {
    const auto publication = publications_.find(std::string(*if_match));
    if (publication == publications_.end() || publication->second.entity_id != entity_id)
      return error_reply(412, "unknown_etag", "no publication with that entity tag");
    if (expires == 0) {
      forget_publication(publication->first);
      Reply reply(200);
      reply.header("Expires", "0");
      return reply;
    }
    publication_expiries_.erase({publication->second.expires_at, publication->first});
    publications_.erase(publication);
  } else {
    if (!body) return error_reply(400, "invalid_json", "a new publication needs a body");
    if (expires == 0) return error_reply(400, "invalid_expires", "Expires 0 needs SIP-If-Match");
    if (static_cast<int64_t>(publications_.size()) >= settings_.max_publications) {
      Reply reply = error_reply(503, "too_many_publications", "no more publications here");
      reply.header("Retry-After", "60");
      return reply;
    }
  }
  if (entity == entities_.end()) {
    if (!make_room_for_published_entity()) {
      Reply reply = error_reply(503, "too_many_entities", "no room for another published entity here");
      reply.header("Retry-After", "60");
      return reply;
    }
    const std::lock_guard lock(entities_mutex_);
    entities_[entity_id].state = EntityState{entity_id, "unknown", "{}", 0};
    ++published_entities_;
  }
  // RFC 3903: every refresh or modification gets a new entity tag.
  const std::string etag = new_etag();
  const int64_t expires_at = context_.loop().unix_now() + expires;
  publications_[etag] = Publication{entity_id, expires_at};
  publication_expiries_.emplace(expires_at, etag);
  publications_gauge_.set(static_cast<int64_t>(publications_.size()));
  if (body) apply_state(EntityState{entity_id, body->state, body->attributes_json, 0});
  Reply reply(200);
  reply.header("SIP-ETag", etag);
  reply.header("Expires", std::to_string(expires));
  return reply;
}

std::string Hub::new_etag() {
  // splitmix64: distinct tags without a lock or a syscall per PUBLISH.
  uint64_t z = (etag_seed_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(z));
  return text;
}

void Hub::forget_publication(const std::string& etag) {
  const auto it = publications_.find(etag);
  if (it == publications_.end()) return;
  const std::string entity_id = it->second.entity_id;
  publication_expiries_.erase({it->second.expires_at, etag});
  publications_.erase(it);
  publications_gauge_.set(static_cast<int64_t>(publications_.size()));
  const bool still_published = std::any_of(publications_.begin(), publications_.end(),
                                           [&](const auto& p) { return p.second.entity_id == entity_id; });
  if (!still_published) {
    // A configured entity keeps its last attributes; one that only a PUBLISH
    // made keeps none, and may make room for another (make_room_for_published_entity).
    const bool configured = std::find(settings_.published.begin(), settings_.published.end(), entity_id) !=
                            settings_.published.end();
    const EntityState old = state(entity_id);
    apply_state(EntityState{entity_id, "unavailable", configured ? old.attributes_json : "{}", 0});
    if (!configured &&
        std::find(stale_published_.begin(), stale_published_.end(), entity_id) == stale_published_.end())
      stale_published_.push_back(entity_id);
  }
}

bool Hub::make_room_for_published_entity() {
  // PUBLISHes for ever new names must not grow the table without end: past
  // max_publications such entities, the oldest that nobody publishes or
  // watches any more goes.
  // Each stale entry is looked at once: a watched one stays (in order) for
  // when its watchers are gone; a published again or gone one leaves the list.
  for (size_t left = stale_published_.size();
       published_entities_ >= static_cast<size_t>(settings_.max_publications); --left) {
    if (left == 0) return false;
    std::string id = std::move(stale_published_.front());
    stale_published_.pop_front();
    const auto it = entities_.find(id);
    if (it == entities_.end() || it->second.provider ||
        std::any_of(publications_.begin(), publications_.end(),
                    [&](const auto& p) { return p.second.entity_id == id; }))
      continue;
    if (!it->second.watchers.empty()) {
      stale_published_.push_back(std::move(id));
      continue;
    }
    const std::lock_guard lock(entities_mutex_);
    entities_.erase(it);
    --published_entities_;
  }
  return true;
}

// ---- NOTIFY ----

void Hub::send_notify(Subscription& subscription, const std::string& subscription_state) {
  OutgoingRequest notify("NOTIFY", subscription.target);
  notify.from = "<sip:" + subscription.entity_id + "@" + settings_.domain + ">;tag=" + subscription.our_tag;
  notify.to = subscription.subscriber;
  notify.call_id = subscription.call_id;
  notify.cseq = ++subscription.cseq;
  notify.header("Event", kEventPackage);
  notify.header("Subscription-State", subscription_state);
  notify.header("Contact", "<" + context_.contact_uri(subscription.entity_id) + ">");
  const auto entity = entities_.find(subscription.entity_id);
  notify.content_type = "application/json";
  notify.body = entity != entities_.end() ? state_json(entity->second.state, entity->second.friendly_name)
                                          : state_json(state(subscription.entity_id), "");
  const uint64_t id = subscription.id;
  const uint64_t transaction = next_id_++;
  try {
    auto sent =
        context_.client().send(notify, [this, alive = alive_, id, transaction](const SipResponse& response) {
          if (!*alive) return;
          const int status = response.status();
          // RFC 6665 4.1.3: a 481 or a timeout ends the subscription; the subscriber is gone.
          if (status == 481 || status == 408) {
            log_.info("subscription ", id, " ended: its NOTIFY got ", status);
            forget(id);
          }
          // The handle is dropped after its callback has returned.
          context_.loop().post([this, alive, transaction] {
            if (*alive) notifies_in_flight_.erase(transaction);
          });
        });
    notifies_in_flight_[transaction] = std::move(sent);
    notifies_.add();
  } catch (const std::invalid_argument& e) {
    log_.warn("cannot send NOTIFY to ", subscription.target, ": ", e.what());
  }
}

void Hub::notify_active(uint64_t id) {
  const auto it = subscriptions_.find(id);
  if (it == subscriptions_.end()) return;
  const int64_t left = std::max<int64_t>(0, it->second.expires_at - context_.loop().unix_now());
  send_notify(it->second, "active;expires=" + std::to_string(left));
}

void Hub::terminate(uint64_t id, std::string_view reason) {
  const auto it = subscriptions_.find(id);
  if (it == subscriptions_.end()) return;
  send_notify(it->second, "terminated;reason=" + std::string(reason));
  forget(id);
}

void Hub::forget(uint64_t id) {
  const auto it = subscriptions_.find(id);
  if (it == subscriptions_.end()) return;
  const Subscription& subscription = it->second;
  dialogs_.erase(subscription.call_id + "\n" + subscription.our_tag);
  expiries_.erase({subscription.expires_at, id});
  if (const auto entity = entities_.find(subscription.entity_id); entity != entities_.end())
    entity->second.watchers.erase(id);
  subscriptions_.erase(it);
  subscriptions_gauge_.set(static_cast<int64_t>(subscriptions_.size()));
}

void Hub::sweep() {
  const int64_t now = context_.loop().unix_now();
  while (!expiries_.empty() && expiries_.begin()->first <= now)
    terminate(expiries_.begin()->second, "timeout");
  while (!publication_expiries_.empty() && publication_expiries_.begin()->first <= now)
    forget_publication(publication_expiries_.begin()->second);
}

std::string Hub::entities_json() const {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& [id, entity] : entities_) {
    nlohmann::ordered_json row;
    row["entity_id"] = id;
    row["friendly_name"] = entity.friendly_name.empty() ? id : entity.friendly_name;
    row["state"] = entity.state.state;
    nlohmann::json attributes = nlohmann::json::parse(entity.state.attributes_json, nullptr, false);
    row["attributes"] = attributes.is_object() ? attributes : nlohmann::json::object();
    row["last_changed"] = entity.state.last_changed_ms > 0
                              ? nlohmann::json(iso8601_ms(entity.state.last_changed_ms))
                              : nlohmann::json(nullptr);
    row["provider"] = entity.provider ? "plugin" : "publish";
    nlohmann::json watchers = nlohmann::json::array();
    for (uint64_t sid : entity.watchers)
      if (const auto s = subscriptions_.find(sid); s != subscriptions_.end())
        watchers.push_back(s->second.watcher);
    row["watchers"] = watchers;
    out.push_back(row);
  }
  return out.dump();
}

}  // namespace homesip::appliance_hub
