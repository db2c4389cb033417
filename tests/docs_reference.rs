//! The reference in `docs/reference/` checked against the code, so it cannot drift
//! silently:
//!
//! - `metrics.md` lists exactly the metrics the code exports (every name given to
//!   `describe_counter!`/`describe_gauge!`/`describe_histogram!` or to
//!   `counter!`/`gauge!`/`histogram!` anywhere in `src/`), each with its type and the
//!   label keys the code uses;
//! - `cli.md` has a section for exactly the commands `leadrouter --help` lists (and
//!   their subcommands), and each section's tables name exactly the options and
//!   arguments of that command's `--help`.
//!
//! When one fails after a change to the code, the message says what to add or remove
//! in which file.
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
}

// ---------------------------------------------------------------- metrics

const METRICS_MD: &str = "docs/reference/metrics.md";

#[derive(Debug, Clone, PartialEq, Eq)]
struct Metric {
    kind: String,
    labels: BTreeSet<String>,
    /// Where the code names it (for messages).
    files: BTreeSet<String>,
}

#[test]
fn metrics_md_lists_exactly_the_metrics_the_code_exports() {
    let code = metrics_in_code();
    assert!(
        code.contains_key("leadrouter_leads_decided_total"),
        "found no metrics in src/: the scan is broken ({code:?})"
    );
    let documented = metrics_in_doc(&read(METRICS_MD));
    let mut problems = Vec::new();
    for (name, m) in &code {
        let files = m.files.iter().cloned().collect::<Vec<_>>().join(", ");
        match documented.get(name) {
            None => problems.push(format!(
                "{METRICS_MD} lacks `{name}` ({}, labels {}) that {files} exports: add a row \
                 `| `{name}` | {} | {} | what it counts |`",
                m.kind,
                show_labels(&m.labels),
                m.kind,
                show_labels(&m.labels),
            )),
            Some(d) => {
                if d.kind != m.kind {
                    problems.push(format!(
                        "{METRICS_MD} says `{name}` is a {}, but {files} makes it a {}",
                        d.kind, m.kind
                    ));
                }
                if d.labels != m.labels {
                    problems.push(format!(
                        "{METRICS_MD} gives `{name}` the labels {}, but {files} uses {}",
                        show_labels(&d.labels),
                        show_labels(&m.labels)
                    ));
                }
            }
        }
    }
    for name in documented.keys().filter(|n| !code.contains_key(*n)) {
        problems.push(format!(
            "{METRICS_MD} documents `{name}`, which nothing in src/ exports: remove its row \
             (or export it)"
        ));
    }
    assert!(
        problems.is_empty(),
        "docs/reference/metrics.md and the code disagree:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn metrics_md_documents_every_http_endpoint() {
    let http = read("src/http.rs");
    let doc = read(METRICS_MD);
    let routes: Vec<String> = Regex::new(r#"\.route\(\s*"(/[^"]*)""#)
        .unwrap()
        .captures_iter(&http)
        .map(|c| c[1].to_owned())
        .collect();
    assert!(!routes.is_empty(), "no routes found in src/http.rs");
    for route in routes {
        assert!(
            doc.contains(&format!("| `{route}` |")),
            "{METRICS_MD} has no row for the endpoint `{route}` that src/http.rs serves"
        );
    }
}

fn show_labels(labels: &BTreeSet<String>) -> String {
    if labels.is_empty() {
        "—".to_owned()
    } else {
        labels
            .iter()
            .map(|l| format!("`{l}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Every metric named by a string literal in a `metrics` macro under `src/`.
fn metrics_in_code() -> BTreeMap<String, Metric> {
    let mut out: BTreeMap<String, Metric> = BTreeMap::new();
    let described =
        Regex::new(r#"describe_(counter|gauge|histogram)!\(\s*"(leadrouter_[a-z0-9_]+)""#).unwrap();
    let used = Regex::new(r"\b(counter|gauge|histogram)!\(").unwrap();
    let name = Regex::new(r#"^\s*"(leadrouter_[a-z0-9_]+)""#).unwrap();
    let label = Regex::new(r#""([a-z_][a-z0-9_]*)"\s*=>"#).unwrap();
    for file in rust_files(&root().join("src")) {
        let text = std::fs::read_to_string(&file).unwrap();
        let rel = file
            .strip_prefix(root())
            .unwrap_or(&file)
            .display()
            .to_string();
        for c in described.captures_iter(&text) {
            // A description fixes the type; a use elsewhere must agree (checked below).
            entry(&mut out, &c[2], &c[1], &rel).kind = c[1].to_owned();
        }
        for m in used.find_iter(&text) {
            let kind = m.as_str().trim_end_matches("!(");
            let args = macro_arguments(&text[m.end()..]);
            let Some(c) = name.captures(args) else {
                continue; // a name computed at run time: nothing to check here
            };
            let metric = entry(&mut out, &c[1], kind, &rel);
            assert_eq!(
                metric.kind, kind,
                "{rel}: `{}` is used as a {kind} but described as a {}",
                &c[1], metric.kind
            );
            for l in label.captures_iter(args) {
                metric.labels.insert(l[1].to_owned());
            }
        }
    }
    out
}

/// The metric `name`, created as a `kind` if new, noted as named in `file`.
fn entry<'a>(
    out: &'a mut BTreeMap<String, Metric>,
    name: &str,
    kind: &str,
    file: &str,
) -> &'a mut Metric {
    let m = out.entry(name.to_owned()).or_insert_with(|| Metric {
        kind: kind.to_owned(),
        labels: BTreeSet::new(),
        files: BTreeSet::new(),
    });
    m.files.insert(file.to_owned());
    m
}

/// The text up to the `)` closing a macro call whose `(` was just consumed, skipping
/// string literals (label values like `"(none)"`).
fn macro_arguments(s: &str) -> &str {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' if depth == 0 => return &s[..i],
            ')' | ']' | '}' => depth -= 1,
            _ => {}
        }
    }
    s
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// Rows `| `leadrouter_x` | counter | `a`, `b` | … |` of metrics.md.
fn metrics_in_doc(doc: &str) -> BTreeMap<String, Metric> {
    let mut out = BTreeMap::new();
    let backticked = Regex::new(r"`([a-z_][a-z0-9_]*)`").unwrap();
    for line in doc.lines() {
        let cells = table_cells(line);
        let Some(first) = cells.first() else { continue };
        let Some(name) = first
            .strip_prefix('`')
            .and_then(|c| c.strip_suffix('`'))
            .filter(|n| n.starts_with("leadrouter_"))
        else {
            continue;
        };
        assert!(
            cells.len() >= 3,
            "{METRICS_MD}: the row for `{name}` needs the columns metric | type | labels | meaning"
        );
        let labels = backticked
            .captures_iter(&cells[2])
            .map(|c| c[1].to_owned())
            .collect();
        let previous = out.insert(
            name.to_owned(),
            Metric {
                kind: cells[1].trim().to_owned(),
                labels,
                files: BTreeSet::new(),
            },
        );
        assert!(previous.is_none(), "{METRICS_MD} lists `{name}` twice");
    }
    out
}

/// The cells of a Markdown table row (`| a | b |`), trimmed; empty for other lines.
fn table_cells(line: &str) -> Vec<String> {
    let t = line.trim();
    if !t.starts_with('|') || t.trim_matches(['|', '-', ' ', ':']).is_empty() {
        return Vec::new();
    }
    t.trim_matches('|')
        .split('|')
        .map(|c| c.trim().to_owned())
        .collect()
}

// ---------------------------------------------------------------- command line

const CLI_MD: &str = "docs/reference/cli.md";

/// What `--help` says about one command.
#[derive(Debug, Default)]
struct Help {
    subcommands: Vec<String>,
    options: BTreeSet<String>,
    arguments: BTreeSet<String>,
}

fn help(path: &[String]) -> Help {
    let out = Command::new(env!("CARGO_BIN_EXE_leadrouter"))
        .args(path)
        .arg("--help")
        .env_remove("LEADROUTER_CONFIG")
        .output()
        .expect("run leadrouter --help");
    let text = String::from_utf8(out.stdout).expect("help is UTF-8");
    assert!(
        out.status.success(),
        "leadrouter {} --help failed: {}",
        path.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    let entry = Regex::new(r"^  (\S+)").unwrap();
    let option = Regex::new(r"^\s+(?:-[A-Za-z0-9], )?--([a-z][a-z0-9-]*)").unwrap();
    let argument = Regex::new(r"^\s+[<\[]([A-Za-z_][A-Za-z0-9_-]*)[>\]]").unwrap();
    let mut h = Help::default();
    let mut section = "";
    for line in text.lines() {
        if !line.starts_with(' ') {
            section = line.trim_end();
            continue;
        }
        match section {
            "Commands:" => {
                if let Some(c) = entry.captures(line)
                    && &c[1] != "help"
                {
                    h.subcommands.push(c[1].to_owned());
                }
            }
            "Options:" => {
                if let Some(c) = option.captures(line)
                    && !matches!(&c[1], "help" | "version")
                {
                    h.options.insert(c[1].to_owned());
                }
            }
            "Arguments:" => {
                if let Some(c) = argument.captures(line) {
                    h.arguments.insert(c[1].to_owned());
                }
            }
            _ => {}
        }
    }
    h
}

/// Every command path `leadrouter --help` leads to (`["agents", "halt"]`…), groups
/// included, with the help of each.
fn commands() -> BTreeMap<Vec<String>, Help> {
    let mut out = BTreeMap::new();
    let mut todo = vec![Vec::<String>::new()];
    while let Some(path) = todo.pop() {
        let h = help(&path);
        for sub in &h.subcommands {
            let mut p = path.clone();
            p.push(sub.clone());
            todo.push(p);
        }
        if !path.is_empty() {
            out.insert(path, h);
        }
    }
    out
}

/// A section of cli.md: a `##`/`###` heading `` `leadrouter X Y` `` and its text up to
/// the next `##`/`###` heading.
#[derive(Debug, Default)]
struct Section {
    options: BTreeSet<String>,
    arguments: BTreeSet<String>,
}

fn cli_sections(doc: &str) -> BTreeMap<Vec<String>, Section> {
    let heading = Regex::new(r"^#{2,3} `leadrouter ([a-z][a-z -]*)`\s*$").unwrap();
    let other_heading = Regex::new(r"^#{1,3} ").unwrap();
    let option = Regex::new(r"--([a-z][a-z0-9-]*)").unwrap();
    let argument = Regex::new(r"^`([A-Z][A-Z_]*)`$").unwrap();
    let mut out: BTreeMap<Vec<String>, Section> = BTreeMap::new();
    let mut current: Option<Vec<String>> = None;
    let mut fenced = false;
    for line in doc.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        if let Some(c) = heading.captures(line) {
            let path: Vec<String> = c[1].split_whitespace().map(str::to_owned).collect();
            assert!(
                !out.contains_key(&path),
                "{CLI_MD} has two sections for `leadrouter {}`",
                path.join(" ")
            );
            out.insert(path.clone(), Section::default());
            current = Some(path);
            continue;
        }
        if other_heading.is_match(line) {
            current = None;
            continue;
        }
        let Some(path) = &current else { continue };
        let cells = table_cells(line);
        let Some(first) = cells.first() else { continue };
        let section = out.get_mut(path).expect("inserted with its heading");
        if first.starts_with("`--") {
            for c in option.captures_iter(first) {
                section.options.insert(c[1].to_owned());
            }
        } else if let Some(c) = argument.captures(first) {
            section.arguments.insert(c[1].to_owned());
        }
    }
    out
}

#[test]
fn cli_md_has_a_section_for_exactly_the_commands_of_help() {
    let commands = commands();
    assert!(
        commands.contains_key(&vec!["run".to_owned()]),
        "leadrouter --help lists no `run`: the help parser is broken ({:?})",
        commands.keys().collect::<Vec<_>>()
    );
    let sections = cli_sections(&read(CLI_MD));
    let mut problems = Vec::new();
    for (path, h) in &commands {
        let name = path.join(" ");
        if !sections.contains_key(path) {
            let level = if path.len() == 1 { "##" } else { "###" };
            problems.push(format!(
                "{CLI_MD} has no section for `leadrouter {name}`: add `{level} `leadrouter {name}`` \
                 with its usage and a table of {}",
                describe_help(h)
            ));
        }
    }
    for path in sections.keys().filter(|p| !commands.contains_key(*p)) {
        problems.push(format!(
            "{CLI_MD} documents `leadrouter {}`, which `leadrouter --help` does not list: \
             remove the section (or add the command)",
            path.join(" ")
        ));
    }
    assert!(
        problems.is_empty(),
        "docs/reference/cli.md and `leadrouter --help` disagree:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn cli_md_lists_exactly_the_options_and_arguments_of_each_command() {
    let sections = cli_sections(&read(CLI_MD));
    let mut problems = Vec::new();
    for (path, h) in commands() {
        if !h.subcommands.is_empty() {
            continue; // a group: its subcommands carry the options
        }
        let name = path.join(" ");
        let Some(section) = sections.get(&path) else {
            continue; // reported by the test above
        };
        for o in h.options.difference(&section.options) {
            problems.push(format!(
                "`leadrouter {name}` has the option --{o}: add a row `| `--{o} …` | … |` to its \
                 table in {CLI_MD}"
            ));
        }
        for o in section.options.difference(&h.options) {
            problems.push(format!(
                "{CLI_MD} lists --{o} for `leadrouter {name}`, which its --help does not have"
            ));
        }
        for a in h.arguments.difference(&section.arguments) {
            problems.push(format!(
                "`leadrouter {name}` takes the argument {a}: add a row `| `{a}` | … |` to its \
                 table in {CLI_MD}"
            ));
        }
        for a in section.arguments.difference(&h.arguments) {
            problems.push(format!(
                "{CLI_MD} lists the argument {a} for `leadrouter {name}`, which its --help does \
                 not have"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/reference/cli.md and the commands' --help disagree:\n  {}",
        problems.join("\n  ")
    );
}

fn describe_help(h: &Help) -> String {
    if !h.subcommands.is_empty() {
        return format!("its subcommands ({})", h.subcommands.join(", "));
    }
    let mut parts: Vec<String> = h.arguments.iter().cloned().collect();
    parts.extend(h.options.iter().map(|o| format!("--{o}")));
    if parts.is_empty() {
        "its options (none)".to_owned()
    } else {
        format!("its arguments and options ({})", parts.join(", "))
    }
}

#[test]
fn the_parsers_of_this_file_see_what_they_should() {
    let doc = "## `leadrouter run`\n\n| option | meaning |\n|---|---|\n\
               | `--config FILE` | x; see `--other` |\n\n\
               ## `leadrouter agents`\n\n### `leadrouter agents halt`\n\n\
               | argument or option | meaning |\n|---|---|\n| `ID` | the id |\n\
               | `--as NAME` | who |\n\n## Exit codes\n\n| `--not-an-option` | x |\n";
    let s = cli_sections(doc);
    let keys: Vec<String> = s.keys().map(|k| k.join(" ")).collect();
    assert_eq!(keys, ["agents", "agents halt", "run"]);
    let run = &s[&vec!["run".to_owned()]];
    assert_eq!(run.options.iter().collect::<Vec<_>>(), ["config"]);
    let halt = &s[&vec!["agents".to_owned(), "halt".to_owned()]];
    assert_eq!(halt.arguments.iter().collect::<Vec<_>>(), ["ID"]);
    assert_eq!(halt.options.iter().collect::<Vec<_>>(), ["as"]);

    let m = metrics_in_doc(
        "| metric | type | labels | meaning |\n|---|---|---|---|\n\
         | `leadrouter_x_total` | counter | `rule`, `status` | x |\n\
         | `leadrouter_y` | gauge | — | y |\n",
    );
    assert_eq!(m["leadrouter_x_total"].kind, "counter");
    assert_eq!(m["leadrouter_x_total"].labels.len(), 2);
    assert!(m["leadrouter_y"].labels.is_empty());

    assert_eq!(
        macro_arguments(r#""a", "rule" => "(none)".to_owned()).increment(1);"#),
        r#""a", "rule" => "(none)".to_owned()"#
    );
}
