/* The batch loader: worker threads fill a ring of batch slots ahead of the consumer. Work is
 * handed out in chunks of images, so every thread helps with every batch; what an image becomes
 * depends only on (seed, epoch, sample, view), never on which thread made it. Each epoch's order
 * is a seeded permutation computed per position (no table), which makes seeking free. Streamed
 * folders are decoded here, per image, by the worker that augments it; a file that fails to decode
 * is skipped in favour of the next image, which depends only on which files are bad. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"

typedef struct slot {
  float *views[GS_MAX_VIEWS];
  int32_t *labels;
  int64_t *samples;
  int64_t seq; /* global batch number it holds or is being filled with; -1: none */
  int n, done; /* images in the batch, images finished */
} slot;

typedef struct worker {
  struct gs_loader *l;
  pthread_t thread;
  float *scratch;
  int started;
} worker;

struct gs_loader {
  const gs_images *im;
  gs_loader_options opt;
  float mean[4], std[4];
  int64_t bpe;  /* global batches per epoch */
  int64_t lbpe; /* batches per epoch as this loader's caller counts them (bpe / shards in groups) */
  int nslots, chunk;
  slot *slots;
  worker *workers;
  pthread_mutex_t mu;
  pthread_cond_t work_cv, ready_cv;
  int64_t claim_seq; /* next work item: image claim_img of batch claim_seq */
  int claim_img;
  int64_t cons; /* batch the next gs_loader_next returns */
  int held;     /* the caller still reads batch cons - 1 */
  int busy, paused, stop;
  uint64_t gen; /* bumped by seek: chunks started before it are dropped */
  /* Images that failed to decode: each reported once, in gs_loader_next's thread. */
  uint8_t *bad_map; /* one bit per image */
  int64_t bad_count;
  char pending[8][512];
  int npending;
  int failed; /* the run must stop: fatal_msg says why */
  char fatal_msg[640];
};

enum { MAX_SKIP = 64 }; /* images tried in a row before giving up on a batch slot */

/* Records that `sample` failed to decode (msg from the decoder); decides whether the run stops. */
static void note_bad(gs_loader *l, int64_t sample, const char *msg) {
  pthread_mutex_lock(&l->mu);
  if (!(l->bad_map[sample >> 3] & (1u << (sample & 7)))) {
    l->bad_map[sample >> 3] |= (uint8_t)(1u << (sample & 7));
    l->bad_count++;
    if (l->npending < 8) snprintf(l->pending[l->npending++], sizeof l->pending[0], "%s", msg);
    if (!l->failed && (l->opt.bad_images_fatal || l->bad_count * 100 > l->im->n)) {
      l->failed = 1;
      snprintf(l->fatal_msg, sizeof l->fatal_msg, "%s (%lld of %lld images failed to decode%s)",
               msg, (long long)l->bad_count, (long long)l->im->n,
               l->opt.bad_images_fatal ? "; --bad-images fail stops at the first" : ", over 1%");
      pthread_cond_broadcast(&l->ready_cv);
    }
  }
  pthread_mutex_unlock(&l->mu);
}

/* The views of one streamed image into batch slot j. 0 when it decoded. */
static int stream_views(gs_loader *l, float *scratch, slot *s, int j, int64_t epoch,
                        int64_t sample) {
  float *views[GS_MAX_VIEWS];
  for (int v = 0; v < l->opt.recipe.n_views; v++) {
    int size = l->opt.recipe.views[v].size;
    views[v] = s->views[v] + (size_t)j * l->im->c * size * size;
  }
  if (gs_stream_views(l->im, sample, &l->opt.recipe, l->opt.seed, epoch, l->mean, l->std, views,
                      scratch) != GS_OK) {
    note_bad(l, sample, gs_errmsg());
    return -1;
  }
  return 0;
}

/* The global batch a caller's batch number stands for: itself, unless whole batches are dealt
 * out to the shards in groups (shard_groups = m: shard r takes batches r*m .. r*m + m-1 of every
 * shards*m). */
static int64_t global_seq(const gs_loader *l, int64_t seq) {
  int64_t m = l->opt.shard_groups, p = l->opt.shards;
  if (m < 1 || p < 2) return seq;
  return seq / m * p * m + l->opt.shard * m + seq % m;
}

