/* The interpreter: decodes each op record of a loaded model and calls its kernel.
 *
 * Everything here trusts what eai_load() checked; it re-checks only what the caller
 * passes now (the arena, the op range). */
#include <string.h>

#include "edgeai.h"
#include "kernels.h"
#include "records.h"

#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "int32 constants are used in place: the runtime needs a little-endian target"
#endif
#endif

int eai_tensor_info(const eai_model *m, uint32_t index, eai_tensor *t)
{
    if (!m || !t || !m->tensors || index >= m->n_tensors)
        return EAI_ERR_ARG;
    eai_decode_tensor(m->tensors + (size_t)index * EAI_TENSOR_BYTES, t);
    return EAI_OK;
}

int eai_input_index(const eai_model *m, uint32_t i)
{
    if (!m || !m->io || i >= m->n_inputs)
        return EAI_ERR_ARG;
    return (int)eai_rd16(m->io + 2u * i);
}

int eai_output_index(const eai_model *m, uint32_t i)
{
    if (!m || !m->io || i >= m->n_outputs)
        return EAI_ERR_ARG;
    return (int)eai_rd16(m->io + 2u * (m->n_inputs + i));
}

int eai_blob_size(const void *header, size_t len, uint32_t *blob_bytes)
{
    const uint8_t *b = (const uint8_t *)header;
    if (!b || !blob_bytes)
        return EAI_ERR_ARG;
    if (len < EAI_HEADER_BYTES)
        return EAI_ERR_TRUNCATED;
    if (memcmp(b, "EDAI", 4) != 0)
        return EAI_ERR_MAGIC;
    if (eai_rd16(b + EAI_H_VERSION_MAJOR) != EAI_VERSION_MAJOR)
        return EAI_ERR_VERSION;
    if (eai_rd32(b + EAI_H_HEADER_BYTES) != EAI_HEADER_BYTES ||
        eai_rd32(b + EAI_H_BLOB_BYTES) < EAI_HEADER_BYTES)
        return EAI_ERR_HEADER;
    *blob_bytes = eai_rd32(b + EAI_H_BLOB_BYTES);
    return EAI_OK;
}

int eai_input_buffer(const eai_model *m, uint8_t *arena, uint32_t i, void **data, size_t *bytes)
{
    eai_tensor t;
    const int idx = eai_input_index(m, i);
    if (idx < 0 || !arena || !data || !bytes || eai_tensor_info(m, (uint32_t)idx, &t) != EAI_OK ||
        t.kind != EAI_KIND_ARENA)
        return EAI_ERR_ARG;
    *data = arena + t.offset;
    *bytes = t.bytes;
    return EAI_OK;
}

int eai_output_buffer(const eai_model *m, const uint8_t *arena, uint32_t i, const void **data,
                      size_t *bytes)
{
    eai_tensor t;
    const int idx = eai_output_index(m, i);
    if (idx < 0 || !arena || !data || !bytes || eai_tensor_info(m, (uint32_t)idx, &t) != EAI_OK)
        return EAI_ERR_ARG;
    *data = t.kind == EAI_KIND_ARENA ? arena + t.offset : m->data + t.offset;
    *bytes = t.bytes;
    return EAI_OK;
}

/* A tensor of the op: its decoded record and where its bytes are. */
typedef struct {
    eai_tensor t;
    int32_t dims[4];
    const uint8_t *data; /* NULL for an absent optional input */
} bound_tensor;

static void bind(const eai_model *m, uint8_t *arena, uint16_t index, bound_tensor *b)
{
    uint32_t i;
    if (index == EAI_NO_TENSOR) {
        memset(b, 0, sizeof *b);
        return;
    }
    eai_decode_tensor(m->tensors + (size_t)index * EAI_TENSOR_BYTES, &b->t);
    for (i = 0; i < 4; i++)
        b->dims[i] = (int32_t)b->t.dims[i];
    b->data = (b->t.kind == EAI_KIND_ARENA ? arena : m->data) + b->t.offset;
}

/* int32 constants are 16-byte aligned in the blob, int32 activations 4-byte aligned in the
 * arena (checked by the loader). */
static const int32_t *as_i32(const bound_tensor *b)
{
    return (const int32_t *)(const void *)b->data;
}

static const int8_t *as_i8(const bound_tensor *b)
{
    return (const int8_t *)(const void *)b->data;
}

/* Shape extended to 4-D with the rank right-aligned (for broadcasting). */
/* The constant inputs of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED (slots 1..4). */
typedef struct {
    bound_tensor filter, mult, shift;
    const int32_t *bias; /* NULL when the op has none */
} weights;

