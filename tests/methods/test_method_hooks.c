/* The after-step hooks of the methods with device-side state, checked against host arithmetic:
 *   byol, mocov2, dino: teacher := m*teacher + (1-m)*online with m the first value of the ramp;
 *   mocov2: the queue gets the batch's keys in front, its oldest rows drop off the end;
 *   dino:   centre := 0.9*centre + 0.1*(mean teacher output of the batch).
 * Usage: test_method_hooks METHOD [DEVICE]
 *
 * Embeddings go in through the "identity" backbone (features = the input), so the heads see known
 * values. For the queue and centre checks the teacher's head is first made equal to the online
 * one: the teacher's outputs are then computable from the embeddings the loss program returns. */
#include <stdlib.h>
#include <string.h>

#include "method_fixture.h"

enum { N = 4, D = 6, MAX_VIEWS = 4 };

static uint64_t rng = 0x1234567ull;
static float uniform(void) {
  rng = rng * 6364136223846793005ull + 1442695040888963407ull;
  return (float)((rng >> 40) / 16777216.0) * 2.0f - 1.0f;
}

static float *read_all(gs_param *p) {
  gs_shape s = gs_param_shape(p);
  float *v = malloc((size_t)gs_shape_numel(&s) * sizeof *v);
  if (v && gs_param_read(p, v) != GS_OK) {
    free(v);
    return NULL;
  }
  return v;
}

static int64_t numel(const gs_param *p) {
  gs_shape s = gs_param_shape(p);
  return gs_shape_numel(&s);
}

static gs_param *find(const gs_pset *s, const char *name) {
  for (int k = 0; k < gs_pset_count(s); k++)
    if (!strcmp(gs_param_name(gs_pset_get(s, k)), name)) return gs_pset_get(s, k);
  return NULL;
}

static void randomise(gs_param *p) {
  int64_t n = numel(p);
  float *v = malloc((size_t)n * sizeof *v);
  if (!v) return;
  for (int64_t k = 0; k < n; k++) v[k] = uniform();
  CHECK(gs_param_write(p, v) == GS_OK);
  free(v);
}

/* The teacher counterpart of online param `name` ("projector.0.weight" ->
 * "target.projector.0.weight"), or NULL. */
static gs_param *teacher_of(const gs_pset *state, const char *prefix, const char *name) {
  char full[256];
  snprintf(full, sizeof full, "%s%s", prefix, name);
  return find(state, full);
}

static double max_diff(const float *a, const float *b, int64_t n) {
  double m = 0.0;
  for (int64_t k = 0; k < n; k++) {
    double d = fabs((double)a[k] - (double)b[k]);
    if (d > m) m = d;
  }
  return m;
}

static void normalise_rows(float *x, int64_t rows, int64_t cols) {
  for (int64_t i = 0; i < rows; i++) {
    double s = 0.0;
    for (int64_t j = 0; j < cols; j++) s += (double)x[i * cols + j] * x[i * cols + j];
    double inv = s > 0 ? 1.0 / sqrt(s) : 0.0;
    for (int64_t j = 0; j < cols; j++) x[i * cols + j] = (float)(x[i * cols + j] * inv);
  }
}

typedef struct method_case {
  const char *name;
  const char *teacher_prefix;
  const char *sets[8][2];
  float m0; /* the declared first momentum, as set below */
} method_case;

static const method_case cases[] = {
    {"byol",
     "target.",
     {{"proj_hidden_dim", "8"},
      {"proj_output_dim", "5"},
      {"pred_hidden_dim", "7"},
      {"momentum", "0.9"}},
     0.9f},
    {"mocov2",
     "momentum.",
     {{"proj_hidden_dim", "8"},
      {"proj_output_dim", "5"},
      {"queue_size", "12"},
      {"momentum", "0.8"}},
     0.8f},
    {"dino",
     "teacher.",
     {{"proj_hidden_dim", "8"},
      {"bottleneck_dim", "5"},
      {"num_prototypes", "7"},
      {"momentum", "0.7"}},
     0.7f},
};

