// Memory per binding and restart time of the SQLite location store at scale
// (issue 16 item 6). Built with the tests, never run by ctest: it takes a
// million registrations and some hundred MB.
//
//   location_sqlite_bench fill FILE [COUNT]   a new FILE with COUNT AORs (default
//                                             1000000) of one binding each, through
//                                             update(); RSS growth per binding
//   location_sqlite_bench load FILE           opens FILE as homesipd starts: time
//                                             until lookups are served, RSS growth,
//                                             time until a REGISTER (a refresh of the
//                                             last user loaded) is confirmed
//   location_sqlite_bench sweep [COUNT]       an index of COUNT AORs (default 1000000),
//                                             every other one expired: the pass's
//                                             slices, the longest by the wall clock
//                                             and by the thread's CPU time
//
// Run `load` in a process of its own: RSS then counts what a restart costs,
// not what the fill left behind. Each prints one line of key=value figures.
#include <malloc.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "binding_index.hpp"
#include "homesip/log.hpp"
#include "homesip/testkit/manual_loop.hpp"
#include "sqlite_location_store.hpp"

namespace {

using homesip::Binding;
using homesip::BindingList;
using homesip::StoreStatus;
using homesip::location_sqlite::SqliteLocationStore;
using homesip::location_sqlite::SqliteLocationStoreOptions;
using homesip::location_sqlite::SynchronousMode;
using Clock = std::chrono::steady_clock;

class QuietLogger final : public homesip::Logger {
 public:
  bool enabled(homesip::LogLevel level) const override { return level >= homesip::LogLevel::kWarn; }
  void write(homesip::LogLevel, std::string_view message) override { std::cerr << message << "\n"; }
};

// Resident set size in bytes (VmRSS of /proc/self/status).
long resident_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6)) * 1024;
  return -1;
}

// What a registrar stores for one UDP phone: realistic sizes per field.
Binding binding_of(size_t user, int64_t now) {
  const std::string number = std::to_string(100000 + user);
  Binding binding;
  binding.contact = "sip:u" + number + "@192.0.2.7:5060;transport=udp";
  binding.expires_at = now + 3600;
  binding.call_id = number + "a84b4c76e66710@192.0.2.7";
  binding.cseq = 1;
  binding.source = "udp:192.0.2.7:5060";
  binding.user_agent = "Linphone/5.2.0";
  return binding;
}

std::string aor_of(size_t user) { return "u" + std::to_string(100000 + user) + "@c1.d1.h1"; }

SqliteLocationStoreOptions bench_options() {
  SqliteLocationStoreOptions options;
  options.synchronous = SynchronousMode::kNormal;  // the fill measures memory, not the disk
  options.max_batch = 10000;
  return options;
}

int fill(const std::string& path, size_t count) {
  std::remove(path.c_str());
  QuietLogger logger;
  homesip::testkit::ManualLoop loop;
  malloc_trim(0);
  const long rss_before = resident_bytes();
  SqliteLocationStore store(path, bench_options(), loop, logger);
  const auto started = Clock::now();
  size_t confirmed = 0;
  size_t failed = 0;
  const int64_t now = homesip::unix_now();
  constexpr size_t kInFlight = 20000;  // bounds the writer's queue, which is not the index
  for (size_t user = 0; user < count; ++user) {
    Binding binding = binding_of(user, now);
    store.update(
        aor_of(user),
        [binding](BindingList& bindings) {
          bindings.push_back(binding);
          return true;
        },
        [&](StoreStatus status, const BindingList&) { ++(status == StoreStatus::kOk ? confirmed : failed); });
    if (user + 1 - confirmed - failed >= kInFlight)
      loop.run_until([&] { return user + 1 - confirmed - failed < kInFlight / 2; }, std::chrono::seconds(60));
  }
  if (!loop.run_until([&] { return confirmed + failed == count; }, std::chrono::seconds(300))) {
    std::cerr << "fill: not every update was confirmed\n";
    return 1;
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  malloc_trim(0);
  const long rss_after = resident_bytes();
  std::cout << "fill count=" << count << " failed=" << failed << " seconds=" << seconds
            << " rss_delta_bytes=" << (rss_after - rss_before) << " bytes_per_binding="
            << static_cast<double>(rss_after - rss_before) / static_cast<double>(count) << "\n";
  store.stop();
  loop.run_pending();
  return failed == 0 ? 0 : 1;
}

int load(const std::string& path) {
  QuietLogger logger;
  homesip::testkit::ManualLoop loop;
  malloc_trim(0);
  const long rss_before = resident_bytes();
  const auto started = Clock::now();
  SqliteLocationStore store(path, bench_options(), loop, logger);
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  const size_t aors = store.aor_count();
  // The last user is served: a lookup answers from memory once the constructor returned.
  size_t found = 0;
  store.lookup(aor_of(aors - 1), [&](StoreStatus, const BindingList& bindings) { found = bindings.size(); });
  // A REGISTER's 200 waits for its row to be committed (rows that expired
  // while the server was down no longer go first: the sweep deletes them).
  const Binding refreshed = binding_of(aors - 1, homesip::unix_now());
  StoreStatus registered = StoreStatus::kError;
  bool answered = false;
  store.update(
      aor_of(aors - 1),
      [&refreshed](BindingList& bindings) {
        bindings.assign(1, refreshed);
        return true;
      },
      [&](StoreStatus status, const BindingList&) {
        registered = status;
        answered = true;
      });
  loop.run_until([&] { return answered; }, std::chrono::seconds(60));
  const double register_seconds = std::chrono::duration<double>(Clock::now() - started).count();
  malloc_trim(0);
  const long rss_after = resident_bytes();
  std::cout << "load aors=" << aors << " last_user_bindings=" << found << " seconds=" << seconds
            << " register_answered_seconds=" << register_seconds
            << " register_ok=" << (registered == StoreStatus::kOk)
            << " rss_delta_bytes=" << (rss_after - rss_before) << " bytes_per_binding="
            << static_cast<double>(rss_after - rss_before) / static_cast<double>(aors) << "\n";
  store.stop();
  loop.run_pending();
  return found == 1 && registered == StoreStatus::kOk ? 0 : 1;
}

// CPU time of the calling thread: a slice's own work, without the time the
// thread waited for a CPU (on a shared machine the longest wall-clock slice
// is often a preemption).
double thread_cpu_seconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

double percentile(std::vector<double> values, size_t percent) {
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, values.size() * percent / 100)];
}

