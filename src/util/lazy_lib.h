/*
 * lazy_lib.h — a shared library loaded when first used (dlopen) instead of at process
 * start, its functions resolved all at once. Every cove process (each `cove exec`, each
 * `cove run`) used to map and relocate 52 libraries, most of them pulled in by libcurl
 * (OCI registries), libnbd (NBD disks) and libvncserver (the VNC display), which few
 * processes use: ~17 ms of CPU per process start (docs/PERFORMANCE.md, forks).
 *
 * A shim per library (nbd_lazy.c, curl_lazy.c, vnc_lazy.c) defines the functions cove
 * calls, with the library's own prototypes, forwarding to the resolved ones; the code that
 * uses the library does not change. A confined VMM (docs/SECURITY.md) cannot open files
 * after setup: a library its devices use is loaded during setup, by their first call.
 */
#ifndef COVE_UTIL_LAZY_LIB_H
#define COVE_UTIL_LAZY_LIB_H

#include <pthread.h>
#include <stdbool.h>

struct lazy_lib {
    const char *soname;       /* what dlopen loads: "libnbd.so.0" */
    const char *package;      /* what provides it, for the error: "libnbd0" */
    const char *const *names; /* the functions, NULL-terminated */
    void **fns;               /* resolved, in the order of names */
    pthread_once_t once;
    bool ok;
    char error[320];          /* why not, once tried and failed */
};

/* A name for names[], from an X-macro list: expanded first, as a header may #define a
 * function's name to its versioned symbol (rfb.h: rfbInitServer). */
#define LAZY_LIB_STR(f) #f
#define LAZY_LIB_NAME(f) LAZY_LIB_STR(f),

#define LAZY_LIB(soname, package, names, fns) \
    {soname, package, names, fns, PTHREAD_ONCE_INIT, false, ""}

/* Loads the library and resolves every function, once per process (thread-safe); true
 * when all of them were found, else lib->error says what is missing and what to install. */
bool lazy_lib_load(struct lazy_lib *lib);

#endif
