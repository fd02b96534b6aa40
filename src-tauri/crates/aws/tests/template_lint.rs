//! Every combination of routing × caching (API Gateway only) × database
//! renders a template that cfn-lint accepts without errors (warnings allowed).

mod support;

use std::process::Command;

use stageline_engine::domain::{Database, Routing};
use support::*;

fn combinations() -> Vec<(Routing, bool, Database)> {
    let databases = || {
        vec![
            Database::None,
            Database::NewPostgres,
            Database::ExistingRds {
                identifier: "orders-db".into(),
            },
        ]
    };
    let mut all = Vec::new();
    for (routing, caching) in [
        (Routing::ApiGateway, false),
        (Routing::ApiGateway, true),
        (Routing::LoadBalancer, false),
    ] {
        for database in databases() {
            all.push((routing, caching, database));
        }
    }
    all
}

#[test]
fn every_stage_setting_combination_passes_cfn_lint() {
    let lint = cfn_lint();
    let dir = tempfile::tempdir().unwrap();
    let stack = unique_stack("lint");
    let mut files = Vec::new();
    for (index, (routing, caching, database)) in combinations().into_iter().enumerate() {
        let mut settings = settings("dev", "us-east-1");
        settings.routing = routing;
        settings.caching = caching;
        settings.database = database;
        settings.runtime_env = vec![
            plain_var("MODE", "fast"),
            secret_var("API_TOKEN"),
            secret_var("OTHER"),
        ];
        let text = stageline_aws::template_text(&stack, &stage(&stack, settings));
        let path = dir
            .path()
            .join(format!("stage-{index}-{routing:?}-{caching}.json"));
        std::fs::write(&path, text).unwrap();
        files.push(path);
    }
    assert_eq!(files.len(), 9);

    // Errors only (warnings allowed); the output lists each problem.
    let output = Command::new(lint)
        .arg("--format")
        .arg("parseable")
        .args(&files)
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
fn template_of_plain_stage_has_no_secret_parameters() {
    let stack = unique_stack("plain");
    let text = stageline_aws::template_text(&stack, &stage(&stack, settings("dev", "us-east-1")));
    assert!(!text.contains("SecretArn"));
    assert!(!text.contains("SecretsVersion"));
}
