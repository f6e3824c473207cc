#include "record_pool.hpp"

#include <new>
#include <utility>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
// A released slot and a block's uncarved rest are poisoned, so AddressSanitizer
// still reports a record used after the index released it.
#define HOMESIP_POISON(at, bytes) ASAN_POISON_MEMORY_REGION(at, bytes)
#define HOMESIP_UNPOISON(at, bytes) ASAN_UNPOISON_MEMORY_REGION(at, bytes)
#else
#define HOMESIP_POISON(at, bytes) ((void)(at), (void)(bytes))
#define HOMESIP_UNPOISON(at, bytes) ((void)(at), (void)(bytes))
#endif

namespace homesip::location_sqlite {

RecordPool::RecordPool(RecordPool&& other) noexcept
    : free_slots_(std::exchange(other.free_slots_, {})),
      blocks_(std::move(other.blocks_)),
      unused_(std::exchange(other.unused_, nullptr)),
      unused_bytes_(std::exchange(other.unused_bytes_, 0)) {
  other.blocks_.clear();
}

RecordPool::~RecordPool() {
  for (const auto& block : blocks_) HOMESIP_UNPOISON(block.get(), kBlockBytes);
}

void* RecordPool::allocate(size_t bytes) {
  if (bytes > kLargestPooled) return ::operator new(bytes);
  const size_t size_class = class_of(bytes);
  FreeSlot* slot = free_slots_[size_class];
  if (!slot) return carve(size_class * kGranule);
  HOMESIP_UNPOISON(slot, size_class * kGranule);
  free_slots_[size_class] = slot->next;
  return slot;
}

void RecordPool::release(void* memory, size_t bytes) noexcept {
  if (bytes > kLargestPooled) {
    ::operator delete(memory);
    return;
  }
  const size_t size_class = class_of(bytes);
  auto* slot = static_cast<FreeSlot*>(memory);
  slot->next = free_slots_[size_class];
  free_slots_[size_class] = slot;
  HOMESIP_POISON(slot, size_class * kGranule);
}

void* RecordPool::carve(size_t slot_bytes) {
  if (unused_bytes_ < slot_bytes) {
    // The old block's rest (under 2 KiB of 1 MiB) stays unused.
    blocks_.push_back(std::make_unique_for_overwrite<std::byte[]>(kBlockBytes));
    unused_ = blocks_.back().get();
    unused_bytes_ = kBlockBytes;
    HOMESIP_POISON(unused_, unused_bytes_);
  }
  void* slot = unused_;
  HOMESIP_UNPOISON(slot, slot_bytes);
  unused_ += slot_bytes;
  unused_bytes_ -= slot_bytes;
  return slot;
}

}  // namespace homesip::location_sqlite
