//! The UI's copy of the input rules is generated from the engine's, like the
//! types: this writes `rules.ts` next to the generated bindings, and the test
//! command fails when the committed file differs.

#[test]
fn the_uis_rules_are_written_from_the_engines() {
    let dir = std::env::var("TS_RS_EXPORT_DIR").expect("set by .cargo/config.toml");
    let text = stageline_engine::validation::rules_typescript();
    assert!(text.contains("\"AWS_SECRET_ACCESS_KEY\""));
    assert!(text.contains("DEFAULT_HEALTH_PATH = \"/ping\""));
    std::fs::write(std::path::Path::new(&dir).join("rules.ts"), text).unwrap();
}
