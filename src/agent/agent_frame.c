/*
 * What the guest agent may send, and nothing else: frames split off a buffer, the rules of
 * each answer, guest text made safe for a terminal.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent_frame.h"

long agent_frame_split(const uint8_t *buf, size_t len, struct agent_frame *f)
{
    if (len < AGENT_HDR_SIZE)
        return 0;
    uint32_t n = agent_get_u32(buf + 2);
    if (n > AGENT_FRAME_MAX)
        return -EPROTO;
    if (len - AGENT_HDR_SIZE < n)
        return 0;
    f->type = buf[0];
    f->stream = buf[1];
    f->len = n;
    f->payload = buf + AGENT_HDR_SIZE;
    return (long)(AGENT_HDR_SIZE + n);
}

void agent_text(char *out, size_t n, const uint8_t *p, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (!n)
        return;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = p[i];
        bool plain = c >= 0x20 && c < 0x7f;
        if (o + (plain ? 1 : 4) >= n)
            break;
        if (plain) {
            out[o++] = (char)c;
        } else {
            out[o++] = '\\', out[o++] = 'x', out[o++] = hex[c >> 4], out[o++] = hex[c & 15];
        }
    }
    out[o] = 0;
}

static int violation(struct cove_error *err, const char *what)
{
    return cove_error_set(err, -EPROTO, "the guest agent broke the protocol (%s); gave up on "
                          "the request", what);
}

static int unexpected(struct cove_error *err, const struct agent_frame *f)
{
    char what[64];
    char t = f->type >= 0x20 && f->type < 0x7f ? (char)f->type : '?';
    snprintf(what, sizeof what, "an unexpected frame: type 0x%02x '%c', stream %u", f->type, t,
             f->stream);
    return violation(err, what);
}

/* An E frame: kind byte, then text. One per answer, and only the exit frame after it. */
static int take_error(bool *have_error, const struct agent_frame *f, char *out, size_t n,
                      struct cove_error *err)
{
    if (*have_error)
        return violation(err, "a second error frame");
    *have_error = true;
    agent_text(out, n, f->payload + (f->len ? 1 : 0), f->len ? f->len - 1 : 0);
    return AGENT_FEED_MORE;
}

/* The exit frame: u8 how, u32 value, with a value a process can have. */
static int exit_value(const struct agent_frame *f, bool signal_ok, int *status,
                      struct cove_error *err)
{
    if (f->len != 5)
        return violation(err, "an exit frame of the wrong length");
    uint32_t v = agent_get_u32(f->payload + 1);
    if (f->payload[0] == AGENT_EXITED && v <= 255) {
        *status = (int)v;
        return AGENT_FEED_DONE;
    }
    if (signal_ok && f->payload[0] == AGENT_SIGNALED && v >= 1 && v <= 127) {
        *status = 128 + (int)v;
        return AGENT_FEED_DONE;
    }
    return violation(err, "an exit frame with an impossible status");
}

/* A decimal or octal number that is all digits, at most max. */
static bool parse_number(const char *s, unsigned base, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s)
        return false;
    for (; *s; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (d >= base || v > (max - d) / base)
            return false;
        v = v * base + d;
    }
    *out = v;
    return true;
}

/* A get's R frame: "mode\0OCTAL\0size\0DECIMAL\0", both required. */
static int file_meta(struct agent_reply *r, const struct agent_frame *f, struct cove_error *err)
{
    const char *p = (const char *)f->payload;
    bool have_mode = false, have_size = false;
    for (uint32_t at = 0; at < f->len;) {
        const char *k = p + at;
        const char *ke = memchr(k, 0, f->len - at);
        if (!ke || (uint32_t)(ke - p) + 1 >= f->len)
            return violation(err, "a malformed file description");
        const char *v = ke + 1;
        const char *ve = memchr(v, 0, f->len - (uint32_t)(v - p));
        if (!ve)
            return violation(err, "a malformed file description");
        at = (uint32_t)(ve - p) + 1;
        uint64_t n;
        if (!strcmp(k, "mode")) {
            if (!parse_number(v, 8, 07777, &n))
                return violation(err, "a file mode that is not one");
            r->mode = (unsigned)n & 0777; /* never setuid, setgid or sticky from a guest */
            have_mode = true;
        } else if (!strcmp(k, "size")) {
            if (!parse_number(v, 10, UINT64_MAX >> 2, &n))
                return violation(err, "a file size that is not one");
            r->size = n;
            have_size = true;
        }
    }
    if (!have_mode || !have_size)
        return violation(err, "a file description without its mode and size");
    return AGENT_FEED_MORE;
}

static int file_data(struct agent_reply *r, const struct agent_frame *f, struct cove_error *err)
{
    if (!r->have_result || r->data_done || f->stream != AGENT_STDOUT)
        return unexpected(err, f);
    if (f->len == 0) {
        if (r->got != r->size) {
            char what[96];
            snprintf(what, sizeof what, "%llu bytes of a file it said has %llu",
                     (unsigned long long)r->got, (unsigned long long)r->size);
            return violation(err, what);
        }
        r->data_done = true;
        return AGENT_FEED_MORE;
    }
    if (f->len > r->size - r->got)
        return violation(err, "more data than the size it announced");
    r->got += f->len;
    return AGENT_FEED_DATA;
}

