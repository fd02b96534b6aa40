//! What a deploy needs from AWS besides CloudFormation: the account number,
//! secret runtime variables stored in Secrets Manager, and an existing RDS
//! instance's address and credentials secret.

use anyhow::{anyhow, bail};
use aws_sdk_secretsmanager::types::Filter;

use crate::clients::RegionClients;
use crate::errors::{error_code, SdkResultExt};

/// The 12-digit number of the account the clients' credentials belong to.
pub(crate) async fn account_number(clients: &RegionClients) -> anyhow::Result<String> {
    let identity = clients
        .sts
        .get_caller_identity()
        .send()
        .await
        .aws(|| "Could not find out which AWS account the credentials belong to".to_owned())?;
    identity
        .account()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("AWS did not say which account the credentials belong to"))
}

/// A secret runtime variable once stored: its ARN and current version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredSecret {
    pub arn: String,
    pub version_id: String,
}

/// Stores `value` in the secret `name`, creating it if needed. A value equal
/// to the stored one makes no new version, so an unchanged stage stays an
/// empty change set.
pub(crate) async fn store_secret(
    clients: &RegionClients,
    name: &str,
    value: &str,
) -> anyhow::Result<StoredSecret> {
    let client = &clients.secrets;
    let current = client.get_secret_value().secret_id(name).send().await;
    match current {
        Ok(current) => {
            let arn = current.arn().unwrap_or(name).to_owned();
            if current.secret_string() == Some(value) {
                let version_id = current.version_id().unwrap_or_default().to_owned();
                return Ok(StoredSecret { arn, version_id });
            }
            let put = client
                .put_secret_value()
                .secret_id(&arn)
                .secret_string(value)
                .send()
                .await
                .aws(|| format!("Could not store the secret {name} in Secrets Manager"))?;
            Ok(StoredSecret {
                arn: put.arn().unwrap_or(&arn).to_owned(),
                version_id: put.version_id().unwrap_or_default().to_owned(),
            })
        }
        Err(error) if error_code(&error) == Some("ResourceNotFoundException") => {
            let created = client
                .create_secret()
                .name(name)
                .description("A secret runtime variable of a Stageline stage")
                .secret_string(value)
                .send()
                .await
                .aws(|| format!("Could not create the secret {name} in Secrets Manager"))?;
            Ok(StoredSecret {
                arn: created.arn().unwrap_or(name).to_owned(),
                version_id: created.version_id().unwrap_or_default().to_owned(),
            })
        }
        Err(error) => {
            Err(error).aws(|| format!("Could not read the secret {name} in Secrets Manager"))
        }
    }
}

/// The value of the secret `arn` (a team stack's, R22), read in the ARN's
/// region.
pub(crate) async fn read_secret(clients: &RegionClients, arn: &str) -> anyhow::Result<String> {
    let value = clients
        .secrets
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .aws(|| format!("Could not read the secret {arn} in Secrets Manager"))?;
    value
        .secret_string()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("The secret {arn} holds no text value"))
}

/// The region of a Secrets Manager ARN (`arn:aws:secretsmanager:<region>:…`).
pub(crate) fn secret_region(arn: &str) -> anyhow::Result<&str> {
    match arn.split(':').collect::<Vec<_>>().as_slice() {
        ["arn", _, "secretsmanager", region, _, "secret", ..] if !region.is_empty() => Ok(region),
        _ => bail!("{arn} is not the ARN of a Secrets Manager secret"),
    }
}

/// Deletes, without a recovery window, every secret whose name starts with
/// `prefix` (the keychain still holds the values).
pub(crate) async fn delete_secrets(clients: &RegionClients, prefix: &str) -> anyhow::Result<usize> {
    let client = &clients.secrets;
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = client
            .list_secrets()
            .filters(Filter::builder().key("name".into()).values(prefix).build())
            .set_next_token(token.clone())
            .send()
            .await
            .aws(|| "Could not list the stage's secrets in Secrets Manager".to_owned())?;
        names.extend(
            page.secret_list()
                .iter()
                .filter_map(|s| s.name())
                .filter(|n| n.starts_with(prefix))
                .map(str::to_owned),
        );
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    for name in &names {
        client
            .delete_secret()
            .secret_id(name)
            .force_delete_without_recovery(true)
            .send()
            .await
            .aws(|| format!("Could not delete the secret {name} from Secrets Manager"))?;
    }
    Ok(names.len())
}

/// An existing RDS instance as the app reaches it, and where it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExistingDatabase {
    pub host: String,
    pub port: String,
    pub name: String,
    pub secret_arn: String,
    pub vpc_id: String,
    pub subnet_ids: Vec<String>,
    pub security_group_id: String,
}

/// Looks up the RDS instance `identifier` in the clients' region.
pub(crate) async fn existing_database(
    clients: &RegionClients,
    identifier: &str,
) -> anyhow::Result<ExistingDatabase> {
    let result = clients
        .rds
        .describe_db_instances()
        .db_instance_identifier(identifier)
        .send()
        .await;
    let output = match result {
        Err(error) if error_code(&error) == Some("DBInstanceNotFound") => {
            bail!("There is no RDS instance \"{identifier}\" in this stage's region")
        }
        other => other.aws(|| format!("Could not look up the RDS instance {identifier}"))?,
    };
    let instance = output.db_instances().first().ok_or_else(|| {
        anyhow!("There is no RDS instance \"{identifier}\" in this stage's region")
    })?;
    let status = instance.db_instance_status().unwrap_or("unknown");
    let endpoint = instance
        .endpoint()
        .and_then(|e| e.address().map(|address| (address.to_owned(), e.port())))
        .ok_or_else(|| {
            anyhow!("The RDS instance {identifier} has no address yet (it is {status})")
        })?;
    let secret_arn = instance
        .master_user_secret()
        .and_then(|s| s.secret_arn())
        .ok_or_else(|| {
            anyhow!(
                "The RDS instance {identifier} does not keep its master credentials in Secrets Manager; \
                 turn on \"Manage master credentials in AWS Secrets Manager\" for it"
            )
        })?
        .to_owned();
    // The stage runs in the instance's VPC and subnets (a load balancer
    // needs two availability zones; an RDS subnet group always spans two).
    let group = instance.db_subnet_group();
    let vpc_id = group
        .and_then(|g| g.vpc_id())
        .ok_or_else(|| {
            anyhow!("The RDS instance {identifier} is not in a VPC, so a stage cannot reach it")
        })?
        .to_owned();
    let subnet_ids: Vec<String> = group
        .map(|g| g.subnets())
        .unwrap_or_default()
        .iter()
        .filter_map(|s| s.subnet_identifier())
        .map(str::to_owned)
        .collect();
    if subnet_ids.len() < 2 {
        bail!(
            "The RDS instance {identifier}'s subnet group has {} subnet(s); the stage's load \
             balancer needs subnets in two availability zones",
            subnet_ids.len()
        );
    }
    let security_group_id = instance
        .vpc_security_groups()
        .iter()
        .find(|g| g.status() == Some("active"))
        .or_else(|| instance.vpc_security_groups().first())
        .and_then(|g| g.vpc_security_group_id())
        .ok_or_else(|| {
            anyhow!("The RDS instance {identifier} has no VPC security group to let the stage in through")
        })?
        .to_owned();
    Ok(ExistingDatabase {
        host: endpoint.0,
        port: endpoint.1.unwrap_or(5432).to_string(),
        name: instance.db_name().unwrap_or("postgres").to_owned(),
        secret_arn,
        vpc_id,
        subnet_ids,
        security_group_id,
    })
}
