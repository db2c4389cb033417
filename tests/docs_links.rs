//! Every link in the repository's Markdown stays inside the repository and points at
//! something that exists: a file, a directory, or a heading (`#anchor`) of a Markdown
//! file. A clone must carry its own documentation, so `../shared/...` and other paths
//! that climb out of the checkout are refused even when they happen to exist here.
//!
//! Files: `git ls-files --cached --others --exclude-standard '*.md'` (tracked and new,
//! not ignored: `target/` is skipped), or a walk of the tree when git is unavailable.
//! Links: inline `[text](target)` and `![alt](target)`, reference definitions
//! `[label]: target`, and HTML `href="..."` / `src="..."`, outside fenced code blocks
//! and inline code. Absolute URLs (`https:`, `mailto:`, `//host`) are not checked.
//! Anchors follow GitHub's slugs: the heading's text lower-cased, punctuation dropped,
//! spaces turned into hyphens, `-1`, `-2`… for repeats.
use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_markdown_link_stays_in_the_repository_and_resolves() {
    let files = markdown_files(root());
    assert!(
        files.iter().any(|f| f == Path::new("README.md")),
        "the Markdown file list misses README.md: {files:?}"
    );
    let mut problems = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(root().join(file))
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        for link in links(&text) {
            if let Err(why) = check_link(root(), file, &link.target) {
                problems.push(format!(
                    "{}:{}: ({}) {why}",
                    file.display(),
                    link.line,
                    link.target
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} broken or outside link(s) in the repository's Markdown:\n  {}\n\
         Link to files inside the repository (docs/reference/ holds the reference).",
        problems.len(),
        problems.join("\n  ")
    );
}

/// Markdown files relative to `root`, sorted.
fn markdown_files(root: &Path) -> Vec<PathBuf> {
    let git = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
            "--",
            "*.md",
        ])
        .current_dir(root)
        .output();
    let mut files: Vec<PathBuf> = match git {
        Ok(out) if out.status.success() => out
            .stdout
            .split(|&b| b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| PathBuf::from(String::from_utf8_lossy(p).into_owned()))
            // A tracked file deleted in the work tree is not documentation any more.
            .filter(|p| root.join(p).is_file())
            .collect(),
        _ => walk(root, Path::new("")),
    };
    files.sort();
    files.dedup();
    files
}

/// Fallback without git (an unpacked source archive): every `*.md` outside build
/// output and hidden directories.
fn walk(root: &Path, rel: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(root.join(rel)) else {
        return out;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let path = rel.join(&*name);
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            if name != "target" && !name.starts_with('.') {
                out.extend(walk(root, &path));
            }
        } else if name.ends_with(".md") {
            out.push(path);
        }
    }
    out
}

#[derive(Debug, PartialEq, Eq)]
struct Link {
    line: usize,
    target: String,
}

/// The link targets of a Markdown text, with their 1-based line numbers.
fn links(text: &str) -> Vec<Link> {
    let mut out = Vec::new();
    let mut fence: Option<(char, usize)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if let Some(f) = fence_marker(raw) {
            match fence {
                None => fence = Some(f),
                Some((c, n)) if f.0 == c && f.1 >= n && is_bare_fence(raw) => fence = None,
                Some(_) => {}
            }
            continue;
        }
        if fence.is_some() {
            continue;
        }
        let prose = strip_code_spans(raw);
        for target in inline_targets(&prose)
            .into_iter()
            .chain(reference_definition(&prose))
            .chain(html_targets(&prose))
        {
            out.push(Link { line, target });
        }
    }
    out
}

/// ```` ``` ```` or `~~~` (3 or more) opening or closing a fenced block, with up to
/// three spaces of indentation.
fn fence_marker(line: &str) -> Option<(char, usize)> {
    let trimmed = line.trim_start_matches(' ');
    if line.len() - trimmed.len() > 3 {
        return None;
    }
    let c = trimmed.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let n = trimmed.chars().take_while(|x| *x == c).count();
    (n >= 3).then_some((c, n))
}

