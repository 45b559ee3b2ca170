/*
 * Shared libraries loaded on first use (lazy_lib.h). RTLD_NOW: a library that lacks a
 * function fails here, at its first use, not at some later call; RTLD_LOCAL: its symbols
 * stay out of the global scope, where our shims hold the same names.
 */
#include "util/lazy_lib.h"

#include <dlfcn.h>
#include <stdio.h>

static __thread struct lazy_lib *loading; /* pthread_once's routine takes no argument */

static void load(void)
{
    struct lazy_lib *lib = loading;
    void *h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(lib->error, sizeof lib->error, "cannot load %s (install %s): %s", lib->soname,
                 lib->package, dlerror());
        return;
    }
    for (unsigned i = 0; lib->names[i]; i++) {
        lib->fns[i] = dlsym(h, lib->names[i]);
        if (!lib->fns[i]) {
            snprintf(lib->error, sizeof lib->error, "%s has no %s: a version too old (install "
                     "a newer %s)", lib->soname, lib->names[i], lib->package);
            return; /* h stays loaded: harmless, and dlclose of a half-used library is not */
        }
    }
    lib->ok = true;
}

bool lazy_lib_load(struct lazy_lib *lib)
{
    loading = lib;
    pthread_once(&lib->once, load);
    return lib->ok;
}
