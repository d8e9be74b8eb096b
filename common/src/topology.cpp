// GPU topology from sysfs: PCI bus id -> NUMA node, local CPUs, IOMMU group
// and domain type. Fixed buffers and raw syscalls only (see topology.h).
#include "hugeshim/topology.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hugeshim/events.h"
#include "hugeshim/small_file.h"

namespace hugeshim {
namespace {

constexpr size_t kPathMax = 512;

// Prefix every absolute sysfs path with root; "/" and "" mean the real
// host, so no double slash appears in the common case.
bool root_path(char* buf, size_t size, const char* root, const char* suffix) {
  size_t len = root ? strlen(root) : 0;
  while (len > 0 && root[len - 1] == '/') --len;
  int n = snprintf(buf, size, "%.*s%s", static_cast<int>(len), root ? root : "", suffix);
  return n > 0 && static_cast<size_t>(n) < size;
}

// dir + "/" + name; false when it does not fit.
bool child_path(char* buf, size_t size, const char* dir, const char* name) {
  int n = snprintf(buf, size, "%s/%s", dir, name);
  return n > 0 && static_cast<size_t>(n) < size;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Parses 1..max_digits hex digits at *p; advances *p past them.
bool parse_hex_field(const char** p, int max_digits, uint32_t* out) {
  uint32_t v = 0;
  int digits = 0;
  for (int d; (d = hex_digit(**p)) >= 0; ++*p) {
    if (++digits > max_digits) return false;
    v = v * 16 + static_cast<uint32_t>(d);
  }
  if (digits == 0) return false;
  *out = v;
  return true;
}

// "0x10de" or "10de" -> value; false on junk.
bool parse_sysfs_hex(const char* text, uint32_t* out) {
  if (text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) text += 2;
  const char* p = text;
  return parse_hex_field(&p, 8, out) && *p == '\0';
}

bool parse_int(const char* text, int* out) {
  const char* p = text;
  bool neg = *p == '-';
  if (neg) ++p;
  if (*p < '0' || *p > '9') return false;
  long v = 0;
  for (; *p >= '0' && *p <= '9'; ++p) {
    v = v * 10 + (*p - '0');
    if (v > 0x7fffffff) return false;
  }
  if (*p) return false;
  *out = static_cast<int>(neg ? -v : v);
  return true;
}

uint32_t iommu_type_from_sysfs(const char* text) {
  if (!strcmp(text, "identity")) return HUGESHIM_IOMMU_IDENTITY;
  if (!strcmp(text, "DMA")) return HUGESHIM_IOMMU_DMA;
  if (!strcmp(text, "DMA-FQ")) return HUGESHIM_IOMMU_DMA_FQ;
  return HUGESHIM_IOMMU_UNKNOWN;
}

// The group number is the last component of the iommu_group link target
// ("../../../kernel/iommu_groups/17"); the link's directory part is ignored
// so a fake tree may point anywhere.
void read_iommu(const char* root, const char* device_dir, PciDeviceInfo* out) {
  char path[kPathMax], target[kPathMax];
  out->iommu_group = -1;
  out->iommu_type = HUGESHIM_IOMMU_UNKNOWN;
  if (!child_path(path, sizeof path, device_dir, "iommu_group")) return;
  ssize_t n = readlink(path, target, sizeof target - 1);
  if (n < 0) {
    if (errno == ENOENT) out->iommu_type = HUGESHIM_IOMMU_NONE;
    return;
  }
  target[n] = '\0';
  const char* slash = strrchr(target, '/');
  if (!parse_int(slash ? slash + 1 : target, &out->iommu_group) || out->iommu_group < 0) {
    out->iommu_group = -1;
    return;
  }
  char suffix[96], type[32];
  snprintf(suffix, sizeof suffix, "/sys/kernel/iommu_groups/%d/type", out->iommu_group);
  if (root_path(path, sizeof path, root, suffix) && read_text_file(path, type, sizeof type) > 0)
    out->iommu_type = iommu_type_from_sysfs(type);
}

bool bus_id_less(const char* a, const char* b) { return strcmp(a, b) < 0; }

}  // namespace

bool normalize_pci_bus_id(const char* in, char out[16]) {
  out[0] = '\0';
  if (!in) return false;
  // Up to three ':'-separated hex fields before ".fn": [domain:]bus:device.
  uint32_t fields[3];
  int count = 0;
  const char* p = in;
  while (true) {
    if (count == 3) return false;
    if (!parse_hex_field(&p, count == 0 ? 8 : 2, &fields[count])) return false;
    ++count;
    if (*p == ':') {
      ++p;
      continue;
    }
    if (*p == '.') break;
    return false;
  }
  if (count < 2) return false;
  ++p;
  uint32_t fn;
  if (!parse_hex_field(&p, 1, &fn)) return false;
  while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') ++p;
  if (*p) return false;
  uint32_t domain = count == 3 ? fields[0] : 0;
  uint32_t bus = fields[count - 2], dev = fields[count - 1];
  // A domain beyond 20 bits would not fit the 16-byte buffer; real ones
  // (VMD uses 0x10000+) do.
  if (domain > 0xfffff || bus > 0xff || dev > 0x1f || fn > 7) return false;
  snprintf(out, 16, "%04x:%02x:%02x.%x", domain, bus, dev, fn);
  return true;
}

bool topology_pci_device(const char* root, const char* bus_id, PciDeviceInfo* out) {
  PciDeviceInfo info;
  if (!normalize_pci_bus_id(bus_id, info.bus_id)) return false;
  char suffix[64], dir[kPathMax], path[kPathMax], text[64];
  snprintf(suffix, sizeof suffix, "/sys/bus/pci/devices/%s", info.bus_id);
  if (!root_path(dir, sizeof dir, root, suffix) || access(dir, F_OK) != 0) return false;

  info.numa_node = -1;
  if (!child_path(path, sizeof path, dir, "numa_node") ||
      read_text_file(path, text, sizeof text) <= 0 || !parse_int(text, &info.numa_node) ||
      info.numa_node < -1)
    info.numa_node = -1;

  info.local_cpus[0] = '\0';
  if (!child_path(path, sizeof path, dir, "local_cpulist") ||
      read_text_file(path, info.local_cpus, sizeof info.local_cpus) < 0)
    info.local_cpus[0] = '\0';

  read_iommu(root, dir, &info);
  *out = info;
  return true;
}

int topology_list_gpus(const char* root, PciDeviceInfo* out, int max) {
  char dir[kPathMax];
  if (max <= 0 || !root_path(dir, sizeof dir, root, "/sys/bus/pci/devices")) return 0;
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return 0;
  int found = 0;
  // getdents64 rather than opendir: opendir allocates through malloc.
  alignas(8) char entries[4096];
  while (true) {
    long n = syscall(SYS_getdents64, fd, entries, sizeof entries);
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      const auto* d = reinterpret_cast<const struct dirent64*>(entries + off);
      off += d->d_reclen;
      if (d->d_name[0] == '.') continue;
      char device[kPathMax], path[kPathMax], text[32];
      uint32_t vendor, cls;
      if (!child_path(device, sizeof device, dir, d->d_name)) continue;
      if (!child_path(path, sizeof path, device, "vendor") ||
          read_text_file(path, text, sizeof text) <= 0 || !parse_sysfs_hex(text, &vendor) ||
          vendor != kPciVendorNvidia)
        continue;
      if (!child_path(path, sizeof path, device, "class") ||
          read_text_file(path, text, sizeof text) <= 0 || !parse_sysfs_hex(text, &cls) ||
          (cls >> 16) != 0x03)
        continue;
      PciDeviceInfo info;
      if (!topology_pci_device(root, d->d_name, &info)) continue;
      // Insertion into the sorted prefix; when full, the highest bus id
      // falls off the end.
      int pos = found;
      while (pos > 0 && bus_id_less(info.bus_id, out[pos - 1].bus_id)) --pos;
      if (pos >= max) continue;
      int last = found < max ? found : max - 1;
      for (int i = last; i > pos; --i) out[i] = out[i - 1];
      out[pos] = info;
      if (found < max) ++found;
    }
  }
  close(fd);
  return found;
}

}  // namespace hugeshim
