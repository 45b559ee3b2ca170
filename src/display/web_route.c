/* The web console's routing: which request gets what (web.h). Untrusted input: the path,
 * the query and the cookie are checked character by character, and nothing is served
 * without the token. */
#include "display/web.h"

#include <string.h>

/* Compares in time independent of where they differ. */
static bool token_equal(const char *a, size_t alen, const char *token)
{
    if (alen != WEB_TOKEN_LEN || strlen(token) != WEB_TOKEN_LEN)
        return false;
    unsigned char diff = 0;
    for (size_t i = 0; i < WEB_TOKEN_LEN; i++)
        diff |= (unsigned char)(a[i] ^ token[i]);
    return diff == 0;
}

/* The value of token=... among the '&'-separated parameters of query [q, end). */
static bool query_has_token(const char *q, const char *end, const char *token)
{
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *pe = amp ? amp : end;
        if (pe - q > 6 && !memcmp(q, "token=", 6) && token_equal(q + 6, (size_t)(pe - q - 6), token))
            return true;
        q = amp ? amp + 1 : end;
    }
    return false;
}

/* cove_token=... among the ';'-separated cookies of the Cookie header. */
static bool cookie_has_token(const struct http_message *req, const char *token)
{
    char cookie[1024];
    if (http_header(req, "Cookie", cookie, sizeof cookie) < 0)
        return false;
    for (char *c = cookie; *c;) {
        char *semi = strchr(c, ';');
        char *ce = semi ? semi : c + strlen(c);
        while (*c == ' ')
            c++;
        if (ce - c > 11 && !memcmp(c, "cove_token=", 11) &&
            token_equal(c + 11, (size_t)(ce - c - 11), token))
            return true;
        c = semi ? semi + 1 : ce;
    }
    return false;
}

static bool file_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

/* "/a/b.js" (no empty component, none starting with '.') into out as "a/b.js". */
static bool file_path(const char *p, size_t len, char *out, size_t n)
{
    if (len < 2 || p[0] != '/' || len >= n + 1)
        return false;
    for (size_t i = 1; i < len; i++) {
        bool start = p[i - 1] == '/';
        if (p[i] == '/' ? start : !file_char(p[i]) || (start && p[i] == '.'))
            return false;
    }
    if (p[len - 1] == '/')
        return false;
    memcpy(out, p + 1, len - 1);
    out[len - 1] = 0;
    return true;
}

static bool path_is(const char *p, size_t len, const char *what)
{
    return len == strlen(what) && !memcmp(p, what, len);
}

void web_route(const struct http_message *req, const char *token, struct web_request *out)
{
    memset(out, 0, sizeof *out);
    const char *path = req->path;
    const char *q = strchr(path, '?');
    size_t plen = q ? (size_t)(q - path) : strlen(path);
    const char *end = path + strlen(path);
    out->token_in_query = q && query_has_token(q + 1, end, token);
    bool ws = path_is(path, plen, "/websockify") || path_is(path, plen, "/console-ws");
    /* a WebSocket needs the token in its URL: a cookie would let any page of this host
     * (another port is the same site) open one */
    if (!out->token_in_query && (ws || !cookie_has_token(req, token))) {
        out->route = WEB_FORBIDDEN;
        return;
    }
    if (strcmp(req->method, "GET")) {
        out->route = WEB_METHOD;
        return;
    }
    if (path_is(path, plen, "/"))
        out->route = WEB_INDEX;
    else if (path_is(path, plen, "/console"))
        out->route = WEB_CONSOLE_PAGE;
    else if (path_is(path, plen, "/websockify"))
        out->route = WEB_WS_VNC;
    else if (path_is(path, plen, "/console-ws"))
        out->route = WEB_WS_CONSOLE;
    else
        out->route = file_path(path, plen, out->file, sizeof out->file) ? WEB_FILE
                                                                          : WEB_NOT_FOUND;
}

const char *web_content_type(const char *file)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},   {".png", "image/png"},
        {".svg", "image/svg+xml"},             {".ico", "image/x-icon"},
        {".json", "application/json"},         {".woff", "font/woff"},
        {".woff2", "font/woff2"},              {".ttf", "font/ttf"},
        {".mp3", "audio/mpeg"},                {".oga", "audio/ogg"},
    };
    const char *dot = strrchr(file, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (!strcmp(dot, types[i].ext))
            return types[i].type;
    return "application/octet-stream";
}
