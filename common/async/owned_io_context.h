#pragma once
// An io_context for a daemon object that owns its own event loop (Ztunnel::Impl,
// Waypoint::Impl). Such an object is often kept alive by its own pending work: a coroutine that
// captured shared_from_this() and still waits on a socket or timer when the drain ends and
// run() returns. That work lives in the io_context, which the object owns, so neither is ever
// freed: a leak at every exit with connections still open (LeakSanitizer found one in the
// waypoint after an HTTP/2 stream outlived the drain).
//
// destroyPendingWork() destroys every handler still queued or waiting, coroutine frames
// included, as ~io_context would, which breaks that cycle. Call it on the loop's thread once
// run() has returned; the loop cannot run again afterwards. I/O objects destroyed later (the
// owner's members) are fine: their services live until the io_context itself goes.

#include <boost/asio/io_context.hpp>

namespace ambit {

class OwnedIoContext : public boost::asio::io_context {
 public:
  using boost::asio::io_context::io_context;
  void destroyPendingWork() { shutdown(); }
};

}  // namespace ambit
