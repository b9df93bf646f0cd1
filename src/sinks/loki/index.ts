export { LokiSink } from './sink.ts';
export { LOKI_DEFAULTS, resolveLokiOptions, type LokiSinkOptions, type ResolvedLokiOptions } from './options.ts';
export { encodePushRequest, encodeProtobufBody, snappyBlock } from './encode-protobuf.ts';
export { encodeJsonBody } from './encode-json.ts';
export { toEntry, truncateLine, TRUNCATION_MARKER, type Entry } from './entry.ts';
export { groupByStream, type StreamBatch } from './group.ts';
export { LabelBuilder, formatLabels } from './labels.ts';
export { parseRfc3339Nano, toNanoString, type LokiTime } from './timestamp.ts';
