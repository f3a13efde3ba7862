//! The host's layer rule, checked from the source like the OpenAPI drift test checks the API:
//! every `crate::…` and `super::…` path in `src/` is a dependency edge between modules, and
//!
//! - between the layers (the directories under `src/`) edges only point down:
//!   `app → mgmt | protocols → shared → stream → platform → services` (`mgmt` and `protocols` are
//!   peers and may not use each other);
//! - inside any directory, its modules form no cycle.
//!
//! Test code (`*tests.rs` files, `#[cfg(test)]` items) and comments are exempt: a test may build a
//! display to inject into without that being a dependency of the library.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top to bottom; a layer may use the layers after it in this list and, for equal ranks, none.
const LAYERS: &[(&str, u32)] = &[
    ("app", 6),
    ("mgmt", 5),
    ("protocols", 5),
    ("shared", 4),
    ("stream", 3),
    ("platform", 2),
    ("services", 1),
];

type ModPath = Vec<String>;

/// One `use`-level dependency: which file, from which module to which path.
#[derive(Debug)]
struct Edge {
    file: String,
    from: ModPath,
    to: ModPath,
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `platform/inject/wlr.rs` → `[platform, inject, wlr]`; `platform/inject/mod.rs` → `[platform, inject]`.
fn module_of(relative: &Path) -> ModPath {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let file = parts.pop().expect("file name");
    if file != "mod.rs" {
        parts.push(file.trim_end_matches(".rs").to_string());
    }
    parts
}

fn is_test_file(relative: &Path) -> bool {
    relative.iter().any(|part| {
        let part = part.to_string_lossy();
        part == "tests" || part.ends_with("tests.rs")
    })
}

/// The source without comments and without `#[cfg(test)]` items.
fn library_code(source: &str) -> String {
    let mut out = String::new();
    let mut lines = source.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") {
            continue;
        }
        if trimmed.starts_with("#[cfg(test)]") {
            skip_item(&mut lines);
            continue;
        }
        let code = match line.find(" // ") {
            Some(at) => &line[..at],
            None => line,
        };
        out.push_str(code);
        out.push('\n');
    }
    out
}

/// Skips the item after an attribute: to its `;` or to the brace that closes it.
fn skip_item<'a>(lines: &mut impl Iterator<Item = &'a str>) {
    let mut depth = 0i32;
    let mut opened = false;
    for line in lines {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[") || trimmed.starts_with("//") {
            continue;
        }
        for c in line.chars() {
            match c {
                '{' => {
                    depth += 1;
                    opened = true;
                }
                '}' => depth -= 1,
                _ => {}
            }
        }
        if (opened && depth <= 0) || (!opened && trimmed.ends_with(';')) {
            return;
        }
    }
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Parses the path that starts at `text` (just after `crate::` or a `super::` chain): module
/// segments (lowercase identifiers that are not a macro call), following `{a, b::c}` groups.
fn parse_paths(text: &str) -> Vec<ModPath> {
    let text = text.trim_start();
    if let Some(group) = text.strip_prefix('{') {
        let mut paths = Vec::new();
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    paths.extend(parse_paths(&group[start..i]));
                    return paths;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    paths.extend(parse_paths(&group[start..i]));
                    start = i + 1;
                }
                _ => {}
            }
        }
        return paths;
    }
    let end = text.find(|c: char| !is_ident_char(c)).unwrap_or(text.len());
    let ident = &text[..end];
    let rest = &text[end..];
    let is_module = !ident.is_empty()
        && ident.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && !rest.starts_with('!')
        && ident != "self";
    if !is_module {
        return vec![Vec::new()];
    }
    match rest.strip_prefix("::") {
        Some(more) => parse_paths(more)
            .into_iter()
            .map(|mut tail| {
                tail.insert(0, ident.to_string());
                tail
            })
            .collect(),
        None => vec![vec![ident.to_string()]],
    }
}

/// Every path the code names through `crate::` or `super::`, resolved from module `from`.
fn dependencies(code: &str, from: &ModPath) -> Vec<ModPath> {
    let mut found = Vec::new();
    let mut at = 0;
    while at < code.len() {
        let rest = &code[at..];
        let Some(next) = rest.find(['c', 's']) else {
            break;
        };
        let start = at + next;
        // `x::super::` is the second step of a chain already read, `xsuper` another name.
        let preceded_by_ident = code[..start]
            .chars()
            .next_back()
            .is_some_and(|c| is_ident_char(c) || c == ':');
        let tail = &code[start..];
        at = start + 1;
        if preceded_by_ident {
            continue;
        }
        let (base, mut after) = if let Some(after) = tail.strip_prefix("crate::") {
            (Vec::new(), after)
        } else if tail.starts_with("super::") {
            let mut base = from.clone();
            let mut after = tail;
            while let Some(more) = after.strip_prefix("super::") {
                base.pop();
                after = more;
            }
            (base, after)
        } else {
            continue;
        };
        after = after.trim_start();
        for tail in parse_paths(after) {
            let mut path = base.clone();
            path.extend(tail);
            found.push(path);
        }
    }
    found
}

