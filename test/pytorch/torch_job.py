"""PyTorch's CUDA path through gpupool (test/pytorch/pytorch.test.ts). Prints one JSON object per check,
{"check": name, ...}; the test decides. Kernels run as the emulator's timed no-ops, so values are
checked only where no kernel computes them (copies), never after arithmetic on the card."""
import ctypes
import json
import sys

import torch


def say(check, **facts):
    print(json.dumps({"check": check, **facts}), flush=True)


def attempt(check, fn):
    try:
        say(check, ok=True, **(fn() or {}))
    except Exception as e:  # the test names what failed and why
        say(check, ok=False, error=f"{type(e).__name__}: {e}".splitlines()[0])


say("device", available=torch.cuda.is_available(), count=torch.cuda.device_count(),
    name=torch.cuda.get_device_properties(0).name, total=torch.cuda.get_device_properties(0).total_memory)

host = torch.arange(4096, dtype=torch.float32)
back = host.to("cuda").cpu()
say("roundtrip", equal=bool(torch.equal(host, back)))

pinned = torch.arange(1024, dtype=torch.int64).pin_memory()
dev = pinned.to("cuda", non_blocking=True)
torch.cuda.synchronize()
say("pinned", pinned=pinned.is_pinned(), equal=bool(torch.equal(dev.cpu(), pinned)))

attempt("zeros", lambda: {"shape": list(torch.zeros(8, device="cuda").shape)})

stream = torch.cuda.Stream(priority=-1)
with torch.cuda.stream(stream):
    on_stream = torch.ones(16, device="cuda")
stream.synchronize()
start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
start.record()
on_stream.add_(1)
end.record()
end.synchronize()
say("streams", priority=stream.priority, elapsed_ms=start.elapsed_time(end))

torch.cuda.synchronize()
free, total = torch.cuda.mem_get_info()
stats = torch.cuda.memory_stats()
say("memory", free=free, total=total, allocated=stats["allocated_bytes.all.current"],
    reserved=stats["reserved_bytes.all.current"], tensor_bytes=torch.cuda.memory_allocated())

try:
    torch.empty(total + (1 << 20), dtype=torch.uint8, device="cuda")
    say("oom", raised=False)
except torch.OutOfMemoryError:
    after = torch.ones(256, device="cuda")
    torch.cuda.synchronize()
    say("oom", raised=True, goes_on=after.numel() == 256)
except Exception as e:
    say("oom", raised=False, error=f"{type(e).__name__}: {e}".splitlines()[0])

def graph():
    """A CUDA graph captured and replayed 10 times (torch.cuda.CUDAGraph)."""
    static = torch.ones(1024, device="cuda")
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(2):  # warm-up outside the capture, as PyTorch asks
            out = static * 2 + 1
    torch.cuda.current_stream().wait_stream(side)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        out = static * 2 + 1
    for _ in range(10):
        g.replay()
    torch.cuda.synchronize()
    g.reset()
    return {"replays": 10, "shape": list(out.shape)}


attempt("graph", graph)


class UpdateResultInfo(ctypes.Structure):
    _fields_ = [("result", ctypes.c_int), ("errorNode", ctypes.c_void_p), ("errorFromNode", ctypes.c_void_p)]


def graph_update():
    """An executable graph updated from a new capture of the same shape (cuGraphExecUpdate, as graph
    trees and vLLM do), and refused one of another shape; the updated graph replays."""
    update = ctypes.CDLL("libcuda.so.1").cuGraphExecUpdate_v2
    update.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(UpdateResultInfo)]
    static = torch.ones(1024, device="cuda")
    graphs = [torch.cuda.CUDAGraph(keep_graph=True) for _ in range(3)]
    with torch.cuda.graph(graphs[0]):
        out = static * 2 + 1
    with torch.cuda.graph(graphs[1]):
        out = static * 3 + 1
    with torch.cuda.graph(graphs[2]):
        out = (static * 3 + 1).exp()
    graphs[0].instantiate()
    same, other = UpdateResultInfo(), UpdateResultInfo()
    rc = update(graphs[0].raw_cuda_graph_exec(), graphs[1].raw_cuda_graph(), ctypes.byref(same))
    refused = update(graphs[0].raw_cuda_graph_exec(), graphs[2].raw_cuda_graph(), ctypes.byref(other))
    graphs[0].replay()
    torch.cuda.synchronize()
    for g in graphs:
        g.reset()
    return {"rc": rc, "result": same.result, "refused": refused, "refused_result": other.result, "shape": list(out.shape)}


attempt("graph_update", graph_update)

attempt("blas_handle", lambda: {"handle": torch.cuda.current_blas_handle() != 0})


def matmul():
    """torch.matmul on the card: cuBLAS's GEMM (cublasGemmEx, or cublasLt for the bias-fused path)."""
    a = torch.ones(64, 32, device="cuda")
    b = torch.ones(32, 16, device="cuda")
    out = torch.matmul(a, b)
    lt = torch.nn.functional.linear(a, torch.ones(16, 32, device="cuda"), torch.ones(16, device="cuda"))
    torch.cuda.synchronize()
    return {"shape": list(out.shape), "lt_shape": list(lt.shape)}


attempt("matmul", matmul)


def training():
    """20 steps of a small MLP with autograd and Adam, fed by a DataLoader(pin_memory=True),
    loss.item() every step."""
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    data = TensorDataset(torch.randn(640, 16), torch.randint(0, 4, (640,)))
    loader = DataLoader(data, batch_size=32, shuffle=True, pin_memory=True)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4)).cuda()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    steps, pinned, losses = 0, True, []
    for x, y in loader:
        pinned = pinned and x.is_pinned() and y.is_pinned()
        x, y = x.to("cuda", non_blocking=True), y.to("cuda", non_blocking=True)
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        steps += 1
    return {"steps": steps, "pinned": pinned, "losses": len(losses)}


attempt("training", training)


def convolution():
    """A convolution, forward and backward, with cuDNN enabled."""
    torch.backends.cudnn.enabled = True
    conv = torch.nn.Conv2d(3, 8, kernel_size=3, padding=1).cuda()
    x = torch.ones(2, 3, 16, 16, device="cuda", requires_grad=True)
    out = conv(x)
    out.sum().backward()
    torch.cuda.synchronize()
    return {"cudnn": torch.backends.cudnn.is_available() and torch.backends.cudnn.enabled,
            "version": torch.backends.cudnn.version(), "shape": list(out.shape)}


attempt("convolution", convolution)

if torch.cuda.device_count() > 1:
    # A tensor from one card to the other (with --gpus 2 across two daemons: through the client).
    values = torch.arange(1 << 16, dtype=torch.float32)
    first = values.to("cuda:0")
    second = first.to("cuda:1")
    into = torch.empty(1 << 16, device="cuda:1")
    into.copy_(first)
    torch.cuda.synchronize(0)
    torch.cuda.synchronize(1)
    say("two_cards", to=bool(torch.equal(second.cpu(), values)), copy=bool(torch.equal(into.cpu(), values)),
        names=[torch.cuda.get_device_name(0), torch.cuda.get_device_name(1)])

del host, back, pinned, dev, on_stream
torch.cuda.empty_cache()
say("done")
sys.exit(0)