static double *hparams(const gs_method_iface *m, const method_case *c) {
  double *hp = calloc((size_t)m->n_hparams + 1, sizeof *hp);
  if (!hp) return NULL;
  for (int k = 0; k < m->n_hparams; k++) {
    hp[k] = m->hparams[k].def;
    for (int s = 0; s < 8 && c->sets[s][0]; s++)
      if (!strcmp(c->sets[s][0], m->hparams[k].name))
        CHECKF(gs_hparam_parse(&m->hparams[k], c->sets[s][1], &hp[k]) == GS_OK, "%s", gs_errmsg());
  }
  return hp;
}

static void run_case(gs_runtime *rt, gs_device *dev, const method_case *c) {
  const gs_method_iface *m = gs_runtime_method(rt, c->name);
  CHECKF(m != NULL, "%s", gs_errmsg());
  if (!m) return;
  double *hp = hparams(m, c);
  method_fixture f;
  int opened = method_fixture_open(&f, dev, m, hp, N, D, 10, 7);
  void *self = f.self;
  gs_pset *params = f.params, *state = f.state;
  gs_graph *g = gs_graph_new();
  gs_program *prog = NULL;
  float *embed = NULL, *queue_before = NULL, *centre_before = NULL, *w_last = NULL;
  float **online = NULL, **teacher_before = NULL;
  int np = 0;
  if (!opened || !g) goto done;
  np = gs_pset_count(params);
  online = calloc((size_t)np, sizeof *online);
  teacher_before = calloc((size_t)np, sizeof *teacher_before);
  if (!online || !teacher_before) goto done;

  /* Online and teacher heads with different random values; for the queue and centre checks the
   * teacher then takes the online values (its EMA result is the same either way). */
  int same_teacher = strcmp(c->name, "byol") != 0;
  for (int k = 0; k < np; k++) {
    gs_param *p = gs_pset_get(params, k);
    gs_param *t = teacher_of(state, c->teacher_prefix, gs_param_name(p));
    /* BYOL's predictor is the one online head without a target counterpart. */
    CHECKF(t != NULL || !strncmp(gs_param_name(p), "predictor.", 10), "%s: no teacher for %s",
           c->name, gs_param_name(p));
    randomise(p);
    if (!t) continue;
    if (same_teacher) {
      float *v = read_all(p);
      if (v) CHECK(gs_param_write(t, v) == GS_OK);
      free(v);
    } else {
      randomise(t);
    }
    online[k] = read_all(p);
    teacher_before[k] = read_all(t);
  }
  gs_param *queue = find(state, "mocov2.queue"), *centre = find(state, "dino.center");
  if (queue) queue_before = read_all(queue);
  if (centre) {
    randomise(centre);
    centre_before = read_all(centre);
  }

  int n_views = 2;
  gs_tensor *views[MAX_VIEWS];
  for (int v = 0; v < n_views; v++) {
    char in_name[16];
    snprintf(in_name, sizeof in_name, "view%d", v);
    views[v] = gs_input(g, in_name, GS_F32, GS_SHAPE(N, D, 1, 1));
  }
  gs_method_out out = {0};
  CHECKF(m->build_loss(self, g, views, n_views, &out) == GS_OK, "%s", gs_errmsg());
  if (!out.loss || !out.embed) goto done;
  gs_tensor *outs[2] = {out.loss, out.embed};
  prog = gs_compile(dev, g, outs, 2);
  CHECKF(prog != NULL, "%s", gs_errmsg());
  if (!prog) goto done;
  float x[N * D];
  for (int v = 0; v < n_views; v++) {
    for (int k = 0; k < N * D; k++) x[k] = uniform();
    CHECK(gs_program_feed(prog, views[v], x) == GS_OK);
  }
  gs_step_info info = {0, 10, 0};
  if (m->feed) CHECK(m->feed(self, prog, &info) == GS_OK);
  CHECK(gs_program_run(prog) == GS_OK);
  float loss = 0.0f;
  CHECK(gs_program_fetch(prog, out.loss, &loss) == GS_OK && isfinite(loss));
  int64_t e_dim = gs_tensor_dim(out.embed, 1);
  embed = malloc((size_t)(2 * N * e_dim) * sizeof *embed);
  if (!embed) goto done;
  CHECK(gs_program_fetch(prog, out.embed, embed) == GS_OK);
  gs_param *last = find(params, "head.last_layer.weight");
  if (last) w_last = read_all(last);

  /* The loss run saved what the hooks need; the teacher now takes values of its own, so that
   * the EMA below has something to move. */
  for (int k = 0; k < np && same_teacher; k++) {
    gs_param *t = teacher_of(state, c->teacher_prefix, gs_param_name(gs_pset_get(params, k)));
    if (!t) continue;
    randomise(t);
    free(teacher_before[k]);
    teacher_before[k] = read_all(t);
  }

  info.step = 1;
  CHECKF(m->after_step(self, &info) == GS_OK, "%s", gs_errmsg());

  /* The teacher moved by the EMA with the first momentum of the ramp. */
  for (int k = 0; k < np; k++) {
    gs_param *t = teacher_of(state, c->teacher_prefix, gs_param_name(gs_pset_get(params, k)));
    if (!t || !online[k] || !teacher_before[k]) continue;
    int64_t n = numel(t);
    float *now = read_all(t), *want = malloc((size_t)n * sizeof *want);
    if (now && want) {
      for (int64_t i = 0; i < n; i++)
        want[i] = c->m0 * teacher_before[k][i] + (1.0f - c->m0) * online[k][i];
      double err = max_diff(now, want, n);
      CHECKF(err < 1e-5, "%s: EMA of %s off by %g", c->name, gs_param_name(t), err);
    }
    free(now);
    free(want);
  }

  if (queue && queue_before) {
    /* The keys are the normalised projections of the (identical) momentum encoder, in batch row
     * order; the old rows follow. */
    int64_t k_rows = gs_param_shape(queue).dim[0], rows = 2 * N;
    float *now = read_all(queue);
    normalise_rows(embed, rows, e_dim);
    if (now) {
      double err_new = max_diff(now, embed, rows * e_dim);
      double err_old = max_diff(now + rows * e_dim, queue_before, (k_rows - rows) * e_dim);
      CHECKF(err_new < 1e-5, "mocov2: queue front is not the batch's keys (off by %g)", err_new);
      CHECKF(err_old == 0.0, "mocov2: old queue rows not shifted back (off by %g)", err_old);
    }
    free(now);
  }

  if (centre && centre_before && w_last) {
    /* Teacher output = normalised bottleneck @ normalised prototypes^T. */
    int64_t kp = gs_param_shape(centre).dim[1];
    normalise_rows(embed, 2 * N, e_dim);
    normalise_rows(w_last, kp, e_dim);
    float *now = read_all(centre), *want = calloc((size_t)kp, sizeof *want);
    if (now && want) {
      for (int64_t j = 0; j < kp; j++) {
        double s = 0.0;
        for (int64_t i = 0; i < 2 * N; i++)
          for (int64_t e = 0; e < e_dim; e++)
            s += (double)embed[i * e_dim + e] * w_last[j * e_dim + e];
        want[j] = 0.9f * centre_before[j] + 0.1f * (float)(s / (2 * N));
      }
      double err = max_diff(now, want, kp);
      CHECKF(err < 1e-5, "dino: centre off by %g", err);
    }
    free(now);
    free(want);
  }
  printf("%s: loss %.5f, after-step hooks checked\n", c->name, (double)loss);

done:
  for (int k = 0; k < np; k++) {
    if (online) free(online[k]);
    if (teacher_before) free(teacher_before[k]);
  }
  free(online);
  free(teacher_before);
  free(embed);
  free(queue_before);
  free(centre_before);
  free(w_last);
  if (prog) gs_program_free(prog);
  gs_graph_free(g);
  method_fixture_close(&f);
  free(hp);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: test_method_hooks METHOD [DEVICE]\n");
    return 2;
  }
  gs_runtime *rt = gs_runtime_open(NULL);
  gs_device *dev = rt ? gs_device_open(rt, argc > 2 ? argv[2] : "cpu") : NULL;
  CHECKF(dev != NULL, "%s", gs_errmsg());
  int found = 0;
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++)
    if (dev && !strcmp(cases[k].name, argv[1])) {
      run_case(rt, dev, &cases[k]);
      found = 1;
    }
  CHECKF(found, "no hook checks for method '%s'", argv[1]);
  if (dev) gs_device_close(dev);
  if (rt) gs_runtime_close(rt);
  return check_summary();
}
