//! Rhai in a rule: an inline `when_script` expression, or a `script` file it names.
use super::Compiler;
use crate::rules::Diagnostic;
use crate::rules::model::Action;
use crate::rules::script::Script;
use serde_yaml::Value as Yaml;

impl Compiler<'_> {
    pub(super) fn inline_script(&mut self, at: &str, src: &str) -> Option<Script> {
        let key_line = self.pos.line(at).unwrap_or(0);
        match self
            .sandbox
            .compile_expression(src, format!("{}:{key_line}", self.path.display()))
        {
            Ok(s) => Some(s),
            Err(e) => {
                // A block scalar starts on the line after its key.
                let block = usize::from(src.contains('\n'));
                // Rhai may place an error at the end of input, past the script's last line.
                let last = key_line + block + src.lines().count().max(1) - 1;
                let line = e
                    .line
                    .map_or(key_line, |l| (key_line + l - 1 + block).min(last));
                let rule = self.rule.clone();
                self.errors.push(Diagnostic::new(
                    self.path,
                    Some(line),
                    rule.as_deref(),
                    format!("when_script: Rhai syntax error: {}", e.message),
                ));
                None
            }
        }
    }

    /// `script: PATH`, relative to the rules file, read through the ruleset's sources.
    pub(super) fn script_file(&mut self, at: &str, v: &Yaml) -> Option<Action> {
        let Some(rel) = v.as_str().filter(|s| !s.trim().is_empty()) else {
            self.err(
                at,
                "`script` must be the path of a Rhai file, relative to the rules file",
            );
            return None;
        };
        let file = self.src.script_path(rel);
        let src = match self.src.read_script(rel) {
            Ok(s) => s,
            Err(e) => {
                self.err(at, format!("cannot read script {}: {e}", file.display()));
                return None;
            }
        };
        let compiled = self
            .sandbox
            .compile_script(&src, file.display().to_string());
        self.scripts_read.push((rel.to_owned(), src));
        match compiled {
            Ok(s) => Some(Action::Script(s)),
            Err(e) => {
                let rule = self.rule.clone();
                // A script's syntax error names the script's own file and line.
                self.errors.push(Diagnostic::new(
                    &file,
                    e.line,
                    rule.as_deref(),
                    format!("Rhai syntax error: {}", e.message),
                ));
                None
            }
        }
    }
}
