//! `/metrics`, `/healthz`, `/readyz` (SPEC section 5). Bound to loopback by default.
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use metrics::gauge;
use metrics_exporter_prometheus::PrometheusHandle;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio_util::sync::CancellationToken;

/// What `/readyz` needs: broker and database connected, rules loaded, consuming.
#[derive(Debug, Default)]
pub struct Readiness {
    broker: AtomicBool,
    database: AtomicBool,
    /// False while the pipeline's commits fail, even if the database answers pings.
    commits: AtomicBool,
    rules: AtomicBool,
    consuming: AtomicBool,
}

impl Readiness {
    pub fn new() -> Arc<Self> {
        let r = Arc::new(Self::default());
        r.commits.store(true, Ordering::SeqCst);
        r.publish();
        r
    }

    pub fn set_broker(&self, up: bool) {
        self.broker.store(up, Ordering::SeqCst);
        gauge!("leadrouter_broker_up").set(f64::from(u8::from(up)));
        self.publish();
    }

    pub fn set_database(&self, up: bool) {
        self.database.store(up, Ordering::SeqCst);
        gauge!("leadrouter_database_up").set(f64::from(u8::from(up)));
        self.publish();
    }

    pub fn set_commits(&self, ok: bool) {
        self.commits.store(ok, Ordering::SeqCst);
        self.publish();
    }

    pub fn set_rules(&self, loaded: bool) {
        self.rules.store(loaded, Ordering::SeqCst);
        self.publish();
    }

    pub fn set_consuming(&self, on: bool) {
        self.consuming.store(on, Ordering::SeqCst);
        self.publish();
    }

    pub fn is_ready(&self) -> bool {
        [
            &self.broker,
            &self.database,
            &self.commits,
            &self.rules,
            &self.consuming,
        ]
        .iter()
        .all(|b| b.load(Ordering::SeqCst))
    }

    fn publish(&self) {
        gauge!("leadrouter_ready").set(f64::from(u8::from(self.is_ready())));
    }

    fn explain(&self) -> String {
        let f = |b: &AtomicBool| {
            if b.load(Ordering::SeqCst) {
                "up"
            } else {
                "down"
            }
        };
        format!(
            "broker: {}\ndatabase: {}\ncommits: {}\nrules: {}\nconsuming: {}\n",
            f(&self.broker),
            f(&self.database),
            if self.commits.load(Ordering::SeqCst) {
                "ok"
            } else {
                "failing"
            },
            f(&self.rules),
            f(&self.consuming)
        )
    }
}

#[derive(Clone)]
struct AppState {
    metrics: PrometheusHandle,
    readiness: Arc<Readiness>,
}

pub fn router(metrics: PrometheusHandle, readiness: Arc<Readiness>) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(s): State<AppState>| async move { s.metrics.render() }),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(|State(s): State<AppState>| async move {
                let code = if s.readiness.is_ready() {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                (code, s.readiness.explain())
            }),
        )
        .with_state(AppState { metrics, readiness })
}

/// Binds first (so a taken port fails start-up), then serves until cancelled.
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { cancel.cancelled().await })
        .await
}
