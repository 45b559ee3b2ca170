/* The saved-state file format (src/util/state_format.c, docs/STATE-FORMAT.md). */
#include "test.h"

#include <errno.h>
#include <stdlib.h>

#include "util/crc32c.h"
#include "util/state_format.h"

static void build(struct state_writer *w)
{
    state_writer_init(w);
    state_writer_section(w, "machine", 1);
    state_put_u32(w, 2);
    state_put_u64(w, 0x123456789abcdef0ull);
    state_writer_section(w, "empty", 7);
    state_writer_section(w, "virtio.7", 1);
    state_put_u8(w, 0xa5);
    state_put_bytes(w, "hello", 5);
}

TEST(crc32c_known_value)
{
    /* The check value of CRC-32C (RFC 3720, iSCSI). */
    CHECK_EQ_U64(crc32c("123456789", 9), 0xe3069283u);
    CHECK_EQ_U64(crc32c_extend(crc32c("1234", 4), "56789", 5), 0xe3069283u);
}

TEST(round_trip)
{
    struct state_writer w;
    build(&w);
    REQUIRE(state_writer_finish(&w) == 0);
    struct state_file f;
    struct cove_error err;
    REQUIRE(state_file_parse(w.data, w.len, "t", &f, &err) == 0);
    CHECK_EQ_U64(f.count, 3);
    struct state_reader r;
    uint32_t version;
    REQUIRE(state_file_section(&f, "machine", &version, &r) == 0);
    CHECK_EQ_U64(version, 1);
    CHECK_EQ_U64(state_get_u32(&r), 2);
    CHECK_EQ_U64(state_get_u64(&r), 0x123456789abcdef0ull);
    CHECK(state_reader_done(&r));
    REQUIRE(state_file_section(&f, "empty", &version, &r) == 0);
    CHECK_EQ_U64(version, 7);
    CHECK(state_reader_done(&r));
    REQUIRE(state_file_section(&f, "virtio.7", &version, &r) == 0);
    CHECK_EQ_U64(state_get_u8(&r), 0xa5);
    char buf[5];
    state_get_bytes(&r, buf, 5);
    CHECK(memcmp(buf, "hello", 5) == 0);
    CHECK(state_reader_done(&r));
    CHECK(state_file_section(&f, "nothing", &version, &r) == -ENOENT);
    char name[STATE_NAME_MAX + 1];
    CHECK(state_file_section_at(&f, 2, name) == 0 && !strcmp(name, "virtio.7"));
    state_writer_free(&w);
}

TEST(reader_stops_at_the_end)
{
    uint8_t two[2] = {1, 2};
    struct state_reader r = {two, 2, 0, false};
    CHECK_EQ_U64(state_get_u32(&r), 0);
    CHECK(r.bad);
    CHECK(!state_reader_done(&r));
    CHECK_EQ_U64(state_get_u8(&r), 0); /* stays bad */
}

TEST(every_truncation_is_refused)
{
    struct state_writer w;
    build(&w);
    REQUIRE(state_writer_finish(&w) == 0);
    struct state_file f;
    struct cove_error err;
    for (size_t len = 0; len < w.len; len++)
        CHECK(state_file_parse(w.data, len, "t", &f, &err) < 0);
    state_writer_free(&w);
}

TEST(every_flipped_byte_is_refused)
{
    struct state_writer w;
    build(&w);
    REQUIRE(state_writer_finish(&w) == 0);
    struct state_file f;
    struct cove_error err;
    for (size_t i = 0; i < w.len; i++) {
        w.data[i] ^= 0x40;
        int rc = state_file_parse(w.data, w.len, "t", &f, &err);
        if (rc == 0)
            printf("  byte %zu flipped went unnoticed\n", i);
        CHECK(rc < 0);
        w.data[i] ^= 0x40;
    }
    state_writer_free(&w);
}

TEST(other_version_is_named)
{
    struct state_writer w;
    build(&w);
    REQUIRE(state_writer_finish(&w) == 0);
    w.data[8] = 9; /* format version 9, header checksum recomputed */
    uint32_t crc = crc32c(w.data, 20);
    memcpy(w.data + 20, &crc, 4); /* little-endian host */
    struct state_file f;
    struct cove_error err;
    CHECK(state_file_parse(w.data, w.len, "t", &f, &err) == -ENOTSUP);
    CHECK(strstr(err.message, "version 9") != NULL);
    state_writer_free(&w);
}

TEST(bad_names_are_refused_when_writing)
{
    struct state_writer w;
    state_writer_init(&w);
    state_writer_section(&w, "a-name-longer-than-23-bytes", 1);
    CHECK(state_writer_finish(&w) == -ENOMEM);
    state_writer_free(&w);
}

int main(void)
{
    RUN(crc32c_known_value);
    RUN(round_trip);
    RUN(reader_stops_at_the_end);
    RUN(every_truncation_is_refused);
    RUN(every_flipped_byte_is_refused);
    RUN(other_version_is_named);
    RUN(bad_names_are_refused_when_writing);
    return test_summary();
}
