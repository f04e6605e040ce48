/**
 * Channel options for the Node SDK clients the tests use to set up and read servers.
 *
 * The SDK pings every 10 s, also on an idle connection. milvus-lite 3.2.2 serves gRPC from Python
 * grpcio (C core), which counts a ping as a strike unless it wrote something since the last one
 * (and allows none at all on an idle connection): the third strike closes the connection with
 * GOAWAY ENHANCE_YOUR_CALM, and a call in flight on it fails with RESOURCE_EXHAUSTED "Bandwidth
 * exhausted or memory limit exceeded" (seen in CI, in the differ's read of a lite target). Pings
 * only during calls, and rarely, keep test clients out of that.
 */
export const SDK_CHANNEL_OPTIONS = {
  'grpc.keepalive_time_ms': 120_000,
  'grpc.keepalive_permit_without_calls': 0,
} as const;
