//! The house rules that a reader of the source relies on, checked on the source itself: no
//! function outside test code longer than a reader can hold in their head, and no import circle
//! between the top-level modules of `sim/` (data flows one way).
//!
//! A light scanner, not a Rust parser: comments and literals are blanked, then braces are
//! matched. Enough for this code base, and fast (the whole tree reads in milliseconds).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The longest function body, in lines from `fn` to its closing brace, outside test code.
const MAX_FUNCTION_LINES: usize = 150;

/// One source file with comments and literals blanked out (line breaks kept, so that
/// positions still give line numbers).
struct Source {
    /// Relative to `sim/`, with `/` separators.
    path: String,
    code: Vec<char>,
}

fn sim_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sim")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

fn sources() -> Vec<Source> {
    let root = sim_dir();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files
        .iter()
        .map(|file| {
            let text = std::fs::read_to_string(file)
                .unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
            let path = file.strip_prefix(&root).expect("under sim/");
            Source {
                path: path.to_string_lossy().replace('\\', "/"),
                code: blank(&text),
            }
        })
        .collect()
}

/// `text` with comments, string literals and character literals replaced by spaces, keeping
/// line breaks; lifetimes stay.
fn blank(text: &str) -> Vec<char> {
    let src: Vec<char> = text.chars().collect();
    let mut out = src.clone();
    let mut i = 0;
    let clear = |out: &mut Vec<char>, from: usize, to: usize| {
        for c in &mut out[from..to.min(src.len())] {
            if *c != '\n' {
                *c = ' ';
            }
        }
    };
    while i < src.len() {
        let c = src[i];
        let next = src.get(i + 1).copied();
        let end = if c == '/' && next == Some('/') {
            (i..src.len())
                .find(|&j| src[j] == '\n')
                .unwrap_or(src.len())
        } else if c == '/' && next == Some('*') {
            block_comment_end(&src, i)
        } else if c == '"' {
            string_end(&src, i + 1)
        } else if c == 'r' && !continues_word(&src, i) && matches!(next, Some('"' | '#')) {
            raw_string_end(&src, i + 1).unwrap_or(i + 1)
        } else if c == 'b' && !continues_word(&src, i) && next == Some('"') {
            string_end(&src, i + 2)
        } else if c == 'b' && !continues_word(&src, i) && next == Some('\'') {
            char_end(&src, i + 1).unwrap_or(i + 1)
        } else if c == '\'' {
            char_end(&src, i).unwrap_or(i + 1)
        } else {
            i + 1
        };
        if end > i + 1 {
            clear(&mut out, i, end);
        }
        i = end;
    }
    out
}

fn continues_word(src: &[char], i: usize) -> bool {
    i > 0 && (src[i - 1].is_alphanumeric() || src[i - 1] == '_')
}

