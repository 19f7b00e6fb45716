//! The JSON Schema of the `ccp-log` report (the report contract plus its `ccp_log` section),
//! generated from the model: `docs/ccp-log.schema.json` is the committed copy, a test keeps them
//! equal (`UPDATE_SCHEMA=1 cargo test --lib ccplog::schema` rewrites it).

/// Where the schema is published in the repository, relative to its root.
#[cfg(test)]
pub(crate) const PATH: &str = "docs/ccp-log.schema.json";

#[cfg(test)]
pub(crate) fn render() -> String {
    let mut schema = schemars::schema_for!(super::report::CcpLogReport);
    schema.insert(
        "$id".to_owned(),
        format!("urn:{}#ccp-log", crate::report::SCHEMA).into(),
    );
    schema.insert(
        "title".to_owned(),
        "connect-preflight ccp-log report".into(),
    );
    schema.insert(
        "description".to_owned(),
        "A connect-preflight/report/v1 report made by `ccp-log` from an agent's CCP log, with \
         its `ccp_log` section: calls with their audio both ways over time, errors in time order, \
         the clock skew and the endpoints the CCP used."
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
            "{PATH} differs from the ccp-log model; regenerate it with \
             `UPDATE_SCHEMA=1 cargo test --lib ccplog::schema` and commit it"
        );
    }
}
