/* gessl — the backend plugin ABI, version 2.
 *
 * A backend is a shared library that exports one symbol, GS_BACKEND_ENTRY_SYMBOL, of type
 * gs_backend_entry_fn. It returns a constant table of function pointers (gs_backend_iface). The
 * runtime then calls the table's create with the host services it lends (gs_backend_host) and
 * gets the plugin's own context, a gs_backend; every later call receives that context or a
 * device opened from it, and every host service receives the host table it belongs to. So a
 * plugin keeps no mutable state of its own outside its contexts, and two runtimes in one process
 * (or two instances of one backend) never see each other.
 *
 * Versioning (SQLite's iVersion rule): both tables start with abi_version and struct_size and
 * only ever gain members at their end. The runtime loads a backend whose abi_version is between
 * 2 and GS_BACKEND_ABI_VERSION and reads a member added after version 2 only when
 * GS_HAS(iface, member) holds; a backend likewise tests GS_HAS(host, member). Appending an
 * opcode to op.h needs no new version: supports() declines an opcode the backend does not know.
 *
 * Object model: a backend context has devices (enumerated once by probe), a device is opened into
 * a gs_bdev, buffers and programs belong to one gs_bdev. A program is an ordered list of launches
 * (op.h) compiled once and run many times; it may be executed asynchronously, and buf_read is the
 * point where the host waits.
 *
 * Failure contract, for every member: a gs_status other than GS_OK comes with the reason recorded
 * through host->fail (so it reaches gs_errmsg()); an output pointer (*out) is left untouched on
 * failure and nothing the call made is left behind (a create or open that fails half way frees
 * what it made); the members that free (destroy, close, buf_free, prog_free) accept NULL and do
 * nothing with it. No member may exit, abort or print to stdout.
 *
 * Lifetime: the runtime closes every device of a context before destroying it, and destroys
 * every context before it unloads the plugin. Thread safety: the runtime calls a gs_bdev from one
 * thread at a time; different contexts and their devices may be used from different threads. */
#ifndef GESSL_BACKEND_H
#define GESSL_BACKEND_H

#include "op.h"

