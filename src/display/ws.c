/* The WebSocket protocol (RFC 6455): see ws.h. */
#include "display/ws.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <string.h>

static bool known_opcode(uint8_t op)
{
    return op <= WS_OP_BINARY || (op >= WS_OP_CLOSE && op <= WS_OP_PONG);
}

int ws_parse_header(const uint8_t *buf, size_t n, uint64_t max_payload, struct ws_frame *f)
{
    if (n < 2)
        return 0;
    f->fin = buf[0] & 0x80;
    f->opcode = buf[0] & 0x0f;
    f->masked = buf[1] & 0x80;
    if ((buf[0] & 0x70) || !known_opcode(f->opcode) || !f->masked)
        return -EBADMSG;
    uint64_t len = buf[1] & 0x7f;
    size_t pos = 2;
    if (len == 126) {
        if (n < 4)
            return 0;
        len = (uint64_t)buf[2] << 8 | buf[3];
        if (len < 126)
            return -EBADMSG;
        pos = 4;
    } else if (len == 127) {
        if (n < 10)
            return 0;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | buf[2 + i];
        if (len >> 63 || len <= 0xffff)
            return -EBADMSG;
        pos = 10;
    }
    if (f->opcode >= WS_OP_CLOSE && (!f->fin || len > 125))
        return -EBADMSG;
    if (len > max_payload)
        return -EMSGSIZE;
    if (n < pos + 4)
        return 0;
    memcpy(f->mask, buf + pos, 4);
    f->len = len;
    f->header_len = pos + 4;
    return 1;
}

void ws_unmask(uint8_t *data, size_t n, const uint8_t mask[4], uint64_t offset)
{
    for (size_t i = 0; i < n; i++)
        data[i] ^= mask[(offset + i) & 3];
}

size_t ws_header_encode(uint8_t *out, uint8_t opcode, uint64_t len)
{
    out[0] = 0x80 | (opcode & 0x0f);
    if (len < 126) {
        out[1] = (uint8_t)len;
        return 2;
    }
    if (len <= 0xffff) {
        out[1] = 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    return 10;
}

static bool is_base64(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/';
}

int ws_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    /* 16 bytes in base64: 22 characters, then "==" */
    if (strlen(key) != 24 || key[22] != '=' || key[23] != '=')
        return -EINVAL;
    for (int i = 0; i < 22; i++)
        if (!is_base64(key[i]))
            return -EINVAL;
    char text[24 + sizeof guid];
    memcpy(text, key, 24);
    memcpy(text + 24, guid, sizeof guid);
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)text, 24 + sizeof guid - 1, digest);
    EVP_EncodeBlock((unsigned char *)out, digest, SHA_DIGEST_LENGTH);
    out[WS_ACCEPT_LEN] = 0;
    return 0;
}

int ws_stream_next(struct ws_stream *s, const struct ws_frame *f)
{
    if (f->opcode >= WS_OP_CLOSE)
        return 0; /* control frames may come between fragments */
    if ((f->opcode == WS_OP_CONTINUATION) != s->in_message)
        return -EBADMSG;
    s->in_message = !f->fin;
    return 0;
}