static void bind_weights(const eai_model *m, uint8_t *arena, const eai_op *op, weights *w)
{
    bound_tensor bias;
    bind(m, arena, op->inputs[1], &w->filter);
    bind(m, arena, op->inputs[2], &bias);
    bind(m, arena, op->inputs[3], &w->mult);
    bind(m, arena, op->inputs[4], &w->shift);
    w->bias = bias.data ? as_i32(&bias) : NULL;
}

static void right_align(const eai_tensor *t, int32_t out[4])
{
    uint32_t i, pad = 4u - t->rank;
    for (i = 0; i < 4; i++)
        out[i] = i < pad ? 1 : (int32_t)t->dims[i - pad];
}

static void run_op(const eai_model *m, uint8_t *arena, const eai_op *op)
{
    bound_tensor in, out;
    int8_t *dst;
    bind(m, arena, op->inputs[0], &in);
    bind(m, arena, op->output, &out);
    dst = (int8_t *)(void *)(arena + out.t.offset);

    switch (op->opcode) {
    case EAI_OP_CONV_2D:
    case EAI_OP_DEPTHWISE_CONV_2D: {
        weights w;
        eai_conv_params p;
        bind_weights(m, arena, op, &w);
        p.stride_h = op->params[0];
        p.stride_w = op->params[1];
        p.dilation_h = op->params[2];
        p.dilation_w = op->params[3];
        p.pad_h = op->params[4];
        p.pad_w = op->params[5];
        p.input_offset = op->params[6];
        p.output_offset = op->params[7];
        p.act_min = op->params[8];
        p.act_max = op->params[9];
        p.depth_multiplier = op->params[10];
        if (op->opcode == EAI_OP_CONV_2D)
            eai_conv2d(&p, as_i8(&in), in.dims, as_i8(&w.filter), w.filter.dims, w.bias,
                       as_i32(&w.mult), as_i32(&w.shift), w.mult.dims[0], dst, out.dims);
        else
            eai_depthwise_conv2d(&p, as_i8(&in), in.dims, as_i8(&w.filter), w.filter.dims, w.bias,
                                 as_i32(&w.mult), as_i32(&w.shift), w.mult.dims[0], dst, out.dims);
        break;
    }
    case EAI_OP_FULLY_CONNECTED: {
        weights w;
        eai_fc_params p;
        int32_t depth, out_depth;
        bind_weights(m, arena, op, &w);
        p.filter_offset = op->params[0];
        p.input_offset = op->params[6];
        p.output_offset = op->params[7];
        p.act_min = op->params[8];
        p.act_max = op->params[9];
        out_depth = w.filter.dims[0];
        depth = w.filter.dims[1];
        eai_fully_connected(&p, as_i8(&in), (int32_t)(in.t.bytes / (uint32_t)depth), depth,
                            as_i8(&w.filter), out_depth, w.bias, as_i32(&w.mult), as_i32(&w.shift),
                            w.mult.dims[0], dst);
        break;
    }
    case EAI_OP_AVERAGE_POOL_2D:
    case EAI_OP_MAX_POOL_2D: {
        eai_pool_params p;
        p.stride_h = op->params[0];
        p.stride_w = op->params[1];
        p.filter_h = op->params[2];
        p.filter_w = op->params[3];
        p.pad_h = op->params[4];
        p.pad_w = op->params[5];
        p.act_min = op->params[8];
        p.act_max = op->params[9];
        if (op->opcode == EAI_OP_AVERAGE_POOL_2D)
            eai_average_pool(&p, as_i8(&in), in.dims, dst, out.dims);
        else
            eai_max_pool(&p, as_i8(&in), in.dims, dst, out.dims);
        break;
    }
    case EAI_OP_ADD: {
        bound_tensor in2;
        eai_add_params p;
        int32_t a_dims[4], b_dims[4], o_dims[4];
        bind(m, arena, op->inputs[1], &in2);
        p.input1_offset = op->params[0];
        p.input1_multiplier = op->params[1];
        p.input1_shift = op->params[2];
        p.input2_offset = op->params[3];
        p.input2_multiplier = op->params[4];
        p.input2_shift = op->params[5];
        p.left_shift = op->params[6];
        p.output_offset = op->params[7];
        p.act_min = op->params[8];
        p.act_max = op->params[9];
        p.output_multiplier = op->params[10];
        p.output_shift = op->params[11];
        right_align(&in.t, a_dims);
        right_align(&in2.t, b_dims);
        right_align(&out.t, o_dims);
        eai_add(&p, as_i8(&in), a_dims, as_i8(&in2), b_dims, dst, o_dims);
        break;
    }
    case EAI_OP_SOFTMAX: {
        eai_softmax_params p;
        const int32_t depth = in.dims[in.t.rank - 1];
        p.input_multiplier = op->params[0];
        p.input_left_shift = op->params[1];
        p.diff_min = op->params[2];
        eai_softmax(&p, as_i8(&in), (int32_t)(in.t.bytes / (uint32_t)depth), depth, dst);
        break;
    }
    case EAI_OP_RESHAPE:
        eai_reshape(as_i8(&in), dst, out.t.bytes);
        break;
    case EAI_OP_EMBEDDING_BAG: {
        bound_tensor table;
        eai_embedding_bag_params p;
        bind(m, arena, op->inputs[1], &table);
        p.output_offset = op->params[1];
        p.output_multiplier = op->params[2];
        p.output_shift = op->params[3];
        p.act_min = op->params[4];
        p.act_max = op->params[5];
        /* the ids are an int32 activation, 4-byte aligned in the arena (checked by the loader) */
        eai_embedding_bag(&p, as_i32(&in), in.dims[1], as_i8(&table), table.dims[0],
                          table.dims[1], dst);
        break;
    }
    default: /* unreachable for a loaded model */
        break;
    }
}

