//! Rhai scripts, sandboxed: compiled once per ruleset, shared across threads.
//!
//! Rhai has no file, network or process access of its own; on top of that modules and
//! `eval` are off, and every call is bounded in operations, call depth, expression depth,
//! string/array/map sizes and wall time. A failure or a bound hit is an `Err` the engine
//! records in the trace: the rule does not decide and the next one is tried.
//!
//! Operations and wall time are counted here, in the progress callback, not only by
//! Rhai: a closure that a native function calls (`map`, `filter`, `reduce`, `sort`,
//! `all`, …) runs on a *copy* of Rhai's run state, so its operations never add up to
//! the script's count. A nested `a.map(|x| b.map(|y| ..))` would otherwise run
//! millions of closures within a "100,000 operation" budget and never look at the
//! clock, holding the routing lock for minutes.
use rhai::{AST, Array, Dynamic, Engine, FLOAT, INT, Map, Scope};
use serde_json::Value;
use std::cell::Cell;
use std::time::{Duration, Instant};

/// Sandbox bounds for every script call.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_operations: u64,
    pub max_call_levels: usize,
    pub max_expr_depth: usize,
    pub max_fn_expr_depth: usize,
    pub max_string_size: usize,
    pub max_array_size: usize,
    pub max_map_size: usize,
    pub max_variables: usize,
    pub wall_time: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_operations: 100_000,
            max_call_levels: 16,
            max_expr_depth: 64,
            max_fn_expr_depth: 32,
            max_string_size: 64 * 1024,
            max_array_size: 10_000,
            max_map_size: 10_000,
            max_variables: 256,
            wall_time: Duration::from_millis(50),
        }
    }
}

thread_local! {
    /// Deadline of the script call running on this thread (Rhai evaluates synchronously).
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    /// Operations of the script call running on this thread, closures included.
    static OPERATIONS: Cell<u64> = const { Cell::new(0) };
}

/// Why the progress callback stopped a script (the termination token).
const STOP_OPERATIONS: &str = "too many operations";
const STOP_WALL_TIME: &str = "wall time exceeded";

/// A compiled script plus where it came from (for error messages).
#[derive(Debug)]
pub struct Script {
    pub ast: AST,
    pub origin: String,
}

pub struct Sandbox {
    engine: Engine,
    wall_time: Duration,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("wall_time", &self.wall_time)
            .finish()
    }
}

/// A compile error with the line inside the script (1-based), when Rhai knows it.
#[derive(Debug, Clone)]
pub struct CompileError {
    pub message: String,
    pub line: Option<usize>,
}

impl Sandbox {
    pub fn new(limits: Limits) -> Self {
        let mut engine = Engine::new();
        engine
            .set_max_operations(limits.max_operations)
            .set_max_call_levels(limits.max_call_levels)
            .set_max_expr_depths(limits.max_expr_depth, limits.max_fn_expr_depth)
            .set_max_string_size(limits.max_string_size)
            .set_max_array_size(limits.max_array_size)
            .set_max_map_size(limits.max_map_size)
            .set_max_variables(limits.max_variables)
            .set_max_functions(256)
            .disable_symbol("eval");
        engine.on_print(|s| tracing::debug!(target: "leadrouter::script", "{s}"));
        engine.on_debug(|s, _, _| tracing::debug!(target: "leadrouter::script", "{s}"));
        let max_operations = limits.max_operations;
        engine.on_progress(move |_| {
            // Rhai's own count (the argument) restarts in every closure a native
            // function calls: count every operation here instead (see the module docs).
            let ops = OPERATIONS.with(|n| {
                n.set(n.get() + 1);
                n.get()
            });
            if ops > max_operations {
                return Some(Dynamic::from(STOP_OPERATIONS));
            }
            // Reading the clock every operation would cost more than the operations;
            // every 32nd keeps the overshoot to 32 operations (one can scan 64 KiB).
            if !ops.is_multiple_of(32) {
                return None;
            }
            match DEADLINE.with(Cell::get) {
                Some(d) if Instant::now() >= d => Some(Dynamic::from(STOP_WALL_TIME)),
                _ => None,
            }
        });
        register_missing_value_comparisons(&mut engine);
        Self {
            engine,
            wall_time: limits.wall_time,
        }
    }

    pub fn compile_expression(&self, src: &str, origin: String) -> Result<Script, CompileError> {
        self.engine
            .compile_expression(src)
            .map(|ast| Script { ast, origin })
            .map_err(compile_error)
    }

    pub fn compile_script(&self, src: &str, origin: String) -> Result<Script, CompileError> {
        self.engine
            .compile(src)
            .map(|ast| Script { ast, origin })
            .map_err(compile_error)
    }

