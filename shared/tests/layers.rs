//! The layer rule of docs/ARCHITECTURE.md: imports point down only. Reads every `crate::…`
//! path in each layer's sources (comments aside) and fails on one that points up or sideways.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Each layer and the top-level modules it may name besides itself.
const RULES: &[(&str, &[&str])] = &[
    ("model", &[]),
    ("ports", &["model"]),
    ("core", &["model", "ports"]),
    ("adapters", &["model", "ports"]),
    ("auth", &["model"]),
    ("handlers", &["core", "model", "auth"]),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a source directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules a source text names as `crate::<module>`, outside line comments.
fn named_modules(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `zuora_sync::` style paths never appear inside the crate; `$crate` is a macro's.
            let preceded_by_dollar = at > 0 && rest.as_bytes()[at - 1] == b'$';
            if !name.is_empty() && !preceded_by_dollar {
                found.insert(name);
            }
            rest = after;
        }
    }
    found
}

fn violations() -> Vec<String> {
    let mut out = Vec::new();
    for (layer, allowed) in RULES {
        let mut files = Vec::new();
        rust_files(&src().join(layer), &mut files);
        assert!(!files.is_empty(), "layer {layer} has no sources");
        for file in files {
            let text = std::fs::read_to_string(&file).expect("a readable source");
            for module in named_modules(&text) {
                if module != *layer && !allowed.contains(&module.as_str()) {
                    let shown = file.strip_prefix(src()).unwrap_or(&file).display();
                    out.push(format!("{shown}: {layer} must not import crate::{module}"));
                }
            }
        }
    }
    out
}

#[test]
fn imports_point_down_only() {
    let found = violations();
    assert!(found.is_empty(), "layer rule broken:\n{}", found.join("\n"));
}

#[test]
fn the_check_sees_an_upward_import() {
    let text = "use crate::model::EntityId;\nuse crate::adapters::dynamo::DynamoStore; // fine here\n// use crate::app::x;\n";
    let named = named_modules(text);
    assert!(named.contains("adapters"), "{named:?}");
    assert!(named.contains("model"));
    assert!(!named.contains("app"), "comments are not imports");
}
