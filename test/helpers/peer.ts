/**
 * The scriptable T-Server-like peer for transport, pair and native tests, in-process: lib/sim/scripted-peer.ts
 * under the names the tests use (TestPeer, PeerConnection, PeerOptions). The same peer runs in its own
 * process through ./child-peer.ts (ChildPeer).
 */
export {
  ScriptedPeer as TestPeer,
  ScriptedConnection as PeerConnection,
  type ScriptedPeerOptions as PeerOptions,
  type ScriptedPeerStats as PeerStats,
} from '../../lib/sim/scripted-peer.js';
