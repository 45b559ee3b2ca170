/*
 * libcurl, loaded when the first registry client opens (util/lazy_lib.h): the functions
 * src/oci calls, with libcurl's prototypes. Each checks the library is there (a cheap
 * once-check): oci_client_open asks first (curl_lazy_load) and says what is missing, the
 * others then fail as libcurl itself fails, never call through a null pointer.
 */
#define CURL_DISABLE_TYPECHECK /* curl_easy_setopt is a function here, not typecheck-gcc.h's macro */
#include <curl/curl.h>
#include <stdarg.h>

#include "oci/curl_lazy.h"
#include "util/lazy_lib.h"

#define CURL_FUNCTIONS(X)                                                                  \
    X(curl_global_init) X(curl_easy_init) X(curl_easy_cleanup) X(curl_easy_reset)         \
    X(curl_easy_perform) X(curl_easy_strerror) X(curl_easy_escape) X(curl_escape)         \
    X(curl_free) X(curl_slist_append) X(curl_slist_free_all) X(curl_easy_setopt)          \
    X(curl_easy_getinfo)

#define AS_INDEX(f) I_##f,
enum { CURL_FUNCTIONS(AS_INDEX) N_FUNCTIONS };
static const char *const names[] = {CURL_FUNCTIONS(LAZY_LIB_NAME) NULL};
static void *fns[N_FUNCTIONS];
static struct lazy_lib lib = LAZY_LIB("libcurl.so.4", "libcurl4", names, fns);

#define F(f) ((__typeof__(&f))fns[I_##f])
#define LOADED() lazy_lib_load(&lib)

const char *curl_lazy_load(void)
{
    return LOADED() ? NULL : lib.error;
}

CURLcode curl_global_init(long flags)
{
    return LOADED() ? F(curl_global_init)(flags) : CURLE_FAILED_INIT;
}

CURL *curl_easy_init(void)
{
    return LOADED() ? F(curl_easy_init)() : NULL;
}

void curl_easy_cleanup(CURL *h)
{
    if (LOADED())
        F(curl_easy_cleanup)(h);
}

void curl_easy_reset(CURL *h)
{
    if (LOADED())
        F(curl_easy_reset)(h);
}

CURLcode curl_easy_perform(CURL *h)
{
    return LOADED() ? F(curl_easy_perform)(h) : CURLE_FAILED_INIT;
}

const char *curl_easy_strerror(CURLcode code)
{
    return LOADED() ? F(curl_easy_strerror)(code) : lib.error;
}

char *curl_easy_escape(CURL *h, const char *s, int len)
{
    return LOADED() ? F(curl_easy_escape)(h, s, len) : NULL;
}

char *curl_escape(const char *s, int len)
{
    return LOADED() ? F(curl_escape)(s, len) : NULL;
}

void curl_free(void *p)
{
    if (LOADED())
        F(curl_free)(p);
}

struct curl_slist *curl_slist_append(struct curl_slist *list, const char *s)
{
    return LOADED() ? F(curl_slist_append)(list, s) : NULL;
}

void curl_slist_free_all(struct curl_slist *list)
{
    if (LOADED())
        F(curl_slist_free_all)(list);
}

/* The variadic argument's type follows from the option's number (curl.h: CURLOPTTYPE_*):
 * passed on as the same type, it reaches libcurl as the caller gave it. */
CURLcode curl_easy_setopt(CURL *h, CURLoption option, ...)
{
    if (!LOADED())
        return CURLE_FAILED_INIT;
    va_list ap;
    va_start(ap, option);
    CURLcode rc;
    if (option < CURLOPTTYPE_OBJECTPOINT)
        rc = F(curl_easy_setopt)(h, option, va_arg(ap, long));
    else if (option < CURLOPTTYPE_FUNCTIONPOINT)
        rc = F(curl_easy_setopt)(h, option, va_arg(ap, void *));
    else if (option < CURLOPTTYPE_OFF_T)
        rc = F(curl_easy_setopt)(h, option, va_arg(ap, void (*)(void)));
    else if (option < CURLOPTTYPE_BLOB)
        rc = F(curl_easy_setopt)(h, option, va_arg(ap, curl_off_t));
    else
        rc = F(curl_easy_setopt)(h, option, va_arg(ap, void *));
    va_end(ap);
    return rc;
}

/* Every CURLINFO takes a pointer to where the answer goes. */
CURLcode curl_easy_getinfo(CURL *h, CURLINFO info, ...)
{
    if (!LOADED())
        return CURLE_FAILED_INIT;
    va_list ap;
    va_start(ap, info);
    CURLcode rc = F(curl_easy_getinfo)(h, info, va_arg(ap, void *));
    va_end(ap);
    return rc;
}
