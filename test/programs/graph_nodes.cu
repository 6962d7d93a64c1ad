// CUDA graphs built node by node through gpupool (issue 11), as simpleCudaGraphs and jacobiCudaGraphs
// build them: a copy from pageable host memory, a memset, a kernel after both, a copy back into host
// memory and a host node after it, launched several times (the host node changes the input the next
// launch copies in); a kernel node's parameters changed in the executable graph only; a clone; the
// generic cudaGraphAddNode and cudaGraphAddDependencies; listing nodes, roots and types; an update of
// the executable graph; and what is refused by name: host memory in a stream capture, node kinds not
// carried. Its kernels are the emulator's test kernels (native/fakes/cuda/kernels).
#include <cstdio>
#include <cstring>
#include <vector>

#include "cudart_check.h"
#include "expect.h"
// saxpy and scale, as the emulator's CPU versions implement them.
#include "../../native/fakes/cuda/kernels/test_kernels.cu"

static const int N = 1000;
static const int LAUNCHES = 3;

// What the host node sees after each launch, and what it changes for the next.
struct Seen {
    float *x;        // the pageable input the graph copies in
    float *y;        // the pageable output the graph copies back
    float first[8];  // y[0] after each launch
    float last[8];   // y[N - 1] after each launch
    int calls;
};

static void CUDART_CB host_node(void *data)
{
    Seen *s = (Seen *)data;
    if (s->calls < 8) {
        s->first[s->calls] = s->y[0];
        s->last[s->calls] = s->y[N - 1];
    }
    s->calls++;
    for (int i = 0; i < N; i++)
        s->x[i] += 1.0f; // the next launch's copy must read this
}

static cudaMemcpy3DParms linear_copy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind)
{
    cudaMemcpy3DParms p = {};
    p.srcPtr = make_cudaPitchedPtr((void *)src, bytes, bytes, 1);
    p.dstPtr = make_cudaPitchedPtr(dst, bytes, bytes, 1);
    p.extent = make_cudaExtent(bytes, 1, 1);
    p.kind = kind;
    return p;
}

