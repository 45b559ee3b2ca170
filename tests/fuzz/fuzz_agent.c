/* The host's parser of what the guest agent sends (src/agent/agent_frame.c): the input's
 * first byte picks the answer's kind (a plain request, ip, get, exec), the rest is the byte
 * stream a hostile agent sends. Frames are split and fed until the answer ends or breaks
 * the rules. Properties: a get never takes more than the size it announced, and ends well
 * only with all of it; a mode keeps permission bits only; no text for the user carries a
 * control byte. */
#include <stdlib.h>

#include "agent/agent_frame.h"
#include "fuzz.h"

static void check_text(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            __builtin_trap();
}

static void reply(uint8_t kind, struct fuzz_input *in)
{
    struct agent_reply r = {.kind = (enum agent_reply_kind)(kind % 3)};
    struct cove_error err = {0};
    uint64_t data = 0;
    for (;;) {
        struct agent_frame f;
        long k = agent_frame_split(in->p, in->left, &f);
        if (k <= 0)
            break;
        in->p += k, in->left -= (size_t)k;
        int rc = agent_reply_feed(&r, &f, &err);
        if (rc == AGENT_FEED_DATA)
            data += f.len;
        if (data > r.size || r.got != data || (r.mode & ~0777u))
            __builtin_trap();
        if (rc < 0 || rc == AGENT_FEED_DONE) {
            if (rc == AGENT_FEED_DONE && r.kind == AGENT_REPLY_FILE && !r.have_error &&
                r.status == 0 && data != r.size)
                __builtin_trap();
            if (rc == AGENT_FEED_DONE && r.status > 255)
                __builtin_trap();
            break;
        }
    }
    check_text(err.message);
}

static void exec(struct fuzz_input *in)
{
    struct agent_exec_reply x = {0};
    struct cove_error err = {0};
    char message[64] = "";
    for (;;) {
        struct agent_frame f;
        long k = agent_frame_split(in->p, in->left, &f);
        if (k <= 0)
            break;
        in->p += k, in->left -= (size_t)k;
        int rc = agent_exec_feed(&x, &f, message, sizeof message, &err);
        if (rc == AGENT_FEED_DATA && f.stream != AGENT_STDOUT && f.stream != AGENT_STDERR)
            __builtin_trap();
        if (rc < 0 || rc == AGENT_FEED_DONE) {
            if (rc == AGENT_FEED_DONE && (x.status < 0 || x.status > 255))
                __builtin_trap();
            break;
        }
    }
    check_text(message);
    check_text(err.message);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in = {data, size};
    uint8_t kind = (uint8_t)fuzz_take(&in, 1);
    /* guest text of any length into a buffer of any size stays inside it, terminated */
    char small[1 + 15];
    size_t n = kind % sizeof small;
    small[n] = 'Z';
    agent_text(small, n, in.p, in.left);
    if (small[n] != 'Z' || (n && strlen(small) >= n))
        __builtin_trap();
    if (kind & 0x80)
        exec(&in);
    else
        reply(kind, &in);
    return 0;
}
