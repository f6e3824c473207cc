// A virtual lamp: the SDK's example plugin, built out of tree against the
// installed SDK and kept the smallest plugin that shows every part most
// plugins need. The lamp is the entity sip:<device>@<this server's child
// domain> (the tree plugin's, or the `domain` setting on a server without a
// tree); it answers MESSAGE:
//   body "on" / "off" / "toggle" -> switches, answers 200 with the new state
//   body "status"                -> answers 200 with the state
//   anything else                -> 400
// Every other request goes on down the chain.
//
// What it shows:
//   - a handler in phase kLocalServices (handler.hpp);
//   - suspend, then answer after asynchronous work: when the state changes, the
//     request waits while the LocationStore service looks up the owner's
//     bindings (a service the lamp uses when present: context.hpp);
//   - a second optional service, the tree's place (tree.hpp), for the domain;
//   - the client: each of the owner's contacts gets a MESSAGE "lamp is on" (client.hpp);
//   - a command, `homesipctl virtual-lamp.state`, and a counter, switches_total (admin.hpp);
//   - the authenticated identity: From is never trusted (attributes.hpp).
#include <array>
#include <cstdint>
#include <homesip/homesip.hpp>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

const homesip::SettingSpec kSettings[] = {
    {"device", homesip::SettingType::kString, "lamp",
     "user part of the lamp's AOR, in this server's child domain"},
    {"domain", homesip::SettingType::kString, "",
     "the lamp's domain on a server without the tree plugin (with it: the tree's child domain)"},
    {"initial_state", homesip::SettingType::kString, "off", "on or off at start"},
    {"owner", homesip::SettingType::kString, "",
     "AOR told by MESSAGE when the lamp switches (needs a location store); empty: nobody"},
    {"require_identity", homesip::SettingType::kBoolean, "false",
     "refuse (403) a request no authentication plugin identified"},
};
const char* const kUses[] = {homesip::LocationStore::kServiceName, homesip::TreeService::kServiceName};
const homesip::CommandSpec kCommands[] = {{"state", "", "the lamp's state and how often it switched"}};
const homesip::MetricSpec kMetrics[] = {
    {"switches_total", homesip::MetricType::kCounter, "times the lamp changed state"}};

// `homesipd --check-config` runs this without creating the plugin: every
// value the constructor would refuse, the domain's rule and the owner's store
// included (as far as the host tells which services the config loads).
void check_settings(const homesip::Settings& settings) {
  homesip::check_served_domain(settings);
  const std::string device = settings.get_string("device");
  const std::string device_text = "sip:" + device + "@lamp";  // the URI's views point into it
  const std::optional<homesip::UriView> device_uri = homesip::parse_uri(device_text);
  if (device.empty() || !device_uri || device_uri->user != device)
    throw homesip::ConfigError("device", "device must be a user part such as lamp, not '" + device + "'");
  if (!settings.get_string("owner").empty() &&
      !settings.service_loaded(homesip::LocationStore::kServiceName).value_or(true))
    throw homesip::ConfigError("owner", "owner needs a location store plugin (such as location-sqlite)");
  const std::string initial = settings.get_string("initial_state");
  if (initial != "on" && initial != "off")
    throw homesip::ConfigError("initial_state", "initial_state must be on or off, not '" + initial + "'");
  const std::string owner = "sip:" + settings.get_string("owner");
  if (owner != "sip:") {
    const std::optional<homesip::UriView> uri = homesip::parse_uri(owner);
    if (!uri || uri->user.empty() || !uri->params.empty())
      throw homesip::ConfigError("owner",
                                 "owner must be an AOR such as U1@C1.D1.H1, not '" + owner.substr(4) + "'");
  }
}

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if ((a[i] | 0x20) != (b[i] | 0x20)) return false;  // host names: letters, digits, '-', '.'
  return true;
}

enum class Command { kOn, kOff, kToggle, kStatus };

std::optional<Command> parse_command(std::string_view body) {
  if (body == "on") return Command::kOn;
  if (body == "off") return Command::kOff;
  if (body == "toggle") return Command::kToggle;
  if (body == "status") return Command::kStatus;
  return std::nullopt;
}

homesip::Reply state_reply(bool on) {
  homesip::Reply reply(200);
  reply.content_type = "text/plain";
  reply.body = on ? "on" : "off";
  return reply;
}

class VirtualLamp final : public homesip::Plugin, public homesip::RequestHandler {
 public:
  explicit VirtualLamp(homesip::PluginContext& context)
      : context_(context),
        log_(context.logger()),
        device_(context.settings().get_string("device")),
        domain_(homesip::served_domain(context)),
        owner_(context.settings().get_string("owner")),
        require_identity_(context.settings().get_bool("require_identity")),
        store_(context.find<homesip::LocationStore>()),
        switches_(context.counter("switches_total")),
        on_(context.settings().get_string("initial_state") == "on") {
    if (!owner_.empty() && !store_)
      throw homesip::ConfigError("owner", "owner needs a location store plugin (such as location-sqlite)");
    context.add_request_handler(*this, {.phase = homesip::Phase::kLocalServices});
    context.on_command("state", [this](const std::vector<std::string>&, homesip::CommandDone done) {
      done(true, state_json());
    });
  }

