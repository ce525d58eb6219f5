#include "common/discovery/service_membership.h"

#include <algorithm>
#include <iterator>

#include "common/discovery/resource_store.h"

namespace ambit::discovery {

ResourceUpsert meshUpsert(config::MeshType type, std::string name,
                          const google::protobuf::Message& message) {
  ResourceUpsert upsert{std::move(name), packResource(message), std::nullopt};
  if (type != config::MeshType::kService) return upsert;
  const auto& service = static_cast<const v1::Service&>(message);
  if (service.endpoints().empty()) return upsert;
  v1::Service lean = service;
  lean.clear_endpoints();
  upsert.lean = packResource(lean);
  return upsert;
}

void ServiceMembership::workloadChanged(const v1::Workload* before, const v1::Workload* after,
                                        std::vector<std::string>& touched) {
  // A uid can change only with the resource name (the uid is the name); compare lists.
  std::vector<std::string> old_list, new_list;
  if (before) old_list.assign(before->services().begin(), before->services().end());
  if (after) new_list.assign(after->services().begin(), after->services().end());
  std::sort(old_list.begin(), old_list.end());
  std::sort(new_list.begin(), new_list.end());
  const bool same_uid = before && after && before->uid() == after->uid();
  for (const auto& name : old_list) {
    if (same_uid && std::binary_search(new_list.begin(), new_list.end(), name)) continue;
    auto it = members_.find(name);
    if (it == members_.end()) continue;
    it->second.erase(before->uid());
    if (it->second.empty()) members_.erase(it);
    touched.push_back(name);
  }
  for (const auto& name : new_list) {
    if (same_uid && std::binary_search(old_list.begin(), old_list.end(), name)) continue;
    members_[name].insert(after->uid());
    touched.push_back(name);
  }
}

void ServiceMembership::fill(v1::Service& service) const {
  auto it = members_.find(config::resourceName(service));
  if (it == members_.end()) return;
  std::set<std::string> all(it->second);
  all.insert(service.endpoints().begin(), service.endpoints().end());
  service.clear_endpoints();
  service.mutable_endpoints()->Reserve(static_cast<int>(all.size()));
  for (const auto& uid : all) service.add_endpoints(uid);
}

bool ServiceMembership::matches(const v1::Service& service) const {
  auto it = members_.find(config::resourceName(service));
  std::set<std::string> own(service.endpoints().begin(), service.endpoints().end());
  if (static_cast<int>(own.size()) != service.endpoints_size()) return false;  // duplicates
  return it == members_.end() ? own.empty() : own == it->second;
}

}  // namespace ambit::discovery