// The sweep's slices at scale: each must stay under a millisecond of the
// loop (issue 16). 1024 is the store's slice budget (kSweepSliceWork).
int sweep(size_t count) {
  homesip::location_sqlite::BindingIndex index;
  const int64_t now = homesip::unix_now();
  for (size_t user = 0; user < count; ++user) {
    Binding binding = binding_of(user, now);
    if (user % 2 == 0) binding.expires_at = now;
    index.replace(aor_of(user), BindingList{binding});
  }
  homesip::location_sqlite::SweepCursor cursor;
  std::vector<homesip::location_sqlite::ExpiredContact> dropped;
  // Seconds each, wall clock and on the CPU. Reserved: growing them between
  // slices would be a large request in the middle of the measurement.
  std::vector<double> slices;
  std::vector<double> slices_cpu;
  slices.reserve(4 * count / 1024 + 16);
  slices_cpu.reserve(slices.capacity());
  for (bool complete = false; !complete;) {
    dropped.clear();  // the store hands each slice's to the writer
    const double cpu_started = thread_cpu_seconds();
    const auto started = Clock::now();
    complete = index.remove_expired(now, 1024, cursor, dropped).pass_complete;
    slices.push_back(std::chrono::duration<double>(Clock::now() - started).count());
    slices_cpu.push_back(thread_cpu_seconds() - cpu_started);
  }
  double pass = 0;
  for (const double seconds : slices) pass += seconds;
  const auto longest = std::max_element(slices.begin(), slices.end());
  const auto longest_cpu = std::max_element(slices_cpu.begin(), slices_cpu.end());
  std::cout << "sweep aors=" << count << " left=" << index.aor_count() << " slices=" << slices.size()
            << " p50_slice_us=" << percentile(slices, 50) * 1e6
            << " p99_slice_us=" << percentile(slices, 99) * 1e6 << " longest_slice_us=" << *longest * 1e6
            << " longest_slice_number=" << (longest - slices.begin())
            << " longest_slice_cpu_us=" << *longest_cpu * 1e6
            << " longest_cpu_slice_number=" << (longest_cpu - slices_cpu.begin()) << " pass_ms=" << pass * 1e3
            << " pool_blocks=" << index.pool().block_count() << "\n";
  return index.aor_count() == count / 2 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "fill" && (argc == 3 || argc == 4))
    return fill(argv[2], argc == 4 ? std::strtoul(argv[3], nullptr, 10) : 1000000);
  if (mode == "load" && argc == 3) return load(argv[2]);
  if (mode == "sweep" && argc <= 3) return sweep(argc == 3 ? std::strtoul(argv[2], nullptr, 10) : 1000000);
  std::cerr << "usage: location_sqlite_bench fill FILE [COUNT] | load FILE | sweep [COUNT]\n";
  return 2;
}