int agent_reply_feed(struct agent_reply *r, const struct agent_frame *f, struct cove_error *err)
{
    /* After an error only the exit frame may come. */
    if (r->have_error && f->type != AGENT_T_EXIT)
        return f->type == AGENT_T_ERROR ? violation(err, "a second error frame")
                                        : unexpected(err, f);
    switch (f->type) {
    case AGENT_T_ERROR: {
        char text[COVE_ERROR_MAX - 16];
        int rc = take_error(&r->have_error, f, text, sizeof text, err);
        r->error_code = f->len && f->payload[0] == AGENT_ERR_REQUEST ? -EINVAL : -EIO;
        cove_error_set(err, r->error_code, "guest: %s", text);
        return rc;
    }
    case AGENT_T_RESULT:
        if (r->kind == AGENT_REPLY_PLAIN || r->have_result)
            return r->have_result ? violation(err, "a second result frame") : unexpected(err, f);
        r->have_result = true;
        return r->kind == AGENT_REPLY_FILE ? file_meta(r, f, err) : AGENT_FEED_RESULT;
    case AGENT_T_DATA:
        if (r->kind != AGENT_REPLY_FILE)
            return unexpected(err, f);
        return file_data(r, f, err);
    case AGENT_T_EXIT: {
        int rc = exit_value(f, false, &r->status, err);
        if (rc < 0 || r->have_error)
            return rc;
        if (r->kind == AGENT_REPLY_FILE && r->status == 0 && !r->data_done)
            return violation(err, "a successful end before the whole file");
        return rc;
    }
    default:
        return unexpected(err, f);
    }
}

/* The next key/value pair of a payload at *at: false at its end (*bad when malformed). */
static bool next_pair(const struct agent_frame *f, uint32_t *at, const char **k,
                      const char **v, bool *bad)
{
    const char *p = (const char *)f->payload;
    if (*at >= f->len)
        return false;
    const char *ke = memchr(p + *at, 0, f->len - *at);
    if (!ke || (uint32_t)(ke - p) + 1 >= f->len)
        return *bad = true, false;
    const char *ve = memchr(ke + 1, 0, f->len - (uint32_t)(ke + 1 - p));
    if (!ve)
        return *bad = true, false;
    *k = p + *at, *v = ke + 1;
    *at = (uint32_t)(ve - p) + 1;
    return true;
}

int agent_ports_parse(const uint8_t *p, size_t len, struct agent_port *out, unsigned *n,
                      struct cove_error *err)
{
    *n = 0;
    if (len > AGENT_FRAME_MAX)
        return *n = 0, violation(err, "a ports answer over the frame size");
    struct agent_frame f = {AGENT_T_RESULT, 0, (uint32_t)len, p};
    unsigned count[2] = {0, 0};
    uint32_t at = 0;
    const char *k, *v;
    bool bad = false;
    while (next_pair(&f, &at, &k, &v, &bad)) {
        bool udp = !strcmp(k, "udp");
        uint64_t port;
        if (!udp && strcmp(k, "tcp"))
            return *n = 0, violation(err, "a ports answer with a key other than tcp and udp");
        if (v[0] == '0' || !parse_number(v, 10, 65535, &port) || port == 0)
            return *n = 0, violation(err, "a ports answer with a port outside 1..65535");
        if (++count[udp] > AGENT_PORTS_MAX)
            return *n = 0, violation(err, "a ports answer with too many ports");
        bool seen = false;
        for (unsigned i = 0; i < *n && !seen; i++)
            seen = out[i].port == port && out[i].udp == udp;
        if (!seen)
            out[(*n)++] = (struct agent_port){(uint16_t)port, udp};
    }
    if (bad) {
        *n = 0;
        return *n = 0, violation(err, "a ports answer whose strings do not end inside it");
    }
    return 0;
}

