#include "bindings_database.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "schema.hpp"
#include "user_rows.hpp"

namespace homesip::location_sqlite {

struct BindingsDatabase::Statements {
  explicit Statements(sqlite3* db)
      : begin(db, "BEGIN IMMEDIATE"),
        commit(db, "COMMIT"),
        select_all(db,
                   "SELECT aor, contact, expires_at, q_millis, call_id, cseq, source, instance, "
                   "user_agent FROM bindings ORDER BY aor"),
        select_unexpired(db,
                         "SELECT aor, contact, expires_at, q_millis, call_id, cseq, source, instance, "
                         "user_agent FROM bindings WHERE expires_at > ? ORDER BY aor"),
        select_aor(db,
                   "SELECT aor, contact, expires_at, q_millis, call_id, cseq, source, instance, "
                   "user_agent FROM bindings WHERE aor = ? AND expires_at > ?"),
        upsert(db,
               "INSERT INTO bindings (aor, contact, expires_at, q_millis, call_id, cseq, source, "
               "instance, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
               "ON CONFLICT (aor, contact) DO UPDATE SET expires_at = excluded.expires_at, "
               "q_millis = excluded.q_millis, call_id = excluded.call_id, cseq = excluded.cseq, "
               "source = excluded.source, instance = excluded.instance, "
               "user_agent = excluded.user_agent"),
        delete_contact(db, "DELETE FROM bindings WHERE aor = ? AND contact = ?"),
        delete_aor(db, "DELETE FROM bindings WHERE aor = ?"),
        delete_all(db, "DELETE FROM bindings"),
        delete_contact_if_expired(db,
                                  "DELETE FROM bindings WHERE aor = ? AND contact = ? AND expires_at <= ?") {}

