/* The process's world: the communicator plugin, loaded on demand, and the host-side collectives.
 * A world of one (no plugin) makes every collective the identity, so nothing else in the runtime
 * asks whether it runs distributed. */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gessl/comm.h"
#include "rt_impl.h"

#ifndef GESSL_PLUGIN_INSTALL_DIR
#define GESSL_PLUGIN_INSTALL_DIR "/usr/local/lib/gessl"
#endif

static struct {
  const gs_comm_iface *iface;
  int rank, size, sync_bn, whole_batches;
  double comm_s;
  char name[128];
} world = {NULL, 0, 1, 0, 0, 0.0, ""};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int gs_world_launched(void) {
  static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK",
                               "SLURM_PROCID"};
  for (size_t k = 0; k < sizeof vars / sizeof vars[0]; k++)
    if (getenv(vars[k])) return 1;
  return 0;
}

/* Through the same safe-path check as every other plugin (rt_dlopen_plugin); RTLD_GLOBAL: MPI
 * libraries open their own components, which expect the library's symbols to be visible
 * process-wide. A path that does not exist leaves why empty, so the next place is tried. */
static void *open_at(const char *path, char *why, size_t len) {
  why[0] = 0;
  if (access(path, F_OK) != 0) return NULL;
  char real[PATH_MAX];
  int n = snprintf(why, len, "%s: ", path);
  size_t at = n > 0 && (size_t)n < len ? (size_t)n : 0;
  void *h = rt_dlopen_plugin(path, RTLD_GLOBAL, real, why + at, len - at);
  if (h) why[0] = 0;
  return h;
}

static void *find_plugin(const char *name, char *tried, size_t len) {
  char file[64], path[PATH_MAX + 80];
  snprintf(file, sizeof file, "gessl-comm-%s.so", name);
  tried[0] = 0;
  const char *env = getenv("GESSL_COMM_PLUGIN");
  if (env && *env) {
    void *h = open_at(env, tried, len);
    if (!h && !tried[0]) snprintf(tried, len, "%s (GESSL_COMM_PLUGIN): no such file", env);
    return h;
  }
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) {
      *slash = 0;
      snprintf(path, sizeof path, "%s/../lib/gessl/%s", exe, file);
      void *h = open_at(path, tried, len);
      if (h || tried[0]) return h;
    }
  }
  snprintf(path, sizeof path, "%s/%s", GESSL_PLUGIN_INSTALL_DIR, file);
  void *h = open_at(path, tried, len);
  if (!h && !tried[0])
    snprintf(tried, len, "%s not found beside the executable (../lib/gessl) or in %s", file,
             GESSL_PLUGIN_INSTALL_DIR);
  return h;
}

gs_status gs_world_open(const char *name) {
  if (world.iface) return GS_OK;
  if (!name || !*name) return gs_fail(GS_ERR_INVALID, "world: no communicator named");
  char why[PATH_MAX + 256];
  void *h = find_plugin(name, why, sizeof why);
  if (!h)
    return gs_fail(GS_ERR_PLUGIN,
                   "world: cannot load the '%s' communicator: %s (was gessl built with MPI? "
                   "cmake -DGESSL_MPI=ON)",
                   name, why);
  void *sym = dlsym(h, GS_COMM_ENTRY_SYMBOL);
  if (!sym) return gs_fail(GS_ERR_PLUGIN, "world: %s has no %s", name, GS_COMM_ENTRY_SYMBOL);
  gs_comm_entry_fn entry;
  memcpy(&entry, &sym, sizeof entry);
  const gs_comm_iface *c = entry();
  if (!c || c->abi_version != GS_COMM_ABI_VERSION)
    return gs_fail(GS_ERR_PLUGIN, "world: communicator '%s' has ABI version %u, expected %u", name,
                   c ? c->abi_version : 0u, GS_COMM_ABI_VERSION);
  int rank = 0, size = 1;
  gs_status st = c->init(&rank, &size);
  if (st != GS_OK) return gs_fail_context(st, "world: joining with '%s'", name);
  world.iface = c;
  world.rank = rank;
  world.size = size;
  char host[96] = "";
  if (c->processor_name) c->processor_name(host, sizeof host);
  snprintf(world.name, sizeof world.name, "rank %d of %d%s%s", rank, size, host[0] ? " on " : "",
           host);
  return GS_OK;
}

void gs_world_close(void) {
  if (world.iface) world.iface->finalize();
  world.iface = NULL;
  world.rank = 0;
  world.size = 1;
}

void gs_world_abort(int code, const char *why) {
  if (!world.iface || world.size < 2) return;
  fprintf(stderr, "gessl: %s failed, stopping the job: %s\n", world.name, why ? why : "");
  fflush(stderr);
  world.iface->abort(code ? code : 1);
}

int gs_world_rank(void) { return world.rank; }
int gs_world_size(void) { return world.size; }
void gs_world_set_sync_bn(int on) { world.sync_bn = on != 0; }
int gs_world_sync_bn(void) { return world.sync_bn && gs_world_batch_ranks() > 1; }
int gs_world_batch_ranks(void) { return world.whole_batches ? 1 : world.size; }
void gs_world_set_batch_split(int on) { world.whole_batches = !on; }
double gs_world_comm_seconds(void) { return world.comm_s; }

gs_status gs_world_all_reduce(float *buf, size_t n, gs_comm_op op) {
  if (!world.iface || world.size < 2 || n == 0) return GS_OK;
  double t = now_s();
  gs_status st = world.iface->all_reduce(buf, n, op);
  world.comm_s += now_s() - t;
  return st;
}

gs_status gs_world_all_gather(const float *send, size_t n, float *recv) {
  if (!world.iface || world.size < 2) {
    if (recv != send) memmove(recv, send, n * sizeof *recv);
    return GS_OK;
  }
  double t = now_s();
  gs_status st = world.iface->all_gather(send, n, recv);
  world.comm_s += now_s() - t;
  return st;
}

gs_status gs_world_broadcast(void *buf, size_t bytes, int root) {
  if (!world.iface || world.size < 2 || bytes == 0) return GS_OK;
  double t = now_s();
  gs_status st = world.iface->broadcast(buf, bytes, root);
  world.comm_s += now_s() - t;
  return st;
}

gs_status gs_world_all_reduce_start(float *buf, size_t n, gs_comm_req **req) {
  *req = NULL;
  if (!world.iface || world.size < 2 || n == 0) return GS_OK;
  double t = now_s();
  gs_status st = world.iface->all_reduce_start ? world.iface->all_reduce_start(buf, n, req)
                                               : world.iface->all_reduce(buf, n, GS_COMM_SUM);
  world.comm_s += now_s() - t;
  return st;
}

gs_status gs_world_wait(gs_comm_req *req) {
  if (!req || !world.iface) return GS_OK;
  double t = now_s();
  gs_status st = world.iface->wait(req);
  world.comm_s += now_s() - t;
  return st;
}
