/* The host's parser of what the guest agent sends (src/agent/agent_frame.c): the input's
 * first byte picks the answer's kind (a plain request, ip, get, getdir, exec), the rest is the byte
 * stream a hostile agent sends. Frames are split and fed until the answer ends or breaks
 * the rules. Properties: a get never takes more than the size it announced, and ends well
 * only with all of it; a mode keeps permission bits only; no text for the user carries a
 * control byte; a getdir's entries have single-component names, links that stay inside,
 * depth, entries and bytes within their bounds, and it ends well only when whole. */
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

static void tree(struct fuzz_input *in)
{
    struct agent_tree t = {0};
    struct cove_error err = {0};
    uint64_t data = 0, announced = 0;
    unsigned depth = 0;
    for (;;) {
        struct agent_frame f;
        struct agent_entry e;
        long k = agent_frame_split(in->p, in->left, &f);
        if (k <= 0)
            break;
        in->p += k, in->left -= (size_t)k;
        int rc = agent_tree_feed(&t, &f, &e, &err);
        if (rc == AGENT_FEED_ENTRY) {
            if (e.type == 'd')
                depth++;
            if (e.type == 'u' && depth-- == 0)
                __builtin_trap();
            if (e.type != 'u' && !agent_tree_name_ok(e.name))
                __builtin_trap();
            if (e.type == 'l' && (e.link[0] == '/' || !agent_tree_link_ok(e.link, depth)))
                __builtin_trap();
            if (e.mode & ~0777u)
                __builtin_trap();
            if (e.type == 'f')
                announced += e.size;
        }
        if (rc == AGENT_FEED_DATA)
            data += f.len;
        if (data > announced || depth != t.depth || depth > AGENT_TREE_MAX_DEPTH ||
            t.entries > AGENT_TREE_MAX_ENTRIES || announced > AGENT_TREE_MAX_BYTES ||
            (t.root_mode & ~0777u))
            __builtin_trap();
        if (rc < 0 || rc == AGENT_FEED_DONE) {
            if (rc == AGENT_FEED_DONE && !t.have_error && t.status == 0 &&
                (!t.done || depth || data != announced))
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
    else if (kind & 0x40)
        tree(&in);
    else
        reply(kind, &in);
    return 0;
}
