// Fuzzes the Kubernetes watch-event decoder (common/kube/watch_event.h): the input is one line
// of a watch stream, as the Reflector hands it over, and also an API error body (parseStatus).
// Properties: a decoded event has the key and resource version its object says, and a
// non-error, non-bookmark event always has a key.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "common/kube/watch_event.h"

namespace {

void check(bool ok, const char* what) {
  if (ok) return;
  fprintf(stderr, "property violated: %s\n", what);
  abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using ambit::kube::WatchEvent;
  std::string_view line(reinterpret_cast<const char*>(data), size);
  (void)ambit::kube::parseStatus(line);
  auto event = ambit::kube::decodeWatchEvent(line);
  if (!event) return 0;
  if (event->type == WatchEvent::Type::kError) {
    // The Reflector turns an ERROR event's object back into a Status.
    (void)ambit::kube::parseStatus(event->object.dump());
    return 0;
  }
  check(event->resource_version == ambit::kube::resourceVersionOf(event->object),
        "resource_version is the object's");
  if (event->type != WatchEvent::Type::kBookmark) {
    check(!event->key.empty(), "an object event has a key");
    check(event->key == ambit::kube::objectKey(event->object), "key is the object's");
  }
  return 0;
}
