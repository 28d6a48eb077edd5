/* Internal layout of the runtime objects (plugins, devices, params, programs), shared by the
 * loader, the device layer, the param/pset arithmetic and the compiler. Not a public header. */
#ifndef GESSL_RT_IMPL_H
#define GESSL_RT_IMPL_H

#include "gessl/meta.h"
#include "gessl/method.h"
#include "gessl/runtime.h"

/* One file found on the search path, loaded or refused. */
typedef struct rt_plugin {
  char *path;
  char *name; /* "" when refused */
  gs_plugin_kind kind;
  char *why; /* "" unless refused */
  void *handle;
} rt_plugin;

/* A loaded backend: its table, the host services lent to it, its context, the cached probe. */
typedef struct rt_backend {
  const gs_backend_iface *iface;
  gs_backend_host host; /* must stay put: the context keeps the pointer */
  gs_backend *ctx;      /* made by iface->create for this runtime */
  const char *path;
  int probed;
  gs_status probe_status;
  char probe_why[512];
  int n_dev;
  gs_device_info *infos;              /* n_dev entries */
  double wait_timeout_s;              /* GESSL_WAIT_TIMEOUT, lent through host.wait_timeout */
  gs_fault fault;                     /* GESSL_FAULT's kind (GS_FAULT_NONE: off) */
  long fault_at;                      /* ... and which occurrence of it fails, from 1 */
  long fault_seen[GS_FAULT_HANG + 1]; /* occurrences asked about so far, per kind */
} rt_backend;

struct gs_runtime {
  rt_plugin *plugins;
  int n_plugins, cap_plugins;
  rt_backend **backends;
  int n_backends;
  const gs_method_iface **methods;
  int n_methods;
  const gs_meta_iface **metas;
  int n_metas;
  char *cache_dir;
  int threads;
  uint64_t compiles; /* backend programs compiled, by every device (gs_runtime_compile_count) */
};

struct gs_program;

/* Opens a plugin file for loading when it and every directory above it are owned by root or this
 * user and writable by no one else (sticky directories excepted): the descriptor, its canonical
 * path in real (PATH_MAX bytes), or -1 with the reason in why. safe_open.c. */
int rt_open_plugin(const char *path, char *real, char *why, size_t len);
/* dlopen (RTLD_NOW | RTLD_NODELETE | flags) of what rt_open_plugin checked, loaded through its
 * descriptor; NULL with the reason in why. real as above. */
void *rt_dlopen_plugin(const char *path, int flags, char *real, char *why, size_t len);

struct gs_param {
  gs_device *dev;
  char *name;
  gs_shape shape;
  int trainable;
  gs_bbuf *buf;
  size_t bytes;
  struct gs_param *prev, *next; /* the device's list */
};

struct gs_device {
  gs_runtime *rt;
  rt_backend *be;
  const gs_backend_iface *iface;
  gs_bdev *bdev;
  gs_device_info info;
  int index;
  struct gs_param *params;     /* owned, freed at close */
  struct gs_program *programs; /* owned, freed at close */
  size_t param_bytes;
  size_t program_bytes;
  struct rt_pset_prog *pset_progs; /* the parameter-set arithmetic's cached programs */
  int n_pset_progs;
  uint64_t pset_tick;
  int detect_anomaly; /* programs compiled from now on are checked (gs_device_set_detect_anomaly) */
};

/* Probes backend `be` once; later calls return the cached result. */
gs_status rt_backend_probe(rt_backend *be);

/* Allocates a buffer on dev, refusing up front (GS_ERR_NOMEM, naming the device) one that
 * cannot fit in the device's memory beside what the runtime has already placed there. */
gs_status rt_buf_alloc(gs_device *dev, size_t bytes, gs_bbuf **out);

/* Runs launches[0..n) once on dev through a throwaway program and waits for them: the zero fill
 * of a new param, which happens once per param. */
gs_status rt_run_launches(gs_device *dev, const gs_launch *launches, size_t n);

/* The one launch check before a backend sees launches[0..n): each keeps its opcode's contract
 * (gs_launch_check, GS_ERR_INVALID) and dev's backend runs it (supports, GS_ERR_UNSUPPORTED);
 * the message starts with `what` and describes the launch. */
gs_status rt_launch_check(gs_device *dev, const gs_launch *ls, size_t n, const char *what);

/* Counts one backend prog_compile on dev's runtime. */
void rt_count_compile(gs_device *dev);

/* The parameter-set arithmetic (pset_ops.c) over n params per operand: ops holds out[0..n), then
 * x[0..n) and y[0..n) as the kind uses them. Compiled once per (kind, params, fill value) and
 * cached on the device; a and b are the scalars (FILL: a is the value); DOT waits and writes the
 * sum of out[k].x[k] into *dot. */
typedef enum rt_pset_kind {
  RT_PS_COPY,  /* out = x */
  RT_PS_FILL,  /* out = a */
  RT_PS_AXPY,  /* out += a*x */
  RT_PS_AXPBY, /* out = a*x + b*y */
  RT_PS_SCALE, /* out *= a */
  RT_PS_DOT    /* *dot = sum(out . x) */
} rt_pset_kind;
typedef struct rt_pset_prog rt_pset_prog;
gs_status rt_pset_run(gs_device *dev, rt_pset_kind kind, gs_param *const *ops, int n, float a,
                      float b, double *dot, const char *what);
/* Drops the cached programs that name p (before p's buffer is freed). */
void rt_pset_forget(gs_device *dev, const gs_param *p);
void rt_pset_cache_free(gs_device *dev);

/* Removes a program from its device's list (program.c <-> device.c). */
void rt_program_unlink(struct gs_program *prog);
void rt_program_link(gs_device *dev, struct gs_program *prog);

#endif
