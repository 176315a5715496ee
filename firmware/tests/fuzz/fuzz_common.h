/* Shared by the libFuzzer targets (tests/fuzz/fuzz_*.c): a check that aborts (libFuzzer
 * reports it as a crash, with the input that caused it) and the cost estimate that keeps
 * very large accepted models from being run. */
#ifndef EDGEAI_FUZZ_COMMON_H
#define EDGEAI_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "edgeai.h"
#include "records.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond)                                                                    \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);     \
            abort();                                                                     \
        }                                                                                \
    } while (0)

/* Rough cost of running a loaded model: multiply-accumulates and similar (the estimate of
 * tests/eai_fuzz.c). Ops that only skip padded taps still loop over them: counted too. */
static inline uint64_t fuzz_model_work(const eai_model *m)
{
    uint64_t work = 0;
    uint32_t i;
    for (i = 0; i < m->n_ops; i++) {
        eai_op op;
        eai_tensor out, f;
        uint64_t per = 1;
        eai_decode_op(m->ops + (size_t)i * EAI_OP_BYTES, &op);
        REQUIRE(eai_tensor_info(m, op.output, &out) == EAI_OK);
        switch (op.opcode) {
        case EAI_OP_CONV_2D:
            REQUIRE(eai_tensor_info(m, op.inputs[1], &f) == EAI_OK);
            per = (uint64_t)f.dims[1] * f.dims[2] * f.dims[3];
            break;
        case EAI_OP_DEPTHWISE_CONV_2D:
            REQUIRE(eai_tensor_info(m, op.inputs[1], &f) == EAI_OK);
            per = (uint64_t)f.dims[1] * f.dims[2];
            break;
        case EAI_OP_FULLY_CONNECTED:
            REQUIRE(eai_tensor_info(m, op.inputs[1], &f) == EAI_OK);
            per = f.dims[1];
            break;
        case EAI_OP_AVERAGE_POOL_2D:
        case EAI_OP_MAX_POOL_2D:
            per = (uint64_t)(uint32_t)op.params[2] * (uint32_t)op.params[3];
            break;
        case EAI_OP_SOFTMAX:
            per = 4;
            break;
        case EAI_OP_EMBEDDING_BAG:
            REQUIRE(eai_tensor_info(m, op.inputs[0], &f) == EAI_OK);
            per = f.dims[1];
            break;
        default:
            break;
        }
        work += per * out.bytes + 1;
    }
    return work;
}

#endif /* EDGEAI_FUZZ_COMMON_H */
