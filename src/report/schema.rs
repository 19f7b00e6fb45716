//! The JSON Schema of the report, generated from the model so the two cannot drift apart.
//!
//! `docs/report.schema.json` is this schema as committed; a test regenerates it and fails when the
//! model changed without it (`UPDATE_SCHEMA=1 cargo test --lib report::schema` rewrites it). The
//! model derives `JsonSchema` only in tests, so the binary carries no schema generator.

/// Where the schema is published in the repository, relative to its root.
pub const PATH: &str = "docs/report.schema.json";

/// The schema of a [`super::Report`], pretty-printed, ending in a newline.
#[cfg(test)]
pub(crate) fn render() -> String {
    use super::{Report, SCHEMA};

    let mut schema = schemars::schema_for!(Report);
    schema.insert("$id".to_owned(), format!("urn:{SCHEMA}").into());
    schema.insert("title".to_owned(), "connect-preflight report".into());
    schema.insert(
        "description".to_owned(),
        "What connect-preflight found on one workstation: the verdict, every check with its stable \
         reason code and evidence, and the entries the network team must add."
            .into(),
    );
    let mut out = serde_json::to_string_pretty(&schema).expect("a schema always serialises");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_schema_matches_the_model() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(PATH);
        let fresh = render();
        if std::env::var_os("UPDATE_SCHEMA").is_some_and(|v| v == "1") {
            std::fs::write(&path, &fresh).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == fresh,
            "{PATH} differs from the report model; if the change is intended, regenerate it with \
             `UPDATE_SCHEMA=1 cargo test --lib report::schema` and commit it (with a CHANGELOG \
             entry: the JSON report is a contract)"
        );
    }

    #[test]
    fn the_schema_names_every_reason_code_and_pins_the_version() {
        let schema: serde_json::Value = serde_json::from_str(&render()).unwrap();
        let text = schema.to_string();
        for reason in crate::report::Reason::ALL {
            assert!(
                text.contains(&format!("\"{}\"", reason.code())),
                "{reason:?}"
            );
        }
        assert_eq!(
            schema["properties"]["schema"]["const"],
            "connect-preflight/report/v1"
        );
    }
}
