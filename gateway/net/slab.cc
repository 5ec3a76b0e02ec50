#include "gateway/net/slab.h"

#include <sys/mman.h>

#include <cstdlib>
#include <new>

namespace sg::gateway {

// At the start of its page; a block finds its page by masking its address.
struct Slab::Page {
  Page* prev = nullptr;
  Page* next = nullptr;
  FreeBlock* free = nullptr;  // given-back blocks
  std::size_t fresh = 0;      // blocks never handed out start at this index
  std::size_t live = 0;       // blocks handed out and not given back
  bool listed = false;        // in partial_
};

namespace {

constexpr std::size_t kHeader = (sizeof(void*) * 3 + sizeof(std::size_t) * 2 + 8 + 15) / 16 * 16;

char* first_block(void* page) { return static_cast<char*>(page) + kHeader; }

// A page-aligned run of kPageSize bytes straight from the kernel: twice the
// size is mapped and the unaligned ends unmapped. Not std::aligned_alloc:
// glibc's memalign writes chunk headers on the 4 KiB page before each
// aligned block and at the start of its mapping, two more resident pages
// per 64 KiB page (measured: 526 B per idle connection with it, against 492
// without the slab).
void* map_page(std::size_t size) {
  void* raw = mmap(nullptr, size * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const auto start = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t aligned = (start + size - 1) & ~(size - 1);
  if (aligned > start) munmap(raw, aligned - start);
  const std::uintptr_t end = start + size * 2;
  if (end > aligned + size) munmap(reinterpret_cast<void*>(aligned + size), end - aligned - size);
  return reinterpret_cast<void*>(aligned);
}

void unmap_page(void* page, std::size_t size) { munmap(page, size); }

}  // namespace

Slab::Slab(std::size_t size)
    : size_((size < sizeof(FreeBlock) ? sizeof(FreeBlock) : size + 7) / 8 * 8),
      per_page_((kPageSize - kHeader) / size_) {
  static_assert(sizeof(Page) <= kHeader);
  if (per_page_ == 0) std::abort();  // an object larger than a page is not for a slab
}

Slab::~Slab() {
  if (spare_ != nullptr) unmap_page(spare_, kPageSize);
  // Pages still holding blocks are a bug of the owner; they stay allocated
  // rather than be freed under live objects.
}

Slab::Page* Slab::new_page() {
  if (spare_ != nullptr) {
    Page* page = spare_;
    spare_ = nullptr;
    return page;
  }
  void* memory = map_page(kPageSize);
  if (memory == nullptr) throw std::bad_alloc();
  ++pages_;
  return new (memory) Page;
}

void Slab::unlink(Page* page) {
  (page->prev ? page->prev->next : partial_) = page->next;
  if (page->next) page->next->prev = page->prev;
  page->prev = page->next = nullptr;
  page->listed = false;
}

void Slab::push_front(Page* page) {
  page->prev = nullptr;
  page->next = partial_;
  if (partial_) partial_->prev = page;
  partial_ = page;
  page->listed = true;
}

void* Slab::take() {
  if (partial_ == nullptr) push_front(new_page());
  Page* page = partial_;
  void* block;
  if (page->free != nullptr) {
    block = page->free;
    page->free = page->free->next;
  } else {
    block = first_block(page) + page->fresh * size_;
    ++page->fresh;
  }
  ++page->live;
  ++taken_;
  if (page->free == nullptr && page->fresh == per_page_) unlink(page);
  return block;
}

void Slab::give(void* block) {
  auto* page = reinterpret_cast<Page*>(reinterpret_cast<std::uintptr_t>(block) & ~(kPageSize - 1));
  auto* b = static_cast<FreeBlock*>(block);
  b->next = page->free;
  page->free = b;
  --page->live;
  --taken_;
  if (page->live == 0) {
    // Empty: kept as the spare (reset, so its blocks are handed out in
    // order again), or back to the heap when there is one already.
    if (page->listed) unlink(page);
    if (spare_ == nullptr) {
      page->free = nullptr;
      page->fresh = 0;
      spare_ = page;
    } else {
      page->~Page();
      unmap_page(page, kPageSize);
      --pages_;
    }
    return;
  }
  if (!page->listed) push_front(page);
}

Slabs::~Slabs() {
  for (Slab* s : slabs_) delete s;
}

Slab& Slabs::of(std::size_t size) {
  const std::size_t rounded = (size + 7) / 8 * 8;
  for (Slab*& s : slabs_) {
    if (s == nullptr) {
      s = new Slab(size);
      return *s;
    }
    if (s->block_size() == rounded) return *s;
  }
  std::abort();  // more object sizes than a loop's connections have
}

std::size_t Slabs::pages() const {
  std::size_t n = 0;
  for (const Slab* s : slabs_)
    if (s) n += s->pages();
  return n;
}

}  // namespace sg::gateway
