// homesip-ua control/state/watch without a network: their command lines, the
// request body, the lines they print and their exit codes.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "appliances.hpp"
#include "options.hpp"

namespace homesip::ua {
namespace {

// parse_options on `words` (after the program name); the exit code, or -1 when ready to run.
int parse(std::vector<std::string> words, Options& o) {
  words.insert(words.begin(), "homesip-ua");
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  const auto code = parse_options(static_cast<int>(argv.size()), argv.data(), o);
  return code ? *code : -1;
}

TEST(ControlOptions, EntityServiceAndDataAsJson) {
  Options o;
  ASSERT_EQ(parse({"control", "light.kitchen@C1.D1.H1", "turn_on", "brightness=128", "flash=true",
                   "effect=blink", "level=-2.5", "--server", "sip:127.0.0.1:5110"},
                  o),
            -1);
  EXPECT_EQ(o.command, Command::kControl);
  EXPECT_EQ(o.to, "sip:light.kitchen@C1.D1.H1");
  EXPECT_EQ(o.service, "turn_on");
  EXPECT_EQ(o.data_json, R"({"brightness":128,"effect":"blink","flash":true,"level":-2.5})");
  EXPECT_EQ(o.aor, "sip:homesip-ua@anonymous.invalid");  // nobody to authenticate as
  EXPECT_FALSE(o.json);
}

TEST(ControlOptions, FromIsTheUserUnlessAorIsGiven) {
  Options o;
  ASSERT_EQ(parse({"state", "sip:light.kitchen@C1.D1.H1", "--server", "sip:127.0.0.1:5110", "--user",
                   "U3@C1.D1.H1", "--json"},
                  o),
            -1);
  EXPECT_EQ(o.command, Command::kState);
  EXPECT_EQ(o.aor, "sip:U3@C1.D1.H1");
  EXPECT_EQ(o.user, "sip:U3@C1.D1.H1");
  EXPECT_TRUE(o.json);
  Options other;
  ASSERT_EQ(
      parse({"state", "light.kitchen@C1.D1.H1", "--server", "sip:127.0.0.1:5110", "--aor", "U9@C1.D1.H1"},
            other),
      -1);
  EXPECT_EQ(other.aor, "sip:U9@C1.D1.H1");
}

TEST(ControlOptions, UsageErrorsExit1) {
  Options o;
  EXPECT_EQ(
      parse({"control", "light.kitchen@C1.D1.H1", "turn_on", "brightness", "--server", "sip:127.0.0.1:5110"},
            o),
      kExitUsage);
  EXPECT_EQ(parse({"control", "light.kitchen@C1.D1.H1", "--server", "sip:127.0.0.1:5110"}, o), kExitUsage);
  EXPECT_EQ(parse({"control", "light.kitchen", "turn_on", "--server", "sip:127.0.0.1:5110"}, o), kExitUsage);
  EXPECT_EQ(parse({"state", "light.kitchen@C1.D1.H1"}, o), kExitUsage);  // no --server
  EXPECT_EQ(parse({"watch", "--server", "sip:127.0.0.1:5110"}, o), kExitUsage);
}

TEST(WatchOptions, SeveralEntitiesAndExpires) {
  Options o;
  ASSERT_EQ(parse({"watch", "light.kitchen@C1.D1.H1", "binary_sensor.front_door@C1.D1.H1", "--server",
                   "sip:127.0.0.1:5110"},
                  o),
            -1);
  EXPECT_EQ(o.command, Command::kWatch);
  EXPECT_EQ(o.entities, (std::vector<std::string>{"sip:light.kitchen@C1.D1.H1",
                                                  "sip:binary_sensor.front_door@C1.D1.H1"}));
  EXPECT_EQ(o.expires, 600u);
  Options shorter;
  ASSERT_EQ(parse({"watch", "light.kitchen@C1.D1.H1", "--server", "sip:127.0.0.1:5110", "--expires", "120"},
                  shorter),
            -1);
  EXPECT_EQ(shorter.expires, 120u);
}

TEST(ServiceData, ValuesAreNumbersBooleansOrStrings) {
  EXPECT_EQ(service_data({}), "{}");
  EXPECT_EQ(service_data({"temperature=21.5"}), R"({"temperature":21.5})");
  EXPECT_EQ(service_data({"name=a=b"}), R"({"name":"a=b"})");
  EXPECT_EQ(service_data({"x=null", "y=[1]", "z="}), R"({"x":"null","y":"[1]","z":""})");
  EXPECT_THROW(service_data({"=1"}), UsageError);
}

TEST(Output, StateLineAndJson) {
  EXPECT_EQ(state_line(R"({"entity_id":"light.kitchen","state":"on","attributes":{"brightness":128,)"
                       R"("friendly_name":"Kitchen"},"last_changed":"2026-11-30T03:20:00.123Z"})"),
            R"(light.kitchen on {"brightness":128})");
  EXPECT_EQ(state_line(R"({"entity_id":"sensor.t","state":"21.5"})"), "sensor.t 21.5 {}");
  EXPECT_EQ(state_line(R"({"error":"unavailable"})"), R"({"error":"unavailable"})");
  EXPECT_EQ(compact_json("{ \"a\" : 1 }\n"), R"({"a":1})");
  EXPECT_EQ(compact_json("not json"), "not json");
  EXPECT_EQ(json_string("say \"hi\""), R"("say \"hi\"")");
}

TEST(Output, ExitCodes) {
  EXPECT_EQ(appliance_exit_code(400), kExitFailed);
  EXPECT_EQ(appliance_exit_code(403), kExitFailed);
  EXPECT_EQ(appliance_exit_code(404), kExitFailed);
  EXPECT_EQ(appliance_exit_code(408), kExitUnreachable);
  EXPECT_EQ(appliance_exit_code(483), kExitUnreachable);
  EXPECT_EQ(appliance_exit_code(503), kExitUnreachable);
}

}  // namespace
}  // namespace homesip::ua
