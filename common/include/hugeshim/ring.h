/* hugeshim ring ABI: the per-process shared-memory segment the shim writes
 * and the collector reads. C-compatible; all integers little-endian native,
 * all fields naturally aligned, no pointers (the reader never follows one).
 *
 * Segment file: <ring dir>/ring-<pid>-<start ticks>-<creation ns>.hsr
 * (start ticks: field 22 of /proc/PID/stat; creation ns: CLOCK_MONOTONIC,
 * which tells apart the images of one process across exec), created by the
 * producer with O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600, in a directory owned by
 * the user with mode 0700. Layout:
 *
 *   [0, header_size)                           struct hugeshim_ring_header
 *   [slots_offset, slots_offset + capacity * slot_size)
 *                                              struct hugeshim_ring_slot[capacity]
 *
 * Memory: the file is sized with ftruncate but holds no pages at first
 * (tmpfs allocates a page at its first touch). The producer makes pages real
 * before anyone touches them, with MADV_POPULATE_WRITE, which fails with an
 * error where a touch would raise SIGBUS (a full file system): the header at
 * creation (no header: no telemetry), the slots 64 KiB at a time as records
 * arrive. reserved_bytes says how far the file is real; no one reads or
 * writes past it. So a segment costs memory for the records written, and a
 * full file system costs records (counted as dropped), never a signal.
 *
 * Protocol (a bounded multi-producer queue after D. Vyukov, one consumer),
 * with every slot's sequence number stored relative to its index i, so that
 * an all-zero (never touched) slot is free for lap 0:
 * - Position p lives in slot i = p % capacity. Slot i is free for p when
 *   seq == p - i, and published for p when seq == p - i + 1.
 * - A producer claims position p by CAS of enqueue_pos from p to p+1, which
 *   it only tries when the slot is free for p. It writes the record, then
 *   publishes it with a release store seq = p - i + 1. If the slot still
 *   holds an unread record of the previous lap, the ring is full: the
 *   producer drops the NEW record and counts it (records_dropped).
 * - The consumer reads position d = dequeue_pos, for d < enqueue_pos only:
 *   when the slot is published for d it copies the record out, stores it
 *   durably, then releases the slot with seq = d + capacity - i (free for
 *   d + capacity) and advances dequeue_pos to d + 1.
 * - A slot claimed (enqueue_pos > p) but never published belongs to a
 *   producer thread that is mid-write, or that died mid-write. Only once the
 *   process is gone may the consumer skip it (counted as torn).
 *
 * Life cycle: a collector that attaches sets reader_attached. A process that
 * exits (exit, _exit, quick_exit) marks producer_state EXITED, and removes its
 * own segment when no reader ever attached and it recorded nothing. A
 * process image replaced by exec is found by the next image (same pid and
 * start ticks), marked EXECED and, under the same rule, removed. Collectors
 * remove the segments of dead processes they have drained to the end.
 *
 * The header's counters and histograms are exact totals, updated with
 * relaxed atomic read-modify-writes by every event whether or not its record
 * fits the ring, except small_calls (see below). A reader copies them out and
 * treats every value as untrusted.
 *
 * Versioning: a reader accepts exactly HUGESHIM_RING_ABI_VERSION with
 * header_size and slot_size equal to sizeof of the structs below. Any change
 * of layout or meaning bumps the version (also when hugeshim/events.h changes
 * a code's meaning).
 */
#ifndef HUGESHIM_RING_H
#define HUGESHIM_RING_H

#include <stddef.h>
#include <stdint.h>

#include "hugeshim/events.h"

/* Compile-time checks of the layout, in C and C++ alike. */
#if defined(__cplusplus)
#define HUGESHIM_ABI_ASSERT(cond, why) static_assert(cond, why)
#else
#define HUGESHIM_ABI_ASSERT(cond, why) _Static_assert(cond, why)
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define HUGESHIM_RING_MAGIC 0x31474e4952534855ull /* "UHSRING1" read little-endian */
#define HUGESHIM_RING_ABI_VERSION 3u
#define HUGESHIM_RING_FILE_PREFIX "ring-"
#define HUGESHIM_RING_FILE_SUFFIX ".hsr"

#define HUGESHIM_RING_MIN_SLOTS 64u
#define HUGESHIM_RING_MAX_SLOTS (1u << 24) /* HUGESHIM_RING_SLOTS upper bound */
#define HUGESHIM_RING_EXE_BYTES 256u
#define HUGESHIM_RING_CMDLINE_BYTES 1024u
#define HUGESHIM_RING_CONFIG_BYTES 2048u
#define HUGESHIM_RING_GPU_MAX 16u
#define HUGESHIM_RING_BUS_ID_BYTES 16u
#define HUGESHIM_RING_HIST_BUCKETS 64u
/* Capacity of the per-API tables of the header (counters, small_calls):
 * new API codes are appended to events.h without moving the layout. */
