//! Reading the JSON document of `dockhand cleanup --output json`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// The document's `tags[]`.
pub fn entries(doc: &Value) -> &Vec<Value> {
    doc["tags"].as_array().expect("tags[]")
}

/// The one entry of `tag` (in a document of one repository).
pub fn entry<'a>(doc: &'a Value, tag: &str) -> &'a Value {
    let found: Vec<&Value> = entries(doc).iter().filter(|e| e["tag"] == tag).collect();
    assert_eq!(found.len(), 1, "one entry for {tag} expected in {doc:#}");
    found[0]
}

/// The one entry of `repository:tag`.
pub fn entry_in<'a>(doc: &'a Value, repository: &str, tag: &str) -> &'a Value {
    entry_where(doc, repository, tag, |r| r == repository)
}

/// The one entry of `tag` in the repository whose name ends with `repo_suffix` (the host part
/// of a fake's repository names changes from run to run).
pub fn entry_ending<'a>(doc: &'a Value, repo_suffix: &str, tag: &str) -> &'a Value {
    entry_where(doc, repo_suffix, tag, |r| r.ends_with(repo_suffix))
}

fn entry_where<'a>(
    doc: &'a Value,
    repo: &str,
    tag: &str,
    matches: impl Fn(&str) -> bool,
) -> &'a Value {
    let found: Vec<&Value> = entries(doc)
        .iter()
        .filter(|e| e["tag"] == tag && matches(e["repository"].as_str().unwrap()))
        .collect();
    assert_eq!(found.len(), 1, "one entry for {repo}:{tag} in {doc:#}");
    found[0]
}

/// (repository, tag) → (action, result).
pub fn verdicts_by_repository(doc: &Value) -> BTreeMap<(String, String), (String, String)> {
    entries(doc)
        .iter()
        .map(|e| {
            let text = |field: &str| e[field].as_str().unwrap().to_string();
            (
                (text("repository"), text("tag")),
                (text("action"), text("result")),
            )
        })
        .collect()
}

/// A number of the document's `summary`.
pub fn summary(doc: &Value, field: &str) -> u64 {
    doc["summary"][field]
        .as_u64()
        .unwrap_or_else(|| panic!("summary.{field} in {doc:#}"))
}

pub fn set<I: IntoIterator<Item = S>, S: Into<String>>(items: I) -> BTreeSet<String> {
    items.into_iter().map(Into::into).collect()
}

/// tag → (action, result), in a document of one repository.
pub fn verdicts(doc: &Value) -> BTreeMap<String, (String, String)> {
    entries(doc)
        .iter()
        .map(|e| {
            let text = |field: &str| e[field].as_str().unwrap().to_string();
            (text("tag"), (text("action"), text("result")))
        })
        .collect()
}