static int batch_images(const gs_loader *l, int64_t seq) {
  seq = global_seq(l, seq);
  int64_t idx = seq % l->bpe, n = l->im->n, b = l->opt.batch;
  return (int)((idx + 1) * b <= n ? b : n - idx * b);
}

static uint64_t epoch_key(const gs_loader *l, int64_t epoch) {
  return gs_mix64(gs_mix64(l->opt.seed ^ 0xe90c4a1bull) + (uint64_t)epoch);
}

static void make_images(gs_loader *l, float *scratch, slot *s, int64_t seq, int i0, int i1) {
  const gs_images *im = l->im;
  seq = global_seq(l, seq);
  const int64_t epoch = seq / l->bpe, idx = seq % l->bpe;
  const uint64_t key = epoch_key(l, epoch);
  const size_t img = (size_t)im->h * im->w * im->c;
  for (int j = i0; j < i1; j++) {
    /* Sharded (data-parallel): this rank's block of the global batch of batch x shards. */
    int64_t shards = l->opt.shards > 1 && l->opt.shard_groups < 1 ? l->opt.shards : 1;
    int64_t pos = (idx * shards + (shards > 1 ? l->opt.shard : 0)) * l->opt.batch + j;
    int64_t sample = gs_epoch_order(pos, im->n, key);
    if (im->path_at) {
      int tries = 0;
      while (stream_views(l, scratch, s, j, epoch, sample) != 0 && ++tries < MAX_SKIP)
        sample = (sample + 1) % im->n;
      s->samples[j] = sample;
      s->labels[j] = im->labels ? im->labels[sample] : -1;
      continue;
    }
    s->samples[j] = sample;
    s->labels[j] = im->labels ? im->labels[sample] : -1;
    for (int v = 0; v < l->opt.recipe.n_views; v++) {
      const gs_view_config *vc = &l->opt.recipe.views[v];
      gs_rng r = gs_rng_make(l->opt.seed, (uint64_t)epoch, (uint64_t)sample, (uint64_t)v);
      float *out = s->views[v] + (size_t)j * im->c * vc->size * vc->size;
      gs_augment_image(im->pixels + img * (size_t)sample, im->h, im->w, im->c, vc, l->mean, l->std,
                       &r, out, scratch);
    }
  }
}

static void *worker_main(void *arg) {
  worker *w = arg;
  gs_loader *l = w->l;
  pthread_mutex_lock(&l->mu);
  for (;;) {
    while (!l->stop && (l->paused || l->claim_seq >= l->cons - l->held + l->nslots))
      pthread_cond_wait(&l->work_cv, &l->mu);
    if (l->stop) break;
    int64_t seq = l->claim_seq;
    slot *s = &l->slots[seq % l->nslots];
    if (l->claim_img == 0) { /* first chunk of this batch: the slot is free, take it */
      s->seq = seq;
      s->n = batch_images(l, seq);
      s->done = 0;
    }
    int i0 = l->claim_img, i1 = i0 + l->chunk < s->n ? i0 + l->chunk : s->n;
    l->claim_img = i1;
    if (i1 == s->n) {
      l->claim_seq++;
      l->claim_img = 0;
    }
    uint64_t gen = l->gen;
    l->busy++;
    pthread_mutex_unlock(&l->mu);
    make_images(l, w->scratch, s, seq, i0, i1);
    pthread_mutex_lock(&l->mu);
    l->busy--;
    if (gen == l->gen) {
      s->done += i1 - i0;
      if (s->done == s->n) pthread_cond_broadcast(&l->ready_cv);
    }
    if (l->paused && l->busy == 0) pthread_cond_broadcast(&l->ready_cv);
  }
  pthread_mutex_unlock(&l->mu);
  return NULL;
}

