/* Faults of the CPU "device" (gs_backend_host.fault, GESSL_FAULT): the injected failures take
 * the paths a real one would (malloc returning NULL, a build or a launch that fails), and a
 * device that stops answering is a program run that does not finish. Work runs synchronously on
 * the caller's thread here, so the run itself is what waits: the injected stall lasts until the
 * host's wait timeout and then fails naming the time, and the device stays lost. (A kernel that
 * loops for ever on this thread could not be stopped that way; none of the CPU kernels waits on
 * anything but the CPU.) */
#include <time.h>

#include "cpu_internal.h"

static int hit(const gs_backend_host *host, gs_fault f) {
  return GS_HAS(host, fault) && host->fault(host, f);
}

gs_status cpu_fault_check(const gs_backend_host *host, gs_bdev *dev, gs_fault f, size_t bytes) {
  if (dev->lost)
    return host->fail(host, GS_ERR_BACKEND,
                      "cpu: the device stopped answering earlier (no result in %g s)",
                      dev->lost_after);
  if (!hit(host, f)) return GS_OK;
  switch (f) {
  case GS_FAULT_ALLOC:
    return host->fail(host, GS_ERR_NOMEM,
                      "cpu: buffer of %zu bytes: out of memory (injected by GESSL_FAULT)", bytes);
  case GS_FAULT_BUILD:
    return host->fail(host, GS_ERR_BACKEND,
                      "cpu: compile: the program's build failed (injected by GESSL_FAULT)");
  case GS_FAULT_LAUNCH:
    return host->fail(host, GS_ERR_BACKEND, "cpu: run: launch 0 failed (injected by GESSL_FAULT)");
  case GS_FAULT_HANG: break;
  case GS_FAULT_NONE: return GS_OK;
  }
  /* The run never finishes: it is given up once the wait timeout has passed (0: never). */
  double limit = GS_HAS(host, wait_timeout) ? host->wait_timeout(host) : 0.0;
  double t0 = cpu_now();
  struct timespec nap = {0, 10 * 1000 * 1000};
  while (limit <= 0.0 || cpu_now() - t0 < limit) nanosleep(&nap, NULL);
  dev->lost = 1;
  dev->lost_after = limit;
  return host->fail(host, GS_ERR_BACKEND,
                    "cpu: a program run gave no result in %g s (GESSL_WAIT_TIMEOUT): the device "
                    "stopped answering (injected by GESSL_FAULT)",
                    limit);
}
