//! A reviewed snapshot of one generated rule file, so a change in the
//! emitter's output shape shows up as a snapshot diff.

use alerts::{Context, generated_files};

#[test]
fn nginx_rule_file() {
    let file = generated_files(&Context::default())
        .into_iter()
        .find(|f| f.path == "alerts/generated/rules/nginx.rules.yml")
        .expect("nginx rules are generated");
    insta::assert_snapshot!("nginx.rules.yml", file.contents);
}
