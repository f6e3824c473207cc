// The tree plugin: the paper's management network in one config block. It
// offers TreeService (where this server stands), judges REGISTERs and calls
// by the tree's names (redirect_rules.cpp), registers this server upward
// (upward_registration.cpp), watches its child servers (child_monitor.cpp),
// forwards its phones' requests (phone_proxy.cpp) and answers the `tree` and
// `locate` commands. This file only wires the parts together.
#include "homesip/plugin.hpp"

#include <memory>
#include <optional>

#include "child_monitor.hpp"
#include "homesip/location_store.hpp"
#include "homesip/tree.hpp"
#include "phone_proxy.hpp"
#include "redirect_handler.hpp"
#include "tree_commands.hpp"
#include "tree_resolver.hpp"
#include "tree_settings.hpp"
#include "upward_registration.hpp"

#ifndef HOMESIP_SERVER_VERSION
#define HOMESIP_SERVER_VERSION "0"
#endif

namespace {

using namespace homesip;
using namespace homesip::tree;

const char* const kProvides[] = {TreeService::kServiceName};
const char* const kRequires[] = {LocationStore::kServiceName};
const CommandSpec kCommands[] = {
    {"tree", "", "this server's place in the tree: top, parent, children online/offline and since when"},
    {"locate", "AOR",
     "follows the tree to AOR: the path, the family server, contacts, a phone's account settings"},
};
const MetricSpec kMetrics[] = {
    {"redirects_total", MetricType::kCounter, "302 answers sent down or up the tree"},
    {"children_online", MetricType::kGauge, "direct child servers answering keepalives"},
    {"keepalive_failures_total", MetricType::kCounter, "keepalives to child servers left unanswered"},
    {"forwarded_total", MetricType::kCounter, "requests of this server's phones forwarded statelessly"},
};

// `homesipd --check-config` runs this: every wrong value is a config error.
void check_settings(const Settings& settings) { read_tree_settings(settings); }

class TreePlugin final : public Plugin, public TreeService {
 public:
  explicit TreePlugin(PluginContext& context)
      : context_(context), settings_(read_tree_settings(context.settings())) {
    context.provide<TreeService>(*this);
    LocationStore& store = context.require<LocationStore>();
    Logger& log = context.logger();
    resolver_ = std::make_unique<TreeResolver>(context.client(), resolver_settings(), log);
    phones_ = std::make_unique<PhoneProxy>(settings_.me, store, *resolver_, log);
    // Where others reach this server for a phone on a flow: a listener of
    // ours, so the core takes that Route as its own.
    const std::string edge = context.contact_uri("");
    monitor_ = std::make_unique<ChildMonitor>(
        context.client(), context.loop(), store,
        MonitorSettings{settings_.me.child_domain(), own_uri(), settings_.keepalive_interval,
                        settings_.keepalive_misses},
        log, MonitorMetrics{context.gauge("children_online"), context.counter("keepalive_failures_total")});
    handler_.emplace(
        settings_.me, settings_.redirect_policy(), store, log,
        redirect::HandlerParts{[&context](const UriView& uri) { return context.addresses_me(uri); },
                               monitor_.get(), phones_.get(), context.counter("redirects_total"),
                               context.counter("forwarded_total"), edge});
    // Routing runs before the registrar: a REGISTER for a name below a child
    // server is redirected here and never bound locally.
    context.add_request_handler(*handler_, {Phase::kRouting, 0, "tree"});
    if (!settings_.is_top())
      upward_ =
          std::make_unique<UpwardRegistration>(context.client(), context.loop(), upward_settings(), log);
    context.on_command("tree", [this](const std::vector<std::string>&, CommandDone done) {
      done(true, tree_json(tree_view()));
    });
    context.on_command("locate", [this](const std::vector<std::string>& arguments, CommandDone done) {
      locate(arguments, std::move(done));
    });
  }

  void start() override {
    monitor_->start();
    if (upward_) upward_->start();
  }
  void stop() override {
    if (upward_) upward_->stop();  // the goodbye (Expires: 0) leaves while the loop still turns
    monitor_->stop();
  }

  const ServerIdentity& self() const override { return settings_.me; }

 private:
  // This server as a URI: its AOR below the top; the top's "C1@" is no URI,
  // so there its address stands in.
  std::string own_uri() const {
    return settings_.is_top() ? context_.contact_uri(settings_.me.name) : "sip:" + settings_.me.aor();
  }
  std::string top_uri() const {
    return settings_.is_top() ? context_.contact_uri(settings_.me.name) : settings_.top;
  }

  ResolverSettings resolver_settings() const {
    ResolverSettings r;
    r.top = top_uri();
    r.from = own_uri();
    const std::string child_domain = settings_.me.child_domain();
    r.top_domain = child_domain.substr(0, child_domain.find('.'));
    r.cache_entries = settings_.resolver_cache_entries;
    r.cache_ttl = settings_.resolver_cache_seconds;
    return r;
  }

  UpwardSettings upward_settings() const {
    UpwardSettings up;
    up.aor = settings_.me.aor();
    up.contact = settings_.contact.empty() ? context_.contact_uri(settings_.me.name) : settings_.contact;
    up.top = settings_.top;
    up.user_agent = std::string("homesipd/") + HOMESIP_SERVER_VERSION;
    up.expires = settings_.register_expires;
    up.password = settings_.password;  // answers the parent's digest challenge
    return up;
  }

  TreeView tree_view() const {
    TreeView view{settings_.me, top_uri(), std::nullopt, "top", monitor_->children()};
    if (upward_) {
      view.registration = UpwardRegistration::state_name(upward_->state());
      if (!upward_->registrar().empty()) view.parent = upward_->registrar();
    }
    return view;
  }

  void locate(const std::vector<std::string>& arguments, CommandDone done) {
    if (arguments.size() != 1) return done(false, "usage: locate AOR (e.g. locate U1@C1.D1.H1)");
    std::string aor = arguments[0];
    if (aor.rfind("sip:", 0) == 0) aor.erase(0, 4);
    resolver_->resolve(context_.loop(), aor, [aor, done = std::move(done)](const Resolution& resolution) {
      done(true, locate_json(aor, resolution));
    });
  }

  PluginContext& context_;
  TreeSettings settings_;
  std::unique_ptr<TreeResolver> resolver_;
  std::unique_ptr<PhoneProxy> phones_;
  std::unique_ptr<ChildMonitor> monitor_;
  std::optional<redirect::RedirectHandler> handler_;
  std::unique_ptr<UpwardRegistration> upward_;
};

}  // namespace

HOMESIP_PLUGIN(TreePlugin, .name = "tree", .version = "3.0.0",
               .summary = "The management network: names, redirects, registration upward, liveness, phones",
               .settings = homesip::tree::tree_setting_specs(), .provides = kProvides,
               .requires_services = kRequires, .commands = kCommands, .metrics = kMetrics,
               .check_settings = &check_settings)
