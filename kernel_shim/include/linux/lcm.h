#ifndef _SHIM_LINUX_LCM_H
#define _SHIM_LINUX_LCM_H
/* lib/lcm.c's contract: the least common multiple, 0 if either is 0. */
static inline unsigned long shim_gcd(unsigned long a, unsigned long b)
{
	while (b) { unsigned long t = a % b; a = b; b = t; }
	return a;
}
static inline unsigned long lcm(unsigned long a, unsigned long b)
{
	return a && b ? a / shim_gcd(a, b) * b : 0;
}
#endif