#define HUGESHIM_RING_API_SLOTS 32u
/* Stripes of the approximate small-call counters (see small_calls). */
#define HUGESHIM_RING_SMALL_STRIPES 16u

/* producer_state values. */
enum hugeshim_producer_state {
  HUGESHIM_PRODUCER_RUNNING = 0, /* process alive as far as the producer knows */
  HUGESHIM_PRODUCER_EXITED = 1,  /* process ran its exit path (exit, _exit, quick_exit) */
  HUGESHIM_PRODUCER_EXECED = 2   /* image replaced by exec (marked by the next image) */
};

/* One large event. Fixed size; every field is a copy of a value, never a
 * pointer into the producer (address and caller are numbers to report). */
struct hugeshim_ring_record {
  uint32_t api;       /* enum hugeshim_api */
  uint32_t flags;     /* enum hugeshim_event_flag bits */
  uint32_t tid;       /* kernel thread id of the calling thread */
  int32_t gpu;        /* index into header.gpus (-1: none) */
  uint64_t start_ns;  /* CLOCK_MONOTONIC at entry of the interposed call */
  uint64_t end_ns;    /* CLOCK_MONOTONIC when the event was recorded (its end) */
  uint64_t address;   /* user address: result of an allocation, argument of a free */
  uint64_t requested; /* bytes the program asked for */
  uint64_t mapped;    /* bytes the shim mapped for it (0: passed through) */
  uint64_t page_bytes[HUGESHIM_PAGE_COUNT]; /* bytes obtained per enum hugeshim_page_class */
  uint64_t phase_ns[HUGESHIM_PHASE_COUNT];  /* per enum hugeshim_phase; 0: phase not run */
  int32_t numa_asked; /* node requested, -1 none, -2 interleave */
  int32_t numa_got;   /* node of the first page, -1 unknown */
  int32_t result;     /* 0 success; else the API's error code (-1 for a NULL malloc) */
  int32_t err;        /* errno behind a failure or fallback, 0 none */
  uint32_t fallback;  /* enum hugeshim_fallback */
  uint32_t cuda_flags;    /* flags the program passed to a CUDA call */
  uint64_t translations;  /* pages (IOMMU translations) a registration covered */
  uint64_t caller;        /* return address of the interposed call */
  /* Copy events (api HUGESHIM_API_CUDA_MEMCPY) only, zero otherwise. A copy
   * event's start_ns/end_ns are the copy's own start and end on the GPU
   * (CUPTI activity, on CLOCK_MONOTONIC), address and requested the host
   * side's address and the bytes copied, tid the thread that issued it;
   * page_bytes the host range's bytes per page class when it lies in a
   * shim region (flag REDIRECTED), all zero when the page sizes are unknown. */
  uint64_t stream;        /* CUDA stream id (CUPTI streamId) */
  uint64_t correlation;   /* CUPTI correlation id of the API call */
  uint32_t copy_kind;     /* enum hugeshim_copy_direction */
  uint32_t host_memory;   /* enum hugeshim_copy_memory */
};

/* A ring slot: the publication sequence number, then the record. */
struct hugeshim_ring_slot {
  uint64_t seq; /* protocol above; atomic (acquire/release) */
  struct hugeshim_ring_record record;
};

/* One GPU the process uses, keyed by PCI bus id. Written by the producer
 * under its own lock; `valid` is stored last (release) so a reader that sees
 * valid == 1 sees the other fields. */
struct hugeshim_ring_gpu {
  char pci_bus_id[HUGESHIM_RING_BUS_ID_BYTES]; /* "%04x:%02x:%02x.%x", NUL-terminated */
  int32_t numa_node;   /* -1 unknown */
  uint32_t iommu_type; /* enum hugeshim_iommu_type */
  uint32_t valid;      /* 1 once filled */
  uint32_t reserved;
};

#define HUGESHIM_RING_FALLBACK_SLOTS 22
HUGESHIM_ABI_ASSERT(HUGESHIM_FALLBACK_COUNT <= HUGESHIM_RING_FALLBACK_SLOTS, "room for every fallback code");
HUGESHIM_ABI_ASSERT(HUGESHIM_API_COUNT <= HUGESHIM_RING_API_SLOTS, "room for every API code");

/* Exact per-API totals (relaxed atomics). records_written + records_dropped
 * == events at every quiescent point. */
