//! Every AWS name of a stage, derived from the stack, stage and region names
//! alone, so release.yml's variables (R3) and the template's resources agree
//! without asking AWS.

use stageline_engine::ports::{PartCredentials, StageFacts};

/// The account number used in ARNs and the ECR endpoint until the real one
/// is known (see `CloudFormationDeployer::learn_account_number`).
pub const PLACEHOLDER_ACCOUNT_NUMBER: &str = "000000000000";

/// The names of one stage's resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageNames {
    stack: String,
    stage: String,
    region: String,
    home_region: String,
    account_number: String,
}

impl StageNames {
    /// The names of stage `stage` of stack `stack` in `region`, for the AWS
    /// account `account_number` (12 digits), for a stack whose home region
    /// is the stage's own (see [`StageNames::with_home_region`]).
    pub fn new(stack: &str, stage: &str, region: &str, account_number: &str) -> Self {
        StageNames {
            stack: stack.to_owned(),
            stage: stage.to_owned(),
            region: region.to_owned(),
            home_region: region.to_owned(),
            account_number: account_number.to_owned(),
        }
    }

    /// The same names for a stack whose image repository is in `home_region`.
    pub fn with_home_region(mut self, home_region: &str) -> Self {
        if !home_region.is_empty() {
            self.home_region = home_region.to_owned();
        }
        self
    }

    /// The stage's region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The stack's home region: where its image repository is.
    pub fn home_region(&self) -> &str {
        &self.home_region
    }

    /// The account number the names are for.
    pub fn account_number(&self) -> &str {
        &self.account_number
    }

    /// Whether the stage is outside the stack's home region (it then has a
    /// regional image repository too).
    pub fn is_regional(&self) -> bool {
        self.region != self.home_region
    }

    /// The stage's stack name (`stageline:stack` tag).
    pub fn stack(&self) -> &str {
        &self.stack
    }

    /// The stage's name (`stageline:stage` tag).
    pub fn stage(&self) -> &str {
        &self.stage
    }

    /// The CloudFormation stack: `<stack>-<stage>`.
    pub fn cloudformation_stack(&self) -> String {
        format!("{}-{}", self.stack, self.stage)
    }

    /// The ECS cluster's name.
    pub fn cluster(&self) -> String {
        self.cloudformation_stack()
    }

    /// The ECS service's name.
    pub fn service(&self) -> String {
        self.cloudformation_stack()
    }

    /// The task definition family.
    pub fn task_family(&self) -> String {
        self.cloudformation_stack()
    }

    /// The stack's ECR repository name, `stageline/<stack>`: one per stack
    /// (R3a), in its home region, and a repository of the same name in each
    /// other region a stage of the stack deploys to. None of them belongs to a
    /// stage's CloudFormation stack: they outlive every stage.
    pub fn repository(&self) -> String {
        repository_name(&self.stack)
    }

    /// The IAM role the stage's tasks run with (named, so parts know its ARN
    /// before the stack exists): `<stack>-<stage>-<region>-task`, shortened
    /// with a hash past IAM's 64 characters.
    pub fn task_role(&self) -> String {
        format!(
            "{}-{}-task",
            shorten(&self.cloudformation_stack(), 40),
            self.region
        )
    }

    /// The task role's ARN.
    pub fn task_role_arn(&self) -> String {
        format!(
            "arn:{}:iam::{}:role/{}",
            partition(&self.region),
            self.account_number,
            self.task_role()
        )
    }

    /// The IAM role the stage's build and release parts act as:
    /// `<stack>-<stage>-<region>-build`, shortened like the task role.
    pub fn build_role(&self) -> String {
        format!(
            "{}-{}-build",
            shorten(&self.cloudformation_stack(), 40),
            self.region
        )
    }

    /// The build role's ARN (under the `/stageline/` path).
    pub fn build_role_arn(&self) -> String {
        format!(
            "arn:{}:iam::{}:role/stageline/{}",
            partition(&self.region),
            self.account_number,
            self.build_role()
        )
    }

    /// The CloudWatch log group of the service's containers.
    pub fn log_group(&self) -> String {
        format!("/stageline/{}/{}", self.stack, self.stage)
    }

    /// The S3 bucket's name without the account number; the template appends
    /// `-${AWS::AccountId}` (bucket names are global).
    pub fn bucket_prefix(&self) -> String {
        format!(
            "{}-{}",
            shorten(&self.cloudformation_stack(), 35),
            self.region
        )
    }

    /// The S3 bucket release.yml may upload to: `<stack>-<stage>-<region>-<account>`
    /// (the first part shortened with a hash past 35 characters).
    pub fn bucket(&self) -> String {
        format!("{}-{}", self.bucket_prefix(), self.account_number)
    }

    /// The Secrets Manager secret holding a secret runtime variable's value.
    pub fn runtime_secret(&self, variable: &str) -> String {
        format!("stageline/{}/{}/{}", self.stack, self.stage, variable)
    }

    /// The ECR registry host of the account in `region`.
    pub fn registry(&self, region: &str) -> String {
        format!(
            "{}.dkr.ecr.{region}.{}",
            self.account_number,
            dns_suffix(region)
        )
    }

    /// The registry of the stack's image repository (home region).
    pub fn ecr_endpoint(&self) -> String {
        self.registry(&self.home_region)
    }

    /// The stack's image repository URL (home region), without a tag.
    pub fn image_url(&self) -> String {
        format!("{}/{}", self.ecr_endpoint(), self.repository())
    }

