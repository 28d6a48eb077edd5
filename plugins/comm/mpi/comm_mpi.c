/* The MPI communicator: the world's collectives on MPI_COMM_WORLD, with the MPI standard only (Open
 * MPI, MPICH or a cluster's MPI). Host buffers only: OpenCL and Vulkan memory is staged through
 * host memory by the runtime, since GPU-aware MPI understands CUDA and ROCm pointers, not theirs.
 *
 * Errors return (MPI_ERRORS_RETURN) so the caller names what failed, then ends the job with
 * MPI_Abort; a rank that dies outright is noticed by the launcher, which ends the others. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gessl/comm.h"

struct gs_comm_req {
  MPI_Request req;
};

static int we_initialised;

static gs_status mpi_fail(int rc, const char *what) {
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "error %d", rc);
  return gs_fail(GS_ERR_BACKEND, "mpi: %s: %s", what, msg);
}

static gs_status comm_init(int *rank, int *size) {
  int done = 0;
  MPI_Initialized(&done);
  if (!done) {
    int provided = 0;
    /* Only the training thread calls MPI. */
    int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "MPI_Init_thread");
    we_initialised = 1;
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, rank);
  MPI_Comm_size(MPI_COMM_WORLD, size);
  return GS_OK;
}

static void comm_finalize(void) {
  int done = 0;
  MPI_Finalized(&done);
  if (we_initialised && !done) MPI_Finalize();
}

static void comm_abort(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  exit(code); /* MPI_Abort does not return; this keeps the contract if an MPI's does */
}

/* Counts above INT_MAX go in pieces: MPI counts are int. */
enum { CHUNK = 1 << 30 };

static gs_status comm_all_reduce(float *buf, size_t n, gs_comm_op op) {
  for (size_t at = 0; at < n; at += CHUNK) {
    int cnt = (int)(n - at < CHUNK ? n - at : CHUNK);
    int rc = MPI_Allreduce(MPI_IN_PLACE, buf + at, cnt, MPI_FLOAT,
                           op == GS_COMM_MAX ? MPI_MAX : MPI_SUM, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "MPI_Allreduce");
  }
  return GS_OK;
}

static gs_status comm_all_reduce_start(float *buf, size_t n, gs_comm_req **out) {
  if (n > CHUNK) return comm_all_reduce(buf, n, GS_COMM_SUM);
  gs_comm_req *r = malloc(sizeof *r);
  if (!r) return gs_fail(GS_ERR_NOMEM, "mpi: out of memory");
  int rc = MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &r->req);
  if (rc != MPI_SUCCESS) {
    free(r);
    return mpi_fail(rc, "MPI_Iallreduce");
  }
  *out = r;
  return GS_OK;
}

static gs_status comm_wait(gs_comm_req *r) {
  int rc = MPI_Wait(&r->req, MPI_STATUS_IGNORE);
  free(r);
  return rc == MPI_SUCCESS ? GS_OK : mpi_fail(rc, "MPI_Wait");
}

static gs_status comm_all_gather(const float *send, size_t n, float *recv) {
  if (n > CHUNK) return gs_fail(GS_ERR_INVALID, "mpi: all-gather of %zu floats per rank", n);
  int rc = MPI_Allgather(send, (int)n, MPI_FLOAT, recv, (int)n, MPI_FLOAT, MPI_COMM_WORLD);
  return rc == MPI_SUCCESS ? GS_OK : mpi_fail(rc, "MPI_Allgather");
}

static gs_status comm_broadcast(void *buf, size_t bytes, int root) {
  for (size_t at = 0; at < bytes; at += CHUNK) {
    int cnt = (int)(bytes - at < CHUNK ? bytes - at : CHUNK);
    int rc = MPI_Bcast((char *)buf + at, cnt, MPI_BYTE, root, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "MPI_Bcast");
  }
  return GS_OK;
}

static void comm_processor_name(char *buf, size_t len) {
  char name[MPI_MAX_PROCESSOR_NAME];
  int n = 0;
  if (MPI_Get_processor_name(name, &n) != MPI_SUCCESS) name[0] = 0;
  snprintf(buf, len, "%s", name);
}

static char version[MPI_MAX_LIBRARY_VERSION_STRING];

static const gs_comm_iface comm_iface = {
    .abi_version = GS_COMM_ABI_VERSION,
    .struct_size = sizeof(gs_comm_iface),
    .name = "mpi",
    .version = version,
    .init = comm_init,
    .finalize = comm_finalize,
    .abort = comm_abort,
    .all_reduce = comm_all_reduce,
    .all_reduce_start = comm_all_reduce_start,
    .wait = comm_wait,
    .all_gather = comm_all_gather,
    .broadcast = comm_broadcast,
    .processor_name = comm_processor_name,
};

GS_API const gs_comm_iface *gessl_comm_entry(void) {
  int len = 0;
  if (!version[0] && MPI_Get_library_version(version, &len) != MPI_SUCCESS) version[0] = 0;
  char *nl = strchr(version, '\n');
  if (nl) *nl = 0;
  return &comm_iface;
}
