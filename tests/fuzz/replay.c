/* Replays every saved input of one fuzz target (crashes found earlier, seeds) as a unit
 * test: a regression crashes this binary, which the suite reports as a failure. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

#include "../unit/test.h"
#include "fuzz.h"

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    uint8_t *copy = malloc(n ? n : 1); /* exact size, as libFuzzer gives it */
    memcpy(copy, buf, n);
    LLVMFuzzerTestOneInput(copy, n);
    free(copy);
    return 0;
}

TEST(replay_corpus)
{
    DIR *d = opendir(CORPUS_DIR);
    CHECK(d != NULL);
    if (!d)
        return;
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", CORPUS_DIR, e->d_name);
        CHECK(replay_file(path) == 0);
        count++;
    }
    closedir(d);
    printf("  %d inputs from %s\n", count, CORPUS_DIR);
    CHECK(count > 0);
}

int main(void)
{
    RUN(replay_corpus);
    return test_summary();
}
