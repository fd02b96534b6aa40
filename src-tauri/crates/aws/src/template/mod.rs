//! The stage's CloudFormation template, generated from its settings (pure: no
//! AWS call). Values that only the deploy knows (the image, the desired count,
//! the ARNs of secrets, an existing database's address) are template
//! parameters, so the same settings always give the same template. Secret
//! values never appear here: secrets are referenced by ARN.

mod database;
mod network;
mod routing;
mod service;

use serde_json::{json, Map, Value};
use stageline_engine::domain::{Database, EnvValue, EnvVar, Routing, Stack, Stage};
use stageline_engine::ports::ResolvedVar;

use crate::naming::{StageNames, PLACEHOLDER_ACCOUNT_NUMBER};

/// Parameter: the image the service runs.
pub const PARAM_IMAGE_URI: &str = "ImageUri";
/// Parameter: the service's desired task count.
pub const PARAM_DESIRED_COUNT: &str = "DesiredCount";
/// Parameter (only with secret variables): changes whenever a secret's value
/// does, so the service restarts its tasks with the new value.
pub const PARAM_SECRETS_VERSION: &str = "SecretsVersion";
/// Parameters of an existing RDS instance (R15), looked up by the deployer.
pub const PARAM_DATABASE_HOST: &str = "DatabaseHost";
/// See [`PARAM_DATABASE_HOST`].
pub const PARAM_DATABASE_PORT: &str = "DatabasePort";
/// See [`PARAM_DATABASE_HOST`].
pub const PARAM_DATABASE_NAME: &str = "DatabaseName";
/// See [`PARAM_DATABASE_HOST`]: the ARN of the instance's credentials secret.
pub const PARAM_DATABASE_SECRET_ARN: &str = "DatabaseSecretArn";
/// See [`PARAM_DATABASE_HOST`]: the instance's security group (the stage gets an ingress rule on it).
pub const PARAM_DATABASE_SECURITY_GROUP: &str = "DatabaseSecurityGroupId";

/// The stack output holding the stage's service URL (what verify checks).
pub(crate) const OUTPUT_SERVICE_URL: &str = "ServiceUrl";

pub use database::postgres_instance_class;
pub use network::{PARAM_SUBNET_IDS, PARAM_VPC_ID};

/// A runtime variable as the template sees it: a plain value, or a secret
/// whose ARN comes in as a parameter.
#[derive(Clone, PartialEq, Eq)]
pub struct RuntimeVar {
    pub name: String,
    /// `None` for a secret: its value lives in Secrets Manager.
    pub plain_value: Option<String>,
}

impl std::fmt::Debug for RuntimeVar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.plain_value {
            Some(value) => write!(f, "{}={}", self.name, value),
            None => write!(f, "{}=(secret)", self.name),
        }
    }
}

impl RuntimeVar {
    /// The variables of a stage's settings (secret values are not needed).
    pub fn from_settings(vars: &[EnvVar]) -> Vec<RuntimeVar> {
        vars.iter()
            .map(|var| RuntimeVar {
                name: var.name.clone(),
                plain_value: match &var.value {
                    EnvValue::Plain { value } => Some(value.clone()),
                    EnvValue::Secret { .. } | EnvValue::TeamSecret { .. } => None,
                },
            })
            .collect()
    }

    /// The variables of a deploy job; secret values are dropped here.
    pub fn from_resolved(vars: &[ResolvedVar]) -> Vec<RuntimeVar> {
        vars.iter()
            .map(|var| RuntimeVar {
                name: var.name.clone(),
                plain_value: (!var.secret).then(|| var.value.clone()),
            })
            .collect()
    }
}

/// The template parameter carrying the ARN of the `index`-th secret variable
/// (counted among secret variables only, from 1).
pub fn secret_arn_parameter(index: usize) -> String {
    format!("SecretArn{index}")
}

