// Conditional graph nodes through gpupool (issue 11), as graphConditionalNodes builds them: a kernel
// sets a conditional from device code and the node after it runs IF (one body, then with an ELSE),
// WHILE (a handle with a default the launch assigns) and SWITCH bodies; a graph captured from a
// stream whose conditional is added by hand (the capture's graph and dependencies asked for, then
// set) with its body captured into (cudaStreamBeginCaptureToGraph), into a graph of the job's and
// as the sample's captured WHILE, from a plain capture; a memset in a body; a second
// instantiation of the same graph, and one with parameters. Such graphs live on the daemon, so what it cannot hold is refused
// by name: a host node, a handle of another graph. Its kernels' CPU versions are the emulator's
// (native/fakes/cuda/kernels/test_kernels.c).
#include <cstdio>
#include <cstring>

#include "cudart_check.h"
#include "expect.h"

// The handle takes *v.
__global__ void cond_set(const int *v, cudaGraphConditionalHandle h) { cudaGraphSetConditional(h, (unsigned)*v); }

// *v counts down by one and the handle takes what is left: a WHILE body runs *v times.
__global__ void cond_countdown(int *v, cudaGraphConditionalHandle h)
{
    *v -= 1;
    cudaGraphSetConditional(h, (unsigned)*v);
}

__global__ void add_int(int *p, int x) { *p += x; }

static cudaGraphNode_t kernel_node(cudaGraph_t g, const cudaGraphNode_t *deps, size_t ndeps, void *fn, void **args)
{
    cudaGraphNodeParams p = {};
    p.type = cudaGraphNodeTypeKernel;
    p.kernel.func = fn;
    p.kernel.gridDim = dim3(1, 1, 1);
    p.kernel.blockDim = dim3(1, 1, 1);
    p.kernel.kernelParams = args;
    cudaGraphNode_t n;
    CHECK(cudaGraphAddNode(&n, g, deps, NULL, ndeps, &p));
    return n;
}

static cudaGraph_t *conditional_node(cudaGraph_t g, const cudaGraphNode_t *deps, size_t ndeps, cudaGraphConditionalHandle h,
                                     cudaGraphConditionalNodeType type, unsigned size, cudaGraphNode_t *out)
{
    cudaGraphNodeParams p = {};
    p.type = cudaGraphNodeTypeConditional;
    p.conditional.handle = h;
    p.conditional.type = type;
    p.conditional.size = size;
    CHECK(cudaGraphAddNode(out, g, deps, NULL, ndeps, &p));
    return p.conditional.phGraph_out;
}

static int *dv, *dout;

// What graphConditionalNodes' captured graphs do, on stream s (into a graph of the job's when into is
// not NULL, else a plain capture): the capture's graph asked for, a handle made on it, a kernel setting
// the handle from *dv captured, a conditional of that type added by hand after it and the capture's
// dependencies set to it, then a kernel adding 1000 to the output. The graph; *h its handle, *body the
// conditional's body graph.
static cudaGraph_t capture_conditional(cudaStream_t s, cudaGraph_t into, cudaGraphConditionalNodeType type, cudaGraphConditionalHandle *h,
                                       cudaGraph_t *body, const char *label)
{
    char what[128];
    if (into != NULL)
        CHECK(cudaStreamBeginCaptureToGraph(s, into, NULL, NULL, 0, cudaStreamCaptureModeGlobal));
    else
        CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    cudaStreamCaptureStatus status;
    cudaGraph_t g;
    const cudaGraphNode_t *deps;
    size_t ndeps;
    CHECK(cudaStreamGetCaptureInfo(s, &status, NULL, &g, &deps, NULL, &ndeps));
    snprintf(what, sizeof what, "%s: the capture hands out its graph", label);
    expect(status == cudaStreamCaptureStatusActive && g != NULL && (into == NULL || g == into) && ndeps == 0, what);
    CHECK(cudaGraphConditionalHandleCreate(h, g));
    cond_set<<<1, 1, 0, s>>>(dv, *h);
    CHECK(cudaStreamGetCaptureInfo(s, &status, NULL, &g, &deps, NULL, &ndeps));
    snprintf(what, sizeof what, "%s: capture dependencies", label);
    expect(ndeps == 1, what);
    cudaGraphNode_t cond;
    *body = conditional_node(g, deps, ndeps, *h, type, 1, &cond)[0];
    CHECK(cudaStreamUpdateCaptureDependencies(s, &cond, NULL, 1, cudaStreamSetCaptureDependencies));
    add_int<<<1, 1, 0, s>>>(dout, 1000);
    cudaGraph_t ended;
    CHECK(cudaStreamEndCapture(s, &ended));
    snprintf(what, sizeof what, "%s: the capture ends with the graph it handed out", label);
    expect(ended == g, what);
    return g;
}

