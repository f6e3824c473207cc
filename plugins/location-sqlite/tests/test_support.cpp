#include "test_support.hpp"

#include <stdlib.h>

#include <algorithm>
#include <stdexcept>

namespace homesip::location_sqlite::testing {

ScratchDirectory::ScratchDirectory() {
  std::string pattern = (std::filesystem::temp_directory_path() / "homesip-location-sqlite-XXXXXX").string();
  if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

ScratchDirectory::~ScratchDirectory() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

void RecordingLogger::write(LogLevel level, std::string_view message) {
  std::lock_guard lock(mutex_);
  lines_.push_back({level, std::string(message)});
}

size_t RecordingLogger::count(LogLevel level) const {
  std::lock_guard lock(mutex_);
  return std::count_if(lines_.begin(), lines_.end(), [level](const Line& l) { return l.level == level; });
}

std::vector<RecordingLogger::Line> RecordingLogger::lines() const {
  std::lock_guard lock(mutex_);
  return lines_;
}

OutsideConnection::OutsideConnection(const std::string& path) {
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK)
    throw std::runtime_error("cannot open " + path);
}

OutsideConnection::~OutsideConnection() { sqlite3_close_v2(db_); }

void OutsideConnection::execute(const std::string& sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    const std::string message = sql + ": " + (error ? error : "?");
    sqlite3_free(error);
    throw std::runtime_error(message);
  }
}

std::optional<std::string> OutsideConnection::query_text(const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK)
    throw std::runtime_error(sql + ": " + sqlite3_errmsg(db_));
  std::optional<std::string> value;
  if (sqlite3_step(stmt) == SQLITE_ROW) {
    const auto* text = sqlite3_column_text(stmt, 0);
    value = text ? reinterpret_cast<const char*>(text) : "";
  }
  sqlite3_finalize(stmt);
  return value;
}

int64_t OutsideConnection::query_integer(const std::string& sql) {
  return std::stoll(query_text(sql).value_or("0"));
}

std::vector<std::string> OutsideConnection::contacts_of(const std::string& aor) {
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db_, "SELECT contact FROM bindings WHERE aor = ? ORDER BY contact", -1, &stmt, nullptr);
  sqlite3_bind_text(stmt, 1, aor.c_str(), -1, SQLITE_TRANSIENT);
  std::vector<std::string> contacts;
  while (sqlite3_step(stmt) == SQLITE_ROW)
    contacts.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)));
  sqlite3_finalize(stmt);
  return contacts;
}

std::vector<std::string> contacts_of(const BindingList& bindings) {
  std::vector<std::string> contacts;
  for (const Binding& binding : bindings) contacts.push_back(binding.contact);
  std::sort(contacts.begin(), contacts.end());
  return contacts;
}

std::shared_ptr<UpdateOutcome> submit(LocationStore& store, const std::string& aor, BindingEditor edit) {
  auto outcome = std::make_shared<UpdateOutcome>();
  store.update(aor, std::move(edit), [outcome](StoreStatus status, const BindingList& bindings) {
    outcome->called = true;
    outcome->status = status;
    outcome->bindings = bindings;
  });
  return outcome;
}

StoreTest::StoreTest() : path_(directory_.file("location.sqlite")) {
  loop_ = std::make_unique<core::SofiaEventLoop>();
}

StoreTest::~StoreTest() {
  close();
  loop_.reset();
}

SqliteLocationStore& StoreTest::open(SqliteLocationStoreOptions options) {
  store_ = std::make_unique<SqliteLocationStore>(path_, options, *loop_, logger_);
  return *store_;
}

void StoreTest::close() {
  if (!store_) return;
  store_.reset();
  run_until([] { return false; }, std::chrono::milliseconds(20));  // lets posted confirmations run
}

bool StoreTest::run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  return loop_->run_until(done, timeout);
}

UpdateOutcome StoreTest::update(const std::string& aor, BindingEditor edit) {
  auto outcome = submit(*store_, aor, std::move(edit));
  EXPECT_TRUE(run_until([&] { return outcome->called; })) << "no confirmation for " << aor;
  return *outcome;
}

BindingList StoreTest::lookup(const std::string& aor) {
  BindingList found;
  store_->lookup(aor, [&found](StoreStatus status, const BindingList& bindings) {
    EXPECT_EQ(status, StoreStatus::kOk);
    found = bindings;
  });
  return found;  // the SQLite store answers reads inline
}

}  // namespace homesip::location_sqlite::testing
