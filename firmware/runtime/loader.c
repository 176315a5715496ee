/* eai_load: validate an untrusted .eai blob completely (docs/model-format.md).
 *
 * Every byte of the blob is untrusted. Reads happen only after the range they touch has
 * been checked against blob_len, all offset arithmetic is done in 64 bits, and nothing is
 * assumed about a record until it has been checked. After EAI_OK, the interpreter and
 * the kernels can trust every index, shape, offset and parameter without checking again.
 *
 * blob_bytes may be less than blob_len: a blob inside a larger flash partition loads, and
 * the bytes past blob_bytes are ignored (never read).
 *
 * Check order (the first failure wins): arguments, alignment, length, magic, version,
 * header_bytes, blob_bytes, CRC, the rest of the header and the section bounds, then each
 * tensor record, the io list, and each op record in table order. */
#include <string.h>

#include "edgeai.h"
#include "records.h"

/* Bit masks of the params each opcode uses (the others must be 0). */
#define USES(lo, hi) ((((uint32_t)1 << ((hi) + 1)) - 1u) & ~(((uint32_t)1 << (lo)) - 1u))
#define P(i) ((uint32_t)1 << (i))

/* Input slots of the conv-like ops. */
enum { SLOT_INPUT = 0, SLOT_FILTER = 1, SLOT_BIAS = 2, SLOT_MULT = 3, SLOT_SHIFT = 4 };

typedef struct {
    uint8_t n_inputs;
    uint8_t optional; /* bit mask of input slots that may be EAI_NO_TENSOR */
    uint16_t params;  /* bit mask of used params */
} op_rule;

/* Indexed by opcode; n_inputs 0 marks an unknown opcode. */
static const op_rule op_rules[] = {
    {0, 0, 0},
    /* CONV_2D */ {5, 1u << SLOT_BIAS, (uint16_t)USES(0, 9)},
    /* DEPTHWISE_CONV_2D */ {5, 1u << SLOT_BIAS, (uint16_t)USES(0, 10)},
    /* FULLY_CONNECTED */ {5, 1u << SLOT_BIAS, (uint16_t)(P(0) | USES(6, 9))},
    /* AVERAGE_POOL_2D */ {1, 0, (uint16_t)(USES(0, 5) | USES(8, 9))},
    /* MAX_POOL_2D */ {1, 0, (uint16_t)(USES(0, 5) | USES(8, 9))},
    /* ADD */ {2, 0, (uint16_t)USES(0, 11)},
    /* SOFTMAX */ {1, 0, (uint16_t)USES(0, 2)},
    /* RESHAPE */ {1, 0, 0},
    /* EMBEDDING_BAG */ {2, 0, (uint16_t)USES(0, 5)},
};

static int in_range(int32_t v, int32_t lo, int32_t hi)
{
    return v >= lo && v <= hi;
}

/* A section [off, off + size) must start 16-byte aligned past the header and end inside
 * blob_bytes. */
static int section_ok(uint32_t off, uint64_t size, uint32_t blob_bytes)
{
    return off >= EAI_HEADER_BYTES && (off & 15u) == 0 && (uint64_t)off + size <= blob_bytes;
}

static void tensor_at(const eai_model *m, uint32_t index, eai_tensor *t)
{
    eai_decode_tensor(m->tensors + (size_t)index * EAI_TENSOR_BYTES, t);
}

