// The new-stage dialog's rules, for instant feedback. The backend checks the
// same rules again and is the one that decides.
import type { CpuArchitecture } from "../bindings/CpuArchitecture";
import type { Database } from "../bindings/Database";
import type { EnvVar } from "../bindings/EnvVar";
import type { EnvVarInput } from "../bindings/EnvVarInput";
import type { Routing } from "../bindings/Routing";
import type { StageSettings } from "../bindings/StageSettings";
import type { StageSettingsInput } from "../bindings/StageSettingsInput";
import type { Verification } from "../bindings/Verification";
import type { DeployWindow } from "../bindings/DeployWindow";
import type { ApprovalPolicy } from "../bindings/ApprovalPolicy";
import type { Weekday } from "../bindings/Weekday";
import {
  APPROVAL_EXPIRY_RANGE,
  DEFAULT_APPROVAL_EXPIRY_HOURS,
  DEFAULT_HEALTH_TIMEOUT_SECS,
  HEALTH_TIMEOUT_RANGE,
  MAX_ALARM_NAME_LENGTH,
  MAX_ALARMS,
  MAX_SOAK_MINUTES,
  DEFAULT_CONTAINER_PORT,
  DEFAULT_HEALTH_PATH,
  MAX_DESIRED_COUNT,
  MAX_HEALTH_PATH_LENGTH,
  RESERVED_STAGE_NAME,
  RESERVED_VARIABLES,
  STAGE_NAME_PATTERN,
} from "../bindings/rules";

/** One variable row as edited. A secret row shows no value unless a new one is typed. */
export interface EnvRow {
  name: string;
  value: string;
  secret: boolean;
  /** The keychain entry an existing or copied secret comes from. */
  keychainRef: string | null;
  /** A team stack's secret: its Secrets Manager ARN (the value stays there). */
  secretArn?: string | null;
}

export type DatabaseChoice = "none" | "newPostgres" | "existingRds";

export interface StageForm {
  name: string;
  region: string;
  database: DatabaseChoice;
  rdsIdentifier: string;
  requiresApproval: boolean;
  routing: Routing;
  caching: boolean;
  buildEnv: EnvRow[];
  runtimeEnv: EnvRow[];
  desiredCount: number;
  containerPort: number;
  healthPath: string;
  cpuArchitecture: CpuArchitecture;
  submodulesAndLfs: boolean;
  runWithoutSandbox: boolean;
  /** R18: verification after each deploy. */
  healthCheck: boolean;
  healthTimeoutSecs: number;
  smokeTests: boolean;
  soakMinutes: number;
  /** CloudWatch alarm names, one per line. */
  alarms: string;
  /** R19: roll back by itself when verification fails. */
  rollBack: boolean;
  /** R20: hours before a pending approval expires. */
  approvalExpiryHours: number;
  /** R21: the stage takes releases only in this window (when on). */
  windowOn: boolean;
  windowDays: Weekday[];
  windowStart: number;
  windowEnd: number;
  windowTimeZone: string;
  /** R22: who may approve on a team stack — principal ARN patterns, one per line (empty: anyone). */
  approvers: string;
  /** R22: the commit's author cannot approve its release. */
  noSelfApproval: boolean;
}

export const WEEKDAYS: readonly { day: Weekday; short: string }[] = [
  { day: "monday", short: "Mon" },
  { day: "tuesday", short: "Tue" },
  { day: "wednesday", short: "Wed" },
  { day: "thursday", short: "Thu" },
  { day: "friday", short: "Fri" },
  { day: "saturday", short: "Sat" },
  { day: "sunday", short: "Sun" },
];

/** The user's own time zone, what a new window starts in. */
function localTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

function windowFields(window: DeployWindow | null) {
  return {
    windowOn: window !== null,
    windowDays: window?.days ?? (["monday", "tuesday", "wednesday", "thursday", "friday"] as Weekday[]),
    windowStart: window?.startHour ?? 9,
    windowEnd: window?.endHour ?? 17,
    windowTimeZone: window?.timeZone ?? localTimeZone(),
  };
}

