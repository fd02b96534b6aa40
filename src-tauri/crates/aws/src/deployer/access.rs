//! What a stage needs before its first part, and the AWS rights each part
//! runs with: the stage's bootstrap (image repository, bucket, build role)
//! and the build role's short-lived credentials.

use super::*;

impl Inner {
    pub(super) async fn prepare_stage(
        &self,
        account: Account,
        stack: Stack,
        stage: Stage,
        release: Release,
        log: Arc<dyn LogSink>,
    ) -> Result<StageFacts, PortError> {
        let (stage_clients, names) = self.open(&account, &stack, &stage).await?;
        let home = self.clients.get(&account, names.home_region()).await;
        let repository = names.repository();
        let mut repositories = vec![(&home, names.home_region())];
        if names.is_regional() {
            repositories.push((&stage_clients, names.region()));
        }
        for (clients, region) in repositories {
            if bootstrap::ensure_repository(clients, &repository, &stack.name)
                .await
                .map_err(to_port_error)?
            {
                log.line(&format!(
                    "[Stageline] Created the image repository {repository} in {region}"
                ));
            }
        }
        let bucket = names.bucket();
        if bootstrap::ensure_bucket(&stage_clients, &bucket, names.region())
            .await
            .map_err(to_port_error)?
        {
            log.line(&format!(
                "[Stageline] Created the stage's bucket {bucket} in {}",
                names.region()
            ));
        }
        let session = build_role::session_name(&stack.name, &stage.settings.name, &release);
        let credentials = match self
            .build_role_credentials(&account, &home, &names, &session, log.as_ref())
            .await
            .map_err(to_port_error)?
        {
            Ok(credentials) => credentials,
            Err(Refused(reason)) => {
                log.line(&format!(
                    "[Stageline] No build role for this stage: {reason}. Its parts get session \
                     credentials of the account instead, with all of the account's rights (the \
                     stage is marked \"account credentials\"). Let the account create IAM roles \
                     (iam:GetRole, iam:CreateRole, iam:TagRole, iam:PutRolePolicy, sts:AssumeRole) to limit them."
                ));
                self.part_credentials(&account, &home, log.as_ref())
                    .await
                    .map_err(to_port_error)?
            }
        };
        log.line(&format!(
            "[Stageline] AWS account {}, images in {} ({}); AWS calls use {}",
            names.account_number(),
            repository,
            names.home_region(),
            credentials.description
        ));
        Ok(names.facts(credentials, account.endpoint_url.clone()))
    }

    /// The build role's credentials for one part, the role made first if
    /// needed; `Refused` when the account may not make or assume it.
    async fn build_role_credentials(
        &self,
        account: &Account,
        clients: &RegionClients,
        names: &StageNames,
        session: &str,
        log: &dyn LogSink,
    ) -> anyhow::Result<Result<stageline_engine::ports::PartCredentials, Refused>> {
        let key = (account.id, names.build_role());
        let known = self
            .build_roles
            .lock()
            .expect("build roles lock")
            .get(&key)
            .cloned();
        let (arn, created) = match known {
            Some(arn) => (arn, false),
            None => match build_role::ensure(clients, names).await? {
                Ok((arn, created)) => {
                    if created {
                        log.line(&format!(
                            "[Stageline] Created the stage's build role {}",
                            names.build_role()
                        ));
                    }
                    (arn, created)
                }
                Err(refused) => return Ok(Err(refused)),
            },
        };
        match build_role::assume(clients, &arn, session, created, log).await? {
            Ok(issued) => {
                self.build_roles
                    .lock()
                    .expect("build roles lock")
                    .insert(key, arn);
                Ok(Ok(issued.credentials))
            }
            Err(refused) => {
                // Asked again next time: the role may have been deleted or fixed.
                self.build_roles
                    .lock()
                    .expect("build roles lock")
                    .remove(&key);
                Ok(Err(refused))
            }
        }
    }

    pub(super) async fn part_credentials(
        &self,
        account: &Account,
        clients: &RegionClients,
        log: &dyn LogSink,
    ) -> anyhow::Result<stageline_engine::ports::PartCredentials> {
        let cached = self
            .part_credentials
            .lock()
            .expect("part credentials lock")
            .get(&account.id)
            .filter(|issued| issued.fresh())
            .cloned();
        if let Some(issued) = cached {
            return Ok(issued.credentials);
        }
        let issued = bootstrap::part_credentials(clients, log).await?;
        self.part_credentials
            .lock()
            .expect("part credentials lock")
            .insert(account.id, issued.clone());
        Ok(issued.credentials)
    }
}
