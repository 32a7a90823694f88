/**
 * The single source of domain types: every value that crosses an edge (campaign files, workflow inputs,
 * activity results, queries, update arguments) is one of these schemas, and its TypeScript type has the
 * same name (`export const Host = z.object(...)`, `export type Host = z.infer<typeof Host>`).
 *
 * By concern in domain/schema/; this module is the one import path for all of them.
 */
export { HostKeyFingerprint, JumpHost, LIMITS, Role, Sha256 } from './schema/common.js';
export {
  Controller,
  controllerLacks,
  HealthCheck,
  Host,
  RedfishController,
  SshController,
  VsphereController,
} from './schema/fleet.js';
export { ArtifactUrl, artifactName, artifactSource, Patch } from './schema/patch.js';
export {
  ApprovalStage,
  CampaignFile,
  CampaignSpec,
  MaintenanceWindow,
  Person,
  PersonRole,
  RedundancyGroup,
  SoakCriteria,
  TargetSelector,
  WaveSpec,
  Weekday,
} from './schema/campaign-file.js';
export {
  CampaignState,
  CheckResult,
  FINAL_HOST_STATES,
  HealthReport,
  HostOutcome,
  HostPatchInput,
  HostRun,
  HostState,
  ImageRecord,
  IntegrityChange,
  IntegrityReport,
  PreflightReport,
  StepFailure,
  StepTiming,
  TERMINAL_CAMPAIGN_STATES,
} from './schema/host-outcomes.js';
export { GatePlan, PlanSummary, WaveHost } from './schema/plan.js';
export {
  ApprovalRecord,
  CampaignInput,
  CampaignStatus,
  Decision,
  DecisionAction,
  FailedHost,
  GateStatus,
  InFlightHost,
  Notification,
  NotificationKind,
  Signature,
  SoakProbe,
  SoakVerdict,
} from './schema/status.js';
export {
  ApprovalDecision,
  campaignFileJsonSchema,
  HostAction,
  OperatorControl,
  Rejection,
  SoakReview,
} from './schema/actions.js';
export {
  AuditAction,
  AuditEntry,
  AuditInput,
  AuditVerdict,
  CampaignRecord,
  CredentialKind,
  CredentialManifest,
  InventoryHost,
  LedgerApproval,
  LedgerEntry,
  SigningKey,
  User,
  UserName,
  UserRole,
  VerifiedDecision,
  Webhook,
} from './schema/people.js';