/// The names of the secret variables, in the order of their ARN parameters.
pub fn secret_variable_names(env: &[RuntimeVar]) -> Vec<&str> {
    env.iter()
        .filter(|v| v.plain_value.is_none())
        .map(|v| v.name.as_str())
        .collect()
}

/// The stage's CloudFormation template (JSON), for stage `stage` of `stack`
/// with the runtime variables `env`.
pub fn stage_template(stack: &Stack, stage: &Stage, env: &[RuntimeVar]) -> Value {
    let settings = &stage.settings;
    // The account number never reaches the template (it uses AWS::AccountId).
    let names = StageNames::new(
        &stack.name,
        &settings.name,
        &settings.region,
        PLACEHOLDER_ACCOUNT_NUMBER,
    )
    .with_home_region(&stack.home_region);
    let mut parameters = Map::new();
    let mut resources = Map::new();
    let mut outputs = Map::new();

    parameters.insert(
        PARAM_IMAGE_URI.into(),
        json!({ "Type": "String", "Description": "The container image the service runs." }),
    );
    parameters.insert(
        PARAM_DESIRED_COUNT.into(),
        json!({ "Type": "Number", "MinValue": 0, "MaxValue": 100, "Default": 1,
                "Description": "Running tasks; 0 stops the service." }),
    );
    let secret_names = secret_variable_names(env);
    if !secret_names.is_empty() {
        parameters.insert(
            PARAM_SECRETS_VERSION.into(),
            json!({ "Type": "String", "Default": "0", "Description": "Changes with any secret's value." }),
        );
    }
    for (index, name) in secret_names.iter().enumerate() {
        parameters.insert(
            secret_arn_parameter(index + 1),
            json!({ "Type": "String", "Description": format!("ARN of the Secrets Manager secret holding {name}.") }),
        );
    }

    // A stage whose database exists already runs in that database's VPC.
    let network = match settings.database {
        Database::ExistingRds { .. } => network::Network::existing(&mut parameters),
        _ => network::Network::own(),
    };
    network.add(&mut resources, &names, settings.container_port);
    let database = database::add(
        &mut parameters,
        &mut resources,
        &settings.database,
        &network,
        &settings.region,
    );
    let container_env = service::ContainerEnv::new(env, database, settings.container_port);
    service::add(
        &mut resources,
        &mut outputs,
        &names,
        settings,
        &network,
        &container_env,
    );
    let target = routing::Target {
        port: settings.container_port,
        health_path: &settings.health_path,
    };
    match settings.routing {
        Routing::LoadBalancer => {
            routing::add_load_balancer(&mut resources, &mut outputs, &network, &target)
        }
        Routing::ApiGateway => routing::add_api_gateway(
            &mut resources,
            &mut outputs,
            &names,
            &network,
            &target,
            settings.caching,
        ),
    }

    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!(
            "Stageline stage {} of stack {} ({}, {}).",
            settings.name,
            stack.name,
            routing_word(settings.routing),
            database_word(&settings.database)
        ),
        "Parameters": parameters,
        "Resources": resources,
        "Outputs": outputs,
    })
}

/// The template as pretty JSON, for the stage window's "view template / export".
pub fn template_text(stack: &Stack, stage: &Stage) -> String {
    let env = RuntimeVar::from_settings(&stage.settings.runtime_env);
    serde_json::to_string_pretty(&stage_template(stack, stage, &env))
        .expect("a JSON value always serializes")
}

fn routing_word(routing: Routing) -> &'static str {
    match routing {
        Routing::ApiGateway => "API Gateway",
        Routing::LoadBalancer => "Application Load Balancer",
    }
}

fn database_word(database: &Database) -> &'static str {
    match database {
        Database::None => "no database",
        Database::NewPostgres => "new Postgres",
        Database::ExistingRds { .. } => "existing RDS instance",
    }
}

/// `{ "Ref": name }`.
pub(crate) fn reference(name: &str) -> Value {
    json!({ "Ref": name })
}

/// `{ "Fn::GetAtt": [resource, attribute] }`.
pub(crate) fn attribute(resource: &str, name: &str) -> Value {
    json!({ "Fn::GetAtt": [resource, name] })
}

