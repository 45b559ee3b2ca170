/*
 * The guest agent's "ports" answer as the host parses it (agent_ports_parse), and the
 * reconciling step of automatic port forwarding (autofwd_reconcile) against a fake NAT
 * whose host ports can be taken.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../test.h"
#include "agent/agent_frame.h"
#include "vm/autofwd.h"

static struct agent_port out[AGENT_PORTS_OUT_MAX];

static int parse(const char *p, size_t len, unsigned *n)
{
    struct cove_error err = {0};
    return agent_ports_parse((const uint8_t *)p, len, out, n, &err);
}
#define PARSE(lit, n) parse(lit, sizeof lit - 1, n)

TEST(parses_ports)
{
    unsigned n;
    CHECK(PARSE("tcp\0" "8080\0" "udp\0" "53\0" "tcp\0" "8080\0" "tcp\0" "65535\0", &n) == 0);
    CHECK(n == 3);
    CHECK(out[0].port == 8080 && !out[0].udp);
    CHECK(out[1].port == 53 && out[1].udp);
    CHECK(out[2].port == 65535 && !out[2].udp);
    CHECK(PARSE("", &n) == 0 && n == 0);
}

TEST(refuses_malformed)
{
    unsigned n;
    CHECK(PARSE("tcp\0" "0\0", &n) == -EPROTO && n == 0);
    CHECK(PARSE("tcp\0" "65536\0", &n) == -EPROTO && n == 0);
    CHECK(PARSE("tcp\0" "080\0", &n) == -EPROTO);
    CHECK(PARSE("tcp\0" "-1\0", &n) == -EPROTO);
    CHECK(PARSE("tcp\0" "+80\0", &n) == -EPROTO);
    CHECK(PARSE("tcp\0" "\0", &n) == -EPROTO);
    CHECK(PARSE("sctp\0" "80\0", &n) == -EPROTO);
    CHECK(PARSE("tcp\0" "8080", &n) == -EPROTO && n == 0);         /* unterminated */
    CHECK(PARSE("tcp\0" "8080\0" "udp", &n) == -EPROTO && n == 0); /* half a pair */
    CHECK(PARSE("tcp\0" "99999999999999999999\0", &n) == -EPROTO);
}

TEST(bounds_the_count)
{
    static char buf[AGENT_FRAME_MAX];
    size_t len = 0;
    for (unsigned i = 1; i <= AGENT_PORTS_MAX + 1; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "tcp%c%u%c", 0, 1000 + i, 0) ;
    unsigned n;
    struct cove_error err = {0};
    CHECK(agent_ports_parse((uint8_t *)buf, len, out, &n, &err) == -EPROTO && n == 0);
    CHECK(strstr(err.message, "too many") != NULL);
    /* as many of each protocol is fine */
    len = 0;
    for (unsigned i = 1; i <= AGENT_PORTS_MAX; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "tcp%c%u%cudp%c%u%c", 0, i, 0, 0,
                                i, 0);
    CHECK(agent_ports_parse((uint8_t *)buf, len, out, &n, &err) == 0 && n == 2 * AGENT_PORTS_MAX);
}

/* --- the reconciling step against a fake NAT ------------------------------------------ */

struct fake_nat {
    bool taken[65536];   /* host ports some other program holds */
    bool bound[65536];   /* host ports the NAT forwards (TCP) */
    unsigned adds, removes;
};

static int fake_add(void *opaque, bool udp, uint16_t host, uint16_t guest)
{
    struct fake_nat *f = opaque;
    if (host < 1024 && !f->taken[0])
        return -EACCES; /* taken[0] set: "privileged" */
    if (f->taken[host] || f->bound[host])
        return -EADDRINUSE;
    f->bound[host] = true;
    f->adds++;
    return 0;
}

static void fake_remove(void *opaque, bool udp, uint16_t host)
{
    struct fake_nat *f = opaque;
    f->bound[host] = false;
    f->removes++;
}

static struct fake_nat nat;