gs_loader *gs_loader_new(const gs_dataset *ds, const gs_loader_options *opt) {
  if (!ds || !opt) {
    gs_fail(GS_ERR_INVALID, "gs_loader_new: data set and options are required");
    return NULL;
  }
  const gs_images *im = gs_dataset_images(ds);
  gs_loader_options o = *opt;
  if (o.threads <= 0) o.threads = 2;
  if (o.threads > 64) o.threads = 64;
  if (o.prefetch <= 0) o.prefetch = 4;
  if (o.recipe.n_views == 0) o.recipe = gs_aug_recipe_make(NULL, im->h > im->w ? im->h : im->w, 2);
  if (o.batch <= 0 || o.recipe.n_views < 0 || o.recipe.n_views > GS_MAX_VIEWS) {
    gs_fail(GS_ERR_INVALID, "loader for %s: bad batch size %d or view count %d",
            gs_dataset_name(ds), o.batch, o.recipe.n_views);
    return NULL;
  }
  int max_size = 1;
  for (int v = 0; v < o.recipe.n_views; v++) {
    int sz = o.recipe.views[v].size;
    if (sz < 1 || sz > 4096) {
      gs_fail(GS_ERR_INVALID, "loader for %s: view %d has bad size %d", gs_dataset_name(ds), v, sz);
      return NULL;
    }
    if (sz > max_size) max_size = sz;
  }
  if (o.shards > 1 && (!o.drop_last || o.shard < 0 || o.shard >= o.shards)) {
    gs_fail(GS_ERR_INVALID, "loader for %s: shard %d of %d (sharding needs drop_last)",
            gs_dataset_name(ds), o.shard, o.shards);
    return NULL;
  }
  int64_t global = (int64_t)o.batch * (o.shards > 1 && o.shard_groups < 1 ? o.shards : 1);
  int64_t bpe = o.drop_last ? im->n / global : (im->n + o.batch - 1) / o.batch;
  if (bpe <= 0) {
    gs_fail(GS_ERR_INVALID, "loader for %s: %lld images make no full batch of %d",
            gs_dataset_name(ds), (long long)im->n, o.batch);
    return NULL;
  }
  gs_loader *l = calloc(1, sizeof *l);
  if (!l) goto nomem;
  l->im = im;
  l->opt = o;
  l->bpe = bpe;
  l->lbpe = o.shards > 1 && o.shard_groups >= 1 ? bpe / o.shards : bpe;
  if (l->lbpe < 1) l->lbpe = 1;
  gs_dataset_norm(ds, l->mean, l->std);
  l->nslots = o.prefetch + 1; /* one more than the prefetch depth: the batch the caller holds */
  l->chunk = o.batch / (4 * o.threads);
  if (l->chunk < 1) l->chunk = 1;
  if (l->chunk > 16) l->chunk = 16;
  pthread_mutex_init(&l->mu, NULL);
  pthread_cond_init(&l->work_cv, NULL);
  pthread_cond_init(&l->ready_cv, NULL);
  if (im->path_at && !(l->bad_map = calloc((size_t)(im->n + 7) / 8, 1))) goto nomem_free;
  l->slots = calloc((size_t)l->nslots, sizeof(slot));
  l->workers = calloc((size_t)o.threads, sizeof(worker));
  if (!l->slots || !l->workers) goto nomem_free;
  for (int k = 0; k < l->nslots; k++) {
    slot *s = &l->slots[k];
    s->seq = -1;
    for (int v = 0; v < o.recipe.n_views; v++) {
      size_t sz = (size_t)o.recipe.views[v].size;
      if (!(s->views[v] = malloc(sizeof(float) * (size_t)o.batch * im->c * sz * sz)))
        goto nomem_free;
    }
    s->labels = malloc(sizeof(int32_t) * (size_t)o.batch);
    s->samples = malloc(sizeof(int64_t) * (size_t)o.batch);
    if (!s->labels || !s->samples) goto nomem_free;
  }
  for (int t = 0; t < o.threads; t++) {
    l->workers[t].l = l;
    if (!(l->workers[t].scratch = malloc(sizeof(float) * gs_augment_scratch(max_size, im->c))))
      goto nomem_free;
  }
  for (int t = 0; t < o.threads; t++) {
    if (pthread_create(&l->workers[t].thread, NULL, worker_main, &l->workers[t]) != 0) {
      gs_loader_free(l);
      gs_fail(GS_ERR_NOMEM, "loader for %s: cannot start worker thread %d", gs_dataset_name(ds), t);
      return NULL;
    }
    l->workers[t].started = 1;
  }
  return l;
nomem_free:
  gs_loader_free(l);
nomem:
  gs_fail(GS_ERR_NOMEM, "loader for %s: out of memory for %d-image batches", gs_dataset_name(ds),
          o.batch);
  return NULL;
}