int main()
{
    std::vector<float> x(N), y(N, -1.0f);
    for (int i = 0; i < N; i++)
        x[i] = (float)i;
    float *dx, *dy;
    CHECK(cudaMalloc(&dx, N * sizeof(float)));
    CHECK(cudaMalloc(&dy, N * sizeof(float)));
    cudaStream_t stream;
    CHECK(cudaStreamCreate(&stream));
    Seen seen = {};
    seen.x = x.data();
    seen.y = y.data();

    // in: x -> dx; fill: dy = 1.0f; kernel: dy = a * dx + dy; out: dy -> y; host node; an empty node.
    cudaGraph_t graph;
    CHECK(cudaGraphCreate(&graph, 0));
    cudaGraphNode_t in, fill, kernel, out, host, empty;
    cudaMemcpy3DParms to_device = linear_copy(dx, x.data(), N * sizeof(float), cudaMemcpyHostToDevice);
    CHECK(cudaGraphAddMemcpyNode(&in, graph, nullptr, 0, &to_device));
    cudaMemsetParams ones = {};
    ones.dst = dy;
    ones.value = 0x3f800000; // 1.0f
    ones.elementSize = 4;
    ones.width = N;
    ones.height = 1;
    CHECK(cudaGraphAddMemsetNode(&fill, graph, nullptr, 0, &ones));
    float a = 2.0f;
    int n = N;
    void *args[] = { &a, &dx, &dy, &n };
    cudaKernelNodeParams k = {};
    k.func = (void *)saxpy;
    k.gridDim = dim3((N + 127) / 128);
    k.blockDim = dim3(128);
    k.kernelParams = args;
    cudaGraphNode_t both[] = { in, fill };
    CHECK(cudaGraphAddKernelNode(&kernel, graph, both, 2, &k));
    a = 99.0f; // the node copied the parameters when it was added
    cudaMemcpy3DParms to_host = linear_copy(y.data(), dy, N * sizeof(float), cudaMemcpyDeviceToHost);
    CHECK(cudaGraphAddMemcpyNode(&out, graph, &kernel, 1, &to_host));
    cudaHostNodeParams h = { host_node, &seen };
    CHECK(cudaGraphAddHostNode(&host, graph, &out, 1, &h));
    CHECK(cudaGraphAddEmptyNode(&empty, graph, nullptr, 0));

    size_t count = 0, roots = 0;
    CHECK(cudaGraphGetNodes(graph, nullptr, &count));
    CHECK(cudaGraphGetRootNodes(graph, nullptr, &roots));
    cudaGraphNode_t listed[8] = {};
    size_t room = 8;
    CHECK(cudaGraphGetNodes(graph, listed, &room));
    cudaGraphNodeType type;
    CHECK(cudaGraphNodeGetType(kernel, &type));
    expect(count == 6 && roots == 3 && room == 6 && listed[2] == kernel && listed[6] == nullptr && type == cudaGraphNodeTypeKernel,
           "nodes, roots and a node's type listed");

    size_t edges = 0, dependents = 0;
    CHECK(cudaGraphGetEdges(graph, nullptr, nullptr, nullptr, &edges));
    cudaGraphNode_t after_kernel[2] = {};
    dependents = 2;
    CHECK(cudaGraphNodeGetDependentNodes(kernel, after_kernel, nullptr, &dependents));
    cudaHostNodeParams got_host = {};
    CHECK(cudaGraphHostNodeGetParams(host, &got_host));
    cudaGraphNode_t doomed;
    CHECK(cudaGraphAddEmptyNode(&doomed, graph, &host, 1));
    CHECK(cudaGraphDestroyNode(doomed));
    size_t after_destroy = 0;
    CHECK(cudaGraphGetNodes(graph, nullptr, &after_destroy));
    expect(edges == 4 && dependents == 1 && after_kernel[0] == out && got_host.fn == host_node && got_host.userData == &seen &&
               after_destroy == 6,
           "edges, a node's dependents, a host node's parameters, a node destroyed");

    cudaGraphExec_t exec;
    CHECK(cudaGraphInstantiate(&exec, graph, 0));
    for (int i = 0; i < LAUNCHES; i++)
        CHECK(cudaGraphLaunch(exec, stream));
    CHECK(cudaStreamSynchronize(stream));
    bool each = seen.calls == LAUNCHES;
    for (int i = 0; i < LAUNCHES && each; i++)
        each = seen.first[i] == 2.0f * (0.0f + i) + 1.0f && seen.last[i] == 2.0f * (N - 1.0f + i) + 1.0f;
    expect(each, "each launch ran its nodes in order, the host node after the copy back");
    expect(x[0] == (float)LAUNCHES, "the host node ran once per launch, in the job's process");

    // The executable graph's kernel node changes; the graph's stays as it was.
    a = 3.0f;
    CHECK(cudaGraphExecKernelNodeSetParams(exec, kernel, &k));
    float x0 = x[0];
    CHECK(cudaGraphLaunch(exec, stream));
    CHECK(cudaStreamSynchronize(stream));
    expect(seen.calls == LAUNCHES + 1 && seen.first[LAUNCHES] == 3.0f * x0 + 1.0f, "a kernel node's parameters changed in the executable graph");

    cudaGraph_t clone;
    cudaGraphExec_t clone_exec;
    CHECK(cudaGraphClone(&clone, graph));
    CHECK(cudaGraphInstantiate(&clone_exec, clone, 0));
    x0 = x[0];
    CHECK(cudaGraphLaunch(clone_exec, stream));
    CHECK(cudaStreamSynchronize(stream));
    expect(seen.calls == LAUNCHES + 2 && seen.first[LAUNCHES + 1] == 2.0f * x0 + 1.0f, "a clone runs the graph's own parameters");

    // The graph's kernel node set anew, then the executable graph updated from it.
    a = 5.0f;
    CHECK(cudaGraphKernelNodeSetParams(kernel, &k));
    cudaGraphExecUpdateResultInfo info;
    CHECK(cudaGraphExecUpdate(exec, graph, &info));
    x0 = x[0];
    CHECK(cudaGraphLaunch(exec, stream));
    CHECK(cudaStreamSynchronize(stream));
    expect(info.result == cudaGraphExecUpdateSuccess && seen.first[LAUNCHES + 2] == 5.0f * x0 + 1.0f,
           "cudaGraphExecUpdate takes the graph's new parameters");

    // The generic node API: a memset node and a kernel node joined by cudaGraphAddDependencies.
    cudaGraph_t g2;
    CHECK(cudaGraphCreate(&g2, 0));
    cudaGraphNodeParams p = {};
    p.type = cudaGraphNodeTypeMemset;
    p.memset.dst = dy;
    p.memset.value = 0x40000000; // 2.0f
    p.memset.elementSize = 4;
    p.memset.width = N;
    p.memset.height = 1;
    cudaGraphNode_t set, scaled;
    CHECK(cudaGraphAddNode(&set, g2, nullptr, nullptr, 0, &p));
    float s = 4.0f;
    void *scale_args[] = { &dy, &s, &n };
    cudaGraphNodeParams q = {};
    q.type = cudaGraphNodeTypeKernel;
    q.kernel.func = (void *)scale;
    q.kernel.gridDim = dim3((N + 127) / 128);
    q.kernel.blockDim = dim3(128);
    q.kernel.kernelParams = scale_args;
    CHECK(cudaGraphAddNode(&scaled, g2, nullptr, nullptr, 0, &q));
    CHECK(cudaGraphAddDependencies(g2, &set, &scaled, nullptr, 1));
    cudaGraphExec_t e2;
    CHECK(cudaGraphInstantiate(&e2, g2, 0));
    CHECK(cudaGraphLaunch(e2, stream));
    std::vector<float> back(N);
    CHECK(cudaMemcpyAsync(back.data(), dy, N * sizeof(float), cudaMemcpyDeviceToHost, stream));
    CHECK(cudaStreamSynchronize(stream));
    bool all8 = true;
    for (int i = 0; i < N; i++)
        all8 = all8 && back[i] == 8.0f;
    expect(all8, "cudaGraphAddNode and cudaGraphAddDependencies: the memset before the kernel");

    // Allocation nodes: the address is the node's from the start, the memory goes with the graph.
    cudaGraph_t g3;
    CHECK(cudaGraphCreate(&g3, 0));
    cudaMemAllocNodeParams ap = {};
    ap.bytesize = N * sizeof(float);
    ap.poolProps.allocType = cudaMemAllocationTypePinned;
    ap.poolProps.location.type = cudaMemLocationTypeDevice;
    ap.poolProps.location.id = 0;
    cudaGraphNode_t alloc, filled, copied_back, freed;
    CHECK(cudaGraphAddMemAllocNode(&alloc, g3, nullptr, 0, &ap));
    float *dm = (float *)ap.dptr;
    cudaMemsetParams sevens = ones;
    sevens.dst = dm;
    sevens.value = 0x40e00000; // 7.0f
    CHECK(cudaGraphAddMemsetNode(&filled, g3, &alloc, 1, &sevens));
    std::vector<float> back3(N, 0.0f);
    cudaMemcpy3DParms from_alloc = linear_copy(back3.data(), dm, N * sizeof(float), cudaMemcpyDeviceToHost);
    CHECK(cudaGraphAddMemcpyNode(&copied_back, g3, &filled, 1, &from_alloc));
    CHECK(cudaGraphAddMemFreeNode(&freed, g3, &copied_back, 1, dm));
    cudaGraphExec_t e3;
    CHECK(cudaGraphInstantiate(&e3, g3, 0));
    CHECK(cudaGraphLaunch(e3, stream));
    CHECK(cudaGraphLaunch(e3, stream));
    CHECK(cudaStreamSynchronize(stream));
    size_t used = 0, after = 1;
    CHECK(cudaDeviceGetGraphMemAttribute(0, cudaGraphMemAttrUsedMemCurrent, &used));
    CHECK(cudaGraphExecDestroy(e3));
    CHECK(cudaGraphDestroy(g3));
    CHECK(cudaDeviceGetGraphMemAttribute(0, cudaGraphMemAttrUsedMemCurrent, &after));
    bool all7 = true;
    for (int i = 0; i < N; i++)
        all7 = all7 && back3[i] == 7.0f;
    expect(dm != nullptr && all7 && used == N * sizeof(float) && after == 0,
           "an allocation node's memory filled, copied back, freed with the graph");

    // A capture (on the daemon) holds device memsets and copies as well as launches, replayed in order.
    cudaGraph_t cg;
    CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
    CHECK(cudaMemsetAsync(dy, 0x3f, N * sizeof(float), stream));
    scale<<<(N + 127) / 128, 128, 0, stream>>>(dy, 4.0f, N);
    CHECK(cudaMemcpyAsync(dx, dy, N * sizeof(float), cudaMemcpyDeviceToDevice, stream));
    CHECK(cudaStreamEndCapture(stream, &cg));
    std::vector<float> minus(N, -1.0f);
    CHECK(cudaMemcpy(dx, minus.data(), N * sizeof(float), cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(dy, minus.data(), N * sizeof(float), cudaMemcpyHostToDevice));
    cudaGraphExec_t ce;
    CHECK(cudaGraphInstantiate(&ce, cg, 0));
    CHECK(cudaGraphLaunch(ce, stream));
    CHECK(cudaStreamSynchronize(stream));
    std::vector<float> replayed(N);
    CHECK(cudaMemcpy(replayed.data(), dx, N * sizeof(float), cudaMemcpyDeviceToHost));
    unsigned pattern = 0x3f3f3f3fu;
    float filled_value;
    memcpy(&filled_value, &pattern, sizeof filled_value);
    bool captured_ok = true;
    for (int i = 0; i < N; i++)
        captured_ok = captured_ok && replayed[i] == filled_value * 4.0f;
    expect(captured_ok, "a captured memset, launch and device copy replayed in order");
    CHECK(cudaGraphExecDestroy(ce));
    CHECK(cudaGraphDestroy(cg));

    // Host work first: the capture is made in the job, across a second stream forked and joined by
    // events, as simpleCudaGraphs captures; nothing runs until the graph is launched.
    cudaStream_t side;
    CHECK(cudaStreamCreate(&side));
    cudaEvent_t fork, joined;
    CHECK(cudaEventCreate(&fork));
    CHECK(cudaEventCreate(&joined));
    std::vector<float> threes(N, 3.0f), got(N, 0.0f);
    cudaGraph_t captured = nullptr;
    int calls_before = seen.calls;
    CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
    CHECK(cudaMemcpyAsync(dx, threes.data(), N * sizeof(float), cudaMemcpyHostToDevice, stream));
    CHECK(cudaEventRecord(fork, stream));
    CHECK(cudaStreamWaitEvent(side, fork, 0));
    CHECK(cudaMemsetAsync(dy, 0, N * sizeof(float), side));
    CHECK(cudaEventRecord(joined, side));
    CHECK(cudaStreamWaitEvent(stream, joined, 0));
    saxpy<<<(N + 127) / 128, 128, 0, stream>>>(2.0f, dx, dy, N);
    CHECK(cudaMemcpyAsync(got.data(), dy, N * sizeof(float), cudaMemcpyDeviceToHost, stream));
    Seen in_capture = {};
    in_capture.x = threes.data();
    in_capture.y = got.data();
    CHECK(cudaLaunchHostFunc(stream, host_node, &in_capture));
    cudaStreamCaptureStatus side_status;
    CHECK(cudaStreamIsCapturing(side, &side_status));
    CHECK(cudaStreamEndCapture(stream, &captured));
    size_t captured_nodes = 0;
    CHECK(cudaGraphGetNodes(captured, nullptr, &captured_nodes));
    bool nothing_ran = in_capture.calls == 0 && got[0] == 0.0f;
    cudaGraphExec_t captured_exec;
    CHECK(cudaGraphInstantiate(&captured_exec, captured, 0));
    CHECK(cudaGraphLaunch(captured_exec, stream));
    CHECK(cudaGraphLaunch(captured_exec, stream));
    CHECK(cudaStreamSynchronize(stream));
    expect(nothing_ran && side_status == cudaStreamCaptureStatusActive && captured_nodes == 5 && in_capture.calls == 2 &&
               in_capture.first[0] == 6.0f && in_capture.first[1] == 8.0f && seen.calls == calls_before,
           "a capture with host work, forked to a second stream and joined, replays in the job");
    CHECK(cudaGraphExecDestroy(captured_exec));
    CHECK(cudaGraphDestroy(captured));
    CHECK(cudaEventDestroy(fork));
    CHECK(cudaEventDestroy(joined));
    CHECK(cudaStreamDestroy(side));

    // Refused by name, never run wrongly: node kinds not carried, host memory in a daemon-side capture.
    cudaEvent_t event;
    CHECK(cudaEventCreate(&event));
    cudaGraphNodeParams r = {};
    r.type = cudaGraphNodeTypeEventRecord;
    r.eventRecord.event = event;
    cudaGraphNode_t refused;
    expect(cudaGraphAddNode(&refused, g2, nullptr, nullptr, 0, &r) == cudaErrorNotSupported, "an event record node is refused");
    cudaGetLastError();
    // Device work first, host work after: the daemon's capture so far is dropped and the capture goes
    // on in the job, a stream that joined it included; nothing ran at capture time.
    std::vector<float> ones_h(N, 1.0f), twos(N, 2.0f), from_joiner(N, 0.0f);
    CHECK(cudaMemcpy(dy, ones_h.data(), N * sizeof(float), cudaMemcpyHostToDevice));
    cudaStream_t joiner;
    cudaEvent_t out_fork, rejoin;
    CHECK(cudaStreamCreate(&joiner));
    CHECK(cudaEventCreate(&out_fork));
    CHECK(cudaEventCreate(&rejoin));
    CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
    scale<<<(N + 127) / 128, 128, 0, stream>>>(dy, 2.0f, N);
    CHECK(cudaMemcpyAsync(dx, twos.data(), N * sizeof(float), cudaMemcpyHostToDevice, stream));
    CHECK(cudaEventRecord(out_fork, stream));
    CHECK(cudaStreamWaitEvent(joiner, out_fork, 0));
    cudaStreamCaptureStatus joined_status;
    CHECK(cudaStreamIsCapturing(joiner, &joined_status));
    CHECK(cudaMemcpyAsync(from_joiner.data(), dy, N * sizeof(float), cudaMemcpyDeviceToHost, joiner));
    CHECK(cudaEventRecord(rejoin, joiner));
    CHECK(cudaStreamWaitEvent(stream, rejoin, 0));
    captured = nullptr;
    CHECK(cudaStreamEndCapture(stream, &captured));
    std::vector<float> dy_after(N);
    CHECK(cudaMemcpy(dy_after.data(), dy, N * sizeof(float), cudaMemcpyDeviceToHost));
    size_t moved_nodes = 0;
    CHECK(cudaGraphGetNodes(captured, nullptr, &moved_nodes));
    cudaGraphExec_t moved_exec;
    CHECK(cudaGraphInstantiate(&moved_exec, captured, 0));
    CHECK(cudaGraphLaunch(moved_exec, stream));
    CHECK(cudaStreamSynchronize(stream));
    bool first_run = from_joiner[0] == 2.0f && from_joiner[N - 1] == 2.0f;
    CHECK(cudaGraphLaunch(moved_exec, stream));
    CHECK(cudaStreamSynchronize(stream));
    expect(joined_status == cudaStreamCaptureStatusActive && dy_after[0] == 1.0f && moved_nodes == 3 && first_run &&
               from_joiner[0] == 4.0f && from_joiner[N - 1] == 4.0f,
           "host work after device work moves the capture into the job, a joined stream included");
    CHECK(cudaGraphExecDestroy(moved_exec));
    CHECK(cudaGraphDestroy(captured));
    CHECK(cudaEventDestroy(out_fork));
    CHECK(cudaEventDestroy(rejoin));
    CHECK(cudaStreamDestroy(joiner));
    CHECK(cudaGraphExecDestroy(clone_exec));
    expect(cudaGraphInstantiate(&clone_exec, (cudaGraph_t)&seen, 0) != cudaSuccess, "a graph handle not this process's is refused");
    cudaGetLastError();

    CHECK(cudaGraphExecDestroy(exec));
    CHECK(cudaGraphExecDestroy(e2));
    CHECK(cudaGraphDestroy(graph));
    CHECK(cudaGraphDestroy(clone));
    CHECK(cudaGraphDestroy(g2));
    CHECK(cudaEventDestroy(event));
    CHECK(cudaStreamDestroy(stream));
    CHECK(cudaFree(dx));
    CHECK(cudaFree(dy));
    if (failures) {
        printf("FAIL\n");
        return 1;
    }
    printf("PASS\n");
    return 0;
}
