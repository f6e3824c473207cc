// The request counters and the Prometheus text they render: exact lines,
// cumulative buckets, the rows for other methods and for requests that got
// no answer, constant-time token comparison.
#include "metrics.hpp"

#include <gtest/gtest.h>

#include <sstream>
#include <vector>

#include "http_listener.hpp"

using homesip::core::constant_time_equal;
using homesip::core::RequestMetrics;

namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

std::vector<std::string> lines_of(const std::string& text, const std::string& prefix) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(prefix, 0) == 0) lines.push_back(line);
  return lines;
}

TEST(RequestMetrics, CountsByMethodAndStatusWithOtherNoneAndForwarded) {
  auto metrics = std::make_unique<RequestMetrics>();
  metrics->record("REGISTER", 200, microseconds(300));
  metrics->record("REGISTER", 200, milliseconds(3));
  metrics->record("REGISTER", 401, microseconds(50));
  metrics->record("FROBNICATE", 501, microseconds(10));
  metrics->record("ACK", RequestMetrics::kUnanswered, microseconds(5));
  metrics->record("INVITE", RequestMetrics::kForwarded, microseconds(80));
  EXPECT_EQ(metrics->count("REGISTER", 200), 2u);
  EXPECT_EQ(metrics->count("REGISTER", 401), 1u);
  EXPECT_EQ(metrics->count("OTHER", 501), 1u);

  std::string text;
  metrics->render(text);
  EXPECT_EQ(lines_of(text, "homesip_requests_total{"),
            (std::vector<std::string>{"homesip_requests_total{method=\"INVITE\",status=\"forwarded\"} 1",
                                      "homesip_requests_total{method=\"ACK\",status=\"none\"} 1",
                                      "homesip_requests_total{method=\"REGISTER\",status=\"200\"} 2",
                                      "homesip_requests_total{method=\"REGISTER\",status=\"401\"} 1",
                                      "homesip_requests_total{method=\"OTHER\",status=\"501\"} 1"}))
      << text;
  const auto registers = lines_of(text, "homesip_request_duration_seconds_bucket{method=\"REGISTER\"");
  ASSERT_EQ(registers.size(), 16u) << text;
  EXPECT_EQ(registers[0], "homesip_request_duration_seconds_bucket{method=\"REGISTER\",le=\"0.0001\"} 1");
  EXPECT_EQ(registers[2], "homesip_request_duration_seconds_bucket{method=\"REGISTER\",le=\"0.0005\"} 2");
  EXPECT_EQ(registers[5], "homesip_request_duration_seconds_bucket{method=\"REGISTER\",le=\"0.005\"} 3");
  EXPECT_EQ(registers[15], "homesip_request_duration_seconds_bucket{method=\"REGISTER\",le=\"+Inf\"} 3");
  EXPECT_EQ(lines_of(text, "homesip_request_duration_seconds_sum{method=\"REGISTER\"}"),
            std::vector<std::string>{"homesip_request_duration_seconds_sum{method=\"REGISTER\"} 0.00335"});
  EXPECT_EQ(lines_of(text, "homesip_request_duration_seconds_count{method=\"REGISTER\"}"),
            std::vector<std::string>{"homesip_request_duration_seconds_count{method=\"REGISTER\"} 3"});
  // A method nobody sent has no series.
  EXPECT_TRUE(lines_of(text, "homesip_request_duration_seconds_count{method=\"BYE\"}").empty());
  EXPECT_EQ(lines_of(text, "# TYPE homesip_request_duration_seconds"),
            std::vector<std::string>{"# TYPE homesip_request_duration_seconds histogram"});
}

TEST(HttpToken, ConstantTimeEqualIsPlainEqualityOfTheBytes) {
  EXPECT_TRUE(constant_time_equal("s3cret-token-0123", "s3cret-token-0123"));
  EXPECT_FALSE(constant_time_equal("s3cret-token-0123", "s3cret-token-0124"));
  EXPECT_FALSE(constant_time_equal("s3cret-token-0123", "s3cret-token-012"));
  EXPECT_FALSE(constant_time_equal("s3cret", std::string_view("s3cret\0x", 8)));
  EXPECT_FALSE(constant_time_equal("", "x"));
  EXPECT_TRUE(constant_time_equal("", ""));
}

}  // namespace
