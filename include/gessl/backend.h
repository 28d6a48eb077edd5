/* gessl — the backend plugin ABI.
 *
 * A backend is a shared library that exports one symbol, GS_BACKEND_ENTRY_SYMBOL, of type
 * gs_backend_entry_fn. The runtime calls it once, handing over the host services the plugin may
 * use, and gets back a table of function pointers whose first field is the ABI version. The
 * runtime refuses a table whose abi_version differs from GS_BACKEND_ABI_VERSION; members are only
 * ever appended, and struct_size tells the runtime how many the plugin knows (SQLite's iVersion
 * idea), so an optional member beyond struct_size, or NULL, means "not provided".
 *
 * Object model: a backend has devices (enumerated once by probe), a device is opened into a
 * gs_bdev, buffers and programs belong to one gs_bdev. A program is an ordered list of launches
 * (op.h) compiled once and run many times; it may be executed asynchronously, and buf_read is the
 * point where the host waits. Every function that can fail returns gs_status and reports the
 * reason through host->fail (so it reaches gs_errmsg()); none may exit, abort or print to stdout.
 *
 * Thread safety: the runtime calls a gs_bdev from one thread at a time. */
#ifndef GESSL_BACKEND_H
#define GESSL_BACKEND_H

#include "op.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GS_BACKEND_ABI_VERSION 1
#define GS_BACKEND_ENTRY_SYMBOL "gessl_backend_entry"

typedef enum gs_device_type {
  GS_DEVICE_CPU = 0,
  GS_DEVICE_GPU_DISCRETE = 1,
  GS_DEVICE_GPU_INTEGRATED = 2,
  GS_DEVICE_ACCELERATOR = 3,
  GS_DEVICE_OTHER = 4
} gs_device_type;

typedef struct gs_device_info {
  char name[128];   /* "NVIDIA H100", "pthread-cpu", "llvmpipe (LLVM 15.0.6, 256 bits)" */
  char vendor[64];  /* "NVIDIA Corporation", "The pocl project", "Mesa" */
  char driver[128]; /* driver and API version, free text */
  char extra[256];  /* backend-specific facts worth listing (compute units, work-group size) */
  gs_device_type type;
  uint64_t memory_bytes;    /* global/device memory; 0 if unknown */
  uint64_t max_alloc_bytes; /* largest single buffer; 0 if unlimited/unknown */
  int available;            /* 0: listed but cannot be opened, reason in `why` */
  char why[256];
} gs_device_info;

/* Services the runtime lends a backend. Valid until the plugin is unloaded. */
typedef struct gs_backend_host {
  uint32_t abi_version;
  /* Records a failure for gs_errmsg() and returns s. */
  gs_status (*fail)(gs_status s, const char *fmt, ...) GS_PRINTF(2, 3);
  /* Prints a warning to the user (stderr), prefixed with the backend's name. */
  void (*warn)(const char *fmt, ...) GS_PRINTF(1, 2);
  /* Directory for caches (program binaries, pipeline caches), created if missing; NULL when the
   * cache is off. Backends write cache files atomically (temp file + rename) and treat any cache
   * error as a miss, never as a failure. */
  const char *cache_dir;
  /* Thread count asked for by the user (0 = backend's choice). */
  int threads;
} gs_backend_host;

/* What an opened device has done since it was opened; the runtime takes differences around a
 * step. Counted always (a few integer additions per run); seconds only while GESSL_PROFILE is
 * set, when backends may serialize their work to time it. */
typedef struct gs_bcounters {
  uint64_t launches;          /* kernels enqueued; a library call (a CLBlast GEMM) counts as one */
  uint64_t waits;             /* times the host blocked until the device finished queued work */
  uint64_t bytes_to_device;   /* buf_write and program set-up uploads */
  uint64_t bytes_from_device; /* buf_read */
  double seconds[GS_FAM_COUNT]; /* device time per opcode family (GESSL_PROFILE), else 0 */
} gs_bcounters;

typedef struct gs_bdev gs_bdev;   /* an opened device */
typedef struct gs_bprog gs_bprog; /* a compiled program */

typedef struct gs_backend_iface {
  uint32_t abi_version; /* GS_BACKEND_ABI_VERSION */
  uint32_t struct_size; /* sizeof(gs_backend_iface) as the plugin was built */
  const char *name;     /* "cpu", "opencl", "vulkan": what --backend names */
  const char *version;  /* plugin version, free text */

  /* Finds the devices once. Returns GS_OK and *n (possibly 0 with a reason in why), or an error
   * with the reason (e.g. "no OpenCL platform") when the backend cannot run at all. */
  gs_status (*probe)(int *n, char *why, size_t why_len);
  /* Facts about device `index` (0 <= index < n). */
  gs_status (*device_info)(int index, gs_device_info *info);
  /* Opens device `index`. The handle is freed by close. */
  gs_status (*open)(int index, gs_bdev **out);
  void (*close)(gs_bdev *dev);

  /* Whether this device runs the launch (opcode, dtypes, attributes). 1 yes, 0 no. */
  int (*supports)(gs_bdev *dev, const gs_launch *l);

  /* Buffers. Sizes and offsets are in bytes here. Contents after alloc are unspecified. */
  gs_status (*buf_alloc)(gs_bdev *dev, size_t bytes, gs_bbuf **out);
  void (*buf_free)(gs_bdev *dev, gs_bbuf *buf);
  /* Host -> device. Returns once `src` may be reused. */
  gs_status (*buf_write)(gs_bdev *dev, gs_bbuf *buf, size_t off, const void *src, size_t bytes);
  /* Device -> host. Waits for all work queued before it. */
  gs_status (*buf_read)(gs_bdev *dev, gs_bbuf *buf, size_t off, void *dst, size_t bytes);

  /* Compiles launches[0..n) into a program (kernel selection, argument binding, command
   * recording). The launches array is copied; the buffers it names must outlive the program. */
  gs_status (*prog_compile)(gs_bdev *dev, const gs_launch *launches, size_t n, gs_bprog **out);
  /* Queues one execution of the program, in order after earlier work; may return before it ends.
   * Errors detected later are reported by the next buf_read or sync. */
  gs_status (*prog_run)(gs_bdev *dev, gs_bprog *prog);
  void (*prog_free)(gs_bdev *dev, gs_bprog *prog);
  /* Waits until all queued work is done. */
  gs_status (*sync)(gs_bdev *dev);

  /* Appended members (optional: NULL or beyond struct_size means not provided). */
  /* The device's counters since open. */
  void (*counters)(gs_bdev *dev, gs_bcounters *out);
} gs_backend_iface;

typedef const gs_backend_iface *(*gs_backend_entry_fn)(const gs_backend_host *host);

#ifdef __cplusplus
}
#endif
#endif