export function emptyForm(region: string): StageForm {
  return {
    name: "",
    region,
    database: "none",
    rdsIdentifier: "",
    requiresApproval: false,
    routing: "apiGateway",
    caching: false,
    buildEnv: [],
    runtimeEnv: [],
    desiredCount: 1,
    containerPort: DEFAULT_CONTAINER_PORT,
    healthPath: DEFAULT_HEALTH_PATH,
    cpuArchitecture: "x86_64",
    submodulesAndLfs: true,
    runWithoutSandbox: false,
    // R18's default: a new stage checks its health; it rolls back when it requires approval.
    healthCheck: true,
    healthTimeoutSecs: DEFAULT_HEALTH_TIMEOUT_SECS,
    smokeTests: false,
    soakMinutes: 0,
    alarms: "",
    rollBack: false,
    approvalExpiryHours: DEFAULT_APPROVAL_EXPIRY_HOURS,
    ...windowFields(null),
    ...policyFields(null),
  };
}

function policyFields(policy: ApprovalPolicy | null) {
  return {
    approvers: policy?.approvers.join("\n") ?? "",
    noSelfApproval: policy?.noSelfApproval ?? false,
  };
}

/** The lines typed in a one-per-line box (alarm names, approvers), blank lines ignored. */
export function typedLines(text: string): string[] {
  return text.split("\n").map((line) => line.trim()).filter((line) => line !== "");
}

/** R13: caching is only offered with API Gateway. */
export function cachingAvailable(routing: Routing): boolean {
  return routing === "apiGateway";
}

export const CACHING_UNAVAILABLE_REASON =
  "Caching is only available with Amazon API Gateway. The Application Load Balancer does not cache responses.";

