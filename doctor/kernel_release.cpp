// Kernel version: reported, and checked against the 6.11-6.13 range in
// which one long-term pin (cudaHostRegister, cudaHostAlloc) over 2 GB fails.
#include <cstdio>

#include "audit.h"

namespace hugeshim::doctor {

KernelRelease read_kernel_release(const HostFiles& files) {
  KernelRelease k;
  k.release = files.read("/proc/sys/kernel/osrelease").value_or("");
  int major, minor;
  if (std::sscanf(k.release.c_str(), "%d.%d", &major, &minor) == 2) k.version = {major, minor};
  return k;
}

void audit_kernel(const HostSnapshot& host, Findings& out) {
  const auto& k = host.kernel;
  if (!k.version) {
    out.push_back({"kernel.version", "", Severity::info,
                   "Cannot read the kernel version from /proc/sys/kernel/osrelease ('" +
                       k.release + "'); version-specific checks were skipped.",
                   ""});
    return;
  }
  out.push_back({"kernel.version", "", Severity::ok, "Kernel " + k.release + ".", ""});
  auto [major, minor] = *k.version;
  if (major == 6 && minor >= 11 && minor <= 13) {
    out.push_back(
        {"kernel.single_pin_limit", "", Severity::warn,
         "Kernel " + k.release +
             " is in the 6.11-6.13 range where a single long-term pin larger than 2 GB "
             "fails: one cudaHostRegister or cudaHostAlloc over 2 GB returns an error. "
             "Splitting a buffer into several registrations is no cure: CUDA copies that span "
             "two registrations fail (measured on an H200, docs/GPU.md), so the shim registers "
             "each allocation in one call. Move to kernel 6.14 or later.",
         "install a kernel >= 6.14 (e.g. apt install -t bookworm-backports linux-image-amd64) and reboot"});
  }
}

}  // namespace hugeshim::doctor