  Statement begin;
  Statement commit;
  Statement select_all;
  Statement select_unexpired;
  Statement select_aor;
  Statement upsert;
  Statement delete_contact;
  Statement delete_aor;
  Statement delete_all;
  Statement delete_contact_if_expired;
};

namespace {

// Columns in the order both SELECTs list them.
BindingView binding_view(const Statement& row) {
  BindingView binding;
  binding.contact = row.text_view(1);
  binding.expires_at = row.integer(2);
  binding.q_millis = static_cast<uint16_t>(row.integer(3));
  binding.call_id = row.text_view(4);
  binding.cseq = static_cast<uint32_t>(row.integer(5));
  binding.source = row.text_view(6);
  binding.instance = row.text_view(7);
  binding.user_agent = row.text_view(8);
  return binding;
}

Binding read_binding(const Statement& row) { return binding_view(row).owned(); }

std::string pragma_value(sqlite3* db, const char* pragma) {
  Statement query(db, pragma);
  const std::string value = query.bind().next_row() ? query.text(0) : std::string();
  query.reset();
  return value;
}

FileIdentity identity_after_open(const std::string& path) {
  const std::optional<FileIdentity> identity = identity_of(path);
  if (!identity)
    throw SqliteError(SQLITE_CANTOPEN, "checking " + path + " after opening it: " + std::strerror(errno));
  return *identity;
}

}  // namespace

std::optional<FileIdentity> identity_of(const std::string& path) {
  struct stat status {};
  if (stat(path.c_str(), &status) != 0) return std::nullopt;
  return FileIdentity{status.st_dev, status.st_ino};
}

BindingsDatabase::BindingsDatabase(const std::string& path, SynchronousMode synchronous,
                                   std::chrono::milliseconds busy_timeout)
    : db_(open_database(path)) {
  configure(synchronous, busy_timeout);
  // A read-only connection passes when nothing needs migrating (its BEGIN
  // IMMEDIATE succeeds in WAL mode); only its writes fail.
  migrate_schema(db_.get(), location_schema_migrations());
  statements_ = std::make_unique<Statements>(db_.get());
  identity_ = identity_after_open(path);
}

bool BindingsDatabase::read_only() const { return sqlite3_db_readonly(db_.get(), "main") == 1; }

BindingsDatabase::~BindingsDatabase() = default;
BindingsDatabase::BindingsDatabase(BindingsDatabase&&) noexcept = default;

void BindingsDatabase::configure(SynchronousMode synchronous, std::chrono::milliseconds busy_timeout) {
  // The timeout first: switching to WAL needs a lock another process may hold.
  check(db_.get(), sqlite3_busy_timeout(db_.get(), static_cast<int>(busy_timeout.count())),
        "setting the busy timeout");
  // WAL: readers (the reload after a failure, tools) never block the writer,
  // and a commit appends to one file instead of rewriting pages twice.
  const std::string mode = pragma_value(db_.get(), "PRAGMA journal_mode = WAL");
  if (mode != "wal")
    throw SqliteError(SQLITE_ERROR, "the database cannot use write-ahead logging (journal_mode is '" + mode +
                                        "'); put it on a local file system");
  execute(db_.get(), synchronous == SynchronousMode::kFull ? "PRAGMA synchronous = FULL"
                                                           : "PRAGMA synchronous = NORMAL");
  // SQLite's default page cache (2 MiB) holds the pages of about 19 000
  // bindings (~110 B each in the file): past that every batch of refreshes
  // re-reads pages from the OS, a pread each (~10 per commit at 50 000
  // bindings, 3 % of the CPU at 8000/s). 16 MiB covers ~150 000 bindings and
  // costs at most 16 B per binding at 1 M.
  execute(db_.get(), "PRAGMA cache_size = -16384");
}

void BindingsDatabase::for_each_row(int64_t now, const RowVisitor& row, const KeyVisitor& expired) {
  Statement& select = statements_->select_all;
  select.bind();
  while (select.next_row()) {
    if (select.integer(2) > now)
      row(select.text_view(0), binding_view(select));
    else
      expired(select.text_view(0), select.text_view(1));
  }
}

void BindingsDatabase::for_each_unexpired(int64_t now, const RowVisitor& row) {
  Statement& select = statements_->select_unexpired;
  select.bind(now);
  while (select.next_row()) row(select.text_view(0), binding_view(select));
}

BindingList BindingsDatabase::unexpired_of(std::string_view aor, int64_t now) {
  Statement& select = statements_->select_aor;
  select.bind(aor, now);
  BindingList bindings;
  while (select.next_row()) bindings.push_back(read_binding(select));
  return bindings;
}

std::vector<StoredBinding> BindingsDatabase::all_unexpired(int64_t now) {
  std::vector<StoredBinding> bindings;
  for_each_unexpired(now, [&bindings](std::string_view aor, const BindingView& binding) {
    bindings.push_back({std::string(aor), binding.owned()});
  });
  return bindings;
}

void BindingsDatabase::replace_all(const std::vector<StoredBinding>& bindings,
                                   const std::vector<UserRecord>& users) {
  begin();
  try {
    statements_->delete_all.bind().run();
    for (const StoredBinding& stored : bindings) upsert(stored.aor, stored.binding);
    delete_all_user_rows(db_.get());
    for (const UserRecord& user : users) write_user_rows(db_.get(), user_key(user.aor), &user);
    commit();
  } catch (...) {
    rollback_if_open();
    throw;
  }
}

void BindingsDatabase::begin() { statements_->begin.bind().run(); }

void BindingsDatabase::commit() { statements_->commit.bind().run(); }

void BindingsDatabase::rollback_if_open() {
  // A failed COMMIT may or may not have ended the transaction; SQLite knows.
  if (!sqlite3_get_autocommit(db_.get())) sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void BindingsDatabase::upsert(std::string_view aor, const Binding& b) {
  statements_->upsert
      .bind(aor, b.contact, b.expires_at, b.q_millis, b.call_id, b.cseq, b.source, b.instance, b.user_agent)
      .run();
}

void BindingsDatabase::remove_contact(std::string_view aor, std::string_view contact) {
  statements_->delete_contact.bind(aor, contact).run();
}

void BindingsDatabase::remove_aor(std::string_view aor) { statements_->delete_aor.bind(aor).run(); }

void BindingsDatabase::remove_contact_if_expired(std::string_view aor, std::string_view contact,
                                                 int64_t cutoff) {
  statements_->delete_contact_if_expired.bind(aor, contact, cutoff).run();
}

}  // namespace homesip::location_sqlite
