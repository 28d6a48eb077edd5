/* gessl — plugins, devices, persistent tensors, compiled programs.
 *
 * The life of a computation:
 *   rt  = gs_runtime_open(NULL);                 loads every plugin on the search path
 *   dev = gs_device_open(rt, "opencl:1");        opens a device of a backend
 *   p   = gs_param_new(dev, "fc.weight", ...);   persistent tensors live on the device
 *   g   = gs_graph_new(); ... build ...          graph.h
 *   prog = gs_compile(dev, g, outs, n);          order, memory plan, backend preparation
 *   loop: gs_program_feed(...); gs_program_run(prog); gs_program_fetch(...);
 * A program never rebuilds or reallocates between runs; runs are asynchronous until a fetch.
 *
 * Ownership: the runtime owns plugins, a device owns its params and programs (freed at
 * gs_device_close if not freed before), a program does not own the graph it was compiled from
 * (the graph may be freed right after gs_compile). */
#ifndef GESSL_RUNTIME_H
#define GESSL_RUNTIME_H

#include "backend.h"
#include "graph.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GESSL_VERSION "0.1.0"

typedef struct gs_runtime gs_runtime;
typedef struct gs_device gs_device;
typedef struct gs_program gs_program;

/* ---- Runtime and plugins ---- */

typedef struct gs_runtime_options {
  /* Extra plugin directories (':'-separated), searched before GESSL_PLUGIN_PATH, the directory
   * beside the executable (../lib/gessl relative to it, then itself) and the install directory.
   * An entry naming a file (".so") loads that file. NULL for none. */
  const char *plugin_path;
  int threads;           /* CPU threads for backends that use them; 0 = all cores */
  const char *cache_dir; /* NULL: $GESSL_CACHE_DIR, else $XDG_CACHE_HOME/gessl, ~/.cache/gessl */
} gs_runtime_options;

typedef enum gs_plugin_kind {
  GS_PLUGIN_BACKEND = 0,
  GS_PLUGIN_METHOD = 1,
  GS_PLUGIN_META = 2,
  GS_PLUGIN_REFUSED = 3 /* could not be loaded; `why` says why */
} gs_plugin_kind;

typedef struct gs_plugin_info {
  const char *path;
  const char *name; /* "cpu", "simclr", "gessl"; "" when refused */
  gs_plugin_kind kind;
  const char *why; /* reason for refusal, "" otherwise */
} gs_plugin_info;

/* Loads every plugin found on the search path. A plugin that fails to load (missing entry
 * symbol, wrong ABI version, failing init, dlopen error) is listed as refused with a message
 * naming the file and the reason; the others load. NULL opt = defaults. Fails only when out of
 * memory. */
GS_API gs_runtime *gs_runtime_open(const gs_runtime_options *opt);
GS_API void gs_runtime_close(gs_runtime *rt);
GS_API int gs_runtime_plugin_count(const gs_runtime *rt);
GS_API gs_plugin_info gs_runtime_plugin(const gs_runtime *rt, int i);

/* Backends that loaded, in search order (the first of a name wins). */
GS_API int gs_runtime_backend_count(const gs_runtime *rt);
GS_API const gs_backend_iface *gs_runtime_backend(const gs_runtime *rt, int i);
/* The context the runtime made for backend i (what its table's probe, device_info and open
 * take), for callers that drive a backend table directly: the conformance runner, benchmarks.
 * Owned by the runtime. */
GS_API gs_backend *gs_runtime_backend_context(const gs_runtime *rt, int i);
/* Index of the backend loaded from the plugin file `path` (as named in plugin_path), or -1 with
 * the reason (refused and why, not a backend, not loaded) via gs_errmsg(). */
GS_API int gs_runtime_backend_from(const gs_runtime *rt, const char *path);
/* Devices of backend i: *n devices, or an error whose message is the reason it is unavailable
 * ("no OpenCL platform"). Probing happens once and is cached. */
GS_API gs_status gs_runtime_devices(gs_runtime *rt, int i, int *n);
GS_API gs_status gs_runtime_device_info(gs_runtime *rt, int i, int dev, gs_device_info *info);

