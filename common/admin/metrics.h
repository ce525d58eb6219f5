#pragma once
// Prometheus metrics: a prometheus-cpp registry per process, served in the text exposition
// format (0.0.4) by the admin server. We use prometheus-cpp's core (families, labels,
// serializer) and serve it ourselves instead of its civetweb exposer, so metrics share the
// admin server's port and thread.

#include <prometheus/registry.h>

#include <functional>
#include <memory>
#include <string>

#include "common/admin/admin_server.h"

namespace ambit::admin {

// Process-wide: from now on every exposition rendered here (renderMetrics, metricsHandler) also
// carries the process_* families and istio_build{component=<component>} (process_metrics.h).
// Each daemon's main calls it once, before its admin servers start; a later call replaces the
// component name. Thread-safe.
void exposeProcessMetrics(const std::string& component);

// Renders every family of the registry in Prometheus text format, plus the process families
// once exposeProcessMetrics() was called.
std::string renderMetrics(const prometheus::Registry& registry);

// A /metrics handler for the registry (which must outlive the handler).
Handler metricsHandler(std::shared_ptr<prometheus::Registry> registry);

// The same, running `refresh` (on the admin thread) before each rendering: for gauges that
// mirror state read on demand (a connection's status, a count), set by the callback.
Handler metricsHandler(std::shared_ptr<prometheus::Registry> registry,
                       std::function<void()> refresh);

// Counts accept() failures for lack of file descriptors or socket memory on one kind of
// listener: ambit_accept_resource_exhausted_total{listener="<listener>"}, as the
// on_exhausted hook of an AcceptBackoff (common/async/accept_loop.h). The registry must
// outlive the returned function.
std::function<void()> acceptExhaustedCounter(prometheus::Registry& registry,
                                             const std::string& listener);

// Counts HBONE connections closed and tunnels reset by a timeout:
// ambit_hbone_timeouts_total{reason}, reason "handshake", "header" or "send_stall"
// (hbone::timeoutReason()), each listed from start at 0. The returned function takes the reason
// (any other string adds its own series). The registry must outlive it.
std::function<void(const std::string& reason)> hboneTimeoutCounter(prometheus::Registry& registry);

}  // namespace ambit::admin