static unsigned host_port_of(const struct autofwd_state *s, uint16_t guest)
{
    for (unsigned i = 0; i < s->nactive; i++)
        if (s->active[i].guest_port == guest && !s->active[i].udp)
            return s->active[i].host_port;
    return 0;
}

TEST(reconciles)
{
    memset(&nat, 0, sizeof nat);
    static struct autofwd_state st;
    struct net_forward explicit = {false, 0x7f000001, 2222, 22};
    struct net_forward explicit2 = {false, 0x7f000001, 9000, 9001};
    struct net_forward ex[2] = {explicit, explicit2};
    struct autofwd_options o = {"/nonexistent", false, ex, 2};
    nat.taken[8081] = true;
    struct agent_port ports[] = {{8080, false}, {8081, false}, {80, false}, {9001, false},
                                 {5353, true}};
    autofwd_reconcile(&st, &o, ports, 5, fake_add, fake_remove, &nat);
    CHECK(host_port_of(&st, 8080) == 8080);
    CHECK(host_port_of(&st, 8081) == 8082); /* 8081 taken on the host: the next free one */
    CHECK(host_port_of(&st, 80) == 0);      /* below 1024: not without privileged */
    CHECK(host_port_of(&st, 9001) == 0);    /* an explicit forward serves it */
    CHECK(st.nactive == 3);                 /* and UDP 5353 */
    /* the same list again: nothing changes */
    unsigned adds = nat.adds;
    autofwd_reconcile(&st, &o, ports, 5, fake_add, fake_remove, &nat);
    CHECK(nat.adds == adds && nat.removes == 0);
    /* 8080 gone */
    struct agent_port fewer[] = {{8081, false}, {5353, true}};
    autofwd_reconcile(&st, &o, fewer, 2, fake_add, fake_remove, &nat);
    CHECK(host_port_of(&st, 8080) == 0 && !nat.bound[8080] && nat.removes == 1);
    CHECK(st.nactive == 2);
    /* everything gone */
    autofwd_reconcile(&st, &o, NULL, 0, fake_add, fake_remove, &nat);
    CHECK(st.nactive == 0 && nat.removes == 3);
    /* privileged: port 80 too */
    o.privileged = true;
    nat.taken[0] = true;
    autofwd_reconcile(&st, &o, ports, 5, fake_add, fake_remove, &nat);
    CHECK(host_port_of(&st, 80) == 80);
}

TEST(bounded_and_exhausted)
{
    memset(&nat, 0, sizeof nat);
    static struct autofwd_state st;
    struct autofwd_options o = {"/nonexistent", false, NULL, 0};
    /* every host port from 20000 to 20000 + AUTOFWD_TRIES taken: not forwarded */
    for (unsigned p = 20000; p < 20000 + AUTOFWD_TRIES; p++)
        nat.taken[p] = true;
    struct agent_port one[] = {{20000, false}};
    autofwd_reconcile(&st, &o, one, 1, fake_add, fake_remove, &nat);
    CHECK(st.nactive == 0);
    /* 65535 taken: nothing above it to try, no wrap to port 0 */
    nat.taken[65535] = true;
    struct agent_port top[] = {{65535, false}};
    autofwd_reconcile(&st, &o, top, 1, fake_add, fake_remove, &nat);
    CHECK(st.nactive == 0 && !nat.bound[0]);
    /* more ports than AUTOFWD_MAX: at most AUTOFWD_MAX forwards */
    static struct agent_port many[AGENT_PORTS_MAX];
    for (unsigned i = 0; i < AGENT_PORTS_MAX; i++)
        many[i] = (struct agent_port){(uint16_t)(30000 + i), false};
    autofwd_reconcile(&st, &o, many, AGENT_PORTS_MAX, fake_add, fake_remove, &nat);
    CHECK(st.nactive == AUTOFWD_MAX);
}

int main(void)
{
    RUN(parses_ports);
    RUN(refuses_malformed);
    RUN(bounds_the_count);
    RUN(reconciles);
    RUN(bounded_and_exhausted);
    return test_summary();
}
