/* RESHAPE: the bytes are unchanged; copy them unless the output aliases the input. */
#include "kernels.h"

#include <string.h>

void eai_reshape(const int8_t *input, int8_t *output, size_t bytes)
{
    if (input != output)
        memmove(output, input, bytes);
}
