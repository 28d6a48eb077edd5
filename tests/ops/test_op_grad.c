/* Gradient of every op of graph.h against central finite differences on the CPU backend.
 *
 * For each case the f32 operands are trainable params, the loss is L = sum(y * r) with a fixed
 * random projection r of y's shape, and gs_grad's result for each param is compared with
 * (L(x + h e_i) - L(x - h e_i)) / 2h for every element (or an even sample of them in larger
 * tensors). Values are chosen away from kinks (relu/abs at 0, ties of max), so that a step of h
 * never crosses one. An argument runs only the cases whose name contains it. */
#include <math.h>

#include "check.h"
#include "op_harness.h"

enum init { U, P, D, E, A };
#define MAXF 4
#define MAXI 2
#define MAXS 2

typedef struct op_case {
  const char *name;
  int nf;
  gs_shape fs[MAXF];
  int finit[MAXF];
  int ni; /* i32 inputs: values in [0, imax) */
  gs_shape is[MAXI];
  int imax[MAXI];
  int ns; /* non-trainable state params (BN running stats), filled with init P */
  gs_shape ss[MAXS];
  gs_tensor *(*build)(gs_graph *g, gs_tensor **x, gs_tensor **ix, gs_param **st);
} op_case;

static const float H = 1e-2f;

static void fill_values(float *v, int64_t n, int kind) {
  if (kind == D || kind == E) {
    /* A shuffled grid 0.05 apart (E sits halfway between D's points): no ties within h. */
    for (int64_t k = 0; k < n; k++)
      v[k] = (float)(0.05 * (double)(k - n / 2) + (kind == E ? 0.025 : 0.0));
    for (int64_t k = n - 1; k > 0; k--) {
      int64_t j = (int64_t)(harness_uniform() * (double)(k + 1));
      float t = v[k];
      v[k] = v[j];
      v[j] = t;
    }
    return;
  }
  for (int64_t k = 0; k < n; k++) {
    double u = harness_uniform();
    switch (kind) {
    case P: v[k] = (float)(0.5 + 1.5 * u); break;
    case A: v[k] = (float)((harness_uniform() < 0.5 ? -1 : 1) * (0.2 + 0.8 * u)); break;
    default: v[k] = (float)(2.0 * u - 1.0); break;
    }
  }
}

/* ---- Builders ---- */
#define UN(fn)                                                                                     \
  static gs_tensor *b_##fn(gs_graph *g, gs_tensor **x, gs_tensor **ix, gs_param **st) {            \
    return gs_##fn(g, x[0]);                                                                       \
  }
UN(exp)
UN(log)
UN(sqrt)
UN(rsqrt)
UN(square)
UN(abs)
UN(relu)
UN(sigmoid)
UN(tanh)
UN(recip)
UN(neg)
UN(transpose)
UN(global_avg_pool)
UN(sum_all)
UN(mean_all)
#define BIN(fn)                                                                                    \
  static gs_tensor *b_##fn(gs_graph *g, gs_tensor **x, gs_tensor **ix, gs_param **st) {            \
    return gs_##fn(g, x[0], x[1]);                                                                 \
  }
BIN(add)
BIN(sub)
BIN(mul)
BIN(div)
BIN(maximum)
BIN(minimum)
BIN(kl_div)

#define BUILD(nm)                                                                                  \
  static gs_tensor *b_##nm(gs_graph *g, gs_tensor **x, gs_tensor **ix, gs_param **st)
