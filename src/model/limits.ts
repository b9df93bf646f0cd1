/**
 * The size limits of a finding on the wire, in one place: the envelope clamps to them
 * (src/nats/envelope.ts), the lifecycle builds within them, the JSON Schema and docs/findings.md state
 * them (test/unit/limits-agree.test.ts compares all four).
 */
/** The whole serialized envelope may never exceed this (the stream's max_msg_size is larger). */
export const MAX_ENVELOPE_BYTES = 16 * 1024;
export const MAX_EVIDENCE_LINES = 5;
export const MAX_EVIDENCE_LINE_BYTES = 512;
export const MAX_TEMPLATES = 6; // = the schema's maxItems
export const MAX_TEMPLATE_BYTES = 512;
export const MAX_SUMMARY_BYTES = 1024;
export const MAX_QUERY_BYTES = 2048;
export const MAX_SMALL_FIELD_BYTES = 256;
export const MAX_MAP_ENTRIES = 32;
export const MAX_TOKEN_BYTES = 128;
/** Pods or services an evidence bundle request names (= the bundle server's default maxPods). */
export const MAX_BUNDLE_TARGETS = 20;
/** Longest window of an evidence bundle request (= the bundle server's default maxWindow, 1 h). */
export const MAX_BUNDLE_WINDOW_SECONDS = 3600;