#[cfg(test)]
mod tests {
    use super::*;
    use stageline_engine::domain::{Database, Routing, StageLifecycle, StageSettings};
    use stageline_engine::ids::{AccountId, StackId, StageId};

    fn stack() -> Stack {
        Stack {
            id: StackId(1),
            name: "shop".into(),
            repository: "/repo".into(),
            branch: "main".into(),
            account_id: AccountId(1),
            poll_interval_secs: 60,
            created_at: 0,
            deleting: false,
            home_region: "us-east-1".into(),
            team: None,
        }
    }

    fn stage(routing: Routing, caching: bool, database: Database) -> Stage {
        Stage {
            id: StageId(1),
            stack_id: StackId(1),
            position: 0,
            settings: StageSettings {
                name: "dev".into(),
                region: "us-east-1".into(),
                database,
                requires_approval: false,
                routing,
                caching,
                build_env: vec![],
                runtime_env: vec![],
                desired_count: 2,
                container_port: 80,
                health_path: "/ping".into(),
                cpu_architecture: stageline_engine::domain::CpuArchitecture::Arm64,
                submodules_and_lfs: true,
                run_without_sandbox: false,
                verification: stageline_engine::Verification::legacy(),
                approval_expiry_hours:
                    stageline_engine::verification::DEFAULT_APPROVAL_EXPIRY_HOURS,
                deploy_window: None,
                approval_policy: Default::default(),
            },
            lifecycle: StageLifecycle::Active,
        }
    }

    #[test]
    fn secret_values_of_a_job_never_reach_the_template() {
        let resolved = vec![
            ResolvedVar {
                name: "MODE".into(),
                value: "fast".into(),
                secret: false,
            },
            ResolvedVar {
                name: "TOKEN".into(),
                value: "very-secret".into(),
                secret: true,
            },
        ];
        let env = RuntimeVar::from_resolved(&resolved);
        let template = stage_template(
            &stack(),
            &stage(Routing::LoadBalancer, false, Database::None),
            &env,
        );
        let text = template.to_string();
        assert!(!text.contains("very-secret"));
        let container =
            &template["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"][0];
        assert_eq!(
            container["Secrets"][0],
            json!({ "Name": "TOKEN", "ValueFrom": { "Ref": "SecretArn1" } })
        );
        assert!(container["Environment"]
            .as_array()
            .unwrap()
            .contains(&json!({ "Name": "MODE", "Value": "fast" })));
    }

