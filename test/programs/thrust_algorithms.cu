// The Thrust algorithms segmentationTreeThrust runs, through gpupool (issue 11), each with the sample's
// own types so that CUB instantiates the kernels it does (their CPU versions are the conformance run's,
// bench/cuda-samples/segtree.c, named for sm_80): fill, sequence, inclusive_scan, inclusive_scan_by_key
// of zipped (float, unsigned) by flags with minimum, the merge sort of zipped unsigned pairs,
// adjacent_difference (copying and in place), find_if, copy_if of a counting range by a stencil and
// unique_by_key_copy; at a size of one tile and at one of many, each checked against the host's answer.
#include <algorithm>
#include <cstdio>
#include <utility>
#include <vector>

#include <cuda/std/functional>
#include <thrust/adjacent_difference.h>
#include <thrust/copy.h>
#include <thrust/device_vector.h>
#include <thrust/fill.h>
#include <thrust/find.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/discard_iterator.h>
#include <thrust/iterator/zip_iterator.h>
#include <thrust/scan.h>
#include <thrust/sequence.h>
#include <thrust/sort.h>
#include <thrust/unique.h>

#include "expect.h"

typedef unsigned int uint;

// The sample's predicate, by its name: the find_if kernels are named after it.
template <typename Input> struct IsGreaterEqualThan
{
    __host__ __device__ IsGreaterEqualThan(uint upperBound)
        : upperBound_(upperBound)
    {
    }
    __host__ __device__ bool operator()(const Input &value) const { return value >= upperBound_; }
    uint upperBound_;
};

static uint next_random(uint &state)
{
    state = state * 1664525u + 1013904223u;
    return state >> 8;
}

static std::vector<uint> to_host(const thrust::device_vector<uint> &d)
{
    std::vector<uint> h(d.size());
    thrust::copy(d.begin(), d.end(), h.begin());
    return h;
}