/** Switching to the load balancer turns caching off (it cannot stay on). */
export function withRouting(form: StageForm, routing: Routing): StageForm {
  return { ...form, routing, caching: cachingAvailable(routing) ? form.caching : false };
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Field → message for every rule the form breaks now. */
export function checkForm(form: StageForm, existingNames: string[], { checkName = true } = {}): Record<string, string> {
  const errors: Record<string, string> = {};
  const name = form.name.trim();
  if (!checkName) {
    // An existing stage's name is fixed: nothing to check.
  } else if (!name) errors.name = "Stage name is required.";
  else if (!STAGE_NAME_PATTERN.test(name))
    errors.name = "Use lowercase letters, digits and hyphens, starting with a letter (at most 32).";
  else if (name === RESERVED_STAGE_NAME)
    errors.name = `"${RESERVED_STAGE_NAME}" is reserved for the image tag; choose another name.`;
  else if (existingNames.includes(name)) errors.name = `This stack already has a stage named "${name}".`;
  if (form.database === "existingRds" && !form.rdsIdentifier.trim())
    errors["database.identifier"] = "The existing RDS instance's identifier is required.";
  if (form.caching && !cachingAvailable(form.routing)) errors.caching = CACHING_UNAVAILABLE_REASON;
  for (const [list, rows] of [["buildEnv", form.buildEnv], ["runtimeEnv", form.runtimeEnv]] as const) {
    const seen = new Set<string>();
    rows.forEach((row, i) => {
      const key = `${list}.${i}.name`;
      const n = row.name.trim();
      if (!n) errors[key] = "Name is required.";
      else if (!ENV_NAME.test(n)) errors[key] = "Letters, digits and _, not starting with a digit.";
      else if (RESERVED_VARIABLES.includes(n)) errors[key] = `${n} is set by Stageline and cannot be overridden.`;
      else if (seen.has(n)) errors[key] = `${n} is defined twice.`;
      seen.add(n);
    });
  }
  if (!Number.isInteger(form.desiredCount) || form.desiredCount < 0 || form.desiredCount > MAX_DESIRED_COUNT)
    errors.desiredCount = `Desired instances must be between 0 and ${MAX_DESIRED_COUNT}.`;
  if (!Number.isInteger(form.containerPort) || form.containerPort < 1 || form.containerPort > 65535)
    errors.containerPort = "Container port must be between 1 and 65535 (the port the app listens on).";
  if (!form.healthPath.startsWith("/")) errors.healthPath = "Health-check path must start with /, for example /ping.";
  else if (form.healthPath.length > MAX_HEALTH_PATH_LENGTH)
    errors.healthPath = `Health-check path must be at most ${MAX_HEALTH_PATH_LENGTH} characters.`;
  checkVerification(form, errors);
  return errors;
}

/** R18/R20's limits, with the backend's field names (it checks them again). */
function checkVerification(form: StageForm, errors: Record<string, string>) {
  const [minTimeout, maxTimeout] = HEALTH_TIMEOUT_RANGE;
  if (!Number.isInteger(form.healthTimeoutSecs) || form.healthTimeoutSecs < minTimeout || form.healthTimeoutSecs > maxTimeout)
    errors["verification.healthTimeoutSecs"] = `The health check's time limit must be between ${minTimeout} and ${maxTimeout} seconds.`;
  if (!Number.isInteger(form.soakMinutes) || form.soakMinutes < 0 || form.soakMinutes > MAX_SOAK_MINUTES)
    errors["verification.soakMinutes"] = `Soak time must be between 0 and ${MAX_SOAK_MINUTES} minutes (one day).`;
  const names = typedLines(form.alarms);
  if (names.length > MAX_ALARMS) errors["verification.alarms"] = `A stage can watch at most ${MAX_ALARMS} alarms.`;
  const seen = new Set<string>();
  names.forEach((name, i) => {
    if (name.length > MAX_ALARM_NAME_LENGTH)
      errors[`verification.alarms.${i}`] = `Alarm name must be at most ${MAX_ALARM_NAME_LENGTH} characters.`;
    else if (seen.has(name)) errors[`verification.alarms.${i}`] = `Alarm ${name} is listed twice.`;
    seen.add(name);
  });
  const [minHours, maxHours] = APPROVAL_EXPIRY_RANGE;
  if (!Number.isInteger(form.approvalExpiryHours) || form.approvalExpiryHours < minHours || form.approvalExpiryHours > maxHours)
    errors.approvalExpiryHours = `An approval must expire after ${minHours} to ${maxHours} hours (30 days).`;
  if (form.windowOn) {
    if (form.windowDays.length === 0) errors["deployWindow.days"] = "Choose at least one day.";
    if (form.windowStart >= form.windowEnd)
      errors["deployWindow.hours"] = "The window must start before it ends, within the day (for example 09:00 to 17:00).";
    // Whether the time zone exists is the backend's to say (it knows this machine's zones).
  }
}

/** Every error about a one-per-line list (`list` and `list.N`), in one line for its text box. */
export function listErrors(errors: Record<string, string>, list: string): string | undefined {
  const messages = Object.entries(errors)
    .filter(([field]) => field === list || field.startsWith(`${list}.`))
    .map(([, message]) => message);
  return messages.length ? messages.join(" ") : undefined;
}

/** Every error about the alarm list, in one line for its text box. */
export function alarmErrors(errors: Record<string, string>): string | undefined {
  return listErrors(errors, "verification.alarms");
}

function rowsFrom(vars: EnvVar[]): EnvRow[] {
  return vars.map((v) => {
    switch (v.value.kind) {
      case "plain":
        return { name: v.name, value: v.value.value, secret: false, keychainRef: null };
      case "secret":
        return { name: v.name, value: "", secret: true, keychainRef: v.value.keychainRef };
      case "teamSecret":
        return { name: v.name, value: "", secret: true, keychainRef: null, secretArn: v.value.arn };
    }
  });
}

/** "Copy variables from stage…": plain values as they are; secrets by reference (the backend copies them). */
export function copyVariables(form: StageForm, from: StageSettings): StageForm {
  const merge = (own: EnvRow[], copied: EnvRow[]) => [
    ...own.filter((row) => !copied.some((c) => c.name === row.name)),
    ...copied,
  ];
  return {
    ...form,
    ...verificationFields(from.verification),
    approvalExpiryHours: from.approvalExpiryHours,
    ...windowFields(from.deployWindow),
    buildEnv: merge(form.buildEnv, rowsFrom(from.buildEnv)),
    runtimeEnv: merge(form.runtimeEnv, rowsFrom(from.runtimeEnv)),
  };
}

function verificationFields(v: Verification) {
  return {
    healthCheck: v.healthCheck,
    healthTimeoutSecs: v.healthTimeoutSecs,
    smokeTests: v.smokeTests,
    soakMinutes: v.soakMinutes,
    alarms: v.alarms.join("\n"),
    rollBack: v.rollBack,
  };
}

/** A stage's current settings as a form (stage details). */
export function formFromSettings(settings: StageSettings): StageForm {
  return {
    name: settings.name,
    region: settings.region,
    database: settings.database.kind,
    rdsIdentifier: settings.database.kind === "existingRds" ? settings.database.identifier : "",
    requiresApproval: settings.requiresApproval,
    routing: settings.routing,
    caching: settings.caching,
    buildEnv: rowsFrom(settings.buildEnv),
    runtimeEnv: rowsFrom(settings.runtimeEnv),
    desiredCount: settings.desiredCount,
    containerPort: settings.containerPort,
    healthPath: settings.healthPath,
    cpuArchitecture: settings.cpuArchitecture,
    submodulesAndLfs: settings.submodulesAndLfs,
    runWithoutSandbox: settings.runWithoutSandbox,
    ...verificationFields(settings.verification),
    approvalExpiryHours: settings.approvalExpiryHours,
    ...windowFields(settings.deployWindow),
    ...policyFields(settings.approvalPolicy),
  };
}

function rowInput(row: EnvRow): EnvVarInput {
  const name = row.name.trim();
  if (!row.secret) return { name, value: { kind: "plain", value: row.value } };
  if (row.value === "" && row.secretArn) return { name, value: { kind: "keepTeamSecret", arn: row.secretArn } };
  if (row.value !== "" || !row.keychainRef) return { name, value: { kind: "newSecret", value: row.value } };
  return { name, value: { kind: "keepSecret", keychainRef: row.keychainRef } };
}

function databaseInput(form: StageForm): Database {
  if (form.database === "existingRds") return { kind: "existingRds", identifier: form.rdsIdentifier.trim() };
  return { kind: form.database };
}

/** What the backend receives. */
export function toSettingsInput(form: StageForm): StageSettingsInput {
  return {
    name: form.name.trim(),
    region: form.region,
    database: databaseInput(form),
    requiresApproval: form.requiresApproval,
    routing: form.routing,
    caching: cachingAvailable(form.routing) && form.caching,
    buildEnv: form.buildEnv.map(rowInput),
    runtimeEnv: form.runtimeEnv.map(rowInput),
    desiredCount: form.desiredCount,
    containerPort: form.containerPort,
    healthPath: form.healthPath.trim(),
    cpuArchitecture: form.cpuArchitecture,
    submodulesAndLfs: form.submodulesAndLfs,
    runWithoutSandbox: form.runWithoutSandbox,
    verification: {
      healthCheck: form.healthCheck,
      healthTimeoutSecs: form.healthTimeoutSecs,
      smokeTests: form.smokeTests,
      soakMinutes: form.soakMinutes,
      alarms: typedLines(form.alarms),
      rollBack: form.rollBack,
    },
    approvalExpiryHours: form.approvalExpiryHours,
    // The ARN rules are the backend's; its field errors come back as approvalPolicy.approvers.N.
    approvalPolicy: { approvers: typedLines(form.approvers), noSelfApproval: form.noSelfApproval },
    deployWindow: form.windowOn
      ? {
          days: WEEKDAYS.map((w) => w.day).filter((d) => form.windowDays.includes(d)),
          startHour: form.windowStart,
          endHour: form.windowEnd,
          timeZone: form.windowTimeZone.trim(),
        }
      : undefined,
  };
}