/* An F frame into e, by the rules of protocol.h and the bounds of t. */
static int tree_entry(struct agent_tree *t, const struct agent_frame *f, struct agent_entry *e,
                      struct cove_error *err)
{
    const char *k, *v, *type = NULL;
    bool bad = false, have_mode = false, have_size = false;
    uint64_t n;
    memset(e, 0, sizeof *e);
    for (uint32_t at = 0; next_pair(f, &at, &k, &v, &bad);) {
        if (!strcmp(k, "type")) {
            type = v;
        } else if (!strcmp(k, "name")) {
            e->name = v;
        } else if (!strcmp(k, "link")) {
            e->link = v;
        } else if (!strcmp(k, "mode")) {
            if (!parse_number(v, 8, 07777, &n))
                return violation(err, "an entry mode that is not one");
            e->mode = (unsigned)n & 0777; /* never setuid, setgid or sticky from a guest */
            have_mode = true;
        } else if (!strcmp(k, "size")) {
            if (!parse_number(v, 10, AGENT_TREE_MAX_BYTES, &n))
                return violation(err, "an entry size that is not one, or too large");
            e->size = n;
            have_size = true;
        }
    }
    if (bad || !type || strlen(type) != 1 || !strchr("dufl", type[0]))
        return violation(err, "a malformed tree entry");
    e->type = type[0];
    if (e->type != 'u' && (!e->name || !agent_tree_name_ok(e->name)))
        return violation(err, "an entry name that is not a single file name");
    if (((e->type == 'd' || e->type == 'f') && !have_mode) || (e->type == 'f' && !have_size))
        return violation(err, "a tree entry without its mode or size");
    if (e->type == 'l' && (!e->link || !agent_tree_link_ok(e->link, t->depth)))
        return violation(err, "a symbolic link pointing out of the tree");
    if (++t->entries > AGENT_TREE_MAX_ENTRIES)
        return violation(err, "more entries than a copy may have");
    /* the depth changes only for an entry that is taken: a refused one leaves it as it was */
    if (e->type == 'd' && t->depth + 1 > AGENT_TREE_MAX_DEPTH)
        return violation(err, "directories nested deeper than a copy may go");
    if (e->type == 'u' && t->depth == 0)
        return violation(err, "an entry leaving the top of the tree");
    if (e->type == 'f') {
        if (e->size > AGENT_TREE_MAX_BYTES - t->bytes)
            return violation(err, "more bytes than a copy may have");
        t->bytes += e->size;
        t->left = e->size;
    }
    if (e->type == 'd')
        t->depth++;
    else if (e->type == 'u')
        t->depth--;
    return AGENT_FEED_ENTRY;
}

int agent_tree_feed(struct agent_tree *t, const struct agent_frame *f, struct agent_entry *e,
                    struct cove_error *err)
{
    if (t->have_error && f->type != AGENT_T_EXIT)
        return f->type == AGENT_T_ERROR ? violation(err, "a second error frame")
                                        : unexpected(err, f);
    switch (f->type) {
    case AGENT_T_ERROR: {
        char text[COVE_ERROR_MAX - 16];
        int rc = take_error(&t->have_error, f, text, sizeof text, err);
        t->error_code = f->len && f->payload[0] == AGENT_ERR_REQUEST ? -EINVAL : -EIO;
        cove_error_set(err, t->error_code, "guest: %s", text);
        return rc;
    }
    case AGENT_T_RESULT: {
        const char *k, *v;
        bool bad = false, have_mode = false;
        uint64_t n;
        if (t->have_result)
            return violation(err, "a second result frame");
        t->have_result = true;
        for (uint32_t at = 0; next_pair(f, &at, &k, &v, &bad);)
            if (!strcmp(k, "mode")) {
                if (!parse_number(v, 8, 07777, &n))
                    return violation(err, "a directory mode that is not one");
                t->root_mode = (unsigned)n & 0777;
                have_mode = true;
            }
        if (bad || !have_mode)
            return violation(err, "a malformed directory description");
        return AGENT_FEED_RESULT;
    }
    case AGENT_T_ENTRY:
        if (!t->have_result || t->done || t->left)
            return unexpected(err, f);
        return tree_entry(t, f, e, err);
    case AGENT_T_DATA:
        if (!t->have_result || t->done || f->stream != AGENT_STDOUT)
            return unexpected(err, f);
        if (f->len == 0) {
            if (t->left || t->depth)
                return violation(err, "the end of a tree before its last file or directory");
            t->done = true;
            return AGENT_FEED_MORE;
        }
        if (f->len > t->left)
            return violation(err, "more data than the size it announced");
        t->left -= f->len;
        return AGENT_FEED_DATA;
    case AGENT_T_EXIT: {
        int rc = exit_value(f, false, &t->status, err);
        if (rc < 0 || t->have_error)
            return rc;
        if (t->status == 0 && !t->done)
            return violation(err, "a successful end before the whole tree");
        return rc;
    }
    default:
        return unexpected(err, f);
    }
}

int agent_exec_feed(struct agent_exec_reply *x, const struct agent_frame *f, char *message,
                    size_t message_len, struct cove_error *err)
{
    switch (f->type) {
    case AGENT_T_DATA:
        if (f->stream != AGENT_STDOUT && f->stream != AGENT_STDERR)
            return unexpected(err, f);
        if (x->have_error)
            return unexpected(err, f);
        return f->len ? AGENT_FEED_DATA : AGENT_FEED_MORE;
    case AGENT_T_ERROR: {
        char scratch[1];
        int rc = take_error(&x->have_error, f, message_len ? message : scratch,
                            message_len ? message_len : sizeof scratch, err);
        x->error_kind = f->len ? f->payload[0] : 0;
        return rc;
    }
    case AGENT_T_EXIT:
        return exit_value(f, true, &x->status, err);
    default:
        return unexpected(err, f);
    }
}