int eai_invoke_range(const eai_model *m, uint8_t *arena, size_t arena_len, uint32_t first,
                     uint32_t last)
{
    uint32_t i;
    if (!m || !arena || !m->ops || !m->tensors)
        return EAI_ERR_ARG;
    if (((uintptr_t)arena & 3u) != 0)
        return EAI_ERR_ALIGN;
    if (arena_len < m->arena_bytes)
        return EAI_ERR_ARENA;
    if (first > last || last > m->n_ops)
        return EAI_ERR_ARG;
    for (i = first; i < last; i++) {
        eai_op op;
        eai_decode_op(m->ops + (size_t)i * EAI_OP_BYTES, &op);
        run_op(m, arena, &op);
    }
    return EAI_OK;
}

int eai_invoke(const eai_model *m, uint8_t *arena, size_t arena_len)
{
    if (!m)
        return EAI_ERR_ARG;
    return eai_invoke_range(m, arena, arena_len, 0, m->n_ops);
}

int eai_embedding_bag_info(const eai_model *m, uint32_t ids, eai_bag_info *info)
{
    uint32_t i;
    if (!m || !info || !m->ops || !m->tensors)
        return EAI_ERR_ARG;
    for (i = 0; i < m->n_ops; i++) {
        eai_op op;
        eai_tensor t;
        eai_decode_op(m->ops + (size_t)i * EAI_OP_BYTES, &op);
        if (op.opcode != EAI_OP_EMBEDDING_BAG || op.inputs[0] != ids)
            continue;
        info->op = i;
        eai_decode_tensor(m->tensors + (size_t)op.inputs[1] * EAI_TENSOR_BYTES, &t);
        info->buckets = t.dims[0];
        info->ngrams = (uint32_t)op.params[0];
        eai_decode_tensor(m->tensors + (size_t)ids * EAI_TENSOR_BYTES, &t);
        info->max_ids = t.dims[1];
        return EAI_OK;
    }
    return EAI_ERR_ARG;
}

const char *eai_strerror(int status)
{
    switch (status) {
    case EAI_OK: return "ok";
    case EAI_ERR_ARG: return "invalid argument";
    case EAI_ERR_TRUNCATED: return "blob truncated";
    case EAI_ERR_MAGIC: return "not an .eai blob (bad magic)";
    case EAI_ERR_VERSION: return "unsupported blob major version";
    case EAI_ERR_CRC: return "CRC32 mismatch";
    case EAI_ERR_HEADER: return "invalid header field or section bounds";
    case EAI_ERR_TENSOR: return "invalid tensor record";
    case EAI_ERR_OP: return "invalid op record";
    case EAI_ERR_SHAPE: return "op tensor shapes do not agree";
    case EAI_ERR_PARAM: return "op parameter out of range";
    case EAI_ERR_ARENA: return "arena too small or activation outside it";
    case EAI_ERR_ALIGN: return "blob or arena not 4-byte aligned";
    case EAI_ERR_IO: return "invalid input/output list";
    default: return "unknown status";
    }
}
