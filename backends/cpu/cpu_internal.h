/* Internal interface of the CPU backend: buffer and program layout, the per-opcode kernels and
 * the small helpers they share. Kernels assume a launch that keeps its opcode's contract (the
 * runtime checked it with gs_launch_check) and whose operands lie inside their buffers (checked
 * at compile), so they never validate again on the hot path. */
#ifndef GESSL_CPU_INTERNAL_H
#define GESSL_CPU_INTERNAL_H

#include <gessl/backend.h>
#include <stddef.h>
#include <stdint.h>

#ifdef _OPENMP
#include <omp.h>
#endif

struct gs_bbuf {
  size_t bytes;
  void *data; /* 64-byte aligned */
};

/* The oneDNN fast path (cpu_dnnl.c): a context per opened device, a planned primitive per
 * convolution launch. Without oneDNN at build time, or with GESSL_CPU_DNNL=0, no context is made
 * and every launch takes the plain OpenBLAS path. */
typedef struct cpu_dnnl_ctx cpu_dnnl_ctx;
typedef struct cpu_dnnl_op cpu_dnnl_op;

struct gs_bdev {
  gs_backend *be;
  int threads;
  gs_bcounters cnt;   /* launches run, reads as waits (the host's sync points), bytes copied */
  cpu_dnnl_ctx *dnnl; /* NULL: plain path only */
  int fuse;           /* fuse launch sequences at compile (cpu_fuse.c); not on the reference */
  int lost;           /* a run gave no result within the wait timeout (cpu_fault.c) */
  double lost_after;  /* ... that timeout, in seconds */
};

/* Per-launch plan made at compile time for convolutions: how many images share one GEMM. */
typedef struct cpu_conv_plan {
  int64_t chunk;    /* images per GEMM (1: straight into the output, no staging) */
  int direct;       /* 1x1, stride 1, no padding: the input is its own im2col matrix */
  int threads;      /* > 1: chunks run in parallel, one per thread, each with its own slice */
  size_t slice;     /* workspace floats per thread */
  size_t ws_floats; /* workspace the launch needs */
} cpu_conv_plan;

/* What a fused step runs (cpu_fuse.c). */
typedef enum cpu_fusion {
  CPU_FUSE_SCALE_SHIFT = 1, /* per-channel mul, add [, relu] */
  CPU_FUSE_UPDATES,         /* consecutive optimizer updates (SGD, ADAMW, EMA) */
  CPU_FUSE_BN_RELU_BWD      /* relu gradient, per-channel sums and products of batch norm's */
} cpu_fusion;

typedef struct cpu_step {
  gs_launch l;
  cpu_conv_plan conv;
  cpu_dnnl_op *dnnl; /* the oneDNN primitive running this launch, else NULL */
  int fuse;          /* > 0: this step also runs the next `fuse` launches (cpu_fuse.c) */
  cpu_fusion fkind;  /* ... as this fusion */
} cpu_step;

struct gs_bprog {
  size_t n;
  cpu_step *steps;
  float *ws; /* one workspace for the whole program, sized for its hungriest launch */
  size_t ws_floats;
  cpu_dnnl_ctx *dnnl;
  double *prof; /* GESSL_PROFILE: seconds per launch summed over runs, else NULL */
  long runs;
};

/* Threads used by every parallel loop of the calling thread's current call: set from the device
 * (gs_bdev.threads) on entry to prog_compile and prog_run, so kernels need no context argument
 * and two devices with different thread counts never see each other's. */
extern _Thread_local int cpu_nthreads;

/* GS_OK, or the failure at a place where a fault of kind f can happen (bytes: an allocation's
 * size): GESSL_FAULT's injected one, or that the device was lost earlier (cpu_fault.c). */
gs_status cpu_fault_check(const gs_backend_host *host, gs_bdev *dev, gs_fault f, size_t bytes);

#ifdef GESSL_HAVE_DNNL
/* Whether the oneDNN path is on: built in, and GESSL_CPU_DNNL is not 0 (read once). */
int cpu_dnnl_enabled(void);
cpu_dnnl_ctx *cpu_dnnl_ctx_new(void);
void cpu_dnnl_ctx_free(cpu_dnnl_ctx *c);
/* The primitive for a CONV2D* launch, or NULL when oneDNN does not take it. */
cpu_dnnl_op *cpu_dnnl_conv_plan(cpu_dnnl_ctx *c, const gs_launch *l);
/* Workspace bytes the launch needs (scratchpad and staged layouts). */
size_t cpu_dnnl_op_ws_bytes(const cpu_dnnl_op *op);
/* Runs the launch; 0 when oneDNN reported a failure. */
int cpu_dnnl_run(cpu_dnnl_ctx *c, const cpu_dnnl_op *op, void *ws);
void cpu_dnnl_op_free(cpu_dnnl_op *op);
#else
static inline int cpu_dnnl_enabled(void) { return 0; }
static inline cpu_dnnl_ctx *cpu_dnnl_ctx_new(void) { return NULL; }
static inline void cpu_dnnl_ctx_free(cpu_dnnl_ctx *c) { (void)c; }
static inline cpu_dnnl_op *cpu_dnnl_conv_plan(cpu_dnnl_ctx *c, const gs_launch *l) {
  (void)c, (void)l;
  return NULL;
}
static inline size_t cpu_dnnl_op_ws_bytes(const cpu_dnnl_op *op) {
  (void)op;
  return 0;
}
static inline int cpu_dnnl_run(cpu_dnnl_ctx *c, const cpu_dnnl_op *op, void *ws) {
  (void)c, (void)op, (void)ws;
  return 0;
}
static inline void cpu_dnnl_op_free(cpu_dnnl_op *op) { (void)op; }
#endif

