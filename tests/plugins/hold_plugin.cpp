// Holds every request but OPTIONS for `hold_ms`, then answers 200: requests
// pile up waiting, as behind a slow store, so the core's overload shedding
// (server.overload.max_pending) can be seen from outside.
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "homesip/plugin.hpp"

namespace {
const homesip::SettingSpec kSettings[] = {
    {"hold_ms", homesip::SettingType::kInteger, "2000", "how long each request waits before its 200"},
};

class HoldEverything final : public homesip::RequestHandler {
 public:
  explicit HoldEverything(std::chrono::milliseconds hold) : hold_(hold) {}
  homesip::Disposition on_request(homesip::IncomingRequest& request) override {
    const homesip::Method method = request.request().method();
    if (method == homesip::Method::kOptions || method == homesip::Method::kAck)
      return homesip::Disposition::kContinue;
    std::lock_guard lock(mutex_);
    // Each loop (server.loops) holds its own requests and answers them from its own timer.
    auto& held = loops_[&request.loop()];
    if (!held) {
      held = std::make_unique<LoopHeld>();
      // One repeating timer answers what is due (a timer is not destroyed in its own tick).
      held->timer = request.loop().start_timer(std::chrono::milliseconds(20), true,
                                               [this, of = held.get()] { answer_due(*of); });
    }
    held->requests.push_back({Clock::now() + hold_, request.suspend()});
    return homesip::Disposition::kSuspended;
  }

 private:
  using Clock = std::chrono::steady_clock;
  struct Held {
    Clock::time_point due;
    std::unique_ptr<homesip::SuspendedRequest> request;
  };
  struct LoopHeld {
    std::deque<Held> requests;  // in arrival order, so in order of due time
    std::unique_ptr<homesip::Timer> timer;
  };
  void answer_due(LoopHeld& held) {
    std::vector<Held> due;
    {
      std::lock_guard lock(mutex_);
      const auto now = Clock::now();
      while (!held.requests.empty() && held.requests.front().due <= now) {
        due.push_back(std::move(held.requests.front()));
        held.requests.pop_front();
      }
    }
    for (auto& request : due) request.request->reply(homesip::Reply(200, "Held"));
  }

  std::chrono::milliseconds hold_;
  std::mutex mutex_;
  std::map<homesip::EventLoop*, std::unique_ptr<LoopHeld>> loops_;
};

class HoldPlugin final : public homesip::Plugin {
 public:
  explicit HoldPlugin(homesip::PluginContext& context)
      : handler_(std::chrono::milliseconds(context.settings().get_int("hold_ms"))) {
    context.add_request_handler(handler_, homesip::HandlerPlacement{homesip::Phase::kLocalServices, 0, {}});
  }

 private:
  HoldEverything handler_;
};
}  // namespace

HOMESIP_PLUGIN(HoldPlugin, .name = "test-hold", .version = "1",
               .summary = "answers every request after hold_ms", .settings = kSettings)
