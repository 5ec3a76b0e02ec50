// Issue 19: the slab that holds every open connection's transport and codec
// (gateway/net/slab.h): blocks are distinct, aligned and inside a page;
// given-back blocks are reused; a page goes back to the heap when its last
// block does (one empty page kept); an object exactly fills its block.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <set>
#include <vector>

#include "gateway/net/slab.h"

using sg::gateway::Slab;
using sg::gateway::Slabs;

TEST_CASE("slab: distinct 8-aligned blocks, reused after give, pages freed when empty") {
  Slab slab(300);  // rounded to 304
  CHECK(slab.block_size() == 304);
  const std::size_t per_page = (Slab::kPageSize - 64) / 304;  // at least this many per page
  std::vector<void*> blocks;
  std::set<std::uintptr_t> seen;
  for (std::size_t i = 0; i < per_page * 3 + 5; ++i) {
    void* b = slab.take();
    const auto at = reinterpret_cast<std::uintptr_t>(b);
    CHECK(at % 8 == 0);
    CHECK(seen.insert(at).second);
    std::memset(b, 0xab, 304);  // the whole block is ours (ASan checks the page)
    blocks.push_back(b);
  }
  // Blocks do not overlap: sorted, each starts at least a block after the last.
  std::uintptr_t last = 0;
  for (std::uintptr_t at : seen) {
    if (last != 0) CHECK(at - last >= 304);
    last = at;
  }
  CHECK(slab.pages() == 4);
  CHECK(slab.blocks_taken() == blocks.size());

  // A block given back is the next one handed out.
  void* middle = blocks[per_page + 1];
  slab.give(middle);
  CHECK(slab.take() == middle);

  // Give everything back: empty pages go, one stays as the spare.
  for (void* b : blocks) slab.give(b);
  CHECK(slab.blocks_taken() == 0);
  CHECK(slab.pages() == 1);
  // The spare serves the next take, from its first block again.
  void* again = slab.take();
  CHECK(slab.pages() == 1);
  slab.give(again);
}

TEST_CASE("slab: one slab per object size in a loop's Slabs") {
  Slabs slabs;
  Slab& a = slabs.of(136);
  Slab& b = slabs.of(312);
  CHECK(&slabs.of(136) == &a);
  CHECK(&slabs.of(133) == &a);  // rounded to 8 the same
  CHECK(&a != &b);
  void* x = a.take();
  void* y = b.take();
  CHECK(slabs.pages() == 2);
  a.give(x);
  b.give(y);
}