    /// The stage's regional registry, for a stage outside the home region.
    pub fn regional_ecr_endpoint(&self) -> Option<String> {
        self.is_regional().then(|| self.registry(&self.region))
    }

    /// The stage's regional image repository URL, for a stage outside the home region.
    pub fn regional_image_url(&self) -> Option<String> {
        self.regional_ecr_endpoint()
            .map(|registry| format!("{registry}/{}", self.repository()))
    }

    /// The ECS cluster's ARN.
    pub fn cluster_arn(&self) -> String {
        format!(
            "arn:{}:ecs:{}:{}:cluster/{}",
            partition(&self.region),
            self.region,
            self.account_number,
            self.cluster()
        )
    }

    /// What every part gets (R3a), with the parts' credentials and the
    /// account's endpoint.
    pub fn facts(&self, credentials: PartCredentials, endpoint_url: Option<String>) -> StageFacts {
        StageFacts {
            account_id: self.account_number.clone(),
            home_region: self.home_region.clone(),
            ecr_endpoint: self.ecr_endpoint(),
            ecr_image_url: self.image_url(),
            regional_ecr_endpoint: self.regional_ecr_endpoint(),
            regional_ecr_image_url: self.regional_image_url(),
            cluster_arn: self.cluster_arn(),
            service_name: self.service(),
            task_role_arn: self.task_role_arn(),
            s3_bucket: self.bucket(),
            endpoint_url,
            credentials,
        }
    }
}

/// The ECR repository name of stack `stack`: `stageline/<stack>`.
pub fn repository_name(stack: &str) -> String {
    format!("stageline/{}", ecr_component(stack))
}

/// The AWS partition a region belongs to.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("cn-") {
        "aws-cn"
    } else {
        "aws"
    }
}

fn dns_suffix(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    }
}

/// ECR allows single separators between lowercase alphanumerics only; stack
/// and stage names may hold `--` or end with `-`.
fn ecr_component(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c == '-' && (out.is_empty() || out.ends_with('-')) {
            continue;
        }
        out.push(c);
    }
    out.trim_end_matches('-').to_owned()
}

/// `name` if it fits in `max` characters, else a prefix plus a stable hash of
/// the whole, so two long names never shorten to the same text.
fn shorten(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_owned();
    }
    let keep = max - 9;
    let prefix = name[..keep].trim_end_matches('-');
    format!("{prefix}-{:08x}", fnv1a(name))
}

/// FNV-1a (32 bit): stable across builds and platforms, unlike std's hasher.
fn fnv1a(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_credentials() -> PartCredentials {
        PartCredentials {
            access_key_id: String::new(),
            secret_access_key: String::new(),
            session_token: None,
            description: String::new(),
            access: stageline_engine::domain::BuildAccess::AccountSession,
        }
    }

    #[test]
    fn names_derive_from_stack_stage_and_region() {
        let names = StageNames::new("shop", "dev", "eu-west-1", "123456789012");
        let facts = names.facts(no_credentials(), None);
        assert_eq!(names.cloudformation_stack(), "shop-dev");
        assert_eq!(
            facts.ecr_endpoint,
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            facts.ecr_image_url,
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/stageline/shop"
        );
        assert_eq!(facts.regional_ecr_image_url, None);
        assert_eq!(
            facts.cluster_arn,
            "arn:aws:ecs:eu-west-1:123456789012:cluster/shop-dev"
        );
        assert_eq!(facts.service_name, "shop-dev");
        assert_eq!(facts.s3_bucket, "shop-dev-eu-west-1-123456789012");
        assert_eq!(
            facts.task_role_arn,
            "arn:aws:iam::123456789012:role/shop-dev-eu-west-1-task"
        );
    }

    #[test]
    fn a_stage_outside_the_home_region_has_a_regional_repository_of_the_same_name() {
        let names = StageNames::new("shop", "prod", "us-west-2", "123456789012")
            .with_home_region("us-east-1");
        assert_eq!(
            names.image_url(),
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/stageline/shop"
        );
        assert_eq!(
            names.regional_image_url().as_deref(),
            Some("123456789012.dkr.ecr.us-west-2.amazonaws.com/stageline/shop")
        );
    }

    #[test]
    fn long_names_make_valid_distinct_role_names() {
        let one =
            StageNames::new(&"a".repeat(32), &"b".repeat(32), "ap-southeast-4", "1").task_role();
        let two =
            StageNames::new(&"a".repeat(32), &"c".repeat(32), "ap-southeast-4", "1").task_role();
        assert!(one.len() <= 64, "{one}");
        assert_ne!(one, two);
    }

    #[test]
    fn long_names_make_valid_distinct_bucket_names() {
        let stack = "a".repeat(32);
        let one =
            StageNames::new(&stack, &"b".repeat(32), "ap-southeast-4", "123456789012").bucket();
        let two = StageNames::new(
            &stack,
            &format!("{}c", "b".repeat(31)),
            "ap-southeast-4",
            "123456789012",
        )
        .bucket();
        assert!(one.len() <= 63, "{one}");
        assert_ne!(one, two);
    }

    #[test]
    fn repository_names_follow_ecr_rules() {
        let names = StageNames::new("my--shop-", "dev", "us-east-1", "123456789012");
        assert_eq!(names.repository(), "stageline/my-shop");
    }

    #[test]
    fn gov_regions_use_their_partition() {
        let names = StageNames::new("shop", "prod", "us-gov-west-1", "123456789012");
        assert!(names.cluster_arn().starts_with("arn:aws-us-gov:ecs:"));
    }
}
