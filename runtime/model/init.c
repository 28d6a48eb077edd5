/* Seeded initialisation: splitmix64 streams keyed by tensor name, Box-Muller normals. */
#include "init.h"

#include "gessl/model.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t splitmix(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

gs_init_rng gs_init_stream(uint64_t seed, const char *name) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a: stable across platforms and builds */
  for (const char *c = name; c && *c; c++) h = (h ^ (uint8_t)*c) * 1099511628211ull;
  gs_init_rng r = {seed ^ h};
  splitmix(&r.s);
  return r;
}

double gs_init_uniform(gs_init_rng *r) { return (double)(splitmix(&r->s) >> 11) * 0x1.0p-53; }

double gs_init_normal(gs_init_rng *r) {
  double u1 = gs_init_uniform(r), u2 = gs_init_uniform(r);
  if (u1 < 1e-300) u1 = 1e-300;
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* A share of one tensor's values. splitmix's state moves by a constant per draw, so the stream
 * can be entered at any draw: the shares give exactly the values of one pass over the tensor. */
typedef struct fill_share {
  float *v;
  int64_t i0, i1;
  uint64_t s; /* the stream's state before its first draw */
  int normal; /* two draws per value, else one */
  double a;
} fill_share;

static void *fill_range(void *arg) {
  const fill_share *f = arg;
  gs_init_rng r = {f->s + (uint64_t)f->i0 * (f->normal ? 2u : 1u) * 0x9E3779B97F4A7C15ull};
  for (int64_t i = f->i0; i < f->i1; i++)
    f->v[i] =
        (float)(f->normal ? f->a * gs_init_normal(&r) : f->a * (2.0 * gs_init_uniform(&r) - 1.0));
  return NULL;
}

/* Large tensors (ResNet-18's 11M conv weights: a log and a cos per value, most of its start-up)
 * are filled on up to FILL_THREADS threads; where a thread cannot start, its share runs here. */
enum { FILL_THREADS = 8, FILL_MIN_SHARE = 1 << 16 };

static gs_status fill_with(gs_param *p, uint64_t seed, const char *key, int normal, double a) {
  gs_shape s = gs_param_shape(p);
  int64_t n = gs_shape_numel(&s);
  float *v = malloc((size_t)n * sizeof *v);
  if (!v) return gs_fail(GS_ERR_NOMEM, "init %s: out of memory", gs_param_name(p));
  gs_init_rng r = gs_init_stream(seed, key);
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  int nt = (int)(n / FILL_MIN_SHARE);
  if (nt > cores) nt = (int)cores;
  if (nt > FILL_THREADS) nt = FILL_THREADS;
  if (nt < 1) nt = 1;
  fill_share sh[FILL_THREADS] = {{0}};
  pthread_t tid[FILL_THREADS];
  int started[FILL_THREADS] = {0};
  for (int t = 0; t < nt; t++) {
    sh[t] = (fill_share){v, n * t / nt, n * (t + 1) / nt, r.s, normal, a};
    if (t > 0) started[t] = pthread_create(&tid[t], NULL, fill_range, &sh[t]) == 0;
  }
  fill_range(&sh[0]);
  for (int t = 1; t < nt; t++) {
    if (started[t])
      pthread_join(tid[t], NULL);
    else
      fill_range(&sh[t]);
  }
  gs_status st = gs_param_write(p, v);
  free(v);
  return st;
}

gs_status gs_init_kaiming_out(gs_param *p, int64_t fan_out, uint64_t seed, const char *key) {
  return fill_with(p, seed, key, 1, sqrt(2.0 / (double)fan_out));
}

gs_status gs_init_uniform_fill(gs_param *p, double bound, uint64_t seed, const char *key) {
  return fill_with(p, seed, key, 0, bound);
}

/* The values of gs_param_init_uniform / _normal, written into p. */
static gs_status fill_raw(gs_param *p, uint64_t seed, int normal, double a) {
  gs_shape s = gs_param_shape(p);
  int64_t n = gs_shape_numel(&s);
  float *v = malloc((size_t)n * sizeof *v);
  if (!v) return gs_fail(GS_ERR_NOMEM, "init %s: out of memory", gs_param_name(p));
  uint64_t x = seed;
  for (int64_t i = 0; i < n; i += normal ? 2 : 1) {
    if (!normal) {
      v[i] = (float)(a * (2.0 * ((double)(splitmix(&x) >> 11) * 0x1.0p-53) - 1.0));
      continue;
    }
    double u1 = ((double)(splitmix(&x) >> 11) + 1.0) / 9007199254740993.0; /* never 0 */
    double u2 = (double)(splitmix(&x) >> 11) * 0x1.0p-53;
    double r = sqrt(-2.0 * log(u1));
    v[i] = (float)(a * r * cos(6.283185307179586 * u2));
    if (i + 1 < n) v[i + 1] = (float)(a * r * sin(6.283185307179586 * u2));
  }
  gs_status st = gs_param_write(p, v);
  free(v);
  return st;
}

gs_status gs_param_init_uniform(gs_param *p, double bound, uint64_t seed) {
  if (!p) return gs_fail(GS_ERR_INVALID, "gs_param_init_uniform: no param");
  return fill_raw(p, seed, 0, bound);
}

gs_status gs_param_init_normal(gs_param *p, double std, uint64_t seed) {
  if (!p) return gs_fail(GS_ERR_INVALID, "gs_param_init_normal: no param");
  return fill_raw(p, seed, 1, std);
}

gs_param *gs_init_param(gs_device *dev, const char *prefix, const char *name, gs_shape shape,
                        int trainable) {
  char full[256];
  int len = snprintf(full, sizeof full, "%s%s", prefix ? prefix : "", name);
  if (len < 0 || (size_t)len >= sizeof full) {
    gs_fail(GS_ERR_INVALID, "param name too long: %s%s", prefix ? prefix : "", name);
    return NULL;
  }
  return gs_param_new(dev, full, shape, trainable);
}
