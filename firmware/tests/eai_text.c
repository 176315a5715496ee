/* eai_text: run eai_text_features on texts given in hex (host tool for the Python tests).
 *
 * Usage: eai_text < LINES
 *
 * Each input line is "BUCKETS NGRAMS MAXIDS HEXTEXT": three decimal numbers (0 .. 2^32-1,
 * passed to eai_text_features as they are, invalid ones included; MAXIDS at most 1048576)
 * and the text's bytes in hex, two digits a byte, either case, possibly empty. The text is
 * passed whole; eai_text_features itself reads only its first EAI_TEXT_MAX_BYTES bytes.
 * For each line it prints "COUNT ID0 ID1 ... ID<MAXIDS-1>": the return value, then the
 * whole id buffer, -1 padding included.
 *
 * Exit status 0 when every line was well formed, else 1 after a message on stderr naming
 * the line ("eai_text: line N: ..."); 2 for usage errors. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

#define MAX_IDS_LIMIT (1u << 20)

/* Read one line (without its '\n') into *buf, growing it. Returns 0 at end of input. */
static int read_line(char **buf, size_t *cap, size_t *len)
{
    int ch;
    size_t n = 0;
    while ((ch = getchar()) != EOF && ch != '\n') {
        if (n + 1 >= *cap) {
            size_t nc = *cap ? 2 * *cap : 4096;
            char *nb = realloc(*buf, nc);
            if (!nb) {
                fprintf(stderr, "eai_text: out of memory\n");
                exit(1);
            }
            *buf = nb;
            *cap = nc;
        }
        (*buf)[n++] = (char)ch;
    }
    if (ch == EOF && n == 0)
        return 0;
    if (!*buf) {
        *buf = malloc(1);
        *cap = 1;
        if (!*buf) {
            fprintf(stderr, "eai_text: out of memory\n");
            exit(1);
        }
    }
    if (n > 0 && (*buf)[n - 1] == '\r')
        n--;
    (*buf)[n] = '\0';
    *len = n;
    return 1;
}

/* Parse a decimal uint32 at *p, then skip spaces. Returns 0 on a malformed number. */
static int parse_u32(const char **p, uint32_t *out)
{
    char *end;
    unsigned long long v;
    if (**p < '0' || **p > '9')
        return 0;
    errno = 0;
    v = strtoull(*p, &end, 10);
    if (errno != 0 || v > 0xFFFFFFFFull || (*end != ' ' && *end != '\0'))
        return 0;
    *out = (uint32_t)v;
    while (*end == ' ')
        end++;
    *p = end;
    return 1;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int main(int argc, char **argv)
{
    char *line = NULL;
    size_t cap = 0, len = 0;
    unsigned long lineno = 0;
    (void)argv;
    if (argc != 1) {
        fprintf(stderr, "usage: eai_text < LINES  (each \"BUCKETS NGRAMS MAXIDS HEXTEXT\")\n");
        return 2;
    }
    while (read_line(&line, &cap, &len)) {
        const char *p = line;
        uint32_t buckets, ngrams, max_ids, count, i;
        size_t hex_len, nbytes, k;
        uint8_t *text;
        int32_t *ids;
        lineno++;
        if (!parse_u32(&p, &buckets) || !parse_u32(&p, &ngrams) || !parse_u32(&p, &max_ids)) {
            fprintf(stderr, "eai_text: line %lu: expected BUCKETS NGRAMS MAXIDS HEXTEXT\n", lineno);
            free(line);
            return 1;
        }
        if (max_ids > MAX_IDS_LIMIT) {
            fprintf(stderr, "eai_text: line %lu: MAXIDS above %u\n", lineno, MAX_IDS_LIMIT);
            free(line);
            return 1;
        }
        hex_len = strlen(p);
        while (hex_len > 0 && p[hex_len - 1] == ' ')
            hex_len--;
        if (hex_len % 2 != 0) {
            fprintf(stderr, "eai_text: line %lu: odd number of hex digits\n", lineno);
            free(line);
            return 1;
        }
        nbytes = hex_len / 2;
        text = malloc(nbytes ? nbytes : 1);
        ids = malloc(max_ids ? (size_t)max_ids * sizeof *ids : 1);
        if (!text || !ids) {
            fprintf(stderr, "eai_text: out of memory\n");
            return 1;
        }
        for (k = 0; k < nbytes; k++) {
            const int hi = hex_digit(p[2 * k]), lo = hex_digit(p[2 * k + 1]);
            if (hi < 0 || lo < 0) {
                fprintf(stderr, "eai_text: line %lu: not a hex digit\n", lineno);
                free(text);
                free(ids);
                free(line);
                return 1;
            }
            text[k] = (uint8_t)(hi * 16 + lo);
        }
        count = eai_text_features(text, nbytes, buckets, ngrams, ids, max_ids);
        printf("%u", (unsigned)count);
        for (i = 0; i < max_ids; i++)
            printf(" %ld", (long)ids[i]);
        putchar('\n');
        free(text);
        free(ids);
    }
    free(line);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "eai_text: cannot write the output\n");
        return 1;
    }
    return 0;
}
