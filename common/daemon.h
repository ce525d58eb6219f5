#pragma once
// Daemon: the process skeleton shared by ambit's long-running binaries (agent, ztunnel,
// waypoint): stop signals taken on an event loop, a graceful drain with a deadline, and a
// second signal for an immediate exit. A main parses its flags, constructs a Daemon, builds its
// service and hands it over:
//
//   ambit::Daemon daemon("ztunnel", drain_deadline);  // SIGTERM/SIGINT are handled from here
//   auto zt = Ztunnel::create(options);               // a signal now exits: nothing to drain
//   return daemon.serve([&] { zt->run(); }, [&] { zt->requestDrain(); });
//
// Signals: SIGTERM and SIGINT go to an asio::signal_set on the daemon's own thread and event
// loop, so they are seen even while the service is still starting and blocks the main thread.
//   - before serve(): the process exits at once (status 0);
//   - during serve(), the first one: drain() is called; the service stops accepting, lets what
//     is open finish within its own deadline and makes run() return;
//   - a second one, or the service still running drain_deadline + kDrainGrace after the first:
//     the process exits at once (status 1).
// SIGPIPE is ignored: a write to a peer that went away is an error on that write, not a
// process kill. Abseil's mutex deadlock detection (a debug aid gRPC's locks pay for) is off.
//
// Thread model: construct, serve() and destroy on the main thread, one Daemon per process.
// drain() runs on the daemon's signal thread and must be thread-safe and short (post to the
// service's event loop); serve() does not return while a drain() call is running, so the
// service may be destroyed as soon as serve() has returned.

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace ambit {

class Daemon {
 public:
  // Time the service gets beyond its drain deadline to close what is left before the process
  // exits anyway.
  static constexpr std::chrono::milliseconds kDrainGrace{5000};

  // `name` prefixes the daemon's log lines; `drain_deadline` is the service's own.
  Daemon(std::string name, std::chrono::milliseconds drain_deadline);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Runs the service: `run` blocks the calling thread until the service has stopped, `drain`
  // asks it to stop gracefully (see above). Returns the process exit status (0).
  int serve(std::function<void()> run, std::function<void()> drain);

 private:
  struct SignalLoop;
  std::unique_ptr<SignalLoop> loop_;
};

}  // namespace ambit
