// Reading the plugin's settings: defaults as declared, and bad values refused
// with the key they belong to.
#include "store_options.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>

namespace homesip::location_sqlite {
namespace {

using namespace std::chrono_literals;

// Settings as the core would hand them: declared defaults, then overrides.
class FakeSettings final : public Settings {
 public:
  FakeSettings() {
    for (const SettingSpec& spec : kLocationSqliteSettings) values_[spec.key] = spec.default_value;
  }
  FakeSettings& set(const std::string& key, const std::string& value) {
    values_.at(key) = value;
    return *this;
  }
  std::string get_string(std::string_view key) const override { return values_.at(std::string(key)); }
  int64_t get_int(std::string_view key) const override { return std::stoll(get_string(key)); }
  bool get_bool(std::string_view key) const override { return get_string(key) == "true"; }
  std::vector<std::string> get_string_list(std::string_view) const override { return {}; }
  bool is_set(std::string_view) const override { return false; }
  std::string where(std::string_view key) const override { return std::string(key); }

 private:
  std::map<std::string, std::string> values_;
};

std::string rejected_key(const FakeSettings& settings) {
  try {
    read_settings(settings);
  } catch (const ConfigError& e) {
    return e.key();
  }
  return "(accepted)";
}

TEST(StoreOptionsTest, DeclaredDefaultsAreValid) {
  const LocationSqliteSettings read = read_settings(FakeSettings());
  EXPECT_EQ(read.path, "homesip-location.sqlite");
  EXPECT_EQ(read.options.synchronous, SynchronousMode::kFull);
  EXPECT_EQ(read.options.busy_timeout, 5000ms);
  EXPECT_EQ(read.options.sweep_interval, 60s);
  EXPECT_EQ(read.options.max_batch, 1024u);
  EXPECT_EQ(read.options.retry_interval, 1000ms);
  EXPECT_EQ(read.options.commit_window, 64000us);
  EXPECT_EQ(read.options.commit_batch, 256u);
}

TEST(StoreOptionsTest, ReadsGivenValues) {
  // The file's directory must take new files: a directory every machine has.
  const std::string path = (std::filesystem::temp_directory_path() / "l.sqlite").string();
  const LocationSqliteSettings read = read_settings(FakeSettings()
                                                        .set("path", path)
                                                        .set("synchronous", "NORMAL")
                                                        .set("busy_timeout_ms", "0")
                                                        .set("sweep_interval_s", "5")
                                                        .set("max_batch", "1")
                                                        .set("retry_interval_ms", "250")
                                                        .set("commit_window_us", "0")
                                                        .set("commit_batch", "4"));
  EXPECT_EQ(read.path, path);
  EXPECT_EQ(read.options.synchronous, SynchronousMode::kNormal);
  EXPECT_EQ(read.options.busy_timeout, 0ms);
  EXPECT_EQ(read.options.sweep_interval, 5s);
  EXPECT_EQ(read.options.max_batch, 1u);
  EXPECT_EQ(read.options.retry_interval, 250ms);
  EXPECT_EQ(read.options.commit_window, 0us);
  EXPECT_EQ(read.options.commit_batch, 1u) << "at most max_batch";
  EXPECT_EQ(read_settings(FakeSettings().set("commit_batch", "4")).options.commit_batch, 4u);
}

TEST(StoreOptionsTest, RefusesValuesThatMakeNoSense) {
  EXPECT_EQ(rejected_key(FakeSettings().set("path", "")), "path");
  EXPECT_EQ(rejected_key(FakeSettings().set("path", "/nonexistent-homesip-dir/l.sqlite")), "path");
  EXPECT_EQ(rejected_key(FakeSettings().set("synchronous", "fulll")), "synchronous");
  EXPECT_EQ(rejected_key(FakeSettings().set("synchronous", "off")), "synchronous");
  EXPECT_EQ(rejected_key(FakeSettings().set("busy_timeout_ms", "-1")), "busy_timeout_ms");
  EXPECT_EQ(rejected_key(FakeSettings().set("busy_timeout_ms", "99999999999")), "busy_timeout_ms");
  EXPECT_EQ(rejected_key(FakeSettings().set("sweep_interval_s", "0")), "sweep_interval_s");
  EXPECT_EQ(rejected_key(FakeSettings().set("max_batch", "0")), "max_batch");
  EXPECT_EQ(rejected_key(FakeSettings().set("retry_interval_ms", "9")), "retry_interval_ms");
  EXPECT_EQ(rejected_key(FakeSettings().set("retry_interval_ms", "86400001")), "retry_interval_ms");
  EXPECT_EQ(rejected_key(FakeSettings().set("commit_window_us", "-1")), "commit_window_us");
  EXPECT_EQ(rejected_key(FakeSettings().set("commit_window_us", "100001")), "commit_window_us");
  EXPECT_EQ(rejected_key(FakeSettings().set("commit_batch", "0")), "commit_batch");
}

}  // namespace
}  // namespace homesip::location_sqlite
