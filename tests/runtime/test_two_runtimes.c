/* Two runtimes in one process: each loads the plugins and gets its own backend context, so
 * using, probing and closing one never disturbs the other. Run with two device specs (the same
 * backend twice, or two backends); both are used interleaved, then closed in one order and in
 * the other, and the survivor must keep computing after its sibling is gone.
 *
 *   test_two_runtimes SPEC-A SPEC-B */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "gessl/gessl.h"

#define N 37

typedef struct side {
  gs_runtime *rt;
  gs_device *dev;
  gs_param *p;
  gs_graph *g;
  gs_tensor *x, *y;
  gs_program *prog;
} side;

/* y = 2*(x + p) - k, with p a param of the device: a program, a param and feeds per side. */
static int side_open(side *s, const char *spec) {
  memset(s, 0, sizeof *s);
  s->rt = gs_runtime_open(NULL);
  CHECKF(s->rt != NULL, "runtime: %s", gs_errmsg());
  if (!s->rt) return 0;
  s->dev = gs_device_open(s->rt, spec);
  CHECKF(s->dev != NULL, "%s: %s", spec, gs_errmsg());
  if (!s->dev) return 0;
  s->p = gs_param_new(s->dev, "p", GS_SHAPE(N), 1);
  CHECK(s->p != NULL);
  if (!s->p) return 0;
  s->g = gs_graph_new();
  s->x = gs_input(s->g, "x", GS_F32, GS_SHAPE(N));
  s->y = gs_affine(s->g, gs_add(s->g, s->x, gs_param_ref(s->g, s->p)), 2.0f, -1.0f);
  s->prog = gs_compile(s->dev, s->g, &s->y, 1);
  CHECKF(s->prog != NULL, "%s: compile: %s", spec, gs_errmsg());
  return s->prog != NULL;
}

/* Runs one step with param value pv and input offset k, and checks every element. */
static void side_step(side *s, float pv, float k, const char *what) {
  if (!s->prog) return;
  float x[N], y[N];
  for (int i = 0; i < N; i++) x[i] = (float)i * 0.5f + k;
  CHECK(gs_param_fill(s->p, pv) == GS_OK);
  CHECK(gs_program_feed(s->prog, s->x, x) == GS_OK);
  CHECK(gs_program_run(s->prog) == GS_OK);
  CHECKF(gs_program_fetch(s->prog, s->y, y) == GS_OK, "%s: fetch: %s", what, gs_errmsg());
  int bad = 0;
  for (int i = 0; i < N; i++)
    if (fabsf(y[i] - (2.0f * (x[i] + pv) - 1.0f)) > 1e-5f) bad++;
  CHECKF(bad == 0, "%s on %s: %d wrong elements", what, gs_device_backend_name(s->dev), bad);
}

static void side_close(side *s) {
  gs_program_free(s->prog);
  gs_graph_free(s->g);
  gs_param_free(s->p);
  gs_device_close(s->dev);
  gs_runtime_close(s->rt);
  memset(s, 0, sizeof *s);
}

static void run(const char *a, const char *b, int a_first) {
  side s[2];
  int ok = side_open(&s[0], a);
  ok = side_open(&s[1], b) && ok;
  /* Interleaved: the second runtime's load and open happened after the first's compile. */
  for (int r = 0; r < 3 && ok; r++) {
    side_step(&s[0], 0.25f * (float)r, 1.0f, "first runtime");
    side_step(&s[1], -0.5f * (float)r, 2.0f, "second runtime");
  }
  /* Closing one leaves the other working, in both orders. */
  side *gone = a_first ? &s[0] : &s[1], *kept = a_first ? &s[1] : &s[0];
  side_close(gone);
  side_step(kept, 3.0f, -1.0f, "after the other runtime closed");
  /* A new runtime opened while the survivor is alive gets its own context too. */
  side again;
  if (side_open(&again, a_first ? a : b)) {
    side_step(&again, 1.5f, 0.0f, "reopened runtime");
    side_step(kept, -2.0f, 0.5f, "survivor beside the reopened runtime");
  }
  side_close(&again);
  side_close(kept);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: test_two_runtimes SPEC-A SPEC-B\n");
    return 2;
  }
  run(argv[1], argv[2], 1);
  run(argv[1], argv[2], 0);
  return check_summary();
}