    /// Runs a script with `lead` (and `region`) in scope; bounded as described above.
    pub fn run(&self, script: &Script, scope: &mut Scope<'_>) -> Result<Dynamic, String> {
        let mark = scope.len();
        DEADLINE.with(|d| d.set(Some(Instant::now() + self.wall_time)));
        OPERATIONS.with(|n| n.set(0));
        let out = self
            .engine
            .eval_ast_with_scope::<Dynamic>(scope, &script.ast);
        DEADLINE.with(|d| d.set(None));
        // Drop variables the script declared at top level, so the next script starts clean.
        scope.rewind(mark);
        out.map_err(|e| describe_eval_error(&e))
    }
}

/// The scope a lead's scripts run in: `lead` (the message as a map) and `region`.
pub fn lead_scope(
    payload: &serde_json::Map<String, Value>,
    region: Option<&str>,
) -> Scope<'static> {
    let mut scope = Scope::new();
    scope.push_constant("lead", Dynamic::from_map(json_map_to_rhai(payload)));
    scope.push_constant(
        "region",
        region.map_or(Dynamic::UNIT, |r| Dynamic::from(r.to_owned())),
    );
    scope
}

fn json_map_to_rhai(m: &serde_json::Map<String, Value>) -> Map {
    m.iter()
        .map(|(k, v)| (k.as_str().into(), json_to_dynamic(v)))
        .collect()
}

/// JSON → Rhai: integers that fit are INT, other numbers FLOAT, null is `()`.
pub fn json_to_dynamic(v: &Value) -> Dynamic {
    match v {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Dynamic::from_int(i as INT),
            None => Dynamic::from_float(n.as_f64().unwrap_or(f64::NAN) as FLOAT),
        },
        Value::String(s) => Dynamic::from(s.clone()),
        Value::Array(a) => Dynamic::from_array(a.iter().map(json_to_dynamic).collect::<Array>()),
        Value::Object(m) => Dynamic::from_map(json_map_to_rhai(m)),
    }
}

/// `lead.price >= 1_000_000` on a lead without a price reads `()`; comparing `()` with a
/// number is not an error an admin should see per lead: it is simply false, as a missing
/// field fails every YAML operator.
fn register_missing_value_comparisons(engine: &mut Engine) {
    for op in [">", ">=", "<", "<="] {
        engine.register_fn(op, |_: (), _: INT| false);
        engine.register_fn(op, |_: INT, _: ()| false);
        engine.register_fn(op, |_: (), _: FLOAT| false);
        engine.register_fn(op, |_: FLOAT, _: ()| false);
        engine.register_fn(op, |_: (), _: rhai::ImmutableString| false);
        engine.register_fn(op, |_: rhai::ImmutableString, _: ()| false);
        engine.register_fn(op, |_: (), _: ()| false);
    }
}

fn compile_error(e: rhai::ParseError) -> CompileError {
    CompileError {
        message: e.0.to_string(),
        line: e.1.line(),
    }
}

fn describe_eval_error(e: &rhai::EvalAltResult) -> String {
    use rhai::EvalAltResult as E;
    match e {
        // A bound hit inside a function or closure: report the bound, not the wrapper.
        E::ErrorInFunctionCall(_, _, inner, _) if is_bound(inner) => describe_eval_error(inner),
        E::ErrorTooManyOperations(_) => "script stopped: too many operations (bound hit)".into(),
        E::ErrorTooManyVariables(_) => "script stopped: too many variables (bound hit)".into(),
        E::ErrorStackOverflow(_) => "script stopped: call depth exceeded (bound hit)".into(),
        E::ErrorDataTooLarge(what, _) => format!("script stopped: {what} too large (bound hit)"),
        E::ErrorTerminated(token, _)
            if token.clone().into_string().ok().as_deref() == Some(STOP_OPERATIONS) =>
        {
            "script stopped: too many operations (bound hit)".into()
        }
        E::ErrorTerminated(_, _) => "script stopped: wall time exceeded (bound hit)".into(),
        other => format!("script error: {other}"),
    }
}

fn is_bound(e: &rhai::EvalAltResult) -> bool {
    use rhai::EvalAltResult as E;
    match e {
        E::ErrorInFunctionCall(_, _, inner, _) => is_bound(inner),
        E::ErrorTooManyOperations(_)
        | E::ErrorTooManyVariables(_)
        | E::ErrorStackOverflow(_)
        | E::ErrorDataTooLarge(..)
        | E::ErrorTerminated(..) => true,
        _ => false,
    }
}
