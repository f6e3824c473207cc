// The plugin's settings: their declaration (what `homesipd --describe-plugin`
// prints and the core validates keys against) and their reading into the
// store's options, with the range checks the core cannot know.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "homesip/settings.hpp"

namespace homesip::location_sqlite {

enum class SynchronousMode {
  // Every commit is fsynced before its updates are confirmed: a confirmed
  // binding survives a power loss or an OS crash.
  kFull,
  // In WAL mode commits are fsynced only at checkpoints: a confirmed binding
  // survives a crash of homesipd, but the last commits may be lost on a power
  // loss or an OS crash. Cheaper on slow disks.
  kNormal,
};

struct SqliteLocationStoreOptions {
  SynchronousMode synchronous = SynchronousMode::kFull;
  // How long a transaction waits for a lock another connection holds before
  // it fails (and its updates are answered kUnavailable).
  std::chrono::milliseconds busy_timeout{5000};
  // How often expired bindings are dropped from memory and from the file.
  std::chrono::seconds sweep_interval{60};
  // At most this many updates per transaction (one transaction, one fsync).
  size_t max_batch = 1024;
  // While the file cannot be written (deleted, replaced, read-only), how
  // often the writer tries to reopen or recreate it when no update comes.
  std::chrono::milliseconds retry_interval{1000};
  // How long the writer may hold the first queued update back so that the
  // updates arriving meanwhile share its transaction (SqliteWriter's group
  // commit). Zero: each transaction takes only what is queued when it starts.
  std::chrono::microseconds commit_window{64000};
  // The writer stops holding updates back once this many are queued: the
  // window's end at a high rate, so the wait adapts to the rate.
  size_t commit_batch = 256;
};

inline constexpr SettingSpec kLocationSqliteSettings[] = {
    {"path", SettingType::kPath, "homesip-location.sqlite",
     "SQLite file holding the bindings (created if missing; its directory must exist)"},
    {"synchronous", SettingType::kString, "full",
     "full: a confirmed binding survives power loss; normal: it survives a homesipd crash, "
     "not a power loss, and writes are cheaper"},
    {"busy_timeout_ms", SettingType::kInteger, "5000",
     "how long a write waits for a lock held by another process before updates fail with 503"},
    {"sweep_interval_s", SettingType::kInteger, "60", "how often expired bindings are deleted"},
    {"max_batch", SettingType::kInteger, "1024", "most updates written in one transaction"},
    {"retry_interval_ms", SettingType::kInteger, "1000",
     "while the file cannot be written (deleted, replaced, opened read-only), how often it is reopened or "
     "recreated with the bindings held, besides at each update"},
    {"commit_window_us", SettingType::kInteger, "64000",
     "group commit: how long (microseconds, at most 100000) an update may wait for others to share its "
     "transaction and fsync while updates keep coming; 0 commits at once"},
    {"commit_batch", SettingType::kInteger, "256",
     "group commit: the wait ends once this many updates are queued (at most max_batch), so it is short at "
     "high rates"},
};

struct LocationSqliteSettings {
  std::string path;
  SqliteLocationStoreOptions options;
};

// Reads and checks the declared settings. Throws ConfigError naming the key.
LocationSqliteSettings read_settings(const Settings& settings);

}  // namespace homesip::location_sqlite