static int check_tensor(const eai_model *m, const eai_tensor *t, const uint8_t *rec)
{
    uint32_t i;
    uint64_t limit;
    if (t->dtype != EAI_INT8 && t->dtype != EAI_INT32)
        return EAI_ERR_TENSOR;
    if (t->kind != EAI_KIND_ARENA && t->kind != EAI_KIND_CONST)
        return EAI_ERR_TENSOR;
    if (t->rank < 1 || t->rank > 4 || rec[3] != 0)
        return EAI_ERR_TENSOR;
    for (i = 0; i < 4; i++) {
        if (t->dims[i] < 1)
            return EAI_ERR_TENSOR;
        if (i >= t->rank && t->dims[i] != 1)
            return EAI_ERR_TENSOR;
    }
    if (t->bytes > EAI_MAX_TENSOR_BYTES) /* bytes saturates, so a wrapped product fails */
        return EAI_ERR_TENSOR;
    if (t->kind == EAI_KIND_ARENA) {
        if ((t->offset & 3u) != 0)
            return EAI_ERR_TENSOR;
        if ((uint64_t)t->offset + t->bytes > m->arena_bytes)
            return EAI_ERR_ARENA;
    } else {
        limit = m->data_bytes;
        if ((t->offset & 15u) != 0 || (uint64_t)t->offset + t->bytes > limit)
            return EAI_ERR_TENSOR;
    }
    return EAI_OK;
}

/* Output-size rule of CONV_2D and the pools for one spatial axis (docs/model-format.md). */
static int out_size_ok(uint32_t in, uint32_t out, uint32_t k, int32_t stride, int32_t dilation,
                       int32_t pad)
{
    const uint64_t need = (uint64_t)(out - 1u) * (uint32_t)stride +
                          (uint64_t)(k - 1u) * (uint32_t)dilation + 1u;
    return out >= 1 && need <= (uint64_t)in + 2u * (uint64_t)(uint32_t)pad + 1u;
}

/* Every pooling window holds at least one tap of the image on this axis. */
static int pool_windows_ok(uint32_t in, uint32_t out, int32_t stride, int32_t filter,
                           int32_t pad)
{
    return pad <= filter - 1 && (uint64_t)(out - 1u) * (uint32_t)stride <= (uint64_t)in - 1u + (uint32_t)pad;
}

static int overlaps(const eai_tensor *a, const eai_tensor *b)
{
    return (uint64_t)a->offset < (uint64_t)b->offset + b->bytes &&
           (uint64_t)b->offset < (uint64_t)a->offset + a->bytes;
}

/* bias (optional) [co], multipliers and shifts [co] or [1] (one for every channel) of a
 * conv-like op: int32 constants, rank 1; multipliers and shifts of the same length. */
static int check_channel_consts(const eai_model *m, const eai_op *op, uint32_t co)
{
    eai_tensor t;
    uint32_t slot, c, n_quant;
    if (op->inputs[SLOT_BIAS] != EAI_NO_TENSOR) {
        tensor_at(m, op->inputs[SLOT_BIAS], &t);
        if (t.rank != 1 || t.dims[0] != co)
            return EAI_ERR_SHAPE;
    }
    tensor_at(m, op->inputs[SLOT_MULT], &t);
    n_quant = t.dims[0];
    for (slot = SLOT_MULT; slot <= SLOT_SHIFT; slot++) {
        tensor_at(m, op->inputs[slot], &t);
        if (t.rank != 1 || t.dims[0] != n_quant || (n_quant != co && n_quant != 1))
            return EAI_ERR_SHAPE;
    }
    tensor_at(m, op->inputs[SLOT_MULT], &t);
    for (c = 0; c < n_quant; c++)
        if (eai_rdi32(m->data + t.offset + 4u * c) < 0)
            return EAI_ERR_PARAM;
    tensor_at(m, op->inputs[SLOT_SHIFT], &t);
    for (c = 0; c < n_quant; c++)
        if (!in_range(eai_rdi32(m->data + t.offset + 4u * c), -31, 30))
            return EAI_ERR_PARAM;
    return EAI_OK;
}

/* Params shared by CONV_2D and DEPTHWISE_CONV_2D (0..9). */
static int conv_params_ok(const int32_t *p)
{
    return in_range(p[0], 1, (int32_t)EAI_MAX_STRIDE) && in_range(p[1], 1, (int32_t)EAI_MAX_STRIDE) &&
           in_range(p[2], 1, (int32_t)EAI_MAX_STRIDE) && in_range(p[3], 1, (int32_t)EAI_MAX_STRIDE) &&
           in_range(p[4], 0, (int32_t)EAI_MAX_PAD) && in_range(p[5], 0, (int32_t)EAI_MAX_PAD) &&
           in_range(p[6], -128, 128) && in_range(p[7], -128, 127) && in_range(p[8], -128, 127) &&
           in_range(p[9], -128, 127) && p[8] <= p[9];
}

