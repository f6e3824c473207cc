// What the location-sqlite tests share: a scratch directory, a logger that
// remembers, the real core loop, and direct access to the file through a
// second SQLite connection (the way another process would see it).
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "event_loop.hpp"
#include "homesip/location_store.hpp"
#include "homesip/log.hpp"
#include "homesip/testkit/store_harness.hpp"
#include "sqlite_location_store.hpp"

namespace homesip::location_sqlite::testing {

// A fresh directory, removed with everything in it.
class ScratchDirectory {
 public:
  ScratchDirectory();
  ~ScratchDirectory();
  ScratchDirectory(const ScratchDirectory&) = delete;
  ScratchDirectory& operator=(const ScratchDirectory&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

class RecordingLogger final : public Logger {
 public:
  struct Line {
    LogLevel level;
    std::string text;
  };
  bool enabled(LogLevel) const override { return true; }
  void write(LogLevel level, std::string_view message) override;
  size_t count(LogLevel level) const;
  std::vector<Line> lines() const;

 private:
  mutable std::mutex mutex_;
  std::vector<Line> lines_;
};

// A second connection to the store's file, for looking at and meddling with
// it from outside the store.
class OutsideConnection {
 public:
  explicit OutsideConnection(const std::string& path);
  ~OutsideConnection();
  OutsideConnection(const OutsideConnection&) = delete;
  OutsideConnection& operator=(const OutsideConnection&) = delete;

  void execute(const std::string& sql);
  // The first column of the first row, as text; nullopt without a row.
  std::optional<std::string> query_text(const std::string& sql);
  int64_t query_integer(const std::string& sql);
  int64_t row_count() { return query_integer("SELECT COUNT(*) FROM bindings"); }
  std::vector<std::string> contacts_of(const std::string& aor);

 private:
  sqlite3* db_ = nullptr;
};

using ::homesip::testkit::make_binding;
// Puts `binding` into the AOR's list (replacing the same contact).
using ::homesip::testkit::put;
std::vector<std::string> contacts_of(const BindingList& bindings);

// What an update's done callback reported; shared so a late callback is safe.
struct UpdateOutcome {
  bool called = false;
  StoreStatus status = StoreStatus::kError;
  BindingList bindings;
};
std::shared_ptr<UpdateOutcome> submit(LocationStore& store, const std::string& aor, BindingEditor edit);

// A store on a file in a scratch directory, on a real SofiaEventLoop.
class StoreTest : public ::testing::Test {
 protected:
  StoreTest();
  ~StoreTest() override;

  SqliteLocationStore& open(SqliteLocationStoreOptions options = {});
  void close();  // destroys the store (stopping it) and runs what it posted
  bool run_until(const std::function<bool()>& done,
                 std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Submits and waits for the confirmation.
  UpdateOutcome update(const std::string& aor, BindingEditor edit);
  BindingList lookup(const std::string& aor);

  ScratchDirectory directory_;
  std::string path_;
  RecordingLogger logger_;
  std::unique_ptr<core::SofiaEventLoop> loop_;
  std::unique_ptr<SqliteLocationStore> store_;
};

}  // namespace homesip::location_sqlite::testing
