//! The JSON renderer: the report as it is, pretty-printed, ending in a newline.

use super::Report;

pub(crate) fn render(report: &Report) -> String {
    let mut out = serde_json::to_string_pretty(report).expect("a report always serialises");
    out.push('\n');
    out
}