/* The method / meta-optimizer plugin of that name, or NULL (message via gs_errmsg listing the
 * names that exist). Defined in method.h and meta.h. */
struct gs_method_iface;
struct gs_meta_iface;
GS_API const struct gs_method_iface *gs_runtime_method(const gs_runtime *rt, const char *name);
GS_API const struct gs_meta_iface *gs_runtime_meta(const gs_runtime *rt, const char *name);
GS_API int gs_runtime_method_count(const gs_runtime *rt);
GS_API const struct gs_method_iface *gs_runtime_method_at(const gs_runtime *rt, int i);
GS_API int gs_runtime_meta_count(const gs_runtime *rt);
GS_API const struct gs_meta_iface *gs_runtime_meta_at(const gs_runtime *rt, int i);

/* ---- Devices ---- */

/* spec: "cpu", "opencl", "opencl:N" (index among that backend's devices), "opencl:NAME"
 * (case-insensitive substring of vendor or device name), likewise "vulkan...". A bare backend
 * name picks its first discrete GPU, else integrated GPU, else first available device. */
GS_API gs_device *gs_device_open(gs_runtime *rt, const char *spec);
GS_API void gs_device_close(gs_device *dev);
GS_API const gs_device_info *gs_device_get_info(const gs_device *dev);
/* "cpu", "discrete gpu", "integrated gpu", "accelerator", "other". */
GS_API const char *gs_device_type_name(gs_device_type t);
GS_API const char *gs_device_backend_name(const gs_device *dev);
/* Waits for all queued work. */
GS_API gs_status gs_device_sync(gs_device *dev);
/* A debug mode (`gessl train --detect-anomaly`): every program compiled on dev while it is on
 * runs node by node and reads each computed value back, on any backend; the first value that
 * holds a NaN or an Inf fails gs_program_run with GS_ERR_NUMERIC and a message naming the op, its
 * node, whether it is forward, backward (and the op it differentiates) or a parameter update, and
 * the layer whose parameter it reads. Programs compiled before keep their mode. Slow: one backend
 * program and one read-back per node. */
GS_API void gs_device_set_detect_anomaly(gs_device *dev, int on);
/* Bytes held in params and programs' plans on this device. */
GS_API size_t gs_device_bytes_in_use(const gs_device *dev);
/* The backend's counters since the device opened (backend.h gs_bcounters); all zero when the
 * backend does not count. */
GS_API gs_bcounters gs_device_counters(const gs_device *dev);
/* after - before as one line: "412 launches, 1 waits, 1.5 MB to / 4 B from the device; device
 * time 612.0 ms: conv 71%, gemm 12%, ..." (the time part only when seconds were measured). */
GS_API void gs_counters_format(const gs_bcounters *before, const gs_bcounters *after, char *buf,
                               size_t len);
/* Backend programs compiled so far by every device of rt: graph programs, the parameter-set
 * arithmetic's cached programs and new params' one-time fills. Steady-state training compiles
 * nothing, so this stays flat after the first step. */
GS_API uint64_t gs_runtime_compile_count(const gs_runtime *rt);

/* ---- Persistent tensors ---- */

/* A device tensor that outlives programs: weights, optimizer moments, EMA teachers, running
 * statistics, queues. `trainable` ones are what gs_grad differentiates with respect to by
 * default in the training loop. Zero-filled at creation. Freed by gs_param_free or with the
 * device. */
GS_API gs_param *gs_param_new(gs_device *dev, const char *name, gs_shape shape, int trainable);
GS_API void gs_param_free(gs_param *p);
GS_API const char *gs_param_name(const gs_param *p);
GS_API gs_shape gs_param_shape(const gs_param *p);
GS_API int gs_param_trainable(const gs_param *p);
GS_API gs_device *gs_param_device(const gs_param *p);
/* Host <-> device copies of the whole tensor (numel f32 values). */
GS_API gs_status gs_param_write(gs_param *p, const float *src);
GS_API gs_status gs_param_read(gs_param *p, float *dst);
GS_API gs_status gs_param_fill(gs_param *p, float value);

