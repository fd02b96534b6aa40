//! Every AWS name of a stage, derived from the stack, stage and region names
//! alone, so release.yml's variables (R3) and the template's resources agree
//! without asking AWS.

use stageline_engine::ports::StageFacts;

/// The account number used in ARNs and the ECR endpoint until the real one
/// is known (see `CloudFormationDeployer::learn_account_number`).
pub const PLACEHOLDER_ACCOUNT_NUMBER: &str = "000000000000";

/// The port the app's container listens on; Stageline sets `PORT` to it.
pub const CONTAINER_PORT: u16 = 8080;

/// The names of one stage's resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageNames {
    stack: String,
    stage: String,
    region: String,
    account_number: String,
}

impl StageNames {
    /// The names of stage `stage` of stack `stack` in `region`, for the AWS
    /// account `account_number` (12 digits).
    pub fn new(stack: &str, stage: &str, region: &str, account_number: &str) -> Self {
        StageNames {
            stack: stack.to_owned(),
            stage: stage.to_owned(),
            region: region.to_owned(),
            account_number: account_number.to_owned(),
        }
    }

    /// The stage's region.
    pub fn region(&self) -> &str {
        &self.region
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

    /// The stage's own ECR repository, `<stack>/<stage>`. One per stage rather
    /// than one per region: two stages in one region would otherwise both
    /// create the same repository in their own CloudFormation stacks.
    pub fn repository(&self) -> String {
        format!(
            "{}/{}",
            ecr_component(&self.stack),
            ecr_component(&self.stage)
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

    /// The ECR registry host of the account in the stage's region.
    pub fn ecr_endpoint(&self) -> String {
        format!(
            "{}.dkr.ecr.{}.{}",
            self.account_number,
            self.region,
            dns_suffix(&self.region)
        )
    }

    /// The stage's image repository URL, without a tag.
    pub fn image_url(&self) -> String {
        format!("{}/{}", self.ecr_endpoint(), self.repository())
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

    /// What release.yml gets (R3).
    pub fn facts(&self) -> StageFacts {
        StageFacts {
            ecr_endpoint: self.ecr_endpoint(),
            ecr_image_url: self.image_url(),
            cluster_arn: self.cluster_arn(),
            service_name: self.service(),
            s3_bucket: self.bucket(),
        }
    }
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

    #[test]
    fn names_derive_from_stack_stage_and_region() {
        let names = StageNames::new("shop", "dev", "eu-west-1", "123456789012");
        let facts = names.facts();
        assert_eq!(names.cloudformation_stack(), "shop-dev");
        assert_eq!(
            facts.ecr_endpoint,
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            facts.ecr_image_url,
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/dev"
        );
        assert_eq!(
            facts.cluster_arn,
            "arn:aws:ecs:eu-west-1:123456789012:cluster/shop-dev"
        );
        assert_eq!(facts.service_name, "shop-dev");
        assert_eq!(facts.s3_bucket, "shop-dev-eu-west-1-123456789012");
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
        assert_eq!(names.repository(), "my-shop/dev");
    }

    #[test]
    fn gov_regions_use_their_partition() {
        let names = StageNames::new("shop", "prod", "us-gov-west-1", "123456789012");
        assert!(names.cluster_arn().starts_with("arn:aws-us-gov:ecs:"));
    }
}