#ifdef __cplusplus
extern "C" {
#endif

/* History: 1 the first table (no contexts); 2 create/destroy and a context on every call. */
#define GS_BACKEND_ABI_VERSION 2
/* The oldest backend table this runtime loads. */
#define GS_BACKEND_ABI_MIN 2
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

typedef struct gs_backend_host gs_backend_host;

/* Test-only fault injection (GESSL_FAULT, docs/reliability.md): the failures a backend can be
 * told to produce, each through the path a real driver's failure takes, so that tests show what
 * a user sees when a device runs out of memory, cannot build a program, fails a launch or stops
 * answering. */
typedef enum gs_fault {
  GS_FAULT_NONE = 0,
  GS_FAULT_ALLOC = 1,  /* a buffer allocation fails: out of device memory */
  GS_FAULT_BUILD = 2,  /* building the device's programs (kernels, pipelines) fails */
  GS_FAULT_LAUNCH = 3, /* a program run fails to launch */
  GS_FAULT_HANG = 4    /* a program run never completes: the device stops answering */
} gs_fault;

/* Services the runtime lends a backend context; valid until the context is destroyed. */
struct gs_backend_host {
  uint32_t abi_version; /* GS_BACKEND_ABI_VERSION of the runtime */
  uint32_t struct_size; /* sizeof(gs_backend_host) as the runtime was built */
  /* Records a failure for gs_errmsg() and returns s. `host` is this table. */
  gs_status (*fail)(const gs_backend_host *host, gs_status s, const char *fmt, ...) GS_PRINTF(3, 4);
  /* Prints a warning to the user (stderr), prefixed with the backend's name. */
  void (*warn)(const gs_backend_host *host, const char *fmt, ...) GS_PRINTF(2, 3);
  /* Directory for caches (program binaries, pipeline caches), created if missing; NULL when the
   * cache is off. Backends write cache files atomically (temp file + rename) and treat any cache
   * error as a miss, never as a failure. */
  const char *cache_dir;
  /* Thread count asked for by the user (0 = backend's choice). */
  int threads;

  /* Appended members (a backend tests GS_HAS(host, member) before calling one). */
  /* Seconds one host wait for queued work (buf_read, sync) may last before the device counts as
   * lost: the wait then fails with GS_ERR_BACKEND naming the device and the time, and every later
   * wait of that device fails at once, so a device that stops answering ends the run with a
   * message instead of blocking it for ever. 0: no limit. GESSL_WAIT_TIMEOUT sets it (default
   * 600: far above one step's work on a slow device, well below a user's patience). */
  double (*wait_timeout)(const gs_backend_host *host);
  /* Test-only. A backend asks at every place a fault of kind f can happen: each buffer
   * allocation asks GS_FAULT_ALLOC, each program build GS_FAULT_BUILD, each prog_run
   * GS_FAULT_LAUNCH and then GS_FAULT_HANG. Returns 1 when this one is to fail (GESSL_FAULT
   * names the kind and which occurrence, counted per context), and the backend then fails the
   * way its driver does, saying the fault was injected; else 0. */
  int (*fault)(const gs_backend_host *host, gs_fault f);
};

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

typedef struct gs_backend gs_backend; /* one instance of a backend plugin: its context */
typedef struct gs_bdev gs_bdev;       /* an opened device */
typedef struct gs_bprog gs_bprog;     /* a compiled program */

typedef struct gs_backend_iface {
  uint32_t abi_version; /* GS_BACKEND_ABI_VERSION the plugin was built with */
  uint32_t struct_size; /* sizeof(gs_backend_iface) as the plugin was built */
  const char *name;     /* "cpu", "opencl", "vulkan": what --backend names */
  const char *version;  /* plugin version, free text */

  /* Makes a context that keeps `host` (which outlives it). Cheap: devices are found by probe.
   * Failure: *out untouched, nothing left allocated; the plugin is then refused with the reason. */
  gs_status (*create)(const gs_backend_host *host, gs_backend **out);
  /* Frees a context whose devices are all closed. NULL: nothing. */
  void (*destroy)(gs_backend *be);

  /* Finds the devices once. Returns GS_OK and *n (possibly 0 with a reason in why), or an error
   * with the reason (e.g. "no OpenCL platform") when the backend cannot run at all; *n is then
   * unspecified and why may hold the reason too. */
  gs_status (*probe)(gs_backend *be, int *n, char *why, size_t why_len);
  /* Facts about device `index` (0 <= index < n, after probe). Failure: *info unspecified. */
  gs_status (*device_info)(gs_backend *be, int index, gs_device_info *info);
  /* Opens device `index`. The handle is freed by close. Failure: *out untouched, nothing left
   * open. */
  gs_status (*open)(gs_backend *be, int index, gs_bdev **out);
  /* Waits for the device's work, then frees it. Buffers and programs still alive are the
   * caller's leak, not undefined behaviour. NULL: nothing. */
  void (*close)(gs_bdev *dev);

  /* Whether this device runs the launch: 1 yes, 0 no. The runtime asks only about launches that
   * keep their opcode's contract (gs_launch_check in op.h: operand count, dtypes, shapes,
   * attribute ranges), and hands prog_compile only launches it asked about, so a backend judges
   * its device's limits here (sizes, dispatch limits, dtypes it lacks) and never re-checks the
   * contract. Returns 0 for an opcode the backend does not know, so a newer runtime's opcode is
   * declined rather than misread. */
  int (*supports)(gs_bdev *dev, const gs_launch *l);

  /* Buffers. Sizes and offsets are in bytes here. Contents after alloc are unspecified.
   * alloc failure: *out untouched. free: NULL is nothing. */
  gs_status (*buf_alloc)(gs_bdev *dev, size_t bytes, gs_bbuf **out);
  void (*buf_free)(gs_bdev *dev, gs_bbuf *buf);
  /* Host -> device. Returns once `src` may be reused. A window past the buffer is GS_ERR_INVALID
   * and writes nothing. */
  gs_status (*buf_write)(gs_bdev *dev, gs_bbuf *buf, size_t off, const void *src, size_t bytes);
  /* Device -> host. Waits for all work queued before it; reports a failure of that work. A window
   * past the buffer is GS_ERR_INVALID. After any failure dst's contents are unspecified. */
  gs_status (*buf_read)(gs_bdev *dev, gs_bbuf *buf, size_t off, void *dst, size_t bytes);

  /* Compiles launches[0..n) into a program (kernel selection, argument binding, command
   * recording). Each launch keeps its contract and was accepted by supports(); the backend still
   * checks that every operand's window lies inside its buffer (GS_ERR_INVALID), the one fact the
   * runtime cannot see. The launches array is copied; the buffers it names must outlive the
   * program. Failure: *out untouched, nothing left allocated. */
  gs_status (*prog_compile)(gs_bdev *dev, const gs_launch *launches, size_t n, gs_bprog **out);
  /* Queues one execution of the program, in order after earlier work; may return before it ends.
   * Errors detected later are reported by the next buf_read or sync. */
  gs_status (*prog_run)(gs_bdev *dev, gs_bprog *prog);
  /* Frees a program, waiting first if a run may still use it. NULL: nothing. */
  void (*prog_free)(gs_bdev *dev, gs_bprog *prog);
  /* Waits until all queued work is done; reports the first failure of that work. */
  gs_status (*sync)(gs_bdev *dev);

  /* Appended members (optional: readers test GS_HAS(iface, member)). */
  /* The device's counters since open. */
  void (*counters)(gs_bdev *dev, gs_bcounters *out);
} gs_backend_iface;

/* The exported entry: the plugin's constant table. Called once per load; must not fail but may
 * return NULL when the plugin cannot work at all in this process. */
typedef const gs_backend_iface *(*gs_backend_entry_fn)(void);

#ifdef __cplusplus
}
#endif
#endif
