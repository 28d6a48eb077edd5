/* gessl — data-parallel training: the communicator plugin ABI and the process's world.
 *
 * P processes (ranks) train one model: each takes its shard of every global batch, gradients are
 * averaged across ranks, and losses that need the whole batch gather what they need with the
 * collective graph ops (gs_all_reduce, gs_all_gather in graph.h). The runtime never links an MPI
 * library: collectives go through a communicator plugin that gs_world_open loads on demand, so the
 * plain program runs (and is built) without MPI, and a single process is a world of one where
 * every collective is the identity.
 *
 * The communicator plugin exports GS_COMM_ENTRY_SYMBOL returning a gs_comm_iface (versioned as
 * backend.h). Its file is gessl-comm-NAME.so, beside the other plugins (lib/gessl) but without
 * their libgessl- prefix, so the plugin scan never opens it (and never loads MPI) by accident.
 * It is searched in $GESSL_COMM_PLUGIN (a file), beside the executable (../lib/gessl), then in the
 * install directory, and loaded only when it passes the same ownership and permission check as
 * every other plugin (a group- or world-writable file or directory above it is refused).
 *
 * Collectives are blocking from the caller's view except the start/wait pair, which lets the
 * runtime start a gradient bucket's all-reduce while the device computes the rest of the
 * backward pass. Every rank must issue the same collectives in the same order. */
#ifndef GESSL_COMM_H
#define GESSL_COMM_H

#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GS_COMM_ABI_VERSION 1
#define GS_COMM_ENTRY_SYMBOL "gessl_comm_entry"

typedef enum gs_comm_op { GS_COMM_SUM = 0, GS_COMM_MAX = 1 } gs_comm_op;

typedef struct gs_comm_req gs_comm_req; /* an all-reduce in flight */

typedef struct gs_comm_iface {
  uint32_t abi_version; /* GS_COMM_ABI_VERSION */
  uint32_t struct_size;
  const char *name;    /* "mpi" */
  const char *version; /* library version, free text */
  /* Joins the world (MPI_Init_thread). Errors say why (no launcher, library mismatch). */
  gs_status (*init)(int *rank, int *size);
  /* Leaves it (MPI_Finalize). After a failure elsewhere, abort instead. */
  void (*finalize)(void);
  /* Ends every process of the job with `code` (MPI_Abort); used when one rank fails, so the
   * others never wait forever in a collective. Does not return. */
  void (*abort)(int code);
  /* In place: buf[0..n) := op over ranks of buf. Every rank gets bit-identical results. */
  gs_status (*all_reduce)(float *buf, size_t n, gs_comm_op op);
  /* Non-blocking all-reduce sum of buf[0..n) in place; buf must stay untouched until wait. */
  gs_status (*all_reduce_start)(float *buf, size_t n, gs_comm_req **req);
  gs_status (*wait)(gs_comm_req *req);
  /* recv[r*n .. (r+1)*n) := send of rank r. */
  gs_status (*all_gather)(const float *send, size_t n, float *recv);
  /* buf[0..bytes) := root's buf. */
  gs_status (*broadcast)(void *buf, size_t bytes, int root);
  /* The node's name, for messages ("rank 1 on host-a"). */
  void (*processor_name)(char *buf, size_t len);
} gs_comm_iface;

typedef const gs_comm_iface *(*gs_comm_entry_fn)(void);

/* ---- The world of this process (one per process, like MPI_COMM_WORLD) ---- */

/* Whether this process was started by an MPI launcher (mpirun/mpiexec/srun set PMI or
 * OMPI_COMM_WORLD variables). */
GS_API int gs_world_launched(void);
/* Loads the communicator plugin `name` ("mpi") and joins the world. Calling it again is a no-op
 * once open. The plugin stays loaded for the life of the process. */
GS_API gs_status gs_world_open(const char *name);
/* Leaves the world (finalize) when one was opened. */
GS_API void gs_world_close(void);
/* Ends the whole job with `code` after printing `why` to stderr with this rank's name. Used when
 * a rank fails so that no other rank hangs in a collective. Returns only in a world of one. */
GS_API void gs_world_abort(int code, const char *why);
/* 0 and 1 in a world of one. */
GS_API int gs_world_rank(void);
GS_API int gs_world_size(void);
/* How many ranks share each batch: the world's size when every batch is split across the ranks
 * (the default), 1 when each rank trains on whole batches of its own (a meta-optimizer's tasks
 * spread over the ranks). The graph collectives gs_all_gather / gs_all_reduce and synchronised
 * batch norm act over the ranks sharing a batch, so they are the identity in the second case;
 * gradients are averaged over the whole world either way. */
GS_API int gs_world_batch_ranks(void);
GS_API void gs_world_set_batch_split(int on);
/* Batch norm in training mode normalises with the statistics of the whole world's batch
 * (synchronised batch norm) when on; per rank when off (the default). */
GS_API void gs_world_set_sync_bn(int on);
GS_API int gs_world_sync_bn(void);

/* Host-side collectives over the world (identity in a world of one). */
GS_API gs_status gs_world_all_reduce(float *buf, size_t n, gs_comm_op op);
GS_API gs_status gs_world_all_gather(const float *send, size_t n, float *recv);
GS_API gs_status gs_world_broadcast(void *buf, size_t bytes, int root);
/* Starts an all-reduce sum in place; *req is NULL when it completed at once. */
GS_API gs_status gs_world_all_reduce_start(float *buf, size_t n, gs_comm_req **req);
GS_API gs_status gs_world_wait(gs_comm_req *req);
/* Seconds spent inside collectives by this process since it started (for the benchmark). */
GS_API double gs_world_comm_seconds(void);

#ifdef __cplusplus
}
#endif
#endif