void gs_loader_free(gs_loader *l) {
  if (!l) return;
  if (l->workers) {
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_broadcast(&l->work_cv);
    pthread_mutex_unlock(&l->mu);
    for (int t = 0; t < l->opt.threads; t++) {
      if (l->workers[t].started) pthread_join(l->workers[t].thread, NULL);
      free(l->workers[t].scratch);
    }
    free(l->workers);
  }
  for (int k = 0; l->slots && k < l->nslots; k++) {
    for (int v = 0; v < GS_MAX_VIEWS; v++) free(l->slots[k].views[v]);
    free(l->slots[k].labels);
    free(l->slots[k].samples);
  }
  free(l->slots);
  free(l->bad_map);
  pthread_mutex_destroy(&l->mu);
  pthread_cond_destroy(&l->work_cv);
  pthread_cond_destroy(&l->ready_cv);
  free(l);
}

int64_t gs_loader_batches_per_epoch(const gs_loader *l) { return l ? l->lbpe : 0; }

int64_t gs_loader_bad_images(const gs_loader *l) {
  if (!l) return 0;
  pthread_mutex_lock((pthread_mutex_t *)&l->mu);
  int64_t n = l->bad_count;
  pthread_mutex_unlock((pthread_mutex_t *)&l->mu);
  return n;
}

gs_status gs_loader_next(gs_loader *l, gs_batch *out) {
  if (!l || !out) return gs_fail(GS_ERR_INVALID, "gs_loader_next: no loader or no output");
  pthread_mutex_lock(&l->mu);
  if (l->held) { /* the caller is done with the previous batch: its slot may be refilled */
    l->held = 0;
    pthread_cond_broadcast(&l->work_cv);
  }
  slot *s = &l->slots[l->cons % l->nslots];
  while (!l->failed && !(s->seq == l->cons && s->n > 0 && s->done == s->n))
    pthread_cond_wait(&l->ready_cv, &l->mu);
  char pending[8][512];
  int npending = l->npending;
  memcpy(pending, l->pending, sizeof pending);
  l->npending = 0;
  if (l->failed) {
    char msg[sizeof l->fatal_msg];
    memcpy(msg, l->fatal_msg, sizeof msg);
    pthread_mutex_unlock(&l->mu);
    return gs_fail(GS_ERR_FORMAT, "%s", msg);
  }
  if (npending && l->opt.on_bad_image) { /* reported outside the lock: workers go on */
    pthread_mutex_unlock(&l->mu);
    for (int k = 0; k < npending; k++) l->opt.on_bad_image(l->opt.user, pending[k]);
    pthread_mutex_lock(&l->mu);
  }
  memset(out, 0, sizeof *out);
  out->n = s->n;
  out->n_views = l->opt.recipe.n_views;
  for (int v = 0; v < out->n_views; v++) out->views[v] = s->views[v];
  out->labels = s->labels;
  out->samples = s->samples;
  int64_t g = global_seq(l, l->cons);
  out->epoch = g / l->bpe;
  out->index = g % l->bpe;
  l->cons++;
  l->held = 1;
  pthread_mutex_unlock(&l->mu);
  return GS_OK;
}

gs_status gs_loader_seek(gs_loader *l, int64_t epoch, int64_t index) {
  if (!l) return gs_fail(GS_ERR_INVALID, "gs_loader_seek: no loader");
  if (epoch < 0 || index < 0 || index >= l->lbpe || epoch > INT64_MAX / l->lbpe - 1)
    return gs_fail(GS_ERR_INVALID,
                   "gs_loader_seek: batch (%lld, %lld) out of range (%lld per epoch)",
                   (long long)epoch, (long long)index, (long long)l->lbpe);
  pthread_mutex_lock(&l->mu);
  l->paused = 1;
  while (l->busy) pthread_cond_wait(&l->ready_cv, &l->mu);
  for (int k = 0; k < l->nslots; k++) {
    l->slots[k].seq = -1;
    l->slots[k].done = l->slots[k].n = 0;
  }
  l->gen++;
  l->claim_seq = l->cons = epoch * l->lbpe + index;
  l->claim_img = 0;
  l->held = 0;
  l->paused = 0;
  pthread_cond_broadcast(&l->work_cv);
  pthread_mutex_unlock(&l->mu);
  return GS_OK;
}
