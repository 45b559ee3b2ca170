/*
 * fp.c — floating-point-heavy user code, Whetstone-like: array and conditional modules,
 * divisions and square roots, and transcendental functions (sin, cos, atan, exp, log)
 * from libm, in double precision, with a single-precision loop mixed in.
 */
#include <math.h>

#include "cpu.h"

static void pa(double e[4], double t, double t2)
{
    for (int j = 0; j < 6; j++) {
        e[0] = (e[0] + e[1] + e[2] - e[3]) * t;
        e[1] = (e[0] + e[1] - e[2] + e[3]) * t;
        e[2] = (e[0] - e[1] + e[2] + e[3]) * t;
        e[3] = (-e[0] + e[1] + e[2] + e[3]) / t2;
    }
}

int main(void)
{
    enum { LOOPS = 30000 };
    volatile double vt = 0.499975, vt1 = 0.50025, vt2 = 2.0;
    double t = vt, t1 = vt1, t2 = vt2, x, y, z;
    double e[4] = { 1.0, -1.0, -1.0, -1.0 };
    float fs = 1.0f;
    double t0 = now_ms();
    for (int i = 0; i < LOOPS; i++) {
        for (int k = 0; k < 10; k++)
            pa(e, t, t2);
        x = y = 0.5;
        for (int k = 0; k < 8; k++) {
            x = t * atan(t2 * sin(x) * cos(x) / (cos(x + y) + cos(x - y) - 1.0));
            y = t * atan(t2 * sin(y) * cos(y) / (cos(x + y) + cos(x - y) - 1.0));
        }
        z = 0.75;
        for (int k = 0; k < 20; k++)
            z = sqrt(exp(log(z) / t1));
        x = 1.0, y = 1.0, z = 1.0;
        for (int k = 0; k < 40; k++) {
            x = t * (x + y);
            y = t * (x + y);
            z = (x + y) / t2 + z / (1.0 + y * y);
        }
        for (int k = 0; k < 40; k++)
            fs = fs * 0.999f + sqrtf(fs + (float)k) / 64.0f;
        e[0] += z * 1e-9 + fs * 1e-9;
    }
    uint64_t sum = 0;
    for (int k = 0; k < 4; k++)
        sum = sum * 31 + (uint64_t)(int64_t)(e[k] * 1e6);
    sum = sum * 31 + (uint64_t)(int64_t)(x * 1e6) + (uint64_t)(int64_t)(fs * 1e3);
    report("fp", t0, sum);
    return 0;
}
