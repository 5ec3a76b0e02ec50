#include "gateway/net/stream_io.h"

#include <cstring>
#include <new>
#include <string>


namespace sg::gateway {
namespace {

struct WriteRequest {
  uv_write_t req;
  WriteObserver* observer;
  std::string data;
};

void on_written(uv_write_t* req, int status) {
  auto* w = static_cast<WriteRequest*>(req->data);
  WriteObserver* observer = w->observer;
  delete w;
  if (observer) observer->on_write_done(status);
}

int queue_copy(uv_stream_t* stream, const uv_buf_t* bufs, unsigned count, std::size_t skip, WriteObserver* observer) {
  auto* w = new WriteRequest;
  w->req.data = w;
  w->observer = observer;
  std::size_t total = 0;
  for (unsigned i = 0; i < count; ++i) total += bufs[i].len;
  w->data.reserve(total - skip);
  for (unsigned i = 0; i < count; ++i) {
    std::size_t len = bufs[i].len;
    const char* base = bufs[i].base;
    if (skip >= len) {
      skip -= len;
      continue;
    }
    w->data.append(base + skip, len - skip);
    skip = 0;
  }
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  const int rc = uv_write(&w->req, stream, &buf, 1, on_written);
  if (rc < 0) delete w;
  return rc;
}

int write_bufs(uv_stream_t* stream, uv_buf_t* bufs, unsigned count, WriteObserver* observer) {
  std::size_t total = 0;
  for (unsigned i = 0; i < count; ++i) total += bufs[i].len;
  if (total == 0) return 0;
  std::size_t written = 0;
  if (uv_stream_get_write_queue_size(stream) == 0) {
    const int rc = uv_try_write(stream, bufs, count);
    if (rc >= 0) {
      written = static_cast<std::size_t>(rc);
    } else if (rc != UV_EAGAIN && rc != UV_ENOSYS) {
      return rc;
    }
  }
  if (written == total) return 0;
  return queue_copy(stream, bufs, count, written, observer);
}

}  // namespace

int write_stream(uv_stream_t* stream, std::string_view data, WriteObserver* observer) {
  uv_buf_t buf = uv_buf_init(const_cast<char*>(data.data()), static_cast<unsigned>(data.size()));
  return write_bufs(stream, &buf, 1, observer);
}

int write_stream2(uv_stream_t* stream, std::string_view first, std::string_view second, WriteObserver* observer) {
  uv_buf_t bufs[2] = {uv_buf_init(const_cast<char*>(first.data()), static_cast<unsigned>(first.size())),
                      uv_buf_init(const_cast<char*>(second.data()), static_cast<unsigned>(second.size()))};
  // One buffer is a write(2), not a writev(2) with an empty second vector
  // (libuv picks by count): a request without a body is the common case.
  return write_bufs(stream, bufs, second.empty() ? 1 : 2, observer);
}

void alloc_loop_buffer(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
  const auto* shared = static_cast<const LoopShared*>(handle->loop->data);
  *buf = uv_buf_init(shared->read_buffer, static_cast<unsigned>(shared->read_size));
}

}  // namespace sg::gateway
