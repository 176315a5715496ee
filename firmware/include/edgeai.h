/* edgeai runtime: the public C API of the portable core.
 *
 * The caller owns every buffer: the blob (mapped in place, never copied), the model
 * handle and the arena. Nothing here calls malloc. Every function returns a status
 * (EAI_OK or a negative error code) that must be checked.
 *
 * Blob format: docs/model-format.md.
 */
#ifndef EDGEAI_H
#define EDGEAI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EAI_VERSION_MAJOR 1
#define EAI_VERSION_MINOR 0

#define EAI_HEADER_BYTES 64u
#define EAI_TENSOR_BYTES 32u
#define EAI_OP_BYTES 68u
#define EAI_MAX_TENSORS 4096u
#define EAI_MAX_OPS 4096u
#define EAI_MAX_IO 16u
#define EAI_MAX_OP_INPUTS 6u
#define EAI_NUM_PARAMS 12u
#define EAI_MAX_TENSOR_BYTES (1u << 28)
#define EAI_MAX_REDUCTION 65536u /* terms in one conv/fc sum: keeps int32 exact */
#define EAI_NO_TENSOR 0xFFFFu
#define EAI_MAX_STRIDE 65536u       /* strides, dilations, pool window sides: 1 .. this */
#define EAI_MAX_PAD 65535u          /* pads: 0 .. this */
#define EAI_MAX_SOFTMAX_DEPTH 4095u /* softmax row length: the int32 sum of exps cannot wrap */
#define EAI_MAX_BAG_IDS 4096u       /* EMBEDDING_BAG ids: 256 x the sum of 4096 int8 rows fits int32 */
#define EAI_MAX_BAG_ROWS (1u << 24) /* EMBEDDING_BAG table rows (hash buckets) */

enum eai_status {
    EAI_OK = 0,
    EAI_ERR_ARG = -1,       /* a NULL pointer or an index out of range from the caller */
    EAI_ERR_TRUNCATED = -2, /* shorter than its header or its blob_bytes */
    EAI_ERR_MAGIC = -3,     /* not an .eai blob */
    EAI_ERR_VERSION = -4,   /* a major version this runtime does not read */
    EAI_ERR_CRC = -5,       /* the body does not match its CRC32 */
    EAI_ERR_HEADER = -6,    /* a header field or section offset is out of bounds */
    EAI_ERR_TENSOR = -7,    /* a tensor record is invalid (dtype, kind, rank, dims, bounds) */
    EAI_ERR_OP = -8,        /* an op record is invalid (opcode, tensor indices, types) */
    EAI_ERR_SHAPE = -9,     /* the shapes of an op's tensors do not agree */
    EAI_ERR_PARAM = -10,    /* an op parameter is out of range */
    EAI_ERR_ARENA = -11,    /* the arena is too small or an activation lies outside it */
    EAI_ERR_ALIGN = -12,    /* the blob or the arena is not 4-byte aligned */
    EAI_ERR_IO = -13        /* the input/output list is invalid */
};

enum eai_opcode {
    EAI_OP_CONV_2D = 1,
    EAI_OP_DEPTHWISE_CONV_2D = 2,
    EAI_OP_FULLY_CONNECTED = 3,
    EAI_OP_AVERAGE_POOL_2D = 4,
    EAI_OP_MAX_POOL_2D = 5,
    EAI_OP_ADD = 6,
    EAI_OP_SOFTMAX = 7,
    EAI_OP_RESHAPE = 8,
    EAI_OP_EMBEDDING_BAG = 9
};

enum eai_dtype { EAI_INT8 = 1, EAI_INT32 = 2 };
enum eai_kind { EAI_KIND_ARENA = 0, EAI_KIND_CONST = 1 };

