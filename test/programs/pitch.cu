// A CUDA runtime program built by nvcc, run unmodified through gpupool: pitched allocations and 2D
// copies in every direction (host <-> device, device <-> device, host <-> host), synchronous and on a
// stream, cudaMemset2D, a copy large enough to travel in several slices, and a 2D copy between two
// devices when there are two or more. No kernels: every check reads memory back through 2D copies.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "cudart_check.h"
#include "expect.h"

static unsigned char pattern(size_t row, size_t col, unsigned seed) { return (unsigned char)(row * 131 + col * 7 + seed); }

// A host image of `height` rows of `width` bytes at `pitch`, the gaps filled with `gap`.
static std::vector<unsigned char> image(size_t width, size_t pitch, size_t height, unsigned seed, unsigned char gap)
{
    std::vector<unsigned char> v(pitch * height, gap);
    for (size_t r = 0; r < height; r++)
        for (size_t c = 0; c < width; c++)
            v[r * pitch + c] = pattern(r, c, seed);
    return v;
}

// Rows hold the pattern and every gap byte is still `gap`.
static bool holds(const std::vector<unsigned char> &v, size_t width, size_t pitch, size_t height, unsigned seed, unsigned char gap)
{
    for (size_t r = 0; r < height; r++)
        for (size_t c = 0; c < pitch; c++) {
            unsigned char want = c < width ? pattern(r, c, seed) : gap;
            if (v[r * pitch + c] != want) {
                fprintf(stderr, "  row %zu col %zu: %u, want %u\n", r, c, v[r * pitch + c], want);
                return false;
            }
        }
    return true;
}

