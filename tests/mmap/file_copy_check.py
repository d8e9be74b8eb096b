# Maps a file with python3's mmap module (MAP_PRIVATE, PROT_READ) and with
# numpy.memmap (mode 'r': MAP_SHARED, PROT_READ), one after the other, and
# prints for each: the sha256 of the mapped bytes, the smaps of the mapping
# and HugePages_Free before mapping, while mapped and after closing.
#   usage: file_copy_check.py PATH
import hashlib
import mmap
import sys

import numpy as np


def meminfo(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


def smaps(addr, size):
    """Sums over the VMAs overlapping [addr, addr + size): hugetlb kB,
    AnonHugePages kB, Rss kB, and whether one is backed by a file."""
    out = {"hugetlb": 0, "anon_huge": 0, "rss": 0, "file": 0, "vmas": 0}
    inside = False
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split()
            if "-" in head[0] and not head[0].endswith(":"):
                lo, hi = (int(x, 16) for x in head[0].split("-"))
                inside = lo < addr + size and hi > addr
                if inside:
                    out["vmas"] += 1
                    if len(head) >= 6 and head[5].startswith("/") and not head[5].startswith("/anon_hugepage"):
                        out["file"] = 1
                continue
            if not inside:
                continue
            if head[0] in ("Private_Hugetlb:", "Shared_Hugetlb:"):
                out["hugetlb"] += int(head[1])
            elif head[0] == "AnonHugePages:":
                out["anon_huge"] += int(head[1])
            elif head[0] == "Rss:":
                out["rss"] += int(head[1])
    return out


path = sys.argv[1]
with open(path, "rb") as f:
    h = hashlib.sha256()
    for chunk in iter(lambda: f.read(1 << 24), b""):
        h.update(chunk)
print("file", h.hexdigest())

free_before = meminfo("HugePages_Free")
with open(path, "rb") as f:
    m = mmap.mmap(f.fileno(), 0, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ)
view = np.frombuffer(m, dtype=np.uint8)
addr, size = view.ctypes.data, view.size
digest = hashlib.sha256(view).hexdigest()
free_mapped = meminfo("HugePages_Free")
stats = smaps(addr, size)
del view
m.close()
after = (meminfo("HugePages_Free"), smaps(addr, size)["vmas"])
print("mmap", digest, "hugetlb_kb=%d anon_huge_kb=%d rss_kb=%d file=%d" % (stats["hugetlb"], stats["anon_huge"], stats["rss"], stats["file"]),
      "free_before=%d free_mapped=%d free_after=%d vmas_after=%d" % (free_before, free_mapped, after[0], after[1]))

free_before = meminfo("HugePages_Free")
a = np.memmap(path, dtype=np.uint8, mode="r")
addr, size = a.ctypes.data, a.size
digest = hashlib.sha256(a).hexdigest()
free_mapped = meminfo("HugePages_Free")
stats = smaps(addr, size)
a._mmap.close()
del a
after = (meminfo("HugePages_Free"), smaps(addr, size)["vmas"])
print("memmap", digest, "hugetlb_kb=%d anon_huge_kb=%d rss_kb=%d file=%d" % (stats["hugetlb"], stats["anon_huge"], stats["rss"], stats["file"]),
      "free_before=%d free_mapped=%d free_after=%d vmas_after=%d" % (free_before, free_mapped, after[0], after[1]))
