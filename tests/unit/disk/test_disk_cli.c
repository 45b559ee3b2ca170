/* `cove disk`: each subcommand, its JSON, and bad input (one line on stderr, exit 1 or
 * 2). Runs the cove binary built next to this test (COVE_BIN). */
#include "../test.h"
#include "disk_test_util.h"

#include <jansson.h>
#include <sys/wait.h>

#define MiB (1ull << 20)

static char out[8192], err_text[8192];

/* Runs `cove ARGS` in the scratch dir; captures stdout/stderr; returns the exit code. */
static int cove(const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s >out.txt 2>err.txt", scratch_dir, COVE_BIN,
             args);
    int st = system(cmd);
    FILE *f = fopen(scratch_path("out.txt"), "r");
    size_t n = f ? fread(out, 1, sizeof out - 1, f) : 0;
    out[n] = 0;
    if (f)
        fclose(f);
    f = fopen(scratch_path("err.txt"), "r");
    n = f ? fread(err_text, 1, sizeof err_text - 1, f) : 0;
    err_text[n] = 0;
    if (f)
        fclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

TEST(create_and_info_json)
{
    CHECK(cove("disk create vm.cdisk 64G") == 0);
    CHECK(cove("disk info vm.cdisk --format json") == 0);
    json_error_t je;
    json_t *o = json_loads(out, 0, &je);
    CHECK(o != NULL);
    if (!o)
        return;
    CHECK_STR(json_string_value(json_object_get(o, "format")), "cdisk");
    CHECK_EQ_U64(json_integer_value(json_object_get(o, "virtual_size")), 64ull << 30);
    CHECK(json_integer_value(json_object_get(o, "allocated")) < (json_int_t)MiB);
    CHECK(json_is_null(json_object_get(o, "backing")));
    json_decref(o);
    CHECK(cove("disk info vm.cdisk") == 0);
    CHECK(strstr(out, "64 GiB") && strstr(out, "cdisk"));
}

TEST(backing_resize_convert)
{
    FILE *f = fopen(scratch_path("base.raw"), "w");
    CHECK(f != NULL);
    if (!f)
        return;
    char buf[65536];
    fill_pattern(buf, sizeof buf, 0, 1);
    for (int i = 0; i < 32; i++)
        fwrite(buf, 1, sizeof buf, f); /* 2 MiB */
    fclose(f);
    CHECK(cove("disk create top.cdisk --backing base.raw") == 0);
    CHECK(cove("disk info top.cdisk --format json") == 0);
    json_error_t je;
    json_t *o = json_loads(out, 0, &je);
    if (o) {
        json_t *b = json_object_get(o, "backing");
        CHECK_STR(json_string_value(json_object_get(b, "path")), "base.raw");
        CHECK_STR(json_string_value(json_object_get(b, "format")), "raw");
        CHECK_EQ_U64(json_integer_value(json_object_get(o, "virtual_size")), 2 * MiB);
        json_decref(o);
    }
    CHECK(cove("disk resize top.cdisk 1M") == 1);
    CHECK(lines(err_text) == 1 && strstr(err_text, "2 MiB"));
    CHECK(cove("disk resize top.cdisk 8M") == 0);
    CHECK(cove("disk convert top.cdisk flat.raw") == 0); /* --to defaults to raw */
    CHECK(err_text[0] == 0); /* no progress without a terminal */
    CHECK(cove("disk info flat.raw --format json") == 0);
    o = json_loads(out, 0, &je);
    if (o) {
        CHECK_STR(json_string_value(json_object_get(o, "format")), "raw");
        CHECK_EQ_U64(json_integer_value(json_object_get(o, "virtual_size")), 8 * MiB);
        json_decref(o);
    }
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cd '%s' && cmp -s -n 2097152 base.raw flat.raw", scratch_dir);
    CHECK(system(cmd) == 0);
    CHECK(cove("disk convert flat.raw again.cdisk") == 0);
    CHECK(cove("disk info again.cdisk") == 0 && strstr(out, "cdisk"));
}

