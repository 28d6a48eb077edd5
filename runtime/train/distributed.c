/* Data-parallel training, the loop's side: which backend this rank uses, every rank starting from
 * rank 0's tensors and counters, the check that parameters stay bit-identical, and the gradient
 * all-reduce in buckets. In a world of one every function here is a no-op. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gessl/comm.h"
#include "ops_impl.h"
#include "train_impl.h"

void train_rank_backend(const char *spec, int rank, char *out, size_t len) {
  int n = 1;
  for (const char *p = spec; *p; p++) n += *p == ',';
  int pick = rank % n;
  const char *at = spec;
  for (int k = 0; k < pick; k++) at = strchr(at, ',') + 1;
  const char *end = strchr(at, ',');
  size_t l = end ? (size_t)(end - at) : strlen(at);
  if (l >= len) l = len - 1;
  memcpy(out, at, l);
  out[l] = 0;
}

/* Calls fn on every persistent tensor a checkpoint holds: params, state, optimizer state. */
static gs_status each_tensor(train_run *r, gs_status (*fn)(gs_param *p, void *arg), void *arg) {
  const gs_pset *sets[3] = {r->params, r->state, gs_optimizer_state(r->opt)};
  for (int s = 0; s < 3; s++)
    for (int k = 0; sets[s] && k < gs_pset_count(sets[s]); k++) {
      gs_status st = fn(gs_pset_get(sets[s], k), arg);
      if (st != GS_OK) return st;
    }
  return GS_OK;
}

typedef struct host_buf {
  float *p;
  size_t cap;
  uint64_t hash;
} host_buf;

static gs_status reserve(host_buf *b, gs_param *p, size_t *n) {
  gs_shape s = gs_param_shape(p);
  *n = (size_t)gs_shape_numel(&s);
  if (*n > b->cap) {
    float *q = realloc(b->p, *n * sizeof *q);
    if (!q) return gs_fail(GS_ERR_NOMEM, "train: out of memory staging '%s'", gs_param_name(p));
    b->p = q;
    b->cap = *n;
  }
  return GS_OK;
}

static gs_status bcast_one(gs_param *p, void *arg) {
  host_buf *b = arg;
  size_t n;
  gs_status st = reserve(b, p, &n);
  if (st == GS_OK && gs_world_rank() == 0) st = gs_param_read(p, b->p);
  if (st == GS_OK) st = gs_world_broadcast(b->p, n * sizeof *b->p, 0);
  if (st == GS_OK && gs_world_rank() != 0) st = gs_param_write(p, b->p);
  return st;
}

gs_status train_sync_from_root(train_run *r) {
  if (gs_world_size() < 2) return GS_OK;
  /* The counters first: a resumed rank 0 read them from its checkpoint. */
  int64_t c[6] = {r->step, r->batches, r->images, r->epoch, r->epoch_loss_n, r->checkpoint_step};
  double d[2] = {r->elapsed_before, r->epoch_loss_sum};
  gs_status st = gs_world_broadcast(c, sizeof c, 0);
  if (st == GS_OK) st = gs_world_broadcast(d, sizeof d, 0);
  if (st != GS_OK) return gs_fail_context(st, "train: sharing rank 0's state");
  if (!r->writer && c[1] > 0) {
    st = gs_loader_seek(r->loader, c[1] / r->batches_per_epoch, c[1] % r->batches_per_epoch);
    if (st != GS_OK) return st;
  }
  r->step = c[0];
  r->batches = c[1];
  r->images = c[2];
  r->epoch = c[3];
  r->epoch_loss_n = c[4];
  r->checkpoint_step = c[5];
  r->elapsed_before = d[0];
  r->epoch_loss_sum = d[1];
  host_buf b = {0};
  st = each_tensor(r, bcast_one, &b);
  free(b.p);
  if (st != GS_OK) return gs_fail_context(st, "train: sharing rank 0's parameters");
  return GS_OK;
}

gs_status train_share_tensors(train_run *r) {
  host_buf b = {0};
  gs_status st = each_tensor(r, bcast_one, &b);
  free(b.p);
  return st;
}

