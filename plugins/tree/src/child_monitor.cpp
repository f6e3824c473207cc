#include "child_monitor.hpp"

#include <algorithm>
#include <cctype>

#include "redirect_rules.hpp"

namespace homesip::tree {
namespace {

constexpr std::string_view kServerAgent = "homesipd";

// The best live binding a child server registered with this User-Agent.
const Binding* server_binding(const BindingList& bindings) {
  for (const Binding& b : bindings)  // highest q first
    if (is_server_user_agent(b.user_agent)) return &b;
  return nullptr;
}

}  // namespace

bool is_server_user_agent(std::string_view user_agent) {
  return user_agent.size() >= kServerAgent.size() &&
         std::equal(kServerAgent.begin(), kServerAgent.end(), user_agent.begin(),
                    [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); });
}

ChildMonitor::ChildMonitor(SipClient& client, EventLoop& loop, LocationStore& store, MonitorSettings settings,
                           Logger& log, MonitorMetrics metrics)
    : client_(client),
      loop_(loop),
      store_(store),
      settings_(std::move(settings)),
      log_(log),
      metrics_(std::move(metrics)) {}

ChildMonitor::~ChildMonitor() { stop(); }

std::string ChildMonitor::key(std::string_view aor) {
  std::string lower(aor);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower;
}

void ChildMonitor::start() {
  if (settings_.interval.count() <= 0) {
    learn_from_store(0);  // no probes, but `tree` still lists the children
    return;
  }
  round();
  timer_ = loop_.start_timer(settings_.interval, true, [this] { round(); });
}

void ChildMonitor::stop() {
  timer_.reset();
  alive_ = std::make_shared<Alive>();                       // store answers still on their way are ignored
  std::vector<std::unique_ptr<ClientTransaction>> dropped;  // destroyed after the lock: the client's code
  std::lock_guard lock(mutex_);
  for (auto& [key, child] : children_) dropped.push_back(std::move(child.probe));
}

void ChildMonitor::round() {
  uint64_t generation;
  {
    std::lock_guard lock(mutex_);
    generation = ++generation_;
  }
  probe_all();
  learn_from_store(generation);
}

void ChildMonitor::learn_from_store(uint64_t generation) {
  std::weak_ptr<Alive> alive = alive_;
  store_.list_aors(settings_.child_domain, [this, alive, generation](StoreStatus status,
                                                                     const std::vector<std::string>& aors) {
    if (!alive.lock() || status != StoreStatus::kOk) return;
    forget_absent(aors, generation);
    for (const std::string& aor : aors)
      store_.lookup(aor, [this, alive, aor, generation](StoreStatus found, const BindingList& bindings) {
        if (!alive.lock() || found != StoreStatus::kOk) return;
        if (const Binding* b = server_binding(bindings))
          learned(aor, redirect::reachable_contact(*b), generation);
      });
  });
}

void ChildMonitor::learned(const std::string& aor, const std::string& contact, uint64_t generation) {
  std::lock_guard lock(mutex_);
  auto [it, added] = children_.try_emplace(key(aor));
  Child& child = it->second;
  child.generation = std::max(child.generation, generation);
  child.status.contact = contact;
  if (!added) return;
  child.status.aor = aor;
  child.status.since = loop_.unix_now();
  log_.info("child server ", aor, " at ", contact, " (from the location store)");
  publish_online_count();
}

void ChildMonitor::forget_absent(const std::vector<std::string>& present, uint64_t generation) {
  std::vector<std::string> present_keys;
  for (const std::string& aor : present) present_keys.push_back(key(aor));
  std::vector<std::unique_ptr<ClientTransaction>> dropped;  // destroyed after the lock
  std::lock_guard lock(mutex_);
  // A child learned in this round or later (a REGISTER just now) stays: its
  // binding may not be listed yet.
  for (auto it = children_.begin(); it != children_.end();) {
    Child& child = it->second;
    const bool gone = child.generation < generation &&
                      std::find(present_keys.begin(), present_keys.end(), it->first) == present_keys.end();
    if (!gone) {
      ++it;
      continue;
    }
    log_.info("child server ", child.status.aor, " has no binding any more");
    dropped.push_back(std::move(child.probe));
    it = children_.erase(it);
  }
  publish_online_count();
}