static int act_params_ok(const int32_t *p)
{
    return in_range(p[8], -128, 127) && in_range(p[9], -128, 127) && p[8] <= p[9];
}

static int check_op_shapes_params(const eai_model *m, const eai_op *op, const eai_tensor *in,
                                  const eai_tensor *out)
{
    const int32_t *p = op->params;
    eai_tensor f, in2;
    uint32_t i;

    switch (op->opcode) {
    case EAI_OP_CONV_2D:
    case EAI_OP_DEPTHWISE_CONV_2D: {
        uint32_t co;
        if (!conv_params_ok(p))
            return EAI_ERR_PARAM;
        if (op->opcode == EAI_OP_DEPTHWISE_CONV_2D && p[10] < 1)
            return EAI_ERR_PARAM;
        tensor_at(m, op->inputs[SLOT_FILTER], &f);
        if (in->rank != 4 || f.rank != 4 || out->rank != 4)
            return EAI_ERR_SHAPE;
        if (in->dims[0] != out->dims[0])
            return EAI_ERR_SHAPE;
        if (op->opcode == EAI_OP_CONV_2D) {
            const uint32_t ci = in->dims[3], fci = f.dims[3];
            co = f.dims[0];
            if (ci % fci != 0 || co % (ci / fci) != 0 || out->dims[3] != co)
                return EAI_ERR_SHAPE;
            if ((uint64_t)f.dims[1] * f.dims[2] * fci > EAI_MAX_REDUCTION)
                return EAI_ERR_SHAPE;
        } else {
            co = f.dims[3];
            if (f.dims[0] != 1 || (uint64_t)in->dims[3] * (uint32_t)p[10] != co ||
                out->dims[3] != co)
                return EAI_ERR_SHAPE;
            if ((uint64_t)f.dims[1] * f.dims[2] > EAI_MAX_REDUCTION)
                return EAI_ERR_SHAPE;
        }
        if (!out_size_ok(in->dims[1], out->dims[1], f.dims[1], p[0], p[2], p[4]) ||
            !out_size_ok(in->dims[2], out->dims[2], f.dims[2], p[1], p[3], p[5]))
            return EAI_ERR_SHAPE;
        return check_channel_consts(m, op, co);
    }
    case EAI_OP_FULLY_CONNECTED: {
        uint32_t depth, batches;
        if (!in_range(p[0], -128, 128) || !in_range(p[6], -128, 128) ||
            !in_range(p[7], -128, 127) || !act_params_ok(p))
            return EAI_ERR_PARAM;
        tensor_at(m, op->inputs[SLOT_FILTER], &f);
        if (f.rank != 2)
            return EAI_ERR_SHAPE;
        depth = f.dims[1];
        if (depth > EAI_MAX_REDUCTION || in->bytes % depth != 0)
            return EAI_ERR_SHAPE;
        batches = in->bytes / depth;
        if ((uint64_t)batches * f.dims[0] != out->bytes)
            return EAI_ERR_SHAPE;
        return check_channel_consts(m, op, f.dims[0]);
    }
    case EAI_OP_AVERAGE_POOL_2D:
    case EAI_OP_MAX_POOL_2D:
        if (!in_range(p[0], 1, (int32_t)EAI_MAX_STRIDE) || !in_range(p[1], 1, (int32_t)EAI_MAX_STRIDE) ||
            !in_range(p[2], 1, (int32_t)EAI_MAX_STRIDE) || !in_range(p[3], 1, (int32_t)EAI_MAX_STRIDE) ||
            !in_range(p[4], 0, (int32_t)EAI_MAX_PAD) || !in_range(p[5], 0, (int32_t)EAI_MAX_PAD) ||
            !act_params_ok(p) || (uint64_t)(uint32_t)p[2] * (uint32_t)p[3] > EAI_MAX_REDUCTION)
            return EAI_ERR_PARAM;
        if (in->rank != 4 || out->rank != 4 || in->dims[0] != out->dims[0] ||
            in->dims[3] != out->dims[3])
            return EAI_ERR_SHAPE;
        if (!out_size_ok(in->dims[1], out->dims[1], (uint32_t)p[2], p[0], 1, p[4]) ||
            !out_size_ok(in->dims[2], out->dims[2], (uint32_t)p[3], p[1], 1, p[5]))
            return EAI_ERR_SHAPE;
        if (!pool_windows_ok(in->dims[1], out->dims[1], p[0], p[2], p[4]) ||
            !pool_windows_ok(in->dims[2], out->dims[2], p[1], p[3], p[5]))
            return EAI_ERR_PARAM;
        return EAI_OK;
    case EAI_OP_ADD: {
        uint32_t ra = 4u - in->rank, rb, ro = 4u - out->rank;
        if (!in_range(p[0], -128, 128) || p[1] < 0 || !in_range(p[2], -31, 30) ||
            !in_range(p[3], -128, 128) || p[4] < 0 || !in_range(p[5], -31, 30) ||
            !in_range(p[6], 0, 30) || !in_range(p[7], -128, 127) || !act_params_ok(p) ||
            p[10] < 0 || !in_range(p[11], -31, 30))
            return EAI_ERR_PARAM;
        tensor_at(m, op->inputs[1], &in2);
        rb = 4u - in2.rank;
        for (i = 0; i < 4; i++) {
            const uint32_t o = i < ro ? 1u : out->dims[i - ro];
            const uint32_t a = i < ra ? 1u : in->dims[i - ra];
            const uint32_t b = i < rb ? 1u : in2.dims[i - rb];
            if ((a != o && a != 1u) || (b != o && b != 1u))
                return EAI_ERR_SHAPE;
        }
        return EAI_OK;
    }
    case EAI_OP_SOFTMAX:
        if (p[0] < 0 || !in_range(p[1], 0, 31) || p[2] > 0)
            return EAI_ERR_PARAM;
        if (in->rank != out->rank)
            return EAI_ERR_SHAPE;
        for (i = 0; i < 4; i++)
            if (in->dims[i] != out->dims[i])
                return EAI_ERR_SHAPE;
        if (in->dims[in->rank - 1u] > EAI_MAX_SOFTMAX_DEPTH)
            return EAI_ERR_SHAPE;
        return EAI_OK;
    case EAI_OP_RESHAPE:
        if (in->bytes != out->bytes)
            return EAI_ERR_SHAPE;
        return EAI_OK;
    case EAI_OP_EMBEDDING_BAG:
        /* 0 ngrams, 1 output_offset, 2 output_multiplier, 3 output_shift, 4 act_min, 5 act_max */
        if (!in_range(p[0], 1, 2) || !in_range(p[1], -128, 127) || p[2] < 0 ||
            !in_range(p[3], -31, 30) || !in_range(p[4], -128, 127) || !in_range(p[5], -128, 127) ||
            p[4] > p[5])
            return EAI_ERR_PARAM;
        tensor_at(m, op->inputs[1], &f);
        if (in->rank != 2 || in->dims[0] != 1 || f.rank != 2 || out->rank != 2 ||
            out->dims[0] != 1 || out->dims[1] != f.dims[1])
            return EAI_ERR_SHAPE;
        if (in->dims[1] > EAI_MAX_BAG_IDS || f.dims[0] > EAI_MAX_BAG_ROWS)
            return EAI_ERR_SHAPE;
        return EAI_OK;
    default:
        return EAI_ERR_OP;
    }
}

