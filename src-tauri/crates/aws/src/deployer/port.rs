//! The engine's `Deployer` port on `CloudFormationDeployer`: each call
//! hands its work to the deployer's inner operations, in a boxed future
//! that owns what it needs (the port's futures are `'static`).

use super::*;

impl Deployer for CloudFormationDeployer {
    fn prepare_stage(
        &self,
        account: Account,
        stack: Stack,
        stage: Stage,
        release: Release,
        log: Arc<dyn LogSink>,
    ) -> BoxFuture<'static, Result<StageFacts, PortError>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            inner
                .prepare_stage(account, stack, stage, release, log)
                .await
        })
    }

    fn find_image(
        &self,
        account: Account,
        stack: Stack,
        stage: Stage,
        scope: ImageScope,
        tag: String,
    ) -> BoxFuture<'static, Result<Option<ImageRef>, PortError>> {
        let inner = self.inner.clone();
        Box::pin(async move { inner.find_image(account, stack, stage, scope, tag).await })
    }

    fn tag_image(
        &self,
        account: Account,
        stack: Stack,
        image: ImageRef,
        tag: String,
    ) -> BoxFuture<'static, Result<(), PortError>> {
        let inner = self.inner.clone();
        Box::pin(async move { inner.tag_image(account, stack, image, tag).await })
    }

    fn deploy(
        &self,
        job: DeployJob,
        log: Arc<dyn LogSink>,
    ) -> BoxFuture<'static, Result<DeployOutcome, PortError>> {
        let inner = self.inner.clone();
        Box::pin(async move { inner.deploy(job, log).await })
    }

    fn reconcile(
        &self,
        job: DeployJob,
        log: Arc<dyn LogSink>,
    ) -> BoxFuture<'static, Result<DeployedState, PortError>> {
        let inner = self.inner.clone();
        Box::pin(async move { inner.reconcile(job, log).await })
    }

    fn scale(
        &self,
        account: Account,
        stack: Stack,
        stage: Stage,
        count: u32,
    ) -> BoxFuture<'static, Result<(), PortError>> {
        let inner = self.inner.clone();
        Box::pin(async move { inner.scale(account, stack, stage, count).await })
    }

    fn delete_stage(
        &self,
        account: Account,
        stack: Stack,
        stage: Stage,
    ) -> BoxFuture<'static, Result<(), PortError>> {
        let inner = self.inner.clone();
        Box::pin(async move { inner.delete_stage(account, stack, stage).await })
    }

    fn service_url(
        &self,
        account: Account,
        stack: Stack,
        stage: Stage,
    ) -> BoxFuture<'static, Result<Option<String>, PortError>> {
        self.stage_url(account, stack, stage)
    }

    fn store_team_secret(
        &self,
        account: Account,
        region: String,
        name: String,
        value: String,
    ) -> BoxFuture<'static, Result<String, PortError>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let clients = inner.clients.get(&account, &region).await;
            let stored = crate::lookups::store_secret(&clients, &name, &value).await;
            stored.map(|stored| stored.arn).map_err(to_port_error)
        })
    }

    fn read_team_secret(
        &self,
        account: Account,
        arn: String,
    ) -> BoxFuture<'static, Result<String, PortError>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let region = crate::lookups::secret_region(&arn).map_err(to_port_error)?;
            let clients = inner.clients.get(&account, region).await;
            crate::lookups::read_secret(&clients, &arn)
                .await
                .map_err(to_port_error)
        })
    }

    fn probe(
        &self,
        account: Account,
        url: String,
        path: String,
    ) -> BoxFuture<'static, Result<u16, PortError>> {
        Box::pin(async move { crate::verify::probe_stage(&account, &url, &path).await })
    }

    fn alarms(
        &self,
        account: Account,
        region: String,
        names: Vec<String>,
    ) -> BoxFuture<'static, Result<Vec<stageline_engine::ports::AlarmReading>, PortError>> {
        self.alarm_readings(account, region, names)
    }
}