BUILD(affine) { return gs_affine(g, x[0], -1.5f, 0.25f); }
BUILD(scale) { return gs_scale(g, x[0], 3.0f); }
BUILD(add_scalar) { return gs_add_scalar(g, x[0], 0.7f); }
BUILD(axpby) { return gs_axpby(g, 0.5f, x[0], -2.0f, x[1]); }
BUILD(scalar_chain) { return gs_mul(g, gs_sum_all(g, x[0]), gs_exp(g, gs_mean_all(g, x[1]))); }
BUILD(sum02) { return gs_sum(g, x[0], (const int[]){0, 2}, 2, 0); }
BUILD(sum_neg_keep) { return gs_sum(g, x[0], (const int[]){-1}, 1, 1); }
BUILD(mean1) { return gs_mean(g, x[0], (const int[]){1}, 1, 0); }
BUILD(mean013) { return gs_mean(g, x[0], (const int[]){0, 1, 3}, 3, 1); }
BUILD(max02) { return gs_max(g, x[0], (const int[]){0, 2}, 2, 0); }
BUILD(max1) { return gs_max(g, x[0], (const int[]){1}, 1, 1); }
BUILD(expand) { return gs_expand(g, x[0], GS_SHAPE(2, 3, 4)); }
BUILD(reshape) { return gs_square(g, gs_reshape(g, x[0], GS_SHAPE(2, -1, 3))); }
BUILD(permute) { return gs_permute(g, x[0], (const int[]){2, 0, 1}); }
BUILD(concat) { return gs_concat(g, x, 3, 1); }
BUILD(concat0) {
  gs_tensor *xs[2] = {x[0], gs_square(g, x[0])};
  return gs_concat(g, xs, 2, 0);
}
BUILD(slice) { return gs_slice(g, x[0], 1, 1, 2); }
BUILD(slice_last) { return gs_slice(g, x[0], -1, 2, 3); }
BUILD(gather) { return gs_gather_rows(g, x[0], ix[0]); }
BUILD(scatter) { return gs_scatter_add_rows(g, x[0], ix[0], 4); }
BUILD(onehot_mul) { return gs_mul(g, x[0], gs_onehot(g, ix[0], 4)); }
BUILD(mm) { return gs_matmul(g, x[0], x[1], 0, 0); }
BUILD(mm_ta) { return gs_matmul(g, x[0], x[1], 1, 0); }
BUILD(mm_tb) { return gs_matmul(g, x[0], x[1], 0, 1); }
BUILD(mm_tab) { return gs_matmul(g, x[0], x[1], 1, 1); }
BUILD(linear) { return gs_linear(g, x[0], x[1], x[2]); }
BUILD(linear_nob) { return gs_linear(g, x[0], x[1], NULL); }
BUILD(conv_s1p1) { return gs_conv2d(g, x[0], x[1], 1, 1); }
BUILD(conv_s2p1) { return gs_conv2d(g, x[0], x[1], 2, 1); }
BUILD(conv_s2p0) { return gs_conv2d(g, x[0], x[1], 2, 0); }
BUILD(maxpool_k2) { return gs_max_pool2d(g, x[0], 2, 2, 0); }
BUILD(maxpool_k3p1) { return gs_max_pool2d(g, x[0], 3, 2, 1); }
BUILD(avgpool_k2) { return gs_avg_pool2d(g, x[0], 2, 2, 0); }
BUILD(avgpool_k3p1) { return gs_avg_pool2d(g, x[0], 3, 2, 1); }
BUILD(bn_train) { return gs_batch_norm(g, x[0], x[1], x[2], st[0], st[1], 1, 0.1f, 1e-5f); }
BUILD(bn_train_noaff) { return gs_batch_norm(g, x[0], NULL, NULL, st[0], st[1], 1, 0.1f, 1e-5f); }
BUILD(bn_eval) { return gs_batch_norm(g, x[0], x[1], x[2], st[0], st[1], 0, 0.1f, 1e-5f); }
BUILD(ln) { return gs_layer_norm(g, x[0], x[1], x[2], 1e-5f); }
BUILD(ln_noaff) { return gs_layer_norm(g, x[0], NULL, NULL, 1e-5f); }
BUILD(l2n1) { return gs_l2_normalize(g, x[0], 1, 1e-6f); }
BUILD(l2n0) { return gs_l2_normalize(g, x[0], 0, 1e-6f); }
BUILD(softmax1) { return gs_softmax(g, x[0], 1); }
BUILD(softmax0) { return gs_softmax(g, x[0], 0); }
BUILD(log_softmax) { return gs_log_softmax(g, x[0], -1); }
BUILD(ce) { return gs_cross_entropy(g, x[0], ix[0]); }
BUILD(kl_softmax) { return gs_kl_div(g, gs_log_softmax(g, x[0], 1), gs_log_softmax(g, x[1], 1)); }
/* Gradients that reach an op as a broadcast (a mean's or a sum's), or meet another there. */
BUILD(center) { return gs_sub(g, x[0], gs_mean(g, x[0], (const int[]){0, 2}, 2, 1)); }
BUILD(mean_square) { return gs_mean(g, gs_square(g, x[0]), (const int[]){0, 2, 3}, 3, 1); }
BUILD(mean_exp) { return gs_mean(g, gs_exp(g, x[0]), (const int[]){1}, 1, 0); }
BUILD(sum_log) { return gs_sum(g, gs_log(g, x[0]), (const int[]){0}, 1, 1); }
BUILD(mean_scale) { return gs_mean(g, gs_scale(g, x[0], 3.0f), (const int[]){1}, 1, 0); }
BUILD(sum_axpby) { return gs_sum(g, gs_axpby(g, 0.5f, x[0], -2.0f, x[1]), (const int[]){0}, 1, 0); }
BUILD(two_means) {
  return gs_add(g, gs_mean(g, x[0], (const int[]){0}, 1, 1),
                gs_mean(g, x[0], (const int[]){1}, 1, 1));
}
BUILD(mean_plus_sum) {
  return gs_add(g, gs_mean(g, x[0], (const int[]){1}, 1, 1),
                gs_sum(g, x[0], (const int[]){1}, 1, 1));
}
BUILD(sum0_add) { return gs_sum(g, gs_add(g, x[0], x[1]), (const int[]){0}, 1, 0); }
BUILD(sum1_add) { return gs_sum(g, gs_add(g, x[0], x[1]), (const int[]){1}, 1, 0); }
BUILD(sum0_sub) { return gs_sum(g, gs_sub(g, x[0], x[1]), (const int[]){0}, 1, 0); }
BUILD(sum1_div) { return gs_sum(g, gs_div(g, x[0], x[1]), (const int[]){1}, 1, 0); }
BUILD(sum0_mul) { return gs_sum(g, gs_mul(g, x[0], x[1]), (const int[]){0}, 1, 1); }
BUILD(sum_expand) {
  return gs_sum(g, gs_expand(g, x[0], GS_SHAPE(2, 3, 4)), (const int[]){0}, 1, 0);
}
BUILD(mlp) {
  /* A small network: several families at once, gradients meeting through shared operands. */
  gs_tensor *h = gs_tanh(g, gs_linear(g, x[0], x[1], NULL));
  gs_tensor *z = gs_l2_normalize(g, h, 1, 1e-6f);
  gs_tensor *s = gs_matmul(g, z, z, 0, 1);
  return gs_log_softmax(g, gs_scale(g, s, 2.0f), 1);
}