static void check(size_t n, uint &state)
{
    char what[128];
    // Flags a quarter set, the first always (segments' heads); values repeat.
    std::vector<uint> flags(n), values(n), other(n);
    std::vector<float> weights(n);
    for (size_t i = 0; i < n; i++) {
        flags[i] = i == 0 || next_random(state) % 4 == 0;
        values[i] = next_random(state) % 64;
        other[i] = next_random(state) % 64;
        weights[i] = (float)(next_random(state) % 16) / 4.0f;
    }
    // Every vector from the host's: a sized one would launch a fill kernel of its own.
    std::vector<uint> zeros(n);
    std::vector<float> float_zeros(n);
    thrust::device_vector<uint> d_flags(flags.begin(), flags.end()), d_values(values.begin(), values.end()),
        d_other(other.begin(), other.end()), d_out(zeros.begin(), zeros.end()), d_out2(zeros.begin(), zeros.end());
    thrust::device_vector<float> d_weights(weights.begin(), weights.end()), d_min_weights(float_zeros.begin(), float_zeros.end());
    thrust::device_ptr<uint> p_flags = d_flags.data(), p_values = d_values.data(), p_other = d_other.data(),
                             p_out = d_out.data(), p_out2 = d_out2.data();

    thrust::fill(p_out, p_out + n, 7);
    snprintf(what, sizeof what, "thrust::fill of %zu", n);
    expect(to_host(d_out) == std::vector<uint>(n, 7), what);

    thrust::sequence(p_out, p_out + n);
    std::vector<uint> expected(n);
    for (size_t i = 0; i < n; i++) expected[i] = (uint)i;
    snprintf(what, sizeof what, "thrust::sequence of %zu", n);
    expect(to_host(d_out) == expected, what);

    thrust::inclusive_scan(p_flags, p_flags + n, p_out);
    uint sum = 0;
    for (size_t i = 0; i < n; i++) expected[i] = sum += flags[i];
    snprintf(what, sizeof what, "thrust::inclusive_scan of %zu", n);
    expect(to_host(d_out) == expected, what);

    // Within each segment the running minimum (weight, then edge) of (weights, values).
    thrust::inclusive_scan_by_key(p_flags, p_flags + n, thrust::make_zip_iterator(thrust::make_tuple(d_weights.data(), p_values)),
                                  thrust::make_zip_iterator(thrust::make_tuple(d_min_weights.data(), p_out)),
                                  thrust::greater_equal<uint>(), thrust::minimum<thrust::tuple<float, uint>>());
    std::vector<float> min_weights(n), expected_weights(n);
    thrust::copy(d_min_weights.begin(), d_min_weights.end(), min_weights.begin());
    std::pair<float, uint> least;
    for (size_t i = 0; i < n; i++) {
        std::pair<float, uint> item(weights[i], values[i]);
        least = (i == 0 || flags[i - 1] < flags[i] || item < least) ? item : least;
        expected_weights[i] = least.first;
        expected[i] = least.second;
    }
    snprintf(what, sizeof what, "thrust::inclusive_scan_by_key of %zu", n);
    expect(min_weights == expected_weights && to_host(d_out) == expected, what);

    // Zipped pairs: CUB's merge sort.
    thrust::device_vector<uint> d_a(values.begin(), values.end()), d_b(other.begin(), other.end());
    thrust::sort(thrust::make_zip_iterator(thrust::make_tuple(d_a.data(), d_b.data())),
                 thrust::make_zip_iterator(thrust::make_tuple(d_a.data() + n, d_b.data() + n)));
    std::vector<std::pair<uint, uint>> pairs(n);
    for (size_t i = 0; i < n; i++) pairs[i] = std::make_pair(values[i], other[i]);
    std::sort(pairs.begin(), pairs.end());
    std::vector<uint> got_a = to_host(d_a), got_b = to_host(d_b);
    bool sorted = true;
    for (size_t i = 0; i < n; i++) sorted = sorted && got_a[i] == pairs[i].first && got_b[i] == pairs[i].second;
    snprintf(what, sizeof what, "thrust::sort of %zu zipped pairs", n);
    expect(sorted, what);

    // Run heads of the sorted keys, copying, then in place.
    std::vector<uint> heads(n);
    for (size_t i = 0; i < n; i++) heads[i] = i == 0 ? got_a[0] : got_a[i] != got_a[i - 1];
    thrust::adjacent_difference(d_a.data(), d_a.data() + n, p_out, thrust::not_equal_to<uint>());
    snprintf(what, sizeof what, "thrust::adjacent_difference of %zu", n);
    expect(to_host(d_out) == heads, what);
    thrust::device_vector<uint> d_in_place(got_a.begin(), got_a.end());
    thrust::adjacent_difference(d_in_place.data(), d_in_place.data() + n, d_in_place.data(), thrust::not_equal_to<uint>());
    snprintf(what, sizeof what, "thrust::adjacent_difference of %zu in place", n);
    expect(to_host(d_in_place) == heads, what);

    // The first sorted key at or over 40, and none over 64.
    uint found = (uint)(thrust::find_if(d_a.data(), d_a.data() + n, IsGreaterEqualThan<uint>(40)) - d_a.data());
    uint none = (uint)(thrust::find_if(d_a.data(), d_a.data() + n, IsGreaterEqualThan<uint>(64)) - d_a.data());
    snprintf(what, sizeof what, "thrust::find_if of %zu", n);
    expect(found == (uint)(std::lower_bound(got_a.begin(), got_a.end(), 40u) - got_a.begin()) && none == n, what);

    // The indices of the set flags, among the first n - 3.
    uint count = (uint)n - 3;
    uint selected = (uint)(thrust::copy_if(thrust::make_counting_iterator(0U), thrust::make_counting_iterator(count), p_flags,
                                           p_out2, cuda::std::identity()) - p_out2);
    std::vector<uint> indices;
    for (uint i = 0; i < count; i++)
        if (flags[i]) indices.push_back(i);
    std::vector<uint> got = to_host(d_out2);
    got.resize(selected);
    snprintf(what, sizeof what, "thrust::copy_if of %zu", n);
    expect(got == indices, what);

    // Where each run of equal sorted keys starts.
    auto ends = thrust::unique_by_key_copy(d_a.data(), d_a.data() + n, thrust::make_counting_iterator(0),
                                           thrust::make_discard_iterator(), p_out2);
    std::vector<uint> starts;
    for (size_t i = 0; i < n; i++)
        if (heads[i] && i > 0) starts.push_back((uint)i);
    starts.insert(starts.begin(), 0);
    got = to_host(d_out2);
    got.resize(ends.second - p_out2);
    snprintf(what, sizeof what, "thrust::unique_by_key_copy of %zu", n);
    expect(got == starts, what);
}

int main()
{
    uint state = 2024;
    // 1000: one tile of every algorithm; 300000: many, and find_if's two-pass reduction.
    for (size_t n : { (size_t)1000, (size_t)300000 }) check(n, state);
    if (failures != 0) return 1;
    printf("PASS\n");
    return 0;
}
