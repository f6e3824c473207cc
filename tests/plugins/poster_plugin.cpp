// A plugin whose own thread posts to the main loop, as a plugin's client
// library does with what it receives (mqtt-bridge's broker connection): a task
// every 200 microseconds while it runs, and one last task ("the worker
// stopped") from the thread as the plugin is destroyed. Every task is code of
// this library: if the core ran one after unloading the library, homesipd
// would crash at exit (daemon_test's stop test).
#include <atomic>
#include <chrono>
#include <thread>

#include "homesip/plugin.hpp"

namespace {
class PosterPlugin final : public homesip::Plugin {
 public:
  explicit PosterPlugin(homesip::PluginContext& context) : loop_(context.loop()) {
    worker_ = std::thread([this] { post_until_stopped(); });
  }
  ~PosterPlugin() override {
    stopping_ = true;
    worker_.join();
  }

 private:
  void post_until_stopped() {
    while (!stopping_) {
      loop_.post([this] { ran_.fetch_add(1, std::memory_order_relaxed); });
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    // The plugin is being destroyed: the core must no longer run what comes now.
    loop_.post([counter = &ran_] { counter->fetch_add(1, std::memory_order_relaxed); });
  }

  homesip::EventLoop& loop_;
  std::atomic<bool> stopping_{false};
  std::atomic<long> ran_{0};
  std::thread worker_;
};
}  // namespace

HOMESIP_PLUGIN(PosterPlugin, .name = "test-poster", .version = "1",
               .summary = "posts to the main loop from its own thread until destroyed")