int main()
{
    int count = 0;
    CHECK(cudaGetDeviceCount(&count));
    printf("devices %d\n", count);
    CHECK(cudaSetDevice(0));

    const size_t W = 1000, H = 37;               // bytes per row, rows
    const size_t HP = W + 24, HQ = W + 40;       // host pitches, both unlike the width
    unsigned char *d1, *d2;
    size_t p1 = 0, p2 = 0;
    CHECK(cudaMallocPitch((void **)&d1, &p1, W, H));
    CHECK(cudaMallocPitch((void **)&d2, &p2, W, H));
    printf("pitch %zu for width %zu\n", p1, W);
    expect(p1 >= W && p2 >= W, "cudaMallocPitch pitch >= width");

    // host -> device with a host pitch unlike the width, then device -> host into another pitch
    std::vector<unsigned char> src = image(W, HP, H, 1, 0xAB);
    CHECK(cudaMemcpy2D(d1, p1, src.data(), HP, W, H, cudaMemcpyHostToDevice));
    std::vector<unsigned char> back(HQ * H, 0xEE);
    CHECK(cudaMemcpy2D(back.data(), HQ, d1, p1, W, H, cudaMemcpyDeviceToHost));
    expect(holds(back, W, HQ, H, 1, 0xEE), "2D host -> device -> host");

    // device -> device between two pitched allocations
    CHECK(cudaMemcpy2D(d2, p2, d1, p1, W, H, cudaMemcpyDeviceToDevice));
    std::fill(back.begin(), back.end(), 0xEE);
    CHECK(cudaMemcpy2D(back.data(), HQ, d2, p2, W, H, cudaMemcpyDeviceToHost));
    expect(holds(back, W, HQ, H, 1, 0xEE), "2D device -> device");

    // a sub-rectangle, offset on both sides, and cudaMemcpyDefault (unified addressing decides)
    {
        const size_t x0 = 16, y0 = 3, x1 = 40, y1 = 5, w = 200, h = 20;
        CHECK(cudaMemset2D(d2, p2, 0, W, H));
        CHECK(cudaMemcpy2D(d2 + y1 * p2 + x1, p2, d1 + y0 * p1 + x0, p1, w, h, cudaMemcpyDefault));
        std::vector<unsigned char> all(W * H, 0xEE);
        CHECK(cudaMemcpy2D(all.data(), W, d2, p2, W, H, cudaMemcpyDefault));
        bool ok = true;
        for (size_t r = 0; r < H && ok; r++)
            for (size_t c = 0; c < W && ok; c++) {
                bool inside = r >= y1 && r < y1 + h && c >= x1 && c < x1 + w;
                unsigned char want = inside ? pattern(r - y1 + y0, c - x1 + x0, 1) : 0;
                ok = all[r * W + c] == want;
            }
        expect(ok, "2D sub-rectangle device -> device (cudaMemcpyDefault)");
    }

    // cudaMemset2D: half of each row
    {
        CHECK(cudaMemcpy2D(d2, p2, src.data(), HP, W, H, cudaMemcpyHostToDevice));
        CHECK(cudaMemset2D(d2, p2, 0x5A, W / 2, H));
        std::vector<unsigned char> all(W * H);
        CHECK(cudaMemcpy2D(all.data(), W, d2, p2, W, H, cudaMemcpyDeviceToHost));
        bool ok = true;
        for (size_t r = 0; r < H && ok; r++)
            for (size_t c = 0; c < W && ok; c++)
                ok = all[r * W + c] == (c < W / 2 ? 0x5A : pattern(r, c, 1));
        expect(ok, "cudaMemset2D");
    }

    // on a stream: host -> device, device -> device, device -> host, then synchronise
    {
        cudaStream_t stream;
        CHECK(cudaStreamCreate(&stream));
        std::vector<unsigned char> in = image(W, HP, H, 9, 0xAB), out(HQ * H, 0xEE);
        CHECK(cudaMemcpy2DAsync(d1, p1, in.data(), HP, W, H, cudaMemcpyHostToDevice, stream));
        CHECK(cudaMemcpy2DAsync(d2, p2, d1, p1, W, H, cudaMemcpyDeviceToDevice, stream));
        CHECK(cudaMemcpy2DAsync(out.data(), HQ, d2, p2, W, H, cudaMemcpyDeviceToHost, stream));
        CHECK(cudaStreamSynchronize(stream));
        expect(holds(out, W, HQ, H, 9, 0xEE), "2D async on a stream");
        // rows packed on the host side too (host pitch == width)
        std::vector<unsigned char> packed(W * H, 0);
        CHECK(cudaMemcpy2DAsync(packed.data(), W, d1, p1, W, H, cudaMemcpyDeviceToHost, stream));
        CHECK(cudaStreamSynchronize(stream));
        expect(holds(packed, W, W, H, 9, 0), "2D async device -> packed host");
        CHECK(cudaStreamDestroy(stream));
    }

    // host -> host
    {
        std::vector<unsigned char> a = image(W, HP, H, 5, 0xAB), b(HQ * H, 0xEE);
        CHECK(cudaMemcpy2D(b.data(), HQ, a.data(), HP, W, H, cudaMemcpyHostToHost));
        expect(holds(b, W, HQ, H, 5, 0xEE), "2D host -> host");
    }

    // larger than one frame's slice (64 MiB): rows of 4000 bytes in a pitch of 4096, 20000 rows
    {
        const size_t BW = 4000, BH = 20000, BP = 4096;
        unsigned char *big;
        size_t bp = 0;
        CHECK(cudaMallocPitch((void **)&big, &bp, BW, BH));
        std::vector<unsigned char> in = image(BW, BP, BH, 3, 0x11), out(BP * BH, 0x22);
        CHECK(cudaMemcpy2D(big, bp, in.data(), BP, BW, BH, cudaMemcpyHostToDevice));
        CHECK(cudaMemcpy2D(out.data(), BP, big, bp, BW, BH, cudaMemcpyDeviceToHost));
        expect(holds(out, BW, BP, BH, 3, 0x22), "2D copy of 80 MB");
        CHECK(cudaFree(big));
    }

    if (count > 1) {
        // device 0 -> device N-1 (possibly another daemon, another host), synchronous and on a stream
        const int last = count - 1;
        CHECK(cudaSetDevice(last));
        unsigned char *d3;
        size_t p3 = 0;
        CHECK(cudaMallocPitch((void **)&d3, &p3, W, H));
        CHECK(cudaMemcpy2D(d1, p1, src.data(), HP, W, H, cudaMemcpyHostToDevice));
        CHECK(cudaMemcpy2D(d3, p3, d1, p1, W, H, cudaMemcpyDeviceToDevice));
        std::vector<unsigned char> out(HQ * H, 0xEE);
        CHECK(cudaMemcpy2D(out.data(), HQ, d3, p3, W, H, cudaMemcpyDeviceToHost));
        char what[96];
        snprintf(what, sizeof what, "2D device 0 -> device %d", last);
        expect(holds(out, W, HQ, H, 1, 0xEE), what);

        cudaStream_t stream;
        CHECK(cudaStreamCreate(&stream));
        CHECK(cudaMemset2D(d3, p3, 0, W, H));
        CHECK(cudaMemcpy2DAsync(d3, p3, d2, p2, W, H, cudaMemcpyDefault, stream));
        CHECK(cudaStreamSynchronize(stream));
        std::vector<unsigned char> all(W * H);
        CHECK(cudaMemcpy2D(all.data(), W, d3, p3, W, H, cudaMemcpyDeviceToHost));
        bool ok = true;
        for (size_t r = 0; r < H && ok; r++)
            for (size_t c = 0; c < W && ok; c++)
                ok = all[r * W + c] == pattern(r, c, 9);
        snprintf(what, sizeof what, "2D async device 0 -> device %d", last);
        expect(ok, what);
        CHECK(cudaStreamDestroy(stream));
        CHECK(cudaFree(d3));
        CHECK(cudaSetDevice(0));
    }

    // a destination outside every allocation is refused, not written
    {
        std::vector<unsigned char> tall(HP * (H + 1000), 0);
        cudaError_t e = cudaMemcpy2D(d1, p1, tall.data(), HP, W, H + 1000, cudaMemcpyHostToDevice);
        expect(e != cudaSuccess, "2D copy past the allocation refused");
        cudaGetLastError();
    }

    CHECK(cudaFree(d1));
    CHECK(cudaFree(d2));
    printf("%s\n", failures == 0 ? "PASS" : "FAIL");
    return failures == 0 ? 0 : 1;
}
