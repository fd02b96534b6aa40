//! Stageline's AWS adapter: the engine's `Deployer` port on CloudFormation and
//! ECS.
//!
//! Rules of this crate:
//! - every stage is one CloudFormation stack `<stack>-<stage>` in the stage's
//!   region, generated from the stage's settings by a pure function
//!   ([`stage_template`]) and deployed only through change sets;
//! - every AWS name of a stage derives from the stack, stage and region names
//!   and the account number ([`StageNames`]);
//! - the stack's image repositories and each stage's bucket live outside the
//!   stages' CloudFormation stacks, made before a stage's first part
//!   (`bootstrap`), so no stack ever creates them twice;
//! - build and release parts act as the stage's build role (`build_role`),
//!   allowed only what TinyStacks' buildspecs do; deploys use the account's
//!   own credentials;
//! - secret values go to Secrets Manager through the SDK and are referenced
//!   by ARN: never in a template, a parameter, a log line or an error;
//! - verify (R18) only reads: the stage's URL from its stack's outputs, its
//!   alarms' states, one health check at a time;
//! - SDK failures become `PortError`s with a sentence a user understands.

mod bootstrap;
mod build_role;
mod change_set;
mod clients;
mod deployer;
mod errors;
mod images;
mod lookups;
mod naming;
mod stacks;
mod stage_deploy;
mod template;
mod verify;

pub use change_set::{ChangeSetSummary, ResourceChange};
pub use clients::{AwsCredentials, CredentialsLookup, ProfileFilePaths};
pub use deployer::{CloudFormationDeployer, DeployerOptions, StackHealth};
pub use naming::{partition, repository_name, StageNames, PLACEHOLDER_ACCOUNT_NUMBER};
pub use stage_deploy::{image_uri, release_tag, TAG_RELEASE, TAG_STACK, TAG_STAGE};
pub use stageline_engine::ports::{AlarmReading, AlarmState};
pub use template::{
    postgres_instance_class, secret_arn_parameter, stage_template, template_text, RuntimeVar,
    PARAM_DATABASE_HOST, PARAM_DATABASE_NAME, PARAM_DATABASE_PORT, PARAM_DATABASE_SECRET_ARN,
    PARAM_DATABASE_SECURITY_GROUP, PARAM_DESIRED_COUNT, PARAM_IMAGE_URI, PARAM_SECRETS_VERSION,
    PARAM_SUBNET_IDS, PARAM_VPC_ID,
};
pub use verify::{health_check_url, probe_health, EMULATOR_SERVICE_PREFIX};
