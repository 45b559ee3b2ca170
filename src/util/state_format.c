#include "util/state_format.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/crc32c.h"

static void put_le32(uint8_t *p, uint32_t v) { v = htole32(v); memcpy(p, &v, 4); }
static void put_le64(uint8_t *p, uint64_t v) { v = htole64(v); memcpy(p, &v, 8); }
static uint32_t le32_at(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return le32toh(v); }
static uint64_t le64_at(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return le64toh(v); }

static uint8_t *reserve(struct state_writer *w, size_t n)
{
    if (w->failed)
        return NULL;
    if (n > STATE_FILE_MAX || w->len > STATE_FILE_MAX - n) {
        w->failed = true;
        return NULL;
    }
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < w->len + n)
            cap *= 2;
        uint8_t *d = realloc(w->data, cap);
        if (!d) {
            w->failed = true;
            return NULL;
        }
        w->data = d;
        w->cap = cap;
    }
    uint8_t *p = w->data + w->len;
    w->len += n;
    return p;
}

void state_writer_init(struct state_writer *w)
{
    memset(w, 0, sizeof *w);
    uint8_t *h = reserve(w, STATE_HEADER_SIZE);
    if (h)
        memset(h, 0, STATE_HEADER_SIZE);
}

/* The section's CRC covers its name, version and length as well as its payload. */
static uint32_t section_crc(const uint8_t *h, uint64_t len)
{
    uint32_t crc = crc32c_extend(0, h, 28);
    crc = crc32c_extend(crc, h + 32, 8);
    return crc32c_extend(crc, h + STATE_SECTION_HEADER_SIZE, (size_t)len);
}

static void close_section(struct state_writer *w)
{
    if (!w->section || w->failed)
        return;
    uint8_t *h = w->data + w->section;
    size_t payload = w->section + STATE_SECTION_HEADER_SIZE;
    put_le64(h + 32, w->len - payload);
    put_le32(h + 28, section_crc(h, w->len - payload));
    w->section = 0;
}

void state_writer_section(struct state_writer *w, const char *name, uint32_t version)
{
    close_section(w);
    size_t at = w->len;
    uint8_t *h = reserve(w, STATE_SECTION_HEADER_SIZE);
    if (!h)
        return;
    memset(h, 0, STATE_SECTION_HEADER_SIZE);
    size_t n = strlen(name);
    if (n == 0 || n > STATE_NAME_MAX) {
        w->failed = true;
        return;
    }
    memcpy(h, name, n);
    put_le32(h + 24, version);
    w->section = at;
    w->count++;
}

void state_put_u8(struct state_writer *w, uint8_t v)
{
    uint8_t *p = reserve(w, 1);
    if (p)
        *p = v;
}

void state_put_u32(struct state_writer *w, uint32_t v)
{
    uint8_t *p = reserve(w, 4);
    if (p)
        put_le32(p, v);
}

void state_put_u64(struct state_writer *w, uint64_t v)
{
    uint8_t *p = reserve(w, 8);
    if (p)
        put_le64(p, v);
}

void state_put_bytes(struct state_writer *w, const void *src, size_t n)
{
    uint8_t *p = reserve(w, n);
    if (p && n)
        memcpy(p, src, n);
}

int state_writer_finish(struct state_writer *w)
{
    close_section(w);
    if (w->failed || w->len < STATE_HEADER_SIZE)
        return -ENOMEM;
    uint8_t *h = w->data;
    memcpy(h, STATE_MAGIC, 8);
    put_le32(h + 8, STATE_FORMAT_VERSION);
    put_le32(h + 12, w->count);
    put_le32(h + 16, 0); /* reserved */
    put_le32(h + 20, crc32c(h, 20));
    return 0;
}

void state_writer_free(struct state_writer *w)
{
    free(w->data);
    memset(w, 0, sizeof *w);
}

/* --- reading --------------------------------------------------------------------------- */

static const uint8_t *take(struct state_reader *r, size_t n)
{
    if (r->bad || n > r->len - r->off) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *p = r->p + r->off;
    r->off += n;
    return p;
}

uint8_t state_get_u8(struct state_reader *r)
{
    const uint8_t *p = take(r, 1);
    return p ? *p : 0;
}

uint32_t state_get_u32(struct state_reader *r)
{
    const uint8_t *p = take(r, 4);
    return p ? le32_at(p) : 0;
}

