/* Waiting for the device with a time limit, and the faults GESSL_FAULT injects (gs_backend_host
 * .fault). clFinish and blocking reads wait for ever, so a device that stops answering would
 * hang the run: a wait instead enqueues a marker and sleeps on a condition variable that the
 * marker's completion callback signals, until the host's wait timeout. A device that misses it
 * is lost: every later wait fails at once, and close leaves it alone. The injected hang is a
 * barrier on a user event that is never set once a wait has given up on it: the device then
 * stays lost as a real one would. */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "ocl_internal.h"

/* Shared by the waiting thread and the completion callback; the last of the two frees it, since
 * a wait that timed out returns before the callback runs (if it ever does). */
typedef struct waiter {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done, refs;
  cl_int status;
} waiter;

static void waiter_release(waiter *w) {
  pthread_mutex_lock(&w->mu);
  int last = --w->refs == 0;
  pthread_mutex_unlock(&w->mu);
  if (!last) return;
  pthread_cond_destroy(&w->cv);
  pthread_mutex_destroy(&w->mu);
  free(w);
}

static void CL_CALLBACK on_complete(cl_event ev, cl_int status, void *user) {
  (void)ev;
  waiter *w = user;
  pthread_mutex_lock(&w->mu);
  w->done = 1;
  w->status = status;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
  waiter_release(w);
}

static waiter *waiter_new(void) {
  waiter *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  int ok = pthread_mutex_init(&w->mu, NULL) == 0;
  if (ok && pthread_cond_init(&w->cv, &ca) != 0) {
    pthread_mutex_destroy(&w->mu);
    ok = 0;
  }
  pthread_condattr_destroy(&ca);
  if (!ok) {
    free(w);
    return NULL;
  }
  w->refs = 2; /* the waiting thread and the callback */
  return w;
}

static gs_status lost(const gs_bdev *dev) {
  return dev->be->host->fail(
      dev->be->host, GS_ERR_BACKEND,
      "opencl: %s stopped answering earlier (no result in %g s, GESSL_WAIT_TIMEOUT)", dev->name,
      dev->lost_after);
}

static double timeout_of(const gs_bdev *dev) {
  const gs_backend_host *h = dev->be->host;
  return GS_HAS(h, wait_timeout) ? h->wait_timeout(h) : 0.0;
}

gs_status ocl_wait(gs_bdev *dev) {
  if (dev->lost) return lost(dev);
  double limit = timeout_of(dev);
  if (limit <= 0.0) {
    OCL_CHECK(dev->be, clFinish(dev->queue), "clFinish");
    return GS_OK;
  }
  cl_event ev;
  OCL_CHECK(dev->be, clEnqueueMarkerWithWaitList(dev->queue, 0, NULL, &ev),
            "clEnqueueMarkerWithWaitList");
  cl_int e = clFlush(dev->queue);
  waiter *w = e == CL_SUCCESS ? waiter_new() : NULL;
  if (w && clSetEventCallback(ev, CL_COMPLETE, on_complete, w) != CL_SUCCESS) {
    w->refs = 1;
    waiter_release(w);
    w = NULL;
  }
  if (!w) { /* no way to wait with a limit: wait without one */
    e = clWaitForEvents(1, &ev);
    clReleaseEvent(ev);
    return e == CL_SUCCESS ? GS_OK : ocl_fail(dev->be, e, "clWaitForEvents");
  }
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  double whole = (double)(time_t)limit;
  until.tv_sec += (time_t)limit;
  until.tv_nsec += (long)((limit - whole) * 1e9);
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&w->mu);
  while (!w->done && pthread_cond_timedwait(&w->cv, &w->mu, &until) == 0) {
  }
  int done = w->done;
  cl_int status = w->status;
  pthread_mutex_unlock(&w->mu);
  waiter_release(w);
  clReleaseEvent(ev);
  if (!done) {
    dev->lost = 1;
    dev->lost_after = limit;
    return dev->be->host->fail(
        dev->be->host, GS_ERR_BACKEND,
        "opencl: %s gave no result in %g s (GESSL_WAIT_TIMEOUT): the device stopped "
        "answering%s",
        dev->name, limit, dev->stall ? " (injected by GESSL_FAULT)" : "");
  }
  /* A negative status: a command queued before the marker failed. */
  return status < 0 ? ocl_fail(dev->be, status, "a kernel queued before the wait") : GS_OK;
}

int ocl_fault(const gs_bdev *dev, gs_fault f) {
  const gs_backend_host *h = dev->be->host;
  return GS_HAS(h, fault) && h->fault(h, f);
}

gs_status ocl_fault_run(gs_bdev *dev) {
  if (dev->lost) return lost(dev);
  if (ocl_fault(dev, GS_FAULT_LAUNCH))
    return ocl_fail(dev->be, CL_OUT_OF_RESOURCES,
                    "clEnqueueNDRangeKernel (injected by GESSL_FAULT)");
  if (!dev->stall && ocl_fault(dev, GS_FAULT_HANG)) {
    cl_int e;
    dev->stall = clCreateUserEvent(dev->ctx, &e);
    if (e == CL_SUCCESS) e = clEnqueueBarrierWithWaitList(dev->queue, 1, &dev->stall, NULL);
    if (e != CL_SUCCESS) return ocl_fail(dev->be, e, "GESSL_FAULT=hang: the stalling barrier");
  }
  return GS_OK;
}

void ocl_fault_release(gs_bdev *dev) {
  if (!dev->stall) return;
  clSetUserEventStatus(dev->stall, CL_COMPLETE);
  clReleaseEvent(dev->stall);
  dev->stall = NULL;
}