/// A closing fence has nothing after its markers.
fn is_bare_fence(line: &str) -> bool {
    line.trim().chars().all(|c| c == '`' || c == '~')
}

/// The line with inline code spans (`` `…` ``, ``` ``…`` ```) removed: links written
/// as code are examples, not links.
fn strip_code_spans(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '`' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|c| **c == '`').count();
        // Find a closing run of exactly the same length.
        let mut j = i + run;
        let mut closed = None;
        while j < chars.len() {
            if chars[j] == '`' {
                let n = chars[j..].iter().take_while(|c| **c == '`').count();
                if n == run {
                    closed = Some(j + n);
                    break;
                }
                j += n;
            } else {
                j += 1;
            }
        }
        match closed {
            Some(end) => i = end,
            None => {
                // An unmatched backtick is literal text.
                out.extend(&chars[i..i + run]);
                i += run;
            }
        }
    }
    out
}

/// Targets of `[text](target "title")` and `![alt](target)`.
fn inline_targets(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let (dest, consumed) = destination(after);
        if let Some(dest) = dest {
            out.push(dest);
        }
        rest = &after[consumed..];
    }
    out
}

/// The destination at the start of `s` (just after `](`), and how many bytes the link
/// took. `<...>` destinations may hold spaces; bare ones end at a space or at the `)`
/// that balances the parentheses opened inside them.
fn destination(s: &str) -> (Option<String>, usize) {
    let s_trim = s.trim_start();
    let lead = s.len() - s_trim.len();
    if let Some(inner) = s_trim.strip_prefix('<') {
        return match inner.find('>') {
            Some(end) => (Some(inner[..end].to_owned()), lead + 1 + end + 1),
            None => (None, s.len()),
        };
    }
    let mut depth = 0usize;
    for (i, c) in s_trim.char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => {
                let dest = s_trim[..i].split_whitespace().next().unwrap_or("");
                let dest = (!dest.is_empty()).then(|| dest.to_owned());
                return (dest, lead + i + 1);
            }
            ')' => depth -= 1,
            ' ' | '\t' if depth == 0 => {
                // A title follows: the destination is what came before.
                let dest = s_trim[..i].to_owned();
                let close = s_trim[i..].find(')').map_or(s.len(), |j| lead + i + j + 1);
                return ((!dest.is_empty()).then_some(dest), close);
            }
            _ => {}
        }
    }
    (None, s.len())
}

/// `[label]: target` at the start of a line (up to three spaces in).
fn reference_definition(line: &str) -> Option<String> {
    let trimmed = line.trim_start_matches(' ');
    if line.len() - trimmed.len() > 3 || !trimmed.starts_with('[') || trimmed.starts_with("[^") {
        return None;
    }
    let close = trimmed.find("]:")?;
    let label = &trimmed[1..close];
    if label.is_empty() || label.contains(']') {
        return None;
    }
    let dest = trimmed[close + 2..].split_whitespace().next()?;
    let dest = dest
        .strip_prefix('<')
        .and_then(|d| d.strip_suffix('>'))
        .unwrap_or(dest);
    Some(dest.to_owned())
}

/// `href="..."` and `src="..."` in inline HTML.
fn html_targets(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["href=\"", "src=\""] {
        let mut rest = line;
        while let Some(at) = rest.find(attr) {
            let after = &rest[at + attr.len()..];
            match after.find('"') {
                Some(end) => {
                    out.push(after[..end].to_owned());
                    rest = &after[end..];
                }
                None => break,
            }
        }
    }
    out
}

