/* gessl — everything a program or plugin needs: the op API, devices and programs, optimizers,
 * models, and the plugin ABIs. */
#ifndef GESSL_H
#define GESSL_H

#include "backend.h"
#include "comm.h"
#include "conform.h"
#include "graph.h"
#include "hparams.h"
#include "meta.h"
#include "method.h"
#include "model.h"
#include "op.h"
#include "optim.h"
#include "runtime.h"
#include "types.h"

#endif
