/* The OpenCL backend's entry point, and opening a device: context, one in-order queue and the
 * embedded kernel program (from the binary cache when it can). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ocl_internal.h"

/* One kernel per unary and binary function (kernels/elementwise.cl): the names below list them
 * by number, so a new function must be added here and there; the build says so. */
_Static_assert(GS_UN_COUNT == 11 && GS_BIN_COUNT == 8,
               "list the new function's kernels in ocl_kernel_names and elementwise.cl");

const char *const ocl_kernel_names[K_COUNT] = {
    [K_FILL] = "gs_fill",
    [K_UNARY] = "gs_unary_0",
    "gs_unary_1",
    "gs_unary_2",
    "gs_unary_3",
    "gs_unary_4",
    "gs_unary_5",
    "gs_unary_6",
    "gs_unary_7",
    "gs_unary_8",
    "gs_unary_9",
    "gs_unary_10",
    [K_UNARY_BWD] = "gs_unary_bwd_0",
    "gs_unary_bwd_1",
    "gs_unary_bwd_2",
    "gs_unary_bwd_3",
    "gs_unary_bwd_4",
    "gs_unary_bwd_5",
    "gs_unary_bwd_6",
    "gs_unary_bwd_7",
    "gs_unary_bwd_8",
    "gs_unary_bwd_9",
    "gs_unary_bwd_10",
    [K_BINARY] = "gs_binary_0",
    "gs_binary_1",
    "gs_binary_2",
    "gs_binary_3",
    "gs_binary_4",
    "gs_binary_5",
    "gs_binary_6",
    "gs_binary_7",
    [K_BINARY_ND] = "gs_binary_nd_0",
    "gs_binary_nd_1",
    "gs_binary_nd_2",
    "gs_binary_nd_3",
    "gs_binary_nd_4",
    "gs_binary_nd_5",
    "gs_binary_nd_6",
    "gs_binary_nd_7",
    [K_AXPBY] = "gs_axpby",
    [K_COPY_3D] = "gs_copy_3d",
    [K_COPY_ND] = "gs_copy_nd",
    [K_COPY_V8] = "gs_copy_v8",
    [K_TRANSPOSE8] = "gs_transpose8",
    [K_REDUCE] = "gs_reduce",
    [K_REDUCE_ROWS] = "gs_reduce_rows",
    [K_REDUCE_COLS] = "gs_reduce_cols",
    [K_DOT] = "gs_dot",
    [K_GATHER] = "gs_gather_rows",
    [K_SCATTER] = "gs_scatter_add_rows",
    [K_ONEHOT] = "gs_onehot",
    [K_IM2COL] = "gs_im2col",
    [K_IM2COL_3X3] = "gs_im2col_3x3",
    [K_IM2COL_ROWS] = "gs_im2col_rows",
    [K_IM2COL_ROWS_3X3] = "gs_im2col_rows_3x3",
    [K_COL2IM] = "gs_col2im",
    [K_COL2IM_3X3S1] = "gs_col2im_3x3s1",
    [K_IM2COL_3X3_V8] = "gs_im2col_3x3_v8",
    [K_COL2IM_3X3_V8] = "gs_col2im_3x3_v8",
    [K_IM2COL_ROWS_3X3_V8] = "gs_im2col_rows_3x3_v8",
    [K_SUM_PARTS] = "gs_sum_parts",
    [K_GEMM] = "gs_gemm",
    [K_MAXPOOL] = "gs_maxpool",
    [K_MAXPOOL_BWD] = "gs_maxpool_bwd",
    [K_MAXPOOL_BWD_TILED] = "gs_maxpool_bwd_tiled",
    [K_MAXPOOL_2X2] = "gs_maxpool_2x2",
    [K_MAXPOOL_BWD_2X2] = "gs_maxpool_bwd_2x2",
    [K_MAXPOOL_2X2_X8] = "gs_maxpool_2x2_x8",
    [K_MAXPOOL_BWD_2X2_X8] = "gs_maxpool_bwd_2x2_x8",
    [K_AVGPOOL] = "gs_avgpool",
    [K_AVGPOOL_BWD] = "gs_avgpool_bwd",
    [K_SGD] = "gs_sgd",
    [K_ADAMW] = "gs_adamw",
    [K_EMA] = "gs_ema",
};

static void ocl_close(gs_bdev *dev) {
  if (!dev) return;
  if (dev->lost) {
    /* A device that stopped answering keeps its queue, program and context, on purpose: work
     * still queued holds them, and releasing them could wait for that work for ever or race the
     * driver's own threads when it does run (Mesa 22.3's rusticl aborted in free() when a stalled
     * queue drained during close). The process is done with the device. */
    free(dev);
    return;
  }
  ocl_fault_release(dev); /* an injected hang that no wait reached: let the queue drain */
  if (dev->queue) {
    clFinish(dev->queue);
    clReleaseCommandQueue(dev->queue);
  }
  if (dev->program) clReleaseProgram(dev->program);
  if (dev->ctx) clReleaseContext(dev->ctx);
  free(dev);
}