/// `Ok` if `target`, written in `file` (relative to `root`), is external or resolves
/// inside `root`; otherwise what is wrong.
fn check_link(root: &Path, file: &Path, target: &str) -> Result<(), String> {
    if is_external(target) {
        return Ok(());
    }
    let (path_part, fragment) = match target.split_once('#') {
        Some((p, f)) => (p, Some(f)),
        None => (target, None),
    };
    let path_part = path_part.split('?').next().unwrap_or("");
    let resolved = if path_part.is_empty() {
        file.to_owned()
    } else {
        let decoded = percent_decode(path_part);
        let joined = match decoded.strip_prefix('/') {
            // GitHub resolves `/x` from the repository's root.
            Some(from_root) => PathBuf::from(from_root),
            None => file.parent().unwrap_or(Path::new("")).join(&decoded),
        };
        normalize(&joined)
            .ok_or_else(|| "leaves the repository: link to a file inside it instead".to_owned())?
    };
    let on_disk = root.join(&resolved);
    if !on_disk.exists() {
        return Err(format!("{} does not exist", resolved.display()));
    }
    let Some(fragment) = fragment.filter(|f| !f.is_empty()) else {
        return Ok(());
    };
    if on_disk.is_dir() || on_disk.extension().is_none_or(|e| e != "md") {
        // Line anchors into source files (`#L10`) are the host's business.
        return Ok(());
    }
    let text = std::fs::read_to_string(&on_disk)
        .map_err(|e| format!("cannot read {}: {e}", resolved.display()))?;
    let wanted = percent_decode(fragment).to_lowercase();
    let anchors = anchors(&text);
    if anchors.contains(&wanted) {
        Ok(())
    } else {
        Err(format!(
            "{} has no heading for #{wanted} (anchors there: {})",
            resolved.display(),
            anchors.into_iter().collect::<Vec<_>>().join(" ")
        ))
    }
}

/// `https://…`, `mailto:…`, `//host/…`: not a path in this repository.
fn is_external(target: &str) -> bool {
    if target.starts_with("//") {
        return true;
    }
    let scheme: String = target
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        .collect();
    !scheme.is_empty()
        && scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
        && target[scheme.len()..].starts_with(':')
}

/// Lexically resolves `.` and `..`; `None` when the path climbs above its start
/// (the repository root).
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::Normal(p) => parts.push(p),
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.iter().collect())
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every anchor a Markdown file offers: its headings' slugs (ATX `# …` and setext
/// `===`/`---` underlines), plus `<a name="…">` / `id="…"` in inline HTML.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut out = BTreeSet::new();
    let mut add = |slug: String, out: &mut BTreeSet<String>| {
        let mut candidate = slug.clone();
        let mut n = 0;
        while seen.contains(&candidate) {
            n += 1;
            candidate = format!("{slug}-{n}");
        }
        seen.insert(candidate.clone());
        out.insert(candidate);
    };
    let mut fence: Option<(char, usize)> = None;
    let mut previous: Option<&str> = None;
    for line in text.lines() {
        if let Some(f) = fence_marker(line) {
            match fence {
                None => fence = Some(f),
                Some((c, n)) if f.0 == c && f.1 >= n && is_bare_fence(line) => fence = None,
                Some(_) => {}
            }
            previous = None;
            continue;
        }
        if fence.is_some() {
            continue;
        }
        if let Some(heading) = atx_heading(line) {
            add(slug(heading), &mut out);
        } else if let Some(prev) = previous
            && is_setext_underline(line)
        {
            add(slug(prev.trim()), &mut out);
        }
        for attr in ["name=\"", "id=\""] {
            let mut rest = line;
            while let Some(at) = rest.find(attr) {
                let after = &rest[at + attr.len()..];
                let Some(end) = after.find('"') else { break };
                out.insert(after[..end].to_lowercase());
                rest = &after[end..];
            }
        }
        let plain = !line.trim().is_empty()
            && atx_heading(line).is_none()
            && !line.trim_start().starts_with(['|', '-', '*', '>']);
        previous = plain.then_some(line);
    }
    out
}

/// The text of an ATX heading (`## Title ##` → `Title`).
fn atx_heading(line: &str) -> Option<&str> {
    let trimmed = line.trim_start_matches(' ');
    if line.len() - trimmed.len() > 3 {
        return None;
    }
    let hashes = trimmed.chars().take_while(|c| *c == '#').count();
    if !(1..=6).contains(&hashes) {
        return None;
    }
    let rest = &trimmed[hashes..];
    if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
        return None;
    }
    Some(rest.trim().trim_end_matches('#').trim_end())
}

fn is_setext_underline(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && (t.chars().all(|c| c == '=') || t.chars().all(|c| c == '-'))
}