#define S(...) GS_SHAPE(__VA_ARGS__)
#define NOI                                                                                        \
  0, {S(1)}, { 0 }
static const op_case cases[] = {
    {"exp", 1, {S(3, 5)}, {U}, .build = b_exp},
    {"log", 1, {S(3, 5)}, {P}, .build = b_log},
    {"sqrt", 1, {S(7)}, {P}, .build = b_sqrt},
    {"rsqrt", 1, {S(7)}, {P}, .build = b_rsqrt},
    {"square", 1, {S(2, 3, 3)}, {U}, .build = b_square},
    {"abs", 1, {S(3, 5)}, {A}, .build = b_abs},
    {"relu", 1, {S(3, 5)}, {A}, .build = b_relu},
    {"sigmoid", 1, {S(3, 5)}, {U}, .build = b_sigmoid},
    {"tanh", 1, {S(3, 5)}, {U}, .build = b_tanh},
    {"recip", 1, {S(3, 5)}, {P}, .build = b_recip},
    {"neg", 1, {S(5)}, {U}, .build = b_neg},
    {"affine", 1, {S(3, 5)}, {U}, .build = b_affine},
    {"scale", 1, {S(3, 5)}, {U}, .build = b_scale},
    {"add_scalar", 1, {S(3, 5)}, {U}, .build = b_add_scalar},
    {"add bcast [3,4]+[4]", 2, {S(3, 4), S(4)}, {U, U}, .build = b_add},
    {"add bcast [3,1,5]+[4,1]", 2, {S(3, 1, 5), S(4, 1)}, {U, U}, .build = b_add},
    {"sub bcast [2,3,1]-[3,5]", 2, {S(2, 3, 1), S(3, 5)}, {U, U}, .build = b_sub},
    {"mul bcast [3,1,5]*[4,1]", 2, {S(3, 1, 5), S(4, 1)}, {U, U}, .build = b_mul},
    {"mul same", 2, {S(3, 5), S(3, 5)}, {U, U}, .build = b_mul},
    {"div bcast [3,4]/[3,1]", 2, {S(3, 4), S(3, 1)}, {U, P}, .build = b_div},
    {"div by [1]", 2, {S(3, 4), S(1)}, {U, P}, .build = b_div},
    {"maximum bcast", 2, {S(3, 4), S(4)}, {D, E}, .build = b_maximum},
    {"minimum bcast", 2, {S(3, 4), S(3, 1)}, {D, E}, .build = b_minimum},
    {"axpby", 2, {S(3, 5), S(3, 5)}, {U, U}, .build = b_axpby},
    {"rank-0 chain", 2, {S(3, 2), S(5)}, {U, U}, .build = b_scalar_chain},
    {"sum axes 0,2", 1, {S(3, 4, 5)}, {U}, .build = b_sum02},
    {"sum axis -1 keepdim", 1, {S(3, 4, 5)}, {U}, .build = b_sum_neg_keep},
    {"mean axis 1", 1, {S(3, 4, 5)}, {U}, .build = b_mean1},
    {"mean axes 0,1,3 keepdim", 1, {S(2, 3, 2, 3)}, {U}, .build = b_mean013},
    {"max axes 0,2", 1, {S(3, 4, 5)}, {D}, .build = b_max02},
    {"max axis 1 keepdim", 1, {S(3, 5)}, {D}, .build = b_max1},
    {"sum_all", 1, {S(3, 5)}, {U}, .build = b_sum_all},
    {"mean_all", 1, {S(3, 5)}, {U}, .build = b_mean_all},
    {"expand [3,1]->[2,3,4]", 1, {S(3, 1)}, {U}, .build = b_expand},
    {"reshape", 1, {S(3, 4)}, {U}, .build = b_reshape},
    {"permute", 1, {S(2, 3, 4)}, {U}, .build = b_permute},
    {"transpose", 1, {S(2, 3, 5)}, {U}, .build = b_transpose},
    {"concat axis 1", 3, {S(2, 1, 3), S(2, 3, 3), S(2, 2, 3)}, {U, U, U}, .build = b_concat},
    {"concat axis 0 shared", 1, {S(2, 3)}, {U}, .build = b_concat0},
    {"slice", 1, {S(3, 5, 2)}, {U}, .build = b_slice},
    {"slice last axis", 1, {S(3, 7)}, {U}, .build = b_slice_last},
    {"gather_rows", 1, {S(5, 3)}, {U}, 1, {S(7)}, {5}, .build = b_gather},
    {"scatter_add_rows", 1, {S(7, 3)}, {U}, 1, {S(7)}, {4}, .build = b_scatter},
    {"onehot", 1, {S(5, 4)}, {U}, 1, {S(5)}, {4}, .build = b_onehot_mul},
    {"matmul", 2, {S(3, 4), S(4, 5)}, {U, U}, .build = b_mm},
    {"matmul ta", 2, {S(4, 3), S(4, 5)}, {U, U}, .build = b_mm_ta},
    {"matmul tb", 2, {S(3, 4), S(5, 4)}, {U, U}, .build = b_mm_tb},
    {"matmul ta tb", 2, {S(4, 3), S(5, 4)}, {U, U}, .build = b_mm_tab},
    {"bmm", 2, {S(2, 3, 4), S(2, 4, 5)}, {U, U}, .build = b_mm},
    {"bmm ta tb", 2, {S(2, 4, 3), S(2, 5, 4)}, {U, U}, .build = b_mm_tab},
    {"bmm a batch 1", 2, {S(1, 3, 4), S(3, 4, 2)}, {U, U}, .build = b_mm},
    {"bmm b batch 1 tb", 2, {S(2, 3, 4), S(1, 5, 4)}, {U, U}, .build = b_mm_tb},
    {"bmm b rank 2 ta", 2, {S(2, 4, 3), S(4, 5)}, {U, U}, .build = b_mm_ta},
    {"bmm a rank 2", 2, {S(3, 4), S(2, 4, 2)}, {U, U}, .build = b_mm},
    {"linear", 3, {S(3, 4), S(5, 4), S(5)}, {U, U, U}, .build = b_linear},
    {"linear no bias", 2, {S(3, 4), S(2, 4)}, {U, U}, .build = b_linear_nob},
    {"conv2d s1 p1", 2, {S(2, 3, 5, 4), S(2, 3, 3, 3)}, {U, U}, .build = b_conv_s1p1},
    {"conv2d s2 p1", 2, {S(1, 2, 7, 6), S(3, 2, 3, 3)}, {U, U}, .build = b_conv_s2p1},
    {"conv2d s2 p0 1x1", 2, {S(2, 3, 5, 5), S(2, 3, 1, 1)}, {U, U}, .build = b_conv_s2p0},
    {"max_pool2d k2 s2", 1, {S(1, 2, 5, 4)}, {D}, .build = b_maxpool_k2},
    {"max_pool2d k3 s2 p1", 1, {S(2, 1, 5, 5)}, {D}, .build = b_maxpool_k3p1},
    {"avg_pool2d k2 s2", 1, {S(1, 2, 5, 4)}, {U}, .build = b_avgpool_k2},
    {"avg_pool2d k3 s2 p1", 1, {S(2, 1, 5, 5)}, {U}, .build = b_avgpool_k3p1},
    {"global_avg_pool", 1, {S(2, 3, 3, 2)}, {U}, .build = b_global_avg_pool},
    {"batch_norm train [N,C]",
     3,
     {S(5, 3), S(3), S(3)},
     {U, P, U},
     NOI,
     2,
     {S(3), S(3)},
     b_bn_train},
    {"batch_norm train NCHW",
     3,
     {S(2, 3, 3, 2), S(3), S(3)},
     {U, P, U},
     NOI,
     2,
     {S(3), S(3)},
     b_bn_train},
    {"batch_norm train no affine", 1, {S(3, 2, 2, 3)}, {U}, NOI, 2, {S(2), S(2)}, b_bn_train_noaff},
    {"batch_norm eval NCHW",
     3,
     {S(2, 3, 2, 3), S(3), S(3)},
     {U, P, U},
     NOI,
     2,
     {S(3), S(3)},
     b_bn_eval},
    {"layer_norm", 3, {S(3, 5), S(5), S(5)}, {U, P, U}, .build = b_ln},
    {"layer_norm rank 3 no affine", 1, {S(2, 3, 4)}, {U}, .build = b_ln_noaff},
    {"l2_normalize axis 1", 1, {S(3, 5)}, {U}, .build = b_l2n1},
    {"l2_normalize axis 0", 1, {S(3, 5)}, {U}, .build = b_l2n0},
    {"softmax axis 1", 1, {S(3, 5)}, {U}, .build = b_softmax1},
    {"softmax axis 0", 1, {S(3, 5)}, {U}, .build = b_softmax0},
    {"log_softmax", 1, {S(2, 3, 5)}, {U}, .build = b_log_softmax},
    {"cross_entropy", 1, {S(4, 5)}, {U}, 1, {S(4)}, {5}, .build = b_ce},
    {"kl_div of log_softmax", 2, {S(3, 5), S(3, 5)}, {U, U}, .build = b_kl_softmax},
    {"kl_div raw", 2, {S(3, 4), S(3, 4)}, {U, U}, .build = b_kl_div},
    {"x - mean(x) axes 0,2", 1, {S(3, 2, 4)}, {U}, .build = b_center},
    {"mean of square axes 0,2,3", 1, {S(2, 3, 2, 3)}, {U}, .build = b_mean_square},
    {"mean of exp axis 1", 1, {S(3, 4)}, {U}, .build = b_mean_exp},
    {"sum of log axis 0", 1, {S(3, 4)}, {P}, .build = b_sum_log},
    {"mean of scale axis 1", 1, {S(3, 4)}, {U}, .build = b_mean_scale},
    {"sum of axpby axis 0", 2, {S(3, 4), S(3, 4)}, {U, U}, .build = b_sum_axpby},
    {"mean axis 0 + mean axis 1", 1, {S(3, 4)}, {U}, .build = b_two_means},
    {"mean + sum axis 1", 1, {S(3, 4)}, {U}, .build = b_mean_plus_sum},
    {"sum axis 0 of [3,4]+[4]", 2, {S(3, 4), S(4)}, {U, U}, .build = b_sum0_add},
    {"sum axis 1 of [3,4]+[4]", 2, {S(3, 4), S(4)}, {U, U}, .build = b_sum1_add},
    {"sum axis 0 of [3,4]-[4]", 2, {S(3, 4), S(4)}, {U, U}, .build = b_sum0_sub},
    {"sum axis 1 of [3,4]/[3,1]", 2, {S(3, 4), S(3, 1)}, {U, P}, .build = b_sum1_div},
    {"sum axis 0 of [3,4]*[3,4]", 2, {S(3, 4), S(3, 4)}, {U, U}, .build = b_sum0_mul},
    {"sum axis 0 of expand", 1, {S(3, 1)}, {U}, .build = b_sum_expand},
    {"mlp composite", 2, {S(4, 3), S(5, 3)}, {U, U}, .build = b_mlp},
};