/// The end of the (nestable) block comment opening at `start`.
fn block_comment_end(src: &[char], start: usize) -> usize {
    let mut depth = 0;
    let mut i = start;
    while i + 1 < src.len() {
        match (src[i], src[i + 1]) {
            ('/', '*') => {
                depth += 1;
                i += 2;
            }
            ('*', '/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    src.len()
}

/// The end of a string literal whose contents begin at `i`.
fn string_end(src: &[char], mut i: usize) -> usize {
    while i < src.len() {
        match src[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            _ => i += 1,
        }
    }
    src.len()
}

/// The end of a raw string whose `#`s or opening quote begin at `i`; None if this is not one.
fn raw_string_end(src: &[char], mut i: usize) -> Option<usize> {
    let hashes = src[i..].iter().take_while(|&&c| c == '#').count();
    i += hashes;
    if src.get(i) != Some(&'"') {
        return None;
    }
    i += 1;
    while i < src.len() {
        if src[i] == '"'
            && src[i + 1..]
                .iter()
                .take(hashes)
                .filter(|&&c| c == '#')
                .count()
                == hashes
        {
            return Some(i + 1 + hashes);
        }
        i += 1;
    }
    Some(src.len())
}

/// The end of the character literal at `i` (`'x'`, `'\n'`, `'\u{..}'`); None for a lifetime.
fn char_end(src: &[char], i: usize) -> Option<usize> {
    match src.get(i + 1) {
        Some('\\') => (i + 2..src.len()).find(|&j| src[j] == '\'').map(|j| j + 1),
        Some(_) if src.get(i + 2) == Some(&'\'') => Some(i + 3),
        _ => None,
    }
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether the keyword-like `word` stands alone at `i`.
fn word_at(code: &[char], i: usize, word: &str) -> bool {
    let len = word.chars().count();
    i + len <= code.len()
        && code[i..i + len].iter().copied().eq(word.chars())
        && !continues_word(code, i)
        && !code.get(i + len).copied().is_some_and(is_word)
}

/// The index just past the brace that closes the one at `open`.
fn matching_brace(code: &[char], open: usize) -> usize {
    let mut depth = 0usize;
    for (j, &c) in code.iter().enumerate().skip(open) {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return j + 1;
                }
            }
            _ => {}
        }
    }
    code.len()
}

/// Where the item starting at `i` opens its body (`Some(index of '{')`) or ends without one
/// (`None`, at a `;`): the first `{` or `;` outside parentheses and brackets.
fn item_body(code: &[char], i: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (j, &c) in code.iter().enumerate().skip(i) {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            '{' if depth == 0 => return Some(j),
            ';' if depth == 0 => return None,
            _ => {}
        }
    }
    None
}

/// The character ranges of `#[cfg(test)]` items in `code`.
fn test_ranges(code: &[char]) -> Vec<(usize, usize)> {
    let text: String = code.iter().collect();
    let mut ranges = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find("#[cfg(test)]") {
        let start = text[..from + at].chars().count();
        let attr_end = start + "#[cfg(test)]".len();
        let end = match item_body(code, attr_end) {
            Some(open) => matching_brace(code, open),
            None => (attr_end..code.len())
                .find(|&j| code[j] == ';')
                .unwrap_or(code.len()),
        };
        ranges.push((start, end));
        from += at + "#[cfg(test)]".len();
    }
    ranges
}

/// The index of every line break in `code`, to number lines by binary search.
fn line_breaks(code: &[char]) -> Vec<usize> {
    (0..code.len()).filter(|&i| code[i] == '\n').collect()
}

/// Every function with a body outside test code: (name, lines from `fn` to its closing brace).
fn functions(code: &[char]) -> Vec<(String, usize)> {
    let tests = test_ranges(code);
    let in_test = |i: usize| tests.iter().any(|&(a, b)| a <= i && i < b);
    let breaks = line_breaks(code);
    let line_of = |i: usize| breaks.partition_point(|&b| b < i) + 1;
    let mut found = Vec::new();
    for i in 0..code.len() {
        if !word_at(code, i, "fn") || in_test(i) {
            continue;
        }
        let name_start = (i + 2..code.len())
            .find(|&j| !code[j].is_whitespace())
            .unwrap_or(code.len());
        let name: String = code[name_start..]
            .iter()
            .take_while(|&&c| is_word(c))
            .collect();
        if name.is_empty() {
            continue; // a function pointer type, `fn(..)`
        }
        if let Some(open) = item_body(code, name_start) {
            let close = matching_brace(code, open);
            let lines = line_of(close - 1) - line_of(i) + 1;
            found.push((name, lines));
        }
    }
    found
}

