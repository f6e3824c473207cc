// Plugins that provide, require and misuse services, commands and metrics,
// for the host tests. SERVICE_KIND picks which one is built. Each logs
// "created", "started" and "stopped" so a test sees the order.
#include <string>

#include "homesip/plugin.hpp"

namespace {

constexpr const char* kEcho = "test.echo/1";
constexpr const char* kOther = "test.other/1";

// The service test-provider offers.
class Echo {
 public:
  static constexpr const char* kServiceName = "test.echo/1";
  std::string echo(const std::string& text) const { return "echo:" + text; }
};

class Logged : public homesip::Plugin {
 public:
  explicit Logged(homesip::PluginContext& context) : log_(context.logger()) { log_.info("created"); }
  void start() override { log_.info("started"); }
  void stop() override { log_.info("stopped"); }

 protected:
  homesip::Logger& log_;
};

const homesip::SettingSpec kMisuse[] = {
    {"misuse", homesip::SettingType::kString, "none", "provide, find, command, counter, gauge or none"},
};

}  // namespace

#if SERVICE_KIND == 1  // test-provider: a service, commands and metrics
namespace {
const char* const kProvides[] = {kEcho};
const homesip::CommandSpec kCommands[] = {
    {"echo", "WORD...", "answers its arguments"},
    {"badjson", "", "answers something that is not JSON"},
    {"fails", "", "answers an error"},
    {"unbound", "", "declared, never bound"},
};
const homesip::MetricSpec kMetrics[] = {
    {"echoes_total", homesip::MetricType::kCounter, "echo commands run"},
    {"level", homesip::MetricType::kGauge, "a level"},
};
class Provider final : public Logged {
 public:
  explicit Provider(homesip::PluginContext& context) : Logged(context) {
    context.provide(echo_);
    auto echoes = context.counter("echoes_total");
    context.gauge("level").set(-7);
    context.on_command("echo", [echoes](const std::vector<std::string>& argv, homesip::CommandDone done) {
      echoes.add();
      std::string list = "[";
      for (const auto& a : argv) list += (list.size() > 1 ? ",\"" : "\"") + a + "\"";
      done(true, list + "]");
    });
    context.on_command("badjson", [](const std::vector<std::string>&, homesip::CommandDone done) {
      done(true, "{not json");
    });
    context.on_command("fails", [](const std::vector<std::string>&, homesip::CommandDone done) {
      done(false, "the widget bus is down");
    });
  }

 private:
  Echo echo_;
};
}  // namespace
HOMESIP_PLUGIN(Provider, .name = "test-provider", .version = "1", .summary = "provides test.echo/1",
               .provides = kProvides, .commands = kCommands, .metrics = kMetrics)

#elif SERVICE_KIND == 2  // test-provider-too: a second provider of the same service
namespace {
const char* const kProvides[] = {kEcho};
class ProviderToo final : public Logged {
 public:
  explicit ProviderToo(homesip::PluginContext& context) : Logged(context) { context.provide(echo_); }

 private:
  Echo echo_;
};
}  // namespace
HOMESIP_PLUGIN(ProviderToo, .name = "test-provider-too", .version = "1",
               .summary = "provides test.echo/1 too", .provides = kProvides)

#elif SERVICE_KIND == 3  // test-requirer: needs test.echo/1, and misuses the context when told to
namespace {
const char* const kRequires[] = {kEcho};
const homesip::CommandSpec kCommands[] = {{"real", "", "declared"}};
const homesip::MetricSpec kMetrics[] = {{"real_total", homesip::MetricType::kCounter, "declared"}};
class Requirer final : public Logged {
 public:
  explicit Requirer(homesip::PluginContext& context) : Logged(context) {
    log_.info("found ", context.require<Echo>().echo("provider"));
    const std::string misuse = context.settings().get_string("misuse");
    Echo mine;
    if (misuse == "provide") context.provide_service(kOther, &mine);
    if (misuse == "find") context.find_service(kOther);
    if (misuse == "command") context.on_command("undeclared", {});
    if (misuse == "counter") context.counter("undeclared_total");
    if (misuse == "gauge") context.gauge("real_total");  // declared, but as a counter
  }
};
}  // namespace
HOMESIP_PLUGIN(Requirer, .name = "test-requirer", .version = "1", .summary = "requires test.echo/1",
               .settings = kMisuse, .requires_services = kRequires, .commands = kCommands,
               .metrics = kMetrics)

#elif SERVICE_KIND == 4  // test-cycle-a: provides test.other/1, requires test.echo/1
namespace {
const char* const kProvides[] = {kOther};
const char* const kRequires[] = {kEcho};
class CycleA final : public Logged {
 public:
  using Logged::Logged;
};
}  // namespace
HOMESIP_PLUGIN(CycleA, .name = "test-cycle-a", .version = "1", .summary = "half of a cycle",
               .provides = kProvides, .requires_services = kRequires)

#elif SERVICE_KIND == 5  // test-cycle-b: provides test.echo/1, requires test.other/1
namespace {
const char* const kProvides[] = {kEcho};
const char* const kRequires[] = {kOther};
class CycleB final : public Logged {
 public:
  using Logged::Logged;
};
}  // namespace
HOMESIP_PLUGIN(CycleB, .name = "test-cycle-b", .version = "1", .summary = "the other half",
               .provides = kProvides, .requires_services = kRequires)
#endif
