#include "expired_rows.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace homesip::location_sqlite {
namespace {

void append_text(std::string& packed, std::string_view text) {
  const auto size = static_cast<uint32_t>(text.size());
  packed.append(reinterpret_cast<const char*>(&size), sizeof size);
  packed.append(text);
}

std::string read_text(const std::string& packed, size_t& at) {
  uint32_t size = 0;
  std::memcpy(&size, packed.data() + at, sizeof size);
  at += sizeof size;
  std::string text = packed.substr(at, size);
  at += size;
  return text;
}

}  // namespace

void ExpiredRows::add(std::string_view aor, std::string_view contact) {
  append_text(packed_, aor);
  append_text(packed_, contact);
  ++added_;
}

std::vector<ExpiredContact> ExpiredRows::take(size_t count) {
  std::vector<ExpiredContact> rows;
  rows.reserve(std::min(count, size()));
  while (rows.size() < count && !empty()) {
    ExpiredContact& row = rows.emplace_back();
    row.aor = read_text(packed_, next_);
    row.contact = read_text(packed_, next_);
    ++taken_;
  }
  if (empty()) *this = ExpiredRows{};
  return rows;
}

}  // namespace homesip::location_sqlite
