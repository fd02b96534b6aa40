//! The drift guard: variables that differ from the previous stage's.

use stageline_engine::drift::{variable_differences, VariableStatus};
use stageline_engine::{EnvValue, EnvVar};

fn var(name: &str, value: EnvValue) -> EnvVar {
    EnvVar {
        name: name.into(),
        value,
    }
}

fn plain(value: &str) -> EnvValue {
    EnvValue::Plain {
        value: value.into(),
    }
}

#[test]
fn the_drift_guard_flags_variables_set_upstream_but_missing_here() {
    let mut upstream = stageline_engine::order::first_stage_settings("us-east-1");
    upstream.runtime_env = vec![
        var(
            "API_KEY",
            EnvValue::Secret {
                keychain_ref: "env/1".into(),
            },
        ),
        var("LOG_LEVEL", plain("debug")),
        var("REGION_HINT", plain("east")),
    ];
    let mut here = upstream.clone();
    here.runtime_env = vec![
        var("LOG_LEVEL", plain("info")),
        var("REGION_HINT", plain("east")),
        var("EXTRA", plain("1")),
    ];
    let found: Vec<(String, VariableStatus, bool)> = variable_differences(&here, &upstream)
        .into_iter()
        .map(|d| (d.name, d.status, d.secret))
        .collect();
    assert_eq!(
        found,
        [
            ("API_KEY".to_string(), VariableStatus::MissingHere, true),
            ("EXTRA".to_string(), VariableStatus::OnlyHere, false),
            ("LOG_LEVEL".to_string(), VariableStatus::Differs, false),
        ]
    );
}

fn secret(reference: &str) -> EnvValue {
    EnvValue::Secret {
        keychain_ref: reference.into(),
    }
}

#[test]
fn secrets_are_compared_as_set_or_not_never_by_value_and_build_comes_before_runtime() {
    let mut upstream = stageline_engine::order::first_stage_settings("us-east-1");
    upstream.build_env = vec![var("NPM_TOKEN", plain("abc"))];
    upstream.runtime_env = vec![var("DB_PASSWORD", secret("env/1"))];
    let mut here = upstream.clone();
    here.build_env = vec![var("NPM_TOKEN", secret("env/2"))];
    here.runtime_env = vec![var("DB_PASSWORD", secret("env/3"))];
    let found: Vec<(String, String, VariableStatus, bool)> = variable_differences(&here, &upstream)
        .into_iter()
        .map(|d| (d.name, d.scope, d.status, d.secret))
        .collect();
    assert_eq!(
        found,
        [(
            "NPM_TOKEN".to_string(),
            "build".to_string(),
            VariableStatus::Differs,
            true
        )],
        "a plain value against a secret differs; two secrets are both set"
    );
    assert!(variable_differences(&upstream, &upstream).is_empty());
}
