/* Internals of the conformance engine (conform.c runs, cases.c builds the cases). The public
 * call is gs_conform_run (include/gessl/conform.h). */
#ifndef GESSL_CONFORM_IMPL_H
#define GESSL_CONFORM_IMPL_H

#include <stdint.h>
#include <stdio.h>

#include "gessl/conform.h"

typedef enum cf_gen {
  CF_UNIFORM = 0, /* uniform in [lo, hi) */
  CF_SMALLINT,    /* integers in [lo, hi] as f32: makes ties and equalities likely */
  CF_AWAY0,       /* |x| in [lo, hi), random sign: for 1/x */
  CF_INT,         /* i32 in [lo, hi] */
  CF_FORWARD      /* UNARY_BWD's y: fn(in0) computed on the host */
} cf_gen;

typedef struct cf_case {
  char label[192];
  gs_launch l;                  /* op, n_in, descs, attributes; buffers are bound per backend */
  cf_gen gen[GS_LAUNCH_MAX_IN]; /* how each input is generated */
  float lo[GS_LAUNCH_MAX_IN], hi[GS_LAUNCH_MAX_IN];
  int alias; /* out aliases in[alias] (in place), -1 if out has its own buffer */
  int written[GS_LAUNCH_MAX_IN]; /* inputs the op updates in place, compared after the run */
  int prefill_out;               /* out starts with random data that must survive (INSERT) */
  double bound;                  /* NMSE bound for this case */
} cf_case;

/* A multi-launch program over a table of tensors: checks ordering between dependent launches
 * (read after write, write after read, in place), which single launches cannot. */
#define CF_CHAIN_MAX_T 10
#define CF_CHAIN_MAX_L 10
typedef struct cf_chain {
  char label[160];
  int nt;
  gs_tdesc t[CF_CHAIN_MAX_T];
  cf_gen gen[CF_CHAIN_MAX_T]; /* for inputs */
  float lo[CF_CHAIN_MAX_T], hi[CF_CHAIN_MAX_T];
  int input[CF_CHAIN_MAX_T];   /* filled with data before the run */
  int written[CF_CHAIN_MAX_T]; /* inputs updated in place, compared as updates */
  int nl;
  gs_launch l[CF_CHAIN_MAX_L]; /* op, n_in, attributes; descs are taken from the table */
  int lin[CF_CHAIN_MAX_L][GS_LAUNCH_MAX_IN], lout[CF_CHAIN_MAX_L];
  double bound;
} cf_chain;

/* Builds the multi-launch programs (selected by --ops chain); returns the count or -1. */
int cf_make_chains(cf_chain **chains);

/* Builds the cases of every opcode into a new array (caller frees); returns the count, or -1 on
 * allocation failure. */
int cf_make_cases(cf_case **cases);

#endif