gs_status train_detect_mixed(train_run *r) {
  r->mixed = 0;
  if (gs_world_size() < 2) return GS_OK;
  /* The backend and device name, as a number every rank compares with rank 0's. */
  char what[512];
  snprintf(what, sizeof what, "%s/%s", gs_device_backend_name(r->dev),
           gs_device_get_info(r->dev)->name);
  uint64_t h = 0xcbf29ce484222325ull, root;
  for (const char *p = what; *p; p++) h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
  root = h;
  gs_status st = gs_world_broadcast(&root, sizeof root, 0);
  float differs = root != h;
  if (st == GS_OK) st = gs_world_all_reduce(&differs, 1, GS_COMM_MAX);
  r->mixed = differs > 0.0f;
  return st;
}

/* FNV-1a over the bytes of every tensor, in checkpoint order. */
static gs_status hash_one(gs_param *p, void *arg) {
  host_buf *b = arg;
  size_t n;
  gs_status st = reserve(b, p, &n);
  if (st == GS_OK) st = gs_param_read(p, b->p);
  const unsigned char *q = (const unsigned char *)b->p;
  for (size_t k = 0; st == GS_OK && k < n * sizeof *b->p; k++)
    b->hash = (b->hash ^ q[k]) * 0x100000001b3ull;
  return st;
}

/* Per-rank batch norm leaves each rank its own running statistics: rank 0's are taken (as
 * PyTorch's DDP does with buffers) before they are compared or saved. */
gs_status train_share_state(train_run *r) {
  if (gs_world_size() < 2) return GS_OK;
  host_buf b = {0};
  gs_status st = GS_OK;
  for (int k = 0; st == GS_OK && k < gs_pset_count(r->state); k++)
    st = bcast_one(gs_pset_get(r->state, k), &b);
  free(b.p);
  return st;
}

gs_status train_check_sync(train_run *r, const char *when) {
  if (gs_world_size() < 2) return GS_OK;
  gs_status st0 = train_share_state(r);
  if (st0 != GS_OK) return st0;
  host_buf b = {NULL, 0, 0xcbf29ce484222325ull};
  gs_status st = each_tensor(r, hash_one, &b);
  free(b.p);
  if (st != GS_OK) return st;
  uint64_t root = b.hash;
  st = gs_world_broadcast(&root, sizeof root, 0);
  float differs = root != b.hash;
  if (st == GS_OK) st = gs_world_all_reduce(&differs, 1, GS_COMM_MAX);
  if (st != GS_OK) return gs_fail_context(st, "train: comparing parameters across ranks");
  if (differs > 0.0f)
    return gs_fail(GS_ERR_NUMERIC,
                   "train: at the %s after step %lld the ranks' parameters differ (rank %d: hash "
                   "%016llx, rank 0: %016llx); data-parallel ranks must stay bit-identical",
                   when, (long long)r->step, gs_world_rank(), (unsigned long long)b.hash,
                   (unsigned long long)root);
  return GS_OK;
}

/* Buckets of about this many gradient bytes each: large enough that the per-message latency is
 * small next to the transfer, small enough that the first bucket starts early in the backward
 * pass. PyTorch DDP uses 25 MB. */
enum { BUCKET_BYTES = 4 << 20, MAX_BUCKET_GRADS = 256 };

gs_status train_average_grads(train_run *r, gs_graph *g, gs_tensor *const *grads, int n,
                              gs_tensor **out) {
  if (gs_world_size() < 2) {
    for (int k = 0; k < n; k++) out[k] = grads[k];
    return GS_OK;
  }
  /* The backward pass makes the last params' gradients first: buckets are filled from the end. */
  int hi = n;
  while (hi > 0) {
    int lo = hi;
    size_t bytes = 0;
    while (lo > 0 && hi - lo < MAX_BUCKET_GRADS && (bytes < BUCKET_BYTES || lo == hi)) {
      gs_shape s = gs_tensor_shape(grads[lo - 1]);
      bytes += (size_t)gs_shape_numel(&s) * 4;
      lo--;
    }
    gs_tensor *flat = gs_op_all_reduce_flat(g, (struct gs_node *const *)grads + lo, hi - lo, 1);
    int64_t at = 0;
    for (int k = lo; k < hi; k++) {
      gs_shape s = gs_tensor_shape(grads[k]);
      int64_t nk = gs_shape_numel(&s);
      out[k] = gs_reshape(g, gs_slice(g, flat, 0, at, nk), s);
      at += nk;
    }
    hi = lo;
  }
  if (gs_graph_status(g) != GS_OK)
    return gs_fail(gs_graph_status(g), "train: gradient all-reduce: %s", gs_graph_error(g));
  r->n_buckets++;
  return GS_OK;
}
