#include "packed_bindings.hpp"

#include <algorithm>
#include <cstring>
#include <functional>
#include <new>
#include <stdexcept>

namespace homesip::location_sqlite {
namespace {

// Each binding's fixed fields: expires_at, cseq, q_millis, unaligned.
constexpr size_t kFixedSize = sizeof(int64_t) + sizeof(uint32_t) + sizeof(uint16_t);
constexpr size_t kCseqAt = sizeof(int64_t);
constexpr size_t kQAt = kCseqAt + sizeof(uint32_t);

template <class Value>
Value read_at(const unsigned char* at) {
  Value value;
  std::memcpy(&value, at, sizeof value);
  return value;
}

template <class Value>
unsigned char* write_at(unsigned char* at, Value value) {
  std::memcpy(at, &value, sizeof value);
  return at + sizeof value;
}

// Lengths as LEB128: one byte below 128, which nearly every SIP text is.
size_t varint_size(size_t value) {
  size_t size = 1;
  for (; value >= 0x80; value >>= 7) ++size;
  return size;
}

unsigned char* write_varint(unsigned char* at, size_t value) {
  for (; value >= 0x80; value >>= 7) *at++ = static_cast<unsigned char>(value | 0x80);
  *at++ = static_cast<unsigned char>(value);
  return at;
}

size_t read_varint(const unsigned char*& at) {
  size_t value = 0;
  for (int shift = 0;; shift += 7) {
    const unsigned char byte = *at++;
    value |= static_cast<size_t>(byte & 0x7f) << shift;
    if (byte < 0x80) return value;
  }
}

std::string_view read_text(const unsigned char*& at) {
  const size_t size = read_varint(at);
  const std::string_view text(reinterpret_cast<const char*>(at), size);
  at += size;
  return text;
}

void append_text(std::string& buffer, std::string_view text) {
  unsigned char prefix[10];
  const unsigned char* end = write_varint(prefix, text.size());
  buffer.append(reinterpret_cast<const char*>(prefix), static_cast<size_t>(end - prefix));
  buffer.append(text);
}

}  // namespace

BindingView BindingView::of(const Binding& binding) {
  return BindingView{binding.contact, binding.expires_at, binding.q_millis, binding.call_id,
                     binding.cseq,    binding.source,     binding.instance, binding.user_agent};
}

Binding BindingView::owned() const {
  return Binding{std::string(contact),
                 expires_at,
                 q_millis,
                 std::string(call_id),
                 cseq,
                 std::string(source),
                 std::string(instance),
                 std::string(user_agent)};
}

void PackedRecordDeleter::operator()(PackedRecord* record) const {
  const size_t bytes = record->allocated_bytes();
  record->~PackedRecord();
  pool->release(record, bytes);
}

std::string_view PackedRecord::aor() const {
  const unsigned char* at = payload();
  return read_text(at);
}

const unsigned char* PackedRecord::fixed_fields() const {
  const unsigned char* at = payload();
  const size_t aor_size = read_varint(at);
  return at + aor_size;
}

int64_t PackedRecord::expires_at(uint32_t position) const {
  return read_at<int64_t>(fixed_fields() + position * kFixedSize);
}

size_t PackedRecord::allocated_bytes() const {
  const unsigned char* at = fixed_fields() + count_ * kFixedSize;
  for (uint32_t text = 0; text < count_ * 5; ++text) read_text(at);
  return sizeof(PackedRecord) + static_cast<size_t>(at - payload());
}

bool PackedRecord::any_expired(int64_t now) const {
  const unsigned char* fixed = fixed_fields();
  for (uint32_t i = 0; i < count_; ++i)
    if (read_at<int64_t>(fixed + i * kFixedSize) <= now) return true;
  return false;
}

bool PackedRecord::any_unexpired(int64_t now) const {
  const unsigned char* fixed = fixed_fields();
  for (uint32_t i = 0; i < count_; ++i)
    if (read_at<int64_t>(fixed + i * kFixedSize) > now) return true;
  return false;
}

template <class Keep>
BindingList PackedRecord::unpack_if(Keep keep) const {
  BindingList bindings;
  bindings.reserve(count_);
  const unsigned char* fixed = fixed_fields();
  const unsigned char* texts = fixed + count_ * kFixedSize;
  for (uint32_t i = 0; i < count_; ++i, fixed += kFixedSize) {
    const int64_t expires_at = read_at<int64_t>(fixed);
    if (!keep(expires_at)) {
      for (int skipped = 0; skipped < 5; ++skipped) read_text(texts);
      continue;
    }
    Binding& binding = bindings.emplace_back();
    binding.expires_at = expires_at;
    binding.cseq = read_at<uint32_t>(fixed + kCseqAt);
    binding.q_millis = read_at<uint16_t>(fixed + kQAt);
    binding.contact = read_text(texts);
    binding.call_id = read_text(texts);
    binding.source = read_text(texts);
    binding.instance = read_text(texts);
    binding.user_agent = read_text(texts);
  }
  return bindings;
}

BindingList PackedRecord::unpack() const {
  return unpack_if([](int64_t) { return true; });
}

BindingList PackedRecord::unpack_unexpired(int64_t now) const {
  return unpack_if([now](int64_t expires_at) { return expires_at > now; });
}

std::string_view RecordBuilder::Row::contact(const std::string& texts) const {
  const unsigned char* at = reinterpret_cast<const unsigned char*>(texts.data()) + texts_offset;
  return read_text(at);
}

void RecordBuilder::clear() {
  rows_.clear();
  texts_.clear();
}

void RecordBuilder::add(const BindingView& binding) {
  try {
    add_row(binding);
  } catch (...) {
    // The builder is reused: rows of a failed record must not end up in the next AOR's.
    clear();
    throw;
  }
}

void RecordBuilder::add_row(const BindingView& binding) {
  const size_t offset = texts_.size();
  append_text(texts_, binding.contact);
  append_text(texts_, binding.call_id);
  append_text(texts_, binding.source);
  append_text(texts_, binding.instance);
  append_text(texts_, binding.user_agent);
  if (texts_.size() > UINT32_MAX) throw std::length_error("an AOR's bindings exceed 4 GiB of text");
  rows_.push_back(Row{binding.expires_at, binding.cseq, binding.q_millis, static_cast<uint32_t>(offset),
                      static_cast<uint32_t>(texts_.size() - offset)});
}

void RecordBuilder::add(const BindingList& bindings) {
  for (const Binding& binding : bindings) add(BindingView::of(binding));
}

PackedRecordPtr RecordBuilder::finish(std::string_view aor, uint64_t version, RecordPool& pool) {
  // sort_for_lookup's order (homesip/binding_list.hpp), on the rows: rows
  // read from the file come in contact order, a stored list already sorted.
  std::sort(rows_.begin(), rows_.end(), [this](const Row& a, const Row& b) {
    if (a.q_millis != b.q_millis) return a.q_millis > b.q_millis;
    if (a.expires_at != b.expires_at) return a.expires_at > b.expires_at;
    return a.contact(texts_) < b.contact(texts_);
  });
  const size_t payload_size =
      varint_size(aor.size()) + aor.size() + rows_.size() * kFixedSize + texts_.size();
  void* memory = nullptr;
  try {
    memory = pool.allocate(sizeof(PackedRecord) + payload_size);
  } catch (...) {
    clear();  // as in add(): nothing of this AOR stays for the next one
    throw;
  }
  auto* record = new (memory)
      PackedRecord(std::hash<std::string_view>{}(aor), version, static_cast<uint32_t>(rows_.size()));
  PackedRecordPtr owned(record, PackedRecordDeleter{&pool});
  unsigned char* at = reinterpret_cast<unsigned char*>(record + 1);
  at = write_varint(at, aor.size());
  at = std::copy(aor.begin(), aor.end(), at);
  for (const Row& row : rows_) {
    at = write_at(at, row.expires_at);
    at = write_at(at, row.cseq);
    at = write_at(at, row.q_millis);
  }
  for (const Row& row : rows_) at = std::copy_n(texts_.data() + row.texts_offset, row.texts_size, at);
  clear();
  return owned;
}

}  // namespace homesip::location_sqlite
