/**
 * The fields a command made by hand (an operator's `shardcast command send`, a test) fills the
 * same way: no forecast evidence, no cost-model scores, no approval needed. Kept in one place so
 * a field added to the command schemas is added once.
 */
import type { Evidence } from './types.js';

export const NO_EVIDENCE: Readonly<Evidence> = {
  seriesId: null,
  currentLoad: 0,
  forecastPeak: 0,
  forecastLower: 0,
  forecastUpper: 0,
  peakAt: null,
  capacity: null,
  model: null,
};

export function handMadeFields(now: number, deadlineMs: number, policy: string, explanation: string) {
  return {
    issuedAt: now,
    deadline: now + deadlineMs,
    params: {} as Record<string, string>,
    evidence: { ...NO_EVIDENCE },
    expectedBenefit: 0,
    expectedCost: 0,
    estimatedDurationMs: 0,
    requiresApproval: false,
    policy,
    explanation,
  };
}
