// Thrust's sort and sort_by_key through gpupool (issue 11), as particles and radixSortThrust use them:
// unsigned int and float keys, alone and with unsigned int values, at a size under one tile (CUB's
// single-tile kernel) and at sizes over it (the onesweep sort: histogram, exclusive sum, one scatter per
// 8-bit pass), each checked against std::stable_sort; the keys repeat, so that the values show whether
// equal keys kept their order, and the floats hold negatives, -0.0 and +0.0. Built for sm_80: its
// kernels' CPU versions are the conformance run's (bench/cuda-samples/thrust_sort.c), named for that
// architecture. On a newer card its kernels still say PTX version 80 (the binary is the card's own),
// since CUB picks the tuning its kernels were compiled with by that version.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <thrust/device_vector.h>
#include <thrust/sort.h>

#include "expect.h"

// Only asked for its attributes.
__global__ void never_launched() {}

static unsigned next_random(unsigned &state)
{
    state = state * 1664525u + 1013904223u;
    return state >> 8;
}

static std::vector<unsigned> uint_keys(size_t n, unsigned &state)
{
    std::vector<unsigned> keys(n);
    // A narrow range repeats keys; the top bits set now and then reach every pass.
    for (auto &k : keys) k = (next_random(state) % 512) | ((next_random(state) % 7 == 0) ? 0xff000000u : 0);
    return keys;
}

static std::vector<float> float_keys(size_t n, unsigned &state)
{
    std::vector<float> keys(n);
    for (auto &k : keys) {
        unsigned r = next_random(state) % 1000;
        k = r < 20 ? (r % 2 ? -0.0f : 0.0f) : (float)((int)(r % 200) - 100) / 8.0f;
    }
    return keys;
}

template <typename K> static bool same_bits(const std::vector<K> &a, const std::vector<K> &b)
{
    return a.size() == b.size() && (a.empty() || memcmp(a.data(), b.data(), a.size() * sizeof(K)) == 0);
}

template <typename K> static void check(const char *type, const std::vector<K> &keys)
{
    char what[128];
    size_t n = keys.size();

    // Keys alone.
    std::vector<K> expected = keys;
    std::stable_sort(expected.begin(), expected.end());
    thrust::device_vector<K> d_keys(keys.begin(), keys.end());
    thrust::sort(d_keys.begin(), d_keys.end());
    std::vector<K> got(n);
    thrust::copy(d_keys.begin(), d_keys.end(), got.begin());
    snprintf(what, sizeof what, "thrust::sort of %zu %s keys", n, type);
    expect(same_bits(got, expected), what);

    // Keys and values: equal keys keep their values' order.
    std::vector<unsigned> order(n);
    for (size_t i = 0; i < n; i++) order[i] = (unsigned)i;
    std::stable_sort(order.begin(), order.end(), [&](unsigned a, unsigned b) { return keys[a] < keys[b]; });
    std::vector<K> expected_keys(n);
    for (size_t i = 0; i < n; i++) expected_keys[i] = keys[order[i]];
    thrust::device_vector<K> d_k(keys.begin(), keys.end());
    std::vector<unsigned> indices(n);
    for (size_t i = 0; i < n; i++) indices[i] = (unsigned)i;
    // From the host, as radixSortThrust fills its vectors: thrust::sequence would launch a kernel of its own.
    thrust::device_vector<unsigned> d_v(indices.begin(), indices.end());
    thrust::sort_by_key(d_k.begin(), d_k.end(), d_v.begin());
    std::vector<K> got_keys(n);
    std::vector<unsigned> got_values(n);
    thrust::copy(d_k.begin(), d_k.end(), got_keys.begin());
    thrust::copy(d_v.begin(), d_v.end(), got_values.begin());
    snprintf(what, sizeof what, "thrust::sort_by_key of %zu %s keys", n, type);
    expect(same_bits(got_keys, expected_keys) && got_values == order, what);
}

int main()
{
    cudaFuncAttributes attributes;
    cudaDeviceProp card;
    bool asked = cudaFuncGetAttributes(&attributes, never_launched) == cudaSuccess &&
                 cudaGetDeviceProperties(&card, 0) == cudaSuccess;
    printf("card %d.%d\n", asked ? card.major : -1, asked ? card.minor : -1);
    expect(asked && attributes.ptxVersion == 80 && attributes.binaryVersion == card.major * 10 + card.minor,
           "PTX version 80, binary version the card's");

    unsigned state = 12345;
    // 1000: one tile; 30000 and 100000: the onesweep sort, over several of its tiles.
    for (size_t n : { (size_t)1000, (size_t)30000, (size_t)100000 }) {
        check("unsigned int", uint_keys(n, state));
        check("float", float_keys(n, state));
    }
    if (failures != 0) return 1;
    printf("PASS\n");
    return 0;
}
