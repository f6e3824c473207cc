// Pages on the core's HTTP listener, for http_test: "/hello" (exactly) says
// hello to ?name=, "/files/" (everything under it) names the path asked for,
// answered from a thread of its own as a plugin reading a file would. Each
// /hello is observed as taking 3 ms in the histogram serve_seconds, so its
// buckets are known. Setting `claim` claims one more path (a refused one).
// "/stall?ms=N" holds the loop thread N ms (at most 10 s) before answering, as
// a plugin blocking its loop would: the listener's 504 is seen from outside.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "homesip/http.hpp"
#include "homesip/plugin.hpp"

namespace {

const homesip::SettingSpec kSettings[] = {
    {"claim", homesip::SettingType::kString, "", "one more path to claim (plugin_host_test: refusals)"},
};

const homesip::MetricSpec kMetrics[] = {
    {"serve_seconds", homesip::MetricType::kHistogram, "how long /hello took (always 3 ms)"},
};

class HttpPlugin final : public homesip::Plugin {
 public:
  explicit HttpPlugin(homesip::PluginContext& context) {
    const homesip::Histogram served = context.histogram("serve_seconds");
    context.on_http("/hello", [served](const homesip::HttpRequest& request, homesip::HttpDone done) {
      served.observe(std::chrono::milliseconds(3));
      const auto name = request.query.find("name");
      done({200, "text/plain", "hello " + (name == request.query.end() ? "nobody" : name->second) + "\n"});
    });
    if (const std::string claim = context.settings().get_string("claim"); !claim.empty())
      context.on_http(claim, [](const homesip::HttpRequest&, homesip::HttpDone done) { done({}); });
    context.on_http("/stall", [](const homesip::HttpRequest& request, homesip::HttpDone done) {
      const auto ms = request.query.find("ms");
      const long asked = ms == request.query.end() ? 0 : std::atol(ms->second.c_str());
      std::this_thread::sleep_for(std::chrono::milliseconds(std::clamp(asked, 0L, 10'000L)));
      done({200, "text/plain", "stalled\n"});
    });
    context.on_http("/files/", [this](const homesip::HttpRequest& request, homesip::HttpDone done) {
      readers_.emplace_back([path = request.path, method = request.method, done] {
        done({200, "text/plain", method + " " + path + "\n"});
      });
    });
  }
  // Joined before the library goes, so no thread runs its code after.
  void stop() override {
    for (std::thread& reader : readers_) reader.join();
    readers_.clear();
  }

 private:
  std::vector<std::thread> readers_;  // touched on the loop thread only
};

}  // namespace

HOMESIP_PLUGIN(HttpPlugin, .name = "test-http", .version = "1", .summary = "serves /hello and /files/",
               .settings = kSettings, .metrics = kMetrics)
