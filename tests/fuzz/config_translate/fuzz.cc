// Fuzzes configuration translation (common/config/loader.h): the input is one YAML file of
// Kubernetes-shaped documents (any number, '---' separated), translated into a MeshSnapshot the
// way the agent, ztunnel, waypoint and `ambitctl config validate` do. Every problem must come
// back as an error naming the file; input that translates must translate to the same snapshot
// again (the snapshot's version is a content hash that hot reload compares).
#include <google/protobuf/util/message_differencer.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/config/loader.h"
#include "common/log.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ambit::initLogging("fuzz", "off");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ambit::config;
  std::vector<SourceDocument> files{
      {"fuzz.yaml", std::string(reinterpret_cast<const char*>(data), size)}};
  LoadResult first = translate(files);
  for (const auto& e : first.errors) (void)e.toString();
  if (!first.ok()) return 0;
  LoadResult second = translate(files);
  if (!second.ok() ||
      !google::protobuf::util::MessageDifferencer::Equals(first.snapshot, second.snapshot)) {
    fprintf(stderr, "translation is not deterministic\n");
    abort();
  }
  return 0;
}
