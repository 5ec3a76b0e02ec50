// server-reference-manifest.json -> action IDs.
//
// The file is read through a SAX handler that keeps only the keys of the
// top-level `node` and `edge` objects: every other string in the file (the
// build's `encryptionKey` among them) is seen once by the parser and never
// copied into anything that outlives this function. Error messages are built
// from positions and structure only, never from the file's text: nlohmann's
// own parse messages quote the last token read, so they are not used.
#include "conf/manifest.h"

#include "conf/read_file.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

namespace sg::conf {
namespace {

// Wipes the raw file text before it is freed, so the key does not linger in
// freed heap memory any longer than it must.
void wipe(std::string& text) {
  volatile char* p = text.data();
  for (std::size_t i = 0; i < text.size(); ++i) p[i] = 0;
}

class ActionIdCollector : public nlohmann::json_sax<nlohmann::json> {
 public:
  std::vector<std::string> ids;
  std::string problem;  // structural or syntax problem, no file content
  bool saw_node = false;
  bool saw_edge = false;

  bool null() override { return value("null"); }
  bool boolean(bool) override { return value("a boolean"); }
  bool number_integer(number_integer_t) override { return value("a number"); }
  bool number_unsigned(number_unsigned_t) override { return value("a number"); }
  bool number_float(number_float_t, const string_t&) override { return value("a number"); }
  bool string(string_t&) override { return value("a string"); }
  bool binary(binary_t&) override { return value("binary data"); }

  bool start_object(std::size_t) override {
    if (!enter("an object")) return false;
    stack_.push_back(Frame::object);
    // An object that is the value of top-level `node` or `edge`: its keys are action IDs.
    if (depth() == 2 && (top_key_ == "node" || top_key_ == "edge")) collecting_ = true;
    return true;
  }

  bool key(string_t& name) override {
    if (depth() == 1) {
      top_key_ = name == "node" || name == "edge" ? name : std::string();
      if (name == "node") saw_node = true;
      if (name == "edge") saw_edge = true;
    } else if (depth() == 2 && collecting_) {
      ids.push_back(name);
    }
    return true;
  }

  bool end_object() override {
    if (depth() == 2) collecting_ = false;
    stack_.pop_back();
    return true;
  }

  bool start_array(std::size_t) override {
    if (!enter("a list")) return false;
    stack_.push_back(Frame::array);
    return true;
  }

  bool end_array() override {
    stack_.pop_back();
    return true;
  }

  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception&) override {
    // The token and nlohmann's message may quote file content: keep the position only.
    problem = "invalid JSON at byte " + std::to_string(position);
    return false;
  }

 private:
  enum class Frame { object, array };

  std::size_t depth() const { return stack_.size(); }

  // A scalar value: only wrong where node/edge or the root are expected.
  bool value(const char* what) { return enter(what); }

  // Checks that a value of kind `what` may appear here.
  bool enter(const char* what) {
    if (depth() == 0 && std::strcmp(what, "an object") != 0) {
      problem = std::string("expected a JSON object, got ") + what;
      return false;
    }
    if (depth() == 1 && !top_key_.empty() && std::strcmp(what, "an object") != 0) {
      problem = "`" + top_key_ + "` must be an object of action IDs, got " + what;
      return false;
    }
    return true;
  }

  std::vector<Frame> stack_;
  std::string top_key_;  // "node", "edge" or "" for the current top-level key
  bool collecting_ = false;
};

// The refusal for a file that is not a small regular file, or "".
std::string file_problem(const std::string& path, const RegularFile& file, std::uint64_t max_bytes) {
  if (file.error != 0) return "cannot read manifest " + path + ": " + std::strerror(file.error);
  if (file.not_regular != nullptr) return "manifest " + path + " is not a regular file (it is " + file.not_regular + ")";
  if (file.too_large)
    return "manifest " + path + " is " + std::to_string(file.identity.size) +
           " bytes, larger than actions.manifest_max_bytes (" + std::to_string(max_bytes) + " bytes)";
  return "";
}

}  // namespace

ManifestRead read_action_manifest(const std::string& path, std::uint64_t max_bytes) {
  ManifestRead result;
  std::string text;
  const RegularFile file = read_regular_file(path, max_bytes, text);
  if (!file.ok()) {
    wipe(text);
    result.error = file_problem(path, file, max_bytes);
    return result;
  }

  const std::string not_manifest = "manifest " + path + " is not a server-reference-manifest.json: ";
  ActionIdCollector collector;
  bool parsed = false;
  try {
    parsed = nlohmann::json::sax_parse(text, &collector);
  } catch (const std::exception&) {
    // sax_parse reports through the handler; anything else is still not a manifest.
    if (collector.problem.empty()) collector.problem = "unreadable JSON";
  }
  wipe(text);
  if (text.empty()) {
    result.error = not_manifest + "the file is empty";
  } else if (!parsed || !collector.problem.empty()) {
    result.error = not_manifest + (collector.problem.empty() ? "invalid JSON" : collector.problem);
  } else if (!collector.saw_node && !collector.saw_edge) {
    result.error = not_manifest + "expected `node` and `edge` objects of action IDs";
  }
  if (!result.error.empty()) return result;

  result.action_ids = std::move(collector.ids);
  std::sort(result.action_ids.begin(), result.action_ids.end());
  result.action_ids.erase(std::unique(result.action_ids.begin(), result.action_ids.end()), result.action_ids.end());
  return result;
}

ManifestRead ManifestCache::read(const std::string& path, std::uint64_t max_bytes) {
  const RegularFile now = stat_regular_file(path, max_bytes);
  if (!now.ok()) {
    entries_.erase(path);
    return {{}, file_problem(path, now, max_bytes)};
  }
  auto it = entries_.find(path);
  if (it != entries_.end() && it->second.identity == now.identity && it->second.max_bytes == max_bytes)
    return it->second.result;
  ++reads_;
  ManifestRead result = read_action_manifest(path, max_bytes);
  // The identity of what was read: the file may have changed since the
  // stat; then the next call reads it again.
  const RegularFile after = stat_regular_file(path, max_bytes);
  if (after.ok() && after.identity == now.identity)
    entries_[path] = Entry{now.identity, max_bytes, result};
  else
    entries_.erase(path);
  return result;
}

void ManifestCache::keep_only(const std::set<std::string>& used) {
  std::erase_if(entries_, [&used](const auto& entry) { return used.count(entry.first) == 0; });
}

}  // namespace sg::conf