/// GitHub's anchor for a heading: the rendered text (link targets, HTML tags and
/// code markers dropped), lower-cased, keeping letters, digits, `-` and `_`, with
/// spaces as hyphens.
fn slug(heading: &str) -> String {
    let text = render_text(heading);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_alphanumeric() || c == '-' || c == '_' {
            out.extend(c.to_lowercase());
        } else if c == ' ' {
            out.push('-');
        }
    }
    out
}

/// A heading's visible text: `[text](url)` → `text`, `<tag>` removed.
fn render_text(heading: &str) -> String {
    let mut out = String::with_capacity(heading.len());
    let mut rest = heading;
    while let Some(c) = rest.chars().next() {
        if c == '<'
            && let Some(end) = rest.find('>')
        {
            rest = &rest[end + 1..];
            continue;
        }
        if c == ']'
            && let Some(after) = rest.strip_prefix("](")
        {
            let (_, consumed) = destination(after);
            rest = &after[consumed..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[test]
fn slugs_follow_github() {
    assert_eq!(
        slug("Replay: try a rules change on real leads"),
        "replay-try-a-rules-change-on-real-leads"
    );
    assert_eq!(slug("`leadrouter agents halt`"), "leadrouter-agents-halt");
    assert_eq!(
        slug("Rhai scripts: the sandbox"),
        "rhai-scripts-the-sandbox"
    );
    assert_eq!(slug("3.1 Owner and assignees"), "31-owner-and-assignees");
    assert_eq!(slug("`if_halted`"), "if_halted");
    assert_eq!(slug("See [the table](x.md#y) now"), "see-the-table-now");
    assert_eq!(
        slug("Exit codes: 0, 1, 2 (and 3)"),
        "exit-codes-0-1-2-and-3"
    );
    let text = "# A\n## A\n```\n# not a heading\n```\nB\n---\n";
    let got: Vec<String> = anchors(text).into_iter().collect();
    assert_eq!(got, ["a", "a-1", "b"]);
}

#[test]
fn links_are_found_outside_code_only() {
    let text = "see [a](x.md) and ![img](pic.png \"title\") and `[no](code.md)`\n\
                ```sh\n[no](fenced.md)\n```\n\
                [ref]: ../ref.md\n\
                [`../shared/SPEC.md`](../shared/SPEC.md)\n\
                <a href=\"html.md\">x</a> [p](path(with)parens.md) [s](<with space.md>)\n";
    let found = links(text);
    let got: Vec<(usize, &str)> = found.iter().map(|l| (l.line, l.target.as_str())).collect();
    assert_eq!(
        got,
        [
            (1, "x.md"),
            (1, "pic.png"),
            (5, "../ref.md"),
            (6, "../shared/SPEC.md"),
            (7, "path(with)parens.md"),
            (7, "with space.md"),
            (7, "html.md"),
        ]
    );
}

#[test]
fn outside_missing_and_anchor_links_are_refused() {
    let root = root();
    let readme = Path::new("README.md");
    let deploy = Path::new("deploy/README.md");
    assert!(check_link(root, readme, "../shared/SPEC.md").is_err());
    assert!(check_link(root, deploy, "../../shared/SPEC.md").is_err());
    assert!(check_link(root, deploy, "../README.md").is_ok());
    assert!(check_link(root, readme, "docs/no-such-page.md").is_err());
    assert!(check_link(root, readme, "deploy/").is_ok());
    assert!(check_link(root, readme, "/Cargo.toml").is_ok());
    assert!(check_link(root, readme, "https://example.com/x").is_ok());
    assert!(check_link(root, readme, "mailto:someone@example.com").is_ok());
    assert!(check_link(root, readme, "#fault-tolerance").is_ok());
    assert!(check_link(root, readme, "#no-such-heading").is_err());
    assert!(
        check_link(
            root,
            readme,
            "docs/admin.md#replay-try-a-rules-change-on-real-leads"
        )
        .is_ok()
    );
    assert!(check_link(root, readme, "docs/admin.md#nothing-like-this").is_err());
}