struct hugeshim_ring_api_counters {
  uint64_t events;          /* large events emitted */
  uint64_t bytes_requested; /* sum of record.requested */
  uint64_t bytes_mapped;    /* sum of record.mapped */
  uint64_t page_bytes[HUGESHIM_PAGE_COUNT]; /* sum of record.page_bytes */
  /* events per fallback reason (NONE included). Fixed capacity, so new
   * reason codes can be appended to events.h without moving the layout. */
  uint64_t fallbacks[HUGESHIM_RING_FALLBACK_SLOTS];
  uint64_t records_written; /* records published into a slot */
  uint64_t records_dropped; /* records dropped because the ring was full */
};

/* Latency histogram of one phase x page class: bucket b counts durations d
 * (ns, d > 0) with floor(log2(d)) == b, i.e. d in [2^b, 2^(b+1)); durations
 * of 0 (phase not run) are not counted. The page class of an event is the
 * class holding most of its bytes (ties go to the larger page). */
struct hugeshim_ring_histogram {
  uint64_t sum_ns;
  uint64_t buckets[HUGESHIM_RING_HIST_BUCKETS];
};

struct hugeshim_ring_header {
  /* Identity and layout: written once before `magic`, which is stored last
   * (release): a reader that sees the magic sees a complete header. */
  uint64_t magic;         /* HUGESHIM_RING_MAGIC */
  uint32_t abi_version;   /* HUGESHIM_RING_ABI_VERSION */
  uint32_t header_size;   /* sizeof(struct hugeshim_ring_header) */
  uint32_t slot_size;     /* sizeof(struct hugeshim_ring_slot) */
  uint32_t capacity;      /* slots, a power of two in [MIN_SLOTS, MAX_SLOTS] */
  uint64_t slots_offset;  /* byte offset of slot 0; == header_size */
  uint64_t segment_size;  /* slots_offset + capacity * slot_size == file size */

  /* The process. start_ticks is field 22 of /proc/PID/stat (clock ticks
   * since boot): pid + start_ticks identify the process across pid reuse. */
  int32_t pid;
  int32_t ppid;
  uint32_t uid;
  uint32_t producer_state;    /* enum hugeshim_producer_state; atomic */
  uint64_t start_ticks;
  uint64_t start_realtime_ns; /* CLOCK_REALTIME when the segment was created */
  uint64_t start_monotonic_ns;/* CLOCK_MONOTONIC at the same moment */
  uint64_t exit_monotonic_ns; /* CLOCK_MONOTONIC at exit, 0 while running; atomic */
  char exe[HUGESHIM_RING_EXE_BYTES];             /* /proc/self/exe, NUL-terminated, may be cut */
  char cmdline[HUGESHIM_RING_CMDLINE_BYTES];     /* arguments separated by NUL, cut at the end */
  uint32_t cmdline_bytes;                        /* bytes of cmdline used */
  uint32_t config_bytes;                         /* bytes of config used */
  char config[HUGESHIM_RING_CONFIG_BYTES];       /* "NAME=value\n" per option, effective values */

  /* GPUs (append-only table). */
  uint32_t gpu_count;  /* entries handed out so far; atomic; may exceed GPU_MAX (clamp) */
  uint32_t gpu_lock;   /* producer-private spin lock for the table */
  struct hugeshim_ring_gpu gpus[HUGESHIM_RING_GPU_MAX];

  /* Queue positions, each on its own cache line. */
  uint8_t pad_before_enqueue[64];
  uint64_t enqueue_pos;  /* next position a producer claims; atomic */
  uint8_t pad_after_enqueue[56];
  uint64_t dequeue_pos;  /* next position the consumer reads; written by the consumer only */
  uint8_t pad_after_dequeue[56];

  /* Exact totals (relaxed atomics). */
  struct hugeshim_ring_api_counters counters[HUGESHIM_RING_API_SLOTS]; /* [HUGESHIM_API_COUNT..) zero */
  struct hugeshim_ring_histogram histograms[HUGESHIM_PHASE_COUNT][HUGESHIM_PAGE_COUNT];

  /* Calls below the size threshold, per API. Only the CUDA pinned-memory
   * calls (runtime and driver) are counted here; the malloc and mmap
   * families do not count their small calls at all, so that their fast path
   * stays one compare. Approximate by design: an increment is a relaxed load
   * and a relaxed store (no read-modify-write), so two threads incrementing
   * the same counter at once can lose one. To make that rare and keep
   * threads from bouncing one cache line, each call picks a stripe from its
   * stack address (threads have distinct stacks). The total is the sum over
   * stripes. */
  struct {
    uint64_t calls[HUGESHIM_RING_API_SLOTS]; /* 32 * 8 = 256 bytes: stripes never share a cache line */
  } small_calls[HUGESHIM_RING_SMALL_STRIPES];