/* One case: returns the number of mismatching elements (the first few are reported). */
static int run_case(gs_device *dev, const op_case *c) {
  int bad = 0;
  gs_graph *g = gs_graph_new();
  gs_param *fp[MAXF] = {0}, *sp[MAXS] = {0};
  float *fv[MAXF] = {0};
  int32_t *iv[MAXI] = {0};
  gs_tensor *x[MAXF] = {0}, *ix[MAXI] = {0}, *grads[MAXF] = {0};
  float *proj = NULL, *gv[MAXF] = {0};
  gs_program *prog = NULL;
  for (int k = 0; k < c->nf; k++) {
    int64_t n = gs_shape_numel(&c->fs[k]);
    char name[32];
    snprintf(name, sizeof name, "x%d", k);
    fp[k] = gs_param_new(dev, name, c->fs[k], 1);
    fv[k] = malloc((size_t)n * sizeof(float));
    if (!fp[k] || !fv[k]) goto fail;
    fill_values(fv[k], n, c->finit[k]);
    gs_param_write(fp[k], fv[k]);
    x[k] = gs_param_ref(g, fp[k]);
  }
  for (int k = 0; k < c->ns; k++) {
    int64_t n = gs_shape_numel(&c->ss[k]);
    float v[64];
    fill_values(v, n, P);
    sp[k] = gs_param_new(dev, k ? "running_var" : "running_mean", c->ss[k], 0);
    if (!sp[k]) goto fail;
    gs_param_write(sp[k], v);
  }
  for (int k = 0; k < c->ni; k++) {
    int64_t n = gs_shape_numel(&c->is[k]);
    char name[32];
    snprintf(name, sizeof name, "i%d", k);
    iv[k] = malloc((size_t)n * sizeof(int32_t));
    if (!iv[k]) goto fail;
    for (int64_t j = 0; j < n; j++) iv[k][j] = (int32_t)(harness_uniform() * c->imax[k]);
    ix[k] = gs_input(g, name, GS_I32, c->is[k]);
  }
  gs_tensor *y = c->build(g, x, ix, sp);
  gs_shape ys = gs_tensor_shape(y);
  gs_tensor *r = gs_input(g, "proj", GS_F32, ys);
  gs_tensor *loss = gs_sum_all(g, gs_mul(g, y, r));
  if (gs_graph_status(g) != GS_OK) {
    fprintf(stderr, "[%s] build: %s\n", c->name, gs_graph_error(g));
    bad++;
    goto fail;
  }
  if (gs_grad(g, loss, x, c->nf, grads) != GS_OK) {
    fprintf(stderr, "[%s] grad: %s\n", c->name, gs_graph_error(g));
    bad++;
    goto fail;
  }
  gs_tensor *outs[1 + MAXF] = {loss};
  for (int k = 0; k < c->nf; k++) outs[1 + k] = grads[k];
  prog = gs_compile(dev, g, outs, 1 + c->nf);
  if (!prog) {
    fprintf(stderr, "[%s] compile: %s\n", c->name, gs_errmsg());
    bad++;
    goto fail;
  }
  int64_t ny = gs_shape_numel(&ys);
  proj = malloc((size_t)ny * sizeof(float));
  if (!proj) goto fail;
  fill_values(proj, ny, U);
  int fed = gs_program_feed(prog, r, proj) == GS_OK;
  for (int k = 0; k < c->ni; k++) fed &= gs_program_feed(prog, ix[k], iv[k]) == GS_OK;
  if (!fed || gs_program_run(prog) != GS_OK) {
    fprintf(stderr, "[%s] feed/run: %s\n", c->name, gs_errmsg());
    bad++;
    goto fail;
  }
  /* Every gradient is fetched before the finite differences run the program again. */
  for (int k = 0; k < c->nf; k++) {
    gv[k] = malloc((size_t)gs_shape_numel(&c->fs[k]) * sizeof(float));
    if (!gv[k] || gs_program_fetch(prog, grads[k], gv[k]) != GS_OK) {
      fprintf(stderr, "[%s] fetch grad %d: %s\n", c->name, k, gs_errmsg());
      bad++;
      goto fail;
    }
  }
  for (int k = 0; k < c->nf; k++) {
    int64_t n = gs_shape_numel(&c->fs[k]);
    double gmax = 1e-3;
    for (int64_t j = 0; j < n; j++) gmax = fmax(gmax, fabs(gv[k][j]));
    int64_t step = n > 40 ? (n + 39) / 40 : 1;
    for (int64_t j = 0; j < n; j += step) {
      float lp = 0, lm = 0, x0 = fv[k][j];
      fv[k][j] = x0 + H;
      gs_param_write(fp[k], fv[k]);
      gs_program_run(prog);
      gs_program_fetch(prog, loss, &lp);
      fv[k][j] = x0 - H;
      gs_param_write(fp[k], fv[k]);
      gs_program_run(prog);
      gs_program_fetch(prog, loss, &lm);
      fv[k][j] = x0;
      gs_param_write(fp[k], fv[k]);
      double fd = ((double)lp - (double)lm) / (2.0 * H), an = gv[k][j];
      double tol = 2e-2 * fmax(fabs(fd), fabs(an)) + 2e-3 * gmax + 1e-4;
      if (!(fabs(fd - an) <= tol)) {
        if (bad < 6)
          fprintf(stderr, "[%s] d/dx%d[%lld]: analytic %.6g, finite difference %.6g\n", c->name, k,
                  (long long)j, an, fd);
        bad++;
      }
    }
  }
fail:
  if (!prog && !bad) bad++;
  gs_program_free(prog);
  gs_graph_free(g);
  for (int k = 0; k < MAXF; k++) {
    if (fp[k]) gs_param_free(fp[k]);
    free(fv[k]);
    free(gv[k]);
  }
  for (int k = 0; k < MAXS; k++)
    if (sp[k]) gs_param_free(sp[k]);
  for (int k = 0; k < MAXI; k++) free(iv[k]);
  free(proj);
  return bad;
}

