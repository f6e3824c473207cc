// A virtual lamp: the smallest useful appliance plugin. It answers SIP MESSAGE
// requests addressed to its device AOR (e.g. lamp@C1.D1.H1):
//   body "on" / "off"  -> switches the lamp, answers 200 with the new state
//   body "status"      -> answers 200 with the state
//   anything else      -> 400
// Every other request passes on down the handler chain.
#include <homesip/homesip.hpp>

namespace {

const homesip::SettingSpec kSettings[] = {
    {"device", homesip::SettingType::kString, "lamp", "user part of the lamp's AOR"},
    {"initial_state", homesip::SettingType::kString, "off", "on or off at start"},
};

class VirtualLamp final : public homesip::Plugin, public homesip::RequestHandler {
 public:
  explicit VirtualLamp(homesip::PluginContext& context)
      : log_(context.logger()), device_(context.settings().get_string("device")) {
    const std::string initial = context.settings().get_string("initial_state");
    if (initial != "on" && initial != "off") throw homesip::ConfigError("initial_state", "must be on or off");
    on_ = initial == "on";
    context.add_request_handler(*this);
  }

  homesip::Disposition on_request(homesip::IncomingRequest& incoming) override {
    const auto& request = incoming.request();
    if (request.method() != homesip::Method::kMessage || request.request_uri().user != device_)
      return homesip::Disposition::kContinue;
    const std::string_view command = request.body();
    if (command == "on" || command == "off") {
      on_ = command == "on";
      log_.info(device_, " switched ", on_ ? "on" : "off");
    } else if (command != "status") {
      incoming.reply(homesip::Reply(400, "Unknown Command"));
      return homesip::Disposition::kHandled;
    }
    homesip::Reply reply(200, "OK");
    reply.content_type = "text/plain";
    reply.body = on_ ? "on" : "off";
    incoming.reply(reply);
    return homesip::Disposition::kHandled;
  }

 private:
  homesip::Logger& log_;
  std::string device_;
  bool on_ = false;
};

}  // namespace

HOMESIP_PLUGIN("virtual-lamp", "1.0.0", "A lamp switched by SIP MESSAGE (SDK example)", kSettings,
               VirtualLamp)
