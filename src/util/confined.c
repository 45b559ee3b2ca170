/* The process's confinement flag (confined.h): set once, never cleared (a filter stays). */
#include "util/confined.h"

#include <stdatomic.h>

static atomic_bool confined;

void process_set_confined(void)
{
    atomic_store(&confined, true);
}

bool process_confined(void)
{
    return atomic_load(&confined);
}
