#!/usr/bin/env python3
"""Prints MD2's 256-byte permutation (PI_SUBST in ../md2.c), derived from the digits of pi.

RFC 1319 only says the table is "constructed from the digits of pi". The construction: a Fisher-Yates
shuffle of 0..255 whose random choices come from pi's decimal digits (one, two or three digits per
choice, rejecting values that would bias the result). Run it and compare with md2.c's table.
"""
def pi_digits():
    """Pi's decimal digits, one at a time (Gibbons' unbounded spigot)."""
    q, r, t, k, n, l = 1, 0, 1, 1, 3, 3
    while True:
        if 4*q + r - t < n*t:
            yield n
            q, r, t, k, n, l = 10*q, 10*(r - n*t), t, k, (10*(3*q + r)) // t - 10*n, l
        else:
            q, r, t, k, n, l = q*k, (2*q + r)*l, t*l, k + 1, (q*(7*k + 2) + r*l) // (t*l), l + 2
d = pi_digits()
def rand(n):
    """A uniform choice in [0, n) drawn from the next digits of pi."""
    while True:
        x, y = next(d), 10
        if n > 10: x, y = x*10 + next(d), 100
        if n > 100: x, y = x*10 + next(d), 1000
        if x < n * (y // n): return x % n
S = list(range(256))
for i in range(2, 257):
    j = rand(i)
    S[j], S[i-1] = S[i-1], S[j]
for r in range(0, 256, 16):
    print("    " + ", ".join("%3d" % v for v in S[r:r+16]) + ",")
