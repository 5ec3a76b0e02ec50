// Message heads kept for reuse by one loop: every request and every response
// needs a head and its field list, two allocations each, four per proxied
// exchange (about 900 of a keep-alive request's 14,600 instructions went to
// those and their frees). A head given back is reset to its defaults with
// its field list's capacity kept, so the next message on this loop parses
// into it without calling malloc. Bounded: at most kMaxKept heads of each
// kind, and none whose field list grew past kMaxFields. Loop-thread only.
#pragma once

#include <cstddef>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "gateway/http/http_head.h"

namespace sg::gateway {

class HeadPool {
 public:
  static constexpr std::size_t kMaxKept = 64;
  // A browser sends 12-20 fields; a head with more is rare and not kept.
  static constexpr std::size_t kMaxFields = 64;
  // What a new head reserves: one allocation for a typical head instead of a
  // vector growing field by field.
  static constexpr std::size_t kTypicalFields = 16;

  HeadPool() {
    requests_.reserve(kMaxKept);
    responses_.reserve(kMaxKept);
  }
  HeadPool(const HeadPool&) = delete;
  HeadPool& operator=(const HeadPool&) = delete;

  std::unique_ptr<RequestHead> request() { return take_from(requests_); }
  std::unique_ptr<ResponseHead> response() { return take_from(responses_); }
  template <typename Head>
  std::unique_ptr<Head> take() {
    if constexpr (std::is_same_v<Head, RequestHead>) {
      return request();
    } else {
      return response();
    }
  }

  // A new head with room for a typical one's fields: what a parser without
  // a pool allocates.
  template <typename Head>
  static std::unique_ptr<Head> fresh() {
    auto head = std::make_unique<Head>();
    head->headers.reserve(kTypicalFields);
    return head;
  }

  // Either may be null (nothing to keep).
  void give(std::unique_ptr<RequestHead> head) { keep(requests_, std::move(head)); }
  void give(std::unique_ptr<ResponseHead> head) { keep(responses_, std::move(head)); }

  std::size_t kept() const { return requests_.size() + responses_.size(); }
  // Frees every kept head (a quiet loop, before its heap is trimmed).
  void shed() {
    requests_.clear();
    responses_.clear();
  }

 private:
  template <typename Head>
  static std::unique_ptr<Head> take_from(std::vector<std::unique_ptr<Head>>& kept) {
    if (kept.empty()) return fresh<Head>();
    std::unique_ptr<Head> head = std::move(kept.back());
    kept.pop_back();
    return head;
  }

  template <typename Head>
  static void keep(std::vector<std::unique_ptr<Head>>& kept, std::unique_ptr<Head> head) {
    if (!head || kept.size() >= kMaxKept || head->headers.capacity() > kMaxFields) return;
    // Every member back to its default (a member added later included), the
    // field list's storage kept: its fields (and their strings) are freed.
    std::vector<HeaderField> fields = std::move(head->headers);
    fields.clear();
    *head = Head{};
    head->headers = std::move(fields);
    kept.push_back(std::move(head));
  }

  std::vector<std::unique_ptr<RequestHead>> requests_;
  std::vector<std::unique_ptr<ResponseHead>> responses_;
};

}  // namespace sg::gateway
