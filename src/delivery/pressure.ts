/**
 * Back-pressure as a value: how full the log sink's queue is, 0 (idle) … 1 (full). The sink keeps
 * `fill` current; sources read it before they read more (each its own thresholds: the file,
 * journald and Kubernetes sources pause above 0.9 and resume under 0.7).
 */
export interface Pressure {
  readonly fill: number;
  /** The bytes a fill of 1 stands for, when the sink knows it: a reader that brings much at once can keep its own headroom. */
  readonly capacityBytes?: number;
}

/** No log sink: nothing ever pushes back. */
export const NO_PRESSURE: Pressure = Object.freeze({ fill: 0 });

/** Every source reads the same thresholds: pause reading above PAUSE_ABOVE, resume under RESUME_BELOW. */
export const PAUSE_ABOVE = 0.9;
export const RESUME_BELOW = 0.7;
