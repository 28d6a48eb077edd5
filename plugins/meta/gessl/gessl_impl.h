/* Internals of the GeSSL meta-optimizer shared by its files. */
#ifndef GESSL_META_GESSL_IMPL_H
#define GESSL_META_GESSL_IMPL_H

#include "gessl/gessl.h"

enum {
  HP_K,
  HP_M,
  HP_LAMBDA,
  HP_ALPHA,
  HP_INNER_STEPS,
  HP_EPS0,
  HP_KL,
  HP_GRADIENT,
  HP_OUTER_VIEWS,
  HP_TAU_PI,
  HP_OUTER_LR,
  HP_OBJECTIVE,
  HP_TARGET,
  HP_COMBINE,
  HP_COUNT
};

enum { GESSL_MAX_VIEWS = 8, GESSL_MAX_TASKS = 64 };
enum { KL_TARGET_TO_MODEL = 0, KL_MODEL_TO_TARGET = 1 };
enum { GRAD_AID_FD = 0, GRAD_FIRST_ORDER = 1 };
enum { VIEWS_SAME = 0, VIEWS_FRESH = 1 };
enum { OBJECTIVE_SSL_KL = 0, OBJECTIVE_KL = 1 };
enum { TARGET_TASK = 0, TARGET_AHEAD = 1 };
enum { COMBINE_MEAN = 0, COMBINE_SUM = 1, COMBINE_REPTILE = 2 };

/* One compiled program and the graph it was built from (kept for feeds and fetches). */
typedef struct gessl_prog {
  gs_graph *g;
  gs_program *prog;
  gs_tensor *out[3];
  int n_out;
} gessl_prog;

typedef struct gessl {
  const gs_meta_host *host;
  /* Settings, resolved from the declared hyperparameters. */
  int K, M, inner_steps, kl, gradient, outer_views, objective, target, combine;
  float lambda, eps0, tau_pi, outer_lr;
  float alpha;      /* this step's inner step size */
  double alpha_set; /* as set: > 0 absolute, < 0 a multiple of the scheduled learning rate */

  gs_pset *params; /* theta, the host's (not owned): every program reads and updates these */
  /* Parameter copies, allocated once (owned): theta at the start of the step, theta_m, the last
   * gradient of L_ssl, the task gradient v, and the sum of the tasks' meta-gradients. */
  gs_pset *theta0, *theta_m, *grad, *v, *acc;
  gs_pset *state_keep; /* the state after the pass at theta (NULL when the host offers none) */
  /* target = ahead: the state before the look-ahead passes, the look-ahead gradient, and per
   * task the target (a set holding logq, and one copy of it per task). */
  gs_pset *state_pre, *ahead, *logq_set, *logq_task[GESSL_MAX_TASKS];
  /* target = ahead: the step's batches (and fresh views), held on the host between the
   * look-ahead and the tasks: n_views arrays of each view's size per task. */
  float *held[GESSL_MAX_TASKS][GESSL_MAX_VIEWS], *held_fresh[GESSL_MAX_TASKS][GESSL_MAX_VIEWS];
  const float *cur[GESSL_MAX_VIEWS], *cur_fresh[GESSL_MAX_VIEWS];
  /* The task's views as device tensors, uploaded once per task and read by every program; a
   * second set holds fresh views for the task loss when outer_views = fresh. */
  gs_param *views[GESSL_MAX_VIEWS], *fresh[GESSL_MAX_VIEWS];
  gs_param *const *query; /* the views the target and the task loss see: views or fresh */
  int n_views;
  int64_t rows;      /* 2N: rows of the method's embed */
  gs_param *no_self; /* [2N, 2N]: -1e4 on the diagonal (softmax over j != i), 0 elsewhere */
  gs_param *logq;    /* [2N, 2N]: log p_phi, the detached target of the task loss */

  gessl_prog p_grad;   /* L_ssl and its gradient into `grad`;   out: L_ssl */
  gessl_prog p_target; /* log p_phi(.|i) into `logq`;             out: none */
  gessl_prog p_task;   /* the task loss, gradient into `v`;      out: total, L_ssl, KL */
  gessl_prog p_update; /* the optimizer's update of theta by acc; out: none */
  size_t copy_bytes;
} gessl;

/* One outer step (gessl_step.c), and this step's inner step size (alpha as set, or its multiple of
 * the scheduled learning rate). */
gs_status gessl_step(void *self, gs_meta_result *res);
float gessl_alpha(const gessl *s);

/* Builds and compiles the four programs of s (gessl_build.c). */
gs_status gessl_build_programs(gessl *s);
void gessl_prog_free(gessl_prog *p);

/* Wraps the current message with what GeSSL was doing. */
gs_status gessl_fail(gs_status st, const char *what);

#endif
