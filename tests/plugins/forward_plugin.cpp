// A stateless proxy for the core's forwarding tests: every request that came
// routed here (a Route naming this server, as a phone's outbound proxy sends
// it) goes on to the URI in its `target` setting; anything else is 404 but
// OPTIONS, which the core answers (the tests' "is it up?").
#include "homesip/plugin.hpp"

namespace {
const homesip::SettingSpec kSettings[] = {
    {"target", homesip::SettingType::kString, nullptr, "the Request-URI every routed request goes on to"},
};

class ForwardEverything final : public homesip::RequestHandler {
 public:
  explicit ForwardEverything(std::string target) : target_(std::move(target)) {}
  homesip::Disposition on_request(homesip::IncomingRequest& request) override {
    const auto& sip = request.request();
    if (!sip.routed_here() && sip.method() == homesip::Method::kOptions) {
      return homesip::Disposition::kContinue;
    } else if (!sip.routed_here()) {
      request.reply(homesip::Reply(404, "Not Routed Here"));  // an ACK: nothing is sent
    } else if (sip.max_forwards() == 0) {
      request.reply(homesip::Reply(483, "Too Many Hops"));
    } else {
      request.forward(target_);
    }
    return homesip::Disposition::kHandled;
  }

 private:
  std::string target_;
};

class ForwardPlugin final : public homesip::Plugin {
 public:
  explicit ForwardPlugin(homesip::PluginContext& context)
      : handler_(context.settings().get_string("target")) {
    context.add_request_handler(handler_, homesip::HandlerPlacement{homesip::Phase::kRouting, 0, {}});
  }

 private:
  ForwardEverything handler_;
};
}  // namespace

HOMESIP_PLUGIN(ForwardPlugin, .name = "test-forward", .version = "1", .summary = "forwards routed requests",
               .settings = kSettings)
