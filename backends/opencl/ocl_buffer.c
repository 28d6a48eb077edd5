/* Device buffers. A buffer larger than CL_DEVICE_MAX_MEM_ALLOC_SIZE is refused up front, and
 * every new buffer is touched by a fill so that drivers which allocate lazily report a failure
 * here, naming the size, instead of at some later read. */
#include <stdlib.h>
#include <string.h>

#include "ocl_internal.h"

gs_status ocl_new_mem(gs_bdev *dev, size_t bytes, const char *what, cl_mem *out) {
  size_t n = bytes < 4 ? 4 : (bytes + 3) & ~(size_t)3;
  if (dev->max_alloc && n > dev->max_alloc)
    return dev->be->host->fail(dev->be->host, GS_ERR_NOMEM,
                               "opencl: %s of %zu bytes exceeds the largest allocation of %s "
                               "(CL_DEVICE_MAX_MEM_ALLOC_SIZE = %llu bytes)",
                               what, bytes, dev->name, (unsigned long long)dev->max_alloc);
  cl_int e = CL_MEM_OBJECT_ALLOCATION_FAILURE;
  int injected = ocl_fault(dev, GS_FAULT_ALLOC);
  cl_mem m = injected ? NULL : clCreateBuffer(dev->ctx, CL_MEM_READ_WRITE, n, NULL, &e);
  if (e != CL_SUCCESS)
    return dev->be->host->fail(dev->be->host, GS_ERR_NOMEM,
                               "opencl: cannot allocate %s of %zu bytes on %s: %s (%d)%s", what,
                               bytes, dev->name, ocl_err_name(e), (int)e,
                               injected ? " (injected by GESSL_FAULT)" : "");
  const cl_uint zero = 0;
  e = clEnqueueFillBuffer(dev->queue, m, &zero, sizeof zero, 0, n, 0, NULL, NULL);
  if (e != CL_SUCCESS) {
    clReleaseMemObject(m);
    return dev->be->host->fail(dev->be->host, GS_ERR_NOMEM,
                               "opencl: cannot allocate %s of %zu bytes on %s: %s (%d)", what,
                               bytes, dev->name, ocl_err_name(e), (int)e);
  }
  *out = m;
  return GS_OK;
}

gs_status ocl_buf_alloc(gs_bdev *dev, size_t bytes, gs_bbuf **out) {
  gs_bbuf *b = calloc(1, sizeof *b);
  if (!b) return dev->be->host->fail(dev->be->host, GS_ERR_NOMEM, "opencl: out of host memory");
  gs_status s = ocl_new_mem(dev, bytes, "buffer", &b->mem);
  if (s != GS_OK) {
    free(b);
    return s;
  }
  b->bytes = bytes;
  *out = b;
  return GS_OK;
}

void ocl_buf_free(gs_bdev *dev, gs_bbuf *buf) {
  (void)dev;
  if (!buf) return;
  clReleaseMemObject(buf->mem); /* deferred by OpenCL until queued work using it is done */
  free(buf);
}

static gs_status check_range(const gs_bdev *dev, const gs_bbuf *buf, size_t off, size_t bytes,
                             const char *what) {
  if (!buf || off > buf->bytes || bytes > buf->bytes - off)
    return dev->be->host->fail(
        dev->be->host, GS_ERR_INVALID,
        "opencl: %s of %zu bytes at offset %zu outside a buffer of %zu bytes", what, bytes, off,
        buf ? buf->bytes : (size_t)0);
  return GS_OK;
}

static void CL_CALLBACK free_copy(cl_event ev, cl_int status, void *copy) {
  (void)ev;
  (void)status;
  free(copy);
}

/* The caller may reuse src at once (the ABI's promise), yet the host should not wait for the
 * work queued before the write (a blocking write on an in-order queue would): the bytes are
 * copied on the host and written from the copy, which the write's completion frees. */
gs_status ocl_buf_write(gs_bdev *dev, gs_bbuf *buf, size_t off, const void *src, size_t bytes) {
  gs_status s = check_range(dev, buf, off, bytes, "write");
  if (s != GS_OK || bytes == 0) return s;
  dev->cnt.bytes_to_device += bytes;
  void *copy = malloc(bytes);
  cl_event ev = NULL;
  cl_int e = CL_OUT_OF_HOST_MEMORY;
  if (copy) {
    memcpy(copy, src, bytes);
    e = clEnqueueWriteBuffer(dev->queue, buf->mem, CL_FALSE, off, bytes, copy, 0, NULL, &ev);
    if (e == CL_SUCCESS) e = clSetEventCallback(ev, CL_COMPLETE, free_copy, copy);
    if (e == CL_SUCCESS) {
      clReleaseEvent(ev);
      return GS_OK;
    }
  }
  /* No copy or no callback: write blocking from src instead (after the queued write, if any). */
  if (ev) {
    clWaitForEvents(1, &ev);
    clReleaseEvent(ev);
  }
  free(copy);
  dev->cnt.waits++;
  OCL_CHECK(dev->be,
            clEnqueueWriteBuffer(dev->queue, buf->mem, CL_TRUE, off, bytes, src, 0, NULL, NULL),
            "clEnqueueWriteBuffer");
  return GS_OK;
}

gs_status ocl_buf_read(gs_bdev *dev, gs_bbuf *buf, size_t off, void *dst, size_t bytes) {
  gs_status s = check_range(dev, buf, off, bytes, "read");
  if (s != GS_OK) return s;
  dev->cnt.waits++;
  dev->cnt.bytes_from_device += bytes;
  /* The wait (with its time limit) first: the blocking read then finds the queue drained. */
  s = ocl_wait(dev);
  if (s != GS_OK || bytes == 0) return s;
  OCL_CHECK(dev->be,
            clEnqueueReadBuffer(dev->queue, buf->mem, CL_TRUE, off, bytes, dst, 0, NULL, NULL),
            "clEnqueueReadBuffer (or a kernel queued before it)");
  return GS_OK;
}
