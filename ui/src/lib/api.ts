// Typed calls into the backend. Every type comes from the Rust side (bindings/).
import { invoke } from "@tauri-apps/api/core";
import type { Account } from "./bindings/Account";
import type { AccountId } from "./bindings/AccountId";
import type { AppError } from "./bindings/AppError";
import type { Approval } from "./bindings/Approval";
import type { ApprovalId } from "./bindings/ApprovalId";
import type { ApprovalPreview } from "./bindings/ApprovalPreview";
import type { ChatTestOutcome } from "./bindings/ChatTestOutcome";
import type { ChatWebhookInput } from "./bindings/ChatWebhookInput";
import type { ChatWebhookView } from "./bindings/ChatWebhookView";
import type { ErrorCode } from "./bindings/ErrorCode";
import type { FieldError } from "./bindings/FieldError";
import type { NewAccount } from "./bindings/NewAccount";
import type { NewStack } from "./bindings/NewStack";
import type { ReleaseId } from "./bindings/ReleaseId";
import type { RunId } from "./bindings/RunId";
import type { SharedRunSummary } from "./bindings/SharedRunSummary";
import type { RunRecord } from "./bindings/RunRecord";
import type { Stack } from "./bindings/Stack";
import type { StackId } from "./bindings/StackId";
import type { StackInsights } from "./bindings/StackInsights";
import type { StackView } from "./bindings/StackView";
import type { Stage } from "./bindings/Stage";
import type { StageId } from "./bindings/StageId";
import type { StageSettingsInput } from "./bindings/StageSettingsInput";
import type { StageStackHealth } from "./bindings/StageStackHealth";
import type { TeamPlace } from "./bindings/TeamPlace";

/** A failed command, as the UI handles it. */
export class ApiError extends Error {
  code: ErrorCode;
  fields: FieldError[];
  constructor(error: AppError) {
    super(error.message);
    this.code = error.code;
    this.fields = error.fields;
  }
  /** The message for one field, if a rule on it was broken. */
  fieldMessage(field: string): string | undefined {
    return this.fields.find((f) => f.field === field)?.message;
  }
}

function isAppError(value: unknown): value is AppError {
  return typeof value === "object" && value !== null && "code" in value && "message" in value;
}

/** Turns anything thrown by a command into an ApiError with a readable message. */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (isAppError(error)) return new ApiError(error);
  const message = typeof error === "string" ? error : "Something went wrong. Please try again.";
  return new ApiError({ code: "internal", message, fields: [] });
}

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (error) {
    throw toApiError(error);
  }
}

export const api = {
  dashboard: () => call<StackView[]>("dashboard"),
  regions: () => call<string[]>("aws_regions"),

  listAccounts: () => call<Account[]>("list_accounts"),
  createAccount: (input: NewAccount) => call<Account>("create_account", { input }),
  deleteAccount: (id: AccountId) => call<void>("delete_account", { id }),
  checkAccount: (id: AccountId) => call<void>("check_account", { id }),

  createStack: (input: NewStack) => call<Stack>("create_stack", { input }),
  deleteStack: (id: StackId, confirmation: string) => call<void>("delete_stack", { id, confirmation }),
  shareStack: (stackId: StackId, team: TeamPlace) => call<Stack>("share_stack", { stackId, team }),
  joinTeamStack: (accountId: AccountId, team: TeamPlace) => call<Stack>("join_team_stack", { accountId, team }),
  stopSharingStack: (stackId: StackId) => call<void>("stop_sharing_stack", { stackId }),
  chatWebhook: (stackId: StackId) => call<ChatWebhookView>("chat_webhook", { stackId }),
  setChatWebhook: (stackId: StackId, input: ChatWebhookInput) =>
    call<ChatWebhookView>("set_chat_webhook", { stackId, input }),
  clearChatWebhook: (stackId: StackId) => call<ChatWebhookView>("clear_chat_webhook", { stackId }),
  testChatWebhook: (stackId: StackId) => call<ChatTestOutcome>("test_chat_webhook", { stackId }),

  createStage: (stackId: StackId, after: StageId | null, settings: StageSettingsInput) =>
    call<Stage>("create_stage", { stackId, after, settings }),
  updateStage: (id: StageId, settings: StageSettingsInput) => call<Stage>("update_stage", { id, settings }),
  deleteStage: (id: StageId, confirmation: string) => call<void>("delete_stage", { id, confirmation }),
  retryDeleteStage: (id: StageId) => call<void>("retry_delete_stage", { id }),
  /** R21: stop the line at the stack (no stage) or one stage, with a reason. */
  freeze: (stackId: StackId, stageId: StageId | null, reason: string) =>
    call<void>("freeze", { stackId, stageId, reason }),
  unfreeze: (stackId: StackId, stageId: StageId | null) => call<void>("unfreeze", { stackId, stageId }),

  decide: (approvalId: ApprovalId, approve: boolean, comment: string) =>
    call<void>("decide", { approvalId, approve, comment }),
  retryRun: (runId: RunId, comment: string) => call<void>("retry_run", { runId, comment }),
  redeploy: (stageId: StageId, releaseId: ReleaseId, comment: string) =>
    call<void>("redeploy", { stageId, releaseId, comment }),
  runHistory: (stageId: StageId) => call<RunRecord[]>("run_history", { stageId }),
  teammatesRuns: (stageId: StageId) => call<SharedRunSummary[]>("teammates_runs", { stageId }),
  approvalHistory: (stageId: StageId) => call<Approval[]>("approval_history", { stageId }),
  stackInsights: (stackId: StackId, days: number) => call<StackInsights>("stack_insights", { stackId, days }),
  openStageWindow: (stageId: StageId) => call<void>("open_stage_window", { stageId }),
  stageTemplate: (stageId: StageId) => call<string>("stage_template", { stageId }),
  exportTemplate: (stageId: StageId) => call<string>("export_template", { stageId }),
  scaleStage: (stageId: StageId, count: number) => call<Stage>("scale_stage", { stageId, count }),
  openStageUrl: (stageId: StageId) => call<void>("open_stage_url", { stageId }),
  approvalPreview: (approvalId: ApprovalId) => call<ApprovalPreview>("approval_preview", { approvalId }),
  stageStackHealth: (stageId: StageId) => call<StageStackHealth>("stage_stack_health", { stageId }),
  continueRollback: (stageId: StageId) => call<StageStackHealth>("continue_rollback", { stageId }),
};
