//! The layering check: every internal dependency edge must be listed in [`ALLOWED`].
//!
//! The table is the dependency rule of `docs/ARCHITECTURE.md` written as data. A crate
//! depends only on the layer directly below it; an edge that is not listed fails CI,
//! and so does a workspace crate the table does not know.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::util::{self, Result};

/// Each workspace crate and the internal crates it may depend on (normal and build
/// dependencies). Dev-dependencies are free: tests may use any crate of the workspace.
pub(crate) const ALLOWED: &[(&str, &[&str])] = &[
    ("memory-fs-posix", &[]),
    ("memory-fs-fuse", &["memory-fs-posix"]),
    ("memory-fs-storage", &[]),
    (
        "memory-fs-storage-memory",
        &["memory-fs-storage", "memory-fs-posix"],
    ),
    ("memory-fs-storage-disk", &["memory-fs-storage"]),
    ("memory-fs-storage-sqlite", &["memory-fs-storage"]),
    ("memory-fs-storage-s3", &["memory-fs-storage"]),
    ("memory-fs-file", &["memory-fs-storage"]),
    ("memory-fs-target", &["memory-fs-file"]),
    (
        "memory-fs",
        &[
            "memory-fs-target",
            "memory-fs-posix",
            "memory-fs-storage-memory",
            "memory-fs-storage-disk",
            "memory-fs-storage-sqlite",
            "memory-fs-storage-s3",
        ],
    ),
    ("memory-fs-cli", &["memory-fs", "memory-fs-fuse"]),
    // Tests and project automation sit outside the layers.
    ("memory-fs-difftest", &["memory-fs-posix"]),
    ("memory-fs-tests", &["*"]),
    ("xtask", &[]),
];

/// One internal edge found in `cargo metadata`.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Edge {
    pub(crate) from: String,
    pub(crate) to: String,
}

/// Reads `cargo metadata` and fails on any edge or crate the table does not allow.
pub(crate) fn run(_args: &[String]) -> Result {
    let mut cmd = util::cargo();
    cmd.args([
        "metadata",
        "--format-version",
        "1",
        "--no-deps",
        "--offline",
    ]);
    cmd.current_dir(util::workspace_root());
    eprintln!("$ {}", util::describe(&cmd));
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let metadata: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("cargo metadata printed invalid JSON: {e}"))?;
    let (crates, edges) = internal_edges(&metadata)?;
    let problems = check(&crates, &edges);
    if problems.is_empty() {
        eprintln!(
            "layering: {} crates, {} internal edges, all allowed",
            crates.len(),
            edges.len()
        );
        Ok(())
    } else {
        Err(format!(
            "layering check failed:\n  {}",
            problems.join("\n  ")
        ))
    }
}

/// The workspace crates and their internal normal/build dependency edges.
fn internal_edges(metadata: &Value) -> Result<(BTreeSet<String>, Vec<Edge>)> {
    let packages = metadata["packages"]
        .as_array()
        .ok_or("cargo metadata has no `packages` array")?;
    let crates: BTreeSet<String> = packages
        .iter()
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect();
    let mut edges = Vec::new();
    for package in packages {
        let from = package["name"].as_str().unwrap_or_default();
        for dep in package["dependencies"].as_array().into_iter().flatten() {
            let to = dep["name"].as_str().unwrap_or_default();
            // `kind` is null for normal dependencies, "build" or "dev" otherwise.
            let is_dev = dep["kind"].as_str() == Some("dev");
            if crates.contains(to) && !is_dev {
                edges.push(Edge {
                    from: from.to_owned(),
                    to: to.to_owned(),
                });
            }
        }
    }
    edges.sort();
    edges.dedup();
    Ok((crates, edges))
}

/// Every violation of [`ALLOWED`], in words; empty when the graph is clean.
pub(crate) fn check(crates: &BTreeSet<String>, edges: &[Edge]) -> Vec<String> {
    let allowed = |name: &str| {
        ALLOWED
            .iter()
            .find(|(c, _)| *c == name)
            .map(|(_, deps)| *deps)
    };
    let mut problems = Vec::new();
    for name in crates {
        if allowed(name).is_none() {
            problems.push(format!(
                "crate `{name}` is not in the layer table (xtask/src/layering.rs): place it in a layer"
            ));
        }
    }
    for Edge { from, to } in edges {
        if let Some(deps) = allowed(from)
            && !deps.iter().any(|d| *d == "*" || d == to)
        {
            problems.push(format!(
                "`{from}` depends on `{to}`, which the layer table does not allow (allowed: {})",
                if deps.is_empty() {
                    "nothing internal".to_owned()
                } else {
                    deps.join(", ")
                }
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(from: &str, to: &str) -> Edge {
        Edge {
            from: from.into(),
            to: to.into(),
        }
    }

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn allowed_edges_pass() {
        let crates = names(&[
            "memory-fs-posix",
            "memory-fs-storage",
            "memory-fs-storage-memory",
        ]);
        let edges = [
            edge("memory-fs-storage-memory", "memory-fs-posix"),
            edge("memory-fs-storage-memory", "memory-fs-storage"),
        ];
        assert_eq!(check(&crates, &edges), Vec::<String>::new());
    }

    #[test]
    fn skipping_a_layer_fails() {
        let crates = names(&["memory-fs-file", "memory-fs-storage-sqlite"]);
        let problems = check(
            &crates,
            &[edge("memory-fs-file", "memory-fs-storage-sqlite")],
        );
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("`memory-fs-file` depends on `memory-fs-storage-sqlite`"));
    }

    #[test]
    fn upward_edge_fails() {
        let crates = names(&["memory-fs-posix", "memory-fs-storage"]);
        assert_eq!(
            check(&crates, &[edge("memory-fs-posix", "memory-fs-storage")]).len(),
            1
        );
    }

    #[test]
    fn unknown_crate_fails() {
        let problems = check(&names(&["memory-fs-surprise"]), &[]);
        assert!(problems[0].contains("not in the layer table"));
    }
}
