// Generated from Rust (stageline-engine's validation rules): do not edit.
/** R14: a stage name. */
export const STAGE_NAME_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;
/** R14: the image tag every build also pushes; no stage may be called so. */
export const RESERVED_STAGE_NAME = "latest";
/** Variable names Stageline sets (R3a, R15): users cannot override them. */
export const RESERVED_VARIABLES: readonly string[] = ["STAGE_NAME", "PREVIOUS_STAGE_NAME", "STAGE_REGION", "ECR_ENDPOINT", "ECR_IMAGE_URL", "REGIONAL_ECR_ENDPOINT", "REGIONAL_ECR_IMAGE_URL", "CLUSTER_ARN", "SERVICE_NAME", "STAGELINE_SERVICE_NAME", "TASK_ROLE_ARN", "S3_BUCKET", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCOUNT_ID", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "COMMIT_SHA", "BUILD_IMAGE", "PG_HOST", "PG_PORT", "PG_DATABASE", "PG_CREDENTIALS_SECRET"];
/** R12: the largest desired count. */
export const MAX_DESIRED_COUNT = 100;
/** A new stage's container port and health-check path (TinyStacks' templates). */
export const DEFAULT_CONTAINER_PORT = 80;
export const DEFAULT_HEALTH_PATH = "/ping";
export const MAX_HEALTH_PATH_LENGTH = 1024;
/** R18: the health check's time limit (seconds), the soak time (minutes), alarms. */
export const HEALTH_TIMEOUT_RANGE = [10, 3600] as const;
export const DEFAULT_HEALTH_TIMEOUT_SECS = 300;
export const MAX_SOAK_MINUTES = 1440;
export const MAX_ALARMS = 20;
export const MAX_ALARM_NAME_LENGTH = 255;
/** R20: when a pending approval expires (hours). */
export const APPROVAL_EXPIRY_RANGE = [1, 720] as const;
export const DEFAULT_APPROVAL_EXPIRY_HOURS = 168;
/** The names of the events the backend sends the windows. */
export const PIPELINE_EVENT = "pipeline";
export const DASHBOARD_EVENT = "dashboard";
