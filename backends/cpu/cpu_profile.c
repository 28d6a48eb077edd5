/* GESSL_PROFILE=1 (=2 also lists every launch in order): wall (or CPU) time per launch of every
 * program, summed over its runs and printed to stderr when the program is freed: per opcode (unary,
 * binary and reduce split by function), then the costliest single launches with their shapes. Off
 * by default; when off the run loop pays one branch per program run. */
#include "cpu_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int cpu_profile_enabled(void) {
  const char *e = getenv("GESSL_PROFILE");
  return e && *e && strcmp(e, "0") != 0;
}

/* GESSL_PROFILE=cpu (or 2cpu) times launches in process CPU time instead of wall time: on a
 * machine shared with other work, wall time mostly measures the other work. */
static int use_cpu_clock(void) {
  const char *e = getenv("GESSL_PROFILE");
  return e && strstr(e, "cpu") != NULL;
}

double cpu_now(void) {
  struct timespec ts;
  clock_gettime(use_cpu_clock() ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void key_name(const cpu_step *s, char *out, size_t len) {
  const gs_launch *l = &s->l;
  if (s->fuse) {
    const char *what = s->fkind == CPU_FUSE_UPDATES       ? "updates"
                       : s->fkind == CPU_FUSE_BN_RELU_BWD ? "bn_relu_bwd"
                       : s->fuse > 1                      ? "scale_shift_relu"
                                                          : "scale_shift";
    snprintf(out, len, "fused.%s", what);
    return;
  }
  switch (l->op) {
  case GS_OP_UNARY:
  case GS_OP_UNARY_BWD:
    snprintf(out, len, "%s.%s", gs_opcode_name(l->op), gs_unary_name((gs_unary)l->i[0]));
    break;
  case GS_OP_BINARY:
    snprintf(out, len, "%s.%s", gs_opcode_name(l->op), gs_binary_name((gs_binary)l->i[0]));
    break;
  case GS_OP_REDUCE: {
    static const char *const k[] = {"sum", "mean", "max"};
    snprintf(out, len, "reduce.%s", l->i[0] >= 0 && l->i[0] < 3 ? k[l->i[0]] : "?");
    break;
  }
  default: snprintf(out, len, "%s", gs_opcode_name(l->op)); break;
  }
}

static void shape_str(const gs_tdesc *d, char *out, size_t len) {
  size_t n = 0;
  n += (size_t)snprintf(out + n, len - n, "[");
  for (int k = 0; k < d->shape.rank && n < len; k++)
    n += (size_t)snprintf(out + n, len - n, "%s%lld", k ? "," : "", (long long)d->shape.dim[k]);
  if (n < len) snprintf(out + n, len - n, "]");
}

typedef struct prof_row {
  char name[48];
  double s;
  long calls;
} prof_row;

static int by_time(const void *a, const void *b) {
  double x = ((const prof_row *)a)->s, y = ((const prof_row *)b)->s;
  return x < y ? 1 : x > y ? -1 : 0;
}

void cpu_profile_report(const gs_bprog *p) {
  if (!p->prof || !p->runs) return;
  double total = 0.0;
  prof_row *rows = calloc(p->n + 1, sizeof *rows);
  size_t *idx = malloc((p->n + 1) * sizeof *idx);
  if (!rows || !idx) {
    free(rows);
    free(idx);
    return;
  }
  size_t nr = 0, absorbed = 0, runs_of = 0;
  for (size_t k = 0; k < p->n; k++) {
    char name[48];
    idx[k] = k;
    /* Launches a fused step ran are not launches of their own. */
    if (absorbed) {
      absorbed--;
      continue;
    }
    absorbed = (size_t)p->steps[k].fuse;
    runs_of++;
    key_name(&p->steps[k], name, sizeof name);
    size_t j = 0;
    while (j < nr && strcmp(rows[j].name, name) != 0) j++;
    if (j == nr) snprintf(rows[nr++].name, sizeof rows[0].name, "%s", name);
    rows[j].s += p->prof[k];
    rows[j].calls++;
    total += p->prof[k];
  }
  qsort(rows, nr, sizeof *rows, by_time);
  fprintf(stderr,
          "gessl cpu profile: program of %zu launches (%zu after fusion), %ld runs, %.1f ms %s "
          "per run\n",
          p->n, runs_of, p->runs, 1e3 * total / (double)p->runs,
          use_cpu_clock() ? "process CPU time" : "wall time");
  for (size_t j = 0; j < nr && rows[j].s > 0.002 * total; j++)
    fprintf(stderr, "  %-22s %8.2f ms/run %5.1f%%  %4ld launches\n", rows[j].name,
            1e3 * rows[j].s / (double)p->runs, 100.0 * rows[j].s / total, rows[j].calls);
  /* Partial selection sort: only the first few are printed. */
  size_t top = p->n < 25 ? p->n : 25;
  for (size_t j = 0; j < top; j++)
    for (size_t k = j + 1; k < p->n; k++)
      if (p->prof[idx[k]] > p->prof[idx[j]]) {
        size_t t = idx[j];
        idx[j] = idx[k];
        idx[k] = t;
      }
  fprintf(stderr, "  costliest launches:\n");
  for (size_t j = 0; j < top; j++) {
    const gs_launch *l = &p->steps[idx[j]].l;
    char name[48], si[64], so[64];
    key_name(&p->steps[idx[j]], name, sizeof name);
    shape_str(&l->in_desc[0], si, sizeof si);
    shape_str(&l->out_desc, so, sizeof so);
    fprintf(stderr, "  #%-5zu %-22s %7.2f ms  in0 %s out %s\n", idx[j], name,
            1e3 * p->prof[idx[j]] / (double)p->runs, l->n_in ? si : "-", so);
  }
  if (getenv("GESSL_PROFILE")[0] == '2') {
    fprintf(stderr, "  every launch in program order:\n");
    for (size_t k = 0; k < p->n; k++) {
      const gs_launch *l = &p->steps[k].l;
      char name[48], si[64], s1[64], so[64];
      key_name(&p->steps[k], name, sizeof name);
      shape_str(&l->in_desc[0], si, sizeof si);
      shape_str(&l->in_desc[1], s1, sizeof s1);
      shape_str(&l->out_desc, so, sizeof so);
      fprintf(stderr, "  #%-5zu %-22s %7.2f ms  in0 %s in1 %s out %s\n", k, name,
              1e3 * p->prof[k] / (double)p->runs, l->n_in ? si : "-", l->n_in > 1 ? s1 : "-", so);
    }
  }
  free(rows);
  free(idx);
}
