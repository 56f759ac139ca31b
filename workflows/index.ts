// The workflow bundle's entry point: every workflow the orchestrator worker runs.
export { jointTransferCase } from './jointTransferCase.ts';
export { agencyDecision } from './agencyDecision.ts';
export { safetyInspection } from './safetyInspection.ts';
