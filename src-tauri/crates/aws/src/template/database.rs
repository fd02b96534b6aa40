//! The stage's database (R15): none, a new RDS Postgres instance whose
//! credentials are generated into a Secrets Manager secret, or an existing RDS
//! instance whose address and credentials secret the deployer looks up and
//! passes as parameters.

use serde_json::{json, Map, Value};
use stageline_engine::domain::Database;

use super::network::Network;
use super::{
    attribute, reference, PARAM_DATABASE_HOST, PARAM_DATABASE_NAME, PARAM_DATABASE_PORT,
    PARAM_DATABASE_SECRET_ARN, PARAM_DATABASE_SECURITY_GROUP,
};

/// The database name of a new Postgres instance.
pub const NEW_DATABASE_NAME: &str = "app";

/// How the container reaches its database: values for `PG_HOST`, `PG_PORT`,
/// `PG_DATABASE`, and the secret behind `PG_CREDENTIALS_SECRET`.
pub(super) struct DatabaseEnv {
    pub host: Value,
    pub port: Value,
    pub name: Value,
    pub secret_arn: Value,
}

pub(super) fn add(
    parameters: &mut Map<String, Value>,
    resources: &mut Map<String, Value>,
    database: &Database,
    network: &Network,
    region: &str,
) -> Option<DatabaseEnv> {
    match database {
        Database::None => None,
        Database::NewPostgres => Some(add_new_postgres(resources, network, region)),
        Database::ExistingRds { identifier } => {
            Some(add_existing(parameters, resources, network, identifier))
        }
    }
}

/// An existing instance: its address comes in as parameters, and the stage
/// (placed in the instance's VPC) gets in through an ingress rule on the
/// instance's security group, removed with the stage's stack.
fn add_existing(
    parameters: &mut Map<String, Value>,
    resources: &mut Map<String, Value>,
    network: &Network,
    identifier: &str,
) -> DatabaseEnv {
    let described = [
        (PARAM_DATABASE_HOST, "String", "endpoint address"),
        (PARAM_DATABASE_PORT, "Number", "port"),
        (PARAM_DATABASE_NAME, "String", "database name"),
        (
            PARAM_DATABASE_SECRET_ARN,
            "String",
            "master credentials secret ARN",
        ),
        (
            PARAM_DATABASE_SECURITY_GROUP,
            "AWS::EC2::SecurityGroup::Id",
            "security group",
        ),
    ];
    for (name, kind, what) in described {
        parameters.insert(
            name.into(),
            json!({ "Type": kind, "Description": format!("The {what} of the RDS instance {identifier}.") }),
        );
    }
    resources.insert(
        "DatabaseIngress".into(),
        json!({
            "Type": "AWS::EC2::SecurityGroupIngress",
            "Properties": {
                "Description": "The stage's tasks reach the database",
                "GroupId": reference(PARAM_DATABASE_SECURITY_GROUP),
                "IpProtocol": "tcp",
                "FromPort": reference(PARAM_DATABASE_PORT),
                "ToPort": reference(PARAM_DATABASE_PORT),
                "SourceSecurityGroupId": network.service_security_group(),
            }
        }),
    );
    DatabaseEnv {
        host: reference(PARAM_DATABASE_HOST),
        port: json!({ "Fn::Sub": format!("${{{PARAM_DATABASE_PORT}}}") }),
        name: reference(PARAM_DATABASE_NAME),
        secret_arn: reference(PARAM_DATABASE_SECRET_ARN),
    }
}

/// The smallest Postgres instance class RDS offers in `region`: Graviton
/// (`db.t4g.micro`) where it exists, else `db.t3.micro`.
pub fn postgres_instance_class(region: &str) -> &'static str {
    if REGIONS_WITHOUT_T4G.contains(&region) {
        "db.t3.micro"
    } else {
        "db.t4g.micro"
    }
}

/// Regions where RDS does not offer `db.t4g.micro` for Postgres.
const REGIONS_WITHOUT_T4G: &[&str] = &["ca-west-1"];

fn add_new_postgres(
    resources: &mut Map<String, Value>,
    network: &Network,
    region: &str,
) -> DatabaseEnv {
    resources.insert(
        "DatabaseSecret".into(),
        json!({
            "Type": "AWS::SecretsManager::Secret",
            "Properties": {
                "Description": "Master credentials of the Postgres database of the stage",
                "GenerateSecretString": {
                    "SecretStringTemplate": "{\"username\":\"stageline\"}",
                    "GenerateStringKey": "password",
                    "PasswordLength": 32,
                    "ExcludeCharacters": "\"@/\\'` ",
                },
            }
        }),
    );
    resources.insert(
        "DatabaseSubnets".into(),
        json!({
            "Type": "AWS::RDS::DBSubnetGroup",
            "Properties": {
                "DBSubnetGroupDescription": "The subnets of the stage",
                "SubnetIds": network.subnets(),
            }
        }),
    );
    resources.insert(
        "DatabaseSecurityGroup".into(),
        json!({
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {
                "GroupDescription": "Postgres, from the tasks of the stage only",
                "VpcId": network.vpc(),
                "SecurityGroupIngress": [{
                    "IpProtocol": "tcp",
                    "FromPort": 5432,
                    "ToPort": 5432,
                    "SourceSecurityGroupId": network.service_security_group(),
                }],
            }
        }),
    );
    // Dynamic references: CloudFormation reads the generated credentials at
    // deploy time; they never pass through the template or its parameters.
    let resolve = |key: &str| json!({ "Fn::Sub": format!("{{{{resolve:secretsmanager:${{DatabaseSecret}}:SecretString:{key}}}}}") });
    resources.insert(
        "Database".into(),
        json!({
            "Type": "AWS::RDS::DBInstance",
            "DeletionPolicy": "Snapshot",
            "UpdateReplacePolicy": "Snapshot",
            "Properties": {
                "Engine": "postgres",
                "DBInstanceClass": postgres_instance_class(region),
                "AllocatedStorage": "20",
                "StorageType": "gp3",
                "StorageEncrypted": true,
                "DBName": NEW_DATABASE_NAME,
                "MasterUsername": resolve("username"),
                "MasterUserPassword": resolve("password"),
                "DBSubnetGroupName": reference("DatabaseSubnets"),
                "VPCSecurityGroups": [attribute("DatabaseSecurityGroup", "GroupId")],
                "PubliclyAccessible": false,
                "BackupRetentionPeriod": 7,
            }
        }),
    );
    // Adds host, port and engine to the secret, so the one secret describes
    // the whole connection.
    resources.insert(
        "DatabaseSecretAttachment".into(),
        json!({
            "Type": "AWS::SecretsManager::SecretTargetAttachment",
            "Properties": {
                "SecretId": reference("DatabaseSecret"),
                "TargetId": reference("Database"),
                "TargetType": "AWS::RDS::DBInstance",
            }
        }),
    );
    DatabaseEnv {
        host: attribute("Database", "Endpoint.Address"),
        port: attribute("Database", "Endpoint.Port"),
        name: Value::String(NEW_DATABASE_NAME.into()),
        secret_arn: reference("DatabaseSecret"),
    }
}
