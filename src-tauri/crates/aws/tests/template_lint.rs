//! Every combination of routing × caching (API Gateway only) × database ×
//! CPU architecture, with a container port and health path of its own,
//! renders a template that cfn-lint accepts without errors (warnings
//! allowed) — in us-east-1, and the richest combinations in every region a
//! stage may name (cfn-lint checks each region's resource types and
//! instance classes).

mod support;

use std::path::PathBuf;
use std::process::Command;

use stageline_engine::domain::{CpuArchitecture, Database, Routing, StageSettings};
use stageline_engine::regions::AWS_REGIONS;
use support::*;

fn databases() -> Vec<Database> {
    vec![
        Database::None,
        Database::NewPostgres,
        Database::ExistingRds {
            identifier: "orders-db".into(),
        },
    ]
}

fn combinations() -> Vec<(Routing, bool, Database, CpuArchitecture)> {
    let mut all = Vec::new();
    for (routing, caching) in [
        (Routing::ApiGateway, false),
        (Routing::ApiGateway, true),
        (Routing::LoadBalancer, false),
    ] {
        for database in databases() {
            for architecture in [CpuArchitecture::X86_64, CpuArchitecture::Arm64] {
                all.push((routing, caching, database.clone(), architecture));
            }
        }
    }
    all
}

fn settings_for(
    region: &str,
    (routing, caching, database, architecture): (Routing, bool, Database, CpuArchitecture),
    port: u16,
) -> StageSettings {
    let mut settings = settings("dev", region);
    settings.routing = routing;
    settings.caching = caching;
    settings.database = database;
    settings.cpu_architecture = architecture;
    settings.container_port = port;
    settings.health_path = "/healthy".into();
    settings.runtime_env = vec![
        plain_var("MODE", "fast"),
        secret_var("API_TOKEN"),
        secret_var("OTHER"),
    ];
    settings
}

/// Writes the stage's template, marked for cfn-lint to check in `region` only.
fn write_template(
    dir: &std::path::Path,
    name: &str,
    region: &str,
    settings: StageSettings,
) -> PathBuf {
    let mut stack = unique_stack("lint");
    stack.home_region = "us-east-1".into();
    let text = stageline_aws::template_text(&stack, &stage(&stack, settings));
    let mut template: serde_json::Value = serde_json::from_str(&text).unwrap();
    template["Metadata"] = serde_json::json!({ "cfn-lint": { "config": { "regions": [region] } } });
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, template.to_string()).unwrap();
    path
}

fn lint(files: &[PathBuf]) {
    // Errors only (warnings allowed); the output lists each problem.
    let output = Command::new(cfn_lint())
        .arg("--format")
        .arg("parseable")
        .args(files)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    let errors: Vec<&str> = report.lines().filter(|line| line.contains(":E")).collect();
    assert!(
        errors.is_empty(),
        "cfn-lint found errors:\n{}",
        errors.join("\n")
    );
    // cfn-lint exits 2 for errors (4 warnings, 8 informational), bit-wise.
    assert_eq!(
        output.status.code().unwrap_or(2) & 2,
        0,
        "cfn-lint: {report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn every_stage_setting_combination_passes_cfn_lint() {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = combinations()
        .into_iter()
        .enumerate()
        .map(|(index, combination)| {
            let port = [80, 3000, 8000, 8080][index % 4];
            let settings = settings_for("us-east-1", combination, port);
            write_template(dir.path(), &format!("stage-{index}"), "us-east-1", settings)
        })
        .collect();
    assert_eq!(files.len(), 18);
    lint(&files);
}

#[test]
fn the_richest_combinations_pass_cfn_lint_in_every_allowed_region() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for region in AWS_REGIONS {
        let api_gateway = (
            Routing::ApiGateway,
            true,
            Database::NewPostgres,
            CpuArchitecture::Arm64,
        );
        let load_balancer = (
            Routing::LoadBalancer,
            false,
            Database::ExistingRds {
                identifier: "orders-db".into(),
            },
            CpuArchitecture::X86_64,
        );
        files.push(write_template(
            dir.path(),
            &format!("{region}-api"),
            region,
            settings_for(region, api_gateway, 80),
        ));
        files.push(write_template(
            dir.path(),
            &format!("{region}-alb"),
            region,
            settings_for(region, load_balancer, 8000),
        ));
    }
    lint(&files);
}

#[test]
fn a_new_database_gets_an_instance_class_its_region_offers() {
    assert_eq!(
        stageline_aws::postgres_instance_class("us-east-1"),
        "db.t4g.micro"
    );
    assert_eq!(
        stageline_aws::postgres_instance_class("ca-west-1"),
        "db.t3.micro"
    );
}

#[test]
fn template_of_plain_stage_has_no_secret_parameters() {
    let stack = unique_stack("plain");
    let text = stageline_aws::template_text(&stack, &stage(&stack, settings("dev", "us-east-1")));
    assert!(!text.contains("SecretArn"));
    assert!(!text.contains("SecretsVersion"));
}
