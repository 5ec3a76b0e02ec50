#include "skew/https_redirect.h"

#include "skew/redirect_target.h"

namespace sg::skew {

Answer https_redirect_answer(const routing::RequestView& request) {
  // parse_authority is the Host grammar the request checks already enforce:
  // no userinfo, spaces, slashes or anything that could end the URL early.
  const auto authority = routing::parse_authority(request.header("host"));
  if (!authority || authority->host.empty()) {
    Answer answer;
    answer.status = 400;
    answer.headers = {{"content-type", "application/json"}, {"cache-control", "no-store"}};
    answer.body = R"({"error":"https_required","message":"this listener serves https only; the request has no Host"})";
    return answer;
  }
  std::string location = "https://";
  for (const char c : authority->host) location += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  location += same_origin_target(request.target);
  Answer answer;
  answer.status = 308;
  answer.headers = {{"location", std::move(location)}, {"cache-control", "no-store"}};
  return answer;
}

}  // namespace sg::skew