void ChildMonitor::probe_all() {
  const int64_t now = loop_.unix_now();
  std::vector<std::pair<std::string, std::string>> targets;    // aor, contact
  std::vector<std::unique_ptr<ClientTransaction>> unanswered;  // destroyed after the lock
  {
    std::lock_guard lock(mutex_);
    for (auto& [key, child] : children_) {
      // Unanswered for a whole interval: nta's timer F (32 s) is far longer
      // than the liveness a parent promises, so a late answer counts as none.
      if (child.probe) missed(child, now, "no answer within the keepalive interval");
      unanswered.push_back(std::move(child.probe));
      targets.emplace_back(child.status.aor, child.status.contact);
    }
  }
  unanswered.clear();
  // Sent without the lock: a client may answer at once (an unsendable request).
  for (const auto& [aor, contact] : targets) {
    OutgoingRequest options("OPTIONS", contact);
    options.from = settings_.from;
    std::unique_ptr<ClientTransaction> probe;
    try {
      probe = client_.send(options, [this, aor = aor](const SipResponse& r) { on_probe_answer(aor, r); });
    } catch (const std::exception& e) {
      std::lock_guard lock(mutex_);
      if (auto it = children_.find(key(aor)); it != children_.end()) missed(it->second, now, e.what());
      continue;
    }
    std::lock_guard lock(mutex_);
    const auto it = children_.find(key(aor));
    if (it != children_.end() && it->second.status.contact == contact) it->second.probe = std::move(probe);
  }
}

void ChildMonitor::on_probe_answer(const std::string& aor, const SipResponse& response) {
  const int64_t now = loop_.unix_now();
  std::unique_ptr<ClientTransaction> done;  // destroyed after the lock, not inside the client's call
  std::lock_guard lock(mutex_);
  const auto it = children_.find(key(aor));
  if (it == children_.end()) return;
  Child& child = it->second;
  done = std::move(child.probe);
  if (response.local() && (response.status() == 408 || response.status() == 503))
    return missed(child, now, std::to_string(response.status()) + " " + std::string(response.reason()));
  child.status.misses = 0;
  if (!child.status.online) set_online(child, true, now, "answered a keepalive");
}

void ChildMonitor::missed(Child& child, int64_t now, std::string_view why) {
  metrics_.keepalive_failures.add();
  ++child.status.misses;
  log_.debug("keepalive to ", child.status.aor, " missed (", why, "), ", child.status.misses, " in a row");
  if (child.status.online && child.status.misses >= settings_.misses)
    set_online(child, false, now, std::to_string(child.status.misses) + " keepalives unanswered");
}

void ChildMonitor::set_online(Child& child, bool online, int64_t now, std::string_view why) {
  child.status.online = online;
  child.status.since = now;
  if (online)
    log_.info("child server ", child.status.aor, " is online again (", why, ")");
  else
    log_.warn("child server ", child.status.aor, " is offline (", why,
              "): its subtree gets 404 until it answers");
  publish_online_count();
}

void ChildMonitor::publish_online_count() {
  metrics_.children_online.set(std::count_if(children_.begin(), children_.end(),
                                             [](const auto& e) { return e.second.status.online; }));
}

void ChildMonitor::on_register(const std::string& aor, const std::string& contact, uint32_t expires,
                               int64_t now) {
  std::shared_ptr<ClientTransaction> dropped;  // destroyed on the main loop, where it was made
  {
    std::lock_guard lock(mutex_);
    const auto it = children_.find(key(aor));
    if (expires == 0) {
      if (it == children_.end()) return;
      dropped = std::move(it->second.probe);
      children_.erase(it);
      log_.info("child server ", aor, " unregistered");
      publish_online_count();
    } else if (it == children_.end()) {
      Child& child = children_[key(aor)];
      child.status = ChildStatus{aor, contact, true, now, 0};
      child.generation = ++generation_;
      log_.info("child server ", aor, " registered from ", contact);
      publish_online_count();
    } else {
      Child& child = it->second;
      child.generation = ++generation_;
      child.status.contact = contact;
      child.status.misses = 0;
      if (!child.status.online) set_online(child, true, now, "registered again");
    }
  }
  if (dropped) loop_.post([dropped] {});
}

bool ChildMonitor::offline(std::string_view aor) const {
  std::lock_guard lock(mutex_);
  const auto it = children_.find(key(aor));
  return it != children_.end() && !it->second.status.online;
}

std::vector<ChildStatus> ChildMonitor::children() const {
  std::lock_guard lock(mutex_);
  std::vector<ChildStatus> out;
  for (const auto& [key, child] : children_) out.push_back(child.status);
  return out;
}

}  // namespace homesip::tree
