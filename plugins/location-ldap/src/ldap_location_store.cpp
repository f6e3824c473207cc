#include "ldap_location_store.hpp"

#include <ldap.h>

#include "binding_codec.hpp"
#include "ldap_connection.hpp"

namespace homesip::location_ldap {
namespace {

using Clock = std::chrono::steady_clock;

BindingList unexpired(BindingList bindings, int64_t now) {
  drop_expired(bindings, now);
  return bindings;
}

// Runs `answer` on `caller`, the loop that asked: at once when that is
// `here`, the loop running now, else posted there.
void answer_on(EventLoop* caller, const EventLoop* here, std::function<void()> answer) {
  if (caller == here)
    answer();
  else
    caller->post(std::move(answer));
}

}  // namespace

LdapLocationStore::LdapLocationStore(LdapOptions options, EventLoop& loop, Logger& logger,
                                     CurrentLoop current_loop)
    : options_(std::move(options)),
      loop_(loop),
      logger_(logger),
      current_loop_(std::move(current_loop)),
      backoff_(options_.reconnect_min) {
  logger_.info("location store ldap: using ", options_.uri, ", bindings under ", options_.bindings_dn);
  trim_timer_ = loop_.start_timer(std::chrono::seconds(60), true, [this] { trim_cache(); });
  worker_ = std::thread([this] { worker_main(); });
}

LdapLocationStore::~LdapLocationStore() {
  stop();
  *alive_ = false;
}

void LdapLocationStore::stop() {
  if (stopped_.exchange(true)) return;
  trim_timer_.reset();
  {
    std::lock_guard lock(mutex_);
    finishing_ = true;
  }
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();
}

EventLoop& LdapLocationStore::caller_loop() { return current_loop_ ? current_loop_() : loop_; }

void LdapLocationStore::post(std::function<void()> task) {
  loop_.post([alive = alive_, task = std::move(task)] {
    if (*alive) task();
  });
}

void LdapLocationStore::enqueue(Job job) {
  {
    std::lock_guard lock(mutex_);
    // Another loop's caller passed the stopped_ check just before stop():
    // the worker may be gone, so the job would never be answered.
    if (!finishing_) {
      jobs_.push_back(std::move(job));
      wake_.notify_one();
      return;
    }
  }
  job.fail(StoreStatus::kUnavailable, "the store is stopped");
}

void LdapLocationStore::update(std::string_view aor, BindingEditor edit, UpdateDone done) {
  if (stopped_) {
    done(StoreStatus::kUnavailable, known_bindings(aor));
    return;
  }
  auto shared_done = std::make_shared<UpdateDone>(std::move(done));
  auto edit_ptr = std::make_shared<BindingEditor>(std::move(edit));
  std::string key(aor);
  EventLoop* caller = &caller_loop();
  Job job;
  job.attempt = [this, key, edit_ptr, shared_done, caller](LdapConnection& connection) {
    UpdateOutcome outcome = apply_update(connection, options_, key, *edit_ptr);
    // Done callbacks run even if the store is gone by then (its owner's
    // request is waiting on them); only the cache needs the store. Through
    // the store's loop first: the cache is its state.
    loop_.post([this, alive = alive_, key, shared_done, caller, here = &loop_,
                outcome = std::move(outcome)]() mutable {
      if (*alive) {
        if (outcome.status == StoreStatus::kOk) remember(key, outcome.bindings);
        if (outcome.status == StoreStatus::kError)
          logger_.error("location store ldap: update of ", key, " failed: ", outcome.error);
        if (outcome.status == StoreStatus::kUnavailable && !outcome.error.empty())
          note_lost_update(outcome.error);
      }
      answer_on(caller, here, [shared_done, status = outcome.status, bindings = std::move(outcome.bindings)] {
        (*shared_done)(status, bindings);
      });
    });
  };
  job.fail = [this, key, shared_done, caller](StoreStatus status, const std::string& why) {
    loop_.post([this, alive = alive_, key, shared_done, caller, here = &loop_, status, why] {
      BindingList known;
      if (*alive) {
        known = known_bindings(key);
        if (status == StoreStatus::kError)
          logger_.error("location store ldap: update of ", key, " failed: ", why);
      }
      answer_on(caller, here,
                [shared_done, status, known = std::move(known)] { (*shared_done)(status, known); });
    });
  };
  enqueue(std::move(job));
}

void LdapLocationStore::lookup(std::string_view aor, LookupDone done) {
  std::optional<CachedAor> cached = cached_entry(aor);
  const bool fresh = cached && Clock::now() - cached->fetched < options_.cache;
  if (fresh) {
    done(StoreStatus::kOk, unexpired(std::move(cached->bindings), unix_now()));
    return;
  }
  if (stopped_) {
    if (cached)
      done(StoreStatus::kOk, unexpired(std::move(cached->bindings), unix_now()));
    else
      done(StoreStatus::kUnavailable, {});
    return;
  }
  auto shared_done = std::make_shared<LookupDone>(std::move(done));
  std::string key(aor);
  EventLoop* caller = &caller_loop();
  Job job;
  job.attempt = [this, key, shared_done, caller](LdapConnection& connection) {
    StoredAor stored;
    StoreStatus status = StoreStatus::kOk;
    std::string why;
    try {
      stored = read_aor(connection, options_, key);
    } catch (const DirectoryDataError& e) {
      status = StoreStatus::kError;
      why = e.what();
    }
    loop_.post([this, alive = alive_, key, shared_done, caller, here = &loop_, status, why,
                stored = std::move(stored)]() mutable {
      BindingList bindings = unexpired(std::move(stored.bindings), unix_now());
      sort_for_lookup(bindings);
      if (*alive) {
        if (status == StoreStatus::kOk)
          remember(key, bindings);
        else
          logger_.error("location store ldap: lookup of ", key, " failed: ", why);
      }
      if (status != StoreStatus::kOk) bindings.clear();
      answer_on(caller, here,
                [shared_done, status, bindings = std::move(bindings)] { (*shared_done)(status, bindings); });
    });
  };
  job.fail = [this, key, shared_done, caller](StoreStatus status, const std::string&) {
    loop_.post([this, alive = alive_, key, shared_done, caller, here = &loop_, status] {
      // Directory down: what this server last knew beats a 503 for a read.
      if (*alive && status == StoreStatus::kUnavailable) {
        std::optional<CachedAor> known = cached_entry(key);
        if (known) {
          answer_on(caller, here,
                    [shared_done, bindings = unexpired(std::move(known->bindings), unix_now())] {
                      (*shared_done)(StoreStatus::kOk, bindings);
                    });
          return;
        }
      }
      answer_on(caller, here, [shared_done, status] { (*shared_done)(status, {}); });
    });
  };
  enqueue(std::move(job));
}

void LdapLocationStore::list_aors(std::string_view domain, ListDone done) {
  if (stopped_) {
    done(StoreStatus::kUnavailable, {});
    return;
  }
  auto shared_done = std::make_shared<ListDone>(std::move(done));
  std::string key(domain);
  EventLoop* caller = &caller_loop();
  Job job;
  job.attempt = [this, key, shared_done, caller](LdapConnection& connection) {
    std::vector<std::string> aors;
    StoreStatus status = StoreStatus::kOk;
    try {
      aors = homesip::location_ldap::list_aors(connection, options_, key, unix_now());
    } catch (const DirectoryDataError&) {
      status = StoreStatus::kError;
    }
    caller->post([shared_done, status, aors = std::move(aors)] { (*shared_done)(status, aors); });
  };
  job.fail = [shared_done, caller](StoreStatus status, const std::string&) {
    caller->post([shared_done, status] { (*shared_done)(status, {}); });
  };
  enqueue(std::move(job));
}

void LdapLocationStore::find_user(std::string_view aor, UserDone done) {
  if (stopped_) return done(StoreStatus::kUnavailable, std::nullopt);
  auto shared_done = std::make_shared<UserDone>(std::move(done));
  EventLoop* caller = &caller_loop();
  Job job;
  job.attempt = [this, key = std::string(aor), shared_done, caller](LdapConnection& connection) {
    auto user = read_user(connection, options_, key);
    caller->post([shared_done, user = std::move(user)] { (*shared_done)(StoreStatus::kOk, user); });
  };
  job.fail = [shared_done, caller](StoreStatus status, const std::string&) {
    caller->post([shared_done, status] { (*shared_done)(status, std::nullopt); });
  };
  enqueue(std::move(job));
}

void LdapLocationStore::list_users(std::string_view domain, UserListDone done) {
  if (stopped_) return done(StoreStatus::kUnavailable, {});
  auto shared_done = std::make_shared<UserListDone>(std::move(done));
  EventLoop* caller = &caller_loop();
  Job job;
  job.attempt = [this, domain = std::string(domain), shared_done, caller](LdapConnection& connection) {
    auto users = homesip::location_ldap::list_users(connection, options_, domain);
    caller->post([shared_done, users = std::move(users)] { (*shared_done)(StoreStatus::kOk, users); });
  };
  job.fail = [shared_done, caller](StoreStatus status, const std::string&) {
    caller->post([shared_done, status] { (*shared_done)(status, {}); });
  };
  enqueue(std::move(job));
}

void LdapLocationStore::put_user(const UserRecord& user, UserWriteDone done) {
  write_user_job([this, user](LdapConnection& connection) { write_user(connection, options_, user); },
                 std::move(done));
}

void LdapLocationStore::remove_user(std::string_view aor, UserWriteDone done) {
  write_user_job(
      [this, key = std::string(aor)](LdapConnection& connection) { delete_user(connection, options_, key); },
      std::move(done));
}

void LdapLocationStore::write_user_job(std::function<void(LdapConnection&)> write, UserWriteDone done) {
  if (stopped_) return done(StoreStatus::kUnavailable);
  auto shared_done = std::make_shared<UserWriteDone>(std::move(done));
  EventLoop* caller = &caller_loop();
  Job job;
  job.attempt = [this, write = std::move(write), shared_done, caller](LdapConnection& connection) {
    StoreStatus status = StoreStatus::kOk;
    try {
      write(connection);  // the directory confirmed it when this returns
    } catch (const DirectoryDataError& e) {
      logger_.error("user store: ", e.what());
      status = StoreStatus::kError;
    }
    caller->post([shared_done, status] { (*shared_done)(status); });
  };
  job.fail = [shared_done, caller](StoreStatus status, const std::string&) {
    caller->post([shared_done, status] { (*shared_done)(status); });
  };
  enqueue(std::move(job));
}

void LdapLocationStore::count_aors(std::function<void(std::optional<size_t>)> done) {
  if (stopped_) return;
  Job job;
  // A count that fails (a timeout, slapd's size limit, the directory gone) is
  // no news: done is not called and the store's state stays as the requests
  // found it, so a gauge never makes registrations 503.
  job.attempt = [this, done](LdapConnection& connection) {  // a copy: job.fail needs `done` too
    std::optional<size_t> count;
    try {
      count = homesip::location_ldap::count_aors(connection, options_, unix_now());
    } catch (const std::exception&) {
    }
    post([done, count] { done(count); });
  };
  job.fail = [this, done](StoreStatus, const std::string&) { post([done] { done(std::nullopt); }); };
  enqueue(std::move(job));
}

void LdapLocationStore::note_lost_update(const std::string& why) {
  const auto now = std::chrono::steady_clock::now();
  if (now < next_lost_update_line_) {
    ++lost_updates_unlogged_;
    return;
  }
  const std::string more = lost_updates_unlogged_ == 0 ? std::string()
                                                       : " (and " + std::to_string(lost_updates_unlogged_) +
                                                             " more lost since the last line)";
  logger_.warn("location store ldap: an update was lost: ", why, more,
               "; the next such line in a minute at the earliest");
  lost_updates_unlogged_ = 0;
  next_lost_update_line_ = now + std::chrono::minutes(1);
}

void LdapLocationStore::remember(const std::string& aor, const BindingList& bindings) {
  CachedAor entry{bindings, Clock::now()};  // the copy made before the lock
  std::lock_guard lock(cache_mutex_);
  cache_.insert_or_assign(aor, std::move(entry));
}

std::optional<LdapLocationStore::CachedAor> LdapLocationStore::cached_entry(std::string_view aor) const {
  std::lock_guard lock(cache_mutex_);
  const auto cached = cache_.find(std::string(aor));
  if (cached == cache_.end()) return std::nullopt;
  return cached->second;
}

BindingList LdapLocationStore::known_bindings(std::string_view aor) const {
  std::optional<CachedAor> cached = cached_entry(aor);
  return cached ? unexpired(std::move(cached->bindings), unix_now()) : BindingList{};
}

void LdapLocationStore::trim_cache() {
  // Entries are kept past `cache` only as a fallback while the directory is
  // down; drop the old and the empty ones.
  const auto now = Clock::now();
  const int64_t wall_now = unix_now();
  const auto keep = std::max<Clock::duration>(options_.cache, std::chrono::minutes(10));
  std::lock_guard lock(cache_mutex_);
  std::erase_if(cache_, [&](const auto& item) {
    const CachedAor& cached = item.second;
    if (now - cached.fetched > keep) return true;
    return unexpired(cached.bindings, wall_now).empty() && now - cached.fetched >= options_.cache;
  });
}

// ---- worker thread ----

void LdapLocationStore::worker_main() {
  std::unique_lock lock(mutex_);
  while (true) {
    if (jobs_.empty()) {
      if (finishing_) break;
      if (!connection_) {
        // Reconnect in the background, so the state is logged (and the first
        // request after an outage finds a connection) without waiting for traffic.
        if (wake_.wait_until(lock, next_attempt_, [this] { return finishing_ || !jobs_.empty(); })) continue;
        lock.unlock();
        connect();
        lock.lock();
      } else {
        wake_.wait(lock, [this] { return finishing_ || !jobs_.empty(); });
      }
      continue;
    }
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    run_job(job);
    lock.lock();
  }
  lock.unlock();
  connection_.reset();
  connected_ = false;
}

void LdapLocationStore::run_job(Job& job) {
  for (int attempt = 0;; ++attempt) {
    if (!connection_ && (attempt > 0 || Clock::now() >= next_attempt_)) connect();
    if (!connection_) {
      job.fail(StoreStatus::kUnavailable, "directory unavailable");
      return;
    }
    try {
      job.attempt(*connection_);
      return;
    } catch (const LdapError& e) {
      if (!e.unavailable() && e.code() >= 0) {
        job.fail(StoreStatus::kError, e.what());
        return;
      }
      connection_.reset();
      set_state(false, e.what());
      next_attempt_ = Clock::now() + backoff_;
      // A connection left over from before a directory restart fails on
      // first use: retry once on a new one. Not after a timeout: the
      // directory is slow, and waiting twice helps nobody.
      if (attempt > 0 || e.code() == LDAP_TIMEOUT) {
        job.fail(StoreStatus::kUnavailable, e.what());
        return;
      }
    } catch (const std::exception& e) {
      job.fail(StoreStatus::kError, e.what());
      return;
    }
  }
}

void LdapLocationStore::connect() {
  try {
    auto connection = std::make_unique<LdapConnection>(options_);
    if (!ensure_container(*connection, options_.bindings_dn))
      post([this] {
        logger_.error("location store ldap: ", options_.bindings_dn,
                      " does not exist and could not be created; updates will fail");
      });
    connection_ = std::move(connection);
    backoff_ = options_.reconnect_min;
    set_state(true, {});
  } catch (const LdapError& e) {
    connection_.reset();
    set_state(false, e.what());
    next_attempt_ = Clock::now() + backoff_;
    backoff_ = std::min(backoff_ * 2, options_.reconnect_max);
  }
}

void LdapLocationStore::set_state(bool up, const std::string& why) {
  connected_ = up;
  if (logged_up_ == up) return;
  logged_up_ = up;
  const std::string uri = options_.uri;
  if (up)
    post([this, uri] { logger_.info("location store ldap: connected to ", uri); });
  else
    post([this, uri, why] {
      logger_.error("location store ldap: directory ", uri, " unavailable (", why,
                    "); updates are answered 503 while reconnecting with backoff");
    });
}

}  // namespace homesip::location_ldap
