/* The process's confinement state (confined.h): each flag is set once, never cleared (a
 * filter and a jail stay). */
#include "util/confined.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <unistd.h>

static atomic_bool confined, jail_ns, owner_set;
static _Atomic uid_t owner;

void process_set_confined(void)
{
    atomic_store(&confined, true);
}

bool process_confined(void)
{
    return atomic_load(&confined);
}

void process_set_jail_ns(void)
{
    atomic_store(&jail_ns, true);
}

bool process_jail_ns(void)
{
    return atomic_load(&jail_ns);
}

int process_child_leave_jail_ns(void)
{
    if (!atomic_load(&jail_ns))
        return 0;
    atomic_store(&jail_ns, false); /* this child's children are not the jail's */
    return unshare(CLONE_NEWNS) < 0 ? -errno : 0;
}

void process_set_owner(uid_t uid)
{
    atomic_store(&owner, uid);
    atomic_store(&owner_set, true);
}

uid_t process_owner(void)
{
    return atomic_load(&owner_set) ? atomic_load(&owner) : geteuid();
}
