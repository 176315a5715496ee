/* Little-endian readers and record decoders for the .eai blob (docs/model-format.md).
 * Records are read byte by byte, never through struct casts, so the blob may sit at any
 * 4-byte aligned address and the code does not depend on struct padding. */
#ifndef EAI_RECORDS_H
#define EAI_RECORDS_H

#include <stdint.h>
#include <string.h>

#include "edgeai.h"

/* Header field offsets. */
#define EAI_H_MAGIC 0u
#define EAI_H_VERSION_MAJOR 4u
#define EAI_H_VERSION_MINOR 6u
#define EAI_H_HEADER_BYTES 8u
#define EAI_H_BLOB_BYTES 12u
#define EAI_H_CRC32 16u
#define EAI_H_FLAGS 20u
#define EAI_H_ARENA_BYTES 24u
#define EAI_H_N_TENSORS 28u
#define EAI_H_N_OPS 30u
#define EAI_H_N_INPUTS 32u
#define EAI_H_N_OUTPUTS 34u
#define EAI_H_TENSORS_OFF 36u
#define EAI_H_OPS_OFF 40u
#define EAI_H_IO_OFF 44u
#define EAI_H_DATA_OFF 48u
#define EAI_H_DATA_BYTES 52u
#define EAI_H_NAMES_OFF 56u
#define EAI_H_NAMES_BYTES 60u
#define EAI_CRC_START 20u /* the CRC covers [20, blob_bytes) */

static inline uint32_t eai_rd16(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8);
}

static inline uint32_t eai_rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

/* uint32 -> int32 two's complement reinterpretation without implementation-defined casts. */
static inline int32_t eai_u32_to_i32(uint32_t u)
{
    return u <= (uint32_t)INT32_MAX ? (int32_t)u : (int32_t)(u - 2147483648u) + INT32_MIN;
}

static inline int32_t eai_rdi32(const uint8_t *p)
{
    return eai_u32_to_i32(eai_rd32(p));
}

/* A decoded op record (68 bytes). */
typedef struct {
    uint8_t opcode;
    uint8_t layout;
    uint8_t n_inputs;
    uint8_t n_outputs;
    uint16_t inputs[EAI_MAX_OP_INPUTS]; /* tensor indices, EAI_NO_TENSOR = absent */
    uint16_t output;
    uint16_t reserved;
    int32_t params[EAI_NUM_PARAMS];
} eai_op;

static inline void eai_decode_op(const uint8_t *rec, eai_op *op)
{
    uint32_t i;
    op->opcode = rec[0];
    op->layout = rec[1];
    op->n_inputs = rec[2];
    op->n_outputs = rec[3];
    for (i = 0; i < EAI_MAX_OP_INPUTS; i++)
        op->inputs[i] = (uint16_t)eai_rd16(rec + 4u + 2u * i);
    op->output = (uint16_t)eai_rd16(rec + 16);
    op->reserved = (uint16_t)eai_rd16(rec + 18);
    for (i = 0; i < EAI_NUM_PARAMS; i++)
        op->params[i] = eai_rdi32(rec + 20u + 4u * i);
}

/* Decode a tensor record (32 bytes). `bytes` saturates at 0xFFFFFFFF so a hostile record
 * cannot wrap it; the loader rejects anything above EAI_MAX_TENSOR_BYTES. */
static inline void eai_decode_tensor(const uint8_t *rec, eai_tensor *t)
{
    uint32_t i, bits;
    uint64_t n = 1;
    t->dtype = rec[0];
    t->kind = rec[1];
    t->rank = rec[2];
    for (i = 0; i < 4; i++) {
        t->dims[i] = eai_rd32(rec + 4u + 4u * i);
        n *= t->dims[i];
        if (n > 0xFFFFFFFFu)
            n = 0x100000000u; /* stays above any limit; cannot overflow 64 bits */
    }
    n *= (t->dtype == EAI_INT32) ? 4u : 1u;
    t->bytes = n > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)n;
    t->offset = eai_rd32(rec + 20);
    bits = eai_rd32(rec + 24);
    memcpy(&t->scale, &bits, sizeof t->scale);
    t->zero_point = eai_rdi32(rec + 28);
}

#endif /* EAI_RECORDS_H */