  // Called on the loop that received the request; with several loops, for
  // several requests at once: the lamp's state is behind mutex_.
  homesip::Disposition on_request(homesip::IncomingRequest& incoming) override {
    const homesip::SipRequest& request = incoming.request();
    if (request.method() != homesip::Method::kMessage || !is_lamp(request.request_uri()))
      return homesip::Disposition::kContinue;
    // Who sent it is what an authentication plugin proved, never From.
    if (require_identity_ && !incoming.attributes().get(homesip::kAuthenticatedIdentity)) {
      incoming.reply(homesip::Reply(403, "Not Authenticated"));
      return homesip::Disposition::kHandled;
    }
    const std::optional<Command> command = parse_command(request.body());
    if (!command) {
      incoming.reply(homesip::Reply(400, "Unknown Command"));
      return homesip::Disposition::kHandled;
    }
    const Outcome outcome = apply(*command, request);
    if (!outcome.changed || owner_.empty()) {
      incoming.reply(state_reply(outcome.on));
      return homesip::Disposition::kHandled;
    }
    tell_owner_then_answer(incoming.suspend(), outcome.on);
    // Suspended even if the store answered at once and the request is already answered.
    return homesip::Disposition::kSuspended;
  }

 private:
  struct Outcome {
    bool on = false;
    bool changed = false;
  };
  // A request that switched the lamp, by Call-ID, CSeq and From-tag.
  struct Applied {
    std::string key;
    bool on = false;
  };

  bool is_lamp(const homesip::UriView& uri) const {
    return uri.user == device_ && equal_ignoring_case(uri.host, domain_);
  }

  // The core keeps no transaction state, so a retransmission walks the chain
  // again: the recent switching requests are remembered so that a
  // retransmitted "toggle" answers what the first one did instead of toggling back.
  Outcome apply(Command command, const homesip::SipRequest& request) {
    std::string key;
    key.append(request.call_id()).append(" ").append(std::to_string(request.cseq()));
    key.append(" ").append(request.from_tag());
    const std::lock_guard lock(mutex_);
    for (const Applied& applied : recent_)
      if (applied.key == key) return {applied.on, false};
    const bool wanted = command == Command::kOn       ? true
                        : command == Command::kOff    ? false
                        : command == Command::kToggle ? !on_
                                                      : on_;
    if (wanted == on_) return {on_, false};
    on_ = wanted;
    ++changes_;
    switches_.add();
    recent_[next_recent_] = {std::move(key), on_};
    next_recent_ = (next_recent_ + 1) % recent_.size();
    log_.info(device_, " switched ", on_ ? "on" : "off");
    return {on_, true};
  }

  // The store answers on this request's loop (maybe before lookup() returns);
  // the request is answered there, after the owner's contacts were sent the
  // news. A std::function must be copyable, hence the shared_ptr.
  void tell_owner_then_answer(std::unique_ptr<homesip::SuspendedRequest> suspended, bool on) {
    std::shared_ptr<homesip::SuspendedRequest> request = std::move(suspended);
    store_->lookup(owner_,
                   [this, request, on](homesip::StoreStatus status, const homesip::BindingList& bindings) {
                     if (status != homesip::StoreStatus::kOk)
                       log_.warn("cannot find ", owner_, "'s contacts to tell the news");
                     for (const homesip::Binding& binding : bindings) tell(binding.contact, on);
                     request->reply(state_reply(on));
                   });
  }

  void tell(const std::string& contact, bool on) {
    homesip::OutgoingRequest message("MESSAGE", contact);
    message.from = "<sip:" + device_ + "@" + domain_ + ">";
    message.to = "<sip:" + owner_ + ">";
    message.content_type = "text/plain";
    message.body = device_ + (on ? " is on" : " is off");
    try {
      // The news is best effort and the lamp does not wait for the phone:
      // dropping the transaction's handle leaves it to run to its end in the
      // core, and its callback is never called.
      context_.client().send(message, [](const homesip::SipResponse&) {});
    } catch (const std::invalid_argument& e) {
      log_.warn("cannot tell ", owner_, " at ", contact, ": ", e.what());
    }
  }

  std::string state_json() {
    const std::lock_guard lock(mutex_);
    return std::string(R"({"state":")") + (on_ ? "on" : "off") + R"(","changes":)" +
           std::to_string(changes_) + "}";
  }

  homesip::PluginContext& context_;
  homesip::Logger& log_;
  const std::string device_;
  const std::string domain_;
  const std::string owner_;
  const bool require_identity_;
  homesip::LocationStore* const store_;  // nullptr when no plugin provides one
  const homesip::Counter switches_;

  std::mutex mutex_;
  bool on_;
  uint64_t changes_ = 0;
  std::array<Applied, 16> recent_;
  size_t next_recent_ = 0;
};

}  // namespace

HOMESIP_PLUGIN(VirtualLamp, .name = "virtual-lamp", .version = "3.0.0",
               .summary = "A lamp switched by SIP MESSAGE that tells its owner (SDK example)",
               .settings = kSettings, .uses = kUses, .commands = kCommands, .metrics = kMetrics,
               .check_settings = &check_settings)
