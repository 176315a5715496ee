/* A tiny .eai blob writer for the C tests (host only; uses libc).
 *
 * Describe tensors and ops in a bw_model, then bw_build() lays the blob out as the compiler
 * does (header, tensor table, op table, io list, data; each section 16-byte aligned),
 * assigns every constant tensor a 16-byte aligned data offset and writes the CRC. */
#ifndef EAI_BLOB_WRITER_H
#define EAI_BLOB_WRITER_H

#include <stdint.h>
#include <string.h>

#include "edgeai.h"

#define BW_MAX_TENSORS 32
#define BW_MAX_OPS 16

typedef struct {
    uint8_t dtype, kind, rank;
    uint32_t dims[4];
    uint32_t offset;   /* arena offset (kind 0); assigned by bw_build for constants */
    float scale;
    int32_t zero_point;
    const void *data;  /* constants: product(dims) x element size bytes, little-endian */
} bw_tensor;

typedef struct {
    uint8_t opcode, n_inputs;
    uint16_t inputs[EAI_MAX_OP_INPUTS];
    uint16_t output;
    int32_t params[EAI_NUM_PARAMS];
} bw_op;

typedef struct {
    bw_tensor tensors[BW_MAX_TENSORS];
    uint32_t n_tensors;
    bw_op ops[BW_MAX_OPS];
    uint32_t n_ops;
    uint16_t io[2 * EAI_MAX_IO];
    uint32_t n_inputs, n_outputs;
    uint32_t arena_bytes;
} bw_model;

static void bw_put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void bw_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t bw_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static uint32_t bw_align16(uint32_t v)
{
    return (v + 15u) & ~15u;
}

/* Add a tensor; dims past `rank` are 1. Returns its index. */
static uint16_t bw_tensor_add(bw_model *m, uint8_t dtype, uint8_t kind, uint8_t rank,
                              uint32_t d0, uint32_t d1, uint32_t d2, uint32_t d3,
                              uint32_t arena_offset, const void *data)
{
    bw_tensor *t = &m->tensors[m->n_tensors];
    memset(t, 0, sizeof *t);
    t->dtype = dtype;
    t->kind = kind;
    t->rank = rank;
    t->dims[0] = d0;
    t->dims[1] = rank > 1 ? d1 : 1;
    t->dims[2] = rank > 2 ? d2 : 1;
    t->dims[3] = rank > 3 ? d3 : 1;
    t->offset = arena_offset;
    t->scale = dtype == EAI_INT8 ? 0.05f : 0.0f;
    t->data = data;
    return (uint16_t)m->n_tensors++;
}

static uint16_t bw_act(bw_model *m, uint8_t rank, uint32_t d0, uint32_t d1, uint32_t d2,
                       uint32_t d3, uint32_t arena_offset)
{
    return bw_tensor_add(m, EAI_INT8, EAI_KIND_ARENA, rank, d0, d1, d2, d3, arena_offset, NULL);
}

static uint16_t bw_const_i8(bw_model *m, uint8_t rank, uint32_t d0, uint32_t d1, uint32_t d2,
                            uint32_t d3, const int8_t *data)
{
    return bw_tensor_add(m, EAI_INT8, EAI_KIND_CONST, rank, d0, d1, d2, d3, 0, data);
}

static uint16_t bw_const_i32(bw_model *m, uint32_t n, const int32_t *data)
{
    return bw_tensor_add(m, EAI_INT32, EAI_KIND_CONST, 1, n, 1, 1, 1, 0, data);
}

/* Add an op; unused input slots become EAI_NO_TENSOR. Returns its index. */
static uint32_t bw_op_add(bw_model *m, uint8_t opcode, uint8_t n_inputs, const uint16_t *inputs,
                          uint16_t output, const int32_t *params /* 12 or NULL */)
{
    bw_op *op = &m->ops[m->n_ops];
    uint32_t i;
    memset(op, 0, sizeof *op);
    op->opcode = opcode;
    op->n_inputs = n_inputs;
    for (i = 0; i < EAI_MAX_OP_INPUTS; i++)
        op->inputs[i] = i < n_inputs ? inputs[i] : (uint16_t)EAI_NO_TENSOR;
    op->output = output;
    if (params)
        memcpy(op->params, params, sizeof op->params);
    return m->n_ops++;
}