/* Work-group limits of every kernel, queried once so launches never assume a size. */
static gs_status query_kernels(gs_bdev *dev) {
  for (int k = 0; k < K_COUNT; k++) {
    cl_int e;
    cl_kernel kn = clCreateKernel(dev->program, ocl_kernel_names[k], &e);
    OCL_CHECK(dev->be, e, "clCreateKernel");
    size_t mult = 1;
    e = clGetKernelWorkGroupInfo(kn, dev->device, CL_KERNEL_WORK_GROUP_SIZE,
                                 sizeof dev->kernel_wg[k], &dev->kernel_wg[k], NULL);
    if (e == CL_SUCCESS && k == K_FILL)
      e = clGetKernelWorkGroupInfo(kn, dev->device, CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE,
                                   sizeof mult, &mult, NULL);
    clReleaseKernel(kn);
    OCL_CHECK(dev->be, e, "clGetKernelWorkGroupInfo");
    if (k == K_FILL) dev->wg_multiple = mult;
  }
  return GS_OK;
}

static gs_status ocl_open(gs_backend *be, int index, gs_bdev **out) {
  ocl_devrec r = {0};
  gs_status s = ocl_lookup(be, index, &r);
  if (s != GS_OK) return s;
  gs_bdev *dev = calloc(1, sizeof *dev);
  if (!dev) return be->host->fail(be->host, GS_ERR_NOMEM, "opencl: out of host memory");
  dev->be = be;
  dev->platform = r.platform;
  dev->device = r.device;
  cl_ulong lmem = 0, maxalloc = 0;
  cl_int e;
  if ((s = ocl_str_info(be, r.device, CL_DEVICE_NAME, dev->name, sizeof dev->name)) != GS_OK)
    goto fail;
  e = clGetDeviceInfo(r.device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof lmem, &lmem, NULL);
  if (e == CL_SUCCESS)
    e = clGetDeviceInfo(r.device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof maxalloc, &maxalloc, NULL);
  if (e != CL_SUCCESS) {
    s = ocl_fail(be, e, "clGetDeviceInfo");
    goto fail;
  }
  const char *prof = getenv("GESSL_PROFILE");
  dev->profile = prof && *prof && strcmp(prof, "0") != 0;
  /* GEMMs: CLBlast's tuned kernels, except on PoCL's CPU devices, where the gs_gemm kernel
   * measured several times faster than CLBlast. Not on every CPU device: on Mesa's rusticl
   * (llvmpipe) the same kernel took twice CLBlast's time (BENCHMARKS.md).
   * GESSL_OPENCL_GEMM=clblast|kernel overrides, to compare the two on one device. */
  cl_device_type dtype = CL_DEVICE_TYPE_GPU;
  clGetDeviceInfo(r.device, CL_DEVICE_TYPE, sizeof dtype, &dtype, NULL);
  char pname[128] = "";
  clGetPlatformInfo(r.platform, CL_PLATFORM_NAME, sizeof pname, pname, NULL);
  dev->cpu = (dtype & CL_DEVICE_TYPE_CPU) != 0;
  int pocl_cpu = dev->cpu && strstr(pname, "Portable Computing Language");
  const char *gemm = getenv("GESSL_OPENCL_GEMM");
  dev->use_clblast = gemm && *gemm ? strcmp(gemm, "clblast") == 0 : !pocl_cpu;
  dev->local_mem = (size_t)lmem;
  dev->max_alloc = maxalloc;
  cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)r.platform, 0};
  dev->ctx = clCreateContext(props, 1, &r.device, NULL, NULL, &e);
  if (e != CL_SUCCESS) {
    s = ocl_fail(be, e, "clCreateContext");
    goto fail;
  }
  dev->queue = clCreateCommandQueue(dev->ctx, r.device, 0, &e); /* in order */
  if (e != CL_SUCCESS) {
    s = ocl_fail(be, e, "clCreateCommandQueue");
    goto fail;
  }
  if ((s = ocl_build_program(dev)) != GS_OK || (s = query_kernels(dev)) != GS_OK) goto fail;
  *out = dev;
  return GS_OK;
fail:
  ocl_close(dev);
  return s;
}

static gs_status ocl_sync(gs_bdev *dev) {
  dev->cnt.waits++;
  return ocl_wait(dev);
}

static void ocl_counters(gs_bdev *dev, gs_bcounters *out) { *out = dev->cnt; }

static gs_status ocl_create(const gs_backend_host *host, gs_backend **out) {
  gs_backend *be = calloc(1, sizeof *be);
  if (!be) return host->fail(host, GS_ERR_NOMEM, "opencl: out of host memory");
  be->host = host;
  be->ndev = -1;
  *out = be;
  return GS_OK;
}

static void ocl_destroy(gs_backend *be) { free(be); }

double ocl_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const gs_backend_iface ocl_iface = {
    .abi_version = GS_BACKEND_ABI_VERSION,
    .struct_size = sizeof(gs_backend_iface),
    .name = "opencl",
    .version = "0.1.0 (OpenCL 1.2 kernels, CLBlast GEMM)",
    .create = ocl_create,
    .destroy = ocl_destroy,
    .probe = ocl_probe,
    .device_info = ocl_device_info,
    .open = ocl_open,
    .close = ocl_close,
    .supports = ocl_supports,
    .buf_alloc = ocl_buf_alloc,
    .buf_free = ocl_buf_free,
    .buf_write = ocl_buf_write,
    .buf_read = ocl_buf_read,
    .prog_compile = ocl_prog_compile,
    .prog_run = ocl_prog_run,
    .prog_free = ocl_prog_free,
    .sync = ocl_sync,
    .counters = ocl_counters,
};

GS_API const gs_backend_iface *gessl_backend_entry(void);
const gs_backend_iface *gessl_backend_entry(void) { return &ocl_iface; }
