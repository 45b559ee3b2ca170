/*
 * state_format.h — the saved machine state file (docs/STATE-FORMAT.md): a header (magic,
 * format version, section count, header checksum) and a sequence of sections, each with
 * a name, its own payload version, a CRC-32C of the payload and the payload's length.
 * All integers are little-endian.
 *
 * Writing: state_writer_section() opens a section, state_put_*() append to it, the next
 * section or state_writer_finish() closes it. Allocation failures are remembered and
 * reported once by state_writer_finish().
 *
 * Reading: state_file_parse() checks the whole file (magic, version, every checksum and
 * length) before anything is used; state_file_section() then hands out a bounds-checked
 * reader per section. A reader that runs past its payload returns zeros and goes bad;
 * state_reader_done() says whether the payload was read exactly to its end.
 */
#ifndef COVE_UTIL_STATE_FORMAT_H
#define COVE_UTIL_STATE_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cove/error.h>

#define STATE_MAGIC "COVESTAT"
#define STATE_FORMAT_VERSION 1u
#define STATE_HEADER_SIZE 24u
#define STATE_SECTION_HEADER_SIZE 40u
#define STATE_NAME_MAX 23u          /* a section name's bytes, NUL-padded to 24 */
#define STATE_FILE_MAX (64u << 20)  /* machine state (not memory) is kilobytes */

struct state_writer {
    uint8_t *data;
    size_t len, cap;
    size_t section;   /* offset of the open section's header; 0: none */
    uint32_t count;
    bool failed;
};

void state_writer_init(struct state_writer *w);
void state_writer_section(struct state_writer *w, const char *name, uint32_t version);
void state_put_u8(struct state_writer *w, uint8_t v);
void state_put_u32(struct state_writer *w, uint32_t v);
void state_put_u64(struct state_writer *w, uint64_t v);
void state_put_bytes(struct state_writer *w, const void *p, size_t n);
/* Closes the last section and the header; -ENOMEM if anything failed on the way. The
 * file is then w->data[0, w->len). */
int state_writer_finish(struct state_writer *w);
void state_writer_free(struct state_writer *w);

struct state_reader {
    const uint8_t *p;
    size_t len, off;
    bool bad;
};

uint8_t state_get_u8(struct state_reader *r);
uint32_t state_get_u32(struct state_reader *r);
uint64_t state_get_u64(struct state_reader *r);
void state_get_bytes(struct state_reader *r, void *p, size_t n);
bool state_reader_done(const struct state_reader *r);

struct state_file {
    const uint8_t *data;
    size_t len;
    uint32_t count;
};

/* Checks data as a state file (it stays the caller's). what names it in messages. */
int state_file_parse(const uint8_t *data, size_t len, const char *what, struct state_file *f,
                     struct cove_error *err);
/* The section called name: 0 with *version and *r set, or -ENOENT. */
int state_file_section(const struct state_file *f, const char *name, uint32_t *version,
                       struct state_reader *r);
/* The idx-th section's name (for listing). */
int state_file_section_at(const struct state_file *f, uint32_t idx, char name[STATE_NAME_MAX + 1]);

#endif