/* A param that does not reach the loss gets zeros; a detached path contributes nothing. */
static void test_unreached(gs_device *dev) {
  gs_graph *g = gs_graph_new();
  gs_param *pa = gs_param_new(dev, "a", GS_SHAPE(2, 3), 1);
  gs_param *pb = gs_param_new(dev, "b", GS_SHAPE(4), 1);
  gs_param *pc = gs_param_new(dev, "c", GS_SHAPE(3), 1);
  float va[6] = {1, 2, 3, 4, 5, 6}, vb[4] = {1, 1, 1, 1}, ga[6], gb[4], gc[3] = {1, 1, 1};
  gs_param_write(pa, va);
  gs_param_write(pb, vb);
  gs_tensor *a = gs_param_ref(g, pa), *b = gs_param_ref(g, pb), *c = gs_param_ref(g, pc);
  /* d/da sum(a * detach(a^2)) = a^2: the detached factor is a constant. */
  gs_tensor *loss = gs_add(g, gs_sum_all(g, gs_mul(g, a, gs_detach(g, gs_square(g, a)))),
                           gs_sum_all(g, gs_detach(g, gs_scale(g, b, 2.0f))));
  gs_tensor *ps[3] = {a, b, c}, *gr[3];
  CHECK(gs_grad(g, loss, ps, 3, gr) == GS_OK);
  gs_program *prog = gs_compile(dev, g, gr, 3);
  CHECKF(prog != NULL, "%s", gs_errmsg());
  if (prog) {
    CHECK(gs_program_run(prog) == GS_OK);
    CHECK(gs_program_fetch(prog, gr[0], ga) == GS_OK);
    CHECK(gs_program_fetch(prog, gr[1], gb) == GS_OK);
    CHECK(gs_program_fetch(prog, gr[2], gc) == GS_OK);
    for (int k = 0; k < 6; k++) CHECK(fabsf(ga[k] - va[k] * va[k]) < 1e-5f);
    for (int k = 0; k < 4; k++) CHECK(gb[k] == 0.0f);
    for (int k = 0; k < 3; k++) CHECK(gc[k] == 0.0f);
  }
  gs_program_free(prog);
  gs_graph_free(g);
  gs_param_free(pa);
  gs_param_free(pb);
  gs_param_free(pc);
}

int main(int argc, char **argv) {
  gs_runtime *rt;
  gs_device *dev = harness_open_cpu(&rt);
  CHECK(dev != NULL);
  if (!dev) return check_summary();
  const char *only = argc > 1 ? argv[1] : NULL;
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    if (only && !strstr(cases[k].name, only)) continue;
    int bad = run_case(dev, &cases[k]);
    CHECKF(bad == 0, "%s: %d gradient elements off", cases[k].name, bad);
  }
  if (!only) test_unreached(dev);
  gs_device_close(dev);
  gs_runtime_close(rt);
  return check_summary();
}