/* A validated model: pointers into the caller's blob and the header's counts. */
typedef struct {
    const uint8_t *blob;     /* the blob, mapped in place */
    uint32_t blob_bytes;
    uint32_t arena_bytes;    /* arena the model needs */
    uint32_t n_tensors;
    uint32_t n_ops;
    uint32_t n_inputs;
    uint32_t n_outputs;
    const uint8_t *tensors;  /* n_tensors x EAI_TENSOR_BYTES */
    const uint8_t *ops;      /* n_ops x EAI_OP_BYTES */
    const uint8_t *io;       /* n_inputs + n_outputs u16 */
    const uint8_t *data;     /* data section */
    uint32_t data_bytes;
    int32_t err_index;       /* after a failed eai_load: the tensor (EAI_ERR_TENSOR, and
                              * EAI_ERR_ARENA from the tensor table), the op (EAI_ERR_OP,
                              * _SHAPE, _PARAM, and EAI_ERR_ARENA for an overlap) or the io
                              * list position (EAI_ERR_IO) at fault, else -1 */
} eai_model;

/* A decoded tensor record. */
typedef struct {
    uint8_t dtype;           /* enum eai_dtype */
    uint8_t kind;            /* enum eai_kind */
    uint8_t rank;
    uint32_t dims[4];        /* outermost first, 1 past rank */
    uint32_t offset;         /* arena offset or data offset, by kind */
    uint32_t bytes;          /* product(dims) x element size */
    float scale;
    int32_t zero_point;
} eai_tensor;

/* Validate an untrusted blob completely and fill *m. Returns EAI_OK or an error. */
int eai_load(eai_model *m, const void *blob, size_t blob_len);

/* Decode tensor `index` of a loaded model. */
int eai_tensor_info(const eai_model *m, uint32_t index, eai_tensor *t);

/* Tensor indices of model input/output `i`. */
int eai_input_index(const eai_model *m, uint32_t i);
int eai_output_index(const eai_model *m, uint32_t i);

/* The size a blob's header states (to read or map exactly the blob, e.g. from a flash
 * partition larger than it), after checking its magic, version and header size; `len` is the
 * bytes at `header` (at least EAI_HEADER_BYTES). Nothing else is checked: eai_load() still
 * validates the whole blob. Returns EAI_OK, EAI_ERR_ARG, _TRUNCATED, _MAGIC, _VERSION or
 * _HEADER. */
int eai_blob_size(const void *header, size_t len, uint32_t *blob_bytes);

/* Where model input `i` lives in `arena` (write its bytes there before eai_invoke) and how many
 * bytes it has (int8 elements, or int32 for an EMBEDDING_BAG's ids: eai_tensor_info says).
 * EAI_OK, or EAI_ERR_ARG for a bad argument or an input that is not an activation. */
int eai_input_buffer(const eai_model *m, uint8_t *arena, uint32_t i, void **data, size_t *bytes);

/* Where model output `i` is after eai_invoke (in `arena`, or in the blob for a constant). */
int eai_output_buffer(const eai_model *m, const uint8_t *arena, uint32_t i, const void **data,
                      size_t *bytes);

/* Run ops [first, last) with activations in `arena` (arena_len >= m->arena_bytes,
 * 4-byte aligned). Inputs must already be at their arena offsets. */
int eai_invoke_range(const eai_model *m, uint8_t *arena, size_t arena_len, uint32_t first,
                     uint32_t last);

/* Run the whole model. */
int eai_invoke(const eai_model *m, uint8_t *arena, size_t arena_len);

/* The text front end of a model: the EMBEDDING_BAG op that reads ids tensor `ids`, and what
 * fills that tensor with hashed text features (firmware/text/text.h). */
typedef struct {
    uint32_t op;      /* index of the op */
    uint32_t buckets; /* rows of its table: every id is in [0, buckets) */
    uint32_t ngrams;  /* its ngrams param: 1 or 2 */
    uint32_t max_ids; /* length L of the ids tensor [1, L] */
} eai_bag_info;

/* Find the first EMBEDDING_BAG op whose ids input is tensor `ids`. Returns EAI_OK, or
 * EAI_ERR_ARG when the arguments are invalid or no such op exists. */
int eai_embedding_bag_info(const eai_model *m, uint32_t ids, eai_bag_info *info);

/* A short English name for a status code. */
const char *eai_strerror(int status);

/* CRC-32 (zlib) of `len` bytes, continuing from `crc` (start with 0). */
uint32_t eai_crc32(uint32_t crc, const uint8_t *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* EDGEAI_H */
