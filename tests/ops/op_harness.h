/* Shared helpers for the op tests: a CPU device and seeded values. */
#ifndef GESSL_TEST_OP_HARNESS_H
#define GESSL_TEST_OP_HARNESS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gessl/runtime.h"

static uint64_t harness_rng_ = 0x9e3779b97f4a7c15ull;

/* Uniform in [0, 1). */
static inline double harness_uniform(void) {
  harness_rng_ ^= harness_rng_ << 13;
  harness_rng_ ^= harness_rng_ >> 7;
  harness_rng_ ^= harness_rng_ << 17;
  return (double)(harness_rng_ >> 11) / 9007199254740992.0;
}

/* Opens the CPU backend's device, or returns NULL after printing why. */
static inline gs_device *harness_open_cpu(gs_runtime **rt) {
  *rt = gs_runtime_open(NULL);
  if (!*rt) {
    fprintf(stderr, "gs_runtime_open: %s\n", gs_errmsg());
    return NULL;
  }
  gs_device *dev = gs_device_open(*rt, "cpu");
  if (!dev) fprintf(stderr, "gs_device_open(cpu): %s\n", gs_errmsg());
  return dev;
}

#endif
