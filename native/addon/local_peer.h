// Who is at the other end of a Unix-socket connection (the local transport, docs/operations.md).
#pragma once

#include <napi.h>

namespace gp {

// exports.peerCredentials(fd): {pid, uid, gid} from SO_PEERCRED, or null when fd is no Unix socket.
void RegisterLocalPeer(Napi::Env env, Napi::Object exports);

}  // namespace gp
