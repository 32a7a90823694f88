/**
 * Failure types raised by activities and read by workflows (`err.cause.type`). One map drives both the
 * meaning of each type and the retry policy: `retryable: false` types go into `nonRetryableErrorTypes`.
 */
export const ERROR_TYPES = {
  HostKeyMismatch: { retryable: false, meaning: 'the host presented a key that is not the pinned one' },
  AuthenticationFailed: { retryable: false, meaning: 'the host refused our key' },
  HostUnreachable: { retryable: true, meaning: 'no TCP/SSH connection could be made' },
  HostNotUp: { retryable: true, meaning: 'the host has not come back from reboot yet' },
  CommandTimeout: { retryable: false, meaning: 'a remote command ran past its timeout' },
  ConnectionLost: { retryable: true, meaning: 'the SSH connection dropped mid-command' },
  ArtifactChecksumMismatch: { retryable: false, meaning: 'the artifact on the host is not the approved one' },
  SourceArtifactInvalid: {
    retryable: false,
    meaning: 'the artifact on the orchestrator does not match its checksum',
  },
  SourceArtifactUnreadable: {
    retryable: true,
    meaning: 'the artifact on the orchestrator cannot be read right now',
  },
  SourceArtifactRefused: {
    retryable: false,
    meaning: 'the artifact is outside the artifact directories, not a regular file, or too large',
  },
  CredentialNotAllowed: {
    retryable: false,
    meaning: 'the key store does not allow this credential to be sent to this destination',
  },
  CommandFailed: { retryable: false, meaning: 'a remote command exited non-zero or printed nonsense' },
  InstallFailed: { retryable: false, meaning: 'the install command exited non-zero' },
  InstallTimedOut: {
    retryable: false,
    meaning: 'the install ran past installTimeout and was stopped on the host',
  },
  InstallOutcomeUnknown: {
    retryable: false,
    meaning: "the install's outcome cannot be read (its process is gone without an exit code)",
  },
  RebootPending: { retryable: true, meaning: 'the host answers on the boot it had before the reboot' },
  VerifyFailed: { retryable: false, meaning: 'after install the host does not report the target version' },
  HealthCheckFailed: { retryable: false, meaning: 'one or more health checks failed' },
  ImageFailed: { retryable: false, meaning: 'the image provider could not snapshot, verify or restore' },
  PowerFailed: { retryable: false, meaning: 'the power controller could not act' },
  RebootNotObserved: {
    retryable: false,
    meaning: 'the host kept answering with its old boot ID until the boot timeout: it never rebooted',
  },
  UnknownHost: { retryable: false, meaning: 'the host is not in the inventory' },
  UnknownCredential: { retryable: false, meaning: 'no SSH key is configured for the credential name' },
  CredentialUnusable: {
    retryable: false,
    meaning: 'the key for the credential cannot be read (wrong or missing passphrase, bad format)',
  },
  IntegrityViolation: { retryable: false, meaning: 'files under a protected path changed during the patch' },
  CampaignFileMissing: { retryable: false, meaning: 'the campaign store has no file with this checksum' },
  CampaignFileCorrupt: { retryable: false, meaning: 'the stored campaign file does not match its checksum' },
  PlanInfeasible: { retryable: false, meaning: 'no order of waves can satisfy the campaign file' },
} as const;

export type ErrorType = keyof typeof ERROR_TYPES;

export const NON_RETRYABLE_ERROR_TYPES: ErrorType[] = (Object.keys(ERROR_TYPES) as ErrorType[]).filter(
  (type) => !ERROR_TYPES[type].retryable,
);

/** Refusals of human actions (update validators) and of bad input. */
export const REFUSAL_TYPES = [
  'InvalidPhase',
  'UnknownStage',
  'NotAnApprover',
  'FourEyes',
  'StaleApproval',
  'AlreadyDecided',
  'InvalidInput',
  'NotAnOperator',
  'NotOnCall',
  'UnknownHost',
  'StaleHostSet',
  'Unsigned',
  'TooManyForgedDecisions',
] as const;
export type RefusalType = (typeof REFUSAL_TYPES)[number];

/**
 * An error that carries its type, thrown by adapters; activities turn it into an ApplicationFailure.
 * Workflows never see this class, only the type string.
 */
export class RolloutError extends Error {
  constructor(
    readonly type: ErrorType,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = type;
  }
}
