// The memory of the index's packed records: size classes of 16 bytes carved
// from 1 MiB blocks, a free list per class. A record released goes on its
// class's list and the next record of that size takes it, in constant time.
//
// Why not malloc: glibc's free() puts a chunk of a record's size (past its
// per-thread cache of 7) on the "unsorted" list, and the next malloc that its
// caches cannot serve sorts up to 10 000 of those chunks, a cache miss or two
// each. A sweep pass over a million AORs frees hundreds of thousands of
// records and allocates almost nothing, so thousands of slices' frees piled
// up and one small malloc, in whichever slice first missed its cache, paid
// for all of them: 5 to 21 ms of CPU in one slice (perf: _int_malloc's
// unsorted loop under PackedRecord::unpack). jemalloc, which homesipd links,
// has no such list; the pool keeps a slice's cost its own whatever the
// allocator.
//
// What it costs: memory a class's free list holds serves only that class
// (SIP phones of one deployment give records of a few sizes), and blocks go
// back to the system only with the pool. The index's peak stays reserved as
// glibc's heap kept it; a record has no malloc header (8 bytes less each).
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <vector>

namespace homesip::location_sqlite {

class RecordPool {
 public:
  static constexpr size_t kGranule = 16;
  // Records larger than this (AORs with many bindings) come from operator new.
  static constexpr size_t kLargestPooled = 2048;
  static constexpr size_t kBlockBytes = size_t{1} << 20;

  RecordPool() = default;
  // The moved-from pool is empty: its lists must not hand out the other's memory.
  RecordPool(RecordPool&& other) noexcept;
  RecordPool& operator=(RecordPool&&) = delete;
  ~RecordPool();

  // `bytes` of memory aligned to 16; throws std::bad_alloc.
  void* allocate(size_t bytes);
  // Gives back what allocate(bytes) returned, with the same `bytes`.
  void release(void* memory, size_t bytes) noexcept;

  // 1 MiB blocks taken from the system so far (tests, the bench).
  size_t block_count() const { return blocks_.size(); }

 private:
  struct FreeSlot {
    FreeSlot* next;
  };
  static size_t class_of(size_t bytes) { return (bytes + kGranule - 1) / kGranule; }
  void* carve(size_t slot_bytes);

  std::array<FreeSlot*, kLargestPooled / kGranule + 1> free_slots_{};
  std::vector<std::unique_ptr<std::byte[]>> blocks_;
  std::byte* unused_ = nullptr;  // the newest block's part not carved yet
  size_t unused_bytes_ = 0;
};

}  // namespace homesip::location_sqlite
