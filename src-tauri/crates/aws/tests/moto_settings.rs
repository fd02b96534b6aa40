//! Deploys against a real moto server over HTTP, about what a stage uses:
//! an existing or new database, secrets, reconcile after a restart, the
//! approval preview, and the account's credentials.

mod support;

use std::sync::Arc;

use stageline_aws::{CloudFormationDeployer, TAG_RELEASE};
use stageline_engine::domain::Database;
use stageline_engine::ports::{DeployOutcome, DeployedState, Deployer};
use support::*;

/// A VPC with two subnets, a security group and a DB subnet group in
/// `region` (made through CloudFormation, as a user's own infrastructure
/// would be): (vpc, subnets, security group, subnet group name).
async fn database_network(
    url: &str,
    region: &str,
    name: &str,
) -> (String, Vec<String>, String, String) {
    let template = serde_json::json!({
        "Resources": {
            "Vpc": { "Type": "AWS::EC2::VPC", "Properties": { "CidrBlock": "10.9.0.0/16" } },
            "A": { "Type": "AWS::EC2::Subnet", "Properties": { "VpcId": { "Ref": "Vpc" }, "CidrBlock": "10.9.0.0/24", "AvailabilityZone": format!("{region}a") } },
            "B": { "Type": "AWS::EC2::Subnet", "Properties": { "VpcId": { "Ref": "Vpc" }, "CidrBlock": "10.9.1.0/24", "AvailabilityZone": format!("{region}b") } },
            "Group": { "Type": "AWS::EC2::SecurityGroup", "Properties": { "GroupDescription": "db", "VpcId": { "Ref": "Vpc" } } },
        },
        "Outputs": {
            "Vpc": { "Value": { "Ref": "Vpc" } },
            "A": { "Value": { "Ref": "A" } },
            "B": { "Value": { "Ref": "B" } },
            "Group": { "Value": { "Fn::GetAtt": ["Group", "GroupId"] } },
        }
    });
    let cfn = aws_sdk_cloudformation::Client::new(&sdk_config(url, region).await);
    cfn.create_stack()
        .stack_name(name)
        .template_body(template.to_string())
        .send()
        .await
        .unwrap();
    let described = cfn.describe_stacks().stack_name(name).send().await.unwrap();
    let output = |key: &str| {
        described.stacks()[0]
            .outputs()
            .iter()
            .find(|o| o.output_key() == Some(key))
            .and_then(|o| o.output_value())
            .unwrap()
            .to_owned()
    };
    let subnets = vec![output("A"), output("B")];
    let rds = aws_sdk_rds::Client::new(&sdk_config(url, region).await);
    rds.create_db_subnet_group()
        .db_subnet_group_name(name)
        .db_subnet_group_description("db")
        .set_subnet_ids(Some(subnets.clone()))
        .send()
        .await
        .unwrap();
    (output("Vpc"), subnets, output("Group"), name.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_rds_instance_puts_the_stage_in_its_vpc_and_lets_it_in() {
    let url = moto_url();
    let deployer = deployer();
    let account = account(&url);
    let stack = unique_stack("rds");
    let identifier = format!("{}-db", stack.name);
    let (vpc, subnets, group, subnet_group) =
        database_network(&url, "us-east-2", &format!("{}-network", stack.name)).await;
    let rds = aws_sdk_rds::Client::new(&sdk_config(&url, "us-east-2").await);
    let created = rds
        .create_db_instance()
        .db_instance_identifier(&identifier)
        .db_instance_class("db.t4g.micro")
        .engine("postgres")
        .db_name("orders")
        .master_username("owner")
        .manage_master_user_password(true)
        .allocated_storage(20)
        .db_subnet_group_name(&subnet_group)
        .vpc_security_group_ids(&group)
        .send()
        .await
        .unwrap();
    let instance = created.db_instance().unwrap();
    let secret_arn = instance
        .master_user_secret()
        .and_then(|s| s.secret_arn())
        .unwrap()
        .to_owned();
    let host = instance
        .endpoint()
        .and_then(|e| e.address())
        .unwrap()
        .to_owned();
    let mut settings = settings("dev", "us-east-2");
    settings.database = Database::ExistingRds { identifier };
    let stage = stage(&stack, settings);
    let release = release(&stack, 1, &sha("h1"));

    deployer
        .deploy(
            job(&account, &stack, &stage, &release, &[]),
            Arc::new(KeptLog::default()),
        )
        .await
        .unwrap();

    let name = format!("{}-dev", stack.name);
    let parameter = |key: &'static str| {
        let url = url.clone();
        let name = name.clone();
        async move { stack_parameter(&url, "us-east-2", &name, key).await }
    };
    assert_eq!(parameter("DatabaseHost").await, Some(host));
    assert_eq!(parameter("DatabaseName").await.as_deref(), Some("orders"));
    assert_eq!(parameter("DatabaseSecretArn").await, Some(secret_arn));
    assert_eq!(parameter("VpcId").await, Some(vpc));
    // AWS answers "a,b"; moto shows the list as Python writes it: both hold the ids.
    let subnet_ids = parameter("SubnetIds").await.unwrap();
    assert!(
        subnets.iter().all(|s| subnet_ids.contains(s.as_str())),
        "{subnet_ids}"
    );
    assert_eq!(parameter("DatabaseSecurityGroupId").await, Some(group));
    let cfn = aws_sdk_cloudformation::Client::new(&sdk_config(&url, "us-east-2").await);
    let resources = cfn
        .list_stack_resources()
        .stack_name(&name)
        .send()
        .await
        .unwrap();
    let ids: Vec<&str> = resources
        .stack_resource_summaries()
        .iter()
        .filter_map(|r| r.logical_resource_id())
        .collect();
    assert!(ids.contains(&"DatabaseIngress"), "{ids:?}");
    assert!(!ids.contains(&"Vpc"), "no VPC of its own: {ids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rds_instance_outside_a_vpc_is_refused_with_the_reason() {
    let url = moto_url();
    let deployer = deployer();
    let stack = unique_stack("rds-classic");
    let identifier = format!("{}-db", stack.name);
    let rds = aws_sdk_rds::Client::new(&sdk_config(&url, "us-east-1").await);
    rds.create_db_instance()
        .db_instance_identifier(&identifier)
        .db_instance_class("db.t4g.micro")
        .engine("postgres")
        .master_username("owner")
        .manage_master_user_password(true)
        .allocated_storage(20)
        .send()
        .await
        .unwrap();
    let mut settings = settings("dev", "us-east-1");
    settings.database = Database::ExistingRds { identifier };
    let stage = stage(&stack, settings);
    let release = release(&stack, 1, &sha("h2"));

    let error = deployer
        .deploy(
            job(&account(&url), &stack, &stage, &release, &[]),
            Arc::new(KeptLog::default()),
        )
        .await
        .unwrap_err();
    assert!(error.message.contains("not in a VPC"), "{}", error.message);
    assert_eq!(
        stack_status(&url, "us-east-1", &format!("{}-dev", stack.name)).await,
        None,
        "nothing created"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_rds_instance_fails_the_deploy_with_its_name() {
    let url = moto_url();
    let deployer = deployer();
    let stack = unique_stack("rds-missing");
    let mut settings = settings("dev", "us-east-1");
    settings.database = Database::ExistingRds {
        identifier: "nowhere-db".into(),
    };
    let stage = stage(&stack, settings);
    let release = release(&stack, 1, &sha("i1"));

    let error = deployer
        .deploy(
            job(&account(&url), &stack, &stage, &release, &[]),
            Arc::new(KeptLog::default()),
        )
        .await
        .unwrap_err();

    assert!(
        error
            .message
            .contains("There is no RDS instance \"nowhere-db\""),
        "{}",
        error.message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_values_reach_secrets_manager_only() {
    let url = moto_url();
    let deployer = deployer();
    let account = account(&url);
    let stack = unique_stack("secrets");
    let mut settings = settings("dev", "us-east-1");
    settings.runtime_env = vec![plain_var("MODE", "fast"), secret_var("API_TOKEN")];
    let stage = stage(&stack, settings);
    let release = release(&stack, 1, &sha("j1"));
    let log = Arc::new(KeptLog::default());
    let secret_value = "s3cr3t-value-never-shown";

    deployer
        .deploy(
            job(
                &account,
                &stack,
                &stage,
                &release,
                &[("API_TOKEN", secret_value)],
            ),
            log.clone(),
        )
        .await
        .unwrap();

    let config = sdk_config(&url, "us-east-1").await;
    let name = format!("{}-dev", stack.name);
    let cfn = aws_sdk_cloudformation::Client::new(&config);
    let template = cfn.get_template().stack_name(&name).send().await.unwrap();
    let body = template.template_body().unwrap().to_owned();
    assert!(!body.contains(secret_value));
    assert!(
        body.contains("\"ValueFrom\""),
        "the variable is a Secrets entry"
    );
    let described = cfn
        .describe_stacks()
        .stack_name(&name)
        .send()
        .await
        .unwrap();
    let parameters = format!("{:?}", described.stacks()[0].parameters());
    assert!(!parameters.contains(secret_value), "{parameters}");
    assert!(!log.text().contains(secret_value));
    let secrets = aws_sdk_secretsmanager::Client::new(&config);
    let stored = secrets
        .get_secret_value()
        .secret_id(format!("stageline/{}/dev/API_TOKEN", stack.name))
        .send()
        .await
        .unwrap();
    assert_eq!(stored.secret_string(), Some(secret_value));
    assert_eq!(
        stack_parameter(&url, "us-east-1", &name, "SecretArn1")
            .await
            .as_deref(),
        stored.arn()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_tells_deployed_from_never_deployed() {
    let url = moto_url();
    let deployer = deployer();
    let account = account(&url);
    let stack = unique_stack("reconcile");
    let stage = stage(&stack, settings("dev", "us-east-1"));
    let deployed = release(&stack, 1, &sha("k1"));
    let later = release(&stack, 2, &sha("k2"));
    let log = Arc::new(KeptLog::default());
    assert_eq!(
        deployer
            .reconcile(job(&account, &stack, &stage, &deployed, &[]), log.clone())
            .await
            .unwrap(),
        DeployedState::NotDeployed,
        "no stack yet"
    );
    deployer
        .deploy(job(&account, &stack, &stage, &deployed, &[]), log.clone())
        .await
        .unwrap();

    let of_deployed = deployer
        .reconcile(job(&account, &stack, &stage, &deployed, &[]), log.clone())
        .await
        .unwrap();
    let of_later = deployer
        .reconcile(job(&account, &stack, &stage, &later, &[]), log.clone())
        .await
        .unwrap();

    assert_eq!(of_deployed, DeployedState::Deployed);
    assert_eq!(of_later, DeployedState::NotDeployed);
    let cfn = aws_sdk_cloudformation::Client::new(&sdk_config(&url, "us-east-1").await);
    let described = cfn
        .describe_stacks()
        .stack_name(format!("{}-dev", stack.name))
        .send()
        .await
        .unwrap();
    let tag = described.stacks()[0]
        .tags()
        .iter()
        .find(|t| t.key() == Some(TAG_RELEASE))
        .unwrap()
        .value()
        .unwrap()
        .to_owned();
    assert_eq!(tag, format!("1/{}", &deployed.commit.sha[..7]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_of_a_new_stage_lists_resources_and_leaves_nothing_behind() {
    let url = moto_url();
    let deployer = deployer();
    let account = account(&url);
    let stack = unique_stack("preview");
    let stage = stage(&stack, settings("dev", "us-east-1"));
    let release = release(&stack, 1, &sha("l1"));

    let summary = deployer
        .preview(
            job(&account, &stack, &stage, &release, &[]),
            Arc::new(KeptLog::default()),
        )
        .await
        .unwrap();

    assert!(summary.creates_stack);
    assert!(
        summary.changes.iter().all(|c| c.action == "Add"),
        "{:?}",
        summary.changes
    );
    assert_eq!(
        stack_status(&url, "us-east-1", &format!("{}-dev", stack.name)).await,
        None,
        "nothing left behind"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_accounts_read_their_keys_from_the_named_profile() {
    let url = moto_url();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    let credentials = dir.path().join("credentials");
    std::fs::write(&config, "[profile team]\nregion = us-east-1\n").unwrap();
    std::fs::write(
        &credentials,
        "[team]\naws_access_key_id = AKIAPROFILE\naws_secret_access_key = profile-secret\n",
    )
    .unwrap();
    let mut options = test_options();
    options.profile_files = Some(stageline_aws::ProfileFilePaths {
        config,
        credentials,
    });
    let deployer = CloudFormationDeployer::new(Arc::new(FixedKeys), options);
    let mut account = account(&url);
    account.credentials = stageline_engine::domain::CredentialSource::Profile {
        profile: "team".into(),
    };

    let number = deployer
        .learn_account_number(account.clone())
        .await
        .unwrap();
    assert_eq!(number, "123456789012");

    account.credentials = stageline_engine::domain::CredentialSource::Profile {
        profile: "absent".into(),
    };
    account.id.0 = 2;
    let error = deployer.learn_account_number(account).await.unwrap_err();
    assert!(!error.message.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keychain_without_keys_fails_with_a_clear_message() {
    struct NoKeys;
    impl stageline_aws::CredentialsLookup for NoKeys {
        fn credentials(
            &self,
            _account: &stageline_engine::domain::Account,
        ) -> stageline_engine::ports::BoxFuture<
            'static,
            Result<Option<stageline_aws::AwsCredentials>, stageline_engine::PortError>,
        > {
            Box::pin(async { Ok(None) })
        }
    }
    let deployer = CloudFormationDeployer::new(Arc::new(NoKeys), test_options());

    let error = deployer
        .learn_account_number(account(&moto_url()))
        .await
        .unwrap_err();

    assert!(
        error
            .message
            .contains("the keychain holds no AWS keys for account \"test\""),
        "{}",
        error.message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_postgres_gets_generated_credentials_by_dynamic_reference() {
    let url = moto_url();
    let deployer = deployer();
    let account = account(&url);
    let stack = unique_stack("pg");
    let mut settings = settings("dev", "us-east-1");
    settings.database = Database::NewPostgres;
    let stage = stage(&stack, settings);
    let release = release(&stack, 1, &sha("v1"));

    let outcome = deployer
        .deploy(
            job(&account, &stack, &stage, &release, &[]),
            Arc::new(KeptLog::default()),
        )
        .await
        .unwrap();

    assert_eq!(outcome, DeployOutcome::Deployed);
    let cfn = aws_sdk_cloudformation::Client::new(&sdk_config(&url, "us-east-1").await);
    let name = format!("{}-dev", stack.name);
    let resources = cfn
        .list_stack_resources()
        .stack_name(&name)
        .send()
        .await
        .unwrap();
    let types: Vec<&str> = resources
        .stack_resource_summaries()
        .iter()
        .filter_map(|r| r.resource_type())
        .collect();
    assert!(types.contains(&"AWS::RDS::DBInstance"), "{types:?}");
    // moto lists the generated secret without type or logical id: the
    // template is checked instead.
    let body = cfn
        .get_template()
        .stack_name(&name)
        .send()
        .await
        .unwrap()
        .template_body()
        .unwrap()
        .to_owned();
    assert!(body.contains("{{resolve:secretsmanager:${DatabaseSecret}:SecretString:password}}"));
    assert!(body.contains("PG_CREDENTIALS_SECRET") && body.contains("PG_HOST"));
}
