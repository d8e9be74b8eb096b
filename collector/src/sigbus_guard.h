// Protection against a segment file truncated under its mapping: touching a
// page beyond the file's end raises SIGBUS. Code that touches a segment runs
// inside run_guarded(); a SIGBUS there maps a zero page over the faulting
// page and lets the code go on (it reads zeros, which validation and record
// checks reject), and run_guarded() then reports the fault so the caller
// drops the segment. A SIGBUS anywhere else kills the process as usual.
#pragma once

namespace hugeshim::collector {

namespace detail {
extern thread_local bool t_sigbus_guarded;
extern thread_local bool t_sigbus_faulted;
void install_sigbus_handler();
}  // namespace detail

// Returns false when `body` touched a page beyond the end of its file.
template <typename Body>
bool run_guarded(Body&& body) {
  detail::install_sigbus_handler();
  const bool outer = detail::t_sigbus_guarded;
  detail::t_sigbus_guarded = true;
  detail::t_sigbus_faulted = false;
  body();
  detail::t_sigbus_guarded = outer;
  return !detail::t_sigbus_faulted;
}

}  // namespace hugeshim::collector
