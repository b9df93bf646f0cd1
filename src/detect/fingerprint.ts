/**
 * A rule's definition as a stable string: equal strings mean the rule would behave the same, so a
 * reload keeps its windows and episodes; any difference (a pattern, a threshold, a label, the
 * source of a custom operator) makes it a new rule that starts fresh.
 */
import type { Rule } from './types.ts';

function canonical(v: unknown): unknown {
  if (v instanceof RegExp) return { $regexp: v.source, flags: v.flags };
  if (typeof v === 'function') return { $function: v.toString() };
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = canonical(x);
    }
    return out;
  }
  return v;
}

export function ruleFingerprint(rule: Rule): string {
  return JSON.stringify(canonical(rule));
}