/* Parallel loops: OpenMP when available, with a size gate so tiny launches stay serial. */
#define CPU_PRAGMA_(x) _Pragma(#x)
#ifdef _OPENMP
#define CPU_PAR_FOR(work)                                                                          \
  CPU_PRAGMA_(omp parallel for num_threads(cpu_nthreads) if ((work) > 16384) schedule(static))
#define CPU_PAR_FOR_DYN(work)                                                                      \
  CPU_PRAGMA_(omp parallel for num_threads(cpu_nthreads) if ((work) > 16384) schedule(dynamic, 1))
#else
#define CPU_PAR_FOR(work)
#define CPU_PAR_FOR_DYN(work)
#endif

static inline float *cpu_ptr(gs_bref r) { return (float *)r.buf->data + r.off; }
static inline int32_t *cpu_iptr(gs_bref r) { return (int32_t *)r.buf->data + r.off; }
static inline int64_t cpu_numel(const gs_tdesc *d) { return gs_shape_numel(&d->shape); }

/* GESSL_PROFILE (cpu_profile.c): whether it is set, a monotonic clock, and the report that
 * prog_free prints to stderr. */
int cpu_profile_enabled(void);
double cpu_now(void);
void cpu_profile_report(const gs_bprog *p);

/* Marks fusable launch sequences in a compiled program (cpu_fuse.c), the workspace a step so
 * marked needs, and runs it (s->fuse > 0) with the launches it absorbed. */
void cpu_fuse_plan(cpu_step *steps, size_t n);
size_t cpu_fused_ws_bytes(const cpu_step *s);
void cpu_fused_run(const cpu_step *s, void *ws);
/* The optimizer updates s[0..n) (SGD, ADAMW, EMA; cpu_optim.c) as one parallel pass. */
void cpu_updates(const cpu_step *s, size_t n);

/* Kernels, one per opcode family. */
void cpu_fill(const gs_launch *l);
void cpu_unary(const gs_launch *l);
void cpu_unary_bwd(const gs_launch *l);
void cpu_binary(const gs_launch *l);
void cpu_axpby(const gs_launch *l);
void cpu_expand(const gs_launch *l);
void cpu_reduce(const gs_launch *l);
void cpu_dot(const gs_launch *l);
void cpu_permute(const gs_launch *l);
void cpu_slice(const gs_launch *l);
void cpu_insert(const gs_launch *l);
void cpu_gather_rows(const gs_launch *l);
void cpu_scatter_add_rows(const gs_launch *l);
void cpu_onehot(const gs_launch *l);
void cpu_matmul(const gs_launch *l);
void cpu_conv_make_plan(const gs_launch *l, cpu_conv_plan *p);
void cpu_conv2d(const gs_launch *l, const cpu_conv_plan *p, float *ws);
void cpu_conv2d_bwd_data(const gs_launch *l, const cpu_conv_plan *p, float *ws);
void cpu_conv2d_bwd_filter(const gs_launch *l, const cpu_conv_plan *p, float *ws);
void cpu_maxpool2d(const gs_launch *l);
void cpu_maxpool2d_bwd(const gs_launch *l);
void cpu_avgpool2d(const gs_launch *l);
void cpu_avgpool2d_bwd(const gs_launch *l);

/* C = op(A) op(B) + beta C, row-major, split across the backend's threads (OpenBLAS itself runs
 * single-threaded; see cpu_matmul.c). */
void cpu_gemm(int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
              const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
/* The same on the calling thread only (inside a parallel region). */
void cpu_gemm_serial(int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                     const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
/* cpu_isa.c: OpenBLAS chose kernels below the CPU's AVX2/AVX-512, so GEMMs take oneDNN's sgemm
 * where it is built in. A fact of the process (CPUID, the loaded OpenBLAS), computed on each call
 * so the plugin keeps no state outside its contexts. */
int cpu_blas_weak(void);
/* "" when OpenBLAS's core suits the CPU, else a sentence saying what it chose and what that
 * means. */
void cpu_isa_note(char *out, size_t len);
/* The CPU's ISA and, with oneDNN, its version and the kernels it dispatches. */
void cpu_isa_describe(char *out, size_t len);

/* Puts OpenBLAS in single-threaded mode if someone in the process changed it. */
void cpu_blas_single(void);

/* Broadcast helper shared by BINARY and EXPAND: the output's shape collapsed to at most
 * GS_MAX_RANK dims, with each input's element stride per dim (0 where broadcast). */
typedef struct cpu_bcast {
  int rank;
  int64_t dim[GS_MAX_RANK];
  int64_t st[2][GS_MAX_RANK];
} cpu_bcast;
void cpu_bcast_make(const gs_shape *out, const gs_shape *const *ins, int n_in, cpu_bcast *b);

#endif
