//! The planner's architecture checks itself: `polyclaw-planner` must not depend, directly or
//! through normal dependencies of its dependencies, on crates that do I/O or bring a runtime.
//! Reads `cargo metadata`; never builds or runs anything else.

use std::collections::{BTreeSet, HashMap};
use std::process::Command;

use serde_json::Value;

const FORBIDDEN: &[&str] = &["tokio", "rmcp", "reqwest", "axum", "hyper", "bollard"];

#[test]
fn planner_has_no_io_dependencies() {
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("metadata is JSON");
    let packages: HashMap<&str, &str> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?)))
        .collect();
    let nodes: HashMap<&str, &Value> = metadata["resolve"]["nodes"]
        .as_array()
        .expect("resolve graph")
        .iter()
        .filter_map(|n| Some((n["id"].as_str()?, n)))
        .collect();
    let root = packages
        .iter()
        .find(|(_, name)| **name == "polyclaw-planner")
        .map(|(id, _)| *id)
        .expect("polyclaw-planner is in the workspace");

    // Walk normal (non-dev, non-build) dependency edges from the planner, keeping the path.
    let mut seen = BTreeSet::from([root]);
    let mut stack = vec![(root, vec!["polyclaw-planner"])];
    let mut offenders = Vec::new();
    while let Some((id, path)) = stack.pop() {
        let Some(node) = nodes.get(id) else { continue };
        for dep in node["deps"].as_array().into_iter().flatten() {
            let normal = dep["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|k| k["kind"].is_null());
            let Some(dep_id) = dep["pkg"].as_str() else {
                continue;
            };
            if !normal || !seen.insert(dep_id) {
                continue;
            }
            let name = packages.get(dep_id).copied().unwrap_or("?");
            let mut next = path.clone();
            next.push(name);
            if FORBIDDEN.contains(&name) {
                offenders.push(next.join(" → "));
            }
            stack.push((dep_id, next));
        }
    }
    assert!(
        offenders.is_empty(),
        "the planner must do no I/O, but depends on:\n{}",
        offenders.join("\n")
    );
    let names: BTreeSet<&str> = seen
        .iter()
        .filter_map(|id| packages.get(id).copied())
        .collect();
    assert!(
        names.contains("serde_json") && names.contains("indexmap"),
        "the walk reaches direct and transitive dependencies: {names:?}"
    );
}