#[test]
fn no_function_is_too_long_to_hold_in_mind() {
    let mut long = Vec::new();
    for source in sources() {
        if source.path.ends_with("tests.rs") {
            continue;
        }
        for (name, lines) in functions(&source.code) {
            if lines > MAX_FUNCTION_LINES {
                long.push(format!("  sim/{}::{name}: {lines} lines", source.path));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over {MAX_FUNCTION_LINES} lines outside tests; split them into named steps:\n{}",
        long.join("\n")
    );
}

/// The top-level module a file under `sim/` belongs to (`machines/tsp/fast.rs` → `machines`);
/// None for the crate roots.
fn top_module(path: &str) -> Option<String> {
    match path.split_once('/') {
        Some((folder, _)) => Some(folder.to_string()),
        None if path == "lib.rs" || path == "main.rs" => None,
        None => Some(path.trim_end_matches(".rs").to_string()),
    }
}

/// The top-level modules named through `crate::` (or `accsim::`, from the binary) in `code`,
/// including those inside a `crate::{a, b::c}` group.
fn crate_references(code: &[char]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let word =
        |from: usize| -> String { code[from..].iter().take_while(|&&c| is_word(c)).collect() };
    for i in 0..code.len() {
        let after = if word_at(code, i, "crate") {
            i + 5
        } else if word_at(code, i, "accsim") {
            i + 6
        } else {
            continue;
        };
        if code.get(after..after + 2) != Some(&[':', ':']) {
            continue;
        }
        let j = after + 2;
        if code.get(j) == Some(&'{') {
            let close = matching_brace(code, j);
            let mut depth = 0;
            let mut item_start = true;
            for (k, &c) in code.iter().enumerate().take(close - 1).skip(j + 1) {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && is_word(c) => {
                        names.insert(word(k));
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            names.insert(word(j));
        }
    }
    names
}

/// Tarjan's strongly connected components of `graph`, each of more than one module.
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.graph.get(v).into_iter().flatten() {
                if !self.index.contains_key(w.as_str()) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w.as_str()]);
                    self.low.insert(v, low);
                } else if self.on_stack.contains(w.as_str()) {
                    let low = self.low[v].min(self.index[w.as_str()]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    component.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !walk.index.contains_key(v.as_str()) {
            walk.visit(v);
        }
    }
    walk.found
}

#[test]
fn no_import_circle_between_top_level_modules() {
    let sources = sources();
    let modules: BTreeSet<String> = sources.iter().filter_map(|s| top_module(&s.path)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // Which file makes each edge, to name it in the failure message.
    let mut witness: BTreeMap<(String, String), String> = BTreeMap::new();
    for source in &sources {
        let Some(from) = top_module(&source.path) else {
            continue;
        };
        let edges = graph.entry(from.clone()).or_default();
        for to in crate_references(&source.code) {
            if to != from && modules.contains(&to) {
                edges.insert(to.clone());
                witness
                    .entry((from.clone(), to))
                    .or_insert_with(|| format!("sim/{}", source.path));
            }
        }
    }
    let found = circles(&graph);
    let describe = |component: &Vec<String>| {
        let members: BTreeSet<&String> = component.iter().collect();
        let edges: Vec<String> = witness
            .iter()
            .filter(|((a, b), _)| members.contains(a) && members.contains(b))
            .map(|((a, b), file)| format!("    {a} -> {b} (first in {file})"))
            .collect();
        format!("  {}:\n{}", component.join(", "), edges.join("\n"))
    };
    assert!(
        found.is_empty(),
        "import circles between top-level modules of sim/:\n{}",
        found.iter().map(describe).collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn the_scanner_finds_functions_and_circles() {
    let code = blank(
        "fn short() {\n    let s = \"}\"; // }\n}\n#[cfg(test)]\nmod tests {\n    fn hidden() {\n    }\n}\nfn two<'a>(x: &'a [u8; 2]) -> char {\n    '{'\n}\n",
    );
    assert_eq!(
        functions(&code),
        vec![("short".to_string(), 3), ("two".to_string(), 3)]
    );
    let code = blank("use crate::{arch::Arch, quant::{Format, q35}};\nuse crate::fit;\n");
    let names: Vec<String> = crate_references(&code).into_iter().collect();
    assert_eq!(names, ["arch", "fit", "quant"]);
    let graph: BTreeMap<String, BTreeSet<String>> =
        [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]
            .iter()
            .fold(BTreeMap::new(), |mut g, &(a, b)| {
                g.entry(a.to_string()).or_default().insert(b.to_string());
                g
            });
    assert_eq!(circles(&graph), vec![vec!["a", "b", "c"]]);
}