/* The kind and dtype input slot `slot` of an op takes: the conv-like ops' filter is an int8
 * constant and their bias, multipliers and shifts int32 constants; EMBEDDING_BAG's ids are
 * an int32 activation and its table an int8 constant; every other input is an int8
 * activation. */
static int slot_ok(uint8_t opcode, uint32_t n_inputs, uint32_t slot, const eai_tensor *t)
{
    uint8_t kind = EAI_KIND_ARENA, dtype = EAI_INT8;
    if (opcode == EAI_OP_EMBEDDING_BAG) {
        kind = slot == 0 ? EAI_KIND_ARENA : EAI_KIND_CONST;
        dtype = slot == 0 ? EAI_INT32 : EAI_INT8;
    } else if (n_inputs == 5 && slot == SLOT_FILTER) {
        kind = EAI_KIND_CONST;
    } else if (n_inputs == 5 && slot >= SLOT_BIAS) {
        kind = EAI_KIND_CONST;
        dtype = EAI_INT32;
    }
    return t->kind == kind && t->dtype == dtype;
}

static int check_op(const eai_model *m, const eai_op *op)
{
    op_rule r;
    eai_tensor in, out, t;
    uint32_t i;
    int rc;

    if (op->opcode >= sizeof op_rules / sizeof op_rules[0] || op_rules[op->opcode].n_inputs == 0)
        return EAI_ERR_OP;
    r = op_rules[op->opcode];
    if (op->layout != 0 || op->n_inputs != r.n_inputs || op->n_outputs != 1 || op->reserved != 0)
        return EAI_ERR_OP;
    for (i = 0; i < EAI_MAX_OP_INPUTS; i++) {
        const uint32_t idx = op->inputs[i];
        if (i >= r.n_inputs || idx == EAI_NO_TENSOR) {
            if (idx != EAI_NO_TENSOR || (i < r.n_inputs && !(r.optional & (1u << i))))
                return EAI_ERR_OP;
        } else if (idx >= m->n_tensors) {
            return EAI_ERR_OP;
        }
    }
    if (op->output >= m->n_tensors)
        return EAI_ERR_OP;

    /* kinds and dtypes per slot */
    tensor_at(m, op->output, &out);
    if (out.kind != EAI_KIND_ARENA || out.dtype != EAI_INT8)
        return EAI_ERR_OP;
    for (i = 0; i < r.n_inputs; i++) {
        if (op->inputs[i] == EAI_NO_TENSOR)
            continue;
        tensor_at(m, op->inputs[i], &t);
        if (!slot_ok(op->opcode, r.n_inputs, i, &t))
            return EAI_ERR_OP;
    }
    for (i = 0; i < EAI_NUM_PARAMS; i++)
        if (!(r.params & (1u << i)) && op->params[i] != 0)
            return EAI_ERR_PARAM;

    tensor_at(m, op->inputs[0], &in);
    rc = check_op_shapes_params(m, op, &in, &out);
    if (rc != EAI_OK)
        return rc;

    /* the output must not overlap an activation input (RESHAPE may alias exactly) */
    for (i = 0; i < r.n_inputs; i++) {
        if (op->inputs[i] == EAI_NO_TENSOR)
            continue;
        tensor_at(m, op->inputs[i], &t);
        if (t.kind != EAI_KIND_ARENA)
            continue;
        if (op->opcode == EAI_OP_RESHAPE && t.offset == out.offset)
            continue;
        if (overlaps(&t, &out))
            return EAI_ERR_ARENA;
    }
    return EAI_OK;
}