static uint32_t bw_tensor_bytes(const bw_tensor *t)
{
    return t->dims[0] * t->dims[1] * t->dims[2] * t->dims[3] * (t->dtype == EAI_INT32 ? 4u : 1u);
}

/* Recompute the CRC of a blob whose blob_bytes field is right. */
static void bw_fix_crc(uint8_t *blob)
{
    const uint32_t n = bw_get32(blob + 12);
    bw_put32(blob + 16, eai_crc32(0, blob + 20, n - 20u));
}

/* Lay the model out into out[cap]; returns the blob length, or 0 if cap is too small. */
static size_t bw_build(bw_model *m, uint8_t *out, size_t cap)
{
    const uint32_t tensors_off = EAI_HEADER_BYTES;
    const uint32_t ops_off = bw_align16(tensors_off + m->n_tensors * EAI_TENSOR_BYTES);
    const uint32_t io_off = bw_align16(ops_off + m->n_ops * EAI_OP_BYTES);
    const uint32_t data_off = bw_align16(io_off + 2u * (m->n_inputs + m->n_outputs));
    uint32_t data_bytes = 0, total, i, k;

    for (i = 0; i < m->n_tensors; i++) {
        bw_tensor *t = &m->tensors[i];
        if (t->kind != EAI_KIND_CONST)
            continue;
        t->offset = data_bytes;
        data_bytes = bw_align16(data_bytes + bw_tensor_bytes(t));
    }
    total = data_off + data_bytes;
    if (total > cap)
        return 0;
    memset(out, 0, total);
    memcpy(out, "EDAI", 4);
    bw_put16(out + 4, EAI_VERSION_MAJOR);
    bw_put16(out + 6, EAI_VERSION_MINOR);
    bw_put32(out + 8, EAI_HEADER_BYTES);
    bw_put32(out + 12, total);
    bw_put32(out + 24, m->arena_bytes);
    bw_put16(out + 28, m->n_tensors);
    bw_put16(out + 30, m->n_ops);
    bw_put16(out + 32, m->n_inputs);
    bw_put16(out + 34, m->n_outputs);
    bw_put32(out + 36, tensors_off);
    bw_put32(out + 40, ops_off);
    bw_put32(out + 44, io_off);
    bw_put32(out + 48, data_off);
    bw_put32(out + 52, data_bytes);
    for (i = 0; i < m->n_tensors; i++) {
        const bw_tensor *t = &m->tensors[i];
        uint8_t *r = out + tensors_off + i * EAI_TENSOR_BYTES;
        uint32_t scale_bits;
        r[0] = t->dtype;
        r[1] = t->kind;
        r[2] = t->rank;
        for (k = 0; k < 4; k++)
            bw_put32(r + 4 + 4 * k, t->dims[k]);
        bw_put32(r + 20, t->offset);
        memcpy(&scale_bits, &t->scale, 4);
        bw_put32(r + 24, scale_bits);
        bw_put32(r + 28, (uint32_t)t->zero_point);
        if (t->kind == EAI_KIND_CONST && t->data) {
            if (t->dtype == EAI_INT32) {
                const int32_t *v = (const int32_t *)t->data;
                for (k = 0; k < bw_tensor_bytes(t) / 4u; k++)
                    bw_put32(out + data_off + t->offset + 4 * k, (uint32_t)v[k]);
            } else {
                memcpy(out + data_off + t->offset, t->data, bw_tensor_bytes(t));
            }
        }
    }
    for (i = 0; i < m->n_ops; i++) {
        const bw_op *op = &m->ops[i];
        uint8_t *r = out + ops_off + i * EAI_OP_BYTES;
        r[0] = op->opcode;
        r[1] = 0;
        r[2] = op->n_inputs;
        r[3] = 1;
        for (k = 0; k < EAI_MAX_OP_INPUTS; k++)
            bw_put16(r + 4 + 2 * k, op->inputs[k]);
        bw_put16(r + 16, op->output);
        for (k = 0; k < EAI_NUM_PARAMS; k++)
            bw_put32(r + 20 + 4 * k, (uint32_t)op->params[k]);
    }
    for (i = 0; i < m->n_inputs + m->n_outputs; i++)
        bw_put16(out + io_off + 2 * i, m->io[i]);
    bw_fix_crc(out);
    return total;
}

#endif /* EAI_BLOB_WRITER_H */