fn edges() -> Vec<Edge> {
    let src = src_dir();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut edges = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&src).expect("under src").to_path_buf();
        let top = relative
            .iter()
            .next()
            .map(|p| p.to_string_lossy().into_owned());
        // The crate roots and the extra binaries are not in a layer.
        if relative.components().count() == 1 || top.as_deref() == Some("bin") {
            continue;
        }
        if is_test_file(&relative) {
            continue;
        }
        let from = module_of(&relative);
        let code = library_code(&std::fs::read_to_string(&file).expect("read source"));
        for to in dependencies(&code, &from) {
            edges.push(Edge {
                file: relative.display().to_string(),
                from: from.clone(),
                to,
            });
        }
    }
    edges
}

fn rank(layer: &str) -> Option<u32> {
    LAYERS
        .iter()
        .find(|(name, _)| *name == layer)
        .map(|(_, r)| *r)
}

/// For each directory, the edges between its children: `dir → (child → child)`.
fn sibling_graphs(edges: &[Edge]) -> BTreeMap<ModPath, BTreeMap<String, BTreeSet<String>>> {
    let mut graphs: BTreeMap<ModPath, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for edge in edges {
        let common = edge
            .from
            .iter()
            .zip(&edge.to)
            .take_while(|(a, b)| a == b)
            .count();
        // A module using its own descendants or ancestors is not an edge between siblings.
        if common == edge.from.len() || common == edge.to.len() {
            continue;
        }
        graphs
            .entry(edge.from[..common].to_vec())
            .or_default()
            .entry(edge.from[common].clone())
            .or_default()
            .insert(edge.to[common].clone());
    }
    graphs
}

/// One cycle in `graph`, if there is any.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        done: &mut BTreeSet<String>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, done, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, graph, &mut done, &mut Vec::new()) {
            return Some(cycle);
        }
    }
    None
}

/// The files that make `from → to` an edge between siblings of `dir`.
fn witnesses(edges: &[Edge], dir: &ModPath, from: &str, to: &str) -> Vec<String> {
    let mut files: Vec<String> = edges
        .iter()
        .filter(|e| {
            e.from.len() > dir.len()
                && e.to.len() > dir.len()
                && e.from[..dir.len()] == dir[..]
                && e.to[..dir.len()] == dir[..]
                && e.from[dir.len()] == from
                && e.to[dir.len()] == to
        })
        .map(|e| format!("{} (uses {})", e.file, e.to.join("::")))
        .collect();
    files.sort();
    files.dedup();
    files
}

#[test]
fn every_top_level_module_is_in_a_layer() {
    let mut unplaced = Vec::new();
    for entry in std::fs::read_dir(src_dir()).expect("read src") {
        let path = entry.expect("entry").path();
        let name = path
            .file_stem()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        if ["lib", "main", "bin"].contains(&name.as_str()) {
            continue;
        }
        if rank(&name).is_none() {
            unplaced.push(name);
        }
    }
    assert!(
        unplaced.is_empty(),
        "src/ entries outside the layers {:?}: {unplaced:?} (put them in a layer directory or add \
         the layer to LAYERS and docs/architecture.md)",
        LAYERS.iter().map(|(n, _)| *n).collect::<Vec<_>>()
    );
}

#[test]
fn dependencies_between_layers_point_down() {
    let edges = edges();
    assert!(
        edges.len() > 100,
        "found only {} edges: is the parser broken?",
        edges.len()
    );
    let graphs = sibling_graphs(&edges);
    let mut upward = Vec::new();
    for (from, targets) in graphs.get(&Vec::new()).into_iter().flatten() {
        for to in targets {
            let (Some(from_rank), Some(to_rank)) = (rank(from), rank(to)) else {
                continue;
            };
            if to_rank >= from_rank {
                upward.push(format!(
                    "{from} → {to}: {:?}",
                    witnesses(&edges, &Vec::new(), from, to)
                ));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "upward or sideways layer dependencies:\n{}",
        upward.join("\n")
    );
}

#[test]
fn no_module_cycles_inside_any_directory() {
    let edges = edges();
    let mut cycles = Vec::new();
    for (dir, graph) in sibling_graphs(&edges) {
        if let Some(cycle) = find_cycle(&graph) {
            let steps: Vec<String> = cycle
                .windows(2)
                .map(|w| {
                    format!(
                        "  {} → {}: {:?}",
                        w[0],
                        w[1],
                        witnesses(&edges, &dir, &w[0], &w[1])
                    )
                })
                .collect();
            cycles.push(format!(
                "in crate::{}:\n{}",
                dir.join("::"),
                steps.join("\n")
            ));
        }
    }
    assert!(cycles.is_empty(), "module cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_parser_reads_groups_and_super_chains() {
    let from: ModPath = vec!["protocols".into(), "gamestream".into(), "stream".into()];
    let code = "use crate::platform::{audio, vdisplay::Mode};\nlet x = super::super::punktfunk1::DEFAULT;\ncrate::services::status_line::status_line!(\"x\");";
    let found = dependencies(code, &from);
    assert_eq!(
        found,
        vec![
            vec!["platform".to_string(), "audio".into()],
            vec!["platform".into(), "vdisplay".into()],
            vec!["protocols".into(), "punktfunk1".into()],
            vec!["services".into(), "status_line".into()],
        ]
    );
    let stripped = library_code(
        "use a;\n// crate::x\n#[cfg(test)]\nmod tests {\n    use crate::y;\n}\nuse b;\n",
    );
    assert_eq!(stripped, "use a;\nuse b;\n");
}
