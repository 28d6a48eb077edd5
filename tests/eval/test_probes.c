/* The probes on synthetic features whose answer is known: separable classes give about 100%,
 * random labels give chance; the few-shot interval is sane; the device kNN equals the host one. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gessl/eval.h"

static uint64_t rng_state = 12345;
static double urand(void) {
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(rng_state >> 11) / 9007199254740992.0;
}
static double nrand(void) {
  double u = urand(), v = urand();
  return sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v);
}

/* n rows of width d: class centres (random unit-ish directions scaled by `sep`) plus unit noise;
 * random_labels: labels drawn independently of the rows. */
static gs_features make(int64_t n, int64_t d, int classes, double sep, int random_labels,
                        const float *centres) {
  gs_features f = {n, d, malloc((size_t)(n * d) * sizeof(float)), malloc((size_t)n * 4), classes};
  for (int64_t i = 0; i < n; i++) {
    int c = (int)(i % classes);
    for (int64_t j = 0; j < d; j++) f.x[i * d + j] = (float)(sep * centres[c * d + j] + nrand());
    f.labels[i] = random_labels ? (int32_t)(urand() * classes) : c;
  }
  return f;
}

int main(void) {
  enum { D = 32, C = 5 };
  float centres[C * D];
  for (int k = 0; k < C * D; k++) centres[k] = (float)nrand();

  gs_features tr = make(500, D, C, 3.0, 0, centres), te = make(200, D, C, 3.0, 0, centres);
  gs_features rtr = make(500, D, C, 0.0, 1, centres), rte = make(400, D, C, 0.0, 1, centres);

  gs_knn_result k = {0}, kr = {0};
  gs_knn_options ko = {50, 0.1f};
  CHECKF(gs_knn_eval(NULL, &tr, &te, &ko, &k) == GS_OK, "%s", gs_errmsg());
  printf("knn separable: top1 %.3f top5 %.3f\n", k.top1, k.top5);
  CHECK(k.top1 > 0.98 && k.top5 == 1.0);
  CHECKF(gs_knn_eval(NULL, &rtr, &rte, &ko, &kr) == GS_OK, "%s", gs_errmsg());
  printf("knn random labels: top1 %.3f\n", kr.top1);
  CHECK(kr.top1 > 0.08 && kr.top1 < 0.35);

  /* The same votes with the similarities computed by the CPU backend's GEMM. */
  gs_runtime *rt = gs_runtime_open(NULL);
  gs_device *dev = rt ? gs_device_open(rt, "cpu") : NULL;
  CHECKF(dev != NULL, "%s", gs_errmsg());
  if (dev) {
    gs_knn_result kd = {0};
    CHECKF(gs_knn_eval(dev, &tr, &te, &ko, &kd) == GS_OK, "%s", gs_errmsg());
    CHECK(fabs(kd.top1 - k.top1) < 1e-9 && fabs(kd.top5 - k.top5) < 1e-9);
    CHECKF(gs_knn_eval(dev, &rtr, &rte, &ko, &kd) == GS_OK, "%s", gs_errmsg());
    CHECKF(fabs(kd.top1 - kr.top1) <= 1.0 / 400, "device %.4f host %.4f", kd.top1, kr.top1);
    gs_knn_result kdef = {0};
    CHECKF(gs_knn_eval(dev, &tr, &te, NULL, &kdef) == GS_OK, "%s", gs_errmsg()); /* k=200 */
    CHECK(kdef.top1 > 0.95);
  }

  /* Mismatched widths and unlabelled features are refused with a message. */
  gs_features narrow = te;
  narrow.d = D - 1;
  CHECK(gs_knn_eval(NULL, &tr, &narrow, NULL, &k) == GS_ERR_SHAPE && strstr(gs_errmsg(), "wide"));

  gs_linear_result lr = {0};
  gs_linear_options lo = {20, 64, 0.1f, 0.9f, 0, 1};
  CHECKF(gs_linear_probe(&tr, &te, &lo, &lr) == GS_OK, "%s", gs_errmsg());
  printf("linear separable: train %.3f test %.3f top5 %.3f loss %.4f\n", lr.train_top1, lr.top1,
         lr.top5, lr.final_loss);
  CHECK(lr.top1 > 0.97 && lr.train_top1 > 0.97 && lr.final_loss < 0.2);
  CHECKF(gs_linear_probe(&rtr, &rte, &lo, &lr) == GS_OK, "%s", gs_errmsg());
  printf("linear random labels: train %.3f test %.3f\n", lr.train_top1, lr.top1);
  CHECK(lr.top1 > 0.08 && lr.top1 < 0.35);
  /* The default 100 epochs, with the seed fixing the result exactly. */
  gs_linear_result l1 = {0}, l2 = {0};
  CHECK(gs_linear_probe(&tr, &te, NULL, &l1) == GS_OK &&
        gs_linear_probe(&tr, &te, NULL, &l2) == GS_OK);
  CHECK(l1.top1 == l2.top1 && l1.final_loss == l2.final_loss && l1.top1 > 0.97);

  gs_fewshot_result fs = {0};
  gs_fewshot_options fo = {5, 1, 15, 600, 7};
  CHECKF(gs_fewshot_eval(&te, &fo, &fs) == GS_OK, "%s", gs_errmsg());
  printf("few-shot separable 5-way 1-shot: %.3f +- %.3f\n", fs.mean, fs.ci95);
  CHECK(fs.mean > 0.9 && fs.ci95 >= 0 && fs.ci95 < 0.02 && fs.episodes == 600);
  fo.shots = 5;
  gs_fewshot_result fs5 = {0};
  CHECKF(gs_fewshot_eval(&te, &fo, &fs5) == GS_OK, "%s", gs_errmsg());
  CHECK(fs5.mean >= fs.mean - 0.01);
  fo.shots = 1;
  CHECKF(gs_fewshot_eval(&rte, &fo, &fs) == GS_OK, "%s", gs_errmsg());
  printf("few-shot random 5-way 1-shot: %.3f +- %.3f\n", fs.mean, fs.ci95);
  /* Chance is 1/5; the interval is about 1.96 * 0.1 / sqrt(600). */
  CHECK(fabs(fs.mean - 0.2) < 0.03 && fs.ci95 > 0.003 && fs.ci95 < 0.02);
  /* 10 rows per class: the default 15 queries shrink to what the classes hold. */
  gs_features small = te;
  small.n = 50;
  gs_fewshot_options fd = {0};
  fd.episodes = 50;
  CHECKF(gs_fewshot_eval(&small, &fd, &fs) == GS_OK, "%s", gs_errmsg());
  CHECK(fs.queries == 9 && fs.mean > 0.9);
  fo.queries = 100; /* 40 rows per class: too few */
  CHECK(gs_fewshot_eval(&te, &fo, &fs) == GS_ERR_INVALID && strstr(gs_errmsg(), "classes"));

  gs_features_free(&tr);
  gs_features_free(&te);
  gs_features_free(&rtr);
  gs_features_free(&rte);
  if (dev) gs_device_close(dev);
  if (rt) gs_runtime_close(rt);
  return check_summary();
}
