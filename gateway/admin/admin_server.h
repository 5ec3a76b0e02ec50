// The admin listener's HTTP plumbing (design.md section 11), on the main
// loop and never on a proxy listener: one request per connection, a bounded
// body, an answer, close. What a request means is AdminApi's business.
#pragma once

#include <uv.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/address.h"
#include "gateway/http1/http_head.h"
#include "gateway/net/stream_io.h"
#include "routing/request_view.h"

namespace sg::gateway {

struct AdminRequest {
  std::string method;
  std::string path;   // without the query
  std::string query;
  std::vector<routing::HeaderField> headers;
  std::string body;
  std::string_view header(std::string_view name) const;
  // The parsed head's method, path, query and headers (the body follows).
  static AdminRequest from_head(RequestHead&& head);
};

struct AdminResponse {
  int status = 200;
  std::string body;  // JSON unless content_type says otherwise
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  // extra fields (Retry-After)
};

class AdminServer {
 public:
  // The answer goes to the callback, at once or later on the loop (an
  // operation that probes a build first); dropped if the connection closed.
  using Reply = std::function<void(AdminResponse)>;
  using Handler = std::function<void(const AdminRequest&, Reply)>;
  static constexpr std::size_t kMaxBodyBytes = 1024 * 1024;

  AdminServer(uv_loop_t* loop, Handler handler);
  ~AdminServer();
  bool listen(const conf::SocketAddress& address, std::string& error);
  // A listening socket handed over by a predecessor.
  bool adopt(int fd, const std::string& name, bool is_unix, std::string& error);
  // A duplicate of the listening socket, for a successor (-1 when closed).
  int dup_fd() const;
  bool is_unix() const { return is_unix_; }
  std::string address() const { return bound_; }
  // Stops accepting; requests already accepted are still answered (after a
  // hand-over the successor accepts from the same socket).
  void stop_accepting();
  // Stops accepting and closes open admin connections.
  void close();

  // For AdminConnection.
  const Handler& handler() const { return handler_; }
  void forget(class AdminConnection* connection);

 private:
  static void on_connection(uv_stream_t* server, int status);

  uv_loop_t* loop_;
  Handler handler_;
  StreamHandle listener_;
  bool listening_ = false;
  bool is_unix_ = false;
  bool closed_ = false;
  std::string bound_;
  std::vector<class AdminConnection*> connections_;
};

}  // namespace sg::gateway
