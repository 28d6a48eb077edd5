/* Internal interfaces of the OpenCL backend plugin. */
#ifndef GESSL_OCL_INTERNAL_H
#define GESSL_OCL_INTERNAL_H

#include <CL/cl.h>
#include <stddef.h>
#include <stdint.h>

#include "gessl/backend.h"

/* Every kernel of the embedded program; index = enum value. */
typedef enum ocl_kname {
  K_FILL,
  K_UNARY, /* gs_unary_0 .. gs_unary_10, in gs_unary's order */
  K_UNARY_BWD = K_UNARY + GS_UN_COUNT,
  K_BINARY = K_UNARY_BWD + GS_UN_COUNT,  /* gs_binary_0 .. gs_binary_7 */
  K_BINARY_ND = K_BINARY + GS_BIN_COUNT, /* gs_binary_nd_0 .. gs_binary_nd_7 */
  K_AXPBY = K_BINARY_ND + GS_BIN_COUNT,
  K_COPY_3D,
  K_COPY_ND,
  K_COPY_V8,
  K_TRANSPOSE8,
  K_REDUCE,
  K_REDUCE_ROWS,
  K_REDUCE_COLS,
  K_DOT,
  K_GATHER,
  K_SCATTER,
  K_ONEHOT,
  K_IM2COL,
  K_IM2COL_3X3,
  K_IM2COL_ROWS,
  K_IM2COL_ROWS_3X3,
  K_COL2IM,
  K_COL2IM_3X3S1,
  K_IM2COL_3X3_V8,
  K_COL2IM_3X3_V8,
  K_IM2COL_ROWS_3X3_V8,
  K_SUM_PARTS,
  K_GEMM,
  K_MAXPOOL,
  K_MAXPOOL_BWD,
  K_MAXPOOL_BWD_TILED,
  K_MAXPOOL_2X2,
  K_MAXPOOL_BWD_2X2,
  K_MAXPOOL_2X2_X8,
  K_MAXPOOL_BWD_2X2_X8,
  K_AVGPOOL,
  K_AVGPOOL_BWD,
  K_SGD,
  K_ADAMW,
  K_EMA,
  K_COUNT
} ocl_kname;
extern const char *const ocl_kernel_names[K_COUNT];

/* A device found by probe. */
typedef struct ocl_devrec {
  cl_platform_id platform;
  cl_device_id device;
} ocl_devrec;

#define OCL_MAX_DEVICES 64

/* The plugin's context: what the host lent, the devices probe found, the binary cache state. */
struct gs_backend {
  const gs_backend_host *host;
  ocl_devrec devs[OCL_MAX_DEVICES];
  int ndev;          /* -1 before probe */
  int cache_off;     /* set after the first failed cache write */
  int source_builds; /* programs compiled from source by this context */
};

struct gs_bdev {
  gs_backend *be;
  cl_platform_id platform;
  cl_device_id device;
  cl_context ctx;
  cl_command_queue queue;
  cl_program program;
  size_t kernel_wg[K_COUNT]; /* CL_KERNEL_WORK_GROUP_SIZE per kernel */
  size_t wg_multiple;        /* CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE */
  size_t local_mem;          /* CL_DEVICE_LOCAL_MEM_SIZE */
  uint64_t max_alloc;
  char name[128];
  int source_builds; /* programs compiled from source since open (0 on a cache hit) */
  int profile;       /* GESSL_PROFILE: each step is timed (and so waited for) */
  int use_clblast;   /* GEMMs through CLBlast (GPUs) rather than the gs_gemm kernel */
  int cpu;           /* a CPU device: one lane streams a run of memory best (reductions) */
  gs_bcounters cnt;
  int lost;          /* a wait timed out: later waits fail at once, close leaves it alone */
  double lost_after; /* ... that timeout, in seconds */
  cl_event stall;    /* GESSL_FAULT=hang: the user event the queue waits on, never set */
};

struct gs_bbuf {
  cl_mem mem;
  size_t bytes;
};

/* Error helpers: the message names the call and the OpenCL error. */
const char *ocl_err_name(cl_int e);
gs_status ocl_fail(const gs_backend *be, cl_int e, const char *what);
#define OCL_CHECK(be, call, what)                                                                  \
  do {                                                                                             \
    cl_int e_ = (call);                                                                            \
    if (e_ != CL_SUCCESS) return ocl_fail(be, e_, what);                                           \
  } while (0)

/* Waits for all queued work, within the host's wait timeout (ocl_fault.c); a failed command or
 * a device that stopped answering is the error. */
gs_status ocl_wait(gs_bdev *dev);
/* 1 when this occurrence of fault f is the one GESSL_FAULT injects. */
int ocl_fault(const gs_bdev *dev, gs_fault f);
/* At the start of prog_run: the device lost earlier, or an injected failed launch, or the
 * injected hang (the queue stalls from here). */
gs_status ocl_fault_run(gs_bdev *dev);
/* At close of a device no wait gave up on: lets a stalled queue drain. */
void ocl_fault_release(gs_bdev *dev);

/* Device enumeration (ocl_device.c). */
gs_status ocl_probe(gs_backend *be, int *n, char *why, size_t why_len);
gs_status ocl_device_info(gs_backend *be, int index, gs_device_info *info);
gs_status ocl_lookup(gs_backend *be, int index, ocl_devrec *rec);
gs_status ocl_str_info(const gs_backend *be, cl_device_id d, cl_device_info what, char *buf,
                       size_t len);
void ocl_plat_str(cl_platform_id p, cl_platform_info what, char *buf, size_t len);

/* Builds the embedded program for dev, through the binary cache (ocl_cache.c). */
gs_status ocl_build_program(gs_bdev *dev);

/* Buffers (ocl_buffer.c). */
gs_status ocl_buf_alloc(gs_bdev *dev, size_t bytes, gs_bbuf **out);
void ocl_buf_free(gs_bdev *dev, gs_bbuf *buf);
gs_status ocl_buf_write(gs_bdev *dev, gs_bbuf *buf, size_t off, const void *src, size_t bytes);
gs_status ocl_buf_read(gs_bdev *dev, gs_bbuf *buf, size_t off, void *dst, size_t bytes);
gs_status ocl_new_mem(gs_bdev *dev, size_t bytes, const char *what, cl_mem *out);

/* Wall-clock seconds (profiling). */
double ocl_now(void);

/* Programs (ocl_prog.c). */
int ocl_supports(gs_bdev *dev, const gs_launch *l);
gs_status ocl_prog_compile(gs_bdev *dev, const gs_launch *launches, size_t n, gs_bprog **out);
gs_status ocl_prog_run(gs_bdev *dev, gs_bprog *prog);
void ocl_prog_free(gs_bdev *dev, gs_bprog *prog);

/* One GEMM of a program, row-major, run by CLBlast (ocl_gemm.c); batch > 1 makes it a strided
 * batch (element strides sa, sb, sc). */
typedef struct ocl_gemm {
  int ta, tb;
  size_t m, n, k;
  cl_mem a, b, c;
  size_t aoff, lda, boff, ldb, coff, ldc;
  float beta;
  size_t batch, sa, sb, sc;
} ocl_gemm;
/* Bytes of temporary buffer CLBlast needs for g (0 if none). */
gs_status ocl_gemm_temp_size(gs_bdev *dev, const ocl_gemm *g, size_t *bytes);
/* Enqueues g with the caller's temporary buffer (may be NULL when the size was 0). */
gs_status ocl_gemm_run(gs_bdev *dev, const ocl_gemm *g, cl_mem temp);

#endif