  /* Bytes from offset 0 made real by the producer (MADV_POPULATE_WRITE):
   * nothing past it is read or written. Only grows; atomic. */
  uint64_t reserved_bytes;
  uint32_t reader_attached; /* 1 once a collector attached; atomic */
  uint32_t reserved_tail[3]; /* zero; the header size is a multiple of 64 bytes */
};

/* The layout of ABI version 3, pinned (v2 kept v1's offsets and changed the
 * slot protocol and the header's last 16 bytes; v3 gave the record's last
 * 24 bytes to copy events and the per-API tables a fixed capacity): a change
 * to any struct above that is not matched here fails to compile on both sides (producer and reader), so
 * it cannot ship without the version bump these numbers then need. */
HUGESHIM_ABI_ASSERT(HUGESHIM_RING_ABI_VERSION == 3, "update the layout checks below with the version");
HUGESHIM_ABI_ASSERT(sizeof(struct hugeshim_ring_record) == 184, "record layout (ABI v3)");
HUGESHIM_ABI_ASSERT(offsetof(struct hugeshim_ring_record, start_ns) == 16, "record layout (ABI v3)");
HUGESHIM_ABI_ASSERT(offsetof(struct hugeshim_ring_record, page_bytes) == 56, "record layout (ABI v3)");
HUGESHIM_ABI_ASSERT(offsetof(struct hugeshim_ring_record, phase_ns) == 88, "record layout (ABI v3)");
HUGESHIM_ABI_ASSERT(offsetof(struct hugeshim_ring_record, numa_asked) == 120, "record layout (ABI v3)");
HUGESHIM_ABI_ASSERT(offsetof(struct hugeshim_ring_record, caller) == 152, "record layout (ABI v3)");
HUGESHIM_ABI_ASSERT(offsetof(struct hugeshim_ring_record, stream) == 160, "record layout (ABI v3)");
HUGESHIM_ABI_ASSERT(offsetof(struct hugeshim_ring_record, copy_kind) == 176, "record layout (ABI v3)");
HUGESHIM_ABI_ASSERT(sizeof(struct hugeshim_ring_slot) == 192, "a slot is three cache lines (ABI v3)");
HUGESHIM_ABI_ASSERT(offsetof(struct hugeshim_ring_slot, record) == 8, "slot layout (ABI v3)");
HUGESHIM_ABI_ASSERT(sizeof(struct hugeshim_ring_gpu) == 32, "GPU entry layout (ABI v3)");
HUGESHIM_ABI_ASSERT(sizeof(struct hugeshim_ring_api_counters) == 248, "counter layout (ABI v3)");
HUGESHIM_ABI_ASSERT(sizeof(struct hugeshim_ring_histogram) == 520, "histogram layout (ABI v3)");
HUGESHIM_ABI_ASSERT(sizeof(struct hugeshim_ring_header) == 24512, "header layout (ABI v3)");
HUGESHIM_ABI_ASSERT(sizeof(struct hugeshim_ring_header) % 64 == 0, "slots start cache-line aligned");
HUGESHIM_ABI_ASSERT(offsetof(struct hugeshim_ring_header, slots_offset) == 24, "header layout (ABI v3)");
HUGESHIM_ABI_ASSERT(offsetof(struct hugeshim_ring_header, pid) == 40, "header layout (ABI v3)");
HUGESHIM_ABI_ASSERT(offsetof(struct hugeshim_ring_header, exe) == 88, "header layout (ABI v3)");
HUGESHIM_ABI_ASSERT(offsetof(struct hugeshim_ring_header, config) == 1376, "header layout (ABI v3)");
HUGESHIM_ABI_ASSERT(offsetof(struct hugeshim_ring_header, gpus) == 3432, "header layout (ABI v3)");
HUGESHIM_ABI_ASSERT(offsetof(struct hugeshim_ring_header, enqueue_pos) == 4008, "header layout (ABI v3)");
HUGESHIM_ABI_ASSERT(offsetof(struct hugeshim_ring_header, dequeue_pos) == 4072, "header layout (ABI v3)");
HUGESHIM_ABI_ASSERT(offsetof(struct hugeshim_ring_header, counters) == 4136, "header layout (ABI v3)");
HUGESHIM_ABI_ASSERT(offsetof(struct hugeshim_ring_header, histograms) == 12072, "header layout (ABI v3)");
HUGESHIM_ABI_ASSERT(offsetof(struct hugeshim_ring_header, small_calls) == 20392, "header layout (ABI v3)");
HUGESHIM_ABI_ASSERT(offsetof(struct hugeshim_ring_header, reserved_bytes) == 24488, "header layout (ABI v3)");
HUGESHIM_ABI_ASSERT(offsetof(struct hugeshim_ring_header, reader_attached) == 24496, "header layout (ABI v3)");

#ifdef __cplusplus
}
#endif

#endif