TEST(bad_input_one_line)
{
    struct {
        const char *args;
        int code;
        const char *needle;
    } cases[] = {
        {"disk create x.cdisk 10Q", 2, "10Q"},
        {"disk create", 2, "missing"},
        {"disk create y.cdisk 1G --bogus", 2, "--bogus"},
        {"disk create z.raw 1G --format qcow2", 2, "qcow2"},
        {"disk create w.raw 1G --format raw --backing vm.cdisk", 2, "backing"},
        {"disk create vm.cdisk 1G", 1, "exists"},
        {"disk create odd.cdisk 1000", 1, "512"},
        {"disk create nb.cdisk 1G --backing missing.img", 1, "missing.img"},
        {"disk info nothing.img", 1, "nothing.img"},
        {"disk info vm.cdisk --format xml", 2, "xml"},
        {"disk resize vm.cdisk 1G", 1, "64 GiB"},
        {"disk convert vm.cdisk vm.cdisk", 1, "exists"},
        {"disk frobnicate", 2, "frobnicate"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int code = cove(cases[i].args);
        if (code != cases[i].code || lines(err_text) != 1 ||
            !strstr(err_text, cases[i].needle) || strncmp(err_text, "cove: ", 6)) {
            printf("  `cove %s` -> %d: %s", cases[i].args, code, err_text);
            CHECK(0);
        }
    }
    CHECK(access(scratch_path("odd.cdisk"), F_OK) != 0);
}

TEST(damaged_header_one_line)
{
    CHECK(cove("disk create dmg.cdisk 1G") == 0);
    FILE *f = fopen(scratch_path("dmg.cdisk"), "r+");
    if (!f)
        return;
    fseek(f, 30, SEEK_SET);
    fputc(0x55, f);
    fclose(f);
    CHECK(cove("disk info dmg.cdisk") == 1);
    CHECK(lines(err_text) == 1 && strstr(err_text, "dmg.cdisk") && strstr(err_text, "damaged"));
}

/* Exit 0 clean, 1 problems (text and JSON say which), 2 usage; the repair, then clean. */
TEST(check_exit_codes_and_json)
{
    CHECK(cove("disk create chk.cdisk 64M") == 0);
    CHECK(cove("disk check chk.cdisk") == 0);
    CHECK(strstr(out, "no problems found") != NULL);
    FILE *f = fopen(scratch_path("chk.cdisk"), "r+");
    if (!f)
        return;
    fseek(f, 40, SEEK_SET); /* incompat_features: a damaged header */
    fputc(0x01, f);
    fclose(f);
    CHECK(cove("disk check chk.cdisk") == 1);
    CHECK(strstr(out, "problem:") && strstr(out, "1 problem found"));
    CHECK(cove("disk check --format json chk.cdisk") == 1);
    json_error_t je;
    json_t *o = json_loads(out, 0, &je);
    CHECK(o != NULL);
    if (o) {
        CHECK_EQ_U64(json_integer_value(json_object_get(o, "problems")), 1);
        json_t *first = json_array_get(json_object_get(o, "findings"), 0);
        CHECK_STR(json_string_value(json_object_get(first, "kind")), "problem");
        json_decref(o);
    }
    CHECK(cove("disk check") == 2);
    CHECK(cove("disk check chk.cdisk --format xml") == 2);
    CHECK(cove("disk check nope.cdisk") == 1);
    CHECK(lines(err_text) == 1 && strstr(err_text, "nope.cdisk"));
}

int main(void)
{
    scratch_init();
    RUN(create_and_info_json);
    RUN(backing_resize_convert);
    RUN(bad_input_one_line);
    RUN(damaged_header_one_line);
    RUN(check_exit_codes_and_json);
    scratch_cleanup();
    return test_summary();
}