    #[test]
    fn caching_turns_on_the_api_gateway_cache_cluster_for_reads_keyed_by_path() {
        let template = stage_template(
            &stack(),
            &stage(Routing::ApiGateway, true, Database::None),
            &[],
        );
        let api_stage = &template["Resources"]["ApiStage"]["Properties"];
        assert_eq!(api_stage["CacheClusterEnabled"], json!(true));
        assert_eq!(api_stage["StageName"], json!("dev"));
        let cached: Vec<&Value> = api_stage["MethodSettings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["CachingEnabled"] == json!(true))
            .map(|s| &s["HttpMethod"])
            .collect();
        assert_eq!(
            cached,
            [&json!("GET"), &json!("HEAD")],
            "writes are never cached"
        );
        let get = &template["Resources"]["ApiProxyGet"]["Properties"];
        assert_eq!(
            get["Integration"]["CacheKeyParameters"],
            json!(["method.request.path.proxy"])
        );
        assert!(
            template["Resources"]["ApiProxyMethod"]["Properties"]["Integration"]
                .get("CacheKeyParameters")
                .is_none()
        );
        let without = stage_template(
            &stack(),
            &stage(Routing::ApiGateway, false, Database::None),
            &[],
        );
        assert_eq!(
            without["Resources"]["ApiStage"]["Properties"]["CacheClusterEnabled"],
            json!(false)
        );
    }

    #[test]
    fn load_balancer_routing_has_no_api_gateway() {
        let template = stage_template(
            &stack(),
            &stage(Routing::LoadBalancer, false, Database::None),
            &[],
        );
        let resources = template["Resources"].as_object().unwrap();
        assert!(resources.contains_key("LoadBalancer") && resources.contains_key("Listener"));
        assert!(!resources
            .keys()
            .any(|k| k.starts_with("Api") || k == "RestApi"));
        assert_eq!(
            template["Resources"]["LoadBalancer"]["Properties"]["Type"],
            json!("application")
        );
    }

    #[test]
    fn database_variables_follow_the_database_setting() {
        let existing = Database::ExistingRds {
            identifier: "orders".into(),
        };
        let template = stage_template(
            &stack(),
            &stage(Routing::LoadBalancer, false, existing),
            &[],
        );
        let text = template.to_string();
        for name in [
            "PG_HOST",
            "PG_PORT",
            "PG_DATABASE",
            "PG_CREDENTIALS_SECRET",
            PARAM_DATABASE_SECRET_ARN,
        ] {
            assert!(text.contains(name), "{name}");
        }
        let none = stage_template(
            &stack(),
            &stage(Routing::LoadBalancer, false, Database::None),
            &[],
        )
        .to_string();
        assert!(!none.contains("PG_HOST"));
    }

    #[test]
    fn port_health_path_and_architecture_come_from_the_settings() {
        let template = stage_template(
            &stack(),
            &stage(Routing::ApiGateway, false, Database::None),
            &[],
        );
        let task = &template["Resources"]["TaskDefinition"]["Properties"];
        assert_eq!(task["RuntimePlatform"]["CpuArchitecture"], json!("ARM64"));
        assert_eq!(
            task["ContainerDefinitions"][0]["PortMappings"][0]["ContainerPort"],
            json!(80)
        );
        let group = &template["Resources"]["TargetGroup"]["Properties"];
        assert_eq!(group["Port"], json!(80));
        assert_eq!(group["HealthCheckPath"], json!("/ping"));
        assert_eq!(group["HealthCheckProtocol"], json!("HTTP"));
        assert_eq!(
            group["TargetGroupAttributes"][0],
            json!({ "Key": "deregistration_delay.timeout_seconds", "Value": "15" })
        );
        let resources = template["Resources"].as_object().unwrap();
        assert!(
            !resources.contains_key("Repository") && !resources.contains_key("Bucket"),
            "repositories and buckets exist before the stack and outlive it"
        );
    }

    #[test]
    fn an_existing_database_puts_the_stage_in_its_vpc_with_an_ingress_rule() {
        let existing = Database::ExistingRds {
            identifier: "orders".into(),
        };
        let template = stage_template(&stack(), &stage(Routing::ApiGateway, false, existing), &[]);
        let resources = template["Resources"].as_object().unwrap();
        assert!(!resources.contains_key("Vpc"));
        assert_eq!(
            template["Resources"]["Service"]["Properties"]["NetworkConfiguration"]
                ["AwsvpcConfiguration"]["Subnets"],
            json!({ "Ref": PARAM_SUBNET_IDS })
        );
        let ingress = &template["Resources"]["DatabaseIngress"]["Properties"];
        assert_eq!(
            ingress["GroupId"],
            json!({ "Ref": PARAM_DATABASE_SECURITY_GROUP })
        );
        assert!(template["Parameters"][PARAM_VPC_ID].is_object());
    }

    #[test]
    fn desired_count_and_image_are_parameters() {
        let template = stage_template(
            &stack(),
            &stage(Routing::ApiGateway, false, Database::None),
            &[],
        );
        let service = &template["Resources"]["Service"]["Properties"];
        assert_eq!(
            service["DesiredCount"],
            json!({ "Ref": PARAM_DESIRED_COUNT })
        );
        assert_eq!(service["ServiceName"], json!("shop-dev"));
        assert!(template["Parameters"][PARAM_IMAGE_URI].is_object());
    }
}