int eai_load(eai_model *m, const void *blob, size_t blob_len)
{
    const uint8_t *b = (const uint8_t *)blob;
    uint32_t blob_bytes, n_tensors, n_ops, n_inputs, n_outputs, i;
    uint32_t tensors_off, ops_off, io_off, data_off, data_bytes, names_off, names_bytes;
    eai_model v; /* filled in as checks pass; copied to *m only on success */
    int rc;

    if (!m)
        return EAI_ERR_ARG;
    memset(m, 0, sizeof *m);
    m->err_index = -1;
    if (!b)
        return EAI_ERR_ARG;
    if (((uintptr_t)b & 3u) != 0)
        return EAI_ERR_ALIGN;
    rc = eai_blob_size(b, blob_len, &blob_bytes); /* magic, version, header size */
    if (rc != EAI_OK)
        return rc;
    if (blob_bytes > blob_len)
        return EAI_ERR_TRUNCATED;
    if (eai_crc32(0, b + EAI_CRC_START, blob_bytes - EAI_CRC_START) != eai_rd32(b + EAI_H_CRC32))
        return EAI_ERR_CRC;

    n_tensors = eai_rd16(b + EAI_H_N_TENSORS);
    n_ops = eai_rd16(b + EAI_H_N_OPS);
    n_inputs = eai_rd16(b + EAI_H_N_INPUTS);
    n_outputs = eai_rd16(b + EAI_H_N_OUTPUTS);
    tensors_off = eai_rd32(b + EAI_H_TENSORS_OFF);
    ops_off = eai_rd32(b + EAI_H_OPS_OFF);
    io_off = eai_rd32(b + EAI_H_IO_OFF);
    data_off = eai_rd32(b + EAI_H_DATA_OFF);
    data_bytes = eai_rd32(b + EAI_H_DATA_BYTES);
    names_off = eai_rd32(b + EAI_H_NAMES_OFF);
    names_bytes = eai_rd32(b + EAI_H_NAMES_BYTES);
    if (eai_rd32(b + EAI_H_FLAGS) != 0)
        return EAI_ERR_HEADER;
    if (n_tensors < 1 || n_tensors > EAI_MAX_TENSORS || n_ops < 1 || n_ops > EAI_MAX_OPS ||
        n_inputs < 1 || n_inputs > EAI_MAX_IO || n_outputs < 1 || n_outputs > EAI_MAX_IO)
        return EAI_ERR_HEADER;
    if (!section_ok(tensors_off, (uint64_t)n_tensors * EAI_TENSOR_BYTES, blob_bytes) ||
        !section_ok(ops_off, (uint64_t)n_ops * EAI_OP_BYTES, blob_bytes) ||
        !section_ok(io_off, 2u * (uint64_t)(n_inputs + n_outputs), blob_bytes) ||
        !section_ok(data_off, data_bytes, blob_bytes))
        return EAI_ERR_HEADER;
    if (!(names_off == 0 && names_bytes == 0) && !section_ok(names_off, names_bytes, blob_bytes))
        return EAI_ERR_HEADER;

    memset(&v, 0, sizeof v);
    v.blob = b;
    v.blob_bytes = blob_bytes;
    v.arena_bytes = eai_rd32(b + EAI_H_ARENA_BYTES);
    v.n_tensors = n_tensors;
    v.n_ops = n_ops;
    v.n_inputs = n_inputs;
    v.n_outputs = n_outputs;
    v.tensors = b + tensors_off;
    v.ops = b + ops_off;
    v.io = b + io_off;
    v.data = b + data_off;
    v.data_bytes = data_bytes;
    v.err_index = -1;

    for (i = 0; i < n_tensors; i++) {
        eai_tensor t;
        const uint8_t *rec = v.tensors + (size_t)i * EAI_TENSOR_BYTES;
        eai_decode_tensor(rec, &t);
        rc = check_tensor(&v, &t, rec);
        if (rc != EAI_OK) {
            m->err_index = (int32_t)i;
            return rc;
        }
    }

    for (i = 0; i < n_inputs + n_outputs; i++) {
        const uint32_t idx = eai_rd16(v.io + 2u * i);
        eai_tensor t;
        if (idx >= n_tensors) {
            m->err_index = (int32_t)i;
            return EAI_ERR_IO;
        }
        tensor_at(&v, idx, &t);
        if (t.kind != EAI_KIND_ARENA) {
            m->err_index = (int32_t)i;
            return EAI_ERR_IO;
        }
    }

    for (i = 0; i < n_ops; i++) {
        eai_op op;
        eai_decode_op(v.ops + (size_t)i * EAI_OP_BYTES, &op);
        rc = check_op(&v, &op);
        if (rc != EAI_OK) {
            m->err_index = (int32_t)i;
            return rc;
        }
    }

    *m = v;
    return EAI_OK;
}
