// Graphs of the job that live on the daemon: those with conditional nodes (native/shim/graph_daemon.c).
// A conditional handle is made on the session's twin graph and remembered as the session's; the
// graph_nodes frame (docs/protocol.md, "Hand-encoded calls") carries every node of the job's graph and
// of its conditionals' bodies, which the driver adds to the twin: the bodies it makes are filled at
// once and never named to the client, so no id of them can outlive the twin. The whole frame is read
// and checked first (its shape, memory inside the session's allocations, handles the session's own
// for this graph), then built (each kernel's parameters checked against its layout as it is added).
#include <cudaTypedefs.h>

#include <cstring>
#include <vector>

#include "handlers.h"

namespace gp {
namespace handlers {

namespace {

// A frame's limits: its nodes, bodies' included (the client's too).
constexpr uint32_t kMaxNodes = 4096;

struct Node {
  uint32_t graph = 0, type = 0;
  std::vector<uint32_t> deps;  // indices among the earlier nodes of its graph
  // kernel
  uint64_t fn = 0;
  unsigned grid[3] = {}, block[3] = {}, shared = 0;
  Bin params{};
  // memset, memcpy
  uint64_t dst = 0, src = 0, pitch = 0, width = 0, height = 0;
  uint32_t value = 0, elem = 0;
  // conditional
  uint64_t handle = 0;
  uint32_t cond_type = 0, size = 0;
};

uint32_t payload_of(uint32_t type) {
  switch (type) {
    case CU_GRAPH_NODE_TYPE_KERNEL: return 9;
    case CU_GRAPH_NODE_TYPE_MEMSET: return 6;
    case CU_GRAPH_NODE_TYPE_MEMCPY: return 3;
    case CU_GRAPH_NODE_TYPE_EMPTY: return 0;
    case CU_GRAPH_NODE_TYPE_CONDITIONAL: return 3;
    default: throw ProtocolError("a graph node's type must be kernel, memset, memcpy, empty or conditional");
  }
}

// The records, their shape checked: every graph number one made before, every dependency an earlier
// node of the same graph. The params bins point into the frame, alive for the handler.
std::vector<Node> read_nodes(Reader &r) {
  uint32_t count = r.array();
  if (count > kMaxNodes) throw ProtocolError("a graph_nodes frame carries at most 4096 nodes");
  std::vector<Node> nodes(count);
  std::vector<uint32_t> in_graph(1, 0);  // nodes so far, per graph number
  for (Node &n : nodes) {
    uint32_t fields = r.array();
    n.graph = r.u32();
    n.type = r.u32();
    uint32_t ndeps = r.u32();
    if (n.graph >= in_graph.size()) throw ProtocolError("a graph node names a graph not made before it");
    if (ndeps > in_graph[n.graph] || fields != 3 + ndeps + payload_of(n.type))
      throw ProtocolError("a graph node has the wrong number of values for its type and dependencies");
    for (uint32_t i = 0; i < ndeps; i++) {
      uint32_t d = r.u32();
      if (d >= in_graph[n.graph]) throw ProtocolError("a graph node may depend only on earlier nodes of its graph");
      n.deps.push_back(d);
    }
    switch (n.type) {
      case CU_GRAPH_NODE_TYPE_KERNEL:
        n.fn = r.u64();
        for (unsigned &g : n.grid) g = r.u32();
        for (unsigned &b : n.block) b = r.u32();
        n.shared = r.u32();
        n.params = r.bin();
        break;
      case CU_GRAPH_NODE_TYPE_MEMSET:
        n.dst = r.u64();
        n.pitch = r.u64();
        n.value = r.u32();
        n.elem = r.u32();
        n.width = r.u64();
        n.height = r.u64();
        break;
      case CU_GRAPH_NODE_TYPE_MEMCPY:
        n.dst = r.u64();
        n.src = r.u64();
        n.width = r.u64();
        break;
      case CU_GRAPH_NODE_TYPE_CONDITIONAL:
        n.handle = r.u64();
        n.cond_type = r.u32();
        n.size = r.u32();
        if (n.size > kMaxNodes || in_graph.size() + n.size > kMaxNodes) throw ProtocolError("a graph_nodes frame makes at most 4096 graphs");
        in_graph.resize(in_graph.size() + n.size, 0);
        break;
      default:
        break;
    }
    in_graph[n.graph]++;
  }
  return nodes;
}

// The bytes a 2D memset touches from its start.
uint64_t memset_extent(const Node &n) {
  uint64_t row = n.width * n.elem;
  return n.height > 1 ? n.pitch * (n.height - 1) + row : row;
}

// Memory inside the session's allocations, handles the session's own for this graph.
CUresult check(Session &s, uint32_t op, CUgraph graph, const std::vector<Node> &nodes) {
  for (const Node &n : nodes) {
    CUresult rc = CUDA_SUCCESS;
    switch (n.type) {
      case CU_GRAPH_NODE_TYPE_MEMSET:
        if ((n.elem != 1 && n.elem != 2 && n.elem != 4) || n.width == 0 || n.height == 0 || n.width > (uint64_t(1) << 40) ||
            n.height > (uint64_t(1) << 32) || n.pitch > (uint64_t(1) << 40) || (n.height > 1 && n.pitch < n.width * n.elem))
          return CUDA_ERROR_INVALID_VALUE;
        rc = s.check_device(op, "memset node dst", n.dst, Extent(memset_extent(n)), CUDA_ERROR_INVALID_VALUE);
        break;
      case CU_GRAPH_NODE_TYPE_MEMCPY:
        rc = s.check_device(op, "memcpy node dst", n.dst, Extent(n.width), CUDA_ERROR_INVALID_VALUE);
        if (rc == CUDA_SUCCESS) rc = s.check_device(op, "memcpy node src", n.src, Extent(n.width), CUDA_ERROR_INVALID_VALUE);
        break;
      case CU_GRAPH_NODE_TYPE_CONDITIONAL: {
        bool size_ok = n.cond_type == CU_GRAPH_COND_TYPE_IF ? n.size == 1 || n.size == 2
                       : n.cond_type == CU_GRAPH_COND_TYPE_WHILE ? n.size == 1
                       : n.cond_type == CU_GRAPH_COND_TYPE_SWITCH && n.size > 0;
        // The driver follows the handle: one the session made on this very graph.
        if (!size_ok || !s.conditional_of(n.handle, graph)) return CUDA_ERROR_INVALID_VALUE;
        break;
      }
      default:
        break;
    }
    if (rc != CUDA_SUCCESS) return rc;
  }
  return CUDA_SUCCESS;
}

CUresult build(Session &s, uint32_t op, CUgraph twin, const std::vector<Node> &nodes) {
  auto add = s.driver().fn<PFN_cuGraphAddNode_v12030>(op);
  std::vector<CUgraph> graphs{twin};
  std::vector<std::vector<CUgraphNode>> made(1);
  for (const Node &n : nodes) {
    std::vector<CUgraphNode> deps;
    for (uint32_t d : n.deps) deps.push_back(made[n.graph][d]);
    CUgraphNodeParams p;
    std::memset(&p, 0, sizeof p);
    p.type = (CUgraphNodeType)n.type;
    std::vector<void *> kp;
    CUresult rc = CUDA_SUCCESS;
    switch (n.type) {
      case CU_GRAPH_NODE_TYPE_KERNEL: {
        CUfunction fn = nullptr;
        // The driver copies the parameters as the node is added: the session's scratch may be reused after.
        rc = kernel_arguments(s, n.fn, n.params, &fn, kp);
        p.kernel.func = fn;
        p.kernel.gridDimX = n.grid[0];
        p.kernel.gridDimY = n.grid[1];
        p.kernel.gridDimZ = n.grid[2];
        p.kernel.blockDimX = n.block[0];
        p.kernel.blockDimY = n.block[1];
        p.kernel.blockDimZ = n.block[2];
        p.kernel.sharedMemBytes = n.shared;
        p.kernel.kernelParams = kp.empty() ? nullptr : kp.data();
        break;
      }
      case CU_GRAPH_NODE_TYPE_MEMSET:
        p.memset.dst = n.dst;
        p.memset.pitch = n.height > 1 ? n.pitch : n.width * n.elem;
        p.memset.value = n.value;
        p.memset.elementSize = n.elem;
        p.memset.width = n.width;
        p.memset.height = n.height;
        p.memset.ctx = s.current();
        break;
      case CU_GRAPH_NODE_TYPE_MEMCPY: {
        CUDA_MEMCPY3D &c = p.memcpy.copyParams;
        c.srcMemoryType = c.dstMemoryType = CU_MEMORYTYPE_DEVICE;
        c.srcDevice = n.src;
        c.dstDevice = n.dst;
        c.WidthInBytes = n.width;
        c.Height = c.Depth = 1;
        p.memcpy.copyCtx = s.current();
        break;
      }
      case CU_GRAPH_NODE_TYPE_CONDITIONAL:
        p.conditional.handle = n.handle;
        p.conditional.type = (CUgraphConditionalNodeType)n.cond_type;
        p.conditional.size = n.size;
        p.conditional.ctx = s.current();
        break;
      default:
        break;
    }
    CUgraphNode node = nullptr;
    if (rc == CUDA_SUCCESS) rc = add(&node, graphs[n.graph], deps.empty() ? nullptr : deps.data(), nullptr, deps.size(), &p);
    if (rc != CUDA_SUCCESS) return rc;
    made[n.graph].push_back(node);
    // The bodies the driver made take the next graph numbers, as the client numbered them.
    for (uint32_t b = 0; n.type == CU_GRAPH_NODE_TYPE_CONDITIONAL && b < n.size; b++) {
      graphs.push_back(p.conditional.phGraph_out[b]);
      made.emplace_back();
    }
  }
  return CUDA_SUCCESS;
}

}  // namespace

CUresult graph_conditional_handle_create(Session &s, CUgraphConditionalHandle *out, CUgraph graph, CUcontext ctx, unsigned value,
                                         unsigned flags) {
  if (out == nullptr) return CUDA_ERROR_INVALID_VALUE;
  CUresult rc = s.driver().fn<PFN_cuGraphConditionalHandleCreate_v12030>(GP_OP_cuGraphConditionalHandleCreate_v12030)(out, graph, ctx, value, flags);
  if (rc == CUDA_SUCCESS) s.note_conditional(*out, graph);
  return rc;
}

void graph_nodes(Session &s, const gp_frame_graph_nodes &f, Reader &r, Writer &w, const Call &call, uint32_t op) {
  std::vector<Node> nodes = read_nodes(r);
  r.finish();
  void *graph = nullptr;
  CUresult rc = s.lookup(f.graph, GP_HANDLE_CUgraph, &graph) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
  if (rc == CUDA_SUCCESS) rc = check(s, op, (CUgraph)graph, nodes);
  if (rc == CUDA_SUCCESS) rc = build(s, op, (CUgraph)graph, nodes);
  if (w.begin_reply(call, rc)) w.end_reply();
}

}  // namespace handlers
}  // namespace gp