static void set_int(int *d, int v) { CHECK(cudaMemcpy(d, &v, sizeof v, cudaMemcpyHostToDevice)); }

static int get_int(const int *d)
{
    int v;
    CHECK(cudaMemcpy(&v, d, sizeof v, cudaMemcpyDeviceToHost));
    return v;
}

// Sets *v and the output to 0, launches, and answers what the output became.
static int run(cudaGraphExec_t x, int v)
{
    set_int(dv, v);
    set_int(dout, 0);
    CHECK(cudaGraphLaunch(x, 0));
    CHECK(cudaDeviceSynchronize());
    return get_int(dout);
}

// A kernel setting the handle from *v, then a conditional node of that type whose body i adds adds[i].
static cudaGraphExec_t setter_then(cudaGraph_t *graph, cudaGraphConditionalNodeType type, unsigned size, const int *adds)
{
    CHECK(cudaGraphCreate(graph, 0));
    cudaGraphConditionalHandle h;
    CHECK(cudaGraphConditionalHandleCreate(&h, *graph));
    void *set_args[] = { &dv, &h };
    cudaGraphNode_t setter = kernel_node(*graph, NULL, 0, (void *)cond_set, set_args), cond;
    cudaGraph_t *bodies = conditional_node(*graph, &setter, 1, h, type, size, &cond);
    for (unsigned i = 0; i < size; i++) {
        int add = adds[i];
        void *args[] = { &dout, &add };
        kernel_node(bodies[i], NULL, 0, (void *)add_int, args); // parameters are copied as the node is added
    }
    cudaGraphExec_t x;
    CHECK(cudaGraphInstantiate(&x, *graph, 0));
    return x;
}