/* ---- Parameter sets: ordered lists of params, and the device-side arithmetic that optimizers,
 * EMA teachers and the meta-optimizer are made of. The set does not own its params. ---- */

GS_API gs_pset *gs_pset_new(void);
GS_API void gs_pset_free(gs_pset *s);
GS_API gs_status gs_pset_add(gs_pset *s, gs_param *p);
/* Appends every param of `from` (a model's params to a method's list, say). */
GS_API gs_status gs_pset_extend(gs_pset *s, const gs_pset *from);
GS_API int gs_pset_count(const gs_pset *s);
GS_API gs_param *gs_pset_get(const gs_pset *s, int i);
/* Total number of elements. */
GS_API int64_t gs_pset_numel(const gs_pset *s);
/* New params with the same shapes on the same device, named name+suffix, zero-filled
 * (copy_values: copies src's values). The returned set owns nothing either: free the params with
 * gs_pset_free_params. */
GS_API gs_pset *gs_pset_clone(const gs_pset *src, const char *suffix, int copy_values);
/* Frees every param of the set, then the set. */
GS_API void gs_pset_free_params(gs_pset *s);
/* Element-wise over matching params (same count and shapes, else GS_ERR_SHAPE). The sets are
 * const because only the values of their tensors change, so the const sets that models and
 * heads hand out (gs_model_params) can be written directly. */
GS_API gs_status gs_pset_copy(const gs_pset *dst, const gs_pset *src);      /* dst = src */
GS_API gs_status gs_pset_axpy(const gs_pset *y, float a, const gs_pset *x); /* y += a*x */
GS_API gs_status gs_pset_axpby(const gs_pset *y, float a, const gs_pset *x,
                               float b);                   /* y = a*x+b*y */
GS_API gs_status gs_pset_scale(const gs_pset *x, float a); /* x *= a */
GS_API gs_status gs_pset_fill(const gs_pset *x, float v);
/* sum over params of <a, b>; the host waits for the result. */
GS_API gs_status gs_pset_dot(const gs_pset *a, const gs_pset *b, double *out);
GS_API gs_status gs_pset_norm(const gs_pset *a, double *out);

/* ---- Programs ---- */

/* Compiles every node needed for `outputs` and every sink of g (assign/EMA/optimizer updates)
 * for `dev`: topological order, liveness-based reuse of intermediate buffers, lowering to the
 * backend's launches, backend preparation. Fails (NULL, message) if the graph has an error, a
 * param of another device, or an op the backend does not support (naming it). */
GS_API gs_program *gs_compile(gs_device *dev, gs_graph *g, gs_tensor *const *outputs,
                              int n_outputs);
GS_API void gs_program_free(gs_program *prog);
/* Copies numel*4 bytes from data into the input node (or the input called `name`). The data is
 * not referenced after return. An input never fed holds zeros. */
GS_API gs_status gs_program_feed(gs_program *prog, const gs_tensor *input, const void *data);
GS_API gs_status gs_program_feed_name(gs_program *prog, const char *name, const void *data);
/* Whether the program has an input of that name (programs drop inputs nothing depends on). */
GS_API int gs_program_has_input(const gs_program *prog, const char *name);
/* Queues one run. */
GS_API gs_status gs_program_run(gs_program *prog);
/* Waits, then copies an output's numel*4 bytes to dst. `out` must be one of the outputs given
 * to gs_compile. */
GS_API gs_status gs_program_fetch(gs_program *prog, const gs_tensor *out, void *dst);
/* Planned peak bytes of intermediate storage (the arena), excluding params and inputs. */
GS_API size_t gs_program_peak_bytes(const gs_program *prog);
/* Bytes the intermediates would take without reuse (for reporting the plan's gain). */
GS_API size_t gs_program_naive_bytes(const gs_program *prog);
GS_API size_t gs_program_launch_count(const gs_program *prog);

#ifdef __cplusplus
}
#endif
#endif
