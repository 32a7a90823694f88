/** Reading failures that come back from activities and child workflows (by type, never by class). */
import { ActivityFailure, ApplicationFailure, ChildWorkflowFailure } from '@temporalio/workflow';

/** Host failures that say the artifact itself may have changed: the campaign checks its source at once. */
export const ARTIFACT_SUSPECT: readonly string[] = ['ArtifactChecksumMismatch', 'SourceArtifactInvalid'];

/** The failure type inside an activity failure (workflows branch on types, never on classes). */
export function failureType(err: unknown): string | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof ApplicationFailure ? (cause.type ?? undefined) : undefined;
}

/** What a failure says, in words: the activity's own message, not Temporal's wrapper. */
export function failureText(err: unknown): string {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof Error ? cause.message : String(err);
}

/** What a failed child workflow says, in words (not Temporal's "Child Workflow execution failed"). */
export function childFailureText(err: unknown): string {
  if (err instanceof ChildWorkflowFailure && err.cause instanceof Error)
    return `the host's workflow failed: ${err.cause.message}`;
  return err instanceof Error ? `the host's workflow failed: ${err.message}` : String(err);
}