int main()
{
    CHECK(cudaMalloc(&dv, sizeof(int)));
    CHECK(cudaMalloc(&dout, sizeof(int)));

    {
        cudaGraph_t g;
        const int adds[] = { 1 };
        cudaGraphExec_t x = setter_then(&g, cudaGraphCondTypeIf, 1, adds);
        int when0 = run(x, 0), when5 = run(x, 5);
        printf("if: %d when 0, %d when 5\n", when0, when5);
        expect(when0 == 0 && when5 == 1, "if");
        CHECK(cudaGraphExecDestroy(x));
        CHECK(cudaGraphDestroy(g));
    }
    {
        cudaGraph_t g;
        const int adds[] = { 1, 100 };
        cudaGraphExec_t x = setter_then(&g, cudaGraphCondTypeIf, 2, adds);
        int when0 = run(x, 0), when1 = run(x, 1);
        printf("if/else: %d when 0, %d when 1\n", when0, when1);
        expect(when0 == 100 && when1 == 1, "if else");
        // The same graph instantiated again: its twin on the daemon holds the nodes already.
        cudaGraphExec_t again;
        CHECK(cudaGraphInstantiate(&again, g, 0));
        expect(run(again, 0) == 100, "second instantiation");
        CHECK(cudaGraphExecDestroy(again));
        CHECK(cudaGraphExecDestroy(x));
        CHECK(cudaGraphDestroy(g));
    }
    {
        cudaGraph_t g;
        const int adds[] = { 1, 10, 100 };
        cudaGraphExec_t x = setter_then(&g, cudaGraphCondTypeSwitch, 3, adds);
        int got[4];
        for (int v = 0; v < 4; v++)
            got[v] = run(x, v);
        printf("switch: %d %d %d %d for 0..3\n", got[0], got[1], got[2], got[3]);
        expect(got[0] == 1 && got[1] == 10 && got[2] == 100 && got[3] == 0, "switch");
        cudaGraphInstantiateParams ip = {};
        cudaGraphExec_t via_params;
        CHECK(cudaGraphInstantiateWithParams(&via_params, g, &ip));
        expect(ip.result_out == cudaGraphInstantiateSuccess && run(via_params, 2) == 100, "instantiate with params");
        CHECK(cudaGraphExecDestroy(via_params));
        CHECK(cudaGraphExecDestroy(x));
        CHECK(cudaGraphDestroy(g));
    }
    {
        // WHILE: the launch assigns the default 1, so the body runs before any kernel set the handle;
        // each pass counts *v down and adds 1.
        cudaGraph_t g;
        CHECK(cudaGraphCreate(&g, 0));
        cudaGraphConditionalHandle h;
        CHECK(cudaGraphConditionalHandleCreate(&h, g, 1, cudaGraphCondAssignDefault));
        cudaGraphNode_t cond;
        cudaGraph_t body = conditional_node(g, NULL, 0, h, cudaGraphCondTypeWhile, 1, &cond)[0];
        void *count_args[] = { &dv, &h };
        cudaGraphNode_t count = kernel_node(body, NULL, 0, (void *)cond_countdown, count_args);
        int one = 1;
        void *add_args[] = { &dout, &one };
        kernel_node(body, &count, 1, (void *)add_int, add_args);
        cudaGraphExec_t x;
        CHECK(cudaGraphInstantiate(&x, g, 0));
        int passes = run(x, 5), left = get_int(dv), again = run(x, 3);
        printf("while: %d passes from 5 (%d left), %d from 3\n", passes, left, again);
        expect(passes == 5 && left == 0 && again == 3, "while");
        CHECK(cudaGraphExecDestroy(x));
        CHECK(cudaGraphDestroy(g));
    }
    {
        // A stream capture whose graph gets a handle and a conditional added by hand, the capture's
        // dependencies set to it, then more captured work; the body captured into. Captured into a
        // graph of the job's here; from a plain cudaStreamBeginCapture below.
        cudaStream_t s;
        CHECK(cudaStreamCreate(&s));
        cudaGraph_t into, body;
        CHECK(cudaGraphCreate(&into, 0));
        cudaGraphConditionalHandle h;
        cudaGraph_t g = capture_conditional(s, into, cudaGraphCondTypeIf, &h, &body, "into a graph");
        size_t count = 0;
        CHECK(cudaGraphGetNodes(g, NULL, &count));
        expect(count == 3, "captured graph holds three nodes");

        cudaStream_t b;
        CHECK(cudaStreamCreate(&b));
        CHECK(cudaStreamBeginCaptureToGraph(b, body, NULL, NULL, 0, cudaStreamCaptureModeGlobal));
        add_int<<<1, 1, 0, b>>>(dout, 1);
        // A memset captured into the body: device work a conditional body may hold.
        CHECK(cudaMemsetAsync(dv, 0, sizeof(int), b));
        CHECK(cudaStreamEndCapture(b, NULL));
        CHECK(cudaGraphGetNodes(body, NULL, &count));
        expect(count == 2, "capture into a body");
        cudaGraphExec_t x;
        CHECK(cudaGraphInstantiate(&x, g, 0));
        int when1 = run(x, 1), v_after = get_int(dv), when0 = run(x, 0);
        printf("captured: %d when 1 (v then %d), %d when 0\n", when1, v_after, when0);
        expect(when1 == 1001 && v_after == 0 && when0 == 1000, "captured conditional");
        CHECK(cudaGraphExecDestroy(x));
        CHECK(cudaGraphDestroy(g));
        CHECK(cudaStreamDestroy(s));
        CHECK(cudaStreamDestroy(b));
    }
    {
        // graphConditionalNodes' captured WHILE: a plain capture (begun on the daemon's side) whose
        // graph the program asks for, gives a handle and a conditional added by hand; the capture
        // moves into the job at that first edit, and ends with the graph the program was handed.
        cudaStream_t s;
        CHECK(cudaStreamCreate(&s));
        cudaGraphConditionalHandle h;
        cudaGraph_t body, g = capture_conditional(s, NULL, cudaGraphCondTypeWhile, &h, &body, "plain capture");

        // The body, captured into: one pass adds 1 to the output, counts *v down and sets the handle.
        cudaStream_t b;
        CHECK(cudaStreamCreate(&b));
        CHECK(cudaStreamBeginCaptureToGraph(b, body, NULL, NULL, 0, cudaStreamCaptureModeGlobal));
        add_int<<<1, 1, 0, b>>>(dout, 1);
        add_int<<<1, 1, 0, b>>>(dv, -1);
        cond_set<<<1, 1, 0, b>>>(dv, h);
        CHECK(cudaStreamEndCapture(b, NULL));
        cudaGraphExec_t x;
        CHECK(cudaGraphInstantiate(&x, g, 0));
        int from0 = run(x, 0), from4 = run(x, 4), left = get_int(dv);
        printf("captured while: %d from 0, %d from 4 (%d left)\n", from0, from4, left);
        expect(from0 == 1000 && from4 == 1004 && left == 0, "captured while");
        CHECK(cudaGraphExecDestroy(x));
        CHECK(cudaGraphDestroy(g));
        CHECK(cudaStreamDestroy(s));
        CHECK(cudaStreamDestroy(b));
    }
    {
        // A host node cannot live on the daemon: instantiation refuses it by name.
        cudaGraph_t g;
        CHECK(cudaGraphCreate(&g, 0));
        cudaGraphConditionalHandle h;
        CHECK(cudaGraphConditionalHandleCreate(&h, g));
        cudaGraphNode_t cond, host;
        conditional_node(g, NULL, 0, h, cudaGraphCondTypeIf, 1, &cond);
        cudaHostNodeParams hp = {};
        hp.fn = [](void *) {};
        CHECK(cudaGraphAddHostNode(&host, g, &cond, 1, &hp));
        cudaGraphExec_t x;
        cudaError_t rc = cudaGraphInstantiate(&x, g, 0);
        printf("host node: %s\n", cudaGetErrorName(rc));
        expect(rc == cudaErrorNotSupported, "host node refused");
        (void)cudaGetLastError();

        // A handle of another graph names no handle of this one.
        cudaGraph_t other;
        CHECK(cudaGraphCreate(&other, 0));
        cudaGraphNodeParams p = {};
        p.type = cudaGraphNodeTypeConditional;
        p.conditional.handle = h;
        p.conditional.type = cudaGraphCondTypeIf;
        p.conditional.size = 1;
        cudaGraphNode_t foreign;
        rc = cudaGraphAddNode(&foreign, other, NULL, NULL, 0, &p);
        printf("foreign handle: %s\n", cudaGetErrorName(rc));
        expect(rc == cudaErrorInvalidValue, "foreign handle refused");
        (void)cudaGetLastError();
        CHECK(cudaGraphDestroy(other));
        CHECK(cudaGraphDestroy(g));
    }
    CHECK(cudaFree(dv));
    CHECK(cudaFree(dout));
    if (failures != 0)
        return 1;
    printf("PASS\n");
    return 0;
}
