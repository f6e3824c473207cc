// A LocationStore that times another one (since SDK 3.2): an update from the
// call to its confirmation (the write durable), and optionally a lookup from
// the call to its answer, each observed in a Histogram. A store plugin
// provides this in front of its own store to export those latencies on
// /metrics; header-only, so nothing about the SDK's binary layout changes.
#pragma once

#include <chrono>
#include <string_view>
#include <utility>

#include "homesip/admin.hpp"
#include "homesip/location_store.hpp"

namespace homesip {

class TimedLocationStore final : public LocationStore {
 public:
  // Times updates only: a store whose lookups are answered from memory.
  TimedLocationStore(LocationStore& inner, Histogram writes) : inner_(inner), writes_(writes) {}
  // Times lookups too: a store that asks its backend for them.
  TimedLocationStore(LocationStore& inner, Histogram writes, Histogram lookups)
      : inner_(inner), writes_(writes), lookups_(lookups), time_lookups_(true) {}

  void update(std::string_view aor, BindingEditor edit, UpdateDone done) override {
    inner_.update(aor, std::move(edit),
                  [done = std::move(done), writes = writes_, start = Clock::now()](
                      StoreStatus status, const BindingList& bindings) {
                    writes.observe(Clock::now() - start);
                    done(status, bindings);
                  });
  }
  void lookup(std::string_view aor, LookupDone done) override {
    if (!time_lookups_) return inner_.lookup(aor, std::move(done));
    inner_.lookup(aor, [done = std::move(done), lookups = lookups_, start = Clock::now()](
                           StoreStatus status, const BindingList& bindings) {
      lookups.observe(Clock::now() - start);
      done(status, bindings);
    });
  }
  void list_aors(std::string_view domain, ListDone done) override {
    inner_.list_aors(domain, std::move(done));
  }

 private:
  using Clock = std::chrono::steady_clock;
  LocationStore& inner_;
  Histogram writes_;
  Histogram lookups_;
  bool time_lookups_ = false;
};

}  // namespace homesip
