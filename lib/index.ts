/**
 * tserver-ha: one normalized event stream and one request path over a primary/backup T-Server pair.
 * @packageDocumentation
 */
export { TServerPair, type PairStats, type AddressOptions, type EventsOptions, type OpenOptions, type CloseOptions, type PairHealth } from './pair/pair.js';
export { MAX_TIMEOUT_MS, type RequestOptions, type RequestReply } from './pair/requests.js';
export type { RequestOutcome } from './pair/request-rules.js';
export { ListenerError } from './pair/outbox.js';
export { EventsOverflowError } from './pair/event-stream.js';
export {
  TEvent,
  OPEN_END,
  type GapRange,
  type DisconnectReason,
  type EventServerConnected,
  type EventServerDisconnected,
  type EventLinkConnected,
  type EventLinkDisconnected,
  type SwitchoverEvent,
  type SwitchoverReason,
  type GapEvent,
  type SplitBrainEvent,
  type SeqRange,
  type PairEvents,
  type PairEventRecord,
  type PairState,
  type EndpointStatus,
  type ActiveEvent,
  type ConnectFailedEvent,
  type ReconnectingEvent,
  type HeartbeatEvent,
  type BreakerEvent,
  type AttrValue,
  type AttrValues,
} from './pair/events.js';
export type { RequestTraceContext } from './pair/observe.js';
export type { EndpointName, RoleName, LinkState, EndpointState } from './endpoint/endpoint.js';
export { DEFAULTS, resolvePairOptions, type TServerPairOptions, type EndpointAddress, type ResolvedPairOptions, type Logger } from './config.js';
export {
  TServerHaError,
  ConfigError,
  TransportError,
  ProtocolError,
  RequestTimeoutError,
  SwitchoverError,
  CallElsewhereError,
  ServerError,
  ClosedError,
  AbortedError,
  QueueFullError,
  HandshakeError,
  BreakerOpenError,
  OpenTimeoutError,
  MissingDependencyError,
  type TransportErrorCode,
  type ProtocolErrorCode,
} from './errors.js';
export { MessageType, Attr, ServerRole, RegisterMode, RouteType, int32, int64, float64 } from './protocol/index.js';
export { monotonicMs } from './clock.js';
export { nativeStatus, NativeUnavailableError, type NativeStatus } from './native/loader.js';
export { setNativeMemoryLimit, nativeIoStats, type NativeIoStats } from './native/native-transport.js';
export { NodeTransport } from './transport/node-transport.js';
export type { Transport, TransportOptions, TransportFactory, TransportEvents, TransportTimestamps, FrameBatch, CloseInfo, CloseReason, ReleaseResult, WindowOptions, HeartbeatStats } from './transport/types.js';
export type { MessageFrame, Attribute, KVPair, DecodedValue } from './protocol/types.js';
export type { AttributeInput, EncodableValue } from './protocol/encoder.js';
export { CHANNELS } from './diagnostics.js';
