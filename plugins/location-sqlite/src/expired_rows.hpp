// The keys (AOR, contact) of the rows the load found expired, packed one
// after the other in one buffer: at 500 000 expired rows of a million, 32 MB
// (64 bytes a row) where a vector of ExpiredContact (two std::strings, two
// allocations a row) took 80 MB. They wait there until the sweep takes them.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "binding_index.hpp"

namespace homesip::location_sqlite {

class ExpiredRows {
 public:
  void add(std::string_view aor, std::string_view contact);
  // Rows added and not taken yet.
  size_t size() const { return added_ - taken_; }
  bool empty() const { return size() == 0; }
  // Up to `count` rows, in the order added; the buffer's memory goes back
  // once the last one is taken.
  std::vector<ExpiredContact> take(size_t count);

 private:
  std::string packed_;  // per row: AOR size, AOR, contact size, contact (sizes as uint32_t)
  size_t next_ = 0;     // where the first row not taken starts
  size_t added_ = 0;
  size_t taken_ = 0;
};

}  // namespace homesip::location_sqlite