uint64_t state_get_u64(struct state_reader *r)
{
    const uint8_t *p = take(r, 8);
    return p ? le64_at(p) : 0;
}

void state_get_bytes(struct state_reader *r, void *dst, size_t n)
{
    const uint8_t *p = take(r, n);
    if (p)
        memcpy(dst, p, n);
    else
        memset(dst, 0, n);
}

bool state_reader_done(const struct state_reader *r)
{
    return !r->bad && r->off == r->len;
}

/* A section name: 1..23 printable bytes, then NULs to the end of the field. */
static bool name_valid(const uint8_t *h)
{
    size_t n = 0;
    while (n < STATE_NAME_MAX + 1 && h[n])
        n++;
    if (n == 0 || n > STATE_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (h[i] < 0x21 || h[i] > 0x7e)
            return false;
    for (size_t i = n; i < STATE_NAME_MAX + 1; i++)
        if (h[i])
            return false;
    return true;
}

int state_file_parse(const uint8_t *data, size_t len, const char *what, struct state_file *f,
                     struct cove_error *err)
{
    if (len < STATE_HEADER_SIZE || memcmp(data, STATE_MAGIC, 8) != 0)
        return cove_error_set(err, -EINVAL, "%s is not a cove machine state (bad magic or "
                              "truncated header)", what);
    if (le32_at(data + 20) != crc32c(data, 20))
        return cove_error_set(err, -EINVAL, "%s: the header checksum does not match (the "
                              "file is corrupt)", what);
    uint32_t version = le32_at(data + 8);
    if (le32_at(data + 16) != 0)
        return cove_error_set(err, -EINVAL, "%s: reserved header bytes are set", what);
    if (version != STATE_FORMAT_VERSION)
        return cove_error_set(err, -ENOTSUP, "%s has state format version %u; this cove reads "
                              "version %u", what, version, STATE_FORMAT_VERSION);
    uint32_t count = le32_at(data + 12);
    size_t off = STATE_HEADER_SIZE;
    for (uint32_t i = 0; i < count; i++) {
        if (len - off < STATE_SECTION_HEADER_SIZE)
            return cove_error_set(err, -EINVAL, "%s is truncated (section %u of %u missing)",
                                  what, i + 1, count);
        const uint8_t *h = data + off;
        uint64_t plen = le64_at(h + 32);
        if (!name_valid(h))
            return cove_error_set(err, -EINVAL, "%s: section %u has a malformed name", what,
                                  i + 1);
        if (plen > len - off - STATE_SECTION_HEADER_SIZE)
            return cove_error_set(err, -EINVAL, "%s is truncated (section '%s' is cut short)",
                                  what, (const char *)h);
        if (section_crc(h, plen) != le32_at(h + 28))
            return cove_error_set(err, -EINVAL, "%s: the checksum of section '%s' does not "
                                  "match (the file is corrupt)", what, (const char *)h);
        off += STATE_SECTION_HEADER_SIZE + (size_t)plen;
    }
    if (off != len)
        return cove_error_set(err, -EINVAL, "%s has %zu unexpected bytes after its last "
                              "section", what, len - off);
    *f = (struct state_file){data, len, count};
    return 0;
}

/* Walks to section idx (the file was checked by state_file_parse). */
static const uint8_t *section_at(const struct state_file *f, uint32_t idx)
{
    size_t off = STATE_HEADER_SIZE;
    for (uint32_t i = 0; i < idx; i++)
        off += STATE_SECTION_HEADER_SIZE + (size_t)le64_at(f->data + off + 32);
    return f->data + off;
}

int state_file_section(const struct state_file *f, const char *name, uint32_t *version,
                       struct state_reader *r)
{
    for (uint32_t i = 0; i < f->count; i++) {
        const uint8_t *h = section_at(f, i);
        if (strncmp((const char *)h, name, STATE_NAME_MAX + 1) != 0)
            continue;
        *version = le32_at(h + 24);
        *r = (struct state_reader){h + STATE_SECTION_HEADER_SIZE, (size_t)le64_at(h + 32), 0,
                                   false};
        return 0;
    }
    return -ENOENT;
}

int state_file_section_at(const struct state_file *f, uint32_t idx, char name[STATE_NAME_MAX + 1])
{
    if (idx >= f->count)
        return -ENOENT;
    memcpy(name, section_at(f, idx), STATE_NAME_MAX + 1);
    name[STATE_NAME_MAX] = 0;
    return 0;
}
