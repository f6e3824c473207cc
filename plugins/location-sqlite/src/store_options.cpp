#include "store_options.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <limits>

namespace homesip::location_sqlite {
namespace {

SynchronousMode synchronous_mode(const Settings& settings) {
  std::string mode = settings.get_string("synchronous");
  std::transform(mode.begin(), mode.end(), mode.begin(), [](unsigned char c) { return std::tolower(c); });
  if (mode == "full") return SynchronousMode::kFull;
  if (mode == "normal") return SynchronousMode::kNormal;
  throw ConfigError("synchronous", "synchronous must be 'full' or 'normal', not '" + mode + "'");
}

std::string database_path(const Settings& settings) {
  std::string path = settings.get_string("path");
  if (path.empty()) throw ConfigError("path", "path must name the SQLite file for the bindings");
  return path;
}

}  // namespace

LocationSqliteSettings read_settings(const Settings& settings) {
  constexpr int64_t kSecondsPerDay = 86400;
  LocationSqliteSettings read;
  read.path = database_path(settings);
  read.options.synchronous = synchronous_mode(settings);
  // SQLite takes the busy timeout as an int of milliseconds.
  read.options.busy_timeout = std::chrono::milliseconds(
      integer_in_range(settings, "busy_timeout_ms", 0, std::numeric_limits<int>::max()));
  read.options.sweep_interval =
      std::chrono::seconds(integer_in_range(settings, "sweep_interval_s", 1, kSecondsPerDay));
  read.options.max_batch = static_cast<size_t>(integer_in_range(settings, "max_batch", 1, 1'000'000));
  // Below 10 ms the retries would be busy-waiting on a file that is gone.
  read.options.retry_interval =
      std::chrono::milliseconds(integer_in_range(settings, "retry_interval_ms", 10, kSecondsPerDay * 1000));
  return read;
}

}  // namespace homesip::location_sqlite
