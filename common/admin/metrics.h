#pragma once
// Prometheus metrics: a prometheus-cpp registry per process, served in the text exposition
// format (0.0.4) by the admin server. We use prometheus-cpp's core (families, labels,
// serializer) and serve it ourselves instead of its civetweb exposer, so metrics share the
// admin server's port and thread.

#include <prometheus/registry.h>

#include <memory>

#include "common/admin/admin_server.h"

namespace ambit::admin {

// Renders every family of the registry in Prometheus text format.
std::string renderMetrics(const prometheus::Registry& registry);

// A /metrics handler for the registry (which must outlive the handler).
Handler metricsHandler(std::shared_ptr<prometheus::Registry> registry);

}  // namespace ambit::admin
